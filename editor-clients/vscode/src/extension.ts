/**
 * VS Code glue: starts `dllm-lsp` over stdio with vscode-languageclient, which turns the server's
 * `textDocument/inlineCompletion` answers into ghost text (Tab accepts; Ctrl+Right / the
 * "Accept Word" and "Accept Line" commands accept part of it, as VS Code offers). On top of the
 * library: the status-bar item, the on/off commands, settings sent to the server, and the
 * shown/accepted/rejected notifications, and the arena mode (`dllm/arena`: two anonymous suggestions,
 * shown one at a time as ghost text, the one accepted is the vote). The decisions live in `core/`
 * (tested without VS Code).
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

import {
  ARENA_KEYS, ARENA_KEYS_MAC, ArenaAction, arenaDetails, arenaHint, ArenaSession, Outcome, parseArenaResult, Slot, Vote,
} from "./core/arena";
import { FeedbackEvent, FeedbackTracker, Offered } from "./core/feedback";
import { serverLaunch } from "./core/launch";
import { enabledFor, languageToggleLabel, serverSettings, switchesOf, toggleLanguage } from "./core/settings";
import { formatMs, modelOf, StatusState, statusView } from "./core/status";

const SECTION = "dllm";
const SERVER_ACCEPT = "dllm.accepted"; // the server's command on each item
const CLIENT_ACCEPT = "dllm.client.accepted"; // ours: sends dllm/accepted instead
const ARENA_ACCEPTED = "dllm.arena.accepted"; // command of the arena's ghost text: the vote
const ARENA_OPEN = "dllm.arenaOpen"; // context key of the arena keybindings

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

  // Arena mode: one round on screen at a time (core/arena.ts decides; here it is shown and sent).
  const arena = new ArenaSession();
  const arenaStatus = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 101);
  arenaStatus.name = "dllm arena";
  arenaStatus.command = "dllm.arena.menu";
  context.subscriptions.push(arenaStatus);
  const arenaKeys = process.platform === "darwin" ? ARENA_KEYS_MAC : ARENA_KEYS;
  let arenaSeq = 0; // the latest dllm/arena request: answers to older ones are dropped
  let arenaContext = false;

  const sendVotes = (votes: (Vote | undefined)[]) => {
    for (const v of votes) {
      if (!v) continue;
      output.info(`arena: round ${v.round} voted ${v.choice}`);
      if (!client || client.state !== State.Running) {
        output.warn(`arena: vote of round ${v.round} not sent, dllm-lsp is not running`);
        continue;
      }
      client.sendRequest("dllm/arenaVote", v).then(undefined, (err) => output.warn(`dllm/arenaVote failed: ${errorText(err)}`));
    }
  };

  const renderArena = () => {
    const open = arena.current;
    if (arenaContext !== (open !== undefined)) {
      arenaContext = open !== undefined;
      void vscode.commands.executeCommand("setContext", ARENA_OPEN, arenaContext);
    }
    if (!open) return arenaStatus.hide();
    arenaStatus.text = `$(versions) ${arenaHint(open, arenaKeys)}`;
    const language = vscode.workspace.textDocuments.find((d) => d.uri.toString() === open.uri)?.languageId ?? "";
    const tip = new vscode.MarkdownString("**dllm arena**: two anonymous suggestions; the one you accept is the vote.\n\n");
    const details = arenaDetails(open.items, formatMs);
    open.items.forEach((it, i) => {
      tip.appendMarkdown(`${i === open.index ? "▸ " : ""}**${details[i]}**\n`);
      if (it.acceptable) tip.appendCodeblock(it.text, language);
      else tip.appendMarkdown("\n");
    });
    tip.appendMarkdown("\nClick for options");
    arenaStatus.tooltip = tip;
    arenaStatus.show();
  };

  const showArenaGhost = async () => {
    await vscode.commands.executeCommand("editor.action.inlineSuggest.hide");
    const open = arena.current;
    if (open && vscode.window.activeTextEditor?.document.uri.toString() === open.uri) {
      await vscode.commands.executeCommand("editor.action.inlineSuggest.trigger");
    }
  };

  const applyArena = async (out: Outcome) => {
    if (out.refused) vscode.window.setStatusBarMessage(`dllm arena: ${out.refused}`, 4000);
    sendVotes([out.vote]);
    renderArena();
    const ins = out.insert;
    if (!ins) {
      if (out.changed) await showArenaGhost();
      return;
    }
    await vscode.commands.executeCommand("editor.action.inlineSuggest.hide");
    const range = new vscode.Range(ins.range.start.line, ins.range.start.character, ins.range.end.line, ins.range.end.character);
    const editor = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === ins.uri);
    let done: boolean;
    if (editor) {
      done = await editor.edit((b) => b.replace(range, ins.text));
      if (done) {
        const cursor = new vscode.Position(ins.cursor.line, ins.cursor.character);
        editor.selection = new vscode.Selection(cursor, cursor);
        editor.revealRange(new vscode.Range(cursor, cursor));
      }
    } else {
      const edit = new vscode.WorkspaceEdit();
      edit.replace(vscode.Uri.parse(ins.uri), range, ins.text);
      done = await vscode.workspace.applyEdit(edit);
    }
    if (!done) void vscode.window.showWarningMessage("dllm arena: the suggestion could not be inserted (the document changed)");
  };

  const arenaAction = (action: ArenaAction) => () => applyArena(arena.act(action));

  const requestArena = async () => {
    const editor = vscode.window.activeTextEditor;
    if (!editor) return;
    if (!config().get<boolean>("arena.enabled")) {
      const pick = await vscode.window.showInformationMessage("dllm: arena mode is off (dllm.arena.enabled).", "Turn it on");
      if (pick) await update("arena.enabled", true);
      return;
    }
    if (!client || client.state !== State.Running) return void vscode.window.showWarningMessage("dllm arena: dllm-lsp is not running");
    const seq = ++arenaSeq;
    const document = editor.document;
    const version = document.version;
    const at = editor.selection.active;
    const uri = document.uri.toString();
    arenaStatus.text = "$(sync~spin) Arena: waiting for A and B…";
    arenaStatus.tooltip = "dllm arena: both backends are running on this cursor";
    arenaStatus.show();
    let result: unknown;
    try {
      result = await client.sendRequest("dllm/arena", { textDocument: { uri }, position: { line: at.line, character: at.character } });
    } catch (err) {
      if (seq !== arenaSeq) return;
      renderArena();
      output.warn(`dllm/arena failed: ${errorText(err)}`);
      return void vscode.window.showWarningMessage(`dllm arena: ${errorText(err)}`);
    }
    if (seq !== arenaSeq) return; // a newer request is under way
    const round = parseArenaResult(result, { line: at.line, character: at.character });
    const now = vscode.window.activeTextEditor;
    if (!round) {
      renderArena();
      vscode.window.setStatusBarMessage(
        "dllm arena: no round here (arena off on the server, fewer than two backends, or nothing to complete)", 6000);
      return;
    }
    if (document.version !== version || now?.document !== document || !now.selection.active.isEqual(at)) {
      renderArena();
      output.info(`arena: round ${round.round} dropped, the editor moved on while the backends ran`);
      vscode.window.setStatusBarMessage("dllm arena: the editor moved on while the backends ran; round dropped", 4000);
      return;
    }
    sendVotes(arena.open(round, uri));
    output.info(`arena: round ${round.round}: ${arenaDetails(arena.current?.items ?? [], formatMs).join("; ")}`);
    renderArena();
    await showArenaGhost();
  };

  const arenaMenu = async () => {
    const open = arena.current;
    if (!open) return;
    const picks: (vscode.QuickPickItem & { run: string })[] = [];
    for (const it of [...open.items].sort((x, y) => x.slot.localeCompare(y.slot))) {
      if (it.acceptable) picks.push({ label: `Accept ${it.slot}`, detail: it.text.split(/\r?\n/)[0], run: `dllm.arena.accept${it.slot}` });
      else picks.push({ label: it.statusLabel ?? it.slot, description: "cannot be accepted", run: "" });
    }
    picks.push({ label: "Show the other suggestion", run: "dllm.arena.toggle" }, { label: "Dismiss both", run: "dllm.arena.dismiss" });
    const pick = await vscode.window.showQuickPick(picks, { placeHolder: "dllm arena" });
    if (pick?.run) await vscode.commands.executeCommand(pick.run);
  };

  const arenaProvider: vscode.InlineCompletionItemProvider = {
    provideInlineCompletionItems: (document) => {
      const open = arena.current;
      if (!open || open.uri !== document.uri.toString() || !open.shown.acceptable || !open.shown.text.startsWith(open.typed)) {
        return undefined;
      }
      const r = open.range;
      return [new vscode.InlineCompletionItem(open.shown.text, new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character),
        { command: ARENA_ACCEPTED, title: "dllm: arena pick", arguments: [open.round, open.shown.slot] })];
    },
  };

  const endArena = () => {
    sendVotes(arena.close());
    renderArena();
  };

  let selectionTimer: NodeJS.Timeout | undefined;
  context.subscriptions.push(
    vscode.languages.registerInlineCompletionItemProvider([{ scheme: "file" }, { scheme: "untitled" }], arenaProvider),
    vscode.commands.registerCommand("dllm.arena.request", requestArena),
    vscode.commands.registerCommand("dllm.arena.acceptA", arenaAction("acceptA")),
    vscode.commands.registerCommand("dllm.arena.acceptB", arenaAction("acceptB")),
    vscode.commands.registerCommand("dllm.arena.toggle", arenaAction("toggle")),
    vscode.commands.registerCommand("dllm.arena.dismiss", arenaAction("dismiss")),
    vscode.commands.registerCommand("dllm.arena.menu", arenaMenu),
    vscode.commands.registerCommand(ARENA_ACCEPTED, (round: string, slot: Slot) => {
      const out = arena.accepted(String(round), slot); // usually voted already, by the edit that inserted it
      sendVotes([out.vote]);
      renderArena();
    }),
    vscode.workspace.onDidChangeTextDocument((e) => {
      const uri = e.document.uri.toString();
      const item = tracker.showing(uri);
      if (item && e.contentChanges.length) { // has the user typed all of the suggestion on screen?
        const lines = item.text.split("\n");
        const end = new vscode.Position(item.line + lines.length - 1,
          (lines.length === 1 ? item.character : 0) + lines[lines.length - 1].length);
        tracker.typed(uri, e.document.getText(new vscode.Range(item.line, item.character, end.line, end.character)));
      }
      if (!arena.isOpenFor(uri) || e.contentChanges.length === 0) return;
      const out = arena.edited(uri, e.contentChanges.map((c) => ({
        range: { start: { line: c.range.start.line, character: c.range.start.character }, end: { line: c.range.end.line, character: c.range.end.character } },
        text: c.text,
      })));
      sendVotes([out.vote]);
      if (out.changed) renderArena();
    }),
    vscode.workspace.onDidCloseTextDocument((d) => {
      if (arena.isOpenFor(d.uri.toString())) endArena();
    }),
    vscode.window.onDidChangeActiveTextEditor((editor) => {
      const uri = editor?.document.uri;
      if (arena.isOpen && uri && (uri.scheme === "file" || uri.scheme === "untitled") && !arena.isOpenFor(uri.toString())) endArena();
    }),
    vscode.window.onDidChangeTextEditorSelection((e) => {
      if (!arena.isOpenFor(e.textEditor.document.uri.toString())) return;
      clearTimeout(selectionTimer); // checked once the document changes of the same keystroke are in
      selectionTimer = setTimeout(() => {
        const open = arena.current;
        const sel = e.textEditor.selection;
        if (!open || open.uri !== e.textEditor.document.uri.toString()) return;
        const end = open.range.end;
        if (!sel.isEmpty || sel.active.line !== end.line || sel.active.character !== end.character) endArena(); // moved away
      }, 50);
    }),
    { dispose: () => clearTimeout(selectionTimer) },
  );

  let statsTimer: NodeJS.Timeout | undefined;
  const refreshStats = (tries = 30) => {
    clearTimeout(statsTimer);
    if (!client || client.state !== State.Running) return;
    client.sendRequest("dllm/stats", {}).then((stats) => {
      const m = modelOf(stats);
      Object.assign(state, { model: m.model, device: m.device });
      if (m.error) Object.assign(state, { phase: "error", error: m.error });
      render();
      const loading = (stats as { loading?: unknown } | null)?.loading === true; // a load under way: poll until it ends
      if (!m.model && !m.error && (loading || tries > 1)) statsTimer = setTimeout(() => refreshStats(loading ? tries : tries - 1), 2000);
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
          if (arena.isOpenFor(document.uri.toString())) return undefined; // the arena's pair is on screen
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

  // The old client stopped, whatever became of it: the library refuses stop() unless it is running (a
  // server that failed to start has nothing to stop; one starting, ours or the library's restart after
  // a crash, is waited for first: start() then returns the start under way).
  const stopClient = async () => {
    const old = client;
    client = undefined;
    if (old?.state === State.Starting) await old.start().catch(() => undefined);
    if (old?.state === State.Running) await old.stop();
  };

  // A setting written where its value comes from: a workspace value would hide a user one.
  const update = async (key: string, value: unknown) => {
    const inWorkspace = config().inspect(key)?.workspaceValue !== undefined;
    await config().update(key, value, inWorkspace ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global);
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
      endArena();
      await stopClient();
      await start();
    }),
    vscode.commands.registerCommand("dllm.statusMenu", async () => {
      const language = vscode.window.activeTextEditor?.document.languageId;
      const picks: (vscode.QuickPickItem & { run: string })[] = [
        { label: state.enabledGlobally ? "Disable inline completions" : "Enable inline completions", run: "dllm.toggle" },
        ...(language ? [{ label: languageToggleLabel(switchesOf(config()), language), run: "dllm.toggleLanguage" }] : []),
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
      if (arena.isOpen && !config().get<boolean>("arena.enabled")) endArena();
      if (e.affectsConfiguration(`${SECTION}.server`)) {
        await vscode.commands.executeCommand("dllm.restart");
      } else if (client?.state === State.Running) {
        await client.sendNotification(DidChangeConfigurationNotification.type, { settings: { [SECTION]: serverSettings(config()) } });
        if (e.affectsConfiguration(`${SECTION}.model`) || e.affectsConfiguration(`${SECTION}.device`)
            || (e.affectsConfiguration(`${SECTION}.enabled`) && switchesOf(config()).enabled)) { // loads only when on
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

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export async function deactivate(): Promise<void> {
  if (client?.state === State.Running) await client.stop();
}
