#!/bin/sh
# Measures the compounding arithmetic with real runs through seam: N runs (default
# 2000) of every pipeline here into one ledger, then the report, then each pipeline's
# measured end-to-end reliability beside the formula for its steps and detector.
#   sh examples/compounding/run.sh [N]
# SEAM_COMPOUNDING_BUSY=K keeps K busy processes spinning meanwhile (K = the number of
# cores saturates the machine), to show that load does not change verdicts.
set -e
here=$(cd "$(dirname "$0")" && pwd)
n=${1:-2000}
out=${SEAM_COMPOUNDING_DIR:-$(mktemp -d)}
seam=${SEAM:-"cargo run -q --release --bin seam --"}
busy=${SEAM_COMPOUNDING_BUSY:-0}
pipelines="six-at-97 six-at-97-gated five-at-95 five-at-95-gated five-at-95-gated-s100 five-at-95-gated-s70 five-at-95-gated-s50"
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
count=$(echo $pipelines | wc -w)
k=0
for p in $pipelines; do
  k=$((k + 1))
  started=$(date +%s)
  echo "[$k/$count] $n runs of $p"
  # On a terminal, seam draws its own "[k/N runs finished]" line on stderr meanwhile.
  $seam run "$here/$p.toml" --input-file "$out/inputs.jsonl" --ledger "$out/ledger.db" --format json > /dev/null || true
  echo "      done in $(($(date +%s) - started)) s"
done
echo "report …"
$seam report --ledger "$out/ledger.db" --html "$out/report.html" > /dev/null
$seam report --ledger "$out/ledger.db" --format json > "$out/report.json"
python3 "$here/formula.py" "$here" "$out/report.json"
echo "ledger, report.json and report.html: $out"
