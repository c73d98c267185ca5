"""In-process throughput: one Python thread publishing, one receiving, 64-byte payloads.

Reports messages per second with one call per message (`publish` / `recv`) and with the
batch calls (`publish_many` / `recv_many`). Not a test: run it by hand, on a quiet machine::

    python python-bindings/bench/inprocess.py [messages]

The paho-mqtt -> Mosquitto comparison of issue 6 waits for `Broker.listen()`.
"""

from __future__ import annotations

import sys
import threading
import time

import mqlite

PAYLOAD = b"x" * 64
BATCH = 1000


def run(n: int, batched: bool) -> float:
    """Messages per second for `n` messages from one publisher thread to one receiver."""
    config = mqlite.Config(max_queued_messages=100_000, max_inflight_messages=65535)
    with mqlite.Broker(config=config) as broker:
        sub = broker.connect("sub")
        sub.subscribe("bench")
        pub = broker.connect("pub")

        def publish() -> None:
            if batched:
                batch = [("bench", PAYLOAD)] * BATCH
                for _ in range(n // BATCH):
                    pub.publish_many(batch)
            else:
                for _ in range(n):
                    pub.publish("bench", PAYLOAD, wait_if_full=None)

        start = time.perf_counter()
        t = threading.Thread(target=publish)
        t.start()
        got = 0
        while got < n:
            if batched:
                got += len(sub.recv_many(BATCH * 10, timeout=5.0))
            else:
                sub.recv(timeout=5.0)
                got += 1
        t.join()
        return n / (time.perf_counter() - start)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    n -= n % BATCH
    for name, batched in (("single calls", False), ("batch calls", True)):
        rate = run(n, batched)
        sys.stdout.write(f"{name:>13}: {rate:12,.0f} msgs/s ({n} messages)\n")


if __name__ == "__main__":
    main()
