// The playground page: a Monaco editor whose inline completions come from dllm-lsp over a
// WebSocket. serve.mjs serves it with /config.json ({ ws, settings }); `window.dllmPlayground`
// exposes the pieces to the end-to-end test.
import * as monaco from "monaco-editor";

import { Arena } from "./arena.js";
import { registerInline } from "./inline.js";
import { LatencyProbe } from "./latency.js";
import { Session } from "./lsp.js";

self.MonacoEnvironment = { getWorker: () => new Worker(new URL("./editor.worker.js", import.meta.url)) };

const SAMPLES = {
  python: "def add(a, b):\n    return \n\n\nclass Stack:\n    def __init__(self):\n        self.items = []\n",
  javascript: "function add(a, b) {\n  return \n}\n",
  typescript: "export function add(a: number, b: number): number {\n  return \n}\n",
  go: "package main\n\nfunc add(a, b int) int {\n\treturn \n}\n",
  rust: "fn add(a: i32, b: i32) -> i32 {\n    \n}\n",
  java: "class Main {\n    static int add(int a, int b) {\n        return \n    }\n}\n",
  c: "int add(int a, int b) {\n    return \n}\n",
  cpp: "int add(int a, int b) {\n    return \n}\n",
};
const EXT = { python: "py", javascript: "js", typescript: "ts", go: "go", rust: "rs", java: "java", c: "c", cpp: "cpp" };

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const config = await fetch("config.json").then((r) => r.json()).catch(() => ({}));
const url = params.get("ws") ?? config.ws ?? `ws://${location.hostname}:2087`;

const setConn = (state, text) => {
  $("conn").dataset.state = state;
  $("conn").textContent = text;
};

const session = new Session({
  url,
  settings: config.settings ?? {},
  onState: (state, detail) => {
    setConn(state, state === "ready" ? `connected to ${url}` : state === "closed" ? "server gone, reconnecting…" : `connecting to ${url}…`);
    $("message").textContent = state === "ready" ? "" : detail ?? "";
    if (state === "ready") void refreshStats();
  },
  onMessage: (_type, text) => { $("message").textContent = text; },
});

const editor = monaco.editor.create($("editor"), {
  theme: "vs-dark",
  automaticLayout: true,
  fontSize: 15,
  minimap: { enabled: false },
  quickSuggestions: false,
  suggestOnTriggerCharacters: false,
  wordBasedSuggestions: "off",
  inlineSuggest: { enabled: true, showToolbar: "onHover" },
});

const models = {};
function open(language) {
  if (!models[language]) {
    models[language] = monaco.editor.createModel(SAMPLES[language] ?? "", language, monaco.Uri.parse(`file:///playground/main.${EXT[language] ?? "txt"}`));
    session.attach(models[language]);
  }
  editor.setModel(models[language]);
  const lines = models[language].getLinesContent();
  const row = Math.max(0, lines.findIndex((l) => /return $|^ {4}$/.test(l)));
  editor.setPosition({ lineNumber: row + 1, column: lines[row].length + 1 });
  editor.focus();
}

const feedbackLog = [];
const probe = new LatencyProbe(editor, {
  onSample: () => {
    const p50 = probe.percentile(50);
    $("latency").textContent = `keystroke → ghost: ${probe.samples.at(-1).toFixed(0)} ms (p50 ${p50.toFixed(0)} ms, n=${probe.samples.length})`;
  },
});
let lastShown;
registerInline(session, {
  isEnabled: () => $("enabled").checked,
  debounceMs: Number(params.get("debounce") ?? 0),
  onResult: ({ ms, count }) => { if (count) $("server").textContent = `server: ${ms.toFixed(0)} ms`; },
  onShown: (item) => { lastShown = item; probe.shown(); },
  onFeedback: (kind, p) => feedbackLog.push({ kind, ...p }),
});

async function refreshStats(tries = 30) {
  try {
    const stats = await session.request("dllm/stats", {});
    if (stats.model) {
      $("model").textContent = `model: ${stats.model.model} · ${stats.model.device}`;
      window.dllmPlayground.model = stats.model;
      return;
    }
    if (stats.model_error) return void ($("model").textContent = `model failed: ${stats.model_error}`);
  } catch { /* not connected any more */ }
  if (tries > 1) setTimeout(() => refreshStats(tries - 1), 1000);
}

$("language").addEventListener("change", (e) => open(e.target.value));
$("enabled").addEventListener("change", (e) => session.configure({ enabled: e.target.checked }));
editor.addCommand(monaco.KeyMod.Alt | monaco.KeyCode.Backslash, () => editor.trigger("dllm", "editor.action.inlineSuggest.trigger", {}));

const arena = new Arena(session, editor, monaco, $("arena"), config.settings?.arena?.enabled === true);

window.dllmPlayground = { monaco, editor, session, probe, arena, feedback: feedbackLog, get lastShown() { return lastShown; }, model: undefined };
open(params.get("language") ?? "python");
void session.connect();
