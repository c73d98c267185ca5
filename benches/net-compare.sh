#!/usr/bin/env bash
# Superseded by benches/compare.sh, which runs the same scenarios and more against mqlite,
# Mosquitto and rumqttd and writes benches/RESULTS.md and benches/charts/ (README.md,
# "compare.sh"). Kept so that older notes keep working: `net-compare.sh [RUNS]` runs
# `compare.sh [RUNS]`; the old second argument (an output file) is no longer used, the raw
# results are in target/compare/results.jsonl.
set -euo pipefail
if [ $# -gt 1 ]; then
  echo "net-compare.sh: ignoring '$2'; results go to target/compare/results.jsonl" >&2
fi
exec "$(dirname "$0")/compare.sh" "${1:-3}"
