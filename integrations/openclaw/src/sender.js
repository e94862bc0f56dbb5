// A bounded buffer drained to openclaw-trace in batches, off the hook path.
//
// `offer()` is all a hook ever touches: it appends to an in-memory array and
// returns. A timer (unref'ed, so it never keeps the gateway alive) sends the
// buffer as JSON arrays, one request at a time, each aborted after
// `requestTimeoutMs`. Nothing is retried: a batch that fails is dropped and
// counted by reason, the daemon being a local sidecar that is either up or
// not. A full buffer drops the new event and counts it; so does an event that
// cannot be serialised, alone, without losing the rest of its batch. Events a
// bug loses mid-send are counted too, as "internal": none goes uncounted.

import { performance } from "node:perf_hooks";
import { redactUrls } from "./redact.js";
import { unrefTimers } from "./timers.js";

const KINDS = Object.freeze({ traces: "/v1/traces", errors: "/v1/errors" });
const MAX_REQUEST_BYTES = 512 * 1024;
const REPORT_INTERVAL_MS = 60_000;

const defaultTimers = unrefTimers;

function errorReason(err) {
  if (err?.name === "TimeoutError" || err?.name === "AbortError") return "timeout";
  return "unreachable";
}

// Never throws: it runs inside catch blocks, where anything may have been
// thrown (a toJSON can throw an object with no prototype, which String() refuses).
function describe(err) {
  try {
    const cause = err?.cause?.code ?? err?.cause?.message;
    return `${err?.name ?? "Error"}: ${err?.message ?? String(err)}${cause ? ` (${cause})` : ""}`;
  } catch {
    return "an error that cannot be printed";
  }
}

export class Sender {
  #config;
  #fetch;
  #now;
  #timers;
  #logger;
  #queues = { traces: [], errors: [] };
  #size = 0;
  #timer;
  #timerDelay;
  #inFlight;
  #stopped = false;
  #lastReportAtMs = -Infinity;
  #droppedSinceReport = 0;
  // Events the current send took off the buffer and has not yet counted as
  // sent or dropped; what is left of them when a bug ends the send is lost.
  #unsettled = 0;
  #counters = {
    offered: { traces: 0, errors: 0 },
    sent: { traces: 0, errors: 0 },
    dropped: {},
    requests: { ok: 0, failed: 0 },
    lastError: undefined,
  };

  /**
   * @param {object} options
   * @param {object} options.config resolved plugin config (endpoint, token, batchSize, …)
   * @param {Function} [options.fetch] WHATWG fetch; Node's own by default
   * @param {() => number} [options.now] Unix ms clock
   * @param {{set: Function, clear: Function}} [options.timers]
   * @param {object} [options.logger] `{ warn(msg) }`; drops are logged at most once a minute
   */
  constructor({ config, fetch = globalThis.fetch, now = Date.now, timers = defaultTimers(), logger }) {
    this.#config = config;
    this.#fetch = fetch;
    this.#now = now;
    this.#timers = timers;
    this.#logger = logger;
  }

  /**
   * Queues one event for `kind` ("traces" | "errors"). Never blocks, never
   * throws; false when the event was dropped (buffer full, or stopped).
   */
  offer(kind, event) {
    if (this.#stopped) return this.#drop("stopped", 1);
    if (this.#size >= this.#config.maxBufferEvents) return this.#drop("buffer_full", 1);
    this.#queues[kind].push(event);
    this.#size += 1;
    this.#counters.offered[kind] += 1;
    this.#schedule(this.#size >= this.#config.batchSize ? 0 : this.#config.flushIntervalMs);
    return true;
  }

  /**
   * Sends everything buffered now. Resolves true when the buffer is empty
   * (sent or dropped) within `timeoutMs`, false otherwise.
   */
  async flush(timeoutMs = this.#config.requestTimeoutMs * 2) {
    // A monotonic deadline: the wall clock may jump (or be a test's).
    const deadline = performance.now() + timeoutMs;
    while ((this.#size > 0 || this.#inFlight) && performance.now() < deadline) {
      if (!this.#inFlight) this.#startSending();
      const left = Math.max(0, deadline - performance.now());
      let handle;
      const expired = new Promise((resolve) => {
        handle = setTimeout(resolve, left);
        handle.unref?.();
      });
      await Promise.race([this.#inFlight, expired]);
      clearTimeout(handle);
    }
    return this.#size === 0 && !this.#inFlight;
  }

  /** Final flush, then refuses new events (they count as dropped "stopped"). Idempotent. */
  async stop(timeoutMs) {
    if (this.#stopped) return this.#size === 0;
    const drained = await this.flush(timeoutMs);
    this.#stopped = true;
    if (this.#timer !== undefined) this.#timers.clear(this.#timer);
    this.#timer = undefined;
    const left = this.#queues.traces.length + this.#queues.errors.length;
    if (left > 0) {
      this.#queues.traces = [];
      this.#queues.errors = [];
      this.#drop("stopped", left);
      this.#size = 0;
    }
    return drained;
  }

  /** A snapshot of the counters; `dropped` is split by reason. */
  stats() {
    const c = this.#counters;
    const droppedTotal = Object.values(c.dropped).reduce((a, b) => a + b, 0);
    return {
      buffered: this.#size,
      offered: { ...c.offered },
      sent: { ...c.sent },
      dropped: { ...c.dropped },
      droppedTotal,
      requests: { ...c.requests },
      lastError: c.lastError,
    };
  }

  #drop(reason, n) {
    if (n > 0) {
      this.#counters.dropped[reason] = (this.#counters.dropped[reason] ?? 0) + n;
      this.#droppedSinceReport += n;
      this.#report();
    }
    return false;
  }

  #report() {
    const now = this.#now();
    if (this.#droppedSinceReport === 0 || now - this.#lastReportAtMs < REPORT_INTERVAL_MS) return;
    const { dropped, lastError } = this.stats();
    const reasons = Object.entries(dropped)
      .map(([reason, n]) => `${reason}=${n}`)
      .join(" ");
    try {
      this.#logger?.warn?.(
        `openclaw-trace: dropped ${this.#droppedSinceReport} event(s) since the last report; totals ${reasons}` +
          (lastError ? `; last error: ${lastError}` : ""),
      );
    } catch {
      // The gateway's logger failed: the drops stay counted in stats(), and a
      // throw from here would lose the rest of a batch or escape offer().
    }
    this.#droppedSinceReport = 0;
    this.#lastReportAtMs = now;
  }

  #schedule(delayMs) {
    if (this.#stopped) return;
    if (this.#timer !== undefined) {
      if (delayMs >= this.#timerDelay) return;
      this.#timers.clear(this.#timer);
    }
    this.#timerDelay = delayMs;
    this.#timer = this.#timers.set(() => {
      this.#timer = undefined;
      if (!this.#inFlight) this.#startSending();
    }, delayMs);
  }

  #startSending() {
    this.#inFlight = this.#sendBuffered()
      .catch((err) => {
        // Only a bug gets here (request errors are handled in #post): the
        // events it lost are counted and reported like any other drop.
        const lost = this.#unsettled;
        this.#unsettled = 0;
        this.#noteError(`send failed: ${describe(err)}`);
        this.#drop("internal", lost);
      })
      .finally(() => {
        this.#inFlight = undefined;
        if (this.#size > 0) {
          this.#schedule(this.#size >= this.#config.batchSize ? 0 : this.#config.flushIntervalMs);
        }
      });
  }

  async #sendBuffered() {
    for (const kind of Object.keys(KINDS)) {
      const batch = this.#queues[kind].splice(0, this.#config.batchSize);
      this.#size -= batch.length;
      this.#unsettled += batch.length;
      for (const body of this.#bodies(kind, batch)) await this.#post(kind, body.json, body.count);
    }
  }

  // JSON arrays of at most MAX_REQUEST_BYTES each (the daemon refuses bodies over 1 MiB).
  *#bodies(kind, batch) {
    let parts = [];
    let bytes = 2;
    for (const event of batch) {
      const json = this.#serialise(kind, event);
      if (json === undefined) continue;
      const size = Buffer.byteLength(json, "utf8") + 1;
      if (size + 2 > MAX_REQUEST_BYTES) {
        this.#settle(1, "too_large");
        continue;
      }
      if (bytes + size > MAX_REQUEST_BYTES && parts.length > 0) {
        yield { json: `[${parts.join(",")}]`, count: parts.length };
        parts = [];
        bytes = 2;
      }
      parts.push(json);
      bytes += size;
    }
    if (parts.length > 0) yield { json: `[${parts.join(",")}]`, count: parts.length };
  }

  // The batch is already off the buffer: an event JSON cannot hold (a BigInt, a
  // cycle, a throwing toJSON) is dropped and counted alone, and the rest of
  // its batch still goes out. undefined when dropped.
  #serialise(kind, event) {
    let json;
    let problem = "not a JSON value";
    try {
      json = JSON.stringify(event);
    } catch (err) {
      problem = describe(err);
    }
    if (typeof json === "string") return json;
    this.#noteError(`${kind} event not serialisable: ${problem}`);
    this.#settle(1, "unserializable");
    return undefined;
  }

  async #post(kind, json, n) {
    const headers = { "Content-Type": "application/json" };
    if (this.#config.token) headers.Authorization = `Bearer ${this.#config.token}`;
    let response;
    try {
      response = await this.#fetch(this.#config.endpoint + KINDS[kind], {
        method: "POST",
        headers,
        body: json,
        signal: AbortSignal.timeout(this.#config.requestTimeoutMs),
      });
    } catch (err) {
      this.#fail(errorReason(err), n, `POST ${KINDS[kind]}: ${describe(err)}`);
      return;
    }
    let text = "";
    try {
      text = await response.text();
    } catch {
      // The status is what matters; a body cut short changes nothing.
    }
    if (response.ok) {
      this.#counters.requests.ok += 1;
      this.#counters.sent[kind] += n;
      this.#settle(n);
      return;
    }
    const reason =
      response.status === 401 || response.status === 403
        ? "unauthorized"
        : response.status === 413
          ? "too_large"
          : response.status >= 400 && response.status < 500
            ? "rejected"
            : "http_error";
    this.#fail(reason, n, `POST ${KINDS[kind]}: HTTP ${response.status} ${text.slice(0, 300)}`.trim());
  }

  #fail(reason, n, message) {
    this.#counters.requests.failed += 1;
    this.#noteError(message);
    this.#settle(n, reason);
  }

  // `n` events of the current send are counted: sent (no reason) or dropped.
  #settle(n, reason) {
    this.#unsettled -= n;
    if (reason) this.#drop(reason, n);
  }

  // Every error the sender keeps goes through here: it is logged and shown in
  // stats(), and fetch's own messages quote the URL, user and password included.
  #noteError(message) {
    this.#counters.lastError = redactUrls(message, this.#config.endpoint);
  }
}
