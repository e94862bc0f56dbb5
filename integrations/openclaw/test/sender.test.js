import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { resolveConfig } from "../src/config.js";
import { Sender } from "../src/sender.js";
import { deadEndpoint, startReceiver } from "../testing/receiver.js";

const receivers = [];
async function receiver(answer) {
  const r = await startReceiver(answer);
  receivers.push(r);
  return r;
}
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
});

function sender(config, logs = []) {
  return new Sender({ config: resolveConfig(config), logger: { warn: (m) => logs.push(m) } });
}

const trace = (n, extra = {}) => ({ provider: "p", model: "m", metadata: { n }, ...extra });

test("events wait for the timer and go out as one JSON array per kind", async () => {
  const r = await receiver();
  const s = sender({ endpoint: r.url, flushIntervalMs: 20 });
  assert.equal(s.offer("traces", trace(1)), true);
  assert.equal(s.offer("traces", trace(2)), true);
  assert.equal(s.offer("errors", { error_type: "crash", message: "x" }), true);
  assert.equal(r.requests.length, 0, "nothing is sent from inside offer()");
  await r.waitFor(2);
  assert.deepStrictEqual(r.events("traces"), [trace(1), trace(2)]);
  assert.deepStrictEqual(r.events("errors"), [{ error_type: "crash", message: "x" }]);
  assert.deepStrictEqual(
    r.requests.map((q) => q.path),
    ["/v1/traces", "/v1/errors"],
  );
  assert.equal(s.stats().buffered, 0);
  await s.stop(1000);
});

test("a full batch is sent without waiting for the interval", async () => {
  const r = await receiver();
  const s = sender({ endpoint: r.url, batchSize: 3, flushIntervalMs: 60000 });
  for (const n of [1, 2, 3]) s.offer("traces", trace(n));
  await r.waitFor(1);
  assert.equal(r.requests[0].body.length, 3);
  await s.stop(1000);
});

test("batches are split to stay well under the daemon's 1 MiB body limit", async () => {
  const r = await receiver();
  const s = sender({ endpoint: r.url, batchSize: 1000, flushIntervalMs: 60000 });
  const big = "x".repeat(30 * 1024);
  for (let n = 0; n < 40; n += 1) s.offer("traces", trace(n, { input_text: big }));
  assert.equal(await s.flush(5000), true);
  const posts = r.requests.filter((q) => q.path === "/v1/traces");
  assert.ok(posts.length >= 3, `${posts.length} requests`);
  for (const post of posts) assert.ok(Buffer.byteLength(post.raw) <= 512 * 1024);
  assert.deepStrictEqual(
    r.events("traces").map((e) => e.metadata.n),
    [...Array(40).keys()],
  );
  assert.equal(s.stats().sent.traces, 40);
  await s.stop(1000);
});

test("a full buffer drops the new event, counts it, and offer() says so", async () => {
  const r = await receiver();
  const s = sender({ endpoint: r.url, maxBufferEvents: 3, batchSize: 1000, flushIntervalMs: 60000 });
  const accepted = [1, 2, 3, 4, 5].map((n) => s.offer("traces", trace(n)));
  assert.deepStrictEqual(accepted, [true, true, true, false, false]);
  assert.deepEqual(s.stats().dropped, { buffer_full: 2 });
  await s.flush(2000);
  assert.equal(r.events("traces").length, 3);
  await s.stop(1000);
});

test("daemon down: the batch is dropped and counted, the warning logged once a minute at most", async () => {
  const logs = [];
  const s = sender({ endpoint: await deadEndpoint(), flushIntervalMs: 10 }, logs);
  for (const n of [1, 2, 3]) s.offer("traces", trace(n));
  assert.equal(await s.flush(2000), true);
  for (const n of [4, 5]) s.offer("traces", trace(n));
  assert.equal(await s.flush(2000), true);
  const stats = s.stats();
  assert.deepEqual(stats.dropped, { unreachable: 5 });
  assert.equal(stats.droppedTotal, 5);
  assert.deepEqual(stats.requests, { ok: 0, failed: 2 });
  assert.match(stats.lastError, /POST \/v1\/traces: TypeError: fetch failed \(ECONNREFUSED\)/);
  assert.equal(logs.length, 1);
  assert.match(logs[0], /dropped 3 event\(s\).*unreachable=3.*ECONNREFUSED/);
  await s.stop(1000);
});

test("a daemon that does not answer is given up on after requestTimeoutMs", async () => {
  const r = await receiver(() => "hang");
  const s = sender({ endpoint: r.url, requestTimeoutMs: 150, flushIntervalMs: 10 });
  s.offer("traces", trace(1));
  s.offer("errors", { error_type: "crash", message: "x" });
  assert.equal(await s.flush(3000), true);
  assert.deepEqual(s.stats().dropped, { timeout: 2 });
  await s.stop(1000);
});

test("refusals are counted by reason", async () => {
  const statuses = [400, 401, 413, 503];
  let i = 0;
  const r = await receiver(() => statuses[i++]);
  const s = sender({ endpoint: r.url, batchSize: 1, flushIntervalMs: 60000 });
  for (const n of [1, 2, 3, 4]) {
    s.offer("traces", trace(n));
    await s.flush(2000);
  }
  assert.deepEqual(s.stats().dropped, { rejected: 1, unauthorized: 1, too_large: 1, http_error: 1 });
  assert.match(s.stats().lastError, /HTTP 503 \{"error":"scripted failure"\}/);
  await s.stop(1000);
});

test("the bearer token is sent when configured", async () => {
  const r = await receiver();
  const s = sender({ endpoint: r.url, token: "s3cret" });
  s.offer("traces", trace(1));
  await s.flush(2000);
  assert.equal(r.requests[0].headers.authorization, "Bearer s3cret");
  await s.stop(1000);
});

test("stop sends what is left, then refuses new events; stopping twice is harmless", async () => {
  const r = await receiver();
  const s = sender({ endpoint: r.url, flushIntervalMs: 60000 });
  s.offer("traces", trace(1));
  assert.equal(await s.stop(2000), true);
  assert.equal(r.events("traces").length, 1);
  assert.equal(s.offer("traces", trace(2)), false);
  assert.equal(await s.stop(2000), true);
  assert.deepEqual(s.stats().dropped, { stopped: 1 });
});

test("errors and the drop warning show the endpoint as scheme://host:port only", async () => {
  const logs = [];
  const { host } = new URL(await deadEndpoint());
  // Node's fetch refuses a URL holding a user and password, quoting it whole in its
  // error. resolveConfig refuses such an endpoint; the sender hides it all the same.
  const config = { ...resolveConfig({ flushIntervalMs: 10 }), endpoint: `http://me:s3cret@${host}/hook/s3cret?k=s3cret` };
  const s = new Sender({ config, logger: { warn: (m) => logs.push(m) } });
  s.offer("traces", trace(1));
  assert.equal(await s.flush(2000), true);
  const { dropped, lastError } = s.stats();
  assert.deepEqual(dropped, { unreachable: 1 });
  assert.equal(
    lastError,
    `POST /v1/traces: TypeError: Request cannot be constructed from a URL that includes credentials: http://${host}`,
  );
  assert.equal(logs.length, 1);
  assert.ok(!logs[0].includes("s3cret"), logs[0]);
  await s.stop(1000);
});

test("an event JSON cannot hold is dropped and counted alone; the rest and later batches are sent", async () => {
  const logs = [];
  const r = await receiver();
  const s = sender({ endpoint: r.url, flushIntervalMs: 60000 }, logs);
  const circular = trace(3);
  circular.metadata.self = circular;
  s.offer("traces", trace(1));
  s.offer("traces", trace(2, { input_tokens: 10n }));
  s.offer("traces", circular);
  s.offer("traces", trace(4));
  assert.equal(await s.flush(2000), true);
  assert.deepEqual(s.stats().dropped, { unserializable: 2 });
  assert.match(s.stats().lastError, /^traces event not serialisable: TypeError: Converting circular structure/);
  assert.equal(logs.length, 1, "one warning a minute at most");
  assert.match(logs[0], /dropped 1 event\(s\).*unserializable=1.*serialize a BigInt/);
  s.offer("traces", trace(5));
  assert.equal(await s.flush(2000), true);
  assert.deepStrictEqual(
    r.events("traces").map((e) => e.metadata.n),
    [1, 4, 5],
  );
  assert.equal(s.stats().sent.traces, 3);
  await s.stop(1000);
});

test("an event whose toJSON throws something unprintable is still dropped alone", async () => {
  const r = await receiver();
  const s = sender({ endpoint: r.url, flushIntervalMs: 60000 });
  s.offer("traces", trace(1));
  s.offer("traces", {
    ...trace(2),
    toJSON() {
      throw Object.create(null); // String() of it throws too
    },
  });
  s.offer("traces", trace(3));
  assert.equal(await s.flush(2000), true);
  assert.deepEqual(s.stats().dropped, { unserializable: 1 });
  assert.equal(s.stats().lastError, "traces event not serialisable: an error that cannot be printed");
  assert.deepStrictEqual(
    r.events("traces").map((e) => e.metadata.n),
    [1, 3],
  );
  await s.stop(1000);
});

test("a gateway logger that throws loses no event and never reaches the caller", async () => {
  const r = await receiver();
  let clock = 0;
  const s = new Sender({
    config: resolveConfig({ endpoint: r.url, flushIntervalMs: 60000, maxBufferEvents: 3 }),
    now: () => (clock += 60_000), // every drop is due a warning
    logger: {
      warn() {
        throw new Error("log closed");
      },
    },
  });
  s.offer("traces", trace(1));
  s.offer("traces", trace(2, { input_tokens: 10n }));
  s.offer("traces", trace(3));
  assert.equal(s.offer("traces", trace(4)), false);
  assert.equal(await s.flush(2000), true);
  assert.deepEqual(s.stats().dropped, { buffer_full: 1, unserializable: 1 });
  assert.deepStrictEqual(
    r.events("traces").map((e) => e.metadata.n),
    [1, 3],
  );
  await s.stop(1000);
});

test("events a bug loses mid-send are counted as 'internal' and warned about; later sends go on", async () => {
  const logs = [];
  const r = await receiver();
  // No real input reaches the send's outer catch (the tests above close the ways
  // there), so a fetch that breaks its contract once, resolving to no Response,
  // stands in for a bug in the send.
  let calls = 0;
  const brokenOnce = (url, init) => (calls++ === 0 ? Promise.resolve(undefined) : fetch(url, init));
  const s = new Sender({
    config: resolveConfig({ endpoint: r.url, flushIntervalMs: 60000 }),
    fetch: brokenOnce,
    logger: { warn: (m) => logs.push(m) },
  });
  s.offer("traces", trace(1));
  s.offer("traces", trace(2));
  s.offer("errors", { error_type: "crash", message: "x" });
  assert.equal(await s.flush(2000), true);
  const { dropped, droppedTotal, lastError } = s.stats();
  assert.deepEqual(dropped, { internal: 2 });
  assert.equal(droppedTotal, 2);
  assert.match(lastError, /^send failed: TypeError: /);
  assert.equal(logs.length, 1);
  assert.match(logs[0], /dropped 2 event\(s\) since the last report; totals internal=2; last error: send failed: TypeError/);
  // The errors were still in the buffer when the send failed: the next send took them.
  assert.equal(r.events("errors").length, 1);
  s.offer("traces", trace(3));
  assert.equal(await s.flush(2000), true);
  assert.deepStrictEqual(
    r.events("traces").map((e) => e.metadata.n),
    [3],
  );
  assert.deepEqual(s.stats().sent, { traces: 1, errors: 1 });
  assert.deepEqual(s.stats().dropped, { internal: 2 });
  await s.stop(1000);
});
