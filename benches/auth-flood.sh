#!/usr/bin/env bash
# Failed logins and other clients' latency (issue #10: "1,000 failed logins in a row leave
# other clients' latency unchanged and memory flat"). For mqlite and Mosquitto, with the same
# settings (a password file holding user `alice`, anonymous clients allowed), each round
# starts the broker on a free loopback port and runs
#   mqlite-bench latency --rate 10000 --qos 1 --duration 5 --json
# once quiet and once while `login_flood` (benches/examples/login_flood.rs) makes failed
# logins back to back: CONNECT as alice with a wrong password, read the refusal CONNACK,
# wait for the broker to close, close, repeat. Brokers and the order of the runs alternate
# between rounds. The memory side of the issue is asserted by net-frontend/tests/auth_flood.rs;
# here the broker's RSS is only recorded, before and after each run.
#
# Usage: benches/auth-flood.sh [ROUNDS]        (default 3; README.md, "auth-flood.sh")
# Environment:
#   MODES="quiet flood"  the runs of each round; `churn` adds a control: the same client
#                        logging in anonymously (CONNACK 0, DISCONNECT, close), connection
#                        churn without password hashing
#   BROKERS="mqlite mosquitto"
#   FLOOD_THREADS=1      concurrent login clients of the flood, each back to back
#   RATE=10000 QOS=1 DURATION=5   the latency run (mqlite-bench, 1 s warm-up before it)
#   STAMP=sent           mqlite-bench --stamp: `scheduled` counts time the publisher is held
#                        back as latency, but spins a core to pace (README.md, "latency")
#   CARGO_TARGET_DIR     where the mqlite binaries are built (default target/)
# Needs: a Rust toolchain, Mosquitto 2 (/usr/sbin/mosquitto or on PATH), jq.
# Outputs, in target/auth-flood/: results.jsonl (one line per run: broker, mode, uptime,
# RSS, mqlite-bench's and login_flood's JSON), summary.md (medians per broker and mode),
# uptime.log, broker and tool logs.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${1:-3}
if ! [[ $ROUNDS =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: benches/auth-flood.sh [ROUNDS]" >&2
  exit 2
fi
read -r -a MODE_LIST <<<"${MODES:-quiet flood}"
read -r -a BROKER_LIST <<<"${BROKERS:-mqlite mosquitto}"
FLOOD_THREADS=${FLOOD_THREADS:-1}
RATE=${RATE:-10000}
QOS=${QOS:-1}
DURATION=${DURATION:-5}
STAMP=${STAMP:-sent}
case $STAMP in sent | scheduled) ;; *) echo "STAMP must be sent or scheduled" >&2; exit 2 ;; esac
for m in "${MODE_LIST[@]}"; do
  case $m in quiet | flood | churn) ;; *) echo "unknown mode '$m'" >&2; exit 2 ;; esac
done
for b in "${BROKER_LIST[@]}"; do
  case $b in mqlite | mosquitto) ;; *) echo "unknown broker '$b'" >&2; exit 2 ;; esac
done
for v in FLOOD_THREADS RATE QOS DURATION; do
  if ! [[ ${!v} =~ ^[0-9]+$ ]]; then echo "$v must be a whole number" >&2; exit 2; fi
done

TARGET=${CARGO_TARGET_DIR:-target}
BENCH=$TARGET/release/mqlite-bench
FLOOD=$TARGET/release/examples/login_flood
MQLITE=$TARGET/release/mqlite
OUT=target/auth-flood
# The flood starts this long before mqlite-bench and runs this long in all: the bench's
# connect, 1 s warm-up and measured window fall inside it (checked after every run).
FLOOD_LEAD=0.5
FLOOD_SECS=$((DURATION + 3))

log() { printf '[auth-flood %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

command -v jq >/dev/null || { echo "auth-flood.sh needs jq" >&2; exit 1; }
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
if [ ! -x "$MOSQUITTO" ]; then
  echo "Mosquitto 2 is needed (apt-get install mosquitto)" >&2
  exit 1
fi

# The commit the binaries were built from (HEAD may move while the rounds run).
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$([ -n "$(git status --porcelain 2>/dev/null)" ] && echo ' (with uncommitted changes)' || true)
log "building mqlite, mqlite-bench and login_flood (release)"
cargo build --release --locked -q -p mqlite-broker
cargo build --release --locked -q -p mqlite-benches --bin mqlite-bench --example login_flood

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd) # absolute: Mosquitto's config names the password file
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
: >"$OUT/uptime.log"
rm -f "$OUT"/*.log.broker "$OUT"/bench.log "$OUT"/flood.log

# The password file, in Mosquitto 2's $7$ format, written by `mqlite passwd` with the
# password on stdin. World-readable: Mosquitto started as root reads it after dropping to
# user mosquitto. It holds one throwaway password; the flood sends another.
PASSWD=$OUT/passwd
rm -f "$PASSWD"
printf '%s\n' "alice-$RANDOM$RANDOM" | "$MQLITE" passwd "$PASSWD" alice >/dev/null 2>&1
chmod 644 "$PASSWD"

PID=
FLOOD_PID=
cleanup() {
  if [ -n "$FLOOD_PID" ]; then kill "$FLOOD_PID" 2>/dev/null || true; fi
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A loopback port nothing answers on, below the ephemeral range (32768-60999 by default),
# so it cannot collide with the flood's own client ports.
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  echo "no free loopback port found" >&2
  return 1
}

# The broker's resident set, KiB; null if it cannot be read.
rss_kib() {
  local v
  v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status" 2>/dev/null || true)
  echo "${v:-null}"
}

# The broker's user plus system CPU time so far, in clock ticks; null if it cannot be read.
# Fields 14 and 15 of /proc/PID/stat, counted after the parenthesised command name.
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() {
  local v
  v=$(sed 's/.*) //' "/proc/$PID/stat" 2>/dev/null | awk '{ print $12 + $13 }' || true)
  echo "${v:-null}"
}

# shellcheck source=benches/broker-process.sh
source benches/broker-process.sh # wait_listening, stop_broker (the working directory is the repo root)

# start_broker NAME: on a free port with the password file and anonymous access; sets PID
# and PORT. A port taken between the probe and the bind makes the broker exit: try another.
start_broker() {
  local name=$1 attempt
  for attempt in 1 2 3 4 5; do
    PORT=$(free_port)
    case $name in
      mqlite)
        cat >"$OUT/mqlite.toml" <<EOF
# Written by benches/auth-flood.sh: a password file and anonymous clients allowed, as in
# Mosquitto's config beside it. Everything else at its default (one worker per core).
listen = ["127.0.0.1:$PORT"]
password_file = "passwd"
allow_anonymous = true

[broker]
sys_interval = 0
EOF
        # Refused logins are logged at info: quiet, as Mosquitto is below.
        RUST_LOG=warn "$MQLITE" --config "$OUT/mqlite.toml" 2>>"$OUT/mqlite.log.broker" &
        ;;
      mosquitto)
        cat >"$OUT/mosquitto.conf" <<EOF
# Written by benches/auth-flood.sh: the same settings as mqlite.toml beside it.
listener $PORT 127.0.0.1
password_file $PASSWD
allow_anonymous true
persistence false
# TCP_NODELAY on client sockets, as mqlite sets it.
set_tcp_nodelay true
# Quiet: no line per connection or refused login.
log_dest stderr
log_type error
log_type warning
connection_messages false
EOF
        "$MOSQUITTO" -c "$OUT/mosquitto.conf" 2>>"$OUT/mosquitto.log.broker" &
        ;;
    esac
    PID=$!
    if wait_listening "$PORT" 0.3; then return 0; fi
    log "$name did not start on port $PORT (attempt $attempt; see $OUT/$name.log.broker)"
    stop_broker
  done
  echo "$name did not start (see $OUT/$name.log.broker)" >&2
  exit 1
}

# run_one ROUND BROKER MODE: one latency run on the running broker, with the flood for
# `flood` and `churn`; appends one line to results.jsonl.
run_one() {
  local round=$1 broker=$2 mode=$3 up load1 rss_before rss_after bench flood covered
  local cpu_before cpu_after t0 t1
  up=$(uptime)
  load1=$(cut -d' ' -f1 /proc/loadavg)
  printf '%s round %s %s %s: %s\n' "$(date +%H:%M:%S)" "$round" "$broker" "$mode" "$up" \
    >>"$OUT/uptime.log"
  log "round $round, $broker, $mode (port $PORT): $up"
  rss_before=$(rss_kib)
  cpu_before=$(cpu_ticks)
  t0=$(date +%s.%N)
  flood=null
  covered=null
  if [ "$mode" != quiet ]; then
    local anon=()
    if [ "$mode" = churn ]; then anon=(--anonymous); fi
    timeout $((FLOOD_SECS + 30)) "$FLOOD" --port "$PORT" --duration "$FLOOD_SECS" \
      --threads "$FLOOD_THREADS" --json "${anon[@]}" >"$OUT/flood.json" 2>>"$OUT/flood.log" &
    FLOOD_PID=$!
    sleep "$FLOOD_LEAD"
  fi
  if ! bench=$(timeout 120 "$BENCH" latency --rate "$RATE" --qos "$QOS" \
    --duration "$DURATION" --stamp "$STAMP" --port "$PORT" --broker-pid "$PID" --json \
    2>>"$OUT/bench.log"); then
    log "round $round: mqlite-bench on $broker ($mode) failed (see $OUT/bench.log)"
    bench=null
  fi
  if [ -n "$FLOOD_PID" ]; then
    # The flood must outlast the measured window; it ends by itself FLOOD_SECS after start.
    if kill -0 "$FLOOD_PID" 2>/dev/null; then covered=true; else covered=false; fi
    if ! wait "$FLOOD_PID"; then
      log "round $round: login_flood on $broker ($mode) reported a problem (see $OUT/flood.log)"
    fi
    FLOOD_PID=
    flood=$(cat "$OUT/flood.json")
    [ -n "$flood" ] || flood=null
    if [ "$covered" = false ]; then
      log "round $round: the flood ended before mqlite-bench did; its rate does not cover the window"
    fi
  fi
  rss_after=$(rss_kib)
  cpu_after=$(cpu_ticks)
  t1=$(date +%s.%N)
  jq -cn --argjson round "$round" --arg broker "$broker" --arg mode "$mode" \
    --arg uptime "$up" --argjson load1 "$load1" --argjson port "$PORT" \
    --argjson rss_before "$rss_before" --argjson rss_after "$rss_after" \
    --argjson covered "$covered" --argjson bench "$bench" --argjson flood "$flood" \
    --argjson cpu_before "$cpu_before" --argjson cpu_after "$cpu_after" \
    --argjson t0 "$t0" --argjson t1 "$t1" --argjson tck "$CLK_TCK" \
    '{round: $round, broker: $broker, mode: $mode, uptime: $uptime, load1: $load1,
      port: $port, rss_before_kib: $rss_before, rss_after_kib: $rss_after,
      wall_s: ($t1 - $t0 | . * 1000 | round / 1000),
      broker_cpu_pct: (if $cpu_before == null or $cpu_after == null then null
        else ($cpu_after - $cpu_before) / $tck / ($t1 - $t0) * 1000 | round / 10 end),
      flood_covered_window: $covered, bench: $bench, flood: $flood}' >>"$RESULTS"
  sleep 2 # let the broker and the machine settle between runs
}

START=$(date +%s)
log "load before the runs: $(uptime)"
for round in $(seq "$ROUNDS"); do
  # Alternate which broker goes first and whether the quiet run comes before the flood.
  brokers=("${BROKER_LIST[@]}")
  modes=("${MODE_LIST[@]}")
  if [ $((round % 2)) = 0 ]; then
    mapfile -t brokers < <(printf '%s\n' "${BROKER_LIST[@]}" | tac)
    mapfile -t modes < <(printf '%s\n' "${MODE_LIST[@]}" | tac)
  fi
  for broker in "${brokers[@]}"; do
    start_broker "$broker"
    for mode in "${modes[@]}"; do
      run_one "$round" "$broker" "$mode"
    done
    stop_broker
  done
done
ELAPSED=$(($(date +%s) - START))

# --- the summary ---------------------------------------------------------------------------
MOSQUITTO_VERSION=$({ "$MOSQUITTO" -h 2>&1 || true; } | awk 'NR == 1 { print $3 }')
{
  echo "Rounds: $ROUNDS; $ELAPSED s; started $(date -u -d "@$START" +%Y-%m-%dT%H:%MZ)." \
    "Commit $COMMIT$DIRTY."
  echo "$("$MQLITE" --version); Mosquitto $MOSQUITTO_VERSION; $(rustc --version)."
  echo "$(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo);" \
    "kernel $(uname -r)."
  echo "Latency: mqlite-bench latency --rate $RATE --qos $QOS --duration $DURATION" \
    "--stamp $STAMP (1 s warm-up); flood: login_flood --threads $FLOOD_THREADS --duration $FLOOD_SECS," \
    "started ${FLOOD_LEAD} s before it."
  echo
  jq -rs --argjson dur "$DURATION" '
    def median: map(select(. != null)) | sort
      | if length == 0 then null
        elif length % 2 == 1 then .[length / 2 | floor]
        else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    def fmt: if . == null then "–" else (. * 10 | round / 10 | tostring) end;
    def rng: map(select(. != null)) | if length == 0 then "–"
      else "\(min | tostring)–\(max | tostring)" end;
    "| broker | run | runs | p50 µs | p99 µs | p99.9 µs | publisher max lag, ms | flood logins/s (slowest second) | logins in the \($dur) s window, at least | broker CPU, % of a core | broker RSS before → after, KiB | load (1 min) |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
    (group_by([.broker, .mode]) | sort_by(.[0].broker != "mqlite", {quiet: 0, flood: 1, churn: 2}[.[0].mode])[]
      | . as $g
      | ($g | map(.bench.results)) as $r
      | ($g | map(.flood.results)) as $f
      | "| \($g[0].broker) | \($g[0].mode) | \($g | length)"
        + " | \($r | map(.latency_p50_us) | median | fmt)"
        + " | \($r | map(.latency_p99_us) | median | fmt)"
        + " | \($r | map(.latency_p999_us) | median | fmt)"
        + " | \($r | map(.max_send_lag_us) | median | if . == null then null else . / 1000 end | fmt)"
        + (if $g[0].mode == "quiet" then " | – | –"
           else " | \($f | map(.completed_per_sec) | median | fmt) (\($f | map(.min_per_whole_sec) | min | tostring))"
             + " | ≥ \($f | map(.min_per_whole_sec) | min * $dur | tostring)"
             + (if ($f | map(.unexpected + .failed) | add) > 0
                then " (\($f | map(.unexpected) | add) unexpected, \($f | map(.failed) | add) failed)"
                else "" end)
           end)
        + " | \($g | map(.broker_cpu_pct) | median | fmt)"
        + " | \($g | map(.rss_before_kib) | median | fmt) → \($g | map(.rss_after_kib) | median | fmt)"
        + " | \($g | map(.load1) | rng) |"),
    "",
    "Per run:",
    "",
    (.[] | "- round \(.round) \(.broker) \(.mode): p50 \(.bench.results.latency_p50_us // "–")"
      + " / p99 \(.bench.results.latency_p99_us // "–") / p99.9 \(.bench.results.latency_p999_us // "–") µs"
      + ", publisher lag \(.bench.results.max_send_lag_us // "–") µs, broker CPU \(.broker_cpu_pct)%"
      + (if .flood then ", \(.flood.results.completed) logins (\(.flood.results.completed_per_sec)/s, codes \(.flood.results.connack_codes | tostring), CONNACK p50 \(.flood.results.connack_p50_us) µs, client CPU \(.flood.results.cpu_pct)%, window covered: \(.flood_covered_window))" else "" end)
      + ", RSS \(.rss_before_kib) → \(.rss_after_kib) KiB, load \(.load1)")
  ' "$RESULTS"
} >"$OUT/summary.md"
cat "$OUT/summary.md"
log "done in $((ELAPSED / 60)) min $((ELAPSED % 60)) s; results in $RESULTS, summary in $OUT/summary.md"
