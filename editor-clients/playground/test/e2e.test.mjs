// End to end in headless Chromium (Debian's, driven by playwright-core): the playground page, the
// real `dllm-lsp --ws` behind it. Types a sequence, measures keystroke -> ghost text for each
// keystroke, accepts the ghost text with Tab and checks that exactly the server's text landed in
// the buffer. Screenshots and latency.json go to $DLLM_ARTIFACTS (default test-results/).
//
//   DLLM_MODEL=/path/ckpt DLLM_LSP="python -m lsp_server" npm test
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "..");
const ARTIFACTS = resolve(process.env.DLLM_ARTIFACTS ?? join(ROOT, "test-results"));
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const TYPED = process.env.DLLM_TYPED ?? "a + b * 2";
// the tiny random test model writes gibberish, which the syntax filter would cut to nothing
const SETTINGS = process.env.DLLM_SETTINGS ?? JSON.stringify({ syntax: false, maxTokensSingle: 16 });

let serve;
let browser;
let page;
const consoleLines = [];

function startPlayground() {
  const args = ["serve.mjs", "--port", "0", "--settings", SETTINGS, "--rebuild"];
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

before(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  serve = await startPlayground();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
  page = await browser.newPage({ viewport: { width: 1100, height: 520 } });
  page.on("console", (msg) => consoleLines.push(`${msg.type()}: ${msg.text()}`));
  page.on("pageerror", (err) => consoleLines.push(`pageerror: ${err.message}`));
});

after(async () => {
  await browser?.close();
  serve?.proc.kill("SIGTERM");
});

const p = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((q / 100) * s.length) - 1))];
};

test("type, see ghost text, accept it with Tab", { timeout: 150000 }, async () => {
  await page.goto(serve.url);
  await Promise.race([
    page.waitForFunction(() => window.dllmPlayground?.session.ready && window.dllmPlayground.model, null, { timeout: 90000 }),
    serve.exited.then((code) => { throw new Error(`serve.mjs exited with ${code} (is dllm-lsp --ws usable?)`); }),
  ]).catch((err) => { throw new Error(`${err.message}\n${consoleLines.join("\n")}`); });
  const model = await page.evaluate(() => window.dllmPlayground.model.model);
  assert.equal(model, "tiny-diffusion");

  // put the cursor at the end of "    return " and type, one keystroke at a time
  await page.evaluate(() => {
    const { editor } = window.dllmPlayground;
    editor.setPosition({ lineNumber: 2, column: editor.getModel().getLineMaxColumn(2) });
    editor.focus();
  });
  const samples = [];
  for (const ch of TYPED) {
    const before = await page.evaluate(() => window.dllmPlayground.probe.samples.length);
    await page.keyboard.type(ch);
    const got = await page.waitForFunction((n) => window.dllmPlayground.probe.samples.length > n, before, { timeout: 5000 })
      .then(() => true, () => false);
    if (got) samples.push(await page.evaluate(() => window.dllmPlayground.probe.samples.at(-1)));
  }
  assert.ok(samples.length >= Math.ceil(TYPED.length / 2), `ghost text after only ${samples.length} of ${TYPED.length} keystrokes`);
  const report = { keystrokes: TYPED.length, samples: samples.length, p50_ms: p(samples, 50), p90_ms: p(samples, 90), min_ms: Math.min(...samples), max_ms: Math.max(...samples), all_ms: samples };
  console.log(`keystroke-to-ghost-text latency: p50 ${report.p50_ms.toFixed(1)} ms, p90 ${report.p90_ms.toFixed(1)} ms over ${samples.length} keystrokes (${TYPED.length} typed)`);
  await writeFile(join(ARTIFACTS, "latency.json"), JSON.stringify(report, null, 2));

  // the ghost text on screen is the server's item; Tab puts exactly that into the buffer
  await page.waitForSelector(".ghost-text-decoration, .ghost-text", { timeout: 10000 });
  const expected = await page.evaluate(() => {
    const { editor, lastShown, monaco } = window.dllmPlayground;
    const m = editor.getModel();
    const range = lastShown.range ?? monaco.Range.fromPositions(editor.getPosition());
    const text = typeof lastShown.insertText === "string" ? lastShown.insertText : lastShown.insertText.snippet;
    const value = m.getValue();
    return { text, value: value.slice(0, m.getOffsetAt(range.getStartPosition())) + text + value.slice(m.getOffsetAt(range.getEndPosition())) };
  });
  assert.ok(expected.text.length > 0);
  const ghostDom = await page.evaluate(() => [...document.querySelectorAll(".ghost-text-decoration, .ghost-text")].map((e) => e.textContent).join(""));
  assert.ok(ghostDom.length > 0, "ghost text is rendered");
  await page.screenshot({ path: join(ARTIFACTS, "playground-ghost.png") });
  await page.keyboard.press("Tab");
  await page.waitForFunction((v) => window.dllmPlayground.editor.getModel().getValue() === v, expected.value, { timeout: 5000 })
    .catch(async () => {
      const now = await page.evaluate(() => window.dllmPlayground.editor.getModel().getValue());
      assert.equal(now, expected.value, "buffer after Tab");
    });
  await page.screenshot({ path: join(ARTIFACTS, "playground-accepted.png") });
  const feedback = await page.evaluate(() => window.dllmPlayground.feedback.map((f) => f.kind));
  assert.ok(feedback.includes("shown") && feedback.includes("accepted"), `feedback sent: ${feedback}`);
  console.log(`accepted ${JSON.stringify(expected.text)}; screenshots in ${ARTIFACTS}`);
});
