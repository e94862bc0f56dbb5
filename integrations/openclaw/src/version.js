// Which OpenClaw releases the plugin serves. The lifecycle in index.js was
// read from 2026.7.1, 2026.8.2 and 2026.9.6, and the real-gateway tests run
// on those three; older releases dispatch hooks differently.

export const MIN_GATEWAY_VERSION = "2026.7.1";

/** `"2026.9.6"`, `"2026.9.6-beta.1"`, `"v2026.9.6"` → [2026, 9, 6]; undefined when it is not such a version. */
export function parseVersion(text) {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(typeof text === "string" ? text.trim() : "");
  return match ? match.slice(1, 4).map(Number) : undefined;
}

function older(a, b) {
  for (let i = 0; i < 3; i += 1) {
    if (a[i] !== b[i]) return a[i] < b[i];
  }
  return false;
}

/** The gateway's version as the plugin API tells it (`api.runtime.version`), or undefined. */
export function gatewayVersion(api) {
  try {
    // api.runtime is a getter that throws in some load modes.
    const version = api?.runtime?.version;
    return typeof version === "string" ? version : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why the plugin refuses this gateway (one line), or undefined to go ahead.
 * A gateway that does not say its version is served: it is newer than the
 * API that says it, or a development build.
 */
export function checkGatewayVersion(api) {
  const text = gatewayVersion(api);
  const version = parseVersion(text);
  if (!version || !older(version, parseVersion(MIN_GATEWAY_VERSION))) return undefined;
  return `OpenClaw ${text} is older than ${MIN_GATEWAY_VERSION}, the oldest release this plugin supports; it sends nothing. Upgrade OpenClaw or use the OTLP exporter or the log tailer.`;
}
