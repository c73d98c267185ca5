#!/usr/bin/env bash
# Runs every test of mqlite on a fresh machine: installs what it needs, then runs formatting,
# lints, unit/integration/doc tests, the loom models, the Python suite, the examples, and the
# interoperability tests against real MQTT clients and Mosquitto.
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

step "system packages"
# Mosquitto and its clients: the reference broker of the differential tests (Rust and
# Python) and the mosquitto_pub / mosquitto_sub interop clients; openssl makes the
# certificates of the TLS interop tests.
if ! command -v mosquitto_sub >/dev/null 2>&1 || ! [ -x /usr/sbin/mosquitto ] \
  || ! command -v openssl >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients openssl \
    >/dev/null
fi
/usr/sbin/mosquitto -h | head -1 || true

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
# Core's optional feature: `MessageStream` as a `futures_core::Stream`.
cargo clippy -p mqlite --all-targets --locked --features futures-core -- -D warnings
cargo test -p mqlite --locked --features futures-core --test async_recv

step "benches build"
# The criterion benches and the load generator compile; they are run by hand (benches/).
cargo bench --workspace --no-run --locked --quiet

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

step "python bindings"
# Builds python-bindings/ the way `pip install ./python-bindings` does (PEP 517, maturin,
# release) into a virtual environment, then runs its pytest suite, stubtest, mypy and ruff.
# About 30-50 s on 2 cores from scratch (fresh target/ and pip cache), under 10 s reused.
PY_VENV=target/py-venv
if [ ! -x "$PY_VENV/bin/python" ]; then
  if ! python3 -m venv "$PY_VENV"; then
    rm -rf "$PY_VENV"
    apt-get update -qq && apt-get install -y -qq python3-venv
    python3 -m venv "$PY_VENV"
  fi
fi
PY="$PY_VENV/bin/python"
"$PY" -m pip install --quiet --disable-pip-version-check maturin pytest pytest-timeout mypy ruff \
  paho-mqtt==2.1.0
# No build isolation: the build uses the maturin just installed instead of fetching its own
# (the backend runs `maturin` from PATH).
PATH="$PWD/$PY_VENV/bin:$PATH" "$PY" -m pip install --quiet --disable-pip-version-check \
  --no-build-isolation --force-reinstall --no-deps ./python-bindings
# From python-bindings/, so the tools read its pyproject.toml and keep their caches there.
(
  cd python-bindings
  PY="../$PY"
  "$PY" -m pytest tests
  "$PY" -m mypy.stubtest mqlite._mqlite
  "$PY" -m mypy tests python/mqlite/__init__.py
  "$PY" -m ruff check .
  "$PY" -m ruff format --check .
)

step "examples"
PY="$PY" ./scripts/run-examples.sh

step "fuzz the decoder (60 s)"
# cargo-fuzz (installed if missing) on net-frontend/fuzz, from the committed seeds; stable
# Rust with RUSTC_BOOTSTRAP=1. About 3.5 minutes on a fresh machine; fails on any crash.
./scripts/fuzz.sh 60

step "interoperability (paho-mqtt, mosquitto_pub/sub, differential vs Mosquitto)"
# Installs Debian's mosquitto and mosquitto-clients if missing, builds the release `mqlite`
# binary, and runs net-frontend/tests/interop against it (about a minute).
./scripts/interop.sh

echo
echo "all test steps passed"
