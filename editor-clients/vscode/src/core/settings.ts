/**
 * The extension's settings as the server reads them, and the per-language switch.
 *
 * Pure functions over plain values (no `vscode` import), so they are unit-tested under Node.
 * The names are the server's own (lsp_server/config.py, camelCase); client-only settings
 * (`server.*`, `completionMenu`, `trace.*`) never reach the server, whose config would warn
 * about unknown keys.
 */

/** Keys of `dllm.*` that are the server's configuration, in its camelCase spelling. */
export const SERVER_KEYS = [
  "enabled", "model", "device", "sampler", "prefixTokens", "suffixTokens", "maxTokensSingle",
  "maxTokensMulti", "maxLines", "mode", "alternatives", "debounceMs", "languages",
  "disabledLanguages", "syntax", "scope", "maxDocumentChars", "maxLineChars",
] as const;

/** Keys of `dllm.arena.*`, sent as the server's `arena` object (arena mode, `core/arena.ts`). */
export const ARENA_KEYS = ["enabled", "backends", "timeoutMs", "logFile", "logCode"] as const;

export type ServerKey = (typeof SERVER_KEYS)[number];
export type ArenaKey = (typeof ARENA_KEYS)[number];
export type ServerSettings = Partial<Record<ServerKey, unknown>> & { arena?: Partial<Record<ArenaKey, unknown>> };

/** Anything with `get(key)`: a `WorkspaceConfiguration` or a plain object in tests. */
export interface SettingsSource {
  get<T>(key: string): T | undefined;
}

export function fromObject(values: Record<string, unknown>): SettingsSource {
  return { get: <T>(key: string) => values[key] as T | undefined };
}

/**
 * The `dllm` section the server gets: server keys only; blank model/device mean "default"; the
 * `dllm.arena.*` settings as one `arena` object (a blank log file means the server's default).
 */
export function serverSettings(cfg: SettingsSource): ServerSettings {
  const out: ServerSettings = {};
  for (const key of SERVER_KEYS) {
    let value = cfg.get<unknown>(key);
    if (value === undefined) continue;
    if ((key === "model" || key === "device") && (value === "" || value === null)) value = null;
    out[key] = value;
  }
  const arena: Partial<Record<ArenaKey, unknown>> = {};
  for (const key of ARENA_KEYS) {
    let value = cfg.get<unknown>(`arena.${key}`);
    if (value === undefined) continue;
    if (key === "logFile" && (value === "" || value === null)) value = null;
    arena[key] = value;
  }
  if (Object.keys(arena).length) out.arena = arena;
  return out;
}

export interface LanguageSwitches {
  enabled: boolean;
  languages: string[];
  disabledLanguages: string[];
}

export function switchesOf(cfg: SettingsSource): LanguageSwitches {
  return {
    enabled: cfg.get<boolean>("enabled") ?? true,
    languages: [...(cfg.get<string[]>("languages") ?? [])],
    disabledLanguages: [...(cfg.get<string[]>("disabledLanguages") ?? [])],
  };
}

/** Same rule as the server's `enabled_for`: the deny list wins, an empty allow list allows all. */
export function enabledFor(s: LanguageSwitches, language: string): boolean {
  if (!s.enabled) return false;
  if (s.disabledLanguages.includes(language)) return false;
  return s.languages.length === 0 || s.languages.includes(language);
}

/** The status menu's item for `language`: what `toggleLanguage` does to it, read from the language lists
 * alone (the global switch is an item of its own; with completions off, "Enable" here would disable). */
export function languageToggleLabel(s: LanguageSwitches, language: string): string {
  return `${enabledFor({ ...s, enabled: true }, language) ? "Disable" : "Enable"} for ${language}`;
}

/** New language lists that flip `language` (the global switch is left alone). */
export function toggleLanguage(s: LanguageSwitches, language: string): LanguageSwitches {
  const on = s.languages.length === 0 || s.languages.includes(language);
  const denied = s.disabledLanguages.includes(language);
  if (on && !denied) {
    return { ...s, disabledLanguages: [...s.disabledLanguages, language] };
  }
  return {
    ...s,
    disabledLanguages: s.disabledLanguages.filter((l) => l !== language),
    languages: on ? s.languages : [...s.languages, language],
  };
}
