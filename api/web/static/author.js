// The rule authors' page. Everything goes through the JSON API with the key
// the author signed in with (kept in sessionStorage for this tab only). Text
// from packs is always put in the page as text (textContent), never as HTML.
"use strict";

(function () {
  var KEY = "nba-author-key";
  var state = { me: null, packs: [], active: null, selected: null, outline: null,
                editor: null, schema: null, tab: "overview", editorBase: null };

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else if (name.indexOf("on") === 0) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    });
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); return; }
    node.appendChild(typeof child === "string" || typeof child === "number"
      ? document.createTextNode(String(child)) : child);
  }

  function show(node, content) { node.textContent = ""; append(node, content); }

  function shown(value) {
    if (value === null || value === undefined) return "—";
    if (Array.isArray(value)) return value.map(shown).join(", ");
    if (typeof value === "object") {
      return Object.keys(value).map(function (k) { return k + ": " + shown(value[k]); }).join(", ");
    }
    return String(value);
  }

  function short(hash) { return (hash || "").replace("sha256:", "").slice(0, 12); }

  function api(method, path, body, type) {
    var headers = { "Accept": "application/json" };
    var key = sessionStorage.getItem(KEY);
    if (key) headers["Authorization"] = "Bearer " + key;
    var options = { method: method, headers: headers };
    if (body !== undefined) {
      headers["Content-Type"] = type || "application/json";
      options.body = type ? body : JSON.stringify(body);
    }
    return fetch(path, options).then(function (response) {
      return response.text().then(function (text) {
        var json = null;
        try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
        return { status: response.status, ok: response.ok, json: json || {} };
      });
    });
  }

  function errorText(answer) {
    var error = answer.json.error || {};
    var fields = error.fields ? " " + JSON.stringify(error.fields) : "";
    return (error.message || ("HTTP " + answer.status)) + fields;
  }

  function flash(text, kind) {
    var node = $("flash");
    node.textContent = text;
    node.className = "flash " + (kind || "ok");
    node.hidden = !text;
  }

  // Signing in and out

  function signIn(event) {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("key").value.trim());
    start();
  }

  function signOut() {
    sessionStorage.removeItem(KEY);
    location.reload();
  }

  var starts = 0;

  function start() {
    var mine = ++starts;  // only the latest sign-in's answer counts
    api("GET", "/v1/me").then(function (answer) {
      if (mine !== starts) return;
      var role = answer.json.role;
      if (!answer.ok || (role !== "author" && role !== "admin")) {
        sessionStorage.removeItem(KEY);
        $("sign-in").hidden = false;
        $("workspace").hidden = true;
        $("sign-in-error").textContent = !answer.ok && $("key").value
          ? errorText(answer)
          : (role ? "a " + role + " key cannot open the authors' page: it needs an author or admin key" : "");
        return;
      }
      state.me = answer.json;
      $("sign-in").hidden = true;
      $("workspace").hidden = false;
      $("me").textContent = answer.json.open ? "open service (no keys)" : role;
      $("sign-out").hidden = answer.json.open;
      $("rollback").hidden = !mayActivate();
      loadVersions();
    });
  }

  function mayActivate() { return state.me && state.me.may.indexOf("activate_pack") >= 0; }

  // Versions

  function loadVersions(select) {
    return api("GET", "/v1/packs").then(function (answer) {
      if (!answer.ok) { flash(errorText(answer), "bad"); return; }
      state.packs = answer.json.packs;
      state.active = answer.json.active;
      renderVersions();
      renderServing();
      selectVersion(select || state.selected || state.active);
    });
  }

  function findVersion(hash) {
    for (var i = 0; i < state.packs.length; i++) {
      var versions = state.packs[i].versions;
      for (var j = 0; j < versions.length; j++) if (versions[j].hash === hash) return versions[j];
    }
    return null;
  }

  function renderServing() {
    var active = findVersion(state.active);
    $("serving").hidden = !active;
    if (!active) return;
    $("serving-name").textContent = active.name + " " + active.version;
    $("serving-hash").textContent = short(active.hash);
  }

  function renderVersions() {
    show($("version-list"), state.packs.map(function (pack) {
      return el("div", { class: "pack" }, el("h3", { text: pack.name }),
        el("ul", { class: "version-items" }, pack.versions.map(function (v) {
          return el("li", null, el("button", {
            type: "button", class: "version" + (v.hash === state.selected ? " selected" : ""),
            "data-hash": v.hash, onclick: function () { selectVersion(v.hash); }
          }, el("span", { class: "v-name", text: v.version }),
             v.active ? el("span", { class: "badge yes", text: "active" }) : null,
             el("span", { class: "v-label muted", text: v.label || "" }),
             el("span", { class: "v-hash muted", text: short(v.hash) + " · " +
               v.uploaded_at.slice(0, 16).replace("T", " ") + " · " + v.uploaded_by.role })));
        })));
    }));
  }

  function selectVersion(hash) {
    if (!hash) return;
    state.selected = hash;
    renderVersions();
    var meta = findVersion(hash);
    $("title").textContent = meta ? meta.name + " " + meta.version : hash;
    $("meta").textContent = meta ? [short(meta.hash), meta.label, "uploaded " +
      meta.uploaded_at.replace("T", " ").slice(0, 19) + " by " + meta.uploaded_by.role,
      meta.tests.ran ? meta.tests.passed + " tests passed" : "tests not run (loaded at start)",
      meta.active ? "ACTIVE" : "not active"].filter(Boolean).join(" · ") : "";
    $("activate").hidden = !mayActivate() || !meta || meta.active;
    api("GET", "/v1/packs/" + hash + "/outline").then(function (answer) {
      if (!answer.ok) { flash(errorText(answer), "bad"); return; }
      state.outline = answer.json;
      renderOverview();
      fillChannels();
      if (state.tab === "diff") renderDiff();
    });
  }

  // Overview: the version laid out

  function table(headers, rows) {
    return el("table", { class: "grid" },
      el("thead", null, el("tr", null, headers.map(function (h) { return el("th", { text: h }); }))),
      el("tbody", null, rows.map(function (row) {
        return el("tr", null, row.map(function (cell) {
          return el("td", null, cell instanceof Node ? cell : shown(cell));
        }));
      })));
  }

  function lineLink(line) {
    if (!line) return "—";
    return el("button", { type: "button", class: "link", text: "line " + line,
                          onclick: function () { openEditorAt(line); } });
  }

  function renderOverview() {
    var o = state.outline;
    var policies = o.policies || {};
    var other = Object.keys(policies).filter(function (k) { return k !== "pressure" && k !== "suppress"; });
    show($("tab-overview"), [
      el("h2", { text: "Actions (" + (o.actions || []).length + ")" }),
      table(["id", "program", "kind", "channels", "priority", "when", "repeat", "group", ""],
        (o.actions || []).map(function (a) {
          return [el("strong", { text: a.id }), a.program, a.kind, (a.channels || []).join(", "),
                  a.priority, a.when, a.repeat, a.group, lineLink(a.line)];
        })),
      el("h2", { text: "Policies" }),
      el("h3", { text: "Pressure" }),
      table(["id", "channels", "kinds", "max", "per", "min gap", ""],
        (policies.pressure || []).map(function (p) {
          return [el("strong", { text: p.id }), (p.channels || []).join(", "),
                  (p.kinds || []).join(", "), p.max, p.per, p.min_gap, lineLink(p.line)];
        })),
      el("h3", { text: "Suppression" }),
      table(["id", "after", "same action for", "all commercial for", ""],
        (policies.suppress || []).map(function (p) {
          return [el("strong", { text: p.id }), p.after, p.same_action_for,
                  p.commercial_for || p.all_commercial_for, lineLink(p.line)];
        })),
      other.length ? table(["policy", "value"], other.map(function (k) { return [k, policies[k]]; })) : null,
      el("h2", { text: "Journeys (" + (o.journeys || []).length + ")" }),
      table(["id", "trigger", "steps", "exit on", ""],
        (o.journeys || []).map(function (j) {
          return [el("strong", { text: j.id }), j.trigger,
                  (j.steps || []).map(function (s) { return s.id + (s.send ? " (send)" : s.wait ? " (wait)" : ""); }).join(" → "),
                  j.exit_on, lineLink(j.line)];
        })),
      el("h2", { text: "Channels" }),
      table(["channel", "cost", "quiet hours", "capacity per day", "consent", "inbound"],
        (o.channels || []).map(function (c) {
          return [c.id, c.cost, c.quiet_hours, c.capacity_per_day, c.consent, c.inbound];
        })),
      el("h2", { text: "Tests (" + (o.tests || []).length + ")" }),
      el("ul", null, (o.tests || []).map(function (t) { return el("li", null, t.name + " ", lineLink(t.line)); })),
    ]);
  }

  // Tabs

  function openTab(name) {
    state.tab = name;
    document.querySelectorAll(".tabs [data-tab]").forEach(function (button) {
      button.setAttribute("aria-selected", button.getAttribute("data-tab") === name);
    });
    ["overview", "edit", "diff", "try", "simulate", "shadow"].forEach(function (tab) {
      $("tab-" + tab).hidden = tab !== name;
    });
    if (name === "edit") openEditor();
    if (name === "diff") renderDiff();
    if (name === "shadow") refreshShadow();
  }

  // The editor

  function openEditor() {
    var hash = state.selected;
    var ready = state.schema ? Promise.resolve() : api("GET", "/v1/packs/schema").then(function (a) {
      state.schema = a.json;
    });
    return ready.then(function () {
      if (state.editor && state.editorBase === hash) return;
      return fetch("/v1/packs/" + hash, { headers: { "Accept": "application/yaml",
        "Authorization": "Bearer " + (sessionStorage.getItem(KEY) || "") } })
        .then(function (response) { return response.text(); })
        .then(function (source) {
          state.editorBase = hash;
          if (state.editor) { state.editor.setText(source); return; }
          state.editor = window.PackEditor.create($("editor"), { doc: source, schema: state.schema });
          window.packEditor = state.editor;
        });
    }).then(function () {
      show($("check-result"), el("p", { class: "muted", text: "Editing a copy of " +
        short(state.editorBase) + ". Check it, then save it as a new version (not active until activated)." }));
    });
  }

  function openEditorAt(line) {
    openTab("edit");
    openEditor().then(function () { state.editor.goToLine(line); });
  }

  function checkDraft() {
    var text = state.editor.getText();
    show($("check-result"), el("p", { class: "muted", text: "Checking…" }));
    return api("POST", "/v1/packs/check", text, "application/yaml").then(function (answer) {
      if (!answer.ok) { showRefusal(answer); return; }
      showCheck(answer.json);
    });
  }

  function problemList(problems, title) {
    if (!problems.length) return null;
    return el("div", { class: "problems" }, el("h3", { text: title }),
      el("ul", null, problems.map(function (p) {
        return el("li", { class: "problem" }, p.line ? lineLink(p.line) : el("span", { text: "(pack)" }),
          el("code", { text: " " + (p.path || "") + " " }), el("span", { text: p.message }));
      })));
  }

  function showCheck(check) {
    var marks = check.problems.map(function (p) {
      return { line: p.line, column: p.column, message: p.message, severity: "error" };
    });
    check.tests.forEach(function (t) {
      if (!t.passed) marks.push({ line: t.line, message: "test " + t.name + " fails: " + t.failures.join("; "), severity: "error" });
    });
    check.warnings.forEach(function (w) {
      marks.push({ line: w.line, message: w.message, severity: "warning" });
    });
    state.editor.setProblems(marks.filter(function (m) { return m.line; }));
    var passed = check.tests.filter(function (t) { return t.passed; }).length;
    show($("check-result"), [
      el("p", { class: "verdict " + (check.valid ? "good" : "bad"), id: "verdict",
                text: check.valid ? "Valid: every test passes (" + passed + "/" + check.tests.length + ")."
                                  : verdictText(check, passed) }),
      problemList(check.problems, "Problems"),
      check.tests.length ? el("div", { class: "tests" }, el("h3", { text: "Tests" }),
        el("ul", null, check.tests.map(function (t) {
          return el("li", { class: t.passed ? "test passed" : "test failed" },
            el("span", { class: "mark", text: t.passed ? "✓ " : "✗ " }), t.name + " ", lineLink(t.line),
            t.failures.length ? el("ul", null, t.failures.map(function (f) { return el("li", { text: f }); })) : null);
        }))) : null,
      check.warnings.length ? el("div", { class: "warnings" }, el("h3", { text: "Lint findings (" + check.warnings.length + ")" }),
        el("ul", null, check.warnings.map(function (w) {
          return el("li", { class: "warning" }, lineLink(w.line), el("code", { text: " " + w.path + " " }),
                    w.message, el("span", { class: "muted", text: " [" + w.code + "]" }));
        }))) : el("p", { class: "muted", text: check.reason === "invalid_pack" ? "" : "No lint findings." }),
    ]);
  }

  function verdictText(check, passed) {
    if (check.reason === "invalid_pack") return "Invalid: " + check.problems.length + " problem(s); it would not be stored.";
    if (check.reason === "untested_pack") return "Untested: add tests; it would not be stored.";
    return "Tests fail: " + (check.tests.length - passed) + " of " + check.tests.length + "; it would not be stored.";
  }

  function showRefusal(answer) {
    var error = answer.json.error || {};
    if (error.problems) {
      showCheck({ valid: false, reason: error.code, problems: error.problems, tests: [], warnings: [] });
      $("verdict").textContent = error.message + " (" + error.problems.length + " problem(s))";
    } else {
      show($("check-result"), el("p", { class: "verdict bad", id: "verdict", text: errorText(answer) }));
    }
  }

  function saveDraft() {
    var label = $("label").value.trim();
    var path = "/v1/packs" + (label ? "?label=" + encodeURIComponent(label) : "");
    return api("POST", path, state.editor.getText(), "application/yaml").then(function (answer) {
      if (!answer.ok) { showRefusal(answer); return; }
      var pack = answer.json.pack;
      state.editorBase = pack.hash;
      flash((answer.json.created ? "Stored as a new version: " : "This exact source was stored already: ") +
            pack.name + " " + pack.version + " (" + short(pack.hash) + "), not active.", "ok");
      showCheck({ valid: true, reason: null, problems: [], warnings: answer.json.warnings,
                  tests: answer.json.tests.map(function (t) { return Object.assign({ failures: [] }, t); }) });
      return loadVersions(pack.hash);
    });
  }

  // Diff with the active version

  function renderDiff() {
    var node = $("tab-diff");
    if (!state.active || state.selected === state.active) {
      show(node, el("p", { class: "muted", text: "This is the active version: pick another version to compare it with the active one." }));
      return;
    }
    api("GET", "/v1/packs/" + state.active + "/diff/" + state.selected).then(function (answer) {
      if (!answer.ok) { show(node, el("p", { class: "error", text: errorText(answer) })); return; }
      var d = answer.json;
      var parts = [el("p", { class: "muted", text: "From the active version " + short(d.from) + " to " +
                             short(d.to) + ": " + d.changes + " change(s)." })];
      if (d.pack.length) parts.push(el("h3", { text: "pack" }), fieldTable(d.pack));
      ["channels", "facts", "actions", "fallbacks", "events", "journeys", "tests"].forEach(function (name) {
        parts.push(sectionDiff(name, d[name]));
      });
      ["pressure", "suppress"].forEach(function (name) { parts.push(sectionDiff("policies." + name, d.policies[name])); });
      if (d.policies.other.length) parts.push(el("h3", { text: "policies" }), fieldTable(d.policies.other));
      show(node, parts);
    });
  }

  function fieldTable(fields) {
    return table(["field", "active", "this version"], fields.map(function (f) {
      return [el("code", { text: f.field }), el("span", { class: "before", text: shown(f.before) }),
              el("span", { class: "after", text: shown(f.after) })];
    }));
  }

  function sectionDiff(name, section) {
    if (!section || (!section.added.length && !section.removed.length && !section.changed.length)) return null;
    return el("div", { class: "diff-section" }, el("h3", { text: name }),
      section.added.length ? el("p", null, el("span", { class: "badge yes", text: "added" }), " " + section.added.join(", ")) : null,
      section.removed.length ? el("p", null, el("span", { class: "badge no", text: "removed" }), " " + section.removed.join(", ")) : null,
      section.changed.map(function (c) {
        return el("div", { class: "changed" }, el("p", null, el("span", { class: "badge", text: "changed" }), " ",
                  el("strong", { text: c.id })), fieldTable(c.fields));
      }));
  }

  // Try on a contact

  function fillChannels() {
    var select = $("try-channel");
    var previous = select.value;
    show(select, (state.outline.channels || []).map(function (c) {
      return el("option", { value: c.id, text: c.id + (c.inbound ? " (inbound)" : "") });
    }));
    if (previous) select.value = previous;
  }

  function tryDecision(event) {
    event.preventDefault();
    var body = { channel: $("try-channel").value };
    var pasted = $("try-pasted").value.trim();
    if (pasted) {
      try { body.contact = JSON.parse(pasted); } catch (e) {
        show($("try-result"), el("p", { class: "error", text: "The pasted contact is not JSON: " + e.message }));
        return;
      }
    } else {
      body.contact_id = $("try-contact").value.trim();
    }
    if ($("try-placement").value.trim()) body.placement = $("try-placement").value.trim();
    if ($("try-at").value.trim()) body.at = $("try-at").value.trim();
    api("POST", "/v1/packs/" + state.selected + "/try", body).then(function (answer) {
      if (!answer.ok) { show($("try-result"), el("p", { class: "error", text: errorText(answer) })); return; }
      renderDecision(answer.json);
    });
  }

  function renderDecision(d) {
    show($("try-result"), [
      el("h3", { text: "Decision of " + d.pack.name + " " + d.pack.version + " (" + short(d.pack.hash) +
                 ") for " + d.contact_id + " on " + d.channel + (d.fallback ? " — fallback: " + d.fallback_reason : "") }),
      d.actions.length ? el("ol", { class: "chosen" }, d.actions.map(function (a) {
        return el("li", { class: "chosen-action" }, el("strong", { text: a.action_id }),
          " " + a.kind + " · " + a.channel + " · score " + a.score.toFixed(2),
          el("ul", { class: "reasons" }, a.reasons.map(function (r) { return el("li", { text: r }); })),
          Object.keys(a.content || {}).length ? el("pre", { class: "content", text: JSON.stringify(a.content, null, 2) }) : null);
      })) : el("p", { class: "nothing", text: "Nothing chosen." }),
      el("h3", { text: "Left out, and why (" + (d.excluded || []).length + ")" }),
      table(["action", "channel", "policy", "rule", "reason", "eligible again"],
        (d.excluded || []).map(function (x) {
          return [x.action_id, x.channel, x.policy, x.rule, x.reason, x.eligible_again_at];
        })),
      el("h3", { text: "Facts" }),
      el("pre", { class: "facts", text: JSON.stringify(d.facts || {}, null, 2) }),
      el("p", { class: "muted", text: "Rules fired: " + ((d.fired || []).join(", ") || "none") + ". Nothing was recorded." }),
    ]);
  }

  // Simulation

  var SAMPLE = [
    { id: "sim-1", profile: { first_name: "Ana", orders_count: 6, last_order_at: "2026-06-01", total_spend: 2400 },
      consents: { email: true, sms: true, call: true } },
    { id: "sim-2", profile: { first_name: "Léo", orders_count: 1, total_spend: 80 }, consents: { email: true } },
    { id: "sim-3", profile: { first_name: "Inès" }, consents: { email: true, sms: true } },
  ];

  function runSimulation(event) {
    event.preventDefault();
    var contacts;
    try { contacts = JSON.parse($("sim-contacts").value); } catch (e) {
      show($("simulate-result"), el("p", { class: "error", text: "The contacts are not JSON: " + e.message }));
      return;
    }
    var body = { contacts: contacts, days: parseInt($("sim-days").value, 10) || 30 };
    if ($("sim-start").value.trim()) body.start = $("sim-start").value.trim();
    if ($("sim-against").checked && state.active !== state.selected) body.against = "active";
    show($("simulate-result"), el("p", { class: "muted", text: "Simulating…" }));
    api("POST", "/v1/packs/" + state.selected + "/simulate", body).then(function (answer) {
      if (!answer.ok) { show($("simulate-result"), el("p", { class: "error", text: errorText(answer) })); return; }
      renderSimulation(answer.json);
    });
  }

  function renderSimulation(r) {
    var comparison = r.comparison ? r.comparison.sent : null;
    show($("simulate-result"), [
      el("h3", { text: r.name + ": " + r.contacts + " contacts over " + r.days + " days, " + r.decisions + " decisions" }),
      plot(r.per_day),
      el("h3", { text: "Messages per action and channel" }),
      comparison ? table(["action", "channel", "this version", "active", "difference"], comparison.map(function (s) {
        return [s.action, s.channel, s.messages, s.against, s.difference];
      })) : table(["action", "channel", "messages"], r.sent.map(function (s) { return [s.action, s.channel, s.messages]; })),
      el("h3", { text: "Pressure and suppression hits" }),
      table(["rule", "hits"], Object.keys(r.pressure_hits).map(function (k) { return ["pressure " + k, r.pressure_hits[k]]; })
        .concat(Object.keys(r.suppression_hits).map(function (k) { return ["suppression " + k, r.suppression_hits[k]]; }))),
      el("p", { text: "Contacts who got nothing: " + r.contacts_with_nothing +
                (r.comparison ? " (active version: " + r.comparison.contacts_with_nothing.against + ")" : "") }),
    ]);
  }

  var COLOURS = ["#1656b8", "#2e8540", "#b3261e", "#f0a500", "#7b3fb8", "#0f8a8a", "#6b7380", "#c2185b"];

  // Messages per day and channel, as an SVG line chart.
  function plot(perDay) {
    var days = Object.keys(perDay).sort();
    var channels = [];
    days.forEach(function (d) { Object.keys(perDay[d]).forEach(function (c) { if (channels.indexOf(c) < 0) channels.push(c); }); });
    var max = 1;
    days.forEach(function (d) { channels.forEach(function (c) { max = Math.max(max, perDay[d][c] || 0); }); });
    var W = 760, H = 240, L = 44, B = 28, T = 10, R = 110;
    var NS = "http://www.w3.org/2000/svg";
    function svg(tag, attrs, text) {
      var node = document.createElementNS(NS, tag);
      Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
      if (text !== undefined) node.textContent = text;
      return node;
    }
    var x = function (i) { return L + (days.length > 1 ? i * (W - L - R) / (days.length - 1) : 0); };
    var y = function (v) { return T + (H - T - B) * (1 - v / max); };
    var root = svg("svg", { viewBox: "0 0 " + W + " " + H, class: "plot", id: "simulation-plot", role: "img",
                            "aria-label": "messages per day and channel" });
    root.appendChild(svg("line", { x1: L, y1: y(0), x2: W - R, y2: y(0), stroke: "#8a94a3" }));
    root.appendChild(svg("line", { x1: L, y1: T, x2: L, y2: y(0), stroke: "#8a94a3" }));
    [0, Math.round(max / 2), max].forEach(function (v) {
      root.appendChild(svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, String(v)));
    });
    [0, Math.floor((days.length - 1) / 2), days.length - 1].forEach(function (i) {
      if (days[i]) root.appendChild(svg("text", { x: x(i), y: H - 8, "text-anchor": "middle", class: "tick" }, days[i].slice(5)));
    });
    channels.forEach(function (channel, n) {
      var colour = COLOURS[n % COLOURS.length];
      var points = days.map(function (d, i) { return x(i) + "," + y(perDay[d][channel] || 0); }).join(" ");
      root.appendChild(svg("polyline", { points: points, fill: "none", stroke: colour, "stroke-width": 2,
                                         "data-channel": channel }));
      root.appendChild(svg("text", { x: W - R + 10, y: T + 14 + n * 16, fill: colour, class: "legend" }, channel));
    });
    return el("figure", { class: "plot-box" }, root,
      el("figcaption", { class: "muted", text: channels.length ? "Messages per day and channel" : "No message sent on any day" }));
  }

  // Shadow runs

  function startShadow(event) {
    event.preventDefault();
    var share = Number($("shadow-share").value);
    var body = { share: isNaN(share) ? $("shadow-share").value : share, duration: $("shadow-duration").value.trim() };
    api("POST", "/v1/packs/" + state.selected + "/shadow", body).then(function (answer) {
      if (!answer.ok) { show($("shadow-result"), el("p", { class: "error", text: errorText(answer) })); return; }
      renderShadow(answer.json);
    });
  }

  function refreshShadow() {
    api("GET", "/v1/packs/" + state.selected + "/shadow").then(function (answer) {
      if (answer.status === 404) { show($("shadow-result"), el("p", { class: "muted", text: "This version was never shadowed." })); return; }
      if (!answer.ok) { show($("shadow-result"), el("p", { class: "error", text: errorText(answer) })); return; }
      renderShadow(answer.json);
    });
  }

  function stopShadow() {
    api("DELETE", "/v1/packs/" + state.selected + "/shadow").then(function (answer) {
      if (!answer.ok) { show($("shadow-result"), el("p", { class: "error", text: errorText(answer) })); return; }
      renderShadow(answer.json);
    });
  }

  function renderShadow(r) {
    var rate = r.difference_rate === null ? "—" : (100 * r.difference_rate).toFixed(1) + " %";
    show($("shadow-result"), [
      el("p", { id: "shadow-summary", class: "verdict " + (r.differing ? "bad" : "good"),
                text: r.state + ": " + r.compared + " request(s) compared, " + r.differing + " differing (" + rate + ")" }),
      el("p", { class: "muted", text: "Share " + r.share + ", from " + r.started_at.slice(0, 19).replace("T", " ") +
                " to " + r.ends_at.slice(0, 19).replace("T", " ") + ", against " + short(r.against) + "." }),
      el("h3", { text: "By channel" }),
      table(["channel", "compared", "differing"], Object.keys(r.by_channel).map(function (c) {
        return [c, r.by_channel[c].compared, r.by_channel[c].differing];
      })),
      el("h3", { text: "Changes (active → this version)" }),
      table(["active chose", "this version chose", "times"], r.changes.map(function (c) {
        return [c.active, c.candidate, c.count];
      })),
      el("h3", { text: "By action" }),
      table(["action", "chosen live", "chosen by this version"], Object.keys(r.by_action).map(function (a) {
        return [a, r.by_action[a].active, r.by_action[a].candidate];
      })),
      el("h3", { text: "Examples" }),
      table(["at", "contact", "channel", "active", "this version"], r.examples.map(function (e) {
        return [e.at.slice(0, 19).replace("T", " "), e.contact_id, e.channel, e.active.join(", ") || "—", e.candidate.join(", ") || "—"];
      })),
    ]);
  }

  // Activation and rollback

  function activate() {
    var hash = state.selected;
    api("POST", "/v1/packs/" + hash + "/activate").then(function (answer) {
      if (!answer.ok) { flash(errorText(answer), "bad"); return; }
      flash("Activated " + short(answer.json.active) + " (was " + short(answer.json.previous) +
            "): every worker serves it within 2 seconds.", "ok");
      loadVersions(hash);
    });
  }

  function rollback() {
    api("POST", "/v1/packs/rollback").then(function (answer) {
      if (!answer.ok) { flash(errorText(answer), "bad"); return; }
      flash("Rolled back to " + short(answer.json.active) + " (undid " + short(answer.json.previous) + ").", "ok");
      loadVersions(answer.json.active);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("sign-in-form").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", signOut);
    $("activate").addEventListener("click", activate);
    $("rollback").addEventListener("click", rollback);
    $("check").addEventListener("click", checkDraft);
    $("save").addEventListener("click", saveDraft);
    $("try-form").addEventListener("submit", tryDecision);
    $("simulate-form").addEventListener("submit", runSimulation);
    $("shadow-form").addEventListener("submit", startShadow);
    $("shadow-refresh").addEventListener("click", refreshShadow);
    $("shadow-stop").addEventListener("click", stopShadow);
    $("sim-contacts").value = JSON.stringify(SAMPLE, null, 1);
    document.querySelectorAll(".tabs [data-tab]").forEach(function (button) {
      button.addEventListener("click", function () { openTab(button.getAttribute("data-tab")); });
    });
    openTab("overview");
    start();
  });
})();
