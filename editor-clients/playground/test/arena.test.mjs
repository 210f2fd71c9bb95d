// Arena mode end to end in headless Chromium: for each backend pair in $DLLM_ARENA_SETS (a JSON
// list of `arena.backends` lists), Alt+A asks for a round, both anonymous suggestions are shown,
// Alt+1 / Alt+2 picks one (Esc when neither answered), the buffer gets exactly that text and the
// server acknowledges the vote. tests/editor_clients/test_playground_arena.py starts the
// backends and checks the vote log; without $DLLM_ARENA_SETS this file is skipped.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";

import { ARTIFACTS, openPlayground } from "./harness.mjs";

const SETS = process.env.DLLM_ARENA_SETS ? JSON.parse(process.env.DLLM_ARENA_SETS) : null;
const arenaSettings = (backends) => ({
  enabled: true, backends, timeoutMs: 30000, logFile: process.env.DLLM_ARENA_LOG ?? null,
});

test("arena: a paired suggestion, a pick by key, the vote recorded", { skip: !SETS, timeout: 240000 }, async () => {
  const playground = await openPlayground(JSON.stringify({ syntax: false, maxTokensSingle: 16, arena: arenaSettings(SETS[0]) }));
  const { page } = playground;
  try {
    for (const [i, backends] of SETS.entries()) {
      await page.evaluate((arena) => window.dllmPlayground.session.configure({ arena }), arenaSettings(backends));
      await page.evaluate(() => {
        const { editor } = window.dllmPlayground;
        editor.setPosition({ lineNumber: 2, column: editor.getModel().getLineMaxColumn(2) });
        editor.focus();
      });
      const before = await page.evaluate(() => ({ value: window.dllmPlayground.editor.getModel().getValue(), votes: window.dllmPlayground.arena.votes.length }));
      await page.keyboard.press("Alt+A");
      await page.waitForFunction(() => window.dllmPlayground.arena.round, null, { timeout: 60000 });
      const cards = await page.$$eval(".arena-card", (els) => els.map((e) => ({ slot: e.dataset.slot, status: e.dataset.status, text: e.querySelector("pre").textContent })));
      assert.deepEqual(cards.map((c) => c.slot), ["A", "B"], "two suggestions, side by side");
      await page.screenshot({ path: join(ARTIFACTS, `arena-pair-${i}.png`) });
      const round = await page.evaluate(() => window.dllmPlayground.arena.round.suggestions);
      const pick = round.find((s) => s.status === "ok" && s.insertText);
      await page.keyboard.press(pick ? (pick.slot === "A" ? "Alt+1" : "Alt+2") : "Escape");
      await page.waitForFunction((n) => window.dllmPlayground.arena.votes.length > n, before.votes, { timeout: 10000 });
      const vote = await page.evaluate(() => window.dllmPlayground.arena.votes.at(-1));
      assert.deepEqual(vote, { recorded: true, winner: pick ? pick.slot : "none" });
      const value = await page.evaluate(() => window.dllmPlayground.editor.getModel().getValue());
      const lines = before.value.split("\n");
      lines[1] += pick ? pick.insertText : "";
      assert.equal(value, lines.join("\n"), "the picked suggestion, and only it, is in the buffer");
      console.log(`arena round ${i}: ${JSON.stringify({ backends, cards, picked: pick?.slot ?? "none" })}`);
      await page.evaluate((v) => window.dllmPlayground.editor.getModel().setValue(v), before.value);
    }
  } finally {
    await playground.close();
  }
});
