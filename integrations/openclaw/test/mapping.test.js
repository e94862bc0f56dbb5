// Table tests for the pure mapping. Payload shapes follow OpenClaw's typed
// hook and diagnostic events; the recorded ones are in recorded-turns.test.js.

import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveConfig } from "../src/config.js";
import {
  agentEndError,
  buildCallEvents,
  callEndPiece,
  diagnosticError,
  outputPiece,
  renderInput,
  renderOutput,
  usagePiece,
} from "../src/mapping.js";

const config = resolveConfig({});
const TRACE = { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", traceFlags: "01" };
const IDS = { w3c_trace_id: TRACE.traceId, w3c_span_id: TRACE.spanId };

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

test("a run with two model calls: the first carries the input, the last the output and usage", () => {
  const ctx = { agentId: "main", sessionKey: "agent:main:main", trace: TRACE };
  const end = (n, extra = {}) =>
    callEndPiece(
      {
        runId: "r1",
        callId: `r1:model:${n}`,
        provider: "openai",
        model: "gpt-5",
        durationMs: 100 * n,
        outcome: "completed",
        ...extra,
      },
      ctx,
      10_000 * n,
    );
  const input = { runId: "r1", text: "list files", trace: IDS, trigger: "user" };
  const output = outputPiece(
    {
      runId: "r1",
      sessionId: "s1",
      provider: "openai",
      model: "gpt-5",
      assistantTexts: ["done"],
      lastAssistant: {
        stopReason: "stop",
        usage: { input: 90, output: 10, cacheRead: 400, cacheWrite: 0, totalTokens: 500, cost: { total: 0.01 } },
      },
    },
    ctx,
    config,
  );

  const firstEnd = end(1, { usage: { input: 50, output: 5, total: 55 } });
  const first = buildCallEvents({ call: { end: firstEnd }, input, context: { channel: "telegram" } });
  assert.equal(first.error, undefined);
  assert.deepStrictEqual(first.trace, {
    provider: "openai",
    model: "gpt-5",
    agent_id: "main",
    channel: "telegram",
    input_text: "list files",
    prompt_tokens: 50,
    completion_tokens: 5,
    total_tokens: 55,
    latency_ms: 100,
    status: "ok",
    timestamp_ms: 10_000 - 100,
    metadata: {
      source: "openclaw-plugin",
      run_id: "r1",
      call_id: "r1:model:1",
      session_key: "agent:main:main",
      outcome: "completed",
      trigger: "user",
      ...IDS,
    },
  });
  assert.equal(first.trace.session_id, undefined);

  const last = buildCallEvents({ call: { end: end(2) }, output, usage: undefined, context: {} });
  assert.equal(last.trace.output_text, "done");
  assert.equal(last.trace.input_text, undefined);
  assert.equal(last.trace.prompt_tokens, 90, "prompt tokens exclude the cache, as OpenClaw counts them");
  assert.equal(last.trace.completion_tokens, 10);
  assert.equal(last.trace.total_tokens, 500);
  assert.equal(last.trace.cost_usd, 0.01);
  assert.equal(last.trace.cache_read_tokens, 400);
  assert.equal(last.trace.cache_write_tokens, 0);
  assert.equal(last.trace.session_id, "s1");
});

test("usage known only as a prompt total (model.usage) is split into uncached input and cache", () => {
  const usage = usagePiece({
    type: "model.usage",
    trace: TRACE,
    usage: { promptTokens: 500, cacheRead: 400, cacheWrite: 50, output: 7 },
  });
  const { trace } = buildCallEvents({ call: { end: {} }, usage });
  const { prompt_tokens, cache_read_tokens, cache_write_tokens, completion_tokens, total_tokens } = trace;
  assert.deepStrictEqual(
    [prompt_tokens, cache_read_tokens, cache_write_tokens, completion_tokens, total_tokens],
    [50, 400, 50, 7, 507],
  );
});

test("a call failure without provider details still names what the gateway measured", () => {
  const end = callEndPiece(
    {
      runId: "r",
      callId: "r:model:1",
      provider: "p",
      model: "m",
      durationMs: 30000,
      outcome: "error",
      errorCategory: "TimeoutError",
      failureKind: "timeout",
    },
    {},
    1_000_000,
  );
  const { trace, error } = buildCallEvents({ call: { end } });
  assert.equal(trace.status, "error");
  assert.equal(trace.error_type, "timeout");
  assert.deepStrictEqual(error, {
    error_type: "llm_error",
    message: "model call failed (TimeoutError, timeout)",
    severity: "error",
    category: "timeout",
    provider: "p",
    model: "m",
    timestamp_ms: 1_000_000,
    metadata: {
      source: "openclaw-plugin",
      run_id: "r",
      call_id: "r:model:1",
      error_category: "TimeoutError",
      failure_kind: "timeout",
      latency_ms: 30000,
    },
  });
});

test("an output with no model_call hooks is one trace, timed by model.usage", () => {
  const output = outputPiece(
    {
      runId: "r",
      provider: "p",
      model: "m",
      assistantTexts: ["x"],
      lastAssistant: { timestamp: 123, usage: { input: 1, output: 2 } },
    },
    {},
    config,
  );
  const usage = usagePiece({
    type: "model.usage",
    channel: "discord",
    durationMs: 900,
    trace: TRACE,
    usage: { input: 1, output: 2, total: 3 },
  });
  const { trace } = buildCallEvents({ call: { end: {} }, output, usage, context: { channel: "discord" } });
  assert.equal(trace.latency_ms, 900);
  assert.equal(trace.timestamp_ms, 123);
  assert.equal(trace.channel, "discord");
  assert.equal(trace.total_tokens, 3);
  assert.equal(trace.metadata.call_id, undefined);
});

test("agent_end reports a failed run as a crash, and nothing for a good one", () => {
  const ctx = { agentId: "main", sessionId: "s", sessionKey: "k", modelProviderId: "p", modelId: "m", trace: TRACE };
  assert.equal(agentEndError({ runId: "r", success: true, durationMs: 5 }, ctx, 1), undefined);
  const failed = { runId: "r", success: false, error: "provider failed (HTTP 429)", durationMs: 5 };
  assert.deepStrictEqual(agentEndError(failed, ctx, 7), {
    error_type: "crash",
    message: "provider failed (HTTP 429)",
    severity: "error",
    category: "rate_limit",
    provider: "p",
    model: "m",
    session_id: "s",
    agent_id: "main",
    timestamp_ms: 7,
    metadata: { source: "openclaw-plugin", run_id: "r", session_key: "k", duration_ms: 5, ...IDS },
  });
  assert.equal(agentEndError({ runId: "r", success: false }, ctx, 7).category, "run_failed");
});

test("diagnostic events that report trouble become errors; the rest nothing", () => {
  const base = { seq: 1, ts: 1700000000000, trace: TRACE };
  const cases = [
    [{ ...base, type: "run.completed", runId: "r", outcome: "completed", durationMs: 1 }, undefined],
    [
      {
        ...base,
        type: "run.completed",
        runId: "r",
        sessionKey: "k",
        outcome: "error",
        errorCategory: "Error",
        durationMs: 12,
        channel: "telegram",
      },
      {
        error_type: "crash",
        message: "agent run failed: Error",
        severity: "error",
        category: "run_failed",
        channel: "telegram",
        timestamp_ms: base.ts,
        metadata: { source: "openclaw-plugin", run_id: "r", session_key: "k", duration_ms: 12, ...IDS },
      },
    ],
    [
      {
        ...base,
        type: "harness.run.error",
        runId: "r",
        harnessId: "codex",
        phase: "send",
        errorCategory: "rate_limit",
        durationMs: 3,
      },
      {
        error_type: "crash",
        message: "agent harness codex failed in phase send: rate_limit",
        severity: "error",
        category: "rate_limit",
        timestamp_ms: base.ts,
        metadata: { source: "openclaw-plugin", run_id: "r", duration_ms: 3, ...IDS },
      },
    ],
    [
      {
        ...base,
        type: "webhook.error",
        channel: "telegram",
        updateType: "message",
        chatId: 42,
        error: "bad signature",
      },
      {
        error_type: "system_error",
        message: "bad signature",
        severity: "error",
        category: "webhook",
        channel: "telegram",
        timestamp_ms: base.ts,
        metadata: { source: "openclaw-plugin", update_type: "message", chat_id: "42", ...IDS },
      },
    ],
    [
      {
        ...base,
        type: "session.stuck",
        sessionKey: "agent:main:main",
        sessionId: "s",
        state: "processing",
        ageMs: 120000,
        queueDepth: 2,
      },
      {
        error_type: "system_error",
        message: "session agent:main:main stuck in state processing for 120000 ms",
        severity: "warning",
        category: "session_stuck",
        session_id: "s",
        timestamp_ms: base.ts,
        metadata: { source: "openclaw-plugin", session_key: "agent:main:main", age_ms: 120000, queue_depth: 2, ...IDS },
      },
    ],
    [
      {
        ...base,
        type: "harness.run.completed",
        runId: "r",
        harnessId: "openclaw",
        outcome: "timed_out",
        durationMs: 9,
      },
      {
        error_type: "crash",
        message: "agent harness openclaw timed out",
        severity: "error",
        category: "timeout",
        timestamp_ms: base.ts,
        metadata: { source: "openclaw-plugin", run_id: "r", duration_ms: 9, ...IDS },
      },
    ],
    [{ ...base, type: "harness.run.completed", runId: "r", harnessId: "openclaw", outcome: "aborted" }, undefined],
    [{ ...base, type: "message.processed", channel: "slack", outcome: "completed" }, undefined],
    [
      {
        ...base,
        type: "message.processed",
        channel: "slack",
        outcome: "error",
        reason: "dispatch",
        durationMs: 4,
        messageId: "m1",
      },
      {
        error_type: "system_error",
        message: "message processing failed (dispatch)",
        severity: "error",
        category: "message_processing",
        channel: "slack",
        timestamp_ms: base.ts,
        metadata: { source: "openclaw-plugin", message_id: "m1", duration_ms: 4, reason: "dispatch", ...IDS },
      },
    ],
    [{ ...base, type: "session.state", state: "idle" }, undefined],
    [null, undefined],
  ];
  for (const [evt, expected] of cases) assert.deepStrictEqual(diagnosticError(evt), expected, evt?.type);
});
