// JSON-RPC 2.0 over a WebSocket, one message per frame (what `dllm-lsp --ws` speaks).
// Requests return promises and can be cancelled with an AbortSignal ($/cancelRequest);
// requests from the server go to `onRequest`, notifications to `onNotification`.

export class RpcError extends Error {
  constructor(error) {
    super(error?.message ?? "request failed");
    this.code = error?.code;
  }
}

export class Connection {
  constructor(url, { onNotification = () => {}, onRequest = () => null, onClose = () => {} } = {}) {
    this.url = url;
    this.handlers = { onNotification, onRequest, onClose };
    this.nextId = 1;
    this.pending = new Map();
  }

  open(timeoutMs = 5000) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      ws.binaryType = "arraybuffer"; // pygls sends binary frames
      const timer = setTimeout(() => { ws.close(); reject(new Error(`no answer from ${this.url}`)); }, timeoutMs);
      ws.onopen = () => { clearTimeout(timer); this.ws = ws; resolve(this); };
      ws.onerror = () => { clearTimeout(timer); reject(new Error(`cannot connect to ${this.url}`)); };
      ws.onclose = () => {
        const was = this.ws === ws;
        this.ws = undefined;
        for (const { reject: fail } of this.pending.values()) fail(new Error("connection closed"));
        this.pending.clear();
        if (was) this.handlers.onClose();
      };
      ws.onmessage = (ev) => this.receive(ev.data);
    });
  }

  get open_() { return this.ws?.readyState === WebSocket.OPEN; }

  send(message) {
    if (!this.open_) throw new Error("not connected");
    this.ws.send(JSON.stringify({ jsonrpc: "2.0", ...message }));
  }

  notify(method, params) {
    if (this.open_) this.send({ method, params });
  }

  request(method, params, signal) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new DOMException("cancelled", "AbortError"));
      this.pending.set(id, { resolve, reject });
      try {
        this.send({ id, method, params });
      } catch (err) {
        this.pending.delete(id);
        return reject(err);
      }
      signal?.addEventListener("abort", () => {
        if (!this.pending.has(id)) return;
        this.pending.delete(id);
        this.notify("$/cancelRequest", { id });
        reject(new DOMException("cancelled", "AbortError"));
      }, { once: true });
    });
  }

  async receive(data) {
    let msg;
    try {
      msg = JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data));
    } catch {
      return console.warn("dllm: not JSON from the server", data);
    }
    if (msg.method === undefined) { // a response
      const waiter = this.pending.get(msg.id);
      if (!waiter) return;
      this.pending.delete(msg.id);
      if (msg.error) waiter.reject(new RpcError(msg.error));
      else waiter.resolve(msg.result);
    } else if (msg.id === undefined) {
      this.handlers.onNotification(msg.method, msg.params);
    } else {
      try {
        const result = await this.handlers.onRequest(msg.method, msg.params);
        this.send({ id: msg.id, result: result ?? null });
      } catch (err) {
        this.send({ id: msg.id, error: { code: -32603, message: String(err) } });
      }
    }
  }

  close() {
    this.ws?.close();
  }
}
