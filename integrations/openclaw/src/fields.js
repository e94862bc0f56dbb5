// Values shaped to pass openclaw-trace's validation. One invalid event makes
// the daemon reject its whole request (400), so every field is normalised
// here rather than trusted: ids cut to 256 characters, counts made
// non-negative integers, strings made well-formed UTF-16 (the daemon refuses
// lone surrogates).

export const MAX_SHORT_CHARS = 256;
const MAX_COUNT = 2 ** 53;
const MAX_AMOUNT = 1e15;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const encoder = new TextEncoder();

/** `text` with every lone surrogate replaced by U+FFFD. */
export function wellFormed(text) {
  if (typeof text.isWellFormed === "function") return text.isWellFormed() ? text : text.toWellFormed();
  return text.replace(LONE_SURROGATE, "\uFFFD");
}

/**
 * `text` cut to at most `maxBytes` UTF-8 bytes without splitting a character.
 * Returns `{ text, truncated }`.
 */
export function truncateUtf8(text, maxBytes) {
  const clean = wellFormed(text);
  // A UTF-16 unit never takes more than 3 UTF-8 bytes (a pair: 4 bytes for 2 units).
  if (clean.length * 3 <= maxBytes) return { text: clean, truncated: false };
  const buffer = new Uint8Array(maxBytes);
  // encodeInto writes whole characters only; `read` counts the UTF-16 units used.
  const { read } = encoder.encodeInto(clean, buffer);
  return read >= clean.length ? { text: clean, truncated: false } : { text: clean.slice(0, read), truncated: true };
}

/** A non-empty id-like string of at most 256 characters, or undefined. */
export function shortText(value) {
  if (typeof value === "number" && Number.isFinite(value)) value = String(value);
  if (typeof value !== "string" || value.length === 0) return undefined;
  return wellFormed(value.length > MAX_SHORT_CHARS ? value.slice(0, MAX_SHORT_CHARS) : value);
}

/** A non-negative integer (token counts, byte counts, Unix ms), or undefined. */
export function count(value) {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) return undefined;
  return Math.min(Math.round(value), MAX_COUNT);
}

/** A non-negative finite number (cost, latency), or undefined. */
export function amount(value) {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) return undefined;
  return Math.min(value, MAX_AMOUNT);
}

/** A copy of `fields` without the undefined and null values. */
export function compact(fields) {
  const out = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined && value !== null) out[key] = value;
  }
  return out;
}
