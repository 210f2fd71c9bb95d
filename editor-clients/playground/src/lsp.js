// The LSP session with dllm-lsp: connect (and reconnect: `dllm-lsp --ws` serves one connection,
// and serve.mjs starts a fresh one when it ends), initialize, keep Monaco models in sync
// (incremental changes, UTF-16 positions, as Monaco counts), pass settings, answer the server's
// requests. Knows Monaco models but nothing about the UI.
import { Connection } from "./rpc.js";

export const toLspPosition = (p) => ({ line: p.lineNumber - 1, character: p.column - 1 });
export const toLspRange = (r) => ({
  start: { line: r.startLineNumber - 1, character: r.startColumn - 1 },
  end: { line: r.endLineNumber - 1, character: r.endColumn - 1 },
});

export class Session {
  constructor({ url, settings = {}, onState = () => {}, onMessage = () => {} }) {
    Object.assign(this, { url, settings, onState, onMessage });
    this.models = new Map(); // uri -> model (open in the server while connected)
    this.conn = undefined;
    this.state = "connecting";
    this.stopped = false;
  }

  setState(state, detail) {
    this.state = state;
    this.onState(state, detail);
  }

  get ready() { return this.state === "ready"; }

  async connect() {
    while (!this.stopped) {
      const conn = new Connection(this.url, {
        onNotification: (method, params) => {
          if (method === "window/showMessage") this.onMessage(params.type, params.message);
        },
        onRequest: (method, params) => {
          if (method === "workspace/configuration") return params.items.map((i) => (!i.section || i.section === "dllm" ? this.settings : null));
          return null; // client/registerCapability, window/workDoneProgress/create ...
        },
        onClose: () => {
          if (this.conn !== conn) return;
          this.conn = undefined;
          this.setState("closed");
          if (!this.stopped) setTimeout(() => this.connect(), 500);
        },
      });
      try {
        await conn.open();
        const init = await conn.request("initialize", {
          processId: null,
          clientInfo: { name: "dllm-playground" },
          rootUri: null,
          capabilities: {
            general: { positionEncodings: ["utf-16"] },
            workspace: { configuration: true, didChangeConfiguration: { dynamicRegistration: false } },
            textDocument: {
              synchronization: { dynamicRegistration: false },
              inlineCompletion: { dynamicRegistration: false },
            },
            window: { showMessage: {} },
          },
          initializationOptions: this.settings,
        });
        this.capabilities = init.capabilities;
        conn.notify("initialized", {});
        this.conn = conn;
        for (const model of this.models.values()) this.didOpen(model);
        this.setState("ready");
        return;
      } catch (err) {
        conn.close();
        this.setState("connecting", String(err.message ?? err));
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  // Keep `model` open in the server for as long as it lives.
  attach(model) {
    const uri = model.uri.toString();
    this.models.set(uri, model);
    if (this.conn) this.didOpen(model);
    model.onDidChangeContent((e) => {
      this.conn?.notify("textDocument/didChange", {
        textDocument: { uri, version: e.versionId },
        contentChanges: e.changes.map((c) => ({ range: toLspRange(c.range), rangeLength: c.rangeLength, text: c.text })),
      });
    });
    model.onWillDispose(() => {
      this.models.delete(uri);
      this.conn?.notify("textDocument/didClose", { textDocument: { uri } });
    });
  }

  didOpen(model) {
    this.conn.notify("textDocument/didOpen", {
      textDocument: { uri: model.uri.toString(), languageId: model.getLanguageId(), version: model.getVersionId(), text: model.getValue() },
    });
  }

  configure(changes) {
    this.settings = { ...this.settings, ...changes };
    this.conn?.notify("workspace/didChangeConfiguration", { settings: { dllm: changes } });
  }

  request(method, params, signal) {
    if (!this.conn) return Promise.reject(new Error("not connected"));
    return this.conn.request(method, params, signal);
  }

  notify(method, params) {
    this.conn?.notify(method, params);
  }

  stop() {
    this.stopped = true;
    this.conn?.close();
  }
}
