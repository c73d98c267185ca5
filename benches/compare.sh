#!/usr/bin/env bash
# Network comparison of mqlite with Mosquitto and rumqttd (issue #7): the same mqlite-bench
# scenarios against each broker on loopback, each run on a freshly started broker, brokers
# alternating, RUNS runs of everything. Then mqlite-charts turns the JSON lines into the
# "Network comparison" section of benches/RESULTS.md (between its compare:begin and
# compare:end markers) and the SVG charts in benches/charts/.
#
# Usage: benches/compare.sh [RUNS]            (default 3; README.md, "compare.sh")
# Environment:
#   SCENARIOS=REGEX   run only the scenarios whose id matches (e.g. 'latency|idle'); the
#                     RESULTS.md section and charts are then left alone unless PUBLISH=1
#   PUBLISH=0|1       write RESULTS.md and benches/charts/ (default: 1 for a full run)
#   REPORT_ONLY=1     run nothing: redraw the charts and rewrite the RESULTS.md section from
#                     the committed benches/charts/compare.jsonl (after editing notes.md)
#   CARGO_TARGET_DIR  where the mqlite binaries are built (default target/)
# Needs: a Rust toolchain and root for apt-get (Debian's mosquitto, installed if missing).
# rumqttd is built by cargo install into target/peers/ on first use (about 2-3 minutes).
# Outputs: target/compare/results.jsonl (one line per run), broker logs beside it, and, when
# publishing, benches/charts/{*.svg,compare.jsonl,meta.json} and the RESULTS.md section,
# which ends with benches/charts/notes.md (hand-written: what the profiles of missed targets
# show) when that file exists.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=benches/broker-process.sh
source benches/broker-process.sh # wait_listening, stop_broker, runs_arg, json_str
RUNS=$(runs_arg benches/compare.sh "${1:-}") || exit 2
FILTER=${SCENARIOS:-}
PUBLISH=${PUBLISH:-$([ -z "$FILTER" ] && echo 1 || echo 0)}
RUMQTTD_VERSION=0.20.0
OUT=target/compare
TARGET=${CARGO_TARGET_DIR:-target}
BENCH=$TARGET/release/mqlite-bench
CHARTS=$TARGET/release/mqlite-charts
MQLITE=$TARGET/release/mqlite
RUMQTTD=target/peers/bin/rumqttd
PEERS=benches/peers
START=$(date +%s)

log() { printf '[compare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# publish: charts into benches/charts/ and the RESULTS.md section, from the JSON lines and
# run description already in benches/charts/.
publish() {
  local notes=()
  if [ -f benches/charts/notes.md ]; then notes=(--notes benches/charts/notes.md); fi
  mkdir -p "$OUT"
  "$CHARTS" --input benches/charts/compare.jsonl --meta benches/charts/meta.json \
    --charts benches/charts --markdown "$OUT/section.md" "${notes[@]}"
  # Replace only what lies between the markers: other sections of RESULTS.md are edited
  # by hand and by other tools.
  if ! grep -q '<!-- compare:begin -->' benches/RESULTS.md; then
    printf '\n## Network comparison\n\n<!-- compare:begin -->\n<!-- compare:end -->\n' \
      >>benches/RESULTS.md
  fi
  awk -v section="$OUT/section.md" '
    /<!-- compare:begin -->/ { print; while ((getline l < section) > 0) print l; skip = 1; next }
    /<!-- compare:end -->/ { skip = 0 }
    !skip { print }
  ' benches/RESULTS.md >"$OUT/RESULTS.md.new"
  mv "$OUT/RESULTS.md.new" benches/RESULTS.md
  log "wrote benches/RESULTS.md (Network comparison) and benches/charts/"
}

if [ "${REPORT_ONLY:-0}" = 1 ]; then
  cargo build --release --locked -q -p mqlite-benches --bin mqlite-charts
  publish
  exit 0
fi

# --- the brokers -------------------------------------------------------------------------
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  log "installing mosquitto (apt-get)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto
fi
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)

if [ "$("$RUMQTTD" --version 2>/dev/null)" != "rumqttd $RUMQTTD_VERSION" ]; then
  log "building rumqttd $RUMQTTD_VERSION into target/peers (cargo install)"
  # Not --locked: the lock file published with 0.20.0 pins metrics 0.22.1, which current
  # rustc rejects (E0521); the latest semver-compatible dependencies build. No TLS and no
  # websockets: the runs use plain TCP only.
  cargo install rumqttd --version "=$RUMQTTD_VERSION" --no-default-features \
    --root target/peers --quiet
fi

log "building mqlite, mqlite-bench and mqlite-charts (release)"
cargo build --release --locked -q -p mqlite-broker
cargo build --release --locked -q -p mqlite-benches --bin mqlite-bench --bin mqlite-charts

ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt 10300 ]; then
  echo "the idle scenario needs RLIMIT_NOFILE above 10,300 (hard limit: $(ulimit -Hn))" >&2
  exit 1
fi
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
rm -f "$OUT"/*.log

PID=
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

# start_broker NAME: starts it fresh on its own port; sets PID and PORT.
start_broker() {
  case $1 in
    mqlite)
      RUST_LOG=warn "$MQLITE" --config "$PEERS/mqlite.toml" 2>>"$OUT/mqlite.log" &
      PORT=18902 ;;
    mosquitto)
      "$MOSQUITTO" -c "$PEERS/mosquitto.conf" 2>>"$OUT/mosquitto.log" &
      PORT=18901 ;;
    rumqttd)
      "$RUMQTTD" --quiet --config "$PEERS/rumqttd.toml" >>"$OUT/rumqttd.log" 2>&1 &
      PORT=18903 ;;
  esac
  PID=$!
  wait_listening "$PORT" 0.2 && return
  echo "$1 did not start listening on $PORT (see $OUT/$1.log)" >&2
  exit 1
}

# --- the scenarios -------------------------------------------------------------------------
# id|label|mqlite-bench arguments. Every run also gets --port, --broker-pid, --keepalive 60
# (rumqttd refuses a CONNECT with keep alive 0) and --json. Throughput runs: 1 s warm-up,
# 4 s measured; latency: 1 s + 5 s; 64-byte payloads and MQTT 3.1.1 unless stated.
T="--duration 4"
SCENARIO_LIST=(
  "qos0-1to1|QoS 0, 1 → 1|throughput --qos 0 $T"
  "qos1-1to1|QoS 1, 1 → 1|throughput --qos 1 $T"
  "qos2-1to1|QoS 2, 1 → 1|throughput --qos 2 $T"
  "qos0-fanout|QoS 0, fan-out 1 → 100|fanout --subs 100 --qos 0 $T"
  "qos1-fanout|QoS 1, fan-out 1 → 100|fanout --subs 100 --qos 1 $T"
  "qos0-fanin|QoS 0, fan-in 100 → 1|fanin --pubs 100 --qos 0 $T"
  "qos1-fanin|QoS 1, fan-in 100 → 1|fanin --pubs 100 --qos 1 $T"
  "qos0-wildcard|QoS 0, 1,000 pubs × 1,000 topics → 10 wildcard subs|throughput --pubs 1000 --topics 1000 --subs 10 --fanout --qos 0 $T --timeout 20"
  "qos0-16k|QoS 0, 16 KiB payloads, 1 → 1|throughput --size 16384 --qos 0 $T"
  "qos1-16k|QoS 1, 16 KiB payloads, 1 → 1|throughput --size 16384 --qos 1 $T"
  "lat-qos0-10k|latency, QoS 0 at 10,000 msgs/s|latency --rate 10000 --qos 0 --duration 5"
  "lat-qos1-10k|latency, QoS 1 at 10,000 msgs/s|latency --rate 10000 --qos 1 --duration 5"
  "lat-qos0-50k|latency, QoS 0 at 50,000 msgs/s|latency --rate 50000 --qos 0 --duration 5"
  "lat-qos1-50k|latency, QoS 1 at 50,000 msgs/s|latency --rate 50000 --qos 1 --duration 5"
  "idle-10k|10,000 idle connections|idle --conns 10000 --duration 3 --timeout 20"
  "slow-sub|slow subscriber: QoS 1, 1 KiB at 20,000 msgs/s, one subscriber stops reading|slow --qos 1 --size 1024 --rate 20000 --duration 14"
)
BROKERS=(mqlite mosquitto rumqttd)

# JSON string escaping for the few fields written by hand.
log "load before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq "$RUNS"); do
  for scenario in "${SCENARIO_LIST[@]}"; do
    IFS='|' read -r id label args <<<"$scenario"
    if [ -n "$FILTER" ] && ! [[ $id =~ $FILTER ]]; then continue; fi
    # Rotate the order each run, so no broker always runs first after a build or last.
    for i in 0 1 2; do
      broker=${BROKERS[$(((i + run - 1) % 3))]}
      start_broker "$broker"
      cmd="mqlite-bench $args --keepalive 60 --port $PORT --broker-pid $PID --json"
      load=$(cut -d' ' -f1 /proc/loadavg)
      # shellcheck disable=SC2086 # $args holds words on purpose
      if line=$(timeout 300 "$BENCH" $args --keepalive 60 --port "$PORT" --broker-pid "$PID" \
        --json 2>>"$OUT/bench.log"); then
        status=ok
      else
        status=failed
        line=null
        log "run $run: $id on $broker failed (see $OUT/bench.log)"
      fi
      printf '{"broker":"%s","id":"%s","label":%s,"run":%d,"status":"%s","load1":%s,"cmd":%s,"data":%s}\n' \
        "$broker" "$id" "$(json_str "$label")" "$run" "$status" "$load" "$(json_str "$cmd")" \
        "$line" >>"$RESULTS"
      stop_broker
    done
  done
  log "run $run of $RUNS done"
done

# --- the report ----------------------------------------------------------------------------
ELAPSED=$(($(date +%s) - START))
# `mosquitto -h` exits with 3 after printing its version.
MOSQUITTO_VERSION=$({ "$MOSQUITTO" -h 2>&1 || true; } | awk 'NR == 1 { print $3 }')
META=$OUT/meta.json
{
  printf '{"runs":%d,"elapsed_s":%d,' "$RUNS" "$ELAPSED"
  printf '"mqlite":%s,' "$(json_str "$("$MQLITE" --version)")"
  printf '"commit":%s,' "$(json_str "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)")"
  printf '"dirty":%s,' "$([ -n "$(git status --porcelain 2>/dev/null)" ] && echo true || echo false)"
  printf '"mosquitto":%s,' "$(json_str "$MOSQUITTO_VERSION")"
  printf '"rumqttd":%s,' "$(json_str "$("$RUMQTTD" --version)")"
  printf '"rustc":%s,' "$(json_str "$(rustc --version)")"
  printf '"cpus":%d,"cpu":%s,' "$(nproc)" \
    "$(json_str "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)")"
  printf '"mem_gib":%d,' "$(awk '/^MemTotal:/ { print int($2 / 1048576 + 0.5) }' /proc/meminfo)"
  printf '"kernel":%s,' "$(json_str "$(uname -r)")"
  printf '"date":%s}\n' "$(json_str "$(date -u +%Y-%m-%dT%H:%MZ)")"
} >"$META"
log "all runs done in $((ELAPSED / 60)) min $((ELAPSED % 60)) s; load now: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "$PUBLISH" = 1 ]; then
  mkdir -p benches/charts
  cp "$RESULTS" benches/charts/compare.jsonl
  cp "$META" benches/charts/meta.json
  publish
else
  "$CHARTS" --input "$RESULTS" --meta "$META" --markdown "$OUT/section.md"
  log "summary in $OUT/section.md (RESULTS.md and charts untouched)"
fi
