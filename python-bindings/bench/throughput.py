"""Throughput of 64-byte messages from one publishing thread to one receiving thread.

Not a test: run it by hand, on a quiet machine, after ``pip install ./python-bindings
paho-mqtt``::

    python python-bindings/bench/throughput.py [--messages N] [--network-messages N]

One run measures, and prints as one table with ratios to paho-mqtt + Mosquitto:

- in process, one call per message: ``Client.publish()`` / ``Client.recv()``;
- in process, batch calls: ``Client.publish_many(topic=...)`` (1000 payloads, one GIL
  release) / ``Client.recv_many(10000)``;
- paho-mqtt -> Mosquitto -> paho-mqtt, QoS 0, with Mosquitto started on a free loopback port
  from a temporary config and stopped afterwards (skipped if ``mosquitto`` is not found);
- paho-mqtt -> ``Broker.listen()`` (one worker thread, like Mosquitto's one) -> paho-mqtt.

The network runs keep at most ``WINDOW`` messages between the publisher and the receiver,
so no broker queue overflows and no message is dropped; every run checks that all arrived.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import mqlite

PAYLOAD = b"x" * 64
TOPIC = "bench/data"
BATCH = 1000
WINDOW = 5000
"""Messages at most in flight between the network publisher and its receiver."""
DEADLINE = 120.0
"""Seconds a run may take before it is reported as failed."""
TARGETS = {"single calls": 300_000, "batch calls": 1_000_000}


@dataclass
class Result:
    """One row of the table."""

    name: str
    messages: int
    seconds: float

    @property
    def rate(self) -> float:
        """Messages per second."""
        return self.messages / self.seconds


def roomy_broker() -> mqlite.Broker:
    """A broker whose queues hold a whole run, so a fast publisher never drops."""
    config = mqlite.Config(max_queued_messages=10_000_000, max_queued_bytes=1 << 34)
    return mqlite.Broker(config=config)


def in_process(n: int, batched: bool) -> Result:
    """``n`` messages from a publisher thread to a receiver thread of one broker."""
    with roomy_broker() as broker:
        sub = broker.connect("sub")
        sub.subscribe(TOPIC)
        pub = broker.connect("pub")
        batch = [PAYLOAD] * BATCH

        def publish() -> None:
            if batched:
                for _ in range(n // BATCH):
                    pub.publish_many(batch, topic=TOPIC)
            else:
                for _ in range(n):
                    pub.publish(TOPIC, PAYLOAD)

        thread = threading.Thread(target=publish)
        start = time.perf_counter()
        thread.start()
        got = 0
        if batched:
            while got < n:
                got += len(sub.recv_many(10 * BATCH, timeout=DEADLINE))
        else:
            for _ in range(n):
                sub.recv(timeout=DEADLINE)
            got = n
        elapsed = time.perf_counter() - start
        thread.join()
        assert broker.stats()["dropped_queue_full"] == 0
    return Result("batch calls" if batched else "single calls", got, elapsed)


def paho_through(name: str, address: tuple[str, int], n: int) -> Result:
    """``n`` QoS 0 messages from one paho-mqtt client to another through the broker at
    ``address``, at most ``WINDOW`` in flight."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    received = 0
    done = threading.Event()

    def on_message(_c: mqtt.Client, _u: object, _m: mqtt.MQTTMessage) -> None:
        nonlocal received
        received += 1
        if received == n:
            done.set()

    def client(client_id: str) -> mqtt.Client:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        c.connect(address[0], address[1])
        c.loop_start()
        return c

    sub = client("bench-sub")
    sub.on_message = on_message
    ready = threading.Event()
    sub.on_subscribe = lambda *_args: ready.set()
    sub.subscribe(TOPIC)
    assert ready.wait(10), f"{name}: no SUBACK"
    pub = client("bench-pub")
    start = time.perf_counter()
    for sent in range(n):
        while sent - received >= WINDOW:
            time.sleep(0.0002)
        pub.publish(TOPIC, PAYLOAD)
    finished = done.wait(DEADLINE)
    elapsed = time.perf_counter() - start
    for c in (pub, sub):
        c.disconnect()
        c.loop_stop()
    assert finished, f"{name}: {received} of {n} messages arrived"
    return Result(name, n, elapsed)


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def mosquitto(binary: str) -> Iterator[tuple[str, int]]:
    """Mosquitto on a free loopback port with a temporary config; stopped on exit."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(
                f"listener {port} 127.0.0.1\n"
                "allow_anonymous true\n"
                "persistence false\n"
                "max_queued_messages 0\n"
                "log_dest none\n"
            )
        proc = subprocess.Popen([binary, "-c", conf], stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        err = proc.stderr.read().decode() if proc.stderr else ""
                        raise RuntimeError(f"mosquitto did not start: {err}") from None
                    time.sleep(0.01)
            yield ("127.0.0.1", port)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def find_mosquitto() -> str | None:
    """The mosquitto binary: on PATH or in /usr/sbin (Debian's place)."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def network(n: int) -> list[Result]:
    """The paho-mqtt runs that can run here."""
    try:
        import paho.mqtt.client  # noqa: F401
    except ModuleNotFoundError:
        sys.stdout.write("paho-mqtt is not installed: network runs skipped\n")
        return []
    results = []
    binary = find_mosquitto()
    if binary is None:
        sys.stdout.write("mosquitto not found: the paho -> Mosquitto run is skipped\n")
    else:
        with mosquitto(binary) as address:
            results.append(paho_through("paho -> Mosquitto -> paho", address, n))
    with roomy_broker() as broker, broker.listen("127.0.0.1:0", workers=1) as server:
        results.append(paho_through("paho -> listen() -> paho", server.address, n))
    return results


def table(results: list[Result]) -> str:
    """The results as a table, with the ratio of each to the paho + Mosquitto run."""
    base = next((r.rate for r in results if "Mosquitto" in r.name), None)
    lines = [
        f"{'run':<28} {'messages':>10} {'seconds':>8} {'msgs/s':>12} {'vs Mosquitto':>13}",
        "-" * 75,
    ]
    for r in results:
        ratio = f"{r.rate / base:12.1f}x" if base else f"{'-':>13}"
        lines.append(f"{r.name:<28} {r.messages:>10,} {r.seconds:>8.3f} {r.rate:>12,.0f} {ratio}")
    return "\n".join(lines)


def verdicts(results: list[Result]) -> Iterator[str]:
    """One line per target of issue 6: met or missed."""
    rates = {r.name: r.rate for r in results}
    for name, target in TARGETS.items():
        verdict = "met" if rates[name] >= target else "MISSED"
        yield f"target {name} >= {target:,} msgs/s: {verdict}"
    base = next((r.rate for r in results if "Mosquitto" in r.name), None)
    if base:
        for name in TARGETS:
            verdict = "met" if rates[name] >= 10 * base else "MISSED"
            yield f"target {name} >= 10x paho + Mosquitto: {verdict}"


def main(argv: list[str] | None = None) -> None:
    """Runs every measurement and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000, help="per in-process run")
    parser.add_argument("--network-messages", type=int, default=100_000, help="per paho run")
    args = parser.parse_args(argv)
    n = max(BATCH, args.messages - args.messages % BATCH)
    runs: list[Callable[[], Result]] = [
        lambda: in_process(n, batched=False),
        lambda: in_process(n, batched=True),
    ]
    results = [run() for run in runs] + network(args.network_messages)
    sys.stdout.write(table(results) + "\n\n")
    for line in verdicts(results):
        sys.stdout.write(line + "\n")


if __name__ == "__main__":
    main()
