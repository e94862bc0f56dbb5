// A stand-in for the parts of an OpenClaw gateway the plugin touches — the
// plugin `api` (`on`, `registerService`, `pluginConfig`, `logger`,
// `registrationMode`, `runtime.version`) and a service start context with an
// `internalDiagnostics` bridge — plus a replayer for the payloads recorded
// from a real gateway (test/fixtures). Used by the tests and by replay.js.

import { readFileSync } from "node:fs";

const FIXTURES = new URL("../test/fixtures/", import.meta.url);

/** The recorded good turn, in the order a gateway delivers it. */
export const GOOD_TURN = Object.freeze([
  "hook:llm_input",
  "hook:model_call_started",
  "diag:model.call.started",
  "hook:model_call_ended",
  "diag:model.call.completed",
  "hook:llm_output",
  "hook:agent_end",
  "diag:run.completed",
  "diag:harness.run.completed",
  "diag:model.usage",
]);

/**
 * The recorded failing turn (the model answered HTTP 500). Only what was
 * recorded from it: no llm_input or model_call_started, and its last
 * model.usage is the good turn's (no usage was reported for the failure).
 * It ends, as on a live gateway, with the session going back to idle: the
 * run gave up (the one step not from the recordings).
 */
export const FAILING_TURN = Object.freeze([
  "hook:model_call_ended__last",
  "diag:model.call.error__last",
  "hook:llm_output__last",
  "hook:agent_end__last",
  "diag:run.completed__last",
  "diag:model.usage__last",
  "diag:session.state__idle",
]);

/**
 * The body of a recorded payload: `{hook, event, ctx}` for a hook,
 * `{evt, meta}` (or the bare event) for a diagnostic event.
 */
export function loadStep(step) {
  const [source, name] = step.split(":");
  const file = source === "hook" ? `hook__${name}.json` : `diag-internal__${name}.json`;
  return JSON.parse(readFileSync(new URL(file, FIXTURES), "utf8")).body;
}

function recordingLogger(lines) {
  const at = (level) => (message) => lines.push({ level, message: String(message) });
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/**
 * A gateway as 2026.8 and 2026.9 run a plugin: `load()` registers it twice,
 * first for the gateway's own registry ("full": its services are started and
 * it gets gateway_stop), then for an agent runtime ("discovery": agent runs
 * dispatch their hooks to that registry). 2026.7 dispatches every hook to
 * the full registry; `runHook` does so when no discovery registration exists.
 */
export class GatewayDouble {
  /** `api.on()` registrations by registration mode, in order: `{ name, handler }`. */
  registries = {};
  services = [];
  logs = [];
  #diagnosticListeners = new Set();
  #options;

  constructor({ pluginConfig = {}, registrationMode = "full", withServices = true, version = "2026.9.6" } = {}) {
    this.#options = { pluginConfig, withServices, version };
    this.api = this.apiFor(registrationMode);
  }

  /** A plugin API of one registration in `registrationMode`. */
  apiFor(registrationMode) {
    const registry = (this.registries[registrationMode] ??= []);
    const { pluginConfig, withServices, version } = this.#options;
    const api = {
      id: "openclaw-trace",
      name: "openclaw-trace",
      registrationMode,
      pluginConfig,
      config: {},
      runtime: { version },
      logger: recordingLogger(this.logs),
      on: (name, handler) => {
        registry.push({ name, handler });
      },
    };
    if (withServices) api.registerService = (service) => this.services.push(service);
    return api;
  }

  /** Registers `plugin` the way the gateway does at start-up: full, then discovery. */
  load(plugin) {
    plugin.register(this.api);
    plugin.register(this.apiFor("discovery"));
  }

  /** The full registration's hooks (the one `this.api` made). */
  get registrations() {
    return this.registries[this.api.registrationMode];
  }

  /** Starts the registered services as the gateway does, with a diagnostics bridge in the context. */
  async startServices() {
    const ctx = {
      config: {},
      logger: this.api.logger,
      internalDiagnostics: {
        onEvent: (listener) => {
          this.#diagnosticListeners.add(listener);
          return () => this.#diagnosticListeners.delete(listener);
        },
        emit: () => {},
      },
    };
    for (const service of this.services) await service.start(ctx);
  }

  async stopServices() {
    for (const service of this.services) await service.stop?.({});
  }

  get diagnosticListenerCount() {
    return this.#diagnosticListeners.size;
  }

  /** Runs every handler for `name` of the registry the gateway dispatches it to; what each returned. */
  runHook(name, event, ctx) {
    const agentRuntime = this.registries.discovery ?? [];
    const registry = name !== "gateway_stop" && agentRuntime.length > 0 ? agentRuntime : this.registrations;
    return registry.filter((r) => r.name === name).map((r) => r.handler(event, ctx));
  }

  emitDiagnostic(evt, meta = { trusted: true }) {
    for (const listener of this.#diagnosticListeners) listener(evt, meta);
  }

  /**
   * Feeds recorded steps ("hook:llm_input", "diag:model.usage", …) in order.
   * `beforeStep(step)` runs first for each (tests set their clock there).
   * Returns the values the hook handlers returned.
   */
  replay(steps, beforeStep = () => {}) {
    const returned = [];
    for (const step of steps) {
      beforeStep(step);
      const body = loadStep(step);
      if (step.startsWith("hook:")) returned.push(...this.runHook(body.hook, body.event, body.ctx));
      else this.emitDiagnostic(body.evt ?? body, body.meta);
    }
    return returned;
  }
}
