// End to end in headless Chromium (Debian's, driven by playwright-core): the playground page, the
// real `dllm-lsp --ws` behind it. Types a sequence, measures keystroke -> ghost text for each
// keystroke, accepts the ghost text with Tab and checks that exactly the server's text landed in
// the buffer. Screenshots and latency.json go to $DLLM_ARTIFACTS (default test-results/).
//
//   DLLM_MODEL=/path/ckpt DLLM_LSP="python -m lsp_server" npm test
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { ARTIFACTS, openPlayground } from "./harness.mjs";

const TYPED = process.env.DLLM_TYPED ?? "a + b * 2";
// the tiny random test model writes gibberish, which the syntax filter would cut to nothing
const SETTINGS = process.env.DLLM_SETTINGS ?? JSON.stringify({ syntax: false, maxTokensSingle: 16 });

let playground;
let page;

before(async () => {
  playground = await openPlayground(SETTINGS);
  page = playground.page;
});

after(async () => {
  await playground?.close();
});

const p = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((q / 100) * s.length) - 1))];
};

test("type, see ghost text, accept it with Tab", { timeout: 150000 }, async () => {
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
