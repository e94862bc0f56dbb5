// Which agent runs failed for good, as opposed to attempts that were retried.
//
// OpenClaw retries a run whose model call failed: each attempt sends its own
// llm_input … llm_output and an agent_end with `success: true` (the attempt
// finished; its answer is the provider's error), and run.completed says
// "completed". What tells that the run gave up is the session: after the
// last attempt its state goes back to "idle", while a retry moves it from
// "processing" to "processing" (`run_replaced`). So a run whose latest
// attempt ended in an error is reported as failed when its session goes
// idle (or at shutdown); an attempt that succeeds clears it.
//
// Not shared across processes; all calls come from the gateway's event loop.

const MAX_TRACKED_RUNS = 1024;

export class RunFailures {
  #failed = new Map(); // runId → { output piece of the failed attempt, failed attempts so far }
  #report;

  /** @param {(runId: string, failure: {output: import("./pieces.js").OutputPiece, attempts: number}) => void} report */
  constructor(report) {
    this.#report = report;
  }

  /**
   * An attempt's `llm_output` piece: remembered when it failed, cleared when it did not.
   * @param {import("./pieces.js").OutputPiece} piece
   */
  attemptEnded(piece) {
    const runId = piece?.runId;
    if (!runId) return;
    if (piece.stopReason !== "error" && piece.error === undefined) {
      this.#failed.delete(runId);
      return;
    }
    const attempts = (this.#failed.get(runId)?.attempts ?? 0) + 1;
    this.#failed.delete(runId); // re-inserted last: the map stays in order of the latest failure
    this.#failed.set(runId, { output: piece, attempts });
    if (this.#failed.size > MAX_TRACKED_RUNS) this.#settle(this.#failed.keys().next().value);
  }

  /** Diagnostic `session.state`: a session back to idle settles its failed runs. */
  sessionState(evt) {
    if (evt?.state !== "idle") return;
    for (const [runId, { output }] of [...this.#failed]) {
      const sameSession =
        (evt.sessionKey !== undefined && output.sessionKey === evt.sessionKey) ||
        (evt.sessionId !== undefined && output.sessionId === evt.sessionId);
      if (sameSession) this.#settle(runId);
    }
  }

  /** Reports every run whose latest attempt failed (the gateway is stopping). */
  settleAll() {
    for (const runId of [...this.#failed.keys()]) this.#settle(runId);
  }

  get pending() {
    return this.#failed.size;
  }

  #settle(runId) {
    const failure = this.#failed.get(runId);
    this.#failed.delete(runId);
    if (failure) this.#report(runId, failure);
  }
}
