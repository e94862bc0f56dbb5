// Table tests for errors.js: failed runs and diagnostic trouble → /v1/errors
// events. Payload shapes follow OpenClaw's typed hook and diagnostic events.

import assert from "node:assert/strict";
import { test } from "node:test";
import { agentEndError, diagnosticError, runFailedError } from "../src/errors.js";

const TRACE = { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", traceFlags: "01" };
const IDS = { w3c_trace_id: TRACE.traceId, w3c_span_id: TRACE.spanId };

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

test("a run that gave up is a crash named after its last attempt's provider error", () => {
  const output = {
    runId: "r",
    sessionKey: "k",
    provider: "p",
    model: "m",
    trace: IDS,
    error: { message: "503 overloaded", httpStatus: 503 },
  };
  assert.deepStrictEqual(runFailedError(output, 3, 9), {
    error_type: "crash",
    message: "agent run failed after 3 attempt(s): 503 overloaded",
    severity: "error",
    category: "server_error",
    provider: "p",
    model: "m",
    timestamp_ms: 9,
    metadata: {
      source: "openclaw-plugin",
      run_id: "r",
      session_key: "k",
      failed_attempts: 3,
      http_status: 503,
      ...IDS,
    },
  });
  const silent = runFailedError({ runId: "r", stopReason: "error" }, 1, 9);
  assert.equal(silent.message, "agent run failed after 1 attempt(s): the model call failed");
  assert.equal(silent.category, "run_failed");
});
