// Table tests for pieces.js: what a hook or diagnostic payload is reduced to.
// The pieces' shapes are the typedefs in pieces.js.

import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveConfig } from "../src/config.js";
import { callEndPiece, callStartPiece, inputPiece, outputPiece, usagePiece } from "../src/pieces.js";

const config = resolveConfig({});
const TRACE = {
  traceId: "0af7651916cd43dd8448eb211c80319c",
  spanId: "b7ad6b7169203331",
  parentSpanId: "00f067aa0ba902b7",
};
const IDS = { w3c_trace_id: TRACE.traceId, w3c_span_id: TRACE.spanId, w3c_parent_span_id: TRACE.parentSpanId };

test("identity: the event's fields win, the hook context fills the rest", () => {
  const ctx = { runId: "ctx-run", sessionId: "s", agentId: "main", modelProviderId: "p", modelId: "m", trace: TRACE };
  const piece = callStartPiece({ runId: "r", callId: 7, model: "m2", api: "" }, ctx, 1.6);
  assert.deepStrictEqual(piece, {
    runId: "r",
    sessionId: "s",
    agentId: "main",
    provider: "p",
    model: "m2",
    trace: IDS,
    callId: "7",
    startedAtMs: 2,
  });
});

test("a span id without a trace id links to nothing and is left out", () => {
  assert.equal(callStartPiece({}, { trace: { spanId: "b7ad6b7169203331" } }, 0).trace, undefined);
});

test("input text is kept only when text capture is on", () => {
  const event = { runId: "r", prompt: "hello" };
  assert.deepStrictEqual(inputPiece(event, { trigger: "user" }, config), {
    runId: "r",
    trigger: "user",
    text: "hello",
    truncated: false,
  });
  assert.deepStrictEqual(inputPiece(event, {}, { ...config, captureText: false }), { runId: "r" });
});

test("call end: counts normalised, usage with its cost as a number or as { total }", () => {
  const event = {
    callId: "c",
    durationMs: 12.5,
    outcome: "completed",
    requestPayloadBytes: -1,
    usage: { input: 3, output: 4.4, totalTokens: 7, cost: { total: 0.002 } },
  };
  assert.deepStrictEqual(callEndPiece(event, {}, 100), {
    callId: "c",
    endedAtMs: 100,
    durationMs: 12.5,
    outcome: "completed",
    usage: { input: 3, output: 4, total: 7, costUsd: 0.002 },
  });
  assert.deepStrictEqual(callEndPiece({ usage: { cost: 0.5 } }, {}, 0).usage, { costUsd: 0.5 });
});

test("output: the provider's error only when the last message failed, its status from the message", () => {
  const failed = {
    lastAssistant: { stopReason: "error", errorMessage: "429 Too Many Requests", errorType: "rate_limit_error" },
  };
  assert.deepStrictEqual(outputPiece(failed, {}, config).error, {
    message: "429 Too Many Requests",
    type: "rate_limit_error",
    httpStatus: 429,
  });
  const good = { lastAssistant: { stopReason: "stop", timestamp: 5, usage: { input: 1 } }, usage: { input: 9 } };
  assert.deepStrictEqual(outputPiece(good, {}, { ...config, captureText: false }), {
    usage: { input: 1 },
    stopReason: "stop",
    timestampMs: 5,
  });
});

test("model.usage: a flat trace id to join by, the last call's usage before the message's", () => {
  const evt = {
    type: "model.usage",
    channel: "telegram",
    trace: TRACE,
    lastCallUsage: { input: 1, output: 2 },
    usage: { input: 10, output: 20 },
    durationMs: 900,
  };
  assert.deepStrictEqual(usagePiece(evt), {
    channel: "telegram",
    traceId: TRACE.traceId,
    usage: { input: 1, output: 2 },
    durationMs: 900,
  });
});
