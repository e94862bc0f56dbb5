// A joined model call's pieces → the daemon's events: one /v1/traces event
// and, for a failed call, one /v1/errors event. Pure; no clock, no I/O.
//
// correlate.js decides which pieces belong to one call; this module only
// decides which piece a field is taken from when several carry it.

import { classifyError } from "./classify.js";
import { compact, count } from "./fields.js";

// The daemon keys on this value (its "plugin" feed, and dropping the log's and
// OTLP's copies of a run the plugin reported): it must not change.
/** `metadata.source` of every event the plugin sends. */
export const SOURCE = "openclaw-plugin";

/**
 * Identity gathered from every piece of a run attempt, the first value seen
 * winning (correlate.js). Values given by `runInfo` (agent_end,
 * run.completed) are taken from the gateway as they are, not normalised.
 * @typedef {object} RunContext
 * @property {string} [agentId]
 * @property {string} [channel]
 * @property {string} [sessionKey]
 * @property {string} [sessionId]
 */

/**
 * One model call as correlate.js emits it. `input` is set for the first call
 * of a run attempt, `output` and `usage` for its last; a gateway without the
 * model_call_* hooks gives a call with `end: {}` and no `start`.
 * @typedef {object} JoinedCall
 * @property {{start?: import("./pieces.js").CallStartPiece, end?: import("./pieces.js").CallEndPiece}} [call]
 * @property {import("./pieces.js").InputPiece} [input]
 * @property {import("./pieces.js").OutputPiece} [output]
 * @property {import("./pieces.js").UsagePiece} [usage]
 * @property {RunContext} [context]
 */

/**
 * A failed call: the provider's details, a message (the provider's, else what
 * the gateway measured) and a category (classify.js).
 * @typedef {import("./pieces.js").ProviderError & {message: string, category: string}} CallFailure
 */

// openclaw-trace counts as OpenClaw does: prompt_tokens are the input tokens
// not read from or written to the prompt cache; the cache ones have their own
// fields, and total_tokens covers all four.
/** @param {import("./pieces.js").Usage | undefined} usage */
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

/**
 * @param {import("./pieces.js").CallEndPiece | undefined} end
 * @param {import("./pieces.js").OutputPiece | undefined} output
 * @returns {CallFailure | undefined}
 */
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
 * The native events for one joined model call. Returns `{ trace, error }`,
 * `error` undefined unless the call failed.
 *
 * @param {JoinedCall} joined
 * @returns {{trace: object, error: object | undefined}}
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
