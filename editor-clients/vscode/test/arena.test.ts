import assert from "node:assert/strict";
import { test } from "node:test";

import {
  advance, arenaDetails, arenaHint, arenaItems, ArenaRound, ArenaSession, parseArenaResult, statusLabel,
} from "../src/core/arena";
import { formatMs } from "../src/core/status";

const U = "file:///a.py";
const at = { line: 3, character: 4 };
const here = { start: at, end: at };

function result(id: string, a: Record<string, unknown> = {}, b: Record<string, unknown> = {}): unknown {
  return {
    round: id, timeoutMs: 4000, suggestions: [
      { slot: "A", insertText: "foo(x)", range: here, latencyMs: 12.5, status: "ok", ...a },
      { slot: "B", insertText: "bar()\n    pass", range: here, latencyMs: 40, status: "ok", ...b },
    ],
  };
}

function round(id: string, a: Record<string, unknown> = {}, b: Record<string, unknown> = {}): ArenaRound {
  const r = parseArenaResult(result(id, a, b));
  assert.ok(r, "a valid round");
  return r;
}

test("garbage or missing fields give no round, never an exception", () => {
  const garbage: unknown[] = [
    undefined, null, 0, "r1", [], {}, { round: null, suggestions: [] }, { round: "", suggestions: [] },
    { round: 7, suggestions: [] }, { round: "r1" }, { round: "r1", suggestions: "AB" },
    { round: "r1", suggestions: [{ slot: "A", insertText: "x", range: here, status: "ok" }] },
    { round: "r1", suggestions: [null, 3] },
    { round: "r1", suggestions: [{ slot: "A", range: here }, { slot: "A", range: here }] }, // same slot twice
    { round: "r1", suggestions: [{ slot: "C", range: here }, { slot: "B", range: here }] },
    { round: "r1", suggestions: [{ slot: "A", range: here }, { slot: "B", range: here }, { slot: "A", range: here }] },
    { round: "r1", suggestions: [{ slot: "A", range: { start: at } }, { slot: "B", range: here }] }, // no cursor to fall back on
    { round: "r1", suggestions: [{ slot: "A", range: { start: { line: -1, character: 0 }, end: at } }, { slot: "B", range: here }] },
    { round: "r1", suggestions: [{ slot: "A", range: { start: { line: 4, character: 0 }, end: at } }, { slot: "B", range: here }] },
  ];
  for (const g of garbage) assert.equal(parseArenaResult(g), undefined, JSON.stringify(g));
  assert.equal(parseArenaResult(JSON.parse("{\"round\":\"r\",\"suggestions\":[{\"__proto__\":{\"slot\":\"A\"}},{}]}")), undefined);
});

test("a normal round: two items in display order, labels A and B", () => {
  const r = parseArenaResult(result("r1"));
  assert.deepEqual(r?.suggestions.map((s) => [s.slot, s.insertText, s.status, s.latencyMs]),
    [["A", "foo(x)", "ok", 12.5], ["B", "bar()\n    pass", "ok", 40]]);
  assert.equal(r?.round, "r1");
  assert.equal(r?.timeoutMs, 4000);
  const items = arenaItems(r!);
  assert.deepEqual(items.map((i) => [i.label, i.text, i.acceptable, i.statusLabel]),
    [["A", "foo(x)", true, undefined], ["B", "bar()\n    pass", true, undefined]]);
  // display order is the server's, whatever the slots
  const swapped = parseArenaResult({ round: "r2", suggestions: [
    { slot: "B", insertText: "b", range: here, status: "ok" }, { slot: "A", insertText: "a", range: here, status: "ok" }] });
  assert.deepEqual(arenaItems(swapped!).map((i) => i.label), ["B", "A"]);
});

test("non-ok suggestions: no text, a short status label; odd fields are normalised", () => {
  const r = parseArenaResult({ round: "r1", suggestions: [
    { slot: "A", insertText: "leftover", range: here, latencyMs: null, status: "error" },
    { slot: "B", range: here, latencyMs: "slow", status: "timeout" }] });
  const items = arenaItems(r!);
  assert.deepEqual(items.map((i) => [i.text, i.acceptable, i.statusLabel, i.latencyMs]),
    [["", false, "A: error", null], ["", false, "B: timed out", null]]);
  const odd = parseArenaResult({ round: "r2", suggestions: [
    { slot: "A", insertText: "", range: here, status: "ok" }, // ok without text is empty
    { slot: "B", insertText: "x", status: "weird" }] }, at); // unknown status is an error; no range: the cursor
  assert.deepEqual(odd?.suggestions.map((s) => [s.status, s.range]), [["empty", here], ["error", here]]);
  assert.deepEqual(arenaItems(odd!).map((i) => i.statusLabel), ["A: empty", "B: error"]);
  assert.equal(statusLabel("B", "timeout"), "B: timed out");
  assert.equal(statusLabel("A", "ok"), undefined);
});

test("toggle shows the other item and back; the hint says which", () => {
  const s = new ArenaSession();
  assert.deepEqual(s.open(round("r1"), U), []);
  assert.equal(s.current?.shown.label, "A");
  assert.equal(arenaHint(s.current!), "Arena: A (1/2) — Alt+1 accept A, Alt+2 accept B, Alt+] toggle, Esc dismiss");
  assert.deepEqual(s.act("toggle"), { changed: true });
  assert.equal(s.current?.shown.label, "B");
  assert.equal(s.current?.index, 1);
  assert.equal(arenaHint(s.current!), "Arena: B (2/2) — Alt+1 accept A, Alt+2 accept B, Alt+] toggle, Esc dismiss");
  s.act("toggle");
  assert.equal(s.current?.shown.label, "A");
  assert.ok(s.isOpenFor(U) && !s.isOpenFor("file:///b.py"));
});

test("accept A / accept B: the right vote, once, and the text to insert", () => {
  for (const [action, choice, text] of [["acceptA", "A", "foo(x)"], ["acceptB", "B", "bar()\n    pass"]] as const) {
    const s = new ArenaSession();
    s.open(round("r1"), U);
    s.act("toggle"); // what is shown does not matter
    const out = s.act(action);
    assert.deepEqual(out.vote, { round: "r1", choice });
    assert.deepEqual(out.insert, { uri: U, range: here, text, cursor: advance(at, text) });
    assert.equal(s.isOpen, false);
    assert.ok(s.hasVoted("r1"));
    // nothing more for this round: no second vote, whatever comes next
    for (const again of ["acceptA", "acceptB", "dismiss", "toggle"] as const) assert.equal(s.act(again).vote, undefined);
    assert.deepEqual(s.accepted("r1", choice), { changed: false });
    assert.deepEqual(s.close(), []);
    assert.deepEqual(s.open(round("r1"), U), [], "a round already voted is not shown again");
    assert.equal(s.isOpen, false);
  }
  assert.deepEqual(advance({ line: 3, character: 4 }, "bar()\n    pass"), { line: 4, character: 8 });
});

test("dismiss votes none once", () => {
  const s = new ArenaSession();
  s.open(round("r1"), U);
  const out = s.act("dismiss");
  assert.deepEqual(out, { vote: { round: "r1", choice: "none" }, changed: true });
  assert.equal(s.act("dismiss").vote, undefined);
  assert.deepEqual(s.close(), []);
});

test("a new round replaces an unvoted one, which is voted none", () => {
  const s = new ArenaSession();
  assert.deepEqual(s.open(round("r1"), U), []);
  assert.deepEqual(s.open(round("r2"), "file:///b.py"), [{ round: "r1", choice: "none" }]);
  assert.equal(s.current?.round, "r2");
  assert.equal(s.current?.index, 0, "a new round starts at its first item");
  assert.deepEqual(s.open(round("r2"), "file:///b.py"), [], "the same round again changes nothing");
  assert.deepEqual(s.act("acceptB").vote, { round: "r2", choice: "B" });
  assert.deepEqual(s.open(round("r3"), U), [], "nothing to replace after a vote");
  assert.deepEqual(s.close(), [{ round: "r3", choice: "none" }]);
});

test("a timed-out suggestion cannot be accepted; the other one can", () => {
  const s = new ArenaSession();
  s.open(round("r1", {}, { insertText: "", latencyMs: null, status: "timeout" }), U);
  assert.equal(arenaHint(s.current!), "Arena: A (1/2), B: timed out — Alt+1 accept A, Alt+] toggle, Esc dismiss");
  s.act("toggle");
  assert.equal(arenaHint(s.current!), "Arena: B: timed out (2/2) — Alt+1 accept A, Alt+] toggle, Esc dismiss");
  const refused = s.act("acceptB");
  assert.equal(refused.vote, undefined);
  assert.equal(refused.insert, undefined);
  assert.match(refused.refused ?? "", /B: timed out/);
  assert.deepEqual(s.accepted("r1", "B"), { changed: false, refused: "B: timed out: nothing to accept" });
  assert.ok(s.isOpen, "still open: A can be accepted, or both dismissed");
  assert.deepEqual(s.act("acceptA").vote, { round: "r1", choice: "A" });
  // both failed: only dismiss is left
  s.open(round("r2", { status: "error", insertText: "" }, { status: "empty", insertText: "" }), U);
  assert.equal(arenaHint(s.current!), "Arena: A: error (1/2), B: empty — Alt+] toggle, Esc dismiss");
  assert.equal(s.act("acceptA").vote, undefined);
  assert.deepEqual(s.act("dismiss").vote, { round: "r2", choice: "none" });
});

test("the ghost text accepted by the editor (Tab) votes for its slot, once", () => {
  const s = new ArenaSession();
  s.open(round("r1"), U);
  s.act("toggle");
  // VS Code inserts the text first (a document change), then runs the item's command
  const out = s.edited(U, [{ range: here, text: "bar()\n    pass" }]);
  assert.deepEqual(out.vote, { round: "r1", choice: "B" });
  assert.deepEqual(s.accepted("r1", "B"), { changed: false });
  // the command alone (no change seen) votes too
  s.open(round("r2"), U);
  assert.deepEqual(s.accepted("r2", "A").vote, { round: "r2", choice: "A" });
  assert.deepEqual(s.accepted("r9", "A"), { changed: false }, "an unknown round");
});

test("typing through the shown suggestion keeps the round; anything else votes none", () => {
  const s = new ArenaSession();
  s.open(round("r1"), U);
  assert.deepEqual(s.edited(U, [{ range: here, text: "fo" }]), { changed: false });
  assert.equal(s.current?.typed, "fo");
  assert.deepEqual(s.current?.range, { start: at, end: { line: 3, character: 6 } });
  assert.deepEqual(s.edited("file:///b.py", [{ range: here, text: "zzz" }]), { changed: false }, "another document");
  // accepting B now replaces what was typed
  const acc = new ArenaSession();
  acc.open(round("r2"), U);
  acc.edited(U, [{ range: here, text: "f" }]);
  assert.deepEqual(acc.act("acceptB").insert?.range, { start: at, end: { line: 3, character: 5 } });
  // typing the rest of A is accepting A
  const pos6 = { line: 3, character: 6 };
  assert.deepEqual(s.edited(U, [{ range: { start: pos6, end: pos6 }, text: "o(x)" }]).vote, { round: "r1", choice: "A" });
  // typing something else, a deletion, or several changes at once: none
  for (const change of [
    [{ range: here, text: "q" }],
    [{ range: { start: { line: 3, character: 3 }, end: at }, text: "" }],
    [{ range: here, text: "f" }, { range: { start: { line: 9, character: 0 }, end: { line: 9, character: 0 } }, text: "f" }],
  ]) {
    s.open(round(`r-${JSON.stringify(change).length}`), U);
    const id: string = s.current!.round;
    assert.deepEqual(s.edited(U, change), { vote: { round: id, choice: "none" }, changed: true });
    assert.equal(s.isOpen, false);
  }
});

test("details for the tooltip", () => {
  const items = arenaItems(round("r1", {}, { insertText: "", latencyMs: 4000, status: "timeout" }));
  assert.deepEqual(arenaDetails(items, formatMs), ["A: 6 chars, 1 line, 13 ms", "B: timed out, 4000 ms"]);
});
