// What the browser tests share: the playground (serve.mjs, which starts the real `dllm-lsp --ws`)
// and headless Chromium (Debian's, driven by playwright-core) on its page, ready once the model is.
import { spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const ARTIFACTS = resolve(process.env.DLLM_ARTIFACTS ?? join(ROOT, "test-results"));
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

function startPlayground(settings) {
  const args = ["serve.mjs", "--port", "0", "--settings", settings, "--rebuild"];
  if (process.env.DLLM_MODEL) args.push("--model", process.env.DLLM_MODEL);
  if (process.env.DLLM_LOG_FILE) args.push("--log-file", process.env.DLLM_LOG_FILE);
  const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise((resolveExit) => proc.on("exit", resolveExit));
  return new Promise((resolveUrl, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`serve.mjs printed no address: ${out}`)), 60000);
    proc.stdout.on("data", (chunk) => {
      out += chunk;
      const m = out.match(/playground: (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolveUrl({ proc, url: m[1], exited });
      }
    });
    proc.on("exit", (code) => reject(new Error(`serve.mjs exited with ${code}: ${out}`)));
  });
}

/** The playground with `settings` (JSON text), its page open and connected, the model loaded. */
export async function openPlayground(settings) {
  await mkdir(ARTIFACTS, { recursive: true });
  const serve = await startPlayground(settings);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
  const page = await browser.newPage({ viewport: { width: 1100, height: 520 } });
  const consoleLines = [];
  page.on("console", (msg) => consoleLines.push(`${msg.type()}: ${msg.text()}`));
  page.on("pageerror", (err) => consoleLines.push(`pageerror: ${err.message}`));
  await page.goto(serve.url);
  await Promise.race([
    page.waitForFunction(() => window.dllmPlayground?.session.ready && window.dllmPlayground.model, null, { timeout: 90000 }),
    serve.exited.then((code) => { throw new Error(`serve.mjs exited with ${code} (is dllm-lsp --ws usable?)`); }),
  ]).catch((err) => { throw new Error(`${err.message}\n${consoleLines.join("\n")}`); });
  const close = async () => {
    await browser.close();
    serve.proc.kill("SIGTERM");
  };
  return { page, consoleLines, close };
}
