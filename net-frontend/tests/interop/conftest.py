"""Fixtures that start the broker under test and a reference Mosquitto on loopback ports.

The broker under test is chosen by the environment:

- ``MQLITE_BIN=/path/to/mqlite``: runs ``$MQLITE_BIN --listen 127.0.0.1:PORT``;
- ``INTEROP_BROKER=mosquitto``: runs Mosquitto, to validate the suite itself;
- ``INTEROP_BROKER=mqlite``: the same as setting only ``MQLITE_BIN``.

Every broker is a fresh process per test, so retained messages and sessions never leak between
tests. Its stderr goes to a file that is attached to the report of a failing test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from paho_client import PahoClient

# `differential.differential` asserts that the brokers agree: rewritten, its failures show the
# diff. Registered before any test module imports it.
pytest.register_assert_rewrite("differential")

READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
LOG_TAIL_LINES = 200


@dataclass
class Broker:
    """One running broker process listening on ``host:port``."""

    kind: str
    """``"mqlite"`` or ``"mosquitto"``."""
    role: str
    """``"under test"`` or ``"reference"``."""
    host: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def is_mosquitto(self) -> bool:
        return self.kind == "mosquitto"

    def log_tail(self) -> str:
        """The last lines the broker wrote to stderr."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError as e:
            return f"(no log: {e})"
        return "\n".join(lines[-LOG_TAIL_LINES:])

    def stop(self) -> int | None:
        """Stops the process (SIGTERM, then SIGKILL); returns the exit code it had on its own."""
        exited_on_its_own = self.process.poll()
        if exited_on_its_own is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)
        return exited_on_its_own


def broker_kind_under_test() -> str:
    """Which broker the ``broker`` fixture starts, from ``INTEROP_BROKER`` and ``MQLITE_BIN``."""
    kind = os.environ.get("INTEROP_BROKER", "").strip()
    if not kind:
        kind = "mqlite" if os.environ.get("MQLITE_BIN") else ""
    return kind


def mosquitto_path() -> str:
    return shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    """A loopback port that was free a moment ago (the broker binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def broker_command(kind: str, port: int, workdir: Path) -> list[str]:
    if kind == "mqlite":
        return [os.path.abspath(os.environ["MQLITE_BIN"]), "--listen", f"127.0.0.1:{port}"]
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        "\n".join(
            [
                f"listener {port} 127.0.0.1",
                "allow_anonymous true",
                "persistence false",
                "max_queued_messages 1000",
                "log_dest stderr",
                "log_type error",
                "log_type warning",
                "log_type notice",
                "log_type information",
                "connection_messages true",
                "",
            ]
        )
    )
    return [mosquitto_path(), "-c", str(conf)]


def wait_until_listening(process: subprocess.Popen[bytes], port: int) -> bool:
    """Polls a TCP connect to the port until it succeeds, the process exits or time runs out."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def spawn(cmd: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Starts a broker process with its stdout and stderr in ``log_path``."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            cmd,
            # mqlite logs through tracing: info unless the caller chose a level.
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "info")},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def spawn_configured(kind: str, workdir: Path, config: str) -> tuple[subprocess.Popen[bytes], Path]:
    """Starts ``kind`` from ``config`` (in that broker's own format), written into
    ``workdir``; returns the process and the path of its log."""
    if kind == "mqlite":
        conf = workdir / "mqlite.toml"
        cmd = [os.path.abspath(os.environ["MQLITE_BIN"]), "--config", str(conf)]
    else:
        conf = workdir / "mosquitto.conf"
        cmd = [mosquitto_path(), "-c", str(conf)]
    conf.write_text(config)
    log_path = workdir / f"{kind}.log"
    return spawn(cmd, log_path), log_path


def start_broker(kind: str, role: str, workdir: Path) -> Broker:
    """Starts a broker on a free port; retries on another port if the first one was taken."""
    workdir.mkdir(parents=True, exist_ok=True)
    failure = ""
    for attempt in range(3):
        port = free_port()
        log_path = workdir / f"{kind}-{attempt}.log"
        process = spawn(broker_command(kind, port, workdir), log_path)
        broker = Broker(kind, role, "127.0.0.1", port, log_path, process)
        if wait_until_listening(process, port):
            return broker
        code = broker.stop()
        failure = (
            f"{kind} ({role}) did not accept connections on 127.0.0.1:{port} within "
            f"{READY_TIMEOUT_S} s (exit code {code})\n--- its log ---\n{broker.log_tail()}"
        )
    pytest.fail(failure, pytrace=False)


def finish(broker: Broker) -> None:
    """Stops the broker at teardown; fails the test if it had exited during the test."""
    code = broker.stop()
    if code is not None:
        pytest.fail(
            f"{broker.kind} ({broker.role}) exited with code {code} during the test\n"
            f"--- its log ---\n{broker.log_tail()}",
            pytrace=False,
        )


def pytest_configure(config: pytest.Config) -> None:
    kind = broker_kind_under_test()
    if kind not in ("mqlite", "mosquitto"):
        raise pytest.UsageError(
            "choose the broker under test: MQLITE_BIN=/path/to/mqlite or INTEROP_BROKER=mosquitto "
            f"(INTEROP_BROKER={kind!r} is not known)"
        )
    if kind == "mqlite" and not os.environ.get("MQLITE_BIN"):
        raise pytest.UsageError("INTEROP_BROKER=mqlite needs MQLITE_BIN=/path/to/mqlite")


def pytest_report_header(config: pytest.Config) -> str:
    kind = broker_kind_under_test()
    where = os.environ.get("MQLITE_BIN") if kind == "mqlite" else mosquitto_path()
    return f"broker under test: {kind} ({where}); reference: mosquitto ({mosquitto_path()})"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Attaches the log of every broker the test used to the report of a failing test."""
    report = yield
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, Broker):
                report.sections.append((f"{value.kind} log ({value.role})", value.log_tail()))
    return report


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """The broker under test, fresh for this test."""
    b = start_broker(broker_kind_under_test(), "under test", tmp_path / "broker")
    yield b
    finish(b)


@pytest.fixture
def mosquitto_ref(tmp_path: Path) -> Iterator[Broker]:
    """A reference Mosquitto, fresh for this test, for the differential tests."""
    b = start_broker("mosquitto", "reference", tmp_path / "reference")
    yield b
    finish(b)


class Clients:
    """Opens paho clients for a test and closes every one of them at teardown."""

    def __init__(self) -> None:
        self._open: list[PahoClient] = []

    def __call__(self, broker: Broker, protocol: str = "5.0", **options: object) -> PahoClient:
        """A client connected to ``broker`` (see `PahoClient` for the options)."""
        client = self.unconnected(broker, protocol, **options)
        client.connect()
        return client

    def unconnected(self, broker: Broker, protocol: str = "5.0", **options: object) -> PahoClient:
        client = PahoClient(broker.host, broker.port, protocol, **options)  # type: ignore[arg-type]
        self._open.append(client)
        return client

    def close_all(self) -> None:
        for client in self._open:
            client.close()
        self._open.clear()


@pytest.fixture
def clients() -> Iterator[Clients]:
    """``clients(broker, "3.1.1", client_id=..., ...)`` returns a connected `PahoClient`."""
    c = Clients()
    yield c
    c.close_all()
