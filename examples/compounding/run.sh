#!/bin/sh
# Reproduces the compounding arithmetic with real runs through seam: N runs (default
# 2000) of each of the four pipelines into one ledger, then the report.
#   sh examples/compounding/run.sh [N]
# SEAM_COMPOUNDING_BUSY=K keeps K busy processes spinning meanwhile (K = the number of
# cores saturates the machine), to show that load does not change verdicts.
set -e
here=$(cd "$(dirname "$0")" && pwd)
n=${1:-2000}
out=${SEAM_COMPOUNDING_DIR:-$(mktemp -d)}
seam=${SEAM:-"cargo run -q --release --bin seam --"}
busy=${SEAM_COMPOUNDING_BUSY:-0}
i=0; : > "$out/inputs.jsonl"
while [ $i -lt "$n" ]; do echo "{\"seed\": $i}" >> "$out/inputs.jsonl"; i=$((i + 1)); done
pids=""
trap 'for p in $pids; do kill "$p" 2>/dev/null || true; done' EXIT INT TERM
i=0
while [ $i -lt "$busy" ]; do
  sh -c 'while :; do :; done' &
  pids="$pids $!"
  i=$((i + 1))
done
[ "$busy" -gt 0 ] && echo "$busy busy processes spinning meanwhile"
for p in six-at-97 six-at-97-gated five-at-95 five-at-95-gated; do
  echo "running $n × $p …"
  $seam run "$here/$p.toml" --input-file "$out/inputs.jsonl" --ledger "$out/ledger.db" --format json > /dev/null || true
done
$seam report --ledger "$out/ledger.db" --html "$out/report.html"
echo "ledger and report.html: $out"
