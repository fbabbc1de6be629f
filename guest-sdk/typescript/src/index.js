// Write seam gates and routers in TypeScript or JavaScript.
//
//   import { gate, s, Verdict, Finding } from "@seam/guest";
//   export default gate({
//     name: "max-chars",
//     description: "Fails text longer than max_chars characters.",
//     settings: s.object({ max_chars: s.integer({ default: 280, description: "Most characters allowed." }) }),
//     check(settings, handoff) {
//       const verdict = new Verdict();
//       for (const t of handoff.texts("")) {
//         if (t.text.length > settings.max_chars) verdict.add(Finding.error("length.chars", "too long").at(t, settings.max_chars));
//       }
//       return verdict;
//     },
//   });
//
// `@seam/guest/testing` runs it under node without building; `seam-guest-ts build
// gate.ts` makes the component (componentize-js with the QuickJS backend).

export const CONTRACT = "0.2.0";

export class SettingsError extends Error {
  constructor(message) {
    super(message);
    this.name = "SettingsError";
  }
}

// ---------------------------------------------------------------------------------
// Settings: a small schema builder that is both the JSON Schema the host validates
// against and the strict parser the plugin reads its settings with.

const show = (v) => JSON.stringify(v) ?? String(v);

class Schema {
  constructor(json, parse, options = {}) {
    this.json = { ...json };
    if (options.description !== undefined) this.json.description = String(options.description);
    this.hasDefault = options.default !== undefined;
    if (this.hasDefault) this.json.default = options.default;
    this.defaultValue = options.default;
    this.optional = options.optional === true || this.hasDefault;
    this._parse = parse;
  }
  parse(value, where) {
    return this._parse(value, where);
  }
}

const wrong = (where, expected, value) =>
  new SettingsError(`settings \`${where}\`: expected ${expected}, got ${show(value)}`);

export const s = {
  boolean: (o) =>
    new Schema({ type: "boolean" }, (v, w) => {
      if (typeof v !== "boolean") throw wrong(w, "true or false", v);
      return v;
    }, o),
  integer: (o) =>
    new Schema({ type: "integer" }, (v, w) => {
      if (typeof v !== "number" || !Number.isInteger(v)) throw wrong(w, "an integer", v);
      return v;
    }, o),
  number: (o) =>
    new Schema({ type: "number" }, (v, w) => {
      if (typeof v !== "number" || !Number.isFinite(v)) throw wrong(w, "a number", v);
      return v;
    }, o),
  string: (o) =>
    new Schema({ type: "string" }, (v, w) => {
      if (typeof v !== "string") throw wrong(w, "a string", v);
      return v;
    }, o),
  enum: (values, o) =>
    new Schema({ enum: [...values] }, (v, w) => {
      if (!values.includes(v)) throw wrong(w, `one of ${values.map(show).join(", ")}`, v);
      return v;
    }, o),
  array: (item, o) =>
    new Schema({ type: "array", items: item.json }, (v, w) => {
      if (!Array.isArray(v)) throw wrong(w, "a list", v);
      return v.map((x, i) => item.parse(x, `${w}[${i}]`));
    }, o),
  object: (fields, o) => {
    const required = Object.entries(fields).filter(([, f]) => !f.optional).map(([k]) => k);
    const json = {
      type: "object",
      properties: Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.json])),
      additionalProperties: false,
    };
    if (required.length) json.required = required;
    return new Schema(json, (v, w) => {
      if (typeof v !== "object" || v === null || Array.isArray(v)) {
        throw new SettingsError(`settings${w ? ` \`${w}\`` : ""}: expected an object, got ${show(v)}`);
      }
      const names = Object.keys(fields);
      for (const k of Object.keys(v)) {
        if (!names.includes(k)) {
          throw new SettingsError(`settings: unknown field \`${w ? w + "." : ""}${k}\`; it has: ${names.join(", ") || "no fields"}`);
        }
      }
      const out = {};
      for (const [k, f] of Object.entries(fields)) {
        const at = w ? `${w}.${k}` : k;
        if (k in v) out[k] = f.parse(v[k], at);
        else if (f.hasDefault) out[k] = structuredCloneish(f.defaultValue);
        else if (!f.optional) throw new SettingsError(`settings: missing field \`${at}\``);
      }
      return out;
    }, o);
  },
  optional: (inner) => {
    const schema = new Schema({ anyOf: [inner.json, { type: "null" }] }, (v, w) => (v === null ? null : inner.parse(v, w)));
    schema.optional = true;
    return schema;
  },
};

function structuredCloneish(v) {
  return v === undefined ? v : JSON.parse(JSON.stringify(v));
}

/** The JSON Schema a settings schema declares (`{}`: a plugin without settings). */
export function settingsSchema(settings) {
  if (!settings) return { type: "object", additionalProperties: false };
  return { $schema: "https://json-schema.org/draft/2020-12/schema", ...settings.json };
}

/** `value` (parsed JSON or JSON text) parsed strictly by `settings`. */
export function parseSettings(settings, value) {
  if (typeof value === "string") value = value.trim() ? JSON.parse(value) : {};
  if (!settings) {
    if (value !== null && value !== undefined && Object.keys(value).length) {
      throw new SettingsError(`settings: this plugin takes none, got ${show(value)}`);
    }
    return {};
  }
  return settings.parse(value ?? {}, "");
}

// ---------------------------------------------------------------------------------
// Handoffs, findings, verdicts.

/** UTF-8 length of a JavaScript string (UTF-16 code units), without TextEncoder. */
export function utf8Length(text) {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

export class Text {
  constructor(pointer, text) {
    this.pointer = pointer;
    this.text = text;
  }
  /** String offsets `start..end` of `text` as the UTF-8 byte offsets a span carries. */
  byteSpan(start, end) {
    if (!(0 <= start && start <= end && end <= this.text.length)) {
      throw new RangeError(`span ${start}..${end} is not inside the ${this.text.length}-character string at \`${this.pointer}\``);
    }
    const before = utf8Length(this.text.slice(0, start));
    return [before, before + utf8Length(this.text.slice(start, end))];
  }
}

export const Severity = Object.freeze({ INFO: "info", WARNING: "warning", ERROR: "error" });

export class Finding {
  constructor(code, message, severity = Severity.ERROR, path = undefined, span = undefined) {
    this.code = code;
    this.message = message;
    this.severity = severity;
    this.path = path;
    this.span = span;
  }
  static error(code, message) {
    return new Finding(code, message, Severity.ERROR);
  }
  static warning(code, message) {
    return new Finding(code, message, Severity.WARNING);
  }
  static info(code, message) {
    return new Finding(code, message, Severity.INFO);
  }
  /** Points at a Text (or a JSON pointer); with start and end, at those offsets of it. */
  at(where, start, end) {
    if (where instanceof Text) {
      this.path = where.pointer;
      if (start !== undefined || end !== undefined) this.span = where.byteSpan(start ?? 0, end ?? where.text.length);
    } else {
      if (start !== undefined || end !== undefined) throw new TypeError("a span needs the Text itself: .at(text, start, end)");
      this.path = String(where);
    }
    return this;
  }
}

export class Verdict {
  constructor(findings = [], { passed, score, fix } = {}) {
    this.findings = [];
    this._passed = passed;
    this.score = score;
    this.fix = fix;
    for (const f of findings) this.add(f);
  }
  get passed() {
    return this._passed ?? !this.findings.some((f) => f.severity === Severity.ERROR);
  }
  set passed(v) {
    this._passed = Boolean(v);
  }
  add(finding) {
    if (!(finding instanceof Finding)) throw new TypeError(`Verdict.add takes a Finding, not ${show(finding)}`);
    this.findings.push(finding);
    return this;
  }
  has(code) {
    return this.findings.some((f) => f.code === code);
  }
  get codes() {
    return this.findings.map((f) => f.code);
  }
}

export class Route {
  constructor(target, reason) {
    this.target = target;
    this.reason = reason;
  }
}

export const pointerEscape = (token) => token.replaceAll("~", "~0").replaceAll("/", "~1");

export function resolvePointer(value, pointer) {
  if (pointer === "") return value;
  if (!pointer.startsWith("/")) throw new RangeError(`\`${pointer}\` is not a JSON pointer: it starts with / (or is empty)`);
  for (const raw of pointer.slice(1).split("/")) {
    const token = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    if (Array.isArray(value) && /^(0|[1-9][0-9]*)$/.test(token) && Number(token) < value.length) value = value[Number(token)];
    else if (value && typeof value === "object" && !Array.isArray(value) && Object.hasOwn(value, token)) value = value[token];
    else throw new RangeError(`the payload has no value at JSON pointer \`${pointer}\``);
  }
  return value;
}

export class Handoff {
  constructor(payload, context = null, where = {}) {
    this.payload = payload;
    this.context = context;
    this.pipeline = where.pipeline ?? "";
    this.runId = where.runId ?? "";
    this.fromStep = where.fromStep ?? "";
    this.toStep = where.toStep ?? "";
    this.attempt = where.attempt ?? 1;
  }
  /** Every string at or beneath `pointer` of the payload, in document order. */
  texts(pointer = "") {
    const out = [];
    const walk = (v, at) => {
      if (typeof v === "string") out.push(new Text(at, v));
      else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${at}/${i}`));
      else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, `${at}/${pointerEscape(k)}`);
    };
    walk(resolvePointer(this.payload, pointer), pointer);
    return out;
  }
}

// ---------------------------------------------------------------------------------
// Plugins.

const NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

function definition(kind, spec) {
  if (!spec || !NAME.test(spec.name ?? "")) {
    throw new TypeError(`${kind}: give the plugin a kebab-case name, e.g. name: "no-shouting" (got ${show(spec?.name)})`);
  }
  const fn = kind === "gate" ? "check" : "route";
  if (typeof spec[fn] !== "function") throw new TypeError(`${kind} \`${spec.name}\`: define ${fn}(settings, handoff${kind === "router" ? ", verdicts" : ""})`);
  return Object.freeze({
    kind,
    name: spec.name,
    version: spec.version ?? "0.1.0",
    description: spec.description ?? "",
    settings: spec.settings,
    prepare: spec.prepare,
    [fn]: spec[fn],
  });
}

/** A gate: `{ name, version?, description?, settings?, prepare?(settings), check(settings, handoff) }`. */
export const gate = (spec) => definition("gate", spec);

/** A router: `{ name, …, route(settings, handoff, verdicts) }`. */
export const router = (spec) => definition("router", spec);

/** What the plugin says about itself (the host's `describe`). */
export function info(plugin) {
  return {
    name: plugin.name,
    version: plugin.version,
    kind: plugin.kind,
    description: plugin.description,
    settingsSchema: settingsSchema(plugin.settings),
  };
}
