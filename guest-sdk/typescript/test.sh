#!/bin/sh
# The TypeScript guest SDK's tests: its unit tests under node, then a gate built with
# `seam-guest-ts build` (esbuild, then componentize-js with QuickJS) and checked through
# the real host. Needs node 20+ and npm; npm fetches jco, componentize-js and esbuild
# (pinned in package.json) into guest-sdk/typescript/node_modules.
set -eu
cd "$(dirname "$0")/../.."
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  # A developer without node gets every other test; CI sets SEAM_REQUIRE_NODE=1.
  echo "guest-sdk/typescript/test.sh: SKIPPED: needs node 20 or newer and npm (Debian: apt-get install nodejs npm)" >&2
  [ "${SEAM_REQUIRE_NODE:-}" = 1 ] && exit 1
  exit 0
fi
(cd guest-sdk/typescript && npm install --silent --no-audit --no-fund)
cargo build --quiet --bin seam
node --test guest-sdk/typescript/test/
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
seam=${CARGO_TARGET_DIR:-$PWD/target}/debug/seam
fail() { echo "FAIL: $*" >&2; exit 1; }
# The template, as a new user gets it: install, test natively, build, bundle, test
# through the host, for a gate and a router.
for kind in gate router; do
  $seam new $kind "ts-$kind" --lang typescript --dir "$tmp" > /dev/null
  (cd "$tmp/ts-$kind" && npm install --silent --no-audit --no-fund && npm test > "$tmp/native.txt" 2>&1) || { cat "$tmp/native.txt"; fail "$kind: the template's own test"; }
  (cd "$tmp/ts-$kind" && $seam bundle build . > /dev/null && $seam bundle test "ts-$kind-0.1.0.seam") > "$tmp/bundle.txt" 2>&1 || { cat "$tmp/bundle.txt"; fail "$kind: bundle build or test"; }
  tail -1 "$tmp/bundle.txt" | grep -q ", 0 failed" || fail "$kind: $(tail -1 "$tmp/bundle.txt")"
done
# Signed by a team key and verified against it; refused against another key.
(cd "$tmp/ts-gate" && $seam keygen --out team > /dev/null && $seam keygen --out other > /dev/null \
  && $seam bundle sign ts-gate-0.1.0.seam --key team.key > /dev/null \
  && $seam bundle verify ts-gate-0.1.0.seam --trusted-key team.pub > "$tmp/verify.txt" 2>&1) \
  || { cat "$tmp/verify.txt" 2>/dev/null; fail "sign or verify the gate's bundle"; }
if (cd "$tmp/ts-gate" && $seam bundle verify ts-gate-0.1.0.seam --trusted-key other.pub > "$tmp/verify.txt" 2>&1); then
  fail "a bundle signed by another key verified: $(cat "$tmp/verify.txt")"
fi
# A gate that throws, built in the gate project (its node_modules), checked through the host.
cat > "$tmp/ts-gate/raising.ts" <<'TS'
import { gate, s, Verdict, Finding } from "@seam/guest";
export default gate({
  name: "ts-raising",
  settings: s.object({ max_chars: s.integer({ default: 280 }) }),
  prepare(settings: { max_chars: number }) {
    if (settings.max_chars < 0) throw new RangeError(`max_chars must be 0 or more, not ${settings.max_chars}`);
  },
  check(settings: { max_chars: number }, handoff) {
    const verdict = new Verdict();
    for (const t of handoff.texts("")) {
      if (t.text === "boom") throw new TypeError("boom happened");
      if (t.text.length > settings.max_chars) verdict.add(Finding.error("length.chars", `${t.text.length} characters`).at(t, settings.max_chars));
    }
    return verdict;
  },
});
TS
(cd "$tmp/ts-gate" && npx seam-guest-ts build raising.ts -o raising.wasm > /dev/null)
printf '{"reply": "h\303\251llo w\303\266rld"}' > "$tmp/p.json"
printf '"boom"' > "$tmp/b.json"
out=$($seam check --gate "$tmp/ts-gate/raising.wasm" --settings '{"max_chars": 5}' --payload "$tmp/p.json" --format json || true)
echo "$out" | grep -q '"start": 6' || fail "the span: $out"
out=$($seam check --gate "$tmp/ts-gate/raising.wasm" --payload "$tmp/b.json" 2>&1 || true)
echo "$out" | grep -q 'check: TypeError: boom happened' || fail "the thrown error: $out"
out=$($seam check --gate "$tmp/ts-gate/raising.wasm" --settings '{"max_chars": "five"}' --payload "$tmp/b.json" 2>&1 || true)
echo "$out" | grep -q 'max_chars' || fail "the settings that do not match the schema: $out"
out=$($seam check --gate "$tmp/ts-gate/raising.wasm" --settings '{"max_chars": -1}' --payload "$tmp/b.json" 2>&1 || true)
echo "$out" | grep -q 'prepare: RangeError: max_chars must be 0 or more, not -1' || fail "the refused settings: $out"
# A gate that counts in module state, run many times in one host by a Rust test: the
# host runs it from a snapshot after `prepare`, on recycled instances, and every check
# sees a fresh instance.
cat > "$tmp/ts-gate/counter.ts" <<'TS'
import { gate, s, Verdict, Finding } from "@seam/guest";
let prepared = 0;
let calls = 0;
let kept: number[] = [];
export default gate({
  name: "ts-counter",
  settings: s.object({ keep: s.integer({ default: 1000 }) }),
  prepare() {
    prepared += 1;
  },
  check(settings: { keep: number }, handoff) {
    calls += 1;
    const held = kept.length;
    kept = new Array(settings.keep).fill(calls);
    for (const t of handoff.texts("")) {
      if (t.text === "boom") throw new TypeError("boom happened");
    }
    return new Verdict([
      Finding.info("counter.prepared", `${prepared}`),
      Finding.info("counter.calls", `${calls}`),
      Finding.info("counter.held", `${held}`),
    ]);
  },
});
TS
(cd "$tmp/ts-gate" && npx seam-guest-ts build counter.ts -o counter.wasm > /dev/null)
SEAM_TS_COUNTER="$tmp/ts-gate/counter.wasm" cargo test --quiet -p seam-tests --test all -- --ignored --exact \
  hostile::typescript_counter::a_typescript_gate_is_prepared_once_recycled_and_isolated > "$tmp/counter.txt" 2>&1 \
  || { cat "$tmp/counter.txt"; fail "the counting gate: a check saw an earlier one's state"; }
grep -q "test result: ok. 1 passed" "$tmp/counter.txt" || { cat "$tmp/counter.txt"; fail "the counting gate's test did not run"; }
echo "typescript: the gate and router templates test, build, bundle and pass their cases; bundles sign and verify; thrown errors come back named; a counting gate sees a fresh instance every check"
