// Pure functions from OpenClaw hook and diagnostic payloads to openclaw-trace's
// native events. No clock (callers pass times in), no I/O, no state.
//
// Two steps. At hook time a payload is reduced to a small "piece" holding
// only what we send (texts already cut to the budget), so nothing of the
// gateway's objects is retained or read later. When a model call's pieces are
// joined (correlate.js), `buildCallEvents` turns them into one /v1/traces
// event and, for a failed call, one /v1/errors event.

import { classifyError, httpStatusOf } from "./classify.js";
import { amount, compact, count, shortText, truncateUtf8, wellFormed } from "./fields.js";
import { renderInput, renderOutput } from "./render.js";

export { renderInput, renderOutput };

export const SOURCE = "openclaw-plugin";
const ERROR_MESSAGE_BYTES = 4096;
const ERROR_BODY_BYTES = 2048;

function traceIds(trace) {
  if (!trace || typeof trace !== "object") return undefined;
  const ids = compact({
    w3c_trace_id: shortText(trace.traceId),
    w3c_span_id: shortText(trace.spanId),
    w3c_parent_span_id: shortText(trace.parentSpanId),
  });
  return ids.w3c_trace_id ? ids : undefined;
}

function usageOf(usage) {
  if (!usage || typeof usage !== "object") return undefined;
  const cost = typeof usage.cost === "number" ? usage.cost : usage.cost?.total;
  return compact({
    input: count(usage.input),
    output: count(usage.output),
    cacheRead: count(usage.cacheRead),
    cacheWrite: count(usage.cacheWrite),
    promptTokens: count(usage.promptTokens),
    total: count(usage.totalTokens ?? usage.total),
    costUsd: amount(cost),
  });
}

// ---- pieces: hook / event payload → what we keep ----------------------------

function identity(event, ctx) {
  return compact({
    runId: shortText(event?.runId ?? ctx?.runId),
    sessionId: shortText(event?.sessionId ?? ctx?.sessionId),
    sessionKey: shortText(event?.sessionKey ?? ctx?.sessionKey),
    agentId: shortText(event?.agentId ?? ctx?.agentId),
    provider: shortText(event?.provider ?? ctx?.modelProviderId),
    model: shortText(event?.model ?? ctx?.modelId),
    trace: traceIds(ctx?.trace ?? event?.trace),
  });
}

/** From hook `llm_input` (once per run attempt). */
export function inputPiece(event, ctx, config) {
  const piece = { ...identity(event, ctx), trigger: shortText(ctx?.trigger) };
  if (config.captureText) {
    const { text, truncated } = renderInput(event, config);
    piece.text = text;
    piece.truncated = truncated;
  }
  return compact(piece);
}

/** From hook `model_call_started`; `nowMs` is when the hook ran. */
export function callStartPiece(event, ctx, nowMs) {
  return compact({
    ...identity(event, ctx),
    callId: shortText(event?.callId),
    api: shortText(event?.api),
    transport: shortText(event?.transport),
    startedAtMs: count(nowMs),
  });
}

/** From hook `model_call_ended`; `nowMs` is when the hook ran. */
export function callEndPiece(event, ctx, nowMs) {
  return compact({
    ...identity(event, ctx),
    callId: shortText(event?.callId),
    api: shortText(event?.api),
    transport: shortText(event?.transport),
    endedAtMs: count(nowMs),
    durationMs: amount(event?.durationMs),
    outcome: shortText(event?.outcome),
    errorCategory: shortText(event?.errorCategory),
    failureKind: shortText(event?.failureKind),
    timeToFirstByteMs: amount(event?.timeToFirstByteMs),
    requestPayloadBytes: count(event?.requestPayloadBytes),
    responseStreamBytes: count(event?.responseStreamBytes),
    upstreamRequestIdHash: shortText(event?.upstreamRequestIdHash),
    usage: usageOf(event?.usage),
  });
}

function providerError(last) {
  if (!last || typeof last !== "object") return undefined;
  if (last.stopReason !== "error" && !last.errorMessage) return undefined;
  const message = typeof last.errorMessage === "string" ? last.errorMessage : undefined;
  return compact({
    message: message ? truncateUtf8(message, ERROR_MESSAGE_BYTES).text : undefined,
    code: shortText(last.errorCode),
    type: shortText(last.errorType),
    body: typeof last.errorBody === "string" ? truncateUtf8(last.errorBody, ERROR_BODY_BYTES).text : undefined,
    httpStatus: count(last.status ?? last.httpStatus) ?? httpStatusOf(message),
  });
}

/** From hook `llm_output` (once per run attempt, after its last model call). */
export function outputPiece(event, ctx, config) {
  const last = event?.lastAssistant && typeof event.lastAssistant === "object" ? event.lastAssistant : undefined;
  const piece = {
    ...identity(event, ctx),
    usage: usageOf(last?.usage) ?? usageOf(event?.usage),
    stopReason: shortText(last?.stopReason),
    responseId: shortText(last?.responseId),
    timestampMs: count(last?.timestamp),
    harnessId: shortText(event?.harnessId),
    api: shortText(last?.api),
    error: providerError(last),
  };
  if (config.captureText) {
    const { text, truncated } = renderOutput(event, config);
    piece.text = text;
    piece.truncated = truncated;
  }
  return compact(piece);
}

/** From diagnostic event `model.usage` (after a run; no runId, joined by W3C trace id). */
export function usagePiece(evt) {
  return compact({
    sessionId: shortText(evt?.sessionId),
    sessionKey: shortText(evt?.sessionKey),
    agentId: shortText(evt?.agentId),
    channel: shortText(evt?.channel),
    provider: shortText(evt?.provider),
    model: shortText(evt?.model),
    traceId: shortText(evt?.trace?.traceId),
    usage: usageOf(evt?.lastCallUsage) ?? usageOf(evt?.usage),
    durationMs: amount(evt?.durationMs),
  });
}

// ---- joined call → native events -------------------------------------------

// openclaw-trace counts as OpenClaw does: prompt_tokens are the input tokens
// not read from or written to the prompt cache; the cache ones have their own
// fields, and total_tokens covers all four.
function tokenFields(usage) {
  if (!usage) return {};
  const cached = (usage.cacheRead ?? 0) + (usage.cacheWrite ?? 0);
  const fromTotal = usage.promptTokens === undefined ? undefined : Math.max(0, usage.promptTokens - cached);
  const prompt = usage.input ?? fromTotal;
  const completion = usage.output;
  const known = prompt !== undefined && completion !== undefined;
  const total = usage.total ?? (known ? prompt + completion + cached : undefined);
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: total,
    cache_read_tokens: usage.cacheRead,
    cache_write_tokens: usage.cacheWrite,
    cost_usd: usage.costUsd,
  };
}

function firstOf(key, ...pieces) {
  for (const piece of pieces) {
    if (piece && piece[key] !== undefined) return piece[key];
  }
  return undefined;
}

function callFailure(end, output) {
  const failed = end?.outcome === "error" || output?.stopReason === "error" || output?.error !== undefined;
  if (!failed) return undefined;
  const detail = output?.error ?? {};
  const category = classifyError({
    failureKind: end?.failureKind,
    httpStatus: detail.httpStatus,
    errorType: detail.type,
    errorCode: detail.code,
    message: detail.message,
    errorCategory: end?.errorCategory,
  });
  const reason = [end?.errorCategory, end?.failureKind].filter(Boolean).join(", ");
  const message = detail.message || `model call failed${reason ? ` (${reason})` : ""}`;
  return { ...detail, message, category };
}

/**
 * The native events for one joined model call.
 *
 * `call` has the call's `start` / `end` pieces (either may be missing);
 * `input` is set for the first call of a run attempt, `output` and `usage`
 * for its last; `context` holds identity gathered from every piece of the run
 * (agentId, channel, sessionKey, …). Returns `{ trace, error }`, `error`
 * undefined unless the call failed.
 */
export function buildCallEvents({ call = {}, input, output, usage, context = {} }) {
  const { start, end } = call;
  const pieces = [end, start, output, input, usage, context];
  const callUsage = end?.usage ?? output?.usage ?? usage?.usage;
  const failure = callFailure(end, output);
  const startedAtMs =
    start?.startedAtMs ??
    (end?.endedAtMs !== undefined ? count(end.endedAtMs - (end.durationMs ?? 0)) : undefined) ??
    output?.timestampMs;
  const common = {
    provider: firstOf("provider", ...pieces) ?? "unknown",
    model: firstOf("model", ...pieces) ?? "unknown",
    session_id: firstOf("sessionId", ...pieces),
    agent_id: firstOf("agentId", ...pieces),
    channel: firstOf("channel", ...pieces),
  };
  const ids = firstOf("trace", end, start, output, input);
  const links = {
    source: SOURCE,
    run_id: firstOf("runId", ...pieces),
    call_id: firstOf("callId", end, start),
    session_key: firstOf("sessionKey", ...pieces),
  };

  const trace = compact({
    ...common,
    input_text: input?.text || undefined,
    output_text: output?.text || undefined,
    ...tokenFields(callUsage),
    // model.usage's duration spans the whole message; only a call without its own timing uses it.
    latency_ms: end?.durationMs ?? (start ? undefined : usage?.durationMs),
    status: failure ? "error" : "ok",
    error_type: failure?.category,
    timestamp_ms: startedAtMs,
    metadata: compact({
      ...links,
      api: firstOf("api", end, start, output),
      transport: firstOf("transport", end, start),
      outcome: end?.outcome,
      failure_kind: end?.failureKind,
      error_category: end?.errorCategory,
      time_to_first_byte_ms: end?.timeToFirstByteMs,
      request_payload_bytes: end?.requestPayloadBytes,
      response_stream_bytes: end?.responseStreamBytes,
      stop_reason: output?.stopReason,
      response_id: output?.responseId,
      harness_id: output?.harnessId,
      trigger: input?.trigger,
      upstream_request_id_hash: end?.upstreamRequestIdHash,
      input_truncated: input?.truncated || undefined,
      output_truncated: output?.truncated || undefined,
      ...ids,
    }),
  });

  if (!failure) return { trace, error: undefined };
  const error = compact({
    error_type: "llm_error",
    message: failure.message,
    severity: "error",
    category: failure.category,
    ...common,
    timestamp_ms: end?.endedAtMs ?? startedAtMs,
    metadata: compact({
      ...links,
      http_status: failure.httpStatus,
      error_code: failure.code,
      provider_error_type: failure.type,
      error_body: failure.body,
      error_category: end?.errorCategory,
      failure_kind: end?.failureKind,
      latency_ms: end?.durationMs,
      ...ids,
    }),
  });
  return { trace, error };
}

// ---- failed runs and gateway trouble → /v1/errors ---------------------------

function nonEmpty(text) {
  return typeof text === "string" && text.length > 0 ? text : undefined;
}

function failureCategory(fields, fallback) {
  const category = classifyError(fields);
  return category === "unknown" ? fallback : category;
}

function errorEvent(fields, metadata) {
  return compact({ ...fields, metadata: compact({ source: SOURCE, ...metadata }) });
}

/**
 * The `crash` for a run that gave up after `attempts` failed attempts, the
 * last of which left `output` (an llm_output piece with its provider error).
 */
export function runFailedError(output, attempts, nowMs) {
  const detail = output.error ?? {};
  const reason = detail.message ?? "the model call failed";
  return errorEvent(
    {
      error_type: "crash",
      message: truncateUtf8(`agent run failed after ${attempts} attempt(s): ${reason}`, ERROR_MESSAGE_BYTES).text,
      severity: "error",
      category: failureCategory(
        { httpStatus: detail.httpStatus, errorType: detail.type, errorCode: detail.code, message: detail.message },
        "run_failed",
      ),
      provider: output.provider,
      model: output.model,
      session_id: output.sessionId,
      agent_id: output.agentId,
      timestamp_ms: count(nowMs),
    },
    {
      run_id: output.runId,
      session_key: output.sessionKey,
      failed_attempts: attempts,
      http_status: detail.httpStatus,
      ...output.trace,
    },
  );
}

/** A `crash` for hook `agent_end` reporting a failed run, else undefined. */
export function agentEndError(event, ctx, nowMs) {
  const message = nonEmpty(event?.error);
  if (event?.success !== false && !message) return undefined;
  const who = identity(event, ctx);
  return errorEvent(
    {
      error_type: "crash",
      message: truncateUtf8(message ?? "agent run failed", ERROR_MESSAGE_BYTES).text,
      severity: "error",
      category: failureCategory({ message, httpStatus: httpStatusOf(message) }, "run_failed"),
      provider: who.provider,
      model: who.model,
      session_id: who.sessionId,
      agent_id: who.agentId,
      timestamp_ms: count(nowMs),
    },
    {
      run_id: who.runId,
      session_key: who.sessionKey,
      duration_ms: amount(event?.durationMs),
      ...who.trace,
    },
  );
}

function diagnosticFields(evt) {
  return {
    session_id: shortText(evt.sessionId),
    channel: shortText(evt.channel),
    timestamp_ms: count(evt.ts),
  };
}

/**
 * The /v1/errors event for a diagnostic event that reports trouble
 * (`run.completed` / `harness.run.completed` with outcome error,
 * `harness.run.error`, `webhook.error`, `session.stuck`, `message.processed`
 * with outcome error), else undefined. Run failures carry `runId` so the
 * caller can report each failed run once.
 */
export function diagnosticError(evt) {
  if (!evt || typeof evt !== "object") return undefined;
  const ids = traceIds(evt.trace);
  switch (evt.type) {
    case "run.completed":
    case "harness.run.completed":
    case "harness.run.error": {
      const timedOut = evt.outcome === "timed_out";
      if (evt.type !== "harness.run.error" && evt.outcome !== "error" && !timedOut) return undefined;
      const what = evt.type === "run.completed" ? "agent run" : `agent harness ${evt.harnessId ?? ""}`.trim();
      const phase = evt.phase ? ` in phase ${evt.phase}` : "";
      const detail = evt.errorCategory ? `: ${evt.errorCategory}` : "";
      return errorEvent(
        {
          error_type: "crash",
          message: wellFormed(`${what} ${timedOut ? "timed out" : "failed"}${phase}${detail}`),
          severity: "error",
          category: timedOut ? "timeout" : failureCategory({ errorCategory: evt.errorCategory }, "run_failed"),
          provider: shortText(evt.provider),
          model: shortText(evt.model),
          ...diagnosticFields(evt),
        },
        {
          run_id: shortText(evt.runId),
          session_key: shortText(evt.sessionKey),
          duration_ms: amount(evt.durationMs),
          trigger: shortText(evt.trigger),
          ...ids,
        },
      );
    }
    case "webhook.error":
      return errorEvent(
        {
          error_type: "system_error",
          message: truncateUtf8(nonEmpty(evt.error) ?? "webhook failed", ERROR_MESSAGE_BYTES).text,
          severity: "error",
          category: "webhook",
          ...diagnosticFields(evt),
        },
        { update_type: shortText(evt.updateType), chat_id: shortText(evt.chatId), ...ids },
      );
    case "session.stuck": {
      const who = evt.sessionKey ?? evt.sessionId ?? "?";
      return errorEvent(
        {
          error_type: "system_error",
          message: wellFormed(`session ${who} stuck in state ${evt.state ?? "?"} for ${count(evt.ageMs) ?? "?"} ms`),
          severity: "warning",
          category: "session_stuck",
          ...diagnosticFields(evt),
        },
        {
          session_key: shortText(evt.sessionKey),
          age_ms: count(evt.ageMs),
          queue_depth: count(evt.queueDepth),
          ...ids,
        },
      );
    }
    case "message.processed": {
      if (evt.outcome !== "error") return undefined;
      const text = nonEmpty(evt.error) ?? `message processing failed (${evt.reason ?? "no reason given"})`;
      return errorEvent(
        {
          error_type: "system_error",
          message: truncateUtf8(text, ERROR_MESSAGE_BYTES).text,
          severity: "error",
          category: "message_processing",
          ...diagnosticFields(evt),
        },
        {
          session_key: shortText(evt.sessionKey),
          message_id: shortText(evt.messageId),
          chat_id: shortText(evt.chatId),
          duration_ms: amount(evt.durationMs),
          reason: shortText(evt.reason),
          ...ids,
        },
      );
    }
    default:
      return undefined;
  }
}
