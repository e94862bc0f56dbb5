import assert from "node:assert/strict";
import { test } from "node:test";
import { amount, compact, count, shortText, truncateUtf8, wellFormed } from "../src/fields.js";

const bytes = (text) => Buffer.byteLength(text, "utf8");

test("truncateUtf8 never splits a character and never exceeds the budget", () => {
  const cases = [
    ["hello", 5, "hello", false],
    ["hello", 4, "hell", true],
    ["héllo", 2, "h", true],
    ["héllo", 3, "hé", true],
    ["€€€", 4, "€", true],
    ["a😀b", 4, "a", true],
    ["a😀b", 5, "a😀", true],
    ["", 10, "", false],
  ];
  for (const [text, max, expected, truncated] of cases) {
    const cut = truncateUtf8(text, max);
    assert.equal(cut.text, expected, `${text} to ${max}`);
    assert.equal(cut.truncated, truncated, `${text} to ${max} truncated`);
    assert.ok(bytes(cut.text) <= max);
  }
});

test("truncateUtf8 on long mixed text stays within budget for every budget", () => {
  const text = "ab€😀ç".repeat(50);
  for (let max = 0; max <= bytes(text) + 2; max += 1) {
    const { text: cut } = truncateUtf8(text, max);
    assert.ok(bytes(cut) <= max);
    assert.ok(text.startsWith(cut));
    assert.equal(wellFormed(cut), cut);
  }
});

test("lone surrogates, which the daemon refuses, become U+FFFD", () => {
  assert.equal(wellFormed("a\uD800b"), "a\uFFFDb");
  assert.equal(wellFormed("a\uDC00"), "a\uFFFD");
  assert.equal(wellFormed("😀"), "😀");
  assert.equal(truncateUtf8("x\uD800", 100).text, "x\uFFFD");
});

test("shortText keeps ids within 256 characters", () => {
  assert.equal(shortText("main"), "main");
  assert.equal(shortText(""), undefined);
  assert.equal(shortText(null), undefined);
  assert.equal(shortText({}), undefined);
  assert.equal(shortText(42), "42");
  assert.equal(shortText("x".repeat(300)).length, 256);
  // A pair cut in half leaves no lone surrogate.
  assert.equal(shortText(`${"x".repeat(255)}😀`), `${"x".repeat(255)}\uFFFD`);
});

test("count and amount admit only what the daemon accepts", () => {
  assert.equal(count(12), 12);
  assert.equal(count(12.6), 13);
  assert.equal(count(-1), undefined);
  assert.equal(count(Number.NaN), undefined);
  assert.equal(count(Number.POSITIVE_INFINITY), undefined);
  assert.equal(count("12"), undefined);
  assert.equal(count(2 ** 60), 2 ** 53);
  assert.equal(amount(0.000345), 0.000345);
  assert.equal(amount(-0.1), undefined);
  assert.equal(amount(1e20), 1e15);
});

test("compact drops undefined and null only", () => {
  assert.deepStrictEqual(compact({ a: 0, b: "", c: false, d: undefined, e: null }), { a: 0, b: "", c: false });
});
