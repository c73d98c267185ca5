#!/usr/bin/env bash
# Runs every example and checks the lines it must print, so none can rot.
set -euo pipefail
cd "$(dirname "$0")/.."

check() { # check NAME EXPECTED-LINE...
  local name=$1; shift
  local out
  out=$(timeout 60 cargo run --quiet --locked -p mqlite-examples --example "$name")
  for line in "$@"; do
    if ! grep -qF -- "$line" <<<"$out"; then
      printf 'example %s: missing line: %s\n--- output ---\n%s\n' "$name" "$line" "$out" >&2
      exit 1
    fi
  done
  echo "example $name: ok"
}

check quickstart \
  "dashboard got sensors/42/temperature = 21.5 (QoS 1)" \
  "dashboard got devices/42/status = offline (the will)" \
  "latecomer got retained devices/42/status = offline" \
  "latecomer got retained sensors/42/temperature = 21.5"

check durable_gateway \
  "run 1: 500 readings acknowledged, now killed" \
  "run 2: uplink session present: true, forwarded 500 of 500 readings, in order"

check qos_table \
  "publish QoS 0     0      0      0" \
  "publish QoS 1     0      1      1" \
  "publish QoS 2     0      1      2"

check birth_death \
  "dashboard: devices/fan/status = offline (retained)" \
  "dashboard: devices/pump/status = online (retained)" \
  "dashboard: devices/valve/status = offline (retained)"

check factory \
  "dashboard got maintenance/alerts: line2/lathe vibration 9.4 mm/s over 7 mm/s" \
  "dashboard got maintenance/edge/status: shift over: 10 readings checked, alerts: 1"

check drones \
  "master: reply to req-1: drone-a ALTITUDE:120m" \
  "master: reply to req-1: drone-b ALTITUDE:85m" \
  "master: reply to req-2: drone-a ALTITUDE:130m" \
  "master: reply to req-2: drone-b ALTITUDE:95m"

check offline_queue \
  "logger: back, session present: true" \
  "logger: 3 queued, 1 QoS 0 dropped while offline" \
  "logger: received in this order: order #1, order #2, order #3"

check gateway \
  "device: subscribed to devices/boiler-7/command" \
  "controller got devices/boiler-7/telemetry = temperature=92C (over TCP)" \
  "device got devices/boiler-7/command = reduce-burner (from an in-process thread)"

check scram \
  "dashboard: authenticated in-process, server signature verified" \
  "device: CONNACK 0x00 (Success), server signature verified" \
  "device: re-authenticated: AUTH 0x00 (Success), server signature verified" \
  "intruder: CONNACK 0x87 (Not authorized) for a wrong password"

check tokio_service \
  "display got sensors/kitchen/fahrenheit = 70.7 F" \
  "display got sensors/garage/fahrenheit = 24.8 F" \
  "display got sensors/sauna/fahrenheit = 176.0 F" \
  "service: stopped after 3 readings, disconnected cleanly"

# The Python example needs the bindings and paho-mqtt installed in $PY's environment
# (scripts/test.sh does that first).
PY=${PY:-python3}
out=$(timeout 60 "$PY" examples/python_dashboard.py)
for line in \
  "device-7: connected over TCP (MQTT 5.0), published online (retained)" \
  "dashboard got sensors/7/temperature = 22.4 celsius (QoS 1)" \
  "device-7 got devices/7/command = fan on (from the in-process dashboard)" \
  "dashboard got devices/7/status = offline (the will)" \
  "dashboard: 3 readings, average 21.9"; do
  if ! grep -qF -- "$line" <<<"$out"; then
    printf 'example python_dashboard.py: missing line: %s\n--- output ---\n%s\n' "$line" "$out" >&2
    exit 1
  fi
done
echo "example python_dashboard.py: ok"

