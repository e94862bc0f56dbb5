// Timers that never keep the gateway process alive: every handle is unref'ed.
// Tests pass their own { set, clear } pair instead.

export function unrefTimers() {
  return {
    set(fn, ms) {
      const handle = setTimeout(fn, ms);
      handle.unref?.();
      return handle;
    },
    clear(handle) {
      clearTimeout(handle);
    },
  };
}
