// Monaco's inline-completions provider backed by `textDocument/inlineCompletion`, with the
// dllm/shown, dllm/accepted and dllm/rejected notifications from Monaco's lifetime hooks.
import * as monaco from "monaco-editor";

import { toLspPosition } from "./lsp.js";

const { InlineCompletionTriggerKind, InlineCompletionEndOfLifeReasonKind } = monaco.languages;
const LSP_INVOKED = 1;
const LSP_AUTOMATIC = 2;

const toMonacoRange = (r) => new monaco.Range(r.start.line + 1, r.start.character + 1, r.end.line + 1, r.end.character + 1);

export function registerInline(session, { isEnabled, onResult = () => {}, onShown = () => {}, onFeedback = () => {}, debounceMs = 0 }) {
  const shown = new Set();
  const partial = new Map(); // id -> characters accepted so far
  const feedback = (kind, params) => {
    session.notify(`dllm/${kind}`, params);
    onFeedback(kind, params);
  };
  return monaco.languages.registerInlineCompletionsProvider({ pattern: "**" }, {
    displayName: "dllm",
    debounceDelayMs: debounceMs,

    async provideInlineCompletions(model, position, context, token) {
      if (!session.ready || !isEnabled()) return { items: [] };
      const controller = new AbortController();
      token.onCancellationRequested(() => controller.abort());
      const params = {
        textDocument: { uri: model.uri.toString() },
        position: toLspPosition(position),
        context: { triggerKind: context.triggerKind === InlineCompletionTriggerKind.Explicit ? LSP_INVOKED : LSP_AUTOMATIC },
      };
      const sel = context.selectedSuggestionInfo;
      if (sel) {
        params.context.selectedCompletionInfo = {
          range: { start: toLspPosition(sel.range.getStartPosition()), end: toLspPosition(sel.range.getEndPosition()) },
          text: sel.text,
        };
      }
      const t0 = performance.now();
      let result;
      try {
        result = await session.request("textDocument/inlineCompletion", params, controller.signal);
      } catch {
        return { items: [] };
      }
      const raw = (Array.isArray(result) ? result : result?.items) ?? [];
      const items = raw
        .map((it) => ({
          insertText: typeof it.insertText === "string" ? it.insertText : { snippet: it.insertText.value },
          range: it.range ? toMonacoRange(it.range) : undefined,
          dllmId: String(it.command?.arguments?.[0] ?? ""),
          version: model.getVersionId(),
        }))
        .filter((it) => it.insertText);
      onResult({ ms: performance.now() - t0, count: items.length, version: model.getVersionId() });
      return { items, enableForwardStability: true };
    },

    handleItemDidShow(_completions, item) {
      onShown(item);
      if (shown.has(item.dllmId)) return;
      shown.add(item.dllmId);
      feedback("shown", { id: item.dllmId });
    },

    handlePartialAccept(_completions, item, accepted, info) {
      partial.set(item.dllmId, info?.acceptedLength ?? accepted);
    },

    handleEndOfLifetime(_completions, item, reason) {
      if (!shown.has(item.dllmId)) return;
      shown.delete(item.dllmId);
      const chars = partial.get(item.dllmId);
      partial.delete(item.dllmId);
      if (reason.kind === InlineCompletionEndOfLifeReasonKind.Accepted) {
        feedback("accepted", { id: item.dllmId, chars: typeof item.insertText === "string" ? item.insertText.length : undefined });
      } else if (chars) {
        feedback("accepted", { id: item.dllmId, partial: true, chars });
      } else {
        feedback("rejected", { id: item.dllmId, reason: reason.kind === InlineCompletionEndOfLifeReasonKind.Rejected ? "dismissed" : "ignored" });
      }
    },

    disposeInlineCompletions() {},
  });
}
