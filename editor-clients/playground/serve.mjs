// One command for the playground: build (if needed), start `dllm-lsp --ws` (again whenever it
// ends: it serves one connection at a time), and serve the page on http://HOST:PORT/.
//
//   node serve.mjs [--port 8080] [--host 127.0.0.1] [--lsp-port 0] [--model DIR] [--device cpu]
//                  [--server "dllm-lsp"] [--settings '{"mode":"single"}'] [--log-file F] [--rebuild]
//
// --port 0 / --lsp-port 0 pick free ports. The first line on stdout says where the page is.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { createServer as createNetServer } from "node:net";
import { extname, join, normalize } from "node:path";
import { parseArgs } from "node:util";

import { build, DIST, SRC } from "./build.mjs";

const { values: opt } = parseArgs({
  options: {
    port: { type: "string", default: "8080" },
    host: { type: "string", default: "127.0.0.1" },
    "lsp-port": { type: "string", default: "0" },
    model: { type: "string" },
    device: { type: "string" },
    server: { type: "string", default: process.env.DLLM_LSP ?? "dllm-lsp" },
    settings: { type: "string", default: "{}" },
    "log-file": { type: "string" },
    rebuild: { type: "boolean", default: false },
  },
});

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".ttf": "font/ttf", ".json": "application/json" };

// The host name the page was reached by (so not 0.0.0.0 when it was reached by name); --host where the
// request names none it can use.
function hostOf(req) {
  try {
    if (req.headers.host) return new URL(`http://${req.headers.host}`).hostname;
  } catch { /* a malformed Host header */ }
  return opt.host;
}

// A source file changed since dist/ was built.
function newerThanBuild() {
  const built = statSync(join(DIST, "main.js")).mtimeMs;
  return readdirSync(SRC).some((name) => statSync(join(SRC, name)).mtimeMs > built);
}

function freePort(host) {
  return new Promise((resolve, reject) => {
    const srv = createNetServer().once("error", reject).listen(0, host, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

if (opt.rebuild || !existsSync(join(DIST, "main.js")) || newerThanBuild()) await build();
const settings = JSON.parse(opt.settings);
const lspPort = Number(opt["lsp-port"]) || (await freePort(opt.host));

// dllm-lsp, restarted whenever it exits (each WebSocket session ends the process)
let child;
let stopping = false;
function startServer() {
  if (stopping) return;
  const [cmd, ...pre] = opt.server.split(/\s+/).filter(Boolean);
  const args = [...pre, "--ws", "--host", opt.host, "--port", String(lspPort)];
  if (opt.model) args.push("--model", opt.model);
  if (opt.device) args.push("--device", opt.device);
  if (opt["log-file"]) args.push("--log-file", opt["log-file"]);
  child = spawn(cmd, args, { stdio: ["ignore", "inherit", "inherit"] });
  child.on("error", (err) => {
    console.error(`playground: cannot start ${cmd}: ${err.message}`);
    process.exit(1);
  });
  child.on("exit", (code, signal) => {
    if (stopping) return;
    if (code === 2) { // a usage error (a bad option, no websockets package): restarting will not help
      console.error("playground: dllm-lsp refused to start (see above)");
      process.exit(2);
    }
    if (code !== 0 && code !== 1) console.error(`playground: dllm-lsp exited (${signal ?? code}); restarting`);
    setTimeout(startServer, 200);
  });
}
startServer();

const http = createServer(async (req, res) => {
  const path = new URL(req.url, "http://x").pathname;
  if (path === "/config.json") {
    res.writeHead(200, { "content-type": TYPES[".json"], "cache-control": "no-store" });
    return res.end(JSON.stringify({ ws: `ws://${hostOf(req)}:${lspPort}`, settings }));
  }
  const file = normalize(join(DIST, path === "/" ? "index.html" : path));
  if (!file.startsWith(DIST)) return res.writeHead(403).end();
  try {
    const body = await readFile(file);
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
    res.end(body);
  } catch {
    res.writeHead(404).end("not found");
  }
});
http.listen(Number(opt.port), opt.host, () => {
  const { port } = http.address();
  console.log(`playground: http://${opt.host}:${port}/ (dllm-lsp on ws://${opt.host}:${lspPort})`);
});

const stop = () => {
  stopping = true;
  child?.kill("SIGTERM");
  http.close();
  setTimeout(() => process.exit(0), 300).unref();
};
process.on("exit", () => child?.kill("SIGKILL"));
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
