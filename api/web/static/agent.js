// Keyboard use of the agent screen: "/" goes to the contact search, 1 to 5 to
// the call-result buttons (Enter then records it). Nothing else runs here.
document.addEventListener("keydown", function (event) {
  var target = event.target;
  var typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA");
  if (typing || event.ctrlKey || event.metaKey || event.altKey) {
    return;
  }
  if (event.key === "/") {
    var search = document.getElementById("contact-search");
    if (search) {
      event.preventDefault();
      search.focus();
    }
    return;
  }
  var button = document.querySelector('.results button[data-key="' + event.key + '"]');
  if (button) {
    event.preventDefault();
    button.focus();
  }
});
