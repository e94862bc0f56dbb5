// OpenClaw plugin entry: feeds every model call, its failures and failed runs
// to a local openclaw-trace daemon. See docs/openclaw.md in the repository.
//
// How OpenClaw (2026.7 to 2026.9) calls register(), read from its loader:
//   - "full": the gateway's own registry, loaded once at start-up. Only its
//     services are started, and only it gets gateway_stop.
//   - "discovery": each agent runtime the gateway prepares loads the plugin
//     again; agent runs dispatch llm_input, llm_output, model_call_* and
//     agent_end to *that* registry (since 2026.8). Both registrations stay
//     alive side by side: neither replaces the other.
//   - "tool-discovery", "setup-*", "cli-metadata": metadata only, no runs.
// 2026.9 loads a fresh copy of this module for each registration, so what
// must be one per process (the join of a call's pieces, the buffer, the
// diagnostic subscription) lives on globalThis, not in a module variable.

import { entryConfigSchema, resolveConfig } from "./src/config.js";
import { createTracePlugin, HOOK_NAMES } from "./src/plugin.js";
import { redactedEndpoint } from "./src/redact.js";
import { checkGatewayVersion } from "./src/version.js";

export const PLUGIN_ID = "openclaw-trace";

// Registrations that never see an agent run: register nothing there.
const PASSIVE_MODES = new Set(["cli-metadata", "setup-only", "setup-runtime", "tool-discovery"]);
const CORE = Symbol.for("openclaw-trace.core");

/** The process's one plugin instance, replaced only when the plugin's config changed. */
function sharedCore(config, logger) {
  const current = globalThis[CORE];
  const key = JSON.stringify(config);
  if (current?.key === key && !current.plugin.isStopped()) return current.plugin;
  current?.plugin.shutdown().catch(() => {}); // a config reload: the old instance sends what it holds
  const plugin = createTracePlugin({ config, logger });
  globalThis[CORE] = { key, plugin };
  return plugin;
}

// Every registration's handlers call whichever instance is current, so a
// registration made before a config reload feeds the new instance.
const forward = Object.fromEntries(
  HOOK_NAMES.map((name) => [name, (event, ctx) => globalThis[CORE]?.plugin.hooks[name](event, ctx)]),
);

/**
 * Registers the plugin with a gateway. In "full" and "discovery" modes: one
 * `api.on()` per hook; in "full" also a service whose start subscribes to
 * diagnostic events and whose stop sends what is left. Synchronous, as
 * OpenClaw requires. Throws only on a bad config value; on a gateway older
 * than the plugin supports it logs one line and registers nothing.
 */
export function register(api) {
  const mode = api?.registrationMode ?? "full";
  if (PASSIVE_MODES.has(mode)) return;
  const config = resolveConfig(api?.pluginConfig);
  const refusal = checkGatewayVersion(api);
  if (refusal) {
    if (mode === "full") api?.logger?.warn?.(`openclaw-trace: ${refusal}`);
    return;
  }
  const plugin = sharedCore(config, api?.logger);
  for (const name of HOOK_NAMES) api.on(name, forward[name]);
  if (mode !== "full") return;
  api.registerService?.({
    id: PLUGIN_ID,
    start: (ctx) => plugin.startDiagnostics(ctx),
    stop: () => plugin.shutdown(),
  });
  api?.logger?.info?.(`openclaw-trace: sending to ${redactedEndpoint(config.endpoint)}`);
}

/** Counters of the process's instance (buffered, sent, dropped by reason, …), or null before register(). */
export function stats() {
  return globalThis[CORE]?.plugin.stats() ?? null;
}

/** Drops the process's instance after sending what it holds; for tests that register afresh. */
export async function resetForTests() {
  const current = globalThis[CORE];
  globalThis[CORE] = undefined;
  await current?.plugin.shutdown(200);
}

export default {
  id: PLUGIN_ID,
  name: "openclaw-trace",
  description: "Send every model call, its tokens, cost, latency and failures to a local openclaw-trace daemon.",
  configSchema: entryConfigSchema(),
  register,
};
