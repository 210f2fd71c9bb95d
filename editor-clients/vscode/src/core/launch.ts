/**
 * How the server process is started: command, arguments and environment, from the settings.
 *
 * `dllm.server.command` may be a bare name found on PATH (`dllm-lsp`), an absolute path, or a
 * Python interpreter (`python -P -m dllm_complete.lsp_server` is then used: `-P` keeps the workspace folder off
 * the import path, so a file there named like a module the server imports is never run). The model and device go through the
 * initialization options rather than the command line, so changing them does not need a restart.
 */

export interface ServerLaunch {
  command: string;
  args: string[];
  env: Record<string, string | undefined>;
}

export interface LaunchSettings {
  command?: string;
  args?: string[];
  logFile?: string;
}

const PYTHON = /(^|[\\/])python(3(\.\d+)?)?(\.exe)?$/i;

export function serverLaunch(s: LaunchSettings, baseEnv: Record<string, string | undefined>): ServerLaunch {
  const command = (s.command ?? "").trim() || "dllm-lsp";
  const args: string[] = PYTHON.test(command) ? ["-P", "-m", "dllm_complete.lsp_server"] : [];
  args.push(...(s.args ?? []));
  if (s.logFile && !args.some((a) => a === "--log-file" || a.startsWith("--log-file="))) args.push("--log-file", s.logFile);
  return { command, args, env: { ...baseEnv } };
}
