#!/usr/bin/env bash
# Fuzzes the MQTT decoder (net-frontend/fuzz, target `decode`) for a bounded time; fails on
# any crash. See net-frontend/fuzz/README.md for what the target checks.
# Usage: ./scripts/fuzz.sh [SECONDS]      (default 60)
#
# Installs cargo-fuzz if it is missing (about 45 s on 2 cores). Builds on the stable
# toolchain with RUSTC_BOOTSTRAP=1, which lets cargo-fuzz pass its nightly-only flags
# (-Zsanitizer=address, -Cpasses=sancov-module, ...); stable ships the ASan runtime, so the
# default AddressSanitizer build works. One fuzzing job, one build job: the machine has 2 cores.
# New inputs go to net-frontend/fuzz/corpus/decode (git ignores all but the seed-* files), a
# crash to net-frontend/fuzz/artifacts/decode/.
set -euo pipefail
cd "$(dirname "$0")/../net-frontend"

SECONDS_TO_RUN="${1:-60}"
CARGO_FUZZ_VERSION=0.13.2

step() { printf '\n==> %s\n' "$*"; }
# Seconds since the previous call, so the output tells what install, build and run each took.
t0=$SECONDS
lap() { echo "($1 took $((SECONDS - t0)) s)"; t0=$SECONDS; }

step "cargo-fuzz $CARGO_FUZZ_VERSION"
if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" -j 1
fi
cargo fuzz --version
lap "cargo-fuzz"

export RUSTC_BOOTSTRAP=1
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/fuzz/target}"

step "build"
cargo fuzz build decode
lap "build"

step "fuzz decode for ${SECONDS_TO_RUN}s"
log="$CARGO_TARGET_DIR/fuzz-decode.log"
mkdir -p "$CARGO_TARGET_DIR"
status=0
# -print_final_stats prints stat::number_of_executed_units at exit; -jobs/-workers stay 1.
cargo fuzz run decode -- -max_total_time="$SECONDS_TO_RUN" -print_final_stats=1 2>&1 \
  | tee "$log" || status=$?
lap "fuzzing"

step "result"
execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
last="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
echo "executions: ${execs:-unknown} (time limit ${SECONDS_TO_RUN} s; last status: ${last:-none})"
if [ "$status" -ne 0 ]; then
  echo "fuzzing failed (exit $status): see $log and fuzz/artifacts/decode/" >&2
  exit "$status"
fi
echo "no crash"
