"""Helpers of the kill tests of mqlite's durable mode (``test_durable_kill.py``).

- `DurableBroker`: ``mqlite --persistence DIR`` started, killed with SIGKILL and started again
  on the same directory, each run on a fresh loopback port, with the log of every run;
- `Flood`: a publisher that sends numbered messages as fast as a window of unacknowledged ones
  allows, on its own thread, and says afterwards which ones the broker acknowledged;
- `Collector`: a persistent subscriber that keeps one paho client (and so its QoS 2 state)
  across the broker's restarts, recording every message in arrival order;
- `check_stream`: what a persistent subscriber got, checked against what was acknowledged.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from conftest import (
    LOG_TAIL_LINES,
    READY_TIMEOUT_S,
    STOP_TIMEOUT_S,
    Broker,
    free_port,
    spawn,
    wait_until_listening,
)
from paho_client import PROTOCOLS, WAIT_S

LONG_SESSION_S = 3600
"""The Session Expiry Interval of the 5.0 sessions that must outlive every restart."""


class DurableBroker(Broker):
    """``$MQLITE_BIN --persistence DIR --listen 127.0.0.1:PORT``, restartable on the same DIR.

    `start` picks a new free port for each run (``host`` and ``port`` follow it), `kill` sends
    SIGKILL, as a crash or ``kill -9`` would. `log_tail` shows the end of every run's log, so a
    failing test's report (see ``conftest.pytest_runtest_makereport``) shows all of them.
    """

    def __init__(self, workdir: Path, config: str | None = None) -> None:
        # Not the dataclass constructor: the fields are set by each start.
        self.kind = "mqlite"
        self.role = "under test, durable"
        self.host = "127.0.0.1"
        self.port = 0
        self.workdir = workdir
        self.store_dir = workdir / "store"
        self.config_path: Path | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        if config is not None:
            self.config_path = workdir / "mqlite.toml"
            self.config_path.write_text(config)
        self.logs: list[tuple[Path, str]] = []
        """Each run's log and how it ended."""
        self.log_path = workdir / "mqlite-run0.log"
        self.process = None  # type: ignore[assignment]
        self.runs = 0

    def command(self, port: int) -> list[str]:
        cmd = [os.path.abspath(os.environ["MQLITE_BIN"])]
        if self.config_path is not None:
            cmd += ["--config", str(self.config_path)]
        return [*cmd, "--persistence", str(self.store_dir), "--listen", f"127.0.0.1:{port}"]

    def start(self) -> None:
        """Starts a run on the store directory; fails the test if it does not listen."""
        assert self.process is None or self.process.poll() is not None, "already running"
        failure = ""
        for _ in range(3):
            self.runs += 1
            port = free_port()
            self.log_path = self.workdir / f"mqlite-run{self.runs}.log"
            self.process = spawn(self.command(port), self.log_path)
            self.logs.append((self.log_path, "running"))
            self.port = port
            if wait_until_listening(self.process, port):
                return
            code = self.process.poll()
            if code is None:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)
            self._ended(f"did not listen within {READY_TIMEOUT_S} s (exit code {code})")
            failure = f"mqlite run {self.runs} on {self.store_dir} did not accept connections"
            if code is not None:
                break  # it exited (a store it refused, say): another port will not help
        pytest.fail(f"{failure}\n--- its logs ---\n{self.log_tail()}", pytrace=False)

    def kill(self) -> None:
        """SIGKILL, then waits for the process to be gone. Fails if it had exited already."""
        assert self.process is not None
        code = self.process.poll()
        if code is not None:
            self._ended(f"exited on its own with code {code}")
            pytest.fail(
                f"mqlite run {self.runs} exited on its own with code {code}\n"
                f"--- its logs ---\n{self.log_tail()}",
                pytrace=False,
            )
        self.process.kill()
        self.process.wait(timeout=STOP_TIMEOUT_S)
        self._ended("killed (SIGKILL)")

    def finish(self) -> None:
        """Teardown: stops a running broker (SIGTERM); fails if it had exited on its own."""
        if self.process is None or self.logs[-1][1] != "running":
            return
        code = self.stop()
        self._ended("stopped (SIGTERM)" if code is None else f"exited on its own with {code}")
        if code is not None:
            pytest.fail(
                f"mqlite run {self.runs} exited with code {code} during the test\n"
                f"--- its logs ---\n{self.log_tail()}",
                pytrace=False,
            )

    def _ended(self, how: str) -> None:
        path, _ = self.logs[-1]
        self.logs[-1] = (path, how)

    def log_tail(self) -> str:
        parts = []
        per_run = max(20, LOG_TAIL_LINES // max(1, len(self.logs)))
        for i, (path, how) in enumerate(self.logs, 1):
            try:
                lines = path.read_text(errors="replace").splitlines()
            except OSError as e:
                lines = [f"(no log: {e})"]
            parts.append(f"--- run {i} ({how}): {path.name} ---")
            parts.extend(lines[-per_run:])
        return "\n".join(parts)


def _wait(cond: threading.Condition, ready: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    with cond:
        while not ready():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {what} within {timeout} s")
            cond.wait(left)


def _new_paho(client_id: str, protocol: str, clean: bool) -> mqtt.Client:
    return mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=None if protocol == "5.0" else clean,
        protocol=PROTOCOLS[protocol],
        reconnect_on_failure=False,
    )


def _connect_properties(protocol: str, session_expiry: int | None) -> Properties | None:
    if protocol != "5.0" or session_expiry is None:
        return None
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = session_expiry
    return props


def _release(client: mqtt.Client) -> None:
    """Stops paho's network thread and closes its wake-up socket pair (see PahoClient)."""
    client.loop_stop()
    client._reset_sockets()


@dataclass
class Sent:
    """One message a `Flood` handed to paho."""

    number: int
    topic: str
    payload: bytes
    mid: int


class Flood:
    """Publishes messages numbered from ``first`` as fast as it can, on its own thread.

    At most ``window`` are unacknowledged at once (paho's in-flight limit is the same, so
    paho queues nothing of its own); it stops after ``limit`` messages, at `stop`, or when the
    connection is lost. ``message(n)`` gives the topic, payload and retain flag of number ``n``.

    By default a clean session: after a restart a new Flood continues the numbering, and what
    was unacknowledged is abandoned. With ``persistent`` (3.1.1 CleanSession=0, 5.0 Clean
    Start=0 after the first connection and a Session Expiry Interval of an hour) it keeps its
    paho client: `resume` reconnects after a restart, and paho sends again what was not
    acknowledged (PUBLISH with DUP, or PUBREL for a QoS 2 message that had its PUBREC).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str,
        qos: int,
        message: Callable[[int], tuple[str, bytes, bool]],
        first: int = 0,
        limit: int = 1000,
        window: int = 100,
        protocol: str = "3.1.1",
        persistent: bool = False,
    ) -> None:
        self.host, self.port, self.qos, self.protocol = host, port, qos, protocol
        self.client_id, self.persistent = client_id, persistent
        self._message, self._next, self._limit, self._window = message, first, limit, window
        self.sent: list[Sent] = []
        self.connections = 0
        self._cond = threading.Condition()
        self._acked: set[int] = set()
        self._connack: tuple[bool, int] | None = None
        self._closed = False
        self._stop = False
        self._looping = False
        self._thread: threading.Thread | None = None
        self._paho = _new_paho(client_id, protocol, clean=not persistent)
        self._paho.max_inflight_messages_set(window)
        self._paho.on_connect = self._on_connect
        self._paho.on_disconnect = self._on_disconnect
        self._paho.on_publish = self._on_publish

    def _on_connect(self, _c: Any, _u: Any, flags: Any, rc: Any, _props: Any) -> None:
        with self._cond:
            self._connack = (bool(flags.session_present), rc.value)
            self._cond.notify_all()

    def _on_disconnect(self, _c: Any, _u: Any, _flags: Any, _rc: Any, _props: Any) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _on_publish(self, _c: Any, _u: Any, mid: int, _rc: Any, _props: Any) -> None:
        with self._cond:
            self._acked.add(mid)
            self._cond.notify_all()

    def start(self) -> Flood:
        """Connects (waiting for CONNACK) and starts publishing."""
        self._connect()
        self._publish(self._limit)
        return self

    def resume(self, broker: Broker, limit: int) -> bool:
        """After a restart (``persistent`` only): reconnects, which completes what was in
        flight, and publishes ``limit`` more; returns Session Present."""
        assert self.persistent
        self.stop(close=False)
        self.host, self.port = broker.host, broker.port
        session_present = self._connect()
        self._publish(limit)
        return session_present

    def _connect(self) -> bool:
        first = self.connections == 0
        with self._cond:
            self._connack, self._closed, self._stop = None, False, False
            self.connections += 1
        if self.protocol == "5.0":
            self._paho.connect(
                self.host,
                self.port,
                keepalive=30,
                clean_start=not self.persistent or first,
                properties=_connect_properties("5.0", LONG_SESSION_S if self.persistent else None),
            )
        else:
            self._paho.connect(self.host, self.port, keepalive=30)
        self._paho.loop_start()
        self._looping = True
        _wait(
            self._cond,
            lambda: self._connack is not None or self._closed,
            WAIT_S,
            f"CONNACK for {self.client_id}",
        )
        assert self._connack is not None, f"{self.client_id}: closed before CONNACK"
        session_present, code = self._connack
        assert code == 0, f"{self.client_id}: CONNECT refused with {code}"
        return session_present

    def _publish(self, limit: int) -> None:
        first, self._next = self._next, self._next + limit
        self._thread = threading.Thread(
            target=self._run, args=(first, first + limit), name=f"flood-{self.client_id}"
        )
        self._thread.start()

    def _unacked(self) -> int:
        return len(self.sent) - len(self._acked)

    def _run(self, first: int, end: int) -> None:
        for n in range(first, end):
            with self._cond:
                while not (self._stop or self._closed) and self._unacked() >= self._window:
                    self._cond.wait(0.1)
                if self._stop or self._closed:
                    self._next = n
                    return
            topic, payload, retain = self._message(n)
            info = self._paho.publish(topic, payload, self.qos, retain)
            with self._cond:
                self.sent.append(Sent(n, topic, payload, info.mid))
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                # Not sent; paho keeps it for the next connection (the broker was killed).
                self._next = n + 1
                return

    def wait_acks(self, count: int, timeout: float = WAIT_S) -> None:
        """Waits until ``count`` messages are acknowledged (the kill tests' random moment)."""
        _wait(
            self._cond,
            lambda: len(self._acked) >= count or self._closed,
            timeout,
            f"{count} acknowledgements of {self.client_id}",
        )
        assert not self._closed, f"{self.client_id}: connection lost before {count} acks"

    @property
    def next_number(self) -> int:
        """The number after the last one handed to paho."""
        return self.sent[-1].number + 1 if self.sent else self._next

    def wait_done(self, timeout: float = WAIT_S) -> None:
        """Waits until the thread has sent what it was to send and all is acknowledged."""
        assert self._thread is not None
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"{self.client_id}: still publishing after {timeout} s"
        _wait(
            self._cond,
            lambda: self._unacked() == 0,
            timeout,
            f"acknowledgements of {self.client_id}'s {len(self.sent)} messages",
        )

    def stop(self, close: bool = True) -> list[Sent]:
        """Stops publishing; after a kill, once paho saw the connection drop. With ``close``
        (not for `resume`), disconnects if still connected. Never raises."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(WAIT_S)
        with self._cond:
            if close and not self._closed:
                self._paho.disconnect()
        try:
            _wait(self._cond, lambda: self._closed, 2.0 if close else WAIT_S, "close")
        except AssertionError:
            if not close:
                raise
        if self._looping:
            self._looping = False
            _release(self._paho)
        return self.sent

    def is_acked(self, sent: Sent) -> bool:
        """PUBACK (QoS 1) or PUBCOMP (QoS 2) received. (paho numbers a client's messages
        1 to 65535 and then again: the floods send far fewer.)"""
        with self._cond:
            return sent.mid in self._acked

    def acked_numbers(self) -> list[int]:
        assert len(self.sent) < 65535, "packet ids wrapped: acknowledgements are ambiguous"
        with self._cond:
            return [s.number for s in self.sent if s.mid in self._acked]


@dataclass(frozen=True)
class Got:
    """One message a `Collector` received."""

    topic: str
    payload: str
    qos: int
    retain: bool
    dup: bool
    connection: int
    """Which of the collector's connections received it (1, 2, ...)."""


class Collector:
    """A persistent subscriber that survives the broker's restarts.

    One paho client for its whole life, so its half-done incoming QoS 2 flows (PUBREC sent,
    PUBREL not yet received: paho hands the message over at PUBREL) carry over to the next
    connection, as its session's do on the broker. 3.1.1: CleanSession=0; 5.0: Clean Start=0
    after the first connection and a Session Expiry Interval of an hour.
    """

    def __init__(self, client_id: str, protocol: str) -> None:
        self.client_id, self.protocol = client_id, protocol
        self.got: list[Got] = []
        self.connections = 0
        self._cond = threading.Condition()
        self._connack: tuple[bool, int] | None = None
        self._closed = False
        self._looping = False
        self._acks: dict[int, list[int]] = {}
        self._paho = _new_paho(client_id, protocol, clean=False)
        self._paho.on_connect = self._on_connect
        self._paho.on_disconnect = self._on_disconnect
        self._paho.on_message = self._on_message
        self._paho.on_subscribe = self._on_subscribe

    def _on_connect(self, _c: Any, _u: Any, flags: Any, rc: Any, _props: Any) -> None:
        with self._cond:
            self._connack = (bool(flags.session_present), rc.value)
            self._cond.notify_all()

    def _on_disconnect(self, _c: Any, _u: Any, _flags: Any, _rc: Any, _props: Any) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        got = Got(
            msg.topic,
            bytes(msg.payload).decode(errors="backslashreplace"),
            msg.qos,
            bool(msg.retain),
            bool(msg.dup),
            self.connections,
        )
        with self._cond:
            self.got.append(got)
            self._cond.notify_all()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, codes: Any, _props: Any) -> None:
        with self._cond:
            self._acks[mid] = [c.value for c in codes]
            self._cond.notify_all()

    def connect(self, broker: Broker) -> bool:
        """Connects (Clean Start=1 the first time only); returns Session Present."""
        self._drop_loop()
        first = self.connections == 0
        with self._cond:
            self._connack, self._closed = None, False
            self.connections += 1
        if self.protocol == "5.0":
            self._paho.connect(
                broker.host,
                broker.port,
                keepalive=30,
                clean_start=first,
                properties=_connect_properties("5.0", LONG_SESSION_S),
            )
        else:
            self._paho.connect(broker.host, broker.port, keepalive=30)
        self._paho.loop_start()
        self._looping = True
        _wait(
            self._cond,
            lambda: self._connack is not None or self._closed,
            WAIT_S,
            f"CONNACK for {self.client_id}",
        )
        assert self._connack is not None, f"{self.client_id}: closed before CONNACK"
        session_present, code = self._connack
        assert code == 0, f"{self.client_id}: CONNECT refused with {code}"
        return session_present

    def subscribe(self, topic_filter: str, qos: int) -> None:
        rc, mid = self._paho.subscribe(topic_filter, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS and mid is not None, f"subscribe not sent: {rc}"
        _wait(self._cond, lambda: mid in self._acks, WAIT_S, f"SUBACK for {topic_filter}")
        assert self._acks[mid] == [qos], f"SUBACK {self._acks[mid]} for QoS {qos}"

    def disconnect(self) -> None:
        """DISCONNECT; the session stays on the broker."""
        self._paho.disconnect()
        _wait(self._cond, lambda: self._closed, WAIT_S, f"close of {self.client_id}")
        self._drop_loop()

    def wait_closed(self) -> None:
        """After the broker was killed: waits for paho to see the connection gone."""
        _wait(self._cond, lambda: self._closed, WAIT_S, f"{self.client_id} to see the kill")
        self._drop_loop()

    def wait_until(self, ready: Callable[[list[Got]], bool], what: str, timeout: float) -> None:
        _wait(self._cond, lambda: ready(self.got), timeout, what)

    def snapshot(self) -> list[Got]:
        with self._cond:
            return list(self.got)

    def close(self) -> None:
        """Teardown: never raises."""
        with self._cond:
            closed = self._closed
        if self._looping and not closed:
            self._paho.disconnect()
            try:
                _wait(self._cond, lambda: self._closed, 2.0, "close")
            except AssertionError:
                pass
        self._drop_loop()

    def _drop_loop(self) -> None:
        if self._looping:
            self._looping = False
            _release(self._paho)


def numbered(publisher: str, n: int) -> str:
    return f"{publisher}:{n}"


def check_stream(
    got: Iterable[Got], acked: dict[str, set[int]], sent: dict[str, set[int]], qos: int
) -> list[str]:
    """The problems in what a persistent subscriber received from numbered publishers.

    Every acknowledged number arrived; per publisher, each number arrives for the first time
    after every smaller one it got (order [MQTT-4.6.0-6]), a number arrives again only at QoS 1
    (a redelivery: it repeats one that came before) and never at QoS 2; nothing arrives that
    was not sent; each message at the QoS it was sent with.
    """
    problems: list[str] = []
    streams: dict[str, list[int]] = {p: [] for p in acked}
    for g in got:
        publisher, _, number = g.payload.partition(":")
        if publisher not in streams or not number.isdigit():
            problems.append(f"unexpected message {g}")
            continue
        if g.qos != qos:
            problems.append(f"{g.payload} arrived at QoS {g.qos}, sent at {qos}")
        streams[publisher].append(int(number))
    for publisher, stream in streams.items():
        seen: set[int] = set()
        highest = -1
        disorder: list[str] = []
        duplicates: list[int] = []
        for i, n in enumerate(stream):
            if n in seen:
                duplicates.append(n)
                continue
            if n < highest:
                disorder.append(f"{n} after {highest} (position {i})")
            seen.add(n)
            highest = max(highest, n)
        lost = sorted(acked[publisher] - seen)
        unsent = sorted(seen - sent[publisher])
        if lost:
            problems.append(
                f"{publisher}: {len(lost)} acknowledged messages lost: {_ranges(lost)} "
                f"(received {len(seen)} distinct of {len(sent[publisher])} sent, "
                f"{len(acked[publisher])} acknowledged)"
            )
        if disorder:
            problems.append(f"{publisher}: out of order: {disorder[:10]}")
        if unsent:
            problems.append(f"{publisher}: numbers never sent: {_ranges(unsent)}")
        if duplicates and qos == 2:
            problems.append(
                f"{publisher}: QoS 2 delivered {len(duplicates)} twice: {_ranges(duplicates)}"
            )
    return problems


def _ranges(numbers: list[int]) -> str:
    """``[1, 2, 3, 7]`` as ``1-3, 7`` (at most 20 runs)."""
    runs: list[str] = []
    start = prev = None
    for n in sorted(numbers):
        if start is not None and prev is not None and n == prev + 1:
            prev = n
            continue
        if start is not None:
            runs.append(f"{start}-{prev}" if start != prev else f"{start}")
        start = prev = n
    if start is not None:
        runs.append(f"{start}-{prev}" if start != prev else f"{start}")
    more = f", ... ({len(runs) - 20} more runs)" if len(runs) > 20 else ""
    return ", ".join(runs[:20]) + more
