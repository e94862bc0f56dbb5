// Failed runs and gateway trouble → the daemon's /v1/errors events. Pure;
// the clock is passed in.
//
// A failed model call's own error is made with its trace (events.js); these
// are the failures no single call owns: a run that gave up after its
// retries, agent_end reporting a failed run, and the diagnostic events that
// report trouble. The category comes from classify.js; where it has nothing
// to go on, each event names its own fallback rather than "unknown".

import { classifyError, httpStatusOf } from "./classify.js";
import { SOURCE } from "./events.js";
import { amount, compact, count, shortText, truncateUtf8, wellFormed } from "./fields.js";
import { ERROR_MESSAGE_BYTES, identity, traceIds } from "./pieces.js";

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
 * last of which left `output` (with its provider error).
 *
 * @param {import("./pieces.js").OutputPiece} output
 * @param {number} attempts
 * @param {number} nowMs
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
