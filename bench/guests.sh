#!/bin/sh
# Gates by language (not a test; outside CI): the gate `seam new gate` makes in Rust,
# Python and TypeScript (the same check: fail text over max_chars characters), built from
# source, then measured side by side in one run of the runtime's criterion bench
# against the same check in native Rust: per check with a fresh instance and with a
# reused one. Also prints each component's size, its build time, and its first load
# (compile, prepare, compile of the prepared snapshot) against a loaded one.
#   sh bench/guests.sh                   # about 10 minutes
#   SEAM_BENCH_QUICK=1 sh bench/guests.sh  # shorter measurements
# Needs python3 (3.10+, venv; pip fetches componentize-py), node 20+ with npm, and the
# wasm32-wasip2 target.
set -e
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT INT TERM
cargo build -q --release --bin seam
seam=$PWD/target/release/seam
now() { python3 -c 'import time; print(time.monotonic())'; }
since() { python3 -c "import time; print(f'{time.monotonic() - $1:.1f} s')"; }
$seam new gate tpl-rust --dir "$dir" > /dev/null
t=$(now); (cd "$dir/tpl-rust" && cargo build -q --release --target wasm32-wasip2); rust_build=$(since "$t")
rust="$dir/tpl-rust/target/wasm32-wasip2/release/tpl_rust.wasm"
python3 -m venv "$dir/venv"
"$dir/venv/bin/pip" install -q --disable-pip-version-check componentize-py==0.25.1
$seam new gate tpl-python --lang python --dir "$dir" > /dev/null
t=$(now); (cd "$dir/tpl-python" && PATH="$dir/venv/bin:$PATH" python3 -m seam_guest.build build tpl_python_gate.py -o tpl-python.wasm > /dev/null); python_build=$(since "$t")
python="$dir/tpl-python/tpl-python.wasm"
$seam new gate tpl-ts --lang typescript --dir "$dir" > /dev/null
(cd "$dir/tpl-ts" && npm install --silent --no-audit --no-fund)
t=$(now); (cd "$dir/tpl-ts" && npm run --silent build > /dev/null); typescript_build=$(since "$t")
typescript="$dir/tpl-ts/tpl-ts.wasm"
printf '"far too long for ten"' > "$dir/payload.json"
for lang in rust python typescript; do
  eval "wasm=\$$lang"; eval "built=\$${lang}_build"
  size=$(python3 -c "import os; print(f'{os.path.getsize(\"$wasm\") / 1e6:.2f} MB')")
  t=$(now); SEAM_CACHE_DIR="$dir/cache" $seam check --gate "$wasm" --settings '{"max_chars": 10}' --payload "$dir/payload.json" > /dev/null || true; first=$(since "$t")
  t=$(now); SEAM_CACHE_DIR="$dir/cache" $seam check --gate "$wasm" --settings '{"max_chars": 10}' --payload "$dir/payload.json" > /dev/null || true; again=$(since "$t")
  echo "$lang: component $size, built from source in $built; seam check first load $first, loaded from the cache $again"
done
SEAM_BENCH_RUST_GATE="$rust" SEAM_BENCH_PYTHON_GATE="$python" SEAM_BENCH_TYPESCRIPT_GATE="$typescript" \
  cargo bench -q -p seam-runtime --bench check -- template 2>&1 | sed -n '/^gates by language/{p;n;p}'
