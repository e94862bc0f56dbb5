// OpenClaw plugin entry: feeds every model call, its failures and failed runs
// to a local openclaw-trace daemon. See the "OpenClaw plugin" section of the
// repository README for installation.

import { entryConfigSchema, resolveConfig } from "./src/config.js";
import { createTracePlugin, HOOK_NAMES } from "./src/plugin.js";

export const PLUGIN_ID = "openclaw-trace";

// Load modes in which the gateway only collects metadata (CLI help, setup,
// discovery): nothing should start there.
const PASSIVE_MODES = new Set(["cli-metadata", "setup-only", "setup-runtime", "discovery", "tool-discovery"]);

let active;

/**
 * Registers the plugin with a gateway: one `api.on()` per hook, plus a
 * service whose start subscribes to diagnostic events and whose stop sends
 * what is left. A second register() in the same process (plugin reload)
 * replaces the first instance. Throws only on a bad config value.
 */
export function register(api) {
  if (PASSIVE_MODES.has(api?.registrationMode)) return;
  const config = resolveConfig(api?.pluginConfig);
  active?.shutdown();
  const plugin = createTracePlugin({ config, logger: api?.logger });
  active = plugin;

  const missing = [];
  for (const name of HOOK_NAMES) {
    try {
      api.on(name, plugin.hooks[name]);
    } catch {
      // An older gateway without this hook (or without api.on): record what it does have.
      missing.push(name);
    }
  }
  if (missing.length > 0) {
    api?.logger?.warn?.(`openclaw-trace: this gateway did not take hooks ${missing.join(", ")}; their data is missing`);
  }
  if (typeof api?.registerService === "function") {
    api.registerService({
      id: PLUGIN_ID,
      start: (ctx) => plugin.startDiagnostics(ctx),
      stop: () => plugin.shutdown(),
    });
  } else {
    plugin.startDiagnostics(undefined).catch(() => {}); // never rejects; belt and braces for the gateway
  }
  api?.logger?.info?.(`openclaw-trace: sending to ${config.endpoint}`);
}

/** Counters of the active instance (buffered, sent, dropped by reason, …), or null before register(). */
export function stats() {
  return active ? active.stats() : null;
}

export default {
  id: PLUGIN_ID,
  name: "openclaw-trace",
  description: "Send every model call, its tokens, cost, latency and failures to a local openclaw-trace daemon.",
  configSchema: entryConfigSchema(),
  register,
};
