import assert from "node:assert/strict";
import { test } from "node:test";

import { continues, FeedbackTracker } from "../src/core/feedback";

const U = "file:///a.py";

test("continues: the rest of the same text after typing part of it", () => {
  const prev = { id: "1", line: 3, character: 4, text: "return a + b\n    pass" };
  assert.ok(continues(prev, { id: "2", line: 3, character: 11, text: "a + b\n    pass" }));
  assert.ok(continues(prev, { id: "2", line: 4, character: 4, text: "pass" }));
  assert.ok(!continues(prev, { id: "2", line: 3, character: 10, text: "a + b\n    pass" }), "wrong column");
  assert.ok(!continues(prev, { id: "2", line: 3, character: 11, text: "a - b" }));
  assert.ok(!continues(prev, { id: "2", line: 3, character: 4, text: "" }));
});

test("shown once, accepted once, by the first id", () => {
  const t = new FeedbackTracker();
  assert.deepEqual(t.offer(U, [{ id: "7:1", line: 0, character: 4, text: "foo()" }]).map((e) => e.kind), ["shown"]);
  assert.deepEqual(t.offer(U, [{ id: "8:2", line: 0, character: 6, text: "o()" }]), [], "typing through");
  const [acc] = t.accept("8:2");
  assert.equal(acc.kind, "accepted");
  assert.equal(acc.params.id, "7:1");
  assert.equal(acc.params.item, "8:2");
  assert.deepEqual(t.close(U), [], "nothing left to reject");
});

test("replaced or gone suggestions are rejected", () => {
  const t = new FeedbackTracker();
  t.offer(U, [{ id: "1", line: 0, character: 0, text: "abc" }]);
  const ev = t.offer(U, [{ id: "2", line: 5, character: 0, text: "xyz" }]);
  assert.deepEqual(ev.map((e) => [e.kind, e.params.id, e.params.reason]), [["rejected", "1", "replaced"], ["shown", "2", undefined]]);
  const gone = t.offer(U, []);
  assert.deepEqual(gone.map((e) => [e.kind, e.params.reason]), [["rejected", "gone"]]);
  assert.deepEqual(t.offer(U, []), []);
});

test("documents are tracked apart; close rejects what was on screen", () => {
  const t = new FeedbackTracker();
  t.offer(U, [{ id: "1", line: 0, character: 0, text: "a" }]);
  t.offer("file:///b.py", [{ id: "2", line: 0, character: 0, text: "b" }]);
  assert.deepEqual(t.close(U).map((e) => e.params.id), ["1"]);
  assert.deepEqual(t.close().map((e) => [e.kind, e.params.id, e.params.reason]), [["rejected", "2", "closed"]]);
});

test("accepting an alternative the tracker never saw still reports it", () => {
  const t = new FeedbackTracker();
  assert.deepEqual(t.accept("9:3").map((e) => [e.kind, e.params.id]), [["accepted", "9:3"]]);
});

test("a suggestion typed out in full is accepted via typed, as the Neovim client counts it", () => {
  const t = new FeedbackTracker();
  t.offer(U, [{ id: "1", line: 0, character: 4, text: "foo()" }]);
  t.offer(U, [{ id: "2", line: 0, character: 8, text: ")" }]); // typed through "foo(" (the same suggestion)
  assert.deepEqual(t.showing(U), { id: "2", line: 0, character: 8, text: ")" });
  t.typed(U, ")"); // the user typed the rest too
  const ev = t.offer(U, [{ id: "3", line: 1, character: 0, text: "bar" }]);
  assert.deepEqual(ev.map((e) => [e.kind, e.params.id, e.params.via]), [["accepted", "1", "typed"], ["shown", "3", undefined]]);
  t.typed(U, "ba"); // not all of it
  assert.deepEqual(t.close(U).map((e) => [e.kind, e.params.reason]), [["rejected", "closed"]]);
});

test("text typed over a suggestion, then changed, is a rejection again", () => {
  const t = new FeedbackTracker();
  t.offer(U, [{ id: "1", line: 0, character: 0, text: "x" }]);
  t.typed(U, "x");
  t.typed(U, "y");
  assert.deepEqual(t.offer(U, []).map((e) => [e.kind, e.params.reason]), [["rejected", "gone"]]);
});
