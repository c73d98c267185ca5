#!/usr/bin/env bash
# Runs the interoperability and differential suite (net-frontend/tests/interop, see its
# README.md) against the `mqlite` binary, or against Mosquitto to validate the suite itself.
# Installs Mosquitto and its clients if missing, and pytest + paho-mqtt into target/py-venv.
#
# Usage: ./scripts/interop.sh [pytest args...]
#   INTEROP_BROKER=mosquitto ./scripts/interop.sh     # the suite against Mosquitto, no build
#   MQLITE_BIN=/path/to/mqlite INTEROP_BROKER=mqlite ./scripts/interop.sh   # a prebuilt binary
# Without INTEROP_BROKER it builds target/release/mqlite and tests that.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "mosquitto"
# mosquitto lives in /usr/sbin, which is not on every PATH.
if ! command -v mosquitto_sub >/dev/null 2>&1 \
  || ! { command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; }; then
  apt-get update -qq
  apt-get install -y -qq mosquitto mosquitto-clients
fi
command -v mosquitto_pub mosquitto_sub

step "python environment"
PY_VENV=target/py-venv
if [ ! -x "$PY_VENV/bin/python" ]; then
  if ! python3 -m venv "$PY_VENV"; then
    rm -rf "$PY_VENV"
    apt-get update -qq && apt-get install -y -qq python3-venv
    python3 -m venv "$PY_VENV"
  fi
fi
PY="$PY_VENV/bin/python"
"$PY" -m pip install --quiet --disable-pip-version-check pytest pytest-timeout paho-mqtt==2.1.0

if [ -z "${INTEROP_BROKER:-}" ]; then
  step "build mqlite"
  cargo build --release --locked -p mqlite-broker
  export MQLITE_BIN="$PWD/target/release/mqlite"
fi

step "interop suite (broker under test: ${INTEROP_BROKER:-mqlite})"
"$PY" -m pytest net-frontend/tests/interop -q "$@"
