/**
 * Which suggestion was shown, accepted or rejected: the `dllm/shown`, `dllm/accepted` and
 * `dllm/rejected` notifications, worked out from what the server offered and what the user did.
 *
 * VS Code's stable API says when an item is accepted (its command runs) but not when it is
 * dismissed, so a suggestion counts as rejected when the next answer for the same document does
 * not continue it (the user typed something else, moved away, or pressed Escape and went on), or
 * when the document closes. Typing through a suggestion, or accepting part of it, makes the server
 * answer with the rest of the same text: that is the same suggestion, not a new one; typing all of it
 * takes it (`accepted`, via "typed", as the Neovim client counts it).
 * Pure logic: no `vscode` import.
 */

export interface Offered {
  id: string; // the server's suggestion id (the argument of its accept command)
  line: number; // where the inserted text starts
  character: number;
  text: string; // the text inserted from there
}

export interface FeedbackEvent {
  kind: "shown" | "accepted" | "rejected";
  params: { id: string; uri: string; item?: string; reason?: string; chars?: number; via?: string };
}

interface Live {
  origin: string; // id of the first answer of this suggestion
  uri: string;
  item: Offered; // the latest answer that continues it
  typedOut?: boolean; // the document holds all of its text where it was offered
}

/** Whether `next` is what is left of `prev` after the user typed a prefix of it. */
export function continues(prev: Offered, next: Offered): boolean {
  if (!next.text || !prev.text.endsWith(next.text)) return false;
  const typed = prev.text.slice(0, prev.text.length - next.text.length);
  const lines = typed.split("\n");
  const line = prev.line + lines.length - 1;
  const character = (lines.length === 1 ? prev.character : 0) + lines[lines.length - 1].length;
  return next.line === line && next.character === character;
}

export class FeedbackTracker {
  private live = new Map<string, Live>(); // by uri: the suggestion on screen in that document

  /** A new answer for `uri`; its first item is the one on screen. */
  offer(uri: string, items: Offered[]): FeedbackEvent[] {
    const prev = this.live.get(uri);
    const first = items[0];
    if (prev && first && (first.id === prev.item.id || continues(prev.item, first))) {
      prev.item = first;
      prev.typedOut = false;
      return [];
    }
    const events: FeedbackEvent[] = [];
    if (prev) {
      this.live.delete(uri);
      events.push(this.ended(prev, first ? "replaced" : "gone"));
    }
    if (first) {
      const now: Live = { origin: first.id, uri, item: first };
      this.live.set(uri, now);
      events.push(this.event("shown", now));
    }
    return events;
  }

  /** The suggestion on screen in `uri`, if any: where its text starts, and the text. */
  showing(uri: string): Offered | undefined {
    return this.live.get(uri)?.item;
  }

  /** After an edit of `uri`: `textNow` is what the document holds where the suggestion on screen is. */
  typed(uri: string, textNow: string): void {
    const live = this.live.get(uri);
    if (live) live.typedOut = textNow === live.item.text;
  }

  /** The accept command ran for item `id`. */
  accept(id: string): FeedbackEvent[] {
    for (const [uri, live] of this.live) {
      if (live.item.id === id || live.origin === id) {
        this.live.delete(uri);
        return [this.event("accepted", live)];
      }
    }
    return [{ kind: "accepted", params: { id, uri: "", item: id } }]; // an alternative VS Code cycled to
  }

  /** The document closed (or the client stops): what was on screen was not taken. */
  close(uri?: string): FeedbackEvent[] {
    const uris = uri === undefined ? [...this.live.keys()] : [uri];
    const events: FeedbackEvent[] = [];
    for (const u of uris) {
      const live = this.live.get(u);
      if (live) {
        this.live.delete(u);
        events.push(this.ended(live, "closed"));
      }
    }
    return events;
  }

  /** A suggestion that went from the screen without its accept command: taken if typed out, else rejected. */
  private ended(live: Live, reason: string): FeedbackEvent {
    return live.typedOut ? this.event("accepted", live, undefined, "typed") : this.event("rejected", live, reason);
  }

  private event(kind: FeedbackEvent["kind"], live: Live, reason?: string, via?: string): FeedbackEvent {
    const params: FeedbackEvent["params"] = { id: live.origin, uri: live.uri, item: live.item.id };
    if (reason) params.reason = reason;
    if (via) params.via = via;
    if (kind !== "rejected") params.chars = live.item.text.length;
    return { kind, params };
  }
}
