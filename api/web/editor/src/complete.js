// Completion from the pack language's JSON Schema, without a YAML parser: the
// key path of the cursor is read from the indentation of the lines above it
// (block style, as packs are written), then looked up in the schema.

const ITEM = /^(\s*)- +/;
const KEY = /^([A-Za-z_][\w-]*)\s*:(?:\s|$)/;

// One line's shape: where its key starts, the key, and whether it opens a list item.
function shape(text) {
  if (!text.trim() || text.trim().startsWith("#")) return null;
  const item = ITEM.exec(text);
  const indent = text.length - text.trimStart().length;
  const column = item ? item[0].length : indent;
  const key = KEY.exec(text.slice(column));
  return { indent, column, item: Boolean(item), key: key ? key[1] : null };
}

// The path (keys and "[]" for list items) of a key written at `column` below
// `above`, and the keys already written beside it.
export function schemaPath(above, column, startsItem, dashColumn) {
  const path = [];
  const siblings = [];
  let target = column;
  let listParent = startsItem ? dashColumn : null;
  if (startsItem) path.unshift("[]");
  for (let n = above.length - 1; n >= 0; n--) {
    const line = shape(above[n]);
    if (!line) continue;
    if (listParent !== null) {
      if (line.item && line.indent === listParent) continue; // a sibling item
      if (line.column > listParent || (line.item && line.indent > listParent)) continue;
      if (!line.key) return null;
      path.unshift(line.key);
      ({ target, listParent } = parentOf(line, path));
      continue;
    }
    if (line.column > target) continue; // inside a sibling's value
    if (line.column === target) {
      if (line.key && path.length === 0) siblings.push(line.key);
      if (line.item) {
        path.unshift("[]");
        listParent = line.indent;
      }
      continue;
    }
    if (!line.key) return null;
    path.unshift(line.key);
    ({ target, listParent } = parentOf(line, path));
  }
  return { path, siblings };
}

function parentOf(line, path) {
  if (line.item) {
    path.unshift("[]");
    return { target: line.column, listParent: line.indent };
  }
  return { target: line.column, listParent: null };
}

function resolve(schema, node) {
  let current = node;
  for (let guard = 0; current && current.$ref && guard < 20; guard++) {
    const name = current.$ref.replace("#/definitions/", "");
    current = (schema.definitions || {})[name];
  }
  return current || {};
}

function alternatives(schema, node) {
  const resolved = resolve(schema, node);
  const choices = resolved.anyOf || resolved.oneOf;
  if (!choices) return [resolved];
  return choices.flatMap((choice) => alternatives(schema, choice));
}

function child(schema, node, step) {
  for (const choice of alternatives(schema, node)) {
    if (step === "[]" && choice.items) return choice.items;
    if (step !== "[]" && choice.properties && choice.properties[step]) return choice.properties[step];
    if (step !== "[]" && choice.additionalProperties && typeof choice.additionalProperties === "object") {
      return choice.additionalProperties;
    }
  }
  return null;
}

function nodeAt(schema, path) {
  let node = schema;
  for (const step of path) {
    node = child(schema, node, step);
    if (!node) return null;
  }
  return node;
}

function keyOptions(schema, node, siblings) {
  const options = [];
  for (const choice of alternatives(schema, node)) {
    for (const [name, property] of Object.entries(choice.properties || {})) {
      if (siblings.includes(name) || options.some((o) => o.label === name)) continue;
      const described = resolve(schema, property);
      options.push({ label: name, type: "property", apply: name + ": ",
                     detail: (choice.required || []).includes(name) ? "required" : "",
                     info: property.description || described.description || undefined });
    }
  }
  return options;
}

function valueOptions(schema, node) {
  const values = [];
  for (const choice of alternatives(schema, node)) {
    for (const value of choice.enum || []) values.push(String(value));
    if (choice.type === "boolean") values.push("true", "false");
  }
  return [...new Set(values)].map((value) => ({ label: value, type: "enum" }));
}

// What to offer where the cursor is: `above` are the lines before the cursor's
// line, `before` the cursor's line up to the cursor.
export function completionsAt(schema, above, before) {
  const item = ITEM.exec(before);
  const column = item ? item[0].length : before.length - before.trimStart().length;
  const rest = before.slice(column);
  const typingKey = /^[\w-]*$/.exec(rest);
  const typingValue = /^([A-Za-z_][\w-]*)\s*:\s+([\w-]*)$/.exec(rest);
  if (!typingKey && !typingValue) return null;
  const located = schemaPath(above, column, Boolean(item), item ? item[1].length : 0);
  if (!located) return null;
  const node = nodeAt(schema, located.path);
  if (!node) return null;
  if (typingKey) {
    return { kind: "key", word: rest, options: keyOptions(schema, node, located.siblings) };
  }
  const property = child(schema, node, typingValue[1]);
  if (!property) return null;
  return { kind: "value", word: typingValue[2], options: valueOptions(schema, property) };
}
