// Arena mode (Copilot-Arena style): Alt+A asks the server for a round (`dllm/arena`): two
// backends' suggestions for the cursor, in random order, without names. Both are shown side by
// side; Alt+1 / Alt+2 inserts one and votes for it, Esc dismisses both (a "none" vote, as any typing
// over them is). The keys are bound only with arena mode on (on a Mac, Alt+1 types a character). A backend
// that failed or timed out is shown as such and cannot be picked. The server keeps the names and
// writes the vote to its local log (editor-clients/README.md).
import { toLspPosition } from "./lsp.js";

const STATUS = { empty: "no suggestion", error: "failed", timeout: "timed out" };

export class Arena {
  constructor(session, editor, monaco, panel, enabled = true) {
    Object.assign(this, { session, editor, monaco, panel });
    this.round = null; // { id, suggestions } while a pair is shown
    this.asked = 0; // the latest dllm/arena request: answers to older ones are dropped
    this.votes = []; // what the server answered to each vote, for the page's tests
    if (!enabled) return;
    editor.addCommand(monaco.KeyMod.Alt | monaco.KeyCode.KeyA, () => void this.ask());
    editor.addCommand(monaco.KeyMod.Alt | monaco.KeyCode.Digit1, () => void this.pick("A"));
    editor.addCommand(monaco.KeyMod.Alt | monaco.KeyCode.Digit2, () => void this.pick("B"));
    editor.onKeyDown((e) => {
      if (e.keyCode === monaco.KeyCode.Escape && this.round) void this.pick("none");
    });
    editor.onDidChangeModelContent(() => this.drop("the text changed")); // its ranges no longer hold
  }

  // A shown pair typed over: gone, and voted "none" (neither was taken).
  drop(why) {
    const round = this.round;
    if (!round) return;
    this.round = null;
    this.show({ note: `arena: ${why}; neither taken` });
    void this.vote(round, "none");
  }

  async ask() {
    if (this.round) await this.pick("none"); // a new round replaces one left unvoted
    const asked = ++this.asked;
    const model = this.editor.getModel();
    const version = model.getVersionId();
    const at = this.editor.getPosition();
    this.show({ note: "arena: asking two backends…" });
    let result;
    try {
      result = await this.session.request("dllm/arena", { textDocument: { uri: model.uri.toString() }, position: toLspPosition(at) });
    } catch (err) {
      if (asked === this.asked) this.show({ note: `arena: ${err.message ?? err}` });
      return;
    }
    if (asked !== this.asked) return; // a newer round was asked for meanwhile
    const ok = result && typeof result.round === "string" && Array.isArray(result.suggestions) && result.suggestions.length === 2;
    if (!ok) return this.show({ note: "arena: off, or fewer than two backends configured (settings.arena)" });
    if (this.editor.getModel() !== model || model.getVersionId() !== version || !this.editor.getPosition().equals(at)) {
      return this.show({ note: "arena: the editor moved on while the backends ran; round dropped" });
    }
    this.round = { id: result.round, suggestions: result.suggestions, model };
    this.show(this.round);
  }

  async pick(choice) {
    const round = this.round;
    if (!round) return;
    const chosen = round.suggestions.find((s) => s.slot === choice);
    if (chosen && chosen.status !== "ok") return; // a failed backend cannot win
    this.round = null;
    if (chosen && round.model === this.editor.getModel()) {
      const r = chosen.range;
      const range = new this.monaco.Range(r.start.line + 1, r.start.character + 1, r.end.line + 1, r.end.character + 1);
      this.editor.executeEdits("dllm-arena", [{ range, text: chosen.insertText, forceMoveMarkers: true }]);
    }
    this.show({ note: choice === "none" ? "arena: dismissed both" : `arena: you picked ${choice}` });
    await this.vote(round, choice);
  }

  async vote(round, choice) {
    try {
      this.votes.push(await this.session.request("dllm/arenaVote", { round: round.id, choice }));
    } catch (err) {
      this.votes.push({ error: err.message ?? String(err) });
    }
  }

  show(state) {
    this.panel.replaceChildren();
    this.panel.hidden = false;
    if (!state.suggestions) {
      this.panel.textContent = state.note;
      return;
    }
    for (const s of state.suggestions) {
      const card = document.createElement("div");
      card.className = "arena-card";
      card.dataset.slot = s.slot;
      card.dataset.status = s.status;
      const head = document.createElement("div");
      const latency = s.latencyMs == null ? "" : ` · ${s.latencyMs.toFixed(0)} ms`;
      head.textContent = `${s.slot} — Alt+${s.slot === "A" ? 1 : 2}${latency}`;
      const body = document.createElement("pre");
      body.textContent = s.status === "ok" ? s.insertText : `(${STATUS[s.status] ?? s.status})`;
      card.append(head, body);
      this.panel.append(card);
    }
  }
}
