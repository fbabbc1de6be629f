#!/bin/sh
# Throughput of runs through `seam serve` replicas sharing a PostgreSQL ledger (not a
# test; outside CI). A real HTTP load generator (oha) starts runs of a two-step
# pipeline with a seam of three standard gates between the steps, each request waiting
# for its run to complete (`wait_ms`), so a 200 is a completed, recorded run. Prints, in
# one run:
#   - the baseline: one replica on a SQLite ledger (seam's embedded default);
#   - one replica on PostgreSQL, and its ratio to the baseline;
#   - three replicas on one PostgreSQL database, loaded at once (one oha each, as a load
#     balancer would spread them), their summed runs/s and the ratio to the baseline.
#   sh bench/replicas.sh                 # about a minute
#   MEASURE_SECONDS=30 CONNECTIONS=16 sh bench/replicas.sh
# Needs oha (`cargo install oha --locked`) and PostgreSQL: SEAM_TEST_POSTGRES
# (postgres://USER@HOST:PORT, a server where USER may create databases), or else the
# server binaries, to start a throwaway cluster (tests/postgres.sh). Builds seam in
# release mode.
set -e
cd "$(dirname "$0")/.."
command -v oha >/dev/null || { echo "bench/replicas.sh needs oha: cargo install oha --locked" >&2; exit 2; }
command -v psql >/dev/null || { echo "bench/replicas.sh needs psql (Debian: apt-get install postgresql-client)" >&2; exit 2; }
measure=${MEASURE_SECONDS:-15}
connections=${CONNECTIONS:-16}
dir=$(mktemp -d)
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  [ -n "$own_pg" ] && stop_pg
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM
own_pg=""
if [ -z "$SEAM_TEST_POSTGRES" ]; then
  . tests/postgres.sh
  own_pg=1
fi
cargo build -q --release --bin seam
seam=$PWD/target/release/seam
db="seam_bench_$$"
psql -q "$SEAM_TEST_POSTGRES/postgres" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
cat > "$dir/pipeline.toml" <<'TOML'
[pipeline]
name = "reply"

[[steps]]
name = "draft"
kind = "command"
command = ["cat"]

[[steps]]
name = "ship"
kind = "command"
command = ["cat"]

[[seams]]
from = "draft"
[[seams.gates]]
plugin = "max-words"
settings = { max_words = 400 }
[[seams.gates]]
plugin = "ban-list"
settings = { words = ["guarantee", "lawsuit", "refund"] }
[[seams.gates]]
plugin = "pii"
TOML
python3 - "$dir/body.json" <<'PY'
import json, sys
text = ("Thanks for writing to us about the headphones you ordered last week. "
        "The parcel left our warehouse this morning and should reach you within three working days. ")
open(sys.argv[1], "w").write(json.dumps({"input": {"reply": text}, "wait_ms": 30000}))
PY
# serve NAME LEDGER: starts a replica; sets $url.
serve() {
  cat > "$dir/$1.toml" <<TOML
listen = "127.0.0.1:0"
ledger = "$2"
pipelines = ["pipeline.toml"]
[limits]
concurrency = 256
queue = 4096
TOML
  "$seam" serve --config "$dir/$1.toml" > "$dir/$1.out" 2> "$dir/$1.log" &
  pids="$pids $!"
  until grep -q "listening on" "$dir/$1.out" 2>/dev/null; do
    kill -0 "$!" 2>/dev/null || { cat "$dir/$1.log" >&2; exit 1; }
    sleep 0.2
  done
  url=$(sed -n 's/^seam serve: listening on \([^;]*\);.*/\1/p' "$dir/$1.out")
}
# load OUT URL: oha for $measure seconds against URL's run endpoint, JSON into OUT.
load() {
  oha --no-tui --output-format json -z "${measure}s" -c "$connections" -m POST \
    -H 'content-type: application/json' -D "$dir/body.json" "$2/v1/pipelines/reply/runs" > "$1"
}
# rate FILE...: the summed completed runs/s (200s) and the errors of oha results.
rate() {
  python3 - "$@" <<'PY'
import json, sys
runs = errors = 0.0
for f in sys.argv[1:]:
    r = json.load(open(f))
    codes = r.get("statusCodeDistribution", {})
    seconds = r["summary"]["total"]
    runs += codes.get("200", 0) / seconds
    errors += sum(v for k, v in codes.items() if k != "200")
    errors += sum(v for k, v in r.get("errorDistribution", {}).items() if k != "aborted due to deadline")
print(f"{runs:.1f} runs/s, errors {int(errors)}")
PY
}
pg="$SEAM_TEST_POSTGRES/$db${PG_PARAMS:-}"
serve sqlite "$dir/seam-ledger.db"; sqlite_url=$url
echo "warming up …"
MEASURE=$measure; measure=3; load "$dir/warm.json" "$sqlite_url"; measure=$MEASURE
load "$dir/sqlite.json" "$sqlite_url"
base=$(rate "$dir/sqlite.json")
echo "baseline, 1 replica, SQLite ledger:        $base"
serve pg1 "$pg"; pg1=$url
serve pg2 "$pg"; pg2=$url
serve pg3 "$pg"; pg3=$url
measure=3; load "$dir/warm.json" "$pg1"; measure=$MEASURE
load "$dir/one.json" "$pg1"
one=$(rate "$dir/one.json")
echo "1 replica, PostgreSQL ledger:              $one"
load "$dir/a.json" "$pg1" & a=$!
load "$dir/b.json" "$pg2" & b=$!
load "$dir/c.json" "$pg3" & c=$!
wait $a $b $c
three=$(rate "$dir/a.json" "$dir/b.json" "$dir/c.json")
echo "3 replicas, one PostgreSQL database:       $three"
python3 - "$base" "$one" "$three" <<'PY'
import sys
b, o, t = (float(a.split()[0]) for a in sys.argv[1:])
print(f"ratios to the baseline: 1 replica on PostgreSQL {o / b:.2f}×, 3 replicas {t / b:.2f}×")
PY
echo "completed runs in the PostgreSQL ledger: $(psql -qtA "$pg" -c "SELECT count(*) FROM runs WHERE status = 'completed'") (of $(psql -qtA "$pg" -c "SELECT count(*) FROM runs"))"
