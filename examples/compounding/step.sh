#!/bin/sh
# A synthetic pipeline step with a synthetic detector, both seeded:
#   sh step.sh RATE [SENSITIVITY FALSE_POSITIVE]      (basis points: 9700 = 97%)
# The step succeeds with probability RATE: it prints {"ok": true, …}, else {"ok": false, …}.
# A failure upstream that reached this step (a payload with "ok":false) stays a failure,
# as in a real pipeline where a broken handoff spoils everything after it.
# "flagged" is what an imperfect detector reports about this output: a bad output is
# flagged with probability SENSITIVITY, a good one with probability FALSE_POSITIVE
# (defaults 10000 and 0: a perfect detector). The seam's gate checks "flagged"; the
# truth ("ok") is checked only at the very end.
# Every roll depends only on the run's seed, the step, the attempt and what is rolled,
# through cksum: the same figures on every machine. A retry is the same step rolled
# again (a new attempt, independently).
rate=$1
sensitivity=${2:-10000}
false_positive=${3:-0}
input=$(cat)
seed=$(printf '%s' "$input" | sed -n 's/.*"input":{"seed":\([0-9]*\)}.*/\1/p')
step=$(printf '%s' "$input" | sed -n 's/.*"step":"\([^"]*\)".*/\1/p')
attempt=$(printf '%s' "$input" | sed -n 's/.*"attempt":\([0-9]*\).*/\1/p')
payload=$(printf '%s' "$input" | sed -n 's/.*"payload":{\([^}]*\)}.*/\1/p')
roll() { printf '%s:%s:%s:%s' "$seed" "$step" "$attempt" "$1" | cksum | cut -d' ' -f1; }
case "$payload" in
  *'"ok":false'*) ok=false ;;
  *) if [ $(($(roll step) % 10000)) -lt "$rate" ]; then ok=true; else ok=false; fi ;;
esac
detect=$(($(roll detect) % 10000))
if [ "$ok" = true ]; then
  if [ "$detect" -lt "$false_positive" ]; then flagged=true; else flagged=false; fi
else
  if [ "$detect" -lt "$sensitivity" ]; then flagged=true; else flagged=false; fi
fi
echo "{\"ok\": $ok, \"flagged\": $flagged}"
