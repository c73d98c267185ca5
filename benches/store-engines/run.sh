#!/usr/bin/env bash
# Builds mqlite-store-engines in release mode and runs it: the measurement behind the choice of
# storage engine in docs/durability.md. Arguments go to the binary (--help lists them); the
# default is every section, 3 runs per figure. Tables on stdout, progress on stderr.
#
#   benches/store-engines/run.sh > results.md
#   benches/store-engines/run.sh --reps 1 --engines redb,minimal-log queue
#
# The stores are written under $STORE_BENCH_DIR (default /work/tmp-store-bench), in a directory
# of this run that is deleted at the end.
set -euo pipefail
cd "$(dirname "$0")"

BASE=${STORE_BENCH_DIR:-/work/tmp-store-bench}
DIR="$BASE/run-$$"

cargo build --release --locked

mkdir -p "$DIR"
cleanup() {
    rm -rf "$DIR"
    rmdir "$BASE" 2>/dev/null || true
}
trap cleanup EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
    "$(free -g | awk '/^Mem:/ {print $2}') GiB RAM, Linux $(uname -r);" \
    "store on $(findmnt -n -o FSTYPE -T "$DIR") ($(findmnt -n -o SOURCE -T "$DIR"))," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
./target/release/mqlite-store-engines --dir "$DIR" "$@"
