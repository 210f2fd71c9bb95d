import assert from "node:assert/strict";
import { test } from "node:test";

import { formatMs, modelOf, statusView } from "../src/core/status";

const on = { phase: "running" as const, enabledGlobally: true, enabledHere: true, language: "python" };

test("status shows model, device and the last latency when on", () => {
  const v = statusView({ ...on, model: "tiny-diffusion", device: "cpu", lastLatencyMs: 123.4 });
  assert.equal(v.text, "$(sparkle) tiny-diffusion · cpu · 123 ms");
  assert.match(v.tooltip, /model: tiny-diffusion/);
  assert.equal(statusView(on).text, "$(sparkle) loading…");
});

test("status says off globally, off for a language, stopped and failed", () => {
  assert.equal(statusView({ ...on, enabledGlobally: false }).text, "$(circle-slash) dllm: off");
  assert.equal(statusView({ ...on, enabledHere: false }).text, "$(circle-slash) dllm: off for python");
  assert.equal(statusView({ ...on, phase: "stopped" }).text, "$(debug-stop) dllm");
  assert.match(statusView({ ...on, phase: "error", error: "boom" }).tooltip, /boom/);
});

test("formatMs and modelOf", () => {
  assert.equal(formatMs(3.21), "3.2 ms");
  assert.equal(formatMs(12000), "12.0 s");
  assert.equal(formatMs(9.99), "10 ms"); // never "10.0 ms" or "10000 ms": each range as it rounds
  assert.equal(formatMs(9999.6), "10.0 s");
  assert.equal(formatMs(undefined), "–");
  assert.deepEqual(modelOf({ model: { model: "m", device: "cuda:0" }, model_error: null }), { model: "m", device: "cuda:0", error: undefined });
  assert.deepEqual(modelOf({ model: null, model_error: "OSError: no file" }), { model: undefined, device: undefined, error: "OSError: no file" });
  assert.deepEqual(modelOf(null), {});
});
