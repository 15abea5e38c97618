// The rule authors' pack editor: CodeMirror 6 with YAML highlighting, problems
// shown at their lines (the service's check answers), and completion of keys
// and enumerated values from the pack language's JSON Schema
// (GET /v1/packs/schema). Bundled by `npm run build` into
// api/web/static/pack-editor.js as the global `PackEditor`.
import { EditorView, basicSetup } from "codemirror";
import { EditorState } from "@codemirror/state";
import { yaml } from "@codemirror/lang-yaml";
import { autocompletion } from "@codemirror/autocomplete";
import { lintGutter, setDiagnostics } from "@codemirror/lint";
import { keymap } from "@codemirror/view";
import { indentWithTab } from "@codemirror/commands";
import { schemaPath, completionsAt } from "./complete.js";

export { schemaPath, completionsAt };

export function create(parent, options) {
  const schema = options.schema || {};
  const listeners = [];
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: options.doc || "",
      extensions: [
        basicSetup,
        keymap.of([indentWithTab]),
        yaml(),
        lintGutter(),
        EditorState.tabSize.of(2),
        autocompletion({ override: [(context) => complete(context, schema)], interactionDelay: 0 }),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) listeners.forEach((listener) => listener());
        }),
      ],
    }),
  });
  return {
    view,
    getText: () => view.state.doc.toString(),
    setText: (text) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }),
    onChange: (listener) => listeners.push(listener),
    setProblems: (problems) => view.dispatch(setDiagnostics(view.state, problems.map((p) => diagnostic(view, p)))),
    goToLine: (number) => {
      const line = view.state.doc.line(Math.max(1, Math.min(number, view.state.doc.lines)));
      view.dispatch({ selection: { anchor: line.from, head: line.to }, scrollIntoView: true });
      view.focus();
    },
  };
}

function diagnostic(view, problem) {
  const doc = view.state.doc;
  const line = doc.line(Math.max(1, Math.min(problem.line || 1, doc.lines)));
  const from = Math.min(line.to, line.from + Math.max(0, (problem.column || 1) - 1));
  return {
    from: from === line.to ? line.from : from,
    to: line.to,
    severity: problem.severity || "error",
    message: problem.message,
  };
}

function complete(context, schema) {
  const doc = context.state.doc;
  const line = doc.lineAt(context.pos);
  const lines = [];
  for (let n = 1; n < line.number; n++) lines.push(doc.line(n).text);
  const found = completionsAt(schema, lines, line.text.slice(0, context.pos - line.from));
  if (!found || (!found.options.length) || (!context.explicit && found.word === "" && found.kind === "key")) {
    return null;
  }
  return { from: context.pos - found.word.length, options: found.options, validFor: /^[\w-]*$/ };
}
