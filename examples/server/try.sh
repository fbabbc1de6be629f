#!/bin/sh
# Starts `seam serve` with the example configuration on a free port, checks a handoff
# at each seam over HTTP (python3's urllib, no other client needed), prints the
# decisions, and stops the server with SIGTERM: it must drain and exit 0.
#   sh examples/server/try.sh
set -e
here=$(cd "$(dirname "$0")" && pwd)
seam=${SEAM:-"cargo run -q --bin seam --"}
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT INT TERM
sed -e 's/^listen = .*/listen = "127.0.0.1:0"/' -e 's/^# ledger = /ledger = /' \
  "$here/seam-server.toml" > "$dir/seam-server.toml"
$seam serve --config "$dir/seam-server.toml" > "$dir/out" 2> "$dir/log" &
pid=$!
i=0
until grep -q "listening on" "$dir/out"; do
  i=$((i + 1))
  if [ $i -gt 600 ] || ! kill -0 "$pid" 2>/dev/null; then
    echo "seam serve did not start:" >&2; cat "$dir/out" "$dir/log" >&2; exit 1
  fi
  sleep 0.5
done
url=$(sed -n 's/^seam serve: listening on \([^;]*\);.*/\1/p' "$dir/out")
echo "seam serve is listening on $url"
python3 - "$url" <<'PY'
import json, sys, urllib.request
url = sys.argv[1]
def post(path, body):
    req = urllib.request.Request(url + path, json.dumps(body).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)
cases = [
    ("reply", {"payload": "Thanks for writing; your parcel left today."}, "next"),
    ("reply", {"payload": "We guarantee delivery tomorrow."}, "retry"),
    ("reply", {"payload": "Write to ana@example.com"}, "fix"),
    ("tool-args", {"payload": {"order_id": "A17", "amount": 900}}, "reject"),
]
for seam, body, expected in cases:
    d = post(f"/v1/seams/{seam}/check", body)["decision"]
    extra = d.get("feedback") or d.get("payload") or d["reason"]
    print(f"{seam:10} {json.dumps(body['payload'])[:48]:50} → {d['action']}: {json.dumps(extra)[:90]}")
    if d["action"] != expected:
        sys.exit(f"expected {expected}, got {d['action']}")
# Recorded in the ledger as one outside run, then read back as the report.
for attempt, text in [(1, "We guarantee it."), (2, "It left today.")]:
    post("/v1/seams/reply/check", {"payload": text, "attempt": attempt,
         "record": {"pipeline": "support", "run": "conv-1", "step": "draft", "to": "done"}})
with urllib.request.urlopen(url + "/v1/report?pipeline=support", timeout=30) as r:
    report = json.load(r)
p, s = report["pipelines"][0], report["seams"][0]
print(f"report: pipeline {p['pipeline']}: {p['runs']} run, {p['completed']} completed; "
      f"seam {s['seam']}: {s['visits']} visit, {s['retries']} retry, {s['recovered_by_retry']} recovered by it")
if p["completed"] != 1 or s["recovered_by_retry"] != 1:
    sys.exit("the recorded run is not in the report as expected")
PY
kill -TERM "$pid"
wait "$pid"
cat "$dir/out" | tail -1
