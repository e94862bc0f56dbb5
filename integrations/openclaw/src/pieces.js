// Hook and diagnostic payloads → pieces: the small plain objects that hold
// only what we send. Pure functions; the clock is passed in.
//
// A piece is made while the hook runs, with every text already cut to the
// budget and every value normalised (fields.js), so nothing of the gateway's
// own objects is retained or read later: correlate.js joins the pieces of a
// model call and events.js turns them into the daemon's events.

import { httpStatusOf } from "./classify.js";
import { amount, compact, count, shortText, truncateUtf8 } from "./fields.js";
import { renderInput, renderOutput } from "./render.js";

/** Bytes of a provider's error message kept (errors.js cuts its messages to the same). */
export const ERROR_MESSAGE_BYTES = 4096;
const ERROR_BODY_BYTES = 2048;

// Every field below is optional: `compact` drops what the payload lacked, so
// a piece has only the keys it has values for.

/**
 * The W3C ids of the span a hook ran in. Only made when there is a trace id:
 * a span id alone links to nothing.
 * @typedef {object} TraceIds
 * @property {string} w3c_trace_id
 * @property {string} [w3c_span_id]
 * @property {string} [w3c_parent_span_id]
 */

/**
 * Token counts (non-negative integers) and cost as OpenClaw reports them.
 * May be empty (`{}`) when the payload had a usage object with none of these.
 * @typedef {object} Usage
 * @property {number} [input] input tokens not read from or written to the cache
 * @property {number} [output]
 * @property {number} [cacheRead]
 * @property {number} [cacheWrite]
 * @property {number} [promptTokens] all input tokens, cache included (model.usage)
 * @property {number} [total]
 * @property {number} [costUsd]
 */

/**
 * Who a hook's piece belongs to; from the event, else from the hook context.
 * @typedef {object} Identity
 * @property {string} [runId]
 * @property {string} [sessionId]
 * @property {string} [sessionKey]
 * @property {string} [agentId]
 * @property {string} [provider]
 * @property {string} [model]
 * @property {TraceIds} [trace]
 */

/**
 * Hook `llm_input`. `text` and `truncated` only when `captureText` is on
 * (`text` may then be "").
 * @typedef {Identity & {trigger?: string, text?: string, truncated?: boolean}} InputPiece
 */

/**
 * Hook `model_call_started`.
 * @typedef {Identity & {callId?: string, api?: string, transport?: string, startedAtMs?: number}} CallStartPiece
 */

/**
 * Hook `model_call_ended`. Times in ms; `startedAtMs`/`endedAtMs` are Unix ms
 * from our clock, the rest as the gateway measured them.
 * @typedef {object} CallEndFields
 * @property {string} [callId]
 * @property {string} [api]
 * @property {string} [transport]
 * @property {number} [endedAtMs]
 * @property {number} [durationMs]
 * @property {string} [outcome] "completed", "error", …
 * @property {string} [errorCategory] the gateway's name for the failure (e.g. "TimeoutError")
 * @property {string} [failureKind] "timeout", "aborted", "connection_reset", …
 * @property {number} [timeToFirstByteMs]
 * @property {number} [requestPayloadBytes]
 * @property {number} [responseStreamBytes]
 * @property {string} [upstreamRequestIdHash]
 * @property {Usage} [usage]
 *
 * @typedef {Identity & CallEndFields} CallEndPiece
 */

/**
 * What the provider said about a failed call, from `llm_output`'s last
 * assistant message. `message` and `body` are cut to 4096 and 2048 bytes;
 * `httpStatus` is the one given, else the one the message names.
 * @typedef {object} ProviderError
 * @property {string} [message]
 * @property {string} [code]
 * @property {string} [type]
 * @property {string} [body]
 * @property {number} [httpStatus]
 */

/**
 * Hook `llm_output` (once per run attempt). `error` only when the last
 * assistant message stopped with an error; `text`/`truncated` as in InputPiece.
 * @typedef {object} OutputFields
 * @property {Usage} [usage] the last message's, else the event's
 * @property {string} [stopReason]
 * @property {string} [responseId]
 * @property {number} [timestampMs] the last message's timestamp (Unix ms)
 * @property {string} [harnessId]
 * @property {string} [api]
 * @property {ProviderError} [error]
 * @property {string} [text]
 * @property {boolean} [truncated]
 *
 * @typedef {Identity & OutputFields} OutputPiece
 */

/**
 * Diagnostic `model.usage`. It has no runId: correlate.js joins it to its
 * attempt by `traceId`, hence a flat id rather than TraceIds.
 * @typedef {object} UsagePiece
 * @property {string} [sessionId]
 * @property {string} [sessionKey]
 * @property {string} [agentId]
 * @property {string} [channel]
 * @property {string} [provider]
 * @property {string} [model]
 * @property {string} [traceId]
 * @property {Usage} [usage] the last call's, else the whole message's
 * @property {number} [durationMs] the whole message, not one call
 */

/** @returns {TraceIds | undefined} */
export function traceIds(trace) {
  if (!trace || typeof trace !== "object") return undefined;
  const ids = compact({
    w3c_trace_id: shortText(trace.traceId),
    w3c_span_id: shortText(trace.spanId),
    w3c_parent_span_id: shortText(trace.parentSpanId),
  });
  return ids.w3c_trace_id ? ids : undefined;
}

/** @returns {Usage | undefined} */
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

/**
 * The identity of a hook's event; the event's own fields win over the context's.
 * @returns {Identity}
 */
export function identity(event, ctx) {
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

/**
 * From hook `llm_input` (once per run attempt).
 * @returns {InputPiece}
 */
export function inputPiece(event, ctx, config) {
  const piece = { ...identity(event, ctx), trigger: shortText(ctx?.trigger) };
  if (config.captureText) {
    const { text, truncated } = renderInput(event, config);
    piece.text = text;
    piece.truncated = truncated;
  }
  return compact(piece);
}

/**
 * From hook `model_call_started`; `nowMs` is when the hook ran.
 * @returns {CallStartPiece}
 */
export function callStartPiece(event, ctx, nowMs) {
  return compact({
    ...identity(event, ctx),
    callId: shortText(event?.callId),
    api: shortText(event?.api),
    transport: shortText(event?.transport),
    startedAtMs: count(nowMs),
  });
}

/**
 * From hook `model_call_ended`; `nowMs` is when the hook ran.
 * @returns {CallEndPiece}
 */
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

/** @returns {ProviderError | undefined} */
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

/**
 * From hook `llm_output` (once per run attempt, after its last model call).
 * @returns {OutputPiece}
 */
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

/**
 * From diagnostic event `model.usage` (after a run; no runId, joined by W3C trace id).
 * @returns {UsagePiece}
 */
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
