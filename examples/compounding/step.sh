#!/bin/sh
# A synthetic pipeline step that succeeds with a set probability, deterministically:
# whether run SEED's step STEP on attempt N succeeds depends only on those three, through
# cksum. Usage: sh step.sh RATE (in basis points: 9700 = 97%).
# It prints {"ok": true} on success and {"ok": false} on failure; a failure upstream
# that reached this step (payload {"ok": false}) stays a failure, as in a real pipeline
# where a broken handoff spoils everything after it.
rate=$1
input=$(cat)
seed=$(printf '%s' "$input" | sed -n 's/.*"input":{"seed":\([0-9]*\)}.*/\1/p')
step=$(printf '%s' "$input" | sed -n 's/.*"step":"\([^"]*\)".*/\1/p')
attempt=$(printf '%s' "$input" | sed -n 's/.*"attempt":\([0-9]*\).*/\1/p')
roll=$(printf '%s:%s:%s' "$seed" "$step" "$attempt" | cksum | cut -d' ' -f1)
case "$input" in
  *'"payload":{"ok":false}'*) echo '{"ok": false}'; exit 0 ;;
esac
if [ $((roll % 10000)) -lt "$rate" ]; then echo '{"ok": true}'; else echo '{"ok": false}'; fi
