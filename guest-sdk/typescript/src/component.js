// The component's side of the contract: the exports componentize-js wires to the WIT
// world, for one gate or router. Bundled into the component by `seam-guest-ts build`;
// it imports the host's log, so it only runs inside the component.
import { log } from "seam:plugin/host@0.2.0";

import { Finding, Handoff, Route, Verdict, info, parseSettings } from "./index.js";

function failure(during, e) {
  const name = e?.name ?? typeof e;
  const message = e?.message ?? String(e);
  try {
    log("error", `${name}: ${message}\n${e?.stack ?? ""}`);
  } catch {
    // the log is best effort
  }
  return new Error(message ? `${during}: ${name}: ${message}` : `${during}: ${name}`);
}

function handoffOf(h) {
  const payload = JSON.parse(h.payload);
  const context = h.context.trim() ? JSON.parse(h.context) : null;
  return new Handoff(payload, context, {
    pipeline: h.pipeline,
    runId: h.runId,
    fromStep: h.fromStep,
    toStep: h.toStep,
    attempt: h.attempt,
  });
}

function verdictToWit(v) {
  if (!(v instanceof Verdict)) throw new TypeError(`check returned ${v === null ? "null" : typeof v}, not a Verdict`);
  return {
    passed: v.passed,
    score: v.score === undefined || v.score === null ? undefined : Number(v.score),
    findings: v.findings.map((f) => ({
      code: String(f.code),
      message: String(f.message),
      path: f.path === undefined || f.path === null ? undefined : String(f.path),
      span: f.span ? { start: f.span[0], end: f.span[1] } : undefined,
      severity: f.severity,
    })),
    fix: v.fix === undefined ? undefined : JSON.stringify(v.fix),
  };
}

function verdictFromWit(v) {
  const findings = v.findings.map(
    (f) => new Finding(f.code, f.message, f.severity, f.path, f.span ? [f.span.start, f.span.end] : undefined),
  );
  return new Verdict(findings, { passed: v.passed, score: v.score, fix: v.fix === undefined ? undefined : JSON.parse(v.fix) });
}

/** The WIT exports for `plugin`. */
export function world(plugin) {
  let settings;
  return {
    describe() {
      const i = info(plugin);
      return { ...i, settingsSchema: JSON.stringify(i.settingsSchema) };
    },
    prepare(text) {
      try {
        settings = parseSettings(plugin.settings, text);
        if (plugin.prepare) plugin.prepare(settings);
      } catch (e) {
        throw failure("prepare", e);
      }
    },
    check(handoff) {
      try {
        return verdictToWit(plugin.check(settings, handoffOf(handoff)));
      } catch (e) {
        throw failure("check", e);
      }
    },
    route(handoff, verdicts) {
      try {
        const given = verdicts.map((v) => ({ gate: v.gate, verdict: verdictFromWit(v.verdict) }));
        const r = plugin.route(settings, handoffOf(handoff), given);
        if (!(r instanceof Route)) throw new TypeError("route returned something other than a Route");
        return { target: String(r.target), reason: String(r.reason) };
      } catch (e) {
        throw failure("route", e);
      }
    },
  };
}
