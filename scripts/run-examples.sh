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
