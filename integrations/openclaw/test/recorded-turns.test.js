// The payloads recorded from a real gateway, fed through register() with a
// stand-in of OpenClaw's plugin api, must produce exactly these native events.

import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";
import plugin, { resetForTests, stats } from "../index.js";
import { HOOK_NAMES } from "../src/plugin.js";
import { FAILING_TURN, GatewayDouble, GOOD_TURN } from "../testing/gateway-double.js";
import { startReceiver } from "../testing/receiver.js";

const SESSION_ID = "6fa1036b-ee1f-4cba-a226-2b01831fd2dc";
const GOOD_RUN = "6aa3ac67-242f-41dc-b284-0bfc0ebf691d";
const FAILED_RUN = "52b431bb-8743-40be-98f4-cbb35ebd8a32";

// When each recorded step is delivered (the gateway's own times where the recording has them).
const STEP_TIMES = {
  "hook:llm_input": 1795323454990,
  "hook:model_call_started": 1795323455041,
  "hook:model_call_ended": 1795323455328,
  "hook:model_call_ended__last": 1795323569513,
};

const GOOD_TRACE = {
  provider: "fakellm",
  model: "fake-model",
  input_text: "[Sun 2026-11-22 04:57 UTC] Second turn: what is the answer?",
  output_text: "Hello from the fake model. The answer is 42.",
  prompt_tokens: 321,
  completion_tokens: 12,
  total_tokens: 333,
  cache_read_tokens: 0,
  cache_write_tokens: 0,
  cost_usd: 0.000345,
  latency_ms: 287,
  status: "ok",
  session_id: SESSION_ID,
  agent_id: "main",
  channel: "http",
  timestamp_ms: 1795323455041,
  metadata: {
    source: "openclaw-plugin",
    run_id: GOOD_RUN,
    call_id: `${GOOD_RUN}:model:1`,
    session_key: "agent:main:main",
    api: "openai-completions",
    transport: "auto",
    outcome: "completed",
    time_to_first_byte_ms: 105,
    request_payload_bytes: 60535,
    response_stream_bytes: 567,
    stop_reason: "stop",
    response_id: "chatcmpl-cd6fdd900377",
    harness_id: "openclaw",
    trigger: "user",
    w3c_trace_id: "9d7fe68ba6d0b5103be16ec760bdc556",
    w3c_span_id: "f022d9d011331823",
    w3c_parent_span_id: "5159c82cd4ea279a",
  },
};

const FAILED_IDS = {
  w3c_trace_id: "f3cf5e022b3e3f23339cbe7c26247c33",
  w3c_span_id: "ecb0dbe8d69e0f05",
  w3c_parent_span_id: "b3a846e7ead2a74b",
};

const FAILED_TRACE = {
  provider: "fakellm",
  model: "fake-model",
  prompt_tokens: 0,
  completion_tokens: 0,
  total_tokens: 0,
  cache_read_tokens: 0,
  cache_write_tokens: 0,
  cost_usd: 0,
  latency_ms: 34,
  status: "error",
  error_type: "server_error",
  session_id: SESSION_ID,
  agent_id: "main",
  timestamp_ms: 1795323569513 - 34,
  metadata: {
    source: "openclaw-plugin",
    run_id: FAILED_RUN,
    call_id: `${FAILED_RUN}:model:1`,
    session_key: "agent:main:main",
    api: "openai-completions",
    transport: "auto",
    outcome: "error",
    error_category: "Error",
    time_to_first_byte_ms: 34,
    request_payload_bytes: 61042,
    response_stream_bytes: 533,
    stop_reason: "error",
    harness_id: "openclaw",
    ...FAILED_IDS,
  },
};

const FAILED_CALL_ERROR = {
  error_type: "llm_error",
  message: "500 fake upstream failure",
  severity: "error",
  category: "server_error",
  provider: "fakellm",
  model: "fake-model",
  session_id: SESSION_ID,
  agent_id: "main",
  timestamp_ms: 1795323569513,
  metadata: {
    source: "openclaw-plugin",
    run_id: FAILED_RUN,
    call_id: `${FAILED_RUN}:model:1`,
    session_key: "agent:main:main",
    http_status: 500,
    error_code: "fake_fail",
    provider_error_type: "server_error",
    error_body: '{"code":"fake_fail","message":"fake upstream failure","type":"server_error"}',
    error_category: "Error",
    latency_ms: 34,
    ...FAILED_IDS,
  },
};

// The failing turn's run gave up (its session went idle after a failed attempt): one crash.
const RUN_CRASH = {
  error_type: "crash",
  message: "agent run failed after 1 attempt(s): 500 fake upstream failure",
  severity: "error",
  category: "server_error",
  provider: "fakellm",
  model: "fake-model",
  session_id: SESSION_ID,
  agent_id: "main",
  timestamp_ms: 1795323569519,
  metadata: {
    source: "openclaw-plugin",
    run_id: FAILED_RUN,
    session_key: "agent:main:main",
    failed_attempts: 1,
    http_status: 500,
    w3c_trace_id: "f3cf5e022b3e3f23339cbe7c26247c33",
    w3c_span_id: "9e8304c7dc8e07fd",
    w3c_parent_span_id: "c6856bf654315abe",
  },
};

// Errors in a fixed order: a run's crash and its calls' errors leave at different moments.
const errorsOf = (r) => r.events("errors").sort((a, b) => a.error_type.localeCompare(b.error_type));

let receiver;
let clock;

beforeEach(async () => {
  receiver = await startReceiver();
  clock = 1795323400000;
  mock.method(Date, "now", () => clock);
});

afterEach(async () => {
  await resetForTests();
  mock.restoreAll();
  await receiver.close();
});

const setClock = (step) => {
  clock = STEP_TIMES[step] ?? clock + 1;
};

async function gatewayWithPlugin(config = {}) {
  const gateway = new GatewayDouble({ pluginConfig: { endpoint: receiver.url, ...config } });
  gateway.load(plugin);
  await gateway.startServices();
  return gateway;
}

test("register() subscribes to every hook it needs and to diagnostic events", async () => {
  const gateway = await gatewayWithPlugin();
  assert.deepEqual(
    gateway.registrations.map((r) => r.name),
    HOOK_NAMES,
  );
  assert.equal(gateway.services.length, 1);
  assert.equal(gateway.services[0].id, "openclaw-trace");
  assert.equal(gateway.diagnosticListenerCount, 1);
  await gateway.stopServices();
  assert.equal(gateway.diagnosticListenerCount, 0);
});

test("the recorded good and failing turns become exactly these native events", async () => {
  const gateway = await gatewayWithPlugin();
  const returned = [...gateway.replay(GOOD_TURN, setClock), ...gateway.replay(FAILING_TURN, setClock)];
  await gateway.stopServices();

  assert.ok(returned.every((value) => value === undefined), "every hook handler returns undefined");
  assert.deepStrictEqual(receiver.events("traces"), [GOOD_TRACE, FAILED_TRACE]);
  assert.deepStrictEqual(errorsOf(receiver), [RUN_CRASH, FAILED_CALL_ERROR]);
  for (const request of receiver.requests) {
    assert.equal(request.method, "POST");
    assert.equal(request.headers["content-type"], "application/json");
    assert.equal(request.headers.authorization, undefined);
    assert.ok(Array.isArray(request.body), "events are sent as JSON arrays");
  }
  const counters = stats();
  assert.deepEqual(counters.sent, { traces: 2, errors: 2 });
  assert.equal(counters.droppedTotal, 0);
  // The failing turn's model.usage is the good turn's (stale): joined to nothing, sent nowhere.
  assert.equal(counters.correlator.unmatchedUsage, 1);
  assert.equal(counters.correlator.pendingRuns, 0);
});

test("the good turn is sent as soon as model.usage completes the join, before any shutdown", async () => {
  const gateway = await gatewayWithPlugin({ flushIntervalMs: 10 });
  gateway.replay(GOOD_TURN, setClock);
  await receiver.waitFor(1);
  assert.deepStrictEqual(receiver.events("traces"), [GOOD_TRACE]);
  await gateway.stopServices();
});

test("the failing turn is sent when the join grace time runs out", async () => {
  const gateway = await gatewayWithPlugin({ flushIntervalMs: 10, joinGraceMs: 20 });
  gateway.replay(FAILING_TURN, setClock);
  await receiver.waitFor(3);
  assert.deepStrictEqual(receiver.events("traces"), [FAILED_TRACE]);
  assert.deepStrictEqual(errorsOf(receiver), [RUN_CRASH, FAILED_CALL_ERROR]);
  await gateway.stopServices();
});

test("with captureText off no conversation text leaves the gateway", async () => {
  const gateway = await gatewayWithPlugin({ captureText: false, token: "s3cret" });
  gateway.replay(GOOD_TURN, setClock);
  gateway.replay(FAILING_TURN, setClock);
  await gateway.stopServices();

  const { input_text: _input, output_text: _output, ...withoutText } = GOOD_TRACE;
  assert.deepStrictEqual(receiver.events("traces"), [withoutText, FAILED_TRACE]);
  assert.deepStrictEqual(errorsOf(receiver), [RUN_CRASH, FAILED_CALL_ERROR]);
  assert.ok(receiver.requests.every((r) => r.headers.authorization === "Bearer s3cret"));
});

test("the history and system prompt join input_text within the text budget when asked", async () => {
  const gateway = await gatewayWithPlugin({ captureHistory: true, captureSystemPrompt: true, textBudgetBytes: 4096 });
  gateway.replay(GOOD_TURN, setClock);
  await gateway.stopServices();

  const [trace] = receiver.events("traces");
  const text = trace.input_text;
  assert.ok(Buffer.byteLength(text, "utf8") <= 4096);
  assert.ok(text.startsWith("## system\n<!-- openclaw:attempt:STABLE -->\nYou are a personal assistant"));
  assert.ok(text.includes("## history\nuser: [Sun 2026-11-22 04:55 UTC] Hello, what is the answer?\n"));
  assert.ok(text.endsWith("## prompt\n[Sun 2026-11-22 04:57 UTC] Second turn: what is the answer?"));
  assert.equal(trace.metadata.input_truncated, true);
});
