import assert from "node:assert/strict";
import { test } from "node:test";

import { ARENA_KEYS, enabledFor, fromObject, languageToggleLabel, SERVER_KEYS, serverSettings, switchesOf, toggleLanguage } from "../src/core/settings";
import { serverLaunch } from "../src/core/launch";

const pkg = require("../../package.json");

test("every contributed setting but the client's own reaches the server (defaults: tests/editor_clients)", () => {
  const clientOnly = new Set(["completionMenu", "server.command", "server.args", "server.logFile", "trace.server"]);
  const keys = Object.keys(pkg.contributes.configuration.properties).map((k) => k.slice("dllm.".length));
  assert.deepEqual([...SERVER_KEYS].sort(), keys.filter((k) => !clientOnly.has(k) && !k.startsWith("arena.")).sort());
  assert.deepEqual([...ARENA_KEYS].sort(), keys.filter((k) => k.startsWith("arena.")).map((k) => k.slice(6)).sort());
});

test("only server keys reach the server; blank model and device mean the default", () => {
  const out = serverSettings(fromObject({
    enabled: false, model: "", device: "cuda", maxLines: 4, "server.command": "x", completionMenu: true,
    "trace.server": "verbose", languages: ["python"],
  }));
  assert.deepEqual(out, { enabled: false, model: null, device: "cuda", maxLines: 4, languages: ["python"] });
});

test("enabledFor follows the server's rule", () => {
  const s = { enabled: true, languages: [], disabledLanguages: ["markdown"] };
  assert.equal(enabledFor(s, "python"), true);
  assert.equal(enabledFor(s, "markdown"), false);
  assert.equal(enabledFor({ ...s, languages: ["go"] }, "python"), false);
  assert.equal(enabledFor({ ...s, enabled: false }, "python"), false);
  assert.equal(enabledFor({ ...s, languages: ["markdown"] }, "markdown"), false, "the deny list wins");
});

test("toggleLanguage flips one language and round-trips", () => {
  const base = switchesOf(fromObject({ enabled: true, languages: [], disabledLanguages: ["log"] }));
  const off = toggleLanguage(base, "python");
  assert.equal(enabledFor(off, "python"), false);
  assert.equal(enabledFor(off, "go"), true);
  const on = toggleLanguage(off, "python");
  assert.deepEqual(on, base);
  const allow = { enabled: true, languages: ["go"], disabledLanguages: ["python"] };
  const both = toggleLanguage(allow, "python");
  assert.equal(enabledFor(both, "python"), true);
  assert.deepEqual(both.languages, ["go", "python"]);
  assert.equal(enabledFor(toggleLanguage({ enabled: true, languages: ["go"], disabledLanguages: [] }, "rust"), "rust"), true);
});

test("serverLaunch: dllm-lsp by default, python -P -m dllm_complete.lsp_server for an interpreter", () => {
  assert.deepEqual(serverLaunch({}, { A: "1" }), { command: "dllm-lsp", args: [], env: { A: "1" } });
  assert.deepEqual(serverLaunch({ command: " /venv/bin/python3 ", args: ["--device", "cpu"] }, {}).args,
    ["-P", "-m", "dllm_complete.lsp_server", "--device", "cpu"]);
  assert.deepEqual(serverLaunch({ command: "C:\\py\\python.exe" }, {}).args, ["-P", "-m", "dllm_complete.lsp_server"]);
  assert.deepEqual(serverLaunch({ command: "/opt/dllm-lsp", logFile: "/tmp/l.json" }, {}).args,
    ["--log-file", "/tmp/l.json"]);
  assert.deepEqual(serverLaunch({ args: ["--log-file=/tmp/mine.json"], logFile: "/tmp/l.json" }, {}).args,
    ["--log-file=/tmp/mine.json"]); // the user's own, in either spelling, wins
});

test("the manifest declares every command the extension registers", () => {
  const declared = new Set(pkg.contributes.commands.map((c: { command: string }) => c.command));
  for (const c of ["dllm.toggle", "dllm.enable", "dllm.disable", "dllm.toggleLanguage", "dllm.showStats", "dllm.restart", "dllm.statusMenu"]) {
    assert.ok(declared.has(c), c);
  }
  assert.equal(pkg.main, "./dist/extension.js");
});

test("the dllm.arena.* settings reach the server as its arena object, with its defaults", () => {
  const props = pkg.contributes.configuration.properties;
  const defaults: Record<string, unknown> = { enabled: false, backends: [], timeoutMs: 4000, logFile: null, logCode: false };
  assert.deepEqual([...ARENA_KEYS].sort(), Object.keys(defaults).sort());
  for (const key of ARENA_KEYS) {
    assert.deepEqual(props[`dllm.arena.${key}`]?.default, defaults[key], key);
    assert.ok(props[`dllm.arena.${key}`]?.description, key);
  }
  const out = serverSettings(fromObject({
    enabled: true, "arena.enabled": true, "arena.backends": ["dllm", "ar@model:ar-code-small"], "arena.timeoutMs": 2000,
    "arena.logFile": "", "arena.logCode": false,
  }));
  assert.deepEqual(out, { enabled: true, arena: { enabled: true, backends: ["dllm", "ar@model:ar-code-small"], timeoutMs: 2000, logFile: null, logCode: false } });
  assert.deepEqual(serverSettings(fromObject({ "arena.logFile": "~/votes.jsonl" })), { arena: { logFile: "~/votes.jsonl" } });
});

test("the manifest declares the arena commands and their keys", () => {
  const declared = new Set(pkg.contributes.commands.map((c: { command: string }) => c.command));
  const keys = pkg.contributes.keybindings as { command: string; key: string; when: string }[];
  for (const c of ["dllm.arena.request", "dllm.arena.acceptA", "dllm.arena.acceptB", "dllm.arena.toggle", "dllm.arena.dismiss"]) {
    assert.ok(declared.has(c), c);
    assert.ok(keys.some((k) => k.command === c), c);
  }
  for (const k of keys.filter((k) => k.command !== "dllm.arena.request")) assert.match(k.when, /dllm\.arenaOpen/, k.command);
});

test("the status menu's language item says what toggling does, whatever the global switch", () => {
  for (const enabled of [true, false]) {
    const s = { enabled, languages: [], disabledLanguages: ["plaintext"] };
    assert.equal(languageToggleLabel(s, "python"), "Disable for python");
    const off = toggleLanguage(s, "python");
    assert.deepEqual(off.disabledLanguages, ["plaintext", "python"]);
    assert.equal(languageToggleLabel(off, "python"), "Enable for python");
  }
});
