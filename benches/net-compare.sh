#!/usr/bin/env bash
# Network comparison: the same mqlite-bench scenarios against mqlite and Mosquitto on
# loopback, alternating, each run on a freshly started broker. Prints a Markdown table
# (median, min, max of RUNS runs; ratio mqlite / Mosquitto) and keeps the raw JSON lines.
#
# Usage: benches/net-compare.sh [RUNS] [OUT.jsonl]     (default 3 runs, target/net-compare.jsonl)
# Needs: a Rust toolchain, python3 (for the summary) and Debian's mosquitto (installed if
# missing, with apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-3}
OUT=${2:-target/net-compare.jsonl}
mkdir -p target
: >"$OUT"

if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto
fi
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
cargo build --release --locked -q -p mqlite-net --bin mqlite
cargo build --release --locked -q -p mqlite-benches --bin mqlite-bench
MQLITE=target/release/mqlite
BENCH=target/release/mqlite-bench
ulimit -n "$(ulimit -Hn)"

WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

# The same limits for both, raised so neither is throttled by a default queue size.
cat >"$WORK/mosquitto.conf" <<EOF
listener 18901 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 100000
max_inflight_messages 100
max_connections -1
EOF
cat >"$WORK/mqlite.toml" <<EOF
listen = ["127.0.0.1:18902"]
[broker]
max_queued_messages = 100000
max_queued_bytes = 1073741824
max_inflight_messages = 100
max_clients = 1000000
sys_interval = 0
EOF

start_broker() { # start_broker NAME -> sets PID and PORT
  case $1 in
    mosquitto) "$MOSQUITTO" -c "$WORK/mosquitto.conf" 2>>"$WORK/mosquitto.log" & PORT=18901 ;;
    mqlite) RUST_LOG=warn "$MQLITE" --config "$WORK/mqlite.toml" 2>>"$WORK/mqlite.log" & PORT=18902 ;;
  esac
  PID=$!
  for _ in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then return; fi
    sleep 0.05
  done
  echo "$1 did not start" >&2
  exit 1
}

stop_broker() {
  kill "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  sleep 0.5 # let the kernel release the port and the CPU settle
}

# name|mqlite-bench arguments
SCENARIOS=(
  "qos0 1->1|throughput --qos 0"
  "qos1 1->1|throughput --qos 1"
  "qos2 1->1|throughput --qos 2"
  "qos0 fan-out 1->100|fanout --subs 100 --qos 0"
  "qos0 fan-in 100->1|fanin --pubs 100 --qos 0"
  "qos1 fan-in 100->1|fanin --pubs 100 --qos 1"
  "latency qos0 @10k/s|latency --rate 10000 --qos 0"
  "latency qos1 @10k/s|latency --rate 10000 --qos 1"
  "idle 10000 conns|idle --conns 10000"
)

for run in $(seq "$RUNS"); do
  for scenario in "${SCENARIOS[@]}"; do
    name=${scenario%%|*}
    args=${scenario#*|}
    for broker in mqlite mosquitto; do
      start_broker "$broker"
      # shellcheck disable=SC2086 # args are words on purpose
      if line=$(timeout 120 "$BENCH" $args --port "$PORT" --broker-pid "$PID" --duration 3 --json 2>>"$WORK/bench.log"); then
        printf '{"broker":"%s","name":"%s","run":%d,"data":%s}\n' "$broker" "$name" "$run" "$line" >>"$OUT"
      else
        echo "run $run $name on $broker failed (see $WORK/bench.log)" >&2
      fi
      stop_broker
    done
  done
done

echo "mqlite: $("$MQLITE" --version); $("$MOSQUITTO" -h 2>&1 | head -1); $(nproc) cores; $(uname -r)"
python3 - "$OUT" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def metric(r):
    res = r["data"]["results"]
    if "latency_p99_us" in res: return res["latency_p99_us"], "p99 µs (lower is better)"
    if "rss_per_conn_kib" in res: return res["rss_per_conn_kib"], "KiB RSS / connection (lower is better)"
    return res["delivered_msgs_per_sec"], "delivered msgs/s"
names = list(dict.fromkeys(r["name"] for r in rows))
print("| scenario | metric | mqlite median (min–max) | Mosquitto median (min–max) | mqlite / Mosquitto |")
print("| --- | --- | --- | --- | --- |")
for name in names:
    vals, unit = {}, ""
    for b in ("mqlite", "mosquitto"):
        ms = [metric(r) for r in rows if r["name"] == name and r["broker"] == b]
        vals[b] = [m[0] for m in ms]
        unit = ms[0][1] if ms else unit
    if not vals["mqlite"] or not vals["mosquitto"]: continue
    med = {b: statistics.median(v) for b, v in vals.items()}
    fmt = lambda v: f"{v:,.0f}" if v >= 100 else f"{v:.2f}"
    cell = lambda b: f"{fmt(med[b])} ({fmt(min(vals[b]))}–{fmt(max(vals[b]))})"
    ratio = med["mqlite"] / med["mosquitto"] if med["mosquitto"] else float("nan")
    print(f"| {name} | {unit} | {cell('mqlite')} | {cell('mosquitto')} | {ratio:.2f} |")
EOF
