import assert from "node:assert/strict";
import Module from "node:module";
import path from "node:path";
import { test } from "node:test";

// The shipped bundle loads outside VS Code when `vscode` is a stub, and exports the entry points.
test("dist/extension.js loads and exports activate/deactivate", () => {
  const stub: object = new Proxy(function () {}, { get: (_t, key) => (key === "__esModule" ? true : stub), apply: () => stub, construct: () => stub });
  const mod = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
  const load = mod._load;
  mod._load = (request: string, ...rest: unknown[]) => (request === "vscode" ? stub : load(request, ...rest));
  try {
    const ext = require(path.join(__dirname, "..", "..", "dist", "extension.js"));
    assert.equal(typeof ext.activate, "function");
    assert.equal(typeof ext.deactivate, "function");
  } finally {
    mod._load = load;
  }
});
