#!/usr/bin/env bash
# Runs every test of mqlite on a fresh machine: installs what it needs, then runs formatting,
# lints, unit/integration/doc tests, the loom models, the examples, and the loom lint build.
# Usage: ./scripts/test.sh        (CI runs exactly this through .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust (https://rustup.rs) first" >&2
  exit 1
fi
if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi
cargo --version

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
  cargo clippy -p mqlite --all-targets --locked -- -D warnings

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

step "tests (unit, integration, doc)"
cargo test --workspace --locked

step "loom models"
# Every model of loom-tests/ with the preemption bound set in its code, plus the loom
# channel's own models in core; see loom-tests/README.md. About 15 s of models after a
# release build of about a minute on 2 cores; the timeout keeps the step under 10 minutes.
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
  cargo clippy -p mqlite-loom --all-targets --locked -- -D warnings
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom timeout 420 \
  cargo test -p mqlite-loom --release --locked --no-fail-fast
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom timeout 180 \
  cargo test -p mqlite --lib --release --locked -- sync::loom_channel

step "examples"
./scripts/run-examples.sh

echo
echo "all test steps passed"
