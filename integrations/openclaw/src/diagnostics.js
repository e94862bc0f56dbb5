// How the plugin subscribes to the gateway's diagnostic events. The one
// place that depends on a part of OpenClaw's plugin API we could not pin to
// a release: if it moves, only this file changes.
//
// The events we need (model.usage, run.completed, harness.run.*) are emitted
// as *trusted* events. OpenClaw's `onDiagnosticEvent` skips trusted events;
// `onInternalDiagnosticEvent` (same module) delivers them, with a metadata
// argument. Shapes tried, in order:
//   1. the service start context's `internalDiagnostics.onEvent(listener)`;
//   2. `onInternalDiagnosticEvent(listener)` from
//      `openclaw/plugin-sdk/diagnostic-runtime` (what the recorded events
//      were captured with);
//   3. `onDiagnosticEvent(listener)` from the same module: untrusted events
//      only (webhook.error, session.stuck, message.processed) — we still get
//      failures, but traces then lack channel and the model.usage join.

export const DIAGNOSTIC_MODULE = "openclaw/plugin-sdk/diagnostic-runtime";

/**
 * Subscribes `listener(evt)` to diagnostic events.
 * Resolves to `{ via, unsubscribe }`; `via` is "service-context",
 * "sdk-internal", "sdk-public" or "none" (with `error` set). Never rejects.
 *
 * @param {object | undefined} serviceContext what OpenClaw passed to the service's start()
 * @param {(evt: object) => void} listener must not throw (the caller wraps it)
 * @param {(name: string) => Promise<object>} [importModule] loads the SDK module
 */
export async function subscribeDiagnostics(serviceContext, listener, importModule = (name) => import(name)) {
  const forward = (evt) => listener(evt);
  const bridge = serviceContext?.internalDiagnostics;
  if (typeof bridge?.onEvent === "function") {
    return subscribe("service-context", () => bridge.onEvent(forward));
  }
  let sdk;
  try {
    sdk = await importModule(DIAGNOSTIC_MODULE);
  } catch (err) {
    return { via: "none", unsubscribe: () => {}, error: `cannot load ${DIAGNOSTIC_MODULE}: ${err?.message ?? err}` };
  }
  if (typeof sdk?.onInternalDiagnosticEvent === "function") {
    return subscribe("sdk-internal", () => sdk.onInternalDiagnosticEvent(forward));
  }
  if (typeof sdk?.onDiagnosticEvent === "function") {
    return subscribe("sdk-public", () => sdk.onDiagnosticEvent(forward));
  }
  return { via: "none", unsubscribe: () => {}, error: `${DIAGNOSTIC_MODULE} has no diagnostic listener function` };
}

// A throwing subscribe function must not reject: the gateway may not catch our promise.
function subscribe(via, register) {
  try {
    return { via, unsubscribe: asFunction(register()) };
  } catch (err) {
    return { via: "none", unsubscribe: () => {}, error: `${via} subscription failed: ${err?.message ?? err}` };
  }
}

function asFunction(unsubscribe) {
  return typeof unsubscribe === "function" ? unsubscribe : () => {};
}
