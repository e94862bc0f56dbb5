import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import plugin from "../index.js";
import { MIN_GATEWAY_VERSION } from "../src/version.js";
import { configSchema, entryConfigSchema, resolveConfig, SETTINGS, uiHints } from "../src/config.js";

const manifest = JSON.parse(readFileSync(new URL("../openclaw.plugin.json", import.meta.url), "utf8"));
const packageJson = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

test("the manifest carries the settings table's schema, the plugin id and the UI hints", () => {
  assert.equal(manifest.id, "openclaw-trace");
  assert.equal(plugin.id, manifest.id);
  assert.deepStrictEqual(manifest.configSchema, configSchema());
  assert.deepStrictEqual(manifest.uiHints, uiHints());
  assert.equal(manifest.version, packageJson.version);
  assert.deepEqual(packageJson.openclaw.extensions, ["./index.js"]);
  assert.equal(packageJson.type, "module");
  assert.equal(packageJson.dependencies, undefined, "no runtime dependencies");
});

test("defaults", () => {
  assert.deepStrictEqual(
    { ...resolveConfig(undefined) },
    {
      endpoint: "http://127.0.0.1:9090",
      token: "",
      captureText: true,
      captureSystemPrompt: false,
      captureHistory: false,
      textBudgetBytes: 16384,
      batchSize: 100,
      flushIntervalMs: 1000,
      maxBufferEvents: 1000,
      requestTimeoutMs: 2000,
      joinGraceMs: 1500,
    },
  );
  for (const [key, setting] of Object.entries(SETTINGS)) {
    assert.equal(typeof setting.description, "string", key);
  }
});

test("given values win and the endpoint loses its trailing slash", () => {
  const config = resolveConfig({ endpoint: "http://127.0.0.1:7777/", batchSize: 5, captureText: false });
  assert.equal(config.endpoint, "http://127.0.0.1:7777");
  assert.equal(config.batchSize, 5);
  assert.equal(config.captureText, false);
  assert.ok(Object.isFrozen(config));
});

test("a bad value stops the plugin with the key, and the value when it cannot hold a secret", () => {
  const cases = [
    [{ batchSize: 0 }, /batchSize=0: expected 1\.\.1000/],
    [{ batchSize: 2.5 }, /batchSize=2\.5: expected an integer/],
    [{ flushIntervalMs: "1000" }, /flushIntervalMs="1000": expected an integer/],
    [{ captureText: "yes" }, /captureText="yes": expected true or false/],
    [{ endpoint: "not a url" }, /endpoint=<invalid URL>: not a URL/],
    [{ endpoint: "ftp://127.0.0.1" }, /endpoint=ftp:\/\/127\.0\.0\.1: expected http/],
    [{ endpont: "http://x" }, /unknown config key "endpont" \(known: endpoint, token, /],
    [{ token: 5 }, /token=<hidden>: expected a string/],
    [[], /config=<hidden>: expected an object/],
  ];
  for (const [raw, message] of cases) assert.throws(() => resolveConfig(raw), message);
});

test("an endpoint with a user or a password is refused: fetch would refuse every request", () => {
  const why = 'a user or password in the URL cannot be sent; put the credential in the "token" key';
  const cases = [
    ["http://me:s3cret@127.0.0.1:9090", "http://127.0.0.1:9090"],
    ["http://me@127.0.0.1:9090/", "http://127.0.0.1:9090"],
    ["https://:s3cret@trace.example/hook/s3cret?k=s3cret", "https://trace.example:443"],
    ["http://me%3As3cret@[::1]:9090", "http://[::1]:9090"],
  ];
  for (const [endpoint, shown] of cases) {
    assert.throws(() => resolveConfig({ endpoint }), { message: `openclaw-trace: bad config value endpoint=${shown}: ${why}` });
  }
  assert.equal(resolveConfig({ endpoint: "http://127.0.0.1:9090/base/" }).endpoint, "http://127.0.0.1:9090/base");
});

test("the entry's configSchema validates with the same rules, in the loader's shape", () => {
  const schema = entryConfigSchema();
  assert.deepStrictEqual(schema.jsonSchema, configSchema());
  assert.deepStrictEqual(schema.validate({ batchSize: 10 }), { ok: true, value: { batchSize: 10 } });
  assert.deepStrictEqual(schema.safeParse(undefined), { success: true, data: undefined });
  const invalid = schema.validate({ batchSize: -1 });
  assert.equal(invalid.ok, false);
  assert.match(invalid.errors[0], /batchSize=-1/);
  assert.equal(schema.safeParse({ nope: 1 }).success, false);
});

test("docs/openclaw.md's settings table lists every setting with its default", () => {
  const doc = readFileSync(new URL("../../../docs/openclaw.md", import.meta.url), "utf8");
  const section = doc.slice(doc.indexOf("## The plugin's settings"));
  const documented = {};
  for (const match of section.matchAll(/^\| `(\w+)` \| ([^|]+) \|/gm)) documented[match[1]] = match[2].trim();
  assert.deepStrictEqual(Object.keys(documented), Object.keys(SETTINGS));
  for (const [key, setting] of Object.entries(SETTINGS)) {
    const shown = setting.default === "" ? "empty" : `\`${setting.default}\``;
    assert.equal(documented[key], shown, key);
  }
});

test("an unknown key's value is never shown: a mistyped token key holds a token", () => {
  assert.throws(
    () => resolveConfig({ tokne: "sk-live-123456" }),
    (err) => !err.message.includes("sk-live-123456") && /unknown config key "tokne"/.test(err.message),
  );
});

test("no config error shows a secret: the token, an endpoint's user, password or path, a long value", () => {
  const cases = [
    [{ token: ["s3cret"] }, /token=<hidden>: expected a string/],
    [{ tokne: "s3cret" }, /unknown config key "tokne"/],
    [{ endpoint: "ftp://me:s3cret@127.0.0.1:21/hook/s3cret?k=s3cret" }, /endpoint=ftp:\/\/127\.0\.0\.1: expected http/],
    [{ endpoint: "http://me:s3cret@127.0.0.1:99999/hook/s3cret" }, /endpoint=<invalid URL>: not a URL/],
    [{ endpoint: { url: "http://me:s3cret@127.0.0.1:9" } }, /endpoint=<hidden>: expected a string/],
    [{ captureText: "sk-live-s3cret-pasted-under-the-wrong-key" }, /captureText=<hidden>: expected true or false/],
    ["token=s3cret", /config=<hidden>: expected an object/],
  ];
  for (const [raw, message] of cases) {
    assert.throws(
      () => resolveConfig(raw),
      (err) => message.test(err.message) && !err.message.includes("s3cret"),
      JSON.stringify(raw),
    );
  }
});

test("the manifest asks to be loaded at start-up, and install refuses the releases the plugin refuses", () => {
  // Without onStartup, 2026.8+ leaves a plugin out of the agent runtimes' registries.
  assert.deepStrictEqual(manifest.activation, { onStartup: true });
  assert.equal(packageJson.openclaw.install.minHostVersion, `>=${MIN_GATEWAY_VERSION}`);
});
