// The texts of a model call, cut to the text budget: the prompt (with, if
// asked, the history and the system prompt) and the assistant's answer.
// Pure functions, used by pieces.js when it reduces hook payloads to pieces.

import { truncateUtf8 } from "./fields.js";

function messageText(message) {
  const content = message?.content;
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  const parts = [];
  for (const block of content) {
    if (block?.type === "text" && typeof block.text === "string") parts.push(block.text);
    else if (block?.type === "toolCall" && typeof block.name === "string") parts.push(`[tool call: ${block.name}]`);
    else if (block?.type === "image") parts.push("[image]");
  }
  return parts.join("\n");
}

function utf8Bytes(text) {
  return Buffer.byteLength(text, "utf8");
}

const SECTION_GAP = "\n\n";

/**
 * input_text from an `llm_input` event: the prompt; with `captureHistory` /
 * `captureSystemPrompt` also the history and the system prompt, as
 * "## system", "## history" and "## prompt" sections. The whole stays within
 * `textBudgetBytes`: the prompt has first claim on the budget, then the
 * newest history messages, then the start of the system prompt.
 * Returns `{ text, truncated }`.
 */
export function renderInput(event, { textBudgetBytes, captureHistory, captureSystemPrompt }) {
  const prompt = typeof event?.prompt === "string" ? event.prompt : "";
  if (!captureHistory && !captureSystemPrompt) return truncateUtf8(prompt, textBudgetBytes);

  let left = textBudgetBytes;
  let truncated = false;
  // Room for a section's body once its header and the gap before the next section are paid for.
  const roomAfter = (header) => left - utf8Bytes(header) - SECTION_GAP.length;
  const section = (header, body) => {
    const room = roomAfter(header);
    if (body.length === 0) return undefined;
    if (room <= 0) {
      truncated = true;
      return undefined;
    }
    const cut = truncateUtf8(body, room);
    truncated ||= cut.truncated;
    left -= utf8Bytes(header) + SECTION_GAP.length + utf8Bytes(cut.text);
    return header + cut.text;
  };

  const promptSection = section("## prompt\n", prompt);
  const history = captureHistory && Array.isArray(event?.historyMessages) ? event.historyMessages : [];
  const lines = [];
  let room = roomAfter("## history\n");
  for (let i = history.length - 1; i >= 0; i -= 1) {
    const line = `${history[i]?.role ?? "unknown"}: ${messageText(history[i])}`;
    const cost = utf8Bytes(line) + 1;
    if (cost > room) {
      if (room > 1) lines.push(truncateUtf8(line, room - 1).text);
      truncated = true;
      break;
    }
    lines.push(line);
    room -= cost;
  }
  const historySection = lines.length > 0 ? section("## history\n", lines.reverse().join("\n")) : undefined;
  const system = captureSystemPrompt && typeof event?.systemPrompt === "string" ? event.systemPrompt : "";
  const systemSection = section("## system\n", system);
  const text = [systemSection, historySection, promptSection].filter((s) => s !== undefined).join(SECTION_GAP);
  return { text, truncated };
}

/** output_text from an `llm_output` event: the assistant texts, blank-line separated. */
export function renderOutput(event, { textBudgetBytes }) {
  let texts = Array.isArray(event?.assistantTexts) ? event.assistantTexts.filter((t) => typeof t === "string") : [];
  if (texts.length === 0 && event?.lastAssistant) texts = [messageText(event.lastAssistant)].filter(Boolean);
  return truncateUtf8(texts.join("\n\n"), textBudgetBytes);
}
