// Wires hooks and diagnostic events → pieces (pieces) → joined calls
// (correlate) → native events (events, errors) → the bounded buffer (sender).
//
// Every handler returns undefined synchronously: it reduces the payload to a
// small piece, maybe joins it, maybe pushes to an in-memory buffer, and that
// is all. Nothing awaits the network, and an exception inside a handler is
// counted and logged (at most once a minute), never thrown into the gateway.

import { CallCorrelator } from "./correlate.js";
import { subscribeDiagnostics } from "./diagnostics.js";
import { agentEndError, diagnosticError, runFailedError } from "./errors.js";
import { buildCallEvents } from "./events.js";
import { callEndPiece, callStartPiece, inputPiece, outputPiece, usagePiece } from "./pieces.js";
import { RunFailures } from "./run-failures.js";
import { Sender } from "./sender.js";

const LOG_INTERVAL_MS = 60_000;
const MAX_REPORTED_RUNS = 1024;

/** The hook names the plugin registers, in the order a run sends them. */
export const HOOK_NAMES = Object.freeze([
  "llm_input",
  "model_call_started",
  "model_call_ended",
  "llm_output",
  "agent_end",
  "gateway_stop",
]);

/**
 * One plugin instance.
 *
 * @param {object} options
 * @param {object} options.config resolved config (config.js)
 * @param {object} [options.logger] OpenClaw's plugin logger (`info`, `warn`)
 * @param {Function} [options.fetch] for the sender
 * @param {() => number} [options.now] Unix ms clock
 * @param {object} [options.timers] `{ set, clear }` for the join grace timers
 * @param {Function} [options.importModule] loads the diagnostics SDK module
 * @returns {{ hooks: Record<string, Function>, onDiagnosticEvent: Function,
 *   startDiagnostics: Function, stats: Function, flush: Function, shutdown: Function, isStopped: Function }}
 */
export function createTracePlugin({ config, logger, fetch, now = Date.now, timers, importModule }) {
  const sender = new Sender({ config, fetch, now, logger });
  // Called from hooks and from promises that must never reject: a gateway logger that
  // throws is ignored rather than let into the gateway.
  const say = (level, text) => {
    try {
      logger?.[level]?.(text);
    } catch {
      // nothing left to tell it with
    }
  };
  const counters = { handlerErrors: 0, diagnosticsVia: "not started" };
  let lastHandlerLogAtMs = -Infinity;
  let unsubscribe = () => {};
  let stopping;
  // Runs already reported as failed: agent_end and run.completed both report the same failure.
  const reportedRuns = new Set();

  const offerCall = (joined) => {
    const { trace, error } = buildCallEvents(joined);
    sender.offer("traces", trace);
    if (error) sender.offer("errors", error);
  };
  const correlator = new CallCorrelator({ emit: offerCall, joinGraceMs: config.joinGraceMs, timers });

  const reportRunFailure = (runId, error) => {
    if (runId !== undefined) {
      if (reportedRuns.has(runId)) return;
      reportedRuns.add(runId);
      if (reportedRuns.size > MAX_REPORTED_RUNS) reportedRuns.delete(reportedRuns.values().next().value);
    }
    sender.offer("errors", error);
  };

  const runFailures = new RunFailures((runId, { output, attempts }) =>
    reportRunFailure(runId, runFailedError(output, attempts, now())),
  );

  const guard = (name, handler) =>
    function guarded(...args) {
      try {
        handler(...args);
      } catch (err) {
        counters.handlerErrors += 1;
        const t = now();
        if (t - lastHandlerLogAtMs >= LOG_INTERVAL_MS) {
          lastHandlerLogAtMs = t;
          const so = `ignored, ${counters.handlerErrors} so far`;
          say("warn", `openclaw-trace: ${name} handler failed (${so}): ${err?.stack ?? err}`);
        }
      }
      return undefined;
    };

  const hooks = {
    llm_input: (event, ctx) => correlator.input(inputPiece(event, ctx, config)),
    model_call_started: (event, ctx) => correlator.callStarted(callStartPiece(event, ctx, now())),
    model_call_ended: (event, ctx) => correlator.callEnded(callEndPiece(event, ctx, now())),
    llm_output: (event, ctx) => {
      const piece = outputPiece(event, ctx, config);
      correlator.output(piece);
      runFailures.attemptEnded(piece);
    },
    agent_end: (event, ctx) => {
      const runId = event?.runId ?? ctx?.runId;
      correlator.runInfo(runId, { agentId: ctx?.agentId, sessionKey: ctx?.sessionKey, sessionId: ctx?.sessionId });
      const error = agentEndError(event, ctx, now());
      if (error) reportRunFailure(error.metadata.run_id, error);
    },
    gateway_stop: () => {
      shutdown().catch(() => {});
    },
  };

  const onDiagnosticEvent = (evt) => {
    // Every line logged (ours included) is itself a diagnostic event: leave them at once,
    // so that nothing done for one can log and feed this listener again.
    if (!evt || typeof evt !== "object" || evt.type === "log.record") return;
    if (evt.type === "model.usage") {
      correlator.usage(usagePiece(evt));
      return;
    }
    if (evt.type === "session.state") {
      runFailures.sessionState(evt);
      return;
    }
    if (evt.type === "run.completed" || evt.type?.startsWith("harness.run.")) {
      correlator.runInfo(evt.runId, { channel: evt.channel, sessionKey: evt.sessionKey, sessionId: evt.sessionId });
    }
    const error = diagnosticError(evt);
    if (!error) return;
    if (error.error_type === "crash") reportRunFailure(error.metadata.run_id, error);
    else sender.offer("errors", error);
  };

  const guardedHooks = Object.fromEntries(HOOK_NAMES.map((name) => [name, guard(name, hooks[name])]));
  const guardedDiagnostic = guard("diagnostic event", onDiagnosticEvent);

  /** Subscribes to diagnostic events (see diagnostics.js); resolves to how, never rejects. */
  async function startDiagnostics(serviceContext) {
    if (stopping) return "stopped";
    unsubscribe();
    const result = await subscribeDiagnostics(serviceContext, guardedDiagnostic, importModule);
    if (stopping) {
      result.unsubscribe();
      return "stopped";
    }
    unsubscribe = result.unsubscribe;
    counters.diagnosticsVia = result.via;
    if (result.error) say("warn", `openclaw-trace: no diagnostic events (${result.error}); traces lack channel`);
    else say("info", `openclaw-trace: diagnostic events via ${result.via}`);
    return result.via;
  }

  /** Sends what is buffered; resolves true when the buffer is empty. Joins still pending stay pending. */
  function flush(timeoutMs) {
    return sender.flush(timeoutMs);
  }

  /** Settles every pending join, sends the buffer, stops. Idempotent; never rejects. */
  function shutdown(timeoutMs = config.requestTimeoutMs * 2) {
    stopping ??= (async () => {
      try {
        unsubscribe();
        correlator.flushAll();
        runFailures.settleAll();
        return await sender.stop(timeoutMs);
      } catch (err) {
        say("warn", `openclaw-trace: shutdown failed: ${err?.message ?? err}`);
        return false;
      }
    })();
    return stopping;
  }

  /** Counters of the whole pipeline, for tests and for humans. */
  function stats() {
    return { ...sender.stats(), correlator: correlator.stats(), pendingRunFailures: runFailures.pending, ...counters };
  }

  /** True once shutdown() was called: the instance sends nothing more. */
  function isStopped() {
    return stopping !== undefined;
  }

  return { hooks: guardedHooks, onDiagnosticEvent: guardedDiagnostic, startDiagnostics, stats, flush, shutdown, isStopped };
}
