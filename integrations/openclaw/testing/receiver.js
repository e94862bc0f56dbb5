// A real HTTP server on 127.0.0.1:0 standing in for openclaw-trace in tests:
// records every request and answers as scripted (a status, or hang).

import { createServer } from "node:http";

/**
 * Starts a receiver. `answer(request)` decides each reply:
 * a number (status, with a JSON body), or "hang" (never answer).
 * Resolves to `{ url, requests, events(kind), setAnswer(fn), waitFor(n), close() }`.
 */
export async function startReceiver(answer = () => 202) {
  const requests = [];
  const waiters = [];
  let decide = answer;
  const hung = new Set();

  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const request = { method: req.method, path: req.url, headers: req.headers, raw, body: JSON.parse(raw || "null") };
      requests.push(request);
      for (const waiter of [...waiters]) {
        if (requests.length >= waiter.n) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
      const verdict = decide(request);
      if (verdict === "hang") {
        hung.add(res);
        return;
      }
      const n = Array.isArray(request.body) ? request.body.length : 1;
      res.writeHead(verdict, { "Content-Type": "application/json" });
      res.end(JSON.stringify(verdict < 300 ? { received: n, queued: n, dropped: 0 } : { error: "scripted failure" }));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    /** Every event posted to /v1/<kind>, flattened across requests. */
    events(kind) {
      return requests
        .filter((r) => r.path === `/v1/${kind}`)
        .flatMap((r) => (Array.isArray(r.body) ? r.body : [r.body]));
    },
    setAnswer(fn) {
      decide = fn;
    },
    /** Resolves once `n` requests have arrived. */
    waitFor(n) {
      if (requests.length >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    async close() {
      for (const res of hung) res.destroy();
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A URL on 127.0.0.1 where nothing listens (a port just released). */
export async function deadEndpoint() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}
