// The TypeScript SDK under node: settings schemas and strict parsing, texts and spans,
// verdicts, the native test helper's checks. No build.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Finding, Handoff, Route, SettingsError, Text, Verdict, gate, info, parseSettings, router, s } from "../src/index.js";
import { check, route } from "../src/testing.js";

const settings = s.object({
  banned: s.array(s.string()),
  max_chars: s.integer({ default: 280, description: "Most characters allowed." }),
  mode: s.enum(["any", "all"], { default: "any" }),
  note: s.optional(s.string()),
});

test("the schema comes from the builder", () => {
  assert.deepEqual(info(gate({ name: "g", settings, check: () => new Verdict() })).settingsSchema, {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    type: "object",
    additionalProperties: false,
    required: ["banned"],
    properties: {
      banned: { type: "array", items: { type: "string" } },
      max_chars: { type: "integer", default: 280, description: "Most characters allowed." },
      mode: { enum: ["any", "all"], default: "any" },
      note: { anyOf: [{ type: "string" }, { type: "null" }] },
    },
  });
});

test("settings are parsed strictly, naming the field", () => {
  assert.deepEqual(parseSettings(settings, { banned: ["x"] }), { banned: ["x"], max_chars: 280, mode: "any" });
  for (const [value, message] of [
    [{}, "settings: missing field `banned`"],
    [{ banned: [], extra: 1 }, "settings: unknown field `extra`; it has: banned, max_chars, mode, note"],
    [{ banned: [1] }, "settings `banned[0]`: expected a string, got 1"],
    [{ banned: [], max_chars: 1.5 }, "settings `max_chars`: expected an integer, got 1.5"],
    [{ banned: [], mode: "some" }, 'settings `mode`: expected one of "any", "all", got "some"'],
    [[], "settings: expected an object, got []"],
  ]) {
    assert.throws(() => parseSettings(settings, value), (e) => e instanceof SettingsError && e.message === message);
  }
});

test("spans are UTF-8 byte offsets of string ranges", () => {
  const t = new Text("", "héllo wörld 🎉!");
  assert.deepEqual(t.byteSpan(6, 11), [7, 13]);
  assert.deepEqual(t.byteSpan(12, 14), [14, 18]);
  assert.deepEqual(Finding.error("e", "m").at(t, 6).span, [7, 19]);
  assert.throws(() => t.byteSpan(3, 99), /span 3\.\.99 is not inside the 15-character string/);
  assert.throws(() => Finding.info("i", "m").at("/x", 1, 2), /a span needs the Text itself/);
});

test("texts walk every string with escaped pointers", () => {
  const h = new Handoff({ "a/b": ["x", { "c~d": "y" }, 3], e: "z" });
  assert.deepEqual(h.texts("").map((t) => [t.pointer, t.text]), [["/a~1b/0", "x"], ["/a~1b/1/c~0d", "y"], ["/e", "z"]]);
  for (const p of ["/missing", "/a~1b/7", "/a~1b/01", "e"]) assert.throws(() => h.texts(p), RangeError);
});

const maxChars = gate({
  name: "max-chars",
  settings: s.object({ max_chars: s.integer({ default: 5 }) }),
  check(settings, handoff) {
    const v = new Verdict();
    for (const t of handoff.texts()) if (t.text.length > settings.max_chars) v.add(Finding.error("length.chars", "long").at(t, settings.max_chars));
    return v;
  },
});

test("the native helper prepares and checks like the host", () => {
  const v = check(maxChars, { max_chars: 3 }, { reply: "héllo" });
  assert.equal(v.passed, false);
  assert.deepEqual([v.codes, v.findings[0].path, v.findings[0].span], [["length.chars"], "/reply", [4, 6]]);
  assert.equal(check(maxChars, {}, "short").passed, true);
  assert.throws(() => check(maxChars, { max: 1 }, "x"), /unknown field `max`/);
});

test("the native helper refuses what the host would", () => {
  for (const [outcome, message] of [
    [undefined, /check returned undefined, not a Verdict/],
    [new Verdict([Finding.error("x", "m").at("/nope")]), /finding `x`: path `\/nope` is not in the payload/],
    [new Verdict([new Finding("x", "m", "error", "", [0, 99])]), /finding `x`: span 0..99 is not inside the 2-byte string/],
    [new Verdict([], { score: 2 }), /score 2 is not in \[0, 1\]/],
  ]) {
    const bad = gate({ name: "bad", check: () => outcome });
    assert.throws(() => check(bad, {}, "é"), message);
  }
});

test("a router routes natively, and plugins need kebab-case names", () => {
  const r = router({
    name: "on-failure",
    route: (_, __, verdicts) => (verdicts.some((v) => !v.verdict.passed) ? new Route("retry", "a gate failed") : new Route("next", "all passed")),
  });
  assert.equal(route(r, {}, "x", [{ gate: "g", verdict: new Verdict([Finding.error("x", "m")]) }]).target, "retry");
  assert.equal(route(r, {}, "x", []).target, "next");
  assert.throws(() => gate({ name: "Bad Name", check() {} }), /give the plugin a kebab-case name/);
  assert.throws(() => gate({ name: "no-check" }), /define check\(settings, handoff\)/);
});
