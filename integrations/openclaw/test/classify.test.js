import assert from "node:assert/strict";
import { test } from "node:test";
import { classifyError, httpStatusOf } from "../src/classify.js";

test("the HTTP status is read from the usual provider message shapes", () => {
  const cases = [
    ["500 fake upstream failure", 500],
    ["429 Too Many Requests", 429],
    ["request failed (provider internal error, HTTP 500). Try again", 500],
    ["HTTP/1.1 503 Service Unavailable", 503],
    ["upstream answered with status code: 401", 401],
    ["no status here", undefined],
    ["took 1500 ms", undefined],
    [undefined, undefined],
  ];
  for (const [message, status] of cases) assert.equal(httpStatusOf(message), status, message);
});

test("categories, most specific evidence first", () => {
  const cases = [
    [{ failureKind: "timeout", httpStatus: 500 }, "timeout"],
    [{ failureKind: "connection_reset" }, "network"],
    [{ failureKind: "aborted" }, "aborted"],
    [{ httpStatus: 429, errorType: "server_error" }, "rate_limit"],
    [{ httpStatus: 401 }, "auth"],
    [{ httpStatus: 403 }, "auth"],
    [{ httpStatus: 504 }, "timeout"],
    [{ httpStatus: 500 }, "server_error"],
    [{ httpStatus: 400 }, "bad_request"],
    [{ errorType: "server_error", message: "500 fake upstream failure" }, "server_error"],
    [{ errorType: "rate_limit_error" }, "rate_limit"],
    [{ errorType: "authentication_error" }, "auth"],
    [{ message: "Invalid API key provided" }, "auth"],
    [{ message: "This model's maximum context length is 8192 tokens" }, "context_length"],
    [{ message: "Unexpected token < in JSON at position 0" }, "malformed_response"],
    [{ message: "fetch failed", errorCategory: "TypeError" }, "network"],
    [{ message: "Overloaded" }, "server_error"],
    [{ errorCategory: "Error" }, "unknown"],
    [{}, "unknown"],
    [undefined, "unknown"],
  ];
  for (const [fields, category] of cases) assert.equal(classifyError(fields), category, JSON.stringify(fields));
});
