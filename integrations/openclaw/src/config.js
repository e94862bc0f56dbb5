// The plugin's settings: one table drives the defaults, the validation, the
// JSON schema in openclaw.plugin.json (a test keeps the two identical) and
// the README.

import { redactedEndpoint } from "./redact.js";

/**
 * Each setting: JSON-schema type, default, bounds for integers, and a one-line
 * description. OpenClaw validates `plugins.entries.openclaw-trace.config`
 * against the manifest's copy of this schema before the plugin loads.
 */
export const SETTINGS = Object.freeze({
  endpoint: {
    type: "string",
    default: "http://127.0.0.1:9090",
    description: "Base URL of openclaw-trace; events go to {endpoint}/v1/traces and {endpoint}/v1/errors.",
  },
  token: {
    type: "string",
    default: "",
    description: "Bearer token, when openclaw-trace runs with OCT_INGEST_TOKEN. Empty: no Authorization header.",
  },
  captureText: {
    type: "boolean",
    default: true,
    description: "Send the prompt and the model's answer as input_text/output_text. Off: metadata and numbers only.",
  },
  captureSystemPrompt: {
    type: "boolean",
    default: false,
    description: "Also put the system prompt in input_text (after the prompt and history, within the text budget).",
  },
  captureHistory: {
    type: "boolean",
    default: false,
    description: "Also put the conversation history in input_text (newest first, within the text budget).",
  },
  textBudgetBytes: {
    type: "integer",
    default: 16384,
    minimum: 256,
    maximum: 1048576,
    description: "Upper bound, in UTF-8 bytes, of input_text and of output_text each.",
  },
  batchSize: {
    type: "integer",
    default: 100,
    minimum: 1,
    maximum: 1000,
    description: "Events per request at most; a full batch is sent at once instead of waiting for the timer.",
  },
  flushIntervalMs: {
    type: "integer",
    default: 1000,
    minimum: 10,
    maximum: 60000,
    description: "How long an event may wait in the buffer before it is sent.",
  },
  maxBufferEvents: {
    type: "integer",
    default: 1000,
    minimum: 1,
    maximum: 100000,
    description: "Events held in memory at most; beyond that new events are dropped and counted.",
  },
  requestTimeoutMs: {
    type: "integer",
    default: 2000,
    minimum: 100,
    maximum: 60000,
    description: "A request to openclaw-trace that takes longer is aborted; its events are dropped and counted.",
  },
  joinGraceMs: {
    type: "integer",
    default: 1500,
    minimum: 0,
    maximum: 60000,
    description: "How long a finished model call waits for late pieces (usage, channel) before it is sent.",
  },
});

/** The JSON schema of the plugin config, as the manifest carries it. */
export function configSchema() {
  const properties = {};
  for (const [key, setting] of Object.entries(SETTINGS)) {
    const property = { type: setting.type, default: setting.default, description: setting.description };
    if (setting.minimum !== undefined) property.minimum = setting.minimum;
    if (setting.maximum !== undefined) property.maximum = setting.maximum;
    properties[key] = property;
  }
  return { type: "object", additionalProperties: false, properties };
}

/** Per-field hints for OpenClaw's config UI (the manifest carries the same). */
export function uiHints() {
  return { endpoint: { label: "openclaw-trace URL" }, token: { label: "Ingest token", sensitive: true } };
}

/**
 * The entry's `configSchema` in the shape OpenClaw's plugin loader takes
 * (`validate` / `safeParse` / `jsonSchema` / `uiHints`), backed by
 * `resolveConfig` so the checks are the same everywhere.
 */
export function entryConfigSchema() {
  const check = (value) => {
    try {
      resolveConfig(value);
      return undefined;
    } catch (err) {
      return err.message;
    }
  };
  return {
    jsonSchema: configSchema(),
    uiHints: uiHints(),
    validate(value) {
      const problem = check(value);
      return problem ? { ok: false, errors: [problem] } : { ok: true, value };
    },
    safeParse(value) {
      const problem = check(value);
      return problem
        ? { success: false, error: { issues: [{ path: [], message: problem }] } }
        : { success: true, data: value };
    },
  };
}

// Keys whose values an error message never shows (it would reach the gateway
// log): the token, and the whole config block, which holds it.
const HIDDEN_KEYS = new Set(["config", "token"]);
// Longer values are not shown either: a secret pasted under the wrong key is long.
const MAX_SHOWN_CHARS = 32;

/** What an error message may show of `value`: the endpoint as scheme://host:port, short values of other keys. */
function shownValue(key, value) {
  if (key === "endpoint") return typeof value === "string" ? redactedEndpoint(value) : "<hidden>";
  const json = HIDDEN_KEYS.has(key) ? undefined : JSON.stringify(value);
  return json !== undefined && json.length <= MAX_SHOWN_CHARS ? json : "<hidden>";
}

function bad(key, value, why) {
  return new Error(`openclaw-trace: bad config value ${key}=${shownValue(key, value)}: ${why}`);
}

function checkValue(key, setting, value) {
  if (setting.type === "boolean") {
    if (typeof value !== "boolean") throw bad(key, value, "expected true or false");
    return value;
  }
  if (setting.type === "string") {
    if (typeof value !== "string") throw bad(key, value, "expected a string");
    return value;
  }
  if (!Number.isInteger(value)) throw bad(key, value, "expected an integer");
  if (value < setting.minimum || value > setting.maximum) {
    throw bad(key, value, `expected ${setting.minimum}..${setting.maximum}`);
  }
  return value;
}

/**
 * Defaults merged with `raw` (the plugin's `config` block), checked.
 * Throws an Error naming the key on a bad or unknown setting, and the value
 * only when it cannot hold a secret (see `shownValue`): a typo must stop the
 * plugin at load, not silently fall back to a default.
 */
export function resolveConfig(raw) {
  const given = raw ?? {};
  if (typeof given !== "object" || Array.isArray(given)) throw bad("config", given, "expected an object");
  for (const key of Object.keys(given)) {
    // An unknown key's value is not shown: a mistyped "token" key holds a token.
    if (!Object.hasOwn(SETTINGS, key)) {
      throw new Error(`openclaw-trace: unknown config key ${JSON.stringify(key)} (known: ${Object.keys(SETTINGS).join(", ")})`);
    }
  }
  const config = {};
  for (const [key, setting] of Object.entries(SETTINGS)) {
    config[key] = given[key] === undefined ? setting.default : checkValue(key, setting, given[key]);
  }
  let url;
  try {
    url = new URL(config.endpoint);
  } catch {
    throw bad("endpoint", config.endpoint, "not a URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw bad("endpoint", config.endpoint, "expected http:// or https://");
  }
  // Node's fetch refuses every request to such a URL: each batch would be dropped.
  if (url.username || url.password) {
    throw bad("endpoint", config.endpoint, 'a user or password in the URL cannot be sent; put the credential in the "token" key');
  }
  config.endpoint = config.endpoint.replace(/\/+$/, "");
  return Object.freeze(config);
}
