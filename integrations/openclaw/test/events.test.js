// Table tests for events.js: joined pieces → the daemon's trace and error
// events. The pieces are made from payloads shaped as OpenClaw's typed hook
// and diagnostic events; the recorded ones are in recorded-turns.test.js.

import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveConfig } from "../src/config.js";
import { buildCallEvents } from "../src/events.js";
import { callEndPiece, outputPiece, usagePiece } from "../src/pieces.js";

const config = resolveConfig({});
const TRACE = { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", traceFlags: "01" };
const IDS = { w3c_trace_id: TRACE.traceId, w3c_span_id: TRACE.spanId };

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
