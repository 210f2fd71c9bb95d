/**
 * VS Code glue: starts `dllm-lsp` over stdio with vscode-languageclient, which turns the server's
 * `textDocument/inlineCompletion` answers into ghost text (Tab accepts; Ctrl+Right / the
 * "Accept Word" and "Accept Line" commands accept part of it, as VS Code offers). On top of the
 * library: the status-bar item, the on/off commands, settings sent to the server, and the
 * shown/accepted/rejected notifications. The decisions live in `core/` (tested without VS Code).
 */

import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  TransportKind,
} from "vscode-languageclient/node";

import { FeedbackEvent, FeedbackTracker, Offered } from "./core/feedback";
import { serverLaunch } from "./core/launch";
import { enabledFor, serverSettings, switchesOf, toggleLanguage } from "./core/settings";
import { modelOf, StatusState, statusView } from "./core/status";

const SECTION = "dllm";
const SERVER_ACCEPT = "dllm.accepted"; // the server's command on each item
const CLIENT_ACCEPT = "dllm.client.accepted"; // ours: sends dllm/accepted instead

let client: LanguageClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("dllm", { log: true });
  const tracker = new FeedbackTracker();
  const state: StatusState = { phase: "starting", enabledGlobally: true, enabledHere: undefined };
  const item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  item.command = "dllm.statusMenu";
  item.name = "dllm inline completions";
  context.subscriptions.push(output, item);

  const config = () => vscode.workspace.getConfiguration(SECTION);

  const render = () => {
    const switches = switchesOf(config());
    const language = vscode.window.activeTextEditor?.document.languageId;
    state.enabledGlobally = switches.enabled;
    state.language = language;
    state.enabledHere = language === undefined ? undefined : enabledFor(switches, language);
    const view = statusView(state);
    item.text = view.text;
    item.tooltip = view.tooltip;
    item.show();
  };

  const send = (events: FeedbackEvent[]) => {
    for (const e of events) void client?.sendNotification(`dllm/${e.kind}`, e.params);
  };

  let statsTimer: NodeJS.Timeout | undefined;
  const refreshStats = (tries = 30) => {
    clearTimeout(statsTimer);
    if (!client || client.state !== State.Running) return;
    client.sendRequest("dllm/stats", {}).then((stats) => {
      const m = modelOf(stats);
      Object.assign(state, { model: m.model, device: m.device });
      if (m.error) Object.assign(state, { phase: "error", error: m.error });
      render();
      if (!m.model && !m.error && tries > 1) statsTimer = setTimeout(() => refreshStats(tries - 1), 2000);
    }, (err) => output.warn(`dllm/stats failed: ${err}`));
  };

  const makeClient = (): LanguageClient => {
    const launch = serverLaunch(
      { command: config().get("server.command"), args: config().get("server.args"), logFile: config().get("server.logFile") || undefined },
      process.env,
    );
    output.info(`starting ${launch.command} ${launch.args.join(" ")}`);
    const serverOptions: ServerOptions = {
      command: launch.command,
      args: launch.args,
      options: { env: launch.env },
      transport: TransportKind.stdio,
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
      initializationOptions: serverSettings(config()),
      outputChannel: output,
      middleware: {
        provideInlineCompletionItems: async (document, position, ctx, token, next) => {
          const t0 = performance.now();
          const result = await next(document, position, ctx, token);
          if (token.isCancellationRequested) return result;
          const items = (Array.isArray(result) ? result : result?.items) ?? [];
          if (items.length) {
            state.lastLatencyMs = performance.now() - t0;
            render();
          }
          const offered: Offered[] = [];
          for (const it of items) {
            const id = it.command?.command === SERVER_ACCEPT ? String(it.command.arguments?.[0]) : undefined;
            if (id === undefined) continue;
            it.command = { command: CLIENT_ACCEPT, title: "dllm: accepted", arguments: [id] };
            const start = it.range?.start ?? position;
            const text = typeof it.insertText === "string" ? it.insertText : it.insertText.value;
            offered.push({ id, line: start.line, character: start.character, text });
          }
          send(tracker.offer(document.uri.toString(), offered));
          return result;
        },
        provideCompletionItem: (document, position, ctx, token, next) =>
          config().get<boolean>("completionMenu") ? next(document, position, ctx, token) : undefined,
        didClose: (document, next) => {
          send(tracker.close(document.uri.toString()));
          return next(document);
        },
        workspace: {
          configuration: (params) =>
            params.items.map((it) => (it.section === SECTION ? serverSettings(config()) : null)),
        },
      },
    };
    const c = new LanguageClient("dllm", "dllm-lsp", serverOptions, clientOptions);
    c.onDidChangeState((e) => {
      state.phase = e.newState === State.Running ? "running" : e.newState === State.Starting ? "starting" : "stopped";
      render();
      if (e.newState === State.Running) refreshStats();
    });
    return c;
  };

  const start = async () => {
    client = makeClient();
    try {
      await client.start();
    } catch (err) {
      Object.assign(state, { phase: "error", error: String(err) });
      render();
      void vscode.window.showErrorMessage(
        `dllm: could not start the server (${err}). Install the dllm-complete Python package (it provides dllm-lsp) or set dllm.server.command.`);
    }
  };

  const update = async (key: string, value: unknown) => {
    await config().update(key, value, vscode.ConfigurationTarget.Global);
  };

  const toggleCurrentLanguage = async () => {
    const language = vscode.window.activeTextEditor?.document.languageId;
    if (!language) return;
    const next = toggleLanguage(switchesOf(config()), language);
    await update("disabledLanguages", next.disabledLanguages);
    await update("languages", next.languages);
  };

  const showStats = async () => {
    if (!client || client.state !== State.Running) return void vscode.window.showWarningMessage("dllm-lsp is not running");
    output.info(`dllm/stats: ${JSON.stringify(await client.sendRequest("dllm/stats", {}), null, 2)}`);
    output.show(true);
  };

  context.subscriptions.push(
    vscode.commands.registerCommand(CLIENT_ACCEPT, (id: string) => send(tracker.accept(String(id)))),
    vscode.commands.registerCommand("dllm.toggle", () => update("enabled", !switchesOf(config()).enabled)),
    vscode.commands.registerCommand("dllm.enable", () => update("enabled", true)),
    vscode.commands.registerCommand("dllm.disable", () => update("enabled", false)),
    vscode.commands.registerCommand("dllm.toggleLanguage", toggleCurrentLanguage),
    vscode.commands.registerCommand("dllm.showStats", showStats),
    vscode.commands.registerCommand("dllm.restart", async () => {
      await client?.stop();
      await start();
    }),
    vscode.commands.registerCommand("dllm.statusMenu", async () => {
      const language = vscode.window.activeTextEditor?.document.languageId;
      const picks: (vscode.QuickPickItem & { run: string })[] = [
        { label: state.enabledGlobally ? "Disable inline completions" : "Enable inline completions", run: "dllm.toggle" },
        ...(language ? [{ label: `${state.enabledHere ? "Disable" : "Enable"} for ${language}`, run: "dllm.toggleLanguage" }] : []),
        { label: "Show server stats", run: "dllm.showStats" },
        { label: "Restart the server", run: "dllm.restart" },
      ];
      const pick = await vscode.window.showQuickPick(picks, { placeHolder: "dllm" });
      if (pick) await vscode.commands.executeCommand(pick.run);
    }),
    vscode.window.onDidChangeActiveTextEditor(render),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (!e.affectsConfiguration(SECTION)) return;
      render();
      if (e.affectsConfiguration(`${SECTION}.server`)) {
        await vscode.commands.executeCommand("dllm.restart");
      } else if (client?.state === State.Running) {
        await client.sendNotification(DidChangeConfigurationNotification.type, { settings: { [SECTION]: serverSettings(config()) } });
        if (e.affectsConfiguration(`${SECTION}.model`) || e.affectsConfiguration(`${SECTION}.device`)) {
          Object.assign(state, { model: undefined, device: undefined, phase: "running" });
          refreshStats();
        }
      }
    }),
    { dispose: () => clearTimeout(statsTimer) },
  );

  render();
  await start();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
