// Run a plugin under node, the way the host would call it: no build, so the
// edit-test loop takes a fraction of a second.
//
//   import { check } from "@seam/guest/testing";
//   const verdict = check(maxChars, { max_chars: 3 }, "four");
//
// Settings go through the same strict parsing as in the component; the verdict
// through the host's shape checks (paths resolve, spans inside their string on
// character boundaries, the fix is JSON). Exceptions are thrown as they are.
import { Handoff, Route, Verdict, info, parseSettings, resolvePointer, utf8Length } from "./index.js";

function prepared(plugin, settings) {
  const parsed = parseSettings(plugin.settings, settings ?? {});
  if (plugin.prepare) plugin.prepare(parsed);
  return parsed;
}

const asHandoff = (payload, context) =>
  payload instanceof Handoff ? payload : new Handoff(JSON.parse(JSON.stringify(payload ?? null)), context ?? null);

/** Prepares `plugin` with `settings` and checks `payload` (any JSON value, or a Handoff). */
export function check(plugin, settings, payload, context) {
  const parsed = prepared(plugin, settings);
  const handoff = asHandoff(payload, context);
  const verdict = plugin.check(parsed, handoff);
  assertWellFormed(verdict, handoff);
  return verdict;
}

/** Prepares a router with `settings` and asks where `payload` goes. */
export function route(plugin, settings, payload, verdicts = [], context) {
  const parsed = prepared(plugin, settings);
  const r = plugin.route(parsed, asHandoff(payload, context), verdicts);
  if (!(r instanceof Route)) throw new Error("route returned something other than a Route");
  return r;
}

/** Throws, naming the finding, where the host would refuse the verdict. */
export function assertWellFormed(verdict, handoff) {
  if (!(verdict instanceof Verdict)) throw new Error(`check returned ${verdict === null ? "null" : typeof verdict}, not a Verdict`);
  for (const f of verdict.findings) {
    let value = handoff.payload;
    if (f.path !== undefined) {
      try {
        value = resolvePointer(handoff.payload, f.path);
      } catch {
        throw new Error(`finding \`${f.code}\`: path \`${f.path}\` is not in the payload`);
      }
    }
    if (f.span) {
      if (typeof value !== "string") throw new Error(`finding \`${f.code}\` has a span but path \`${f.path ?? ""}\` is not a string`);
      const [start, end] = f.span;
      const bytes = utf8Length(value);
      if (!(0 <= start && start <= end && end <= bytes)) {
        throw new Error(`finding \`${f.code}\`: span ${start}..${end} is not inside the ${bytes}-byte string at \`${f.path ?? ""}\``);
      }
    }
  }
  if (verdict.fix !== undefined && JSON.stringify(verdict.fix) === undefined) throw new Error("the fix is not JSON");
  if (verdict.score !== undefined && !(verdict.score >= 0 && verdict.score <= 1)) throw new Error(`score ${verdict.score} is not in [0, 1]`);
}

/** What the plugin will tell the host. */
export const describe = info;
