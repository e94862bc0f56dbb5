import assert from "node:assert/strict";
import { test } from "node:test";
import { redactedEndpoint, redactUrls } from "../src/redact.js";

test("an endpoint is shown as scheme://host:port only", () => {
  const cases = [
    ["http://127.0.0.1:9090", "http://127.0.0.1:9090"],
    ["http://me:pw@127.0.0.1:9464/hook/s3cret?k=v#f", "http://127.0.0.1:9464"],
    ["https://me@trace.example/ingest", "https://trace.example:443"],
    ["http://trace.example", "http://trace.example:80"],
    ["http://[::1]:9090/x", "http://[::1]:9090"],
    ["not a url", "<invalid URL>"],
    [undefined, "<invalid URL>"],
  ];
  for (const [endpoint, shown] of cases) assert.equal(redactedEndpoint(endpoint), shown, String(endpoint));
});

test("URLs quoted in an error message lose their user, password, path and query", () => {
  const endpoint = "http://me:p w@127.0.0.1:9464/hook/s3cret";
  const cases = [
    [`cannot use ${endpoint}/v1/traces, sorry`, "cannot use http://127.0.0.1:9464, sorry"],
    [
      "refused: https://u:s3cret@trace.example/x?k=s3cret (twice: 'http://a:s3cret@b:1')",
      "refused: https://trace.example:443 (twice: 'http://b:1')",
    ],
    ["no URL here: ECONNREFUSED", "no URL here: ECONNREFUSED"],
  ];
  for (const [text, shown] of cases) assert.equal(redactUrls(text, endpoint), shown);
});
