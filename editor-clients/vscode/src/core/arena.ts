/**
 * Arena mode (Copilot-Arena style): the server answers `dllm/arena` with two anonymous suggestions
 * from two backends, the user keeps one (or neither), and `dllm/arenaVote` reports the pick.
 *
 * Here: checking a `dllm/arena` answer (anything malformed means "no round", never an exception),
 * the two items as shown ("A" / "B", or "B: timed out" for one that has nothing to offer), and the
 * round on screen: which of the two is shown, what each user action inserts and votes, and that a
 * round is voted at most once ("none" when it is dismissed, replaced by a new round or typed away).
 * Pure logic: no `vscode` import. Positions are LSP's (0-based line, UTF-16 character).
 */

export type Slot = "A" | "B";
export type Choice = Slot | "none";
export type SuggestionStatus = "ok" | "empty" | "error" | "timeout";
export type ArenaAction = "acceptA" | "acceptB" | "toggle" | "dismiss";

export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

export interface ArenaSuggestion {
  slot: Slot;
  insertText: string; // "" unless status is "ok"
  range: Range;
  latencyMs: number | null; // null: the backend never answered
  status: SuggestionStatus;
}

export interface ArenaRound {
  round: string;
  timeoutMs: number | null;
  suggestions: [ArenaSuggestion, ArenaSuggestion]; // display order
}

/** The `dllm/arenaVote` params. */
export interface Vote {
  round: string;
  choice: Choice;
}

/** One of the two suggestions as the user sees it. */
export interface ArenaItem {
  slot: Slot;
  label: string; // "A" or "B"
  text: string;
  range: Range;
  status: SuggestionStatus;
  latencyMs: number | null;
  acceptable: boolean; // only an "ok" suggestion with text can be accepted
  statusLabel?: string; // "B: timed out", "A: error", "A: empty" for the others
}

/** A text edit the editor applies for an accepted suggestion; `cursor` is where the cursor goes. */
export interface Insert {
  uri: string;
  range: Range;
  text: string;
  cursor: Position;
}

/** What an action or an event leads to: a vote to send, text to insert, or why nothing happened. */
export interface Outcome {
  vote?: Vote;
  insert?: Insert;
  refused?: string; // e.g. "B: timed out, nothing to accept"
  changed: boolean; // the round on screen changed (shown item, or open/closed)
}

const STATUSES: readonly SuggestionStatus[] = ["ok", "empty", "error", "timeout"];
const STATUS_WORDS: Record<SuggestionStatus, string> = { ok: "ok", empty: "empty", error: "error", timeout: "timed out" };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function position(v: unknown): Position | undefined {
  if (!isObject(v)) return undefined;
  const { line, character } = v;
  if (!Number.isInteger(line) || !Number.isInteger(character) || (line as number) < 0 || (character as number) < 0) {
    return undefined;
  }
  return { line: line as number, character: character as number };
}

function range(v: unknown): Range | undefined {
  if (!isObject(v)) return undefined;
  const start = position(v.start);
  const end = position(v.end);
  if (!start || !end || comparePositions(start, end) > 0) return undefined;
  return { start, end };
}

export function comparePositions(a: Position, b: Position): number {
  return a.line - b.line || a.character - b.character;
}

function samePosition(a: Position, b: Position): boolean {
  return comparePositions(a, b) === 0;
}

/** Where the cursor is after inserting `text` at `at`. */
export function advance(at: Position, text: string): Position {
  const lines = text.split(/\r\n|\r|\n/);
  if (lines.length === 1) return { line: at.line, character: at.character + text.length };
  return { line: at.line + lines.length - 1, character: lines[lines.length - 1].length };
}

function suggestion(v: unknown, fallback: Position | undefined): ArenaSuggestion | undefined {
  if (!isObject(v) || (v.slot !== "A" && v.slot !== "B")) return undefined;
  const r = range(v.range) ?? (fallback ? { start: fallback, end: fallback } : undefined);
  if (!r) return undefined;
  let status: SuggestionStatus = STATUSES.includes(v.status as SuggestionStatus) ? (v.status as SuggestionStatus) : "error";
  let text = typeof v.insertText === "string" ? v.insertText : "";
  if (status === "ok" && text === "") status = "empty";
  if (status !== "ok") text = "";
  const latency = typeof v.latencyMs === "number" && Number.isFinite(v.latencyMs) && v.latencyMs >= 0 ? v.latencyMs : null;
  return { slot: v.slot, insertText: text, range: r, latencyMs: latency, status };
}

/**
 * A `dllm/arena` result as a round, or undefined when there is none: `{round: null}` (arena off,
 * fewer than two backends, nothing to complete) or anything malformed. A suggestion without a
 * usable range is placed at `at` (the cursor of the request) when given. An unknown status counts
 * as "error"; an "ok" suggestion without text as "empty".
 */
export function parseArenaResult(result: unknown, at?: Position): ArenaRound | undefined {
  if (!isObject(result)) return undefined;
  const id = result.round;
  if (typeof id !== "string" || id === "" || !Array.isArray(result.suggestions) || result.suggestions.length !== 2) {
    return undefined;
  }
  const a = suggestion(result.suggestions[0], at);
  const b = suggestion(result.suggestions[1], at);
  if (!a || !b || a.slot === b.slot) return undefined;
  const t = result.timeoutMs;
  return { round: id, timeoutMs: typeof t === "number" && Number.isFinite(t) ? t : null, suggestions: [a, b] };
}

/** "B: timed out", "A: error", "A: empty"; undefined for an ok suggestion. */
export function statusLabel(slot: Slot, status: SuggestionStatus): string | undefined {
  return status === "ok" ? undefined : `${slot}: ${STATUS_WORDS[status]}`;
}

/** The two items in display order. */
export function arenaItems(round: ArenaRound): [ArenaItem, ArenaItem] {
  const item = (s: ArenaSuggestion): ArenaItem => {
    const acceptable = s.status === "ok" && s.insertText !== "";
    const it: ArenaItem = {
      slot: s.slot, label: s.slot, text: acceptable ? s.insertText : "", range: s.range, status: s.status,
      latencyMs: s.latencyMs, acceptable,
    };
    const label = statusLabel(s.slot, acceptable ? "ok" : s.status === "ok" ? "empty" : s.status);
    if (label) it.statusLabel = label;
    return it;
  };
  return [item(round.suggestions[0]), item(round.suggestions[1])];
}

/** The round on screen, as the editor glue needs it. */
export interface OpenRound {
  round: string;
  uri: string;
  items: [ArenaItem, ArenaItem];
  index: 0 | 1; // which item is shown
  shown: ArenaItem;
  typed: string; // text the user typed (or partly accepted) at the cursor since the round opened
  range: Range; // what accepting the shown item replaces: its range, up to the end of `typed`
}

/** A change of the round's document: `range` replaced by `text` (a `TextDocumentContentChangeEvent`). */
export interface Change {
  range: Range;
  text: string;
}

const REMEMBERED = 64; // voted round ids kept, so a late accept of an already voted round does nothing

/**
 * At most one round on screen. Every round ends with exactly one vote: the accepted slot, or
 * "none" when it is dismissed, replaced by a new round, or edited away.
 */
export class ArenaSession {
  private cur:
    | { round: string; uri: string; items: [ArenaItem, ArenaItem]; index: 0 | 1; typed: string; cursor: Position }
    | undefined;
  private voted: string[] = [];

  get isOpen(): boolean {
    return this.cur !== undefined;
  }

  isOpenFor(uri: string): boolean {
    return this.cur?.uri === uri;
  }

  /** The round on screen, or undefined. */
  get current(): OpenRound | undefined {
    const c = this.cur;
    if (!c) return undefined;
    return {
      round: c.round, uri: c.uri, items: c.items, index: c.index, shown: c.items[c.index], typed: c.typed,
      range: this.replaceRange(c.items[c.index]),
    };
  }

  /** Whether a vote for `round` went out already. */
  hasVoted(round: string): boolean {
    return this.voted.includes(round);
  }

  /**
   * Show `round` in document `uri`, first item first. An open round that was not voted is replaced
   * and voted "none" (returned, to be sent). A round already voted or already open is ignored.
   */
  open(round: ArenaRound, uri: string): Vote[] {
    if (this.hasVoted(round.round) || this.cur?.round === round.round) return [];
    const votes = this.end("none");
    const items = arenaItems(round);
    this.cur = { round: round.round, uri, items, index: 0, typed: "", cursor: items[0].range.end };
    return votes;
  }

  /** A user action on the round on screen. */
  act(action: ArenaAction): Outcome {
    const c = this.cur;
    if (!c) return { changed: false, refused: "no arena round open" };
    if (action === "toggle") {
      c.index = c.index === 0 ? 1 : 0;
      return { changed: true };
    }
    if (action === "dismiss") return { vote: this.end("none")[0], changed: true };
    const slot: Slot = action === "acceptA" ? "A" : "B";
    const item = c.items.find((it) => it.slot === slot);
    if (!item) return { changed: false, refused: `no suggestion ${slot}` };
    if (!item.acceptable) return { changed: false, refused: `${item.statusLabel ?? slot}: nothing to accept` };
    const range = this.replaceRange(item);
    const insert: Insert = { uri: c.uri, range, text: item.text, cursor: advance(range.start, item.text) };
    return { vote: this.end(slot)[0], insert, changed: true };
  }

  /**
   * The editor accepted the ghost text of `slot` of `round` itself (Tab; the item's command): the
   * text is already in the document, so only the vote. Nothing if that round was voted already.
   */
  accepted(round: string, slot: Slot): Outcome {
    const c = this.cur;
    if (!c || c.round !== round || this.hasVoted(round)) return { changed: false };
    const item = c.items.find((it) => it.slot === slot);
    if (!item?.acceptable) return { changed: false, refused: `${item?.statusLabel ?? slot}: nothing to accept` };
    return { vote: this.end(slot)[0], changed: true };
  }

  /**
   * Document `uri` changed. Typing (or partly accepting) the shown suggestion keeps the round open;
   * the change that completes an acceptable suggestion (VS Code applies an accepted ghost text before
   * it runs the item's command) votes for it; any other change ends the round with "none".
   */
  edited(uri: string, changes: readonly Change[]): Outcome {
    const c = this.cur;
    if (!c || c.uri !== uri || changes.length === 0) return { changed: false };
    if (changes.length === 1) {
      const [ch] = changes;
      const shown = c.items[c.index];
      // the whole suggestion replacing its range (and what was typed): an accepted ghost text
      const hit = [shown, ...c.items].find((it) => {
        const r = this.replaceRange(it);
        return it.acceptable && it.text === ch.text && samePosition(ch.range.start, r.start) && samePosition(ch.range.end, r.end);
      });
      if (hit) return { vote: this.end(hit.slot)[0], changed: true };
      // typing through the shown suggestion: an insertion at the cursor that continues it
      const at = advance(c.cursor, c.typed);
      if (samePosition(ch.range.start, at) && samePosition(ch.range.end, at) && ch.text !== "" &&
          shown.acceptable && shown.text.startsWith(c.typed + ch.text)) {
        c.typed += ch.text;
        if (c.typed === shown.text) return { vote: this.end(shown.slot)[0], changed: true };
        return { changed: false };
      }
    }
    return { vote: this.end("none")[0], changed: true };
  }

  /** End the round on screen without a pick (editor switched, document closed, arena turned off). */
  close(): Vote[] {
    return this.end("none");
  }

  /** What accepting `item` replaces: its range, grown by what was typed at the cursor since. */
  private replaceRange(item: ArenaItem): Range {
    const c = this.cur!;
    return { start: item.range.start, end: c.typed === "" ? item.range.end : advance(c.cursor, c.typed) };
  }

  private end(choice: Choice): Vote[] {
    const c = this.cur;
    if (!c) return [];
    this.cur = undefined;
    if (this.hasVoted(c.round)) return [];
    this.voted.push(c.round);
    if (this.voted.length > REMEMBERED) this.voted.shift();
    return [{ round: c.round, choice }];
  }
}

export interface ArenaKeys {
  acceptA: string;
  acceptB: string;
  toggle: string;
  dismiss: string;
}

export const ARENA_KEYS: ArenaKeys = { acceptA: "Alt+1", acceptB: "Alt+2", toggle: "Alt+]", dismiss: "Esc" };
export const ARENA_KEYS_MAC: ArenaKeys = { acceptA: "⌥1", acceptB: "⌥2", toggle: "⌥]", dismiss: "Esc" };

/**
 * The one-line hint while a round is open, e.g.
 * "Arena: A (1/2) — Alt+1 accept A, Alt+2 accept B, Alt+] toggle, Esc dismiss"; a suggestion that
 * cannot be accepted shows its status ("Arena: B: timed out (2/2)") and gets no accept key.
 */
export function arenaHint(open: OpenRound, keys: ArenaKeys = ARENA_KEYS): string {
  const shown = open.shown;
  const other = open.items[open.index === 0 ? 1 : 0];
  let head = `Arena: ${shown.statusLabel ?? shown.label} (${open.index + 1}/2)`;
  if (other.statusLabel) head += `, ${other.statusLabel}`;
  const help: string[] = [];
  for (const it of [...open.items].sort((x, y) => x.slot.localeCompare(y.slot))) {
    if (it.acceptable) help.push(`${it.slot === "A" ? keys.acceptA : keys.acceptB} accept ${it.slot}`);
  }
  help.push(`${keys.toggle} toggle`, `${keys.dismiss} dismiss`);
  return `${head} — ${help.join(", ")}`;
}

/** "A: 12 ms, 1 line" / "B: timed out": one line per item, for a tooltip. */
export function arenaDetails(items: readonly ArenaItem[], formatMs: (ms: number | undefined) => string): string[] {
  return items.map((it) => {
    const latency = it.latencyMs === null ? "" : `, ${formatMs(it.latencyMs)}`;
    if (!it.acceptable) return `${it.statusLabel ?? it.slot}${latency}`;
    const lines = it.text.split(/\r\n|\r|\n/).length;
    return `${it.slot}: ${it.text.length} chars, ${lines} line${lines === 1 ? "" : "s"}${latency}`;
  });
}
