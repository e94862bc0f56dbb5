// Table tests for render.js: the texts of a model call cut to the budget.

import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveConfig } from "../src/config.js";
import { renderInput, renderOutput } from "../src/render.js";

const config = resolveConfig({});

test("input_text is the prompt alone by default, cut to the budget", () => {
  const event = { prompt: "é".repeat(10), systemPrompt: "SYSTEM", historyMessages: [{ role: "user", content: "hi" }] };
  const roomy = renderInput(event, { ...config, textBudgetBytes: 300 });
  assert.deepStrictEqual(roomy, { text: "é".repeat(10), truncated: false });
  assert.deepStrictEqual(renderInput(event, { ...config, textBudgetBytes: 7 }), { text: "ééé", truncated: true });
  assert.deepStrictEqual(renderInput({}, config), { text: "", truncated: false });
});

test("history and system prompt are sections, newest history first to be kept", () => {
  const event = {
    prompt: "now?",
    systemPrompt: "be brief",
    historyMessages: [
      { role: "user", content: "first" },
      { role: "assistant", content: [{ type: "text", text: "one" }, { type: "toolCall", name: "ls" }] },
      { role: "user", content: [{ type: "text", text: "second" }, { type: "image" }] },
    ],
  };
  const all = renderInput(event, { textBudgetBytes: 1000, captureHistory: true, captureSystemPrompt: true });
  assert.deepStrictEqual(all, {
    text:
      "## system\nbe brief\n\n" +
      "## history\nuser: first\nassistant: one\n[tool call: ls]\nuser: second\n[image]\n\n" +
      "## prompt\nnow?",
    truncated: false,
  });
  const tight = renderInput(event, { textBudgetBytes: 50, captureHistory: true, captureSystemPrompt: true });
  assert.equal(tight.truncated, true);
  assert.ok(Buffer.byteLength(tight.text) <= 50);
  assert.ok(tight.text.endsWith("## prompt\nnow?"));
  assert.ok(tight.text.includes("user: second"));
  assert.ok(!tight.text.includes("first"));
});

test("output_text joins the assistant texts, or falls back to the last message's text", () => {
  assert.deepStrictEqual(renderOutput({ assistantTexts: ["a", "b"] }, config), { text: "a\n\nb", truncated: false });
  const fallback = { assistantTexts: [], lastAssistant: { content: [{ type: "text", text: "only" }] } };
  assert.deepStrictEqual(renderOutput(fallback, config), { text: "only", truncated: false });
  assert.deepStrictEqual(renderOutput({}, config), { text: "", truncated: false });
});
