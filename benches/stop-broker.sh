# Sourced by compare.sh and auth-flood.sh: `stop_broker` ends the broker whose process id is
# in $PID (SIGTERM, then SIGKILL after 5 s), waits for it and clears $PID.
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
