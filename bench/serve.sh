#!/bin/sh
# Load benchmark of `seam serve` (not a test; outside CI): a real HTTP load generator
# (oha) against the server on loopback, with a seam of three standard gates on a 1 KB
# handoff. Prints, in one run:
#   - the peak rate of GET /healthz (HTTP and the server's admission, no gates): the
#     baseline the seam check is compared with;
#   - the peak rate of POST /v1/seams/bench/check, and its ratio to the baseline;
#   - p50/p99 latency at 25, 50, 65 and 80% of the check's peak, open loop (oha -q,
#     latency corrected);
#   - with SOAK_SECONDS (default 600; 0 skips it): a soak at 80% of the peak, its errors,
#     and the server's RSS at its start and end.
#   sh bench/serve.sh            # about 12 minutes with the soak
#   SOAK_SECONDS=0 sh bench/serve.sh
#   MEASURE_SECONDS=10 CONNECTIONS=128 sh bench/serve.sh   (10 s steps, 128 connections;
#                                                           defaults 15 and 64)
# Needs oha (`cargo install oha --locked`); builds seam in release mode.
set -e
cd "$(dirname "$0")/.."
command -v oha >/dev/null || { echo "bench/serve.sh needs oha: cargo install oha --locked" >&2; exit 2; }
soak=${SOAK_SECONDS:-600}
measure=${MEASURE_SECONDS:-15}
connections=${CONNECTIONS:-64}
cargo build -q --release --bin seam
seam=target/release/seam
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT INT TERM
cat > "$dir/seam-server.toml" <<'TOML'
listen = "127.0.0.1:0"
[limits]
concurrency = 256
queue = 4096

[seams.bench]
on_fail = "retry"
[[seams.bench.gates]]
plugin = "max-words"
settings = { max_words = 400 }
[[seams.bench.gates]]
plugin = "ban-list"
settings = { words = ["guarantee", "lawsuit", "refund"] }
[[seams.bench.gates]]
plugin = "pii"
TOML
# A 1 KB reply that passes every gate (the common case).
python3 - "$dir/body.json" <<'PY'
import json, sys
words = ("Thanks for writing to us about the headphones you ordered last week. "
         "The parcel left our warehouse this morning and should reach you within three working days. ")
text = (words * 8)[:1000]
open(sys.argv[1], "w").write(json.dumps({"payload": {"reply": text}}))
PY
$seam serve --config "$dir/seam-server.toml" > "$dir/out" 2> "$dir/log" &
pid=$!
until grep -q "listening on" "$dir/out" 2>/dev/null; do
  kill -0 "$pid" 2>/dev/null || { cat "$dir/log" >&2; exit 1; }
  sleep 0.2
done
url=$(sed -n 's/^seam serve: listening on \([^;]*\);.*/\1/p' "$dir/out")
check="$url/v1/seams/bench/check"
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
run() { oha --no-tui --output-format json "$@" > "$dir/result.json"; }
field() {
  python3 - "$dir/result.json" "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["summary"]
codes = r.get("statusCodeDistribution", {})
# Requests still in flight when oha's duration ends are "aborted due to deadline": cut
# by the generator, not failed by the server.
errors = sum(v for k, v in r.get("errorDistribution", {}).items() if k != "aborted due to deadline")
errors += sum(v for k, v in codes.items() if k != "200")
p = r.get("latencyPercentiles", {})
print({"rps": f'{s["requestsPerSec"]:.0f}',
       "p50": f'{p.get("p50", 0) * 1000:.2f}',
       "p99": f'{p.get("p99", 0) * 1000:.2f}',
       "errors": str(errors),
       "total": str(sum(codes.values()))}[sys.argv[2]])
PY
}
echo "warming up …"
run -z 5s -c "$connections" -m POST -H 'content-type: application/json' -D "$dir/body.json" "$check"
run -z "${measure}s" -c "$connections" "$url/healthz"
base=$(field rps)
echo "baseline GET /healthz:                  $base req/s (errors $(field errors))"
run -z "${measure}s" -c "$connections" -m POST -H 'content-type: application/json' -D "$dir/body.json" "$check"
peak=$(field rps)
echo "peak POST /v1/seams/bench/check (1 KB): $peak handoffs/s (errors $(field errors)); $(python3 -c "print(f'{$peak / $base:.2f}')")× the baseline"
# Open loop at fixed rates below the peak: where the tail stays short.
for share in 25 50 65 80; do
  r=$(python3 -c "print(int($peak * $share / 100))")
  run -z "${measure}s" -c "$connections" -q "$r" --latency-correction -m POST -H 'content-type: application/json' -D "$dir/body.json" "$check"
  echo "at $share% of peak ($r/s, open loop): p50 $(field p50) ms, p99 $(field p99) ms, $(field rps) handoffs/s, errors $(field errors)"
done
rate=$(python3 -c "print(int($peak * 0.8))")
if [ "$soak" -gt 0 ]; then
  start_rss=$(rss)
  run -z "${soak}s" -c "$connections" -q "$rate" --latency-correction -m POST -H 'content-type: application/json' -D "$dir/body.json" "$check"
  end_rss=$(rss)
  echo "soak ${soak} s at $rate/s: $(field total) handoffs, errors $(field errors), p99 $(field p99) ms; RSS $start_rss → $end_rss KiB ($(python3 -c "print(f'{($end_rss - $start_rss) * 100 / $start_rss:+.1f}')")%)"
fi
kill -TERM "$pid"
wait "$pid" || true
