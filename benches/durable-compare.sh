#!/usr/bin/env bash
# Durable mode over the network (issue #15): mqlite in memory and with `--persistence DIR`
# under each sync policy (commit, periodic every 1000 ms, none) beside Mosquitto in memory and
# with `persistence true`, all driven by mqlite-bench with a persistent subscriber (3.1.1
# clean session 0), 64-byte payloads, QoS 1. Every run starts its broker fresh on a free
# loopback port with a fresh temporary directory (config and store), so no session or store
# survives from one run to the next; the brokers' order rotates each repetition.
#
# Usage: benches/durable-compare.sh [RUNS]     (default 3; README.md, "durable-compare.sh")
# Environment:
#   BROKERS="..."     the configurations to run (default: all six, see start_broker)
#   SCENARIOS=REGEX   run only the scenarios whose id matches (e.g. '1to1')
#   DURATION=SECS     measured seconds per run (default 4; 1 s of warm-up before it)
#   BACKLOG=N         mqlite-bench --max-backlog of the bounded scenarios (default 10000)
#   CARGO_TARGET_DIR  where the mqlite binaries are built (default target/)
# Needs: a Rust toolchain, jq, python3 (to pick free ports) and Debian's mosquitto
# (installed with apt-get if missing, so as root).
# Output: the markdown table (medians over RUNS) on stdout; progress on stderr; one JSON line
# per run in target/durable-compare/results.jsonl, broker logs beside it.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=benches/broker-process.sh
source benches/broker-process.sh # wait_listening, stop_broker, runs_arg, json_str
RUNS=$(runs_arg benches/durable-compare.sh "${1:-}") || exit 2
FILTER=${SCENARIOS:-}
DURATION=${DURATION:-4}
BACKLOG=${BACKLOG:-10000}
read -r -a BROKERS <<<"${BROKERS:-mqlite-memory mqlite-commit mqlite-periodic mqlite-none mosquitto-memory mosquitto-persist}"
OUT=target/durable-compare
TARGET=${CARGO_TARGET_DIR:-target}
BENCH=$TARGET/release/mqlite-bench
MQLITE=$TARGET/release/mqlite

log() { printf '[durable-compare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

for tool in jq python3; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "durable-compare.sh needs $tool" >&2
    exit 1
  fi
done
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  log "installing mosquitto (apt-get)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto
fi
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)

log "building mqlite and mqlite-bench (release)"
cargo build --release --locked -q -p mqlite-broker --bin mqlite
cargo build --release --locked -q -p mqlite-benches --bin mqlite-bench

mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
rm -f "$OUT"/*.log

PID=
RUNDIR=
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; fi
  if [ -n "$RUNDIR" ]; then rm -rf "$RUNDIR"; fi
}
trap cleanup EXIT

# A loopback port nothing listens on now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# mqlite_config PORT SYNC: the limits of benches/peers/mqlite.toml (100,000 queued messages
# per session, 100 in flight, no $SYS) and, for a durable run, the sync policy.
mqlite_config() {
  if [ "$2" != memory ]; then
    printf 'persistence_sync = "%s"\npersistence_sync_interval_ms = 1000\n' "$2"
  fi
  printf 'listen = ["127.0.0.1:%s"]\n\n[broker]\n' "$1"
  printf 'max_queued_messages = 100000\nmax_queued_bytes = 1073741824\n'
  printf 'max_inflight_messages = 100\nmax_clients = 1000000\nsys_interval = 0\n'
}

# mosquitto_config PORT PERSIST: benches/peers/mosquitto.conf on PORT, with `persistence
# true` in the run's directory when PERSIST is 1 (Mosquitto writes its database on
# autosave_interval, 1800 s by default, and at shutdown; it never fsyncs per message).
mosquitto_config() {
  sed "s/^listener 18901 /listener $1 /; /^persistence /d" benches/peers/mosquitto.conf
  if [ "$2" = 1 ]; then
    printf 'persistence true\npersistence_location %s/\n' "$RUNDIR"
  else
    printf 'persistence false\n'
  fi
}

# start_broker NAME: starts it fresh in a new temporary directory on a free port; sets PID,
# PORT and RUNDIR.
start_broker() {
  RUNDIR=$(mktemp -d /tmp/durable-compare.XXXXXX)
  # Mosquitto started as root drops to user mosquitto, which must write its database here.
  chmod 0777 "$RUNDIR"
  PORT=$(free_port)
  case $1 in
    mqlite-memory | mqlite-commit | mqlite-periodic | mqlite-none)
      mqlite_config "$PORT" "${1#mqlite-}" >"$RUNDIR/mqlite.toml"
      local persist=()
      if [ "$1" != mqlite-memory ]; then persist=(--persistence "$RUNDIR/store"); fi
      RUST_LOG=warn "$MQLITE" --config "$RUNDIR/mqlite.toml" "${persist[@]}" \
        2>>"$OUT/$1.log" &
      ;;
    mosquitto-memory | mosquitto-persist)
      mosquitto_config "$PORT" "$([ "$1" = mosquitto-persist ] && echo 1 || echo 0)" \
        >"$RUNDIR/mosquitto.conf"
      "$MOSQUITTO" -c "$RUNDIR/mosquitto.conf" 2>>"$OUT/$1.log" &
      ;;
    *)
      echo "unknown broker configuration $1" >&2
      exit 2
      ;;
  esac
  PID=$!
  wait_listening "$PORT" 0.2 && return
  echo "$1 did not start listening on $PORT (see $OUT/$1.log)" >&2
  exit 1
}

# stop_run: stops the broker and removes its directory (store included).
stop_run() {
  stop_broker
  rm -rf "$RUNDIR"
  RUNDIR=
}

# --- the scenarios -------------------------------------------------------------------------
# id|label|mqlite-bench arguments. Every run also gets --port, --broker-pid, --keepalive 60,
# --persistent-subscriber and --json: MQTT 3.1.1, 64-byte payloads, QoS 1, 1 s of warm-up.
# The bounded scenarios keep at most BACKLOG deliveries outstanding over all publishers
# (--max-backlog; below the brokers' 100,000-message queues), so nothing is dropped and the
# delivered rate is what the broker sustains; the open fan-in is the same run without the
# bound (publishers held back only by their 100-message windows): it shows the overload.
T="--qos 1 --duration $DURATION"
SCENARIO_LIST=(
  "1to1|1 → 1|throughput $T --max-backlog $BACKLOG"
  "100to1|100 → 1|fanin --pubs 100 $T --max-backlog $BACKLOG"
  "100to1-open|100 → 1, no backlog bound|fanin --pubs 100 $T"
)

log "load before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
START=$(date +%s)
for run in $(seq "$RUNS"); do
  for scenario in "${SCENARIO_LIST[@]}"; do
    IFS='|' read -r id label args <<<"$scenario"
    if [ -n "$FILTER" ] && ! [[ $id =~ $FILTER ]]; then continue; fi
    n=${#BROKERS[@]}
    for i in $(seq 0 $((n - 1))); do
      broker=${BROKERS[$(((i + run - 1) % n))]}
      start_broker "$broker"
      load=$(cut -d' ' -f1 /proc/loadavg)
      # shellcheck disable=SC2086 # $args holds words on purpose
      if line=$(timeout 120 "$BENCH" $args --persistent-subscriber --keepalive 60 \
        --port "$PORT" --broker-pid "$PID" --json 2>>"$OUT/bench.log"); then
        status=ok
      else
        status=failed
        line=null
        log "run $run: $id on $broker failed (see $OUT/bench.log)"
      fi
      printf '{"broker":"%s","id":"%s","label":%s,"run":%d,"status":"%s","load1":%s,"cmd":%s,"data":%s}\n' \
        "$broker" "$id" "$(json_str "$label")" "$run" "$status" "$load" \
        "$(json_str "mqlite-bench $args --persistent-subscriber --keepalive 60 --port PORT --broker-pid PID --json")" \
        "$line" >>"$RESULTS"
      stop_run
    done
  done
  log "run $run of $RUNS done"
done
ELAPSED=$(($(date +%s) - START))
log "all runs done in $((ELAPSED / 60)) min $((ELAPSED % 60)) s; load now: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- the table -----------------------------------------------------------------------------
# Per configuration and scenario, medians over the runs that succeeded: delivered msgs/s
# (with the range), published (acknowledged) msgs/s, delivered % of the whole run and the
# broker's peak RSS; then the ratios of issue #15's targets.
jq -rs --argjson runs "$RUNS" '
  def median: sort | if length == 0 then null
    elif length % 2 == 1 then .[length / 2 | floor]
    else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def commas: if length <= 3 then . else (.[:-3] | commas) + "," + .[-3:] end;
  def fmt: if . == null then "–" else (round | tostring | commas) end;
  def pct: if . == null then "–" else ((. * 10 | round) / 10 | tostring) + "%" end;
  def mib: if . == null then "–" else ((. / 1024 * 10 | round) / 10 | tostring) end;
  [.[] | select(.status == "ok")] as $ok
  | ($ok | map(.broker) | unique) as $seen
  | ["mqlite-memory", "mqlite-commit", "mqlite-periodic", "mqlite-none",
     "mosquitto-memory", "mosquitto-persist"] as $order
  | ($order | map(select(. as $b | $seen | index($b)))) as $brokers
  | (reduce $ok[] as $r ([]; if any(.[]; .id == $r.id) then .
      else . + [{id: $r.id, label: $r.label}] end)) as $scenarios
  | def cell($b; $id; $f): [$ok[] | select(.broker == $b and .id == $id) | .data.results[$f]]
      | map(select(. != null)) | median;
    def range($b; $id): [$ok[] | select(.broker == $b and .id == $id)
      | .data.results.delivered_msgs_per_sec] | if length < 2 then ""
      else " (\(min | fmt)–\(max | fmt))" end;
    def n($b; $id): [$ok[] | select(.broker == $b and .id == $id)] | length;
  ( $scenarios[] as $s
    | "\n**\($s.label)** (`\($ok | map(select(.id == $s.id)) | .[0].cmd)`)\n",
      "| broker | delivered msgs/s (min–max) | published msgs/s | delivered % | peak RSS MiB | runs |",
      "|---|---:|---:|---:|---:|---:|",
      ( $brokers[] as $b
        | "| \($b) | \(cell($b; $s.id; "delivered_msgs_per_sec") | fmt)\(range($b; $s.id)) | \(cell($b; $s.id; "published_msgs_per_sec") | fmt) | \(cell($b; $s.id; "delivered_pct") | pct) | \(cell($b; $s.id; "rss_peak_kib") | mib) | \(n($b; $s.id)) |" ) ),
  ( def d($b; $id): cell($b; $id; "delivered_msgs_per_sec");
    def ratio($a; $b): if $a == null or $b == null or $b == 0 then "–"
      else ((($a / $b) * 100 | round) / 100 | tostring) + "×" end;
    "\nTargets of issue #15 (medians of delivered msgs/s, bounded backlog):\n",
    "- commit 1 → 1 / Mosquitto in memory 1 → 1 (target ≥ 1): \(ratio(d("mqlite-commit"; "1to1"); d("mosquitto-memory"; "1to1")))",
    "- commit 100 → 1 / Mosquitto in memory 1 → 1 (target ≥ 2): \(ratio(d("mqlite-commit"; "100to1"); d("mosquitto-memory"; "1to1")))",
    "- commit 100 → 1 / Mosquitto in memory 100 → 1: \(ratio(d("mqlite-commit"; "100to1"); d("mosquitto-memory"; "100to1")))",
    "- periodic 1 → 1 / mqlite in memory 1 → 1 (target ≥ 0.5): \(ratio(d("mqlite-periodic"; "1to1"); d("mqlite-memory"; "1to1")))",
    "- periodic 100 → 1 / mqlite in memory 100 → 1: \(ratio(d("mqlite-periodic"; "100to1"); d("mqlite-memory"; "100to1")))" )
' "$RESULTS"
echo
echo "Load average (1 min) at the start of each run: $(jq -rs '[.[].load1] | "\(min)–\(max)"' "$RESULTS"); $RUNS run(s) of each; $(nproc) CPUs; commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$([ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && echo ' (working tree modified)')."
