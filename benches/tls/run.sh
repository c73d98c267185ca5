#!/usr/bin/env bash
# TLS benchmark, mqlite vs Mosquitto with the same certificate (EC P-256, made by
# `tls-bench certs`): connection setup rate (TCP + full TLS handshake + CONNECT/CONNACK) and
# QoS 0 1 → 1 throughput, over loopback; plain TCP alongside for the cost of TLS. Rounds
# alternate between the brokers so drift in the machine's load hits both.
#
# Usage: benches/tls/run.sh [ROUNDS]      (default 3)
#   MQLITE_BIN=/path/to/mqlite            a prebuilt release binary (else it is built)
#   CARGO_TARGET_DIR                      honoured for both builds
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}

if [ -z "${MQLITE_BIN:-}" ]; then
  cargo build --release --locked -p mqlite-broker
  MQLITE_BIN=$TARGET/release/mqlite
fi
cargo build --release --manifest-path benches/tls/Cargo.toml
BENCH=$TARGET/release/tls-bench
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
"$BENCH" certs "$WORK"

# Ports: mqlite TLS 18883 / plain 18884, Mosquitto TLS 18893 / plain 18894, and Mosquitto
# with its default `set_tcp_nodelay false` ("mosquitto-nagle") 18895 / 18896. The same limits
# as benches/net-compare.sh. mqlite always sets TCP_NODELAY; Mosquitto without it holds TLS
# handshake flights for ~40 ms (Nagle's algorithm and delayed ACKs) but batches small writes.
cat >"$WORK/mqlite.toml" <<EOF
listen = ["127.0.0.1:18884"]
[[listener]]
address = "127.0.0.1:18883"
certfile = "$WORK/server.crt"
keyfile = "$WORK/server.key"
[broker]
max_queued_messages = 100000
max_queued_bytes = 1073741824
max_inflight_messages = 100
max_clients = 1000000
sys_interval = 0
EOF
cat >"$WORK/mosquitto.conf" <<EOF
user root
allow_anonymous true
persistence false
log_dest none
max_queued_messages 100000
max_inflight_messages 100
max_connections -1
set_tcp_nodelay true
listener 18894 127.0.0.1
listener 18893 127.0.0.1
certfile $WORK/server.crt
keyfile $WORK/server.key
EOF
sed -e '/^set_tcp_nodelay true$/d' -e 's/18893/18895/' -e 's/18894/18896/' \
  "$WORK/mosquitto.conf" >"$WORK/mosquitto-nagle.conf"

RUST_LOG=warn "$MQLITE_BIN" --config "$WORK/mqlite.toml" &
PIDS+=($!)
"$MOSQUITTO" -c "$WORK/mosquitto.conf" 2>/dev/null &
PIDS+=($!)
"$MOSQUITTO" -c "$WORK/mosquitto-nagle.conf" 2>/dev/null &
PIDS+=($!)
sleep 1

TLS=(--cafile "$WORK/ca.crt")
for round in $(seq 1 "$ROUNDS"); do
  for broker in mqlite mosquitto mosquitto-nagle; do
    case $broker in
      mqlite) tls=18883 plain=18884 ;;
      mosquitto) tls=18893 plain=18894 ;;
      mosquitto-nagle) tls=18895 plain=18896 ;;
    esac
    echo "== round $round: $broker"
    printf 'TLS   '; "$BENCH" setup --port $tls "${TLS[@]}" --conns 2000 --threads 4
    printf 'plain '; "$BENCH" setup --port $plain --plain --conns 2000 --threads 4
    printf 'TLS   '; "$BENCH" throughput --port $tls "${TLS[@]}" --duration 5 --size 64
    printf 'plain '; "$BENCH" throughput --port $plain --plain --duration 5 --size 64
  done
done
