// Joins the pieces of one model call that arrive separately into one trace.
//
// What OpenClaw sends, per run attempt (a retried run reuses its runId and
// even its callIds, so an attempt is the unit, not a runId):
//   llm_input            once, before the first call     → input text
//   model_call_started   per call (callId)               → start time
//   model_call_ended     per call                        → latency, outcome, bytes
//   llm_output           once, after the last call       → output text, usage, provider error
//   agent_end / run.completed                            → identity, run failure
//   model.usage (diag)   once, last, no runId            → channel, usage; joined by W3C trace id
//
// When a call is emitted (each exactly once):
//   - a call whose successor call has started: at once (it is not the last);
//   - the attempt's last calls: when `model.usage` arrives for the attempt
//     (the last piece), else `joinGraceMs` after the latest piece of the
//     attempt (each new piece re-arms the timer);
//   - a new attempt (another llm_input, or a call starting after
//     llm_output) first settles the previous one;
//   - a call that started and never ended is dropped after `openCallTtlMs`
//     (counted as `expiredCalls`); `flushAll()` (shutdown) settles everything.
// At most `maxRuns` attempts are held; a new one beyond that settles the
// oldest first (`evictedRuns`). A piece for an attempt already settled is
// dropped and counted (`latePieces`) rather than sent as a second trace.
//
// Not thread-safe in any sense that matters to Node: all calls and timer
// callbacks run on the gateway's event loop.
import { unrefTimers } from "./timers.js";

const FINISHED_KEEP_FACTOR = 4;

const defaultTimers = unrefTimers;

export class CallCorrelator {
  #runs = new Map();
  #finished = new Map();
  #timers;
  #emit;
  #joinGraceMs;
  #openCallTtlMs;
  #maxRuns;
  #counters = { emittedCalls: 0, evictedRuns: 0, expiredCalls: 0, latePieces: 0, unmatchedUsage: 0 };

  /**
   * @param {object} options
   * @param {(joined: import("./events.js").JoinedCall) => void} options.emit
   *   called once per call (events.buildCallEvents turns it into events)
   * @param {number} options.joinGraceMs
   * @param {number} [options.openCallTtlMs] how long a started call may stay open
   * @param {number} [options.maxRuns] attempts held at most
   * @param {{set: Function, clear: Function}} [options.timers] unref'ed timers by default
   */
  constructor({ emit, joinGraceMs, openCallTtlMs = 15 * 60_000, maxRuns = 256, timers = defaultTimers() }) {
    this.#emit = emit;
    this.#joinGraceMs = joinGraceMs;
    this.#openCallTtlMs = openCallTtlMs;
    this.#maxRuns = maxRuns;
    this.#timers = timers;
  }

  /**
   * Hook `llm_input`: starts an attempt (settling the previous one of this runId).
   * @param {import("./pieces.js").InputPiece} piece
   */
  input(piece) {
    if (!piece.runId) return;
    let run = this.#runs.get(piece.runId);
    if (run && (run.input || run.output || run.calls.length > 0)) {
      this.#finish(run);
      run = undefined;
    }
    run ??= this.#open(piece.runId);
    run.input = piece;
    this.#touch(run, piece);
  }

  /** @param {import("./pieces.js").CallStartPiece} piece hook `model_call_started` */
  callStarted(piece) {
    if (!piece.runId) return;
    let run = this.#runs.get(piece.runId);
    if (run?.output) {
      this.#finish(run);
      run = undefined;
    }
    run ??= this.#open(piece.runId);
    if (run.calls.some((c) => c.callId === piece.callId && !c.end)) return;
    for (const [index, call] of run.calls.entries()) {
      if (call.end && !call.emitted) this.#emitCall(run, call, index, false);
    }
    run.calls.push({ callId: piece.callId, start: piece, end: undefined, emitted: false });
    this.#touch(run, piece);
  }

  /** @param {import("./pieces.js").CallEndPiece} piece hook `model_call_ended` */
  callEnded(piece) {
    const run = this.#existing(piece.runId);
    if (!run) return;
    let call = run.calls.findLast((c) => c.callId === piece.callId && !c.end);
    if (!call) {
      call = { callId: piece.callId, start: undefined, end: undefined, emitted: false };
      run.calls.push(call);
    }
    call.end = piece;
    this.#touch(run, piece);
  }

  /**
   * Hook `llm_output`: the attempt's text, usage and provider error.
   * @param {import("./pieces.js").OutputPiece} piece
   */
  output(piece) {
    let run = this.#existing(piece.runId);
    if (!run) return;
    if (run.output) {
      // A second output with no llm_input between: a new attempt we saw nothing else of.
      this.#finish(run);
      run = this.#open(piece.runId);
    }
    run.output = piece;
    this.#touch(run, piece);
  }

  /**
   * Hook `agent_end` and similar: identity only; never starts an attempt.
   * @param {string | undefined} runId
   * @param {import("./events.js").RunContext} piece
   */
  runInfo(runId, piece) {
    const run = runId === undefined ? undefined : this.#runs.get(runId);
    if (run) this.#touch(run, piece);
  }

  /**
   * Diagnostic `model.usage`: the last piece of an attempt; settles it at once.
   * @param {import("./pieces.js").UsagePiece} piece
   */
  usage(piece) {
    let match;
    if (piece.traceId) {
      for (const run of this.#runs.values()) {
        if (run.traceId === piece.traceId) match = run;
      }
    }
    if (!match) {
      this.#counters.unmatchedUsage += 1;
      return;
    }
    match.usage = piece;
    this.#remember(match, piece);
    this.#settle(match, false);
  }

  /** Settles every attempt now (shutdown). */
  flushAll() {
    for (const run of [...this.#runs.values()]) this.#finish(run);
  }

  /** Counters and the number of attempts held. */
  stats() {
    return { pendingRuns: this.#runs.size, ...this.#counters };
  }

  #existing(runId) {
    if (!runId) return undefined;
    const run = this.#runs.get(runId);
    if (run) return run;
    if (this.#finished.has(runId)) {
      this.#counters.latePieces += 1;
      return undefined;
    }
    return this.#open(runId);
  }

  #open(runId) {
    if (this.#runs.size >= this.#maxRuns) {
      const oldest = this.#runs.values().next().value;
      this.#counters.evictedRuns += 1;
      this.#finish(oldest);
    }
    this.#finished.delete(runId);
    const run = { runId, traceId: undefined, input: undefined, output: undefined, usage: undefined };
    run.calls = [];
    run.context = {};
    run.timer = undefined;
    this.#runs.set(runId, run);
    return run;
  }

  // Keeps identity fields from every piece (the first value seen wins) and the W3C trace id.
  #remember(run, piece) {
    for (const key of ["agentId", "channel", "sessionKey", "sessionId"]) {
      if (run.context[key] === undefined && piece?.[key] !== undefined) run.context[key] = piece[key];
    }
    run.traceId ??= piece?.trace?.w3c_trace_id;
  }

  #touch(run, piece) {
    this.#remember(run, piece);
    if (run.timer !== undefined) this.#timers.clear(run.timer);
    const open = run.calls.some((c) => !c.end);
    run.timer = this.#timers.set(
      () => {
        run.timer = undefined;
        if (open) this.#finish(run);
        else this.#settle(run, false);
      },
      open ? this.#openCallTtlMs : this.#joinGraceMs,
    );
  }

  #emitCall(run, call, index, isFinal) {
    call.emitted = true;
    this.#counters.emittedCalls += 1;
    this.#emit({
      call: { start: call.start, end: call.end },
      input: index === 0 ? run.input : undefined,
      output: isFinal ? run.output : undefined,
      usage: isFinal ? run.usage : undefined,
      context: { ...run.context },
    });
  }

  // Emits the ended calls; the attempt is done when no call is still open.
  #settle(run, expireOpen) {
    if (run.calls.length === 0 && (run.output || run.usage)) {
      // A gateway without model_call_* hooks: the output is the call.
      run.calls.push({ callId: undefined, start: undefined, end: {}, emitted: false });
    }
    const open = run.calls.filter((c) => !c.end).length;
    const last = run.calls.length - 1;
    for (const [index, call] of run.calls.entries()) {
      if (call.end && !call.emitted) this.#emitCall(run, call, index, index === last && open === 0);
    }
    if (open > 0 && !expireOpen) return;
    this.#counters.expiredCalls += open;
    this.#close(run);
  }

  #finish(run) {
    this.#settle(run, true);
  }

  #close(run) {
    if (run.timer !== undefined) this.#timers.clear(run.timer);
    run.timer = undefined;
    this.#runs.delete(run.runId);
    this.#finished.set(run.runId, true);
    const keep = this.#maxRuns * FINISHED_KEEP_FACTOR;
    while (this.#finished.size > keep) this.#finished.delete(this.#finished.keys().next().value);
  }
}
