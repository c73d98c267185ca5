# Sourced by compare.sh, durable-compare.sh and auth-flood.sh: the broker process whose id
# is in $PID, and what the comparison scripts share.
# - `wait_listening PORT SETTLE`: waits (5 s at most) until 127.0.0.1:PORT accepts a TCP
#   connection, then SETTLE seconds for the probe's connection to go; fails if the broker
#   exited meanwhile or never listened.
# - `stop_broker`: SIGTERM, then SIGKILL after 5 s; waits for it and clears $PID.
# - `runs_arg SCRIPT [RUNS]`: prints RUNS (default 3) if it is a positive number, else the
#   usage of SCRIPT on stderr and exits 2.
# - `json_str TEXT`: TEXT as a JSON string.
wait_listening() {
  local port=$1 settle=$2
  for _ in $(seq 100); do
    kill -0 "$PID" 2>/dev/null || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      sleep "$settle"
      kill -0 "$PID" 2>/dev/null
      return
    fi
    sleep 0.05
  done
  return 1
}

stop_broker() {
  [ -n "${PID:-}" ] || return 0
  kill "$PID" 2>/dev/null || true
  # Bounded: a broker that ignores SIGTERM for 5 s is killed.
  for _ in $(seq 50); do
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  PID=
  sleep 1 # let the kernel release the sockets and the CPU settle
}

runs_arg() {
  local runs=${2:-3}
  if ! [[ $runs =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $1 [RUNS]" >&2
    exit 2
  fi
  echo "$runs"
}

json_str() {
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}
