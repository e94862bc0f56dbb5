// The gateway's work never waits on us and never sees our errors.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { performance } from "node:perf_hooks";
import { afterEach, test } from "node:test";
import plugin, { resetForTests, stats } from "../index.js";
import { resolveConfig } from "../src/config.js";
import { createTracePlugin, HOOK_NAMES } from "../src/plugin.js";
import { FAILING_TURN, GatewayDouble, GOOD_TURN, loadStep } from "../testing/gateway-double.js";
import { deadEndpoint, startReceiver } from "../testing/receiver.js";

// Generous: a hook does microseconds of work; this only catches one that waits on I/O.
const HOOK_BOUND_MS = 50;

// Waits, through public state only, for `condition` to hold (at most 5 s).
async function eventually(condition) {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited > 5000) throw new Error("condition never held");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const receivers = [];
afterEach(async () => {
  await resetForTests();
  for (const r of receivers.splice(0)) await r.close();
});

async function gatewayWithPlugin(pluginConfig, options) {
  const gateway = new GatewayDouble({ pluginConfig, ...options });
  gateway.load(plugin);
  await gateway.startServices();
  return gateway;
}

// Replays both recorded turns `times` times, timing every hook call.
function replayTimed(gateway, times) {
  let slowest = 0;
  const returned = [];
  for (let i = 0; i < times; i += 1) {
    for (const steps of [GOOD_TURN, FAILING_TURN]) {
      for (const step of steps) {
        const body = loadStep(step);
        const started = performance.now();
        if (step.startsWith("hook:")) returned.push(...gateway.runHook(body.hook, body.event, body.ctx));
        else gateway.emitDiagnostic(body.evt ?? body, body.meta);
        slowest = Math.max(slowest, performance.now() - started);
      }
    }
  }
  return { slowest, returned };
}

test("daemon down: every hook returns undefined at once; the drops are counted", async () => {
  const gateway = await gatewayWithPlugin({ endpoint: await deadEndpoint(), flushIntervalMs: 10, joinGraceMs: 0 });
  const { slowest, returned } = replayTimed(gateway, 20);
  assert.ok(returned.length > 0 && returned.every((v) => v === undefined));
  assert.ok(slowest < HOOK_BOUND_MS, `slowest hook/event call took ${slowest.toFixed(2)} ms`);
  await gateway.stopServices();
  const counters = stats();
  assert.equal(counters.handlerErrors, 0);
  assert.equal(counters.droppedTotal, counters.offered.traces + counters.offered.errors);
  assert.ok(counters.dropped.unreachable > 0);
  assert.ok(gateway.logs.some((l) => l.level === "warn" && /dropped \d+ event/.test(l.message)));
});

test("daemon hanging and a tiny buffer: hooks still return at once, the overflow is counted", async () => {
  const r = await startReceiver(() => "hang");
  receivers.push(r);
  const gateway = await gatewayWithPlugin({
    endpoint: r.url,
    maxBufferEvents: 2,
    requestTimeoutMs: 200,
    flushIntervalMs: 10,
    joinGraceMs: 0,
  });
  const { slowest, returned } = replayTimed(gateway, 20);
  assert.ok(returned.every((v) => v === undefined));
  assert.ok(slowest < HOOK_BOUND_MS, `slowest hook/event call took ${slowest.toFixed(2)} ms`);
  await gateway.stopServices();
  const counters = stats();
  assert.ok(counters.dropped.buffer_full > 0, JSON.stringify(counters.dropped));
  assert.ok(counters.dropped.timeout > 0, JSON.stringify(counters.dropped));
  assert.equal(counters.handlerErrors, 0);
});

test("garbage payloads never throw into the gateway; a failing handler is counted and logged once", async () => {
  const r = await startReceiver();
  receivers.push(r);
  const gateway = await gatewayWithPlugin({ endpoint: r.url });
  const hostile = {
    get runId() {
      throw new Error("boom");
    },
  };
  for (const name of ["llm_input", "model_call_started", "model_call_ended", "llm_output", "agent_end"]) {
    for (const [event, ctx] of [
      [undefined, undefined],
      [null, null],
      ["text", 5],
      [{ runId: 7, callId: {}, durationMs: "slow", assistantTexts: "no", lastAssistant: 3 }, { trace: "x" }],
      [hostile, {}],
    ]) {
      assert.deepStrictEqual(gateway.runHook(name, event, ctx), [undefined]);
    }
  }
  for (const evt of [undefined, null, 5, { type: "model.usage" }, { type: "webhook.error" }, hostile]) {
    gateway.emitDiagnostic(evt);
  }
  await gateway.stopServices();
  const counters = stats();
  assert.equal(counters.handlerErrors, 5);
  assert.equal(gateway.logs.filter((l) => /handler failed/.test(l.message)).length, 1);
  // Whatever was sent passed the daemon's validation rules on our side.
  for (const event of r.events("traces")) {
    assert.equal(typeof event.provider, "string");
    assert.equal(typeof event.model, "string");
  }
});

test("a failed run is reported once, whether agent_end or run.completed says so first", async () => {
  const r = await startReceiver();
  receivers.push(r);
  const gateway = await gatewayWithPlugin({ endpoint: r.url });
  gateway.runHook("agent_end", { runId: "r1", success: false, error: "boom", durationMs: 3 }, { agentId: "main" });
  gateway.emitDiagnostic({ type: "run.completed", runId: "r1", outcome: "error", durationMs: 3, seq: 1, ts: 5 });
  gateway.emitDiagnostic({ type: "run.completed", runId: "r2", outcome: "error", durationMs: 3, seq: 2, ts: 6 });
  gateway.runHook("agent_end", { runId: "r2", success: false, error: "boom again" }, {});
  gateway.emitDiagnostic({ type: "webhook.error", channel: "telegram", error: "bad signature", seq: 3, ts: 7 });
  await gateway.stopServices();
  assert.deepStrictEqual(
    r.events("errors").map((e) => [e.error_type, e.metadata.run_id, e.message]),
    [
      ["crash", "r1", "boom"],
      ["crash", "r2", "agent run failed"],
      ["system_error", undefined, "bad signature"],
    ],
  );
});

test("in CLI-metadata, setup and tool-discovery loads the plugin registers nothing", () => {
  for (const registrationMode of ["cli-metadata", "setup-only", "setup-runtime", "tool-discovery"]) {
    const gateway = new GatewayDouble({ registrationMode });
    plugin.register(gateway.api);
    assert.equal(gateway.registrations.length, 0);
    assert.equal(gateway.services.length, 0);
  }
});

test("full and discovery registrations share one instance: hooks from either join, one service", async () => {
  const r = await startReceiver();
  receivers.push(r);
  const gateway = await gatewayWithPlugin({ endpoint: r.url, flushIntervalMs: 10, joinGraceMs: 10 });
  assert.deepEqual(Object.keys(gateway.registries), ["full", "discovery"]);
  assert.equal(gateway.registries.full.length, gateway.registries.discovery.length);
  assert.equal(gateway.services.length, 1, "a service only for the full registration");
  // The agent run's hooks reach the discovery registry, diagnostics the full one's service.
  gateway.replay(GOOD_TURN);
  await r.waitFor(1);
  assert.equal(r.events("traces").length, 1);
  assert.equal(r.events("traces")[0].channel, "http", "joined with model.usage from the diagnostics");
  // A second full registration (a config reload with the same config) keeps the live instance.
  const before = stats();
  plugin.register(gateway.apiFor("full"));
  assert.deepEqual(stats().sent, before.sent);
  assert.equal(gateway.diagnosticListenerCount, 1);
  await gateway.stopServices();
});

test("a gateway older than the oldest supported release: one warning, nothing registered", () => {
  const gateway = new GatewayDouble({ version: "2026.4.29" });
  gateway.load(plugin);
  assert.equal(gateway.registrations.length, 0);
  assert.equal(gateway.registries.discovery.length, 0);
  assert.equal(gateway.services.length, 0);
  const warnings = gateway.logs.filter((l) => l.level === "warn");
  assert.equal(warnings.length, 1);
  assert.match(warnings[0].message, /OpenClaw 2026\.4\.29 is older than 2026\.7\.1/);
});

test("a gateway that does not say its version, or whose runtime throws, is served", () => {
  for (const version of [undefined, "dev"]) {
    const gateway = new GatewayDouble({ version });
    plugin.register(gateway.api);
    assert.equal(gateway.registrations.length, HOOK_NAMES.length);
  }
  const gateway = new GatewayDouble();
  Object.defineProperty(gateway.api, "runtime", {
    get() {
      throw new Error('runtime is intentionally unavailable during "full" registration');
    },
  });
  plugin.register(gateway.api);
  assert.equal(gateway.registrations.length, HOOK_NAMES.length);
});

test("the endpoint is logged as scheme://host:port only: no path or query", async () => {
  const gateway = new GatewayDouble({ pluginConfig: { endpoint: "http://127.0.0.1:9/hook/s3cret?k=v" } });
  plugin.register(gateway.api);
  const line = gateway.logs.find((l) => /sending to/.test(l.message)).message;
  assert.equal(line, "openclaw-trace: sending to http://127.0.0.1:9");
});

test("diagnostic log records are left at once: logging from the listener cannot feed it", async () => {
  const gateway = await gatewayWithPlugin({ endpoint: await deadEndpoint() });
  const before = stats();
  for (let i = 0; i < 1000; i += 1) gateway.emitDiagnostic({ type: "log.record", level: "warn", message: "x" });
  assert.deepEqual(stats().offered, before.offered);
  assert.equal(stats().handlerErrors, 0);
  await gateway.stopServices();
});

test("a bad config value fails register() with the key, before any hook is registered", () => {
  const gateway = new GatewayDouble({ pluginConfig: { batchSize: 0 } });
  assert.throws(() => plugin.register(gateway.api), /batchSize=0/);
  assert.equal(gateway.registrations.length, 0);
});

test("an endpoint with a user and password fails register() like any bad value, showing neither", () => {
  // Node's fetch refuses every request to such a URL: loading would drop every batch.
  const gateway = new GatewayDouble({ pluginConfig: { endpoint: "http://me:s3cret@127.0.0.1:9090/hook" } });
  const message =
    'openclaw-trace: bad config value endpoint=http://127.0.0.1:9090: a user or password in the URL cannot be sent; put the credential in the "token" key';
  assert.throws(() => plugin.register(gateway.api), { message });
  assert.equal(gateway.registrations.length, 0);
  assert.deepEqual(gateway.services, []);
  assert.deepEqual(gateway.logs, [], "the gateway reports the error; the plugin logs nothing");
  assert.deepStrictEqual(plugin.configSchema.validate(gateway.api.pluginConfig), { ok: false, errors: [message] });
});

test("diagnostic events: the SDK module is the fallback when the service context has no bridge", async () => {
  const config = resolveConfig({ endpoint: await deadEndpoint() });
  const listeners = [];
  const modules = {
    internal: { onInternalDiagnosticEvent: (l) => listeners.push(l) && (() => {}), onDiagnosticEvent: () => {} },
    public: { onDiagnosticEvent: (l) => listeners.push(l) && (() => {}) },
    empty: {},
  };
  for (const [name, via] of [
    ["internal", "sdk-internal"],
    ["public", "sdk-public"],
    ["empty", "none"],
  ]) {
    const p = createTracePlugin({ config, importModule: async () => modules[name] });
    assert.equal(await p.startDiagnostics({}), via);
    await p.shutdown(100);
  }
  const missing = createTracePlugin({ config, importModule: async () => Promise.reject(new Error("no such module")) });
  assert.equal(await missing.startDiagnostics(undefined), "none");
  await missing.shutdown(100);
  assert.equal(listeners.length, 2);
});

test("a subscribe function that throws gives 'none', never a rejected promise", async () => {
  const config = resolveConfig({ endpoint: await deadEndpoint() });
  const boom = () => {
    throw new Error("boom");
  };
  const viaSdk = createTracePlugin({ config, importModule: async () => ({ onInternalDiagnosticEvent: boom }) });
  assert.equal(await viaSdk.startDiagnostics({}), "none");
  await viaSdk.shutdown(100);
  const viaBridge = createTracePlugin({ config, importModule: async () => ({}) });
  assert.equal(await viaBridge.startDiagnostics({ internalDiagnostics: { onEvent: boom } }), "none");
  await viaBridge.shutdown(100);
});

test("pending joins and a buffered event never keep the gateway process alive", async () => {
  const index = fileURLToPath(new URL("../index.js", import.meta.url));
  const double = fileURLToPath(new URL("../testing/gateway-double.js", import.meta.url));
  const script = `
    import plugin, { stats } from ${JSON.stringify(index)};
    import { FAILING_TURN, GatewayDouble, GOOD_TURN } from ${JSON.stringify(double)};
    const gateway = new GatewayDouble({ pluginConfig: { flushIntervalMs: 60000, joinGraceMs: 60000 } });
    gateway.load(plugin);
    await gateway.startServices();
    gateway.replay(GOOD_TURN);
    gateway.replay(FAILING_TURN);
    const { buffered, correlator } = stats();
    // The good turn's trace and the failed run's crash wait in the buffer, the failed call in its join.
    if (buffered !== 2 || correlator.pendingRuns !== 1) throw new Error("expected 2 buffered events, 1 pending join");
  `;
  const started = performance.now();
  await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], { timeout: 20000 });
  assert.ok(performance.now() - started < 15000);
});

test("a gateway logger that throws never reaches the gateway through a hook or a promise", async () => {
  const config = resolveConfig({ endpoint: await deadEndpoint() });
  const throwing = {
    info() {
      throw new Error("logger down");
    },
    warn() {
      throw new Error("logger down");
    },
  };
  const p = createTracePlugin({ config, logger: throwing, importModule: async () => ({}) });
  const hostile = {
    get runId() {
      throw new Error("boom");
    },
  };
  assert.equal(p.hooks.llm_input(hostile, {}), undefined); // the handler fails, then so does its warning
  assert.equal(await p.startDiagnostics({}), "none"); // resolves, though it logs
  assert.equal(p.stats().handlerErrors, 1);
  await p.shutdown(100);
});
