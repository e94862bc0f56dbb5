import assert from "node:assert/strict";
import { test } from "node:test";
import { CallCorrelator } from "../src/correlate.js";

// A manual clock for the correlator's timers: advance(ms) runs what falls due.
class ManualTimers {
  now = 0;
  #next = 1;
  #due = new Map();
  set(fn, ms) {
    const id = this.#next++;
    this.#due.set(id, { at: this.now + ms, fn });
    return id;
  }
  clear(id) {
    this.#due.delete(id);
  }
  get pending() {
    return this.#due.size;
  }
  advance(ms) {
    const until = this.now + ms;
    for (;;) {
      const ready = [...this.#due.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at);
      if (ready.length === 0) break;
      const [id, timer] = ready[0];
      this.#due.delete(id);
      this.now = timer.at;
      timer.fn();
    }
    this.now = until;
  }
}

const GRACE = 1000;
const TTL = 60_000;

function setup(options = {}) {
  const timers = new ManualTimers();
  const emitted = [];
  const correlator = new CallCorrelator({
    emit: (joined) => emitted.push(joined),
    joinGraceMs: GRACE,
    openCallTtlMs: TTL,
    timers,
    ...options,
  });
  return { timers, emitted, correlator };
}

const trace = (id) => ({ w3c_trace_id: id, w3c_span_id: "s" });
const input = (runId, extra = {}) => ({ runId, text: `in ${runId}`, trace: trace(`t-${runId}`), ...extra });
const start = (runId, n) => ({ runId, callId: `${runId}:model:${n}`, startedAtMs: n });
const end = (runId, n, extra = {}) => ({
  runId,
  callId: `${runId}:model:${n}`,
  durationMs: n,
  outcome: "completed",
  ...extra,
});
const output = (runId, extra = {}) => ({ runId, text: `out ${runId}`, ...extra });
const callIds = (emitted) => emitted.map((j) => j.call.end?.callId ?? j.call.start?.callId);

test("one call: emitted once, joinGraceMs after its last piece, with input and output", () => {
  const { timers, emitted, correlator } = setup();
  correlator.input(input("r"));
  correlator.callStarted(start("r", 1));
  correlator.callEnded(end("r", 1));
  timers.advance(GRACE - 1);
  correlator.output(output("r", { agentId: "main" }));
  timers.advance(GRACE - 1);
  assert.equal(emitted.length, 0, "every piece re-arms the grace timer");
  timers.advance(1);
  assert.equal(emitted.length, 1);
  const [joined] = emitted;
  assert.deepStrictEqual(joined.call, { start: start("r", 1), end: end("r", 1) });
  assert.equal(joined.input.text, "in r");
  assert.equal(joined.output.text, "out r");
  assert.deepStrictEqual(joined.context, { agentId: "main" });
  assert.equal(correlator.stats().pendingRuns, 0);
  assert.equal(timers.pending, 0);
  correlator.flushAll();
  assert.equal(emitted.length, 1, "never twice");
});

test("model.usage with the run's W3C trace id completes the join at once", () => {
  const { timers, emitted, correlator } = setup();
  correlator.input(input("r"));
  correlator.callStarted(start("r", 1));
  correlator.callEnded(end("r", 1));
  correlator.output(output("r"));
  correlator.usage({ traceId: "t-other", channel: "x" });
  assert.equal(emitted.length, 0);
  correlator.usage({ traceId: "t-r", channel: "telegram", usage: { total: 3 } });
  assert.equal(emitted.length, 1);
  assert.equal(emitted[0].usage.channel, "telegram");
  assert.equal(emitted[0].context.channel, "telegram");
  assert.deepStrictEqual(correlator.stats(), {
    pendingRuns: 0,
    emittedCalls: 1,
    evictedRuns: 0,
    expiredCalls: 0,
    latePieces: 0,
    unmatchedUsage: 1,
  });
  assert.equal(timers.pending, 0);
});

test("a run with tool calls: a call is emitted when the next one starts; the last gets the output", () => {
  const { timers, emitted, correlator } = setup();
  correlator.input(input("r"));
  correlator.callStarted(start("r", 1));
  correlator.callEnded(end("r", 1));
  correlator.callStarted(start("r", 2));
  assert.deepStrictEqual(callIds(emitted), ["r:model:1"]);
  assert.equal(emitted[0].input.text, "in r");
  assert.equal(emitted[0].output, undefined);
  correlator.callEnded(end("r", 2));
  correlator.output(output("r"));
  timers.advance(GRACE);
  assert.deepStrictEqual(callIds(emitted), ["r:model:1", "r:model:2"]);
  assert.equal(emitted[1].input, undefined);
  assert.equal(emitted[1].output.text, "out r");
});

test("a retried run reuses runId and callId: each attempt is its own call", () => {
  const { timers, emitted, correlator } = setup();
  for (const attempt of [1, 2]) {
    correlator.input(input("r", { text: `attempt ${attempt}` }));
    correlator.callStarted(start("r", 1));
    correlator.callEnded(end("r", 1, { outcome: "error", durationMs: attempt }));
    correlator.output(output("r", { stopReason: "error" }));
  }
  assert.equal(emitted.length, 1, "the second llm_input settles the first attempt");
  timers.advance(GRACE);
  assert.equal(emitted.length, 2);
  assert.deepStrictEqual(
    emitted.map((j) => [j.input.text, j.call.end.durationMs]),
    [
      ["attempt 1", 1],
      ["attempt 2", 2],
    ],
  );
});

test("a piece arriving after its attempt was sent is counted, not sent again", () => {
  const { timers, emitted, correlator } = setup();
  correlator.callEnded(end("r", 1));
  correlator.output(output("r"));
  timers.advance(GRACE);
  correlator.output(output("r"));
  correlator.callEnded(end("r", 1));
  timers.advance(GRACE);
  assert.equal(emitted.length, 1);
  assert.equal(correlator.stats().latePieces, 2);
});

test("a call that starts and never ends is dropped after openCallTtlMs", () => {
  const { timers, emitted, correlator } = setup();
  correlator.input(input("r"));
  correlator.callStarted(start("r", 1));
  timers.advance(GRACE * 5);
  assert.equal(correlator.stats().pendingRuns, 1);
  timers.advance(TTL);
  assert.equal(emitted.length, 0);
  assert.equal(correlator.stats().expiredCalls, 1);
  assert.equal(correlator.stats().pendingRuns, 0);
});

test("at most maxRuns attempts are held; the oldest is settled to make room", () => {
  const { emitted, correlator } = setup({ maxRuns: 2 });
  for (const runId of ["a", "b", "c"]) {
    correlator.callStarted(start(runId, 1));
    correlator.callEnded(end(runId, 1));
  }
  assert.deepStrictEqual(callIds(emitted), ["a:model:1"]);
  assert.equal(correlator.stats().evictedRuns, 1);
  assert.equal(correlator.stats().pendingRuns, 2);
  correlator.flushAll();
  assert.deepStrictEqual(callIds(emitted), ["a:model:1", "b:model:1", "c:model:1"]);
});

test("a duplicate start of an open call is ignored; agent_end-like info never opens a run", () => {
  const { timers, emitted, correlator } = setup();
  correlator.runInfo("nobody", { agentId: "x" });
  assert.equal(correlator.stats().pendingRuns, 0);
  correlator.callStarted(start("r", 1));
  correlator.callStarted(start("r", 1));
  correlator.callEnded(end("r", 1));
  correlator.runInfo("r", { agentId: "main", channel: undefined });
  timers.advance(GRACE);
  assert.equal(emitted.length, 1);
  assert.deepStrictEqual(emitted[0].context, { agentId: "main" });
});

test("flushAll settles everything pending and drops only calls still open", () => {
  const { timers, emitted, correlator } = setup();
  correlator.callStarted(start("a", 1));
  correlator.callEnded(end("a", 1));
  correlator.callStarted(start("b", 1));
  correlator.flushAll();
  assert.deepStrictEqual(callIds(emitted), ["a:model:1"]);
  assert.equal(correlator.stats().expiredCalls, 1);
  assert.equal(correlator.stats().pendingRuns, 0);
  assert.equal(timers.pending, 0);
});
