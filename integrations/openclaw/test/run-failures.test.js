// A run is reported failed once, when it gave up: not for attempts that were retried.
import assert from "node:assert/strict";
import { test } from "node:test";
import { RunFailures } from "../src/run-failures.js";

const failed = (runId, sessionKey = "agent:main:main") => ({
  runId,
  sessionKey,
  stopReason: "error",
  error: { message: "500 boom", httpStatus: 500 },
});
const succeeded = (runId) => ({ runId, sessionKey: "agent:main:main", stopReason: "stop" });

function tracker() {
  const reported = [];
  const failures = new RunFailures((runId, failure) => reported.push([runId, failure.attempts]));
  return { failures, reported };
}

test("a run whose attempts all failed is reported once, when its session goes idle, with its attempts", () => {
  const { failures, reported } = tracker();
  for (let i = 0; i < 8; i += 1) {
    failures.attemptEnded(failed("r1"));
    failures.sessionState({ state: "processing", prevState: "processing", reason: "run_replaced" });
  }
  assert.deepEqual(reported, []);
  failures.sessionState({ state: "idle", sessionKey: "agent:main:main", reason: "run_completed" });
  failures.sessionState({ state: "idle", sessionKey: "agent:main:main", reason: "run_completed" });
  assert.deepEqual(reported, [["r1", 8]]);
});

test("a retry that succeeds clears the failure", () => {
  const { failures, reported } = tracker();
  failures.attemptEnded(failed("r1"));
  failures.attemptEnded(succeeded("r1"));
  failures.sessionState({ state: "idle", sessionKey: "agent:main:main" });
  failures.settleAll();
  assert.deepEqual(reported, []);
});

test("only the idle session's runs are settled; the rest at shutdown", () => {
  const { failures, reported } = tracker();
  failures.attemptEnded(failed("r1", "agent:main:a"));
  failures.attemptEnded({ ...failed("r2", undefined), sessionId: "s2" });
  failures.sessionState({ state: "idle", sessionKey: "agent:main:other" });
  assert.deepEqual(reported, []);
  failures.sessionState({ state: "idle", sessionId: "s2" });
  assert.deepEqual(reported, [["r2", 1]]);
  failures.settleAll();
  assert.deepEqual(reported, [["r2", 1], ["r1", 1]]);
  assert.equal(failures.pending, 0);
});

test("pieces without a run id are ignored, and the tracked runs are bounded", () => {
  const { failures, reported } = tracker();
  failures.attemptEnded({ stopReason: "error" });
  failures.attemptEnded(undefined);
  assert.equal(failures.pending, 0);
  for (let i = 0; i < 1100; i += 1) failures.attemptEnded(failed(`r${i}`, `s${i}`));
  assert.equal(failures.pending, 1024);
  assert.equal(reported.length, 1100 - 1024, "the oldest are reported rather than forgotten");
});
