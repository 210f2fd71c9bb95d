// The arena's rounds in the page (src/arena.js) against a stand-in editor and server: a round whose
// text or cursor moved while it ran is dropped (never inserted at its old position), so is a shown
// pair when the text changes, and an answer to an older request once a newer one was asked for.
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.document = { createElement: () => ({ dataset: {}, append() {} }) };
const { Arena } = await import("../src/arena.js");

const ALT = 1 << 9;
const KEYS = { KeyA: 1, Digit1: 2, Digit2: 3, Escape: 4 };
const at = (lineNumber, column) => ({ lineNumber, column, equals: (o) => o.lineNumber === lineNumber && o.column === column });

function page(answer) {
  const changed = [];
  const model = {
    lines: ["def add(a, b):", "    return "], version: 1, uri: { toString: () => "file:///main.py" },
    getVersionId() { return this.version; },
    insert(line, column, text) {
      const l = this.lines[line - 1];
      this.lines[line - 1] = l.slice(0, column - 1) + text + l.slice(column - 1);
      this.version += 1;
      for (const f of changed) f();
    },
  };
  const commands = {};
  const editor = {
    position: at(2, 12),
    getModel: () => model, getPosition() { return this.position; },
    addCommand: (keys, run) => { commands[keys] = run; }, onKeyDown: () => {}, onDidChangeModelContent: (f) => changed.push(f),
    executeEdits: (_, edits) => edits.forEach((e) => model.insert(e.range.line, e.range.column, e.text)),
    type(text) { model.insert(this.position.lineNumber, this.position.column, text); this.position = at(2, this.position.column + text.length); },
  };
  const monaco = { KeyMod: { Alt: ALT }, KeyCode: KEYS, Range: class { constructor(line, column) { Object.assign(this, { line, column }); } } };
  const sent = [];
  const session = { request: (method, params) => { sent.push(method === "dllm/arenaVote" ? `vote ${params.round} ${params.choice}` : method); return answer(method, params); } };
  const arena = new Arena(session, editor, monaco, { replaceChildren() {}, append() {} });
  const press = (key) => commands[ALT | KEYS[key]]();
  return { model, editor, arena, sent, press };
}

const pair = (round, position) => ({ round, suggestions: ["A", "B"].map((slot) => (
  { slot, insertText: `${slot} + 1`, range: { start: position, end: position }, status: "ok", latencyMs: 5 })) });
const later = () => new Promise((resolve) => setTimeout(resolve, 5));

test("a round the user typed past while it ran is dropped, not inserted at its old position", async () => {
  let reply;
  const p = page((method, params) => method === "dllm/arena" ? new Promise((r) => { reply = () => r(pair("r1", params.position)); }) : Promise.resolve({ recorded: true }));
  const asked = p.press("KeyA");
  p.editor.type("x * ");
  reply();
  await asked;
  await p.press("Digit1");
  assert.equal(p.model.lines[1], "    return x * ");
  assert.equal(p.arena.round, null);
  assert.deepEqual(p.sent, ["dllm/arena"]);
});

test("a shown pair typed over goes, voted none; a pick inserts only while it holds", async () => {
  const p = page((method, params) => Promise.resolve(method === "dllm/arena" ? pair(`r${p.sent.length}`, params.position) : { recorded: true }));
  await p.press("KeyA");
  await p.press("Digit2");
  assert.equal(p.model.lines[1], "    return B + 1");
  p.editor.position = at(2, p.model.lines[1].length + 1); // Monaco moves the cursor past an edit
  await p.press("KeyA");
  p.editor.type("z");
  assert.equal(p.arena.round, null);
  await p.press("Digit1");
  assert.equal(p.model.lines[1], "    return B + 1z");
  assert.deepEqual(p.sent, ["dllm/arena", "vote r1 B", "dllm/arena", "vote r3 none"]); // typed over: neither taken
});

test("only the newest of two requests is shown", async () => {
  const replies = [];
  const p = page((method, params) => {
    if (method !== "dllm/arenaVote") {
      const id = `r${replies.length + 1}`;
      return new Promise((r) => replies.push(() => r(pair(id, params.position))));
    }
    return Promise.resolve({ recorded: true });
  });
  const first = p.press("KeyA");
  const second = p.press("KeyA");
  replies[1]();
  await later();
  replies[0]();
  await Promise.all([first, second]);
  assert.equal(p.arena.round.id, "r2");
});
