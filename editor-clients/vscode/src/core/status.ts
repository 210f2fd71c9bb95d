/**
 * What the status-bar item says: model, device, the last latency, on/off. Pure formatting.
 */

export interface StatusState {
  phase: "starting" | "running" | "stopped" | "error";
  enabledGlobally: boolean;
  enabledHere: boolean | undefined; // for the active editor's language; undefined: no editor
  language?: string;
  model?: string;
  device?: string;
  lastLatencyMs?: number;
  error?: string;
}

export interface StatusView {
  text: string;
  tooltip: string;
}

export function formatMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return "–";
  return ms < 9.95 ? `${ms.toFixed(1)} ms` : ms < 9999.5 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`; // as rounded
}

export function statusView(s: StatusState): StatusView {
  const details = [
    `model: ${s.model ?? (s.phase === "running" ? "loading…" : "–")}`,
    `device: ${s.device ?? "–"}`,
    `last latency: ${formatMs(s.lastLatencyMs)}`,
  ];
  if (s.phase === "error") {
    return { text: "$(warning) dllm", tooltip: `dllm-lsp failed: ${s.error ?? "unknown error"}\nClick for options` };
  }
  if (s.phase === "starting") return { text: "$(sync~spin) dllm", tooltip: "dllm-lsp is starting" };
  if (s.phase === "stopped") return { text: "$(debug-stop) dllm", tooltip: "dllm-lsp is not running\nClick for options" };
  if (!s.enabledGlobally) {
    return { text: "$(circle-slash) dllm: off", tooltip: "Inline completions are off\nClick for options" };
  }
  if (s.enabledHere === false) {
    return { text: `$(circle-slash) dllm: off for ${s.language}`, tooltip: `Off for ${s.language}\n${details.join("\n")}` };
  }
  const parts = [s.model ?? "loading…"];
  if (s.device) parts.push(s.device);
  if (s.lastLatencyMs !== undefined) parts.push(formatMs(s.lastLatencyMs));
  return { text: `$(sparkle) ${parts.join(" · ")}`, tooltip: `dllm inline completions: on\n${details.join("\n")}\nClick for options` };
}

/** The fields of a `dllm/stats` answer that the status shows. */
export function modelOf(stats: unknown): { model?: string; device?: string; error?: string } {
  if (!stats || typeof stats !== "object") return {};
  const s = stats as { model?: Record<string, unknown> | null; model_error?: string | null };
  const m = s.model ?? undefined;
  return {
    model: m && typeof m.model === "string" ? m.model : undefined,
    device: m && typeof m.device === "string" ? m.device : undefined,
    error: s.model_error ?? undefined,
  };
}
