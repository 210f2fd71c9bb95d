// Keystroke-to-ghost-text latency as the page sees it: from the keydown event's timestamp to the
// animation frame in which ghost text for the text after that keystroke is in the editor's DOM.
// Keystrokes after which no ghost text appears (within `timeoutMs`) are not samples.

const GHOST = ".ghost-text-decoration, .ghost-text-decoration-preview, .ghost-text";

// Monaco's keybinding service handles keys in a window capture listener and stops them there, so
// the editor's own DOM never sees them: listen on the window, before the editor exists.
const keyListeners = new Set();
window.addEventListener("keydown", (e) => { for (const f of keyListeners) f(e); }, true);

export class LatencyProbe {
  constructor(editor, { timeoutMs = 5000, onSample = () => {} } = {}) {
    Object.assign(this, { editor, timeoutMs, onSample });
    this.samples = [];
    this.pending = undefined;
    this.shownVersion = -1;
    keyListeners.add((e) => {
      if (editor.getDomNode()?.contains(e.target)) this.keydown(e);
    });
    editor.onDidChangeModelContent(() => {
      if (this.pending && this.pending.version === undefined) this.pending.version = editor.getModel().getVersionId();
    });
  }

  keydown(e) {
    if (e.key.length !== 1 && e.key !== "Backspace" && e.key !== "Enter") return;
    this.pending = { t: e.timeStamp, version: undefined };
    const pending = this.pending;
    const tick = () => {
      if (this.pending !== pending) return; // a newer keystroke took over
      if (performance.now() - pending.t > this.timeoutMs) {
        this.pending = undefined;
        return;
      }
      const model = this.editor.getModel();
      const fresh = pending.version !== undefined && model.getVersionId() === pending.version && this.shownVersion === pending.version;
      if (fresh && this.editor.getDomNode().querySelector(GHOST)) {
        this.pending = undefined;
        const ms = performance.now() - pending.t;
        this.samples.push(ms);
        this.onSample(ms);
        return;
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  // The provider's item was put on screen for the model's current version.
  shown() {
    this.shownVersion = this.editor.getModel().getVersionId();
  }

  percentile(p) {
    if (!this.samples.length) return undefined;
    const s = [...this.samples].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
  }
}
