"""Mosquitto's command-line clients (mosquitto_pub, mosquitto_sub) against the broker under test.

Every subprocess has a timeout and is killed if a test fails while it runs; mosquitto_sub also
gets ``-W`` so it gives up by itself. It runs with ``-d`` so the test can wait for its SUBACK
before publishing; messages are printed with a ``-F`` format that starts with ``MSG|``, so they
are told apart from the debug lines.
Statement ids cite MQTT 3.1.1 unless marked (5.0).
"""

from __future__ import annotations

import contextlib
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from conftest import Broker
from paho_client import ALL_VERSIONS, WAIT_S, unique_client_id

# stdbuf: mosquitto_sub's stdout is a pipe here, which stdio would buffer by the block.
STDBUF = [shutil.which("stdbuf") or "stdbuf", "-oL"]
PUB = shutil.which("mosquitto_pub") or "mosquitto_pub"
SUB = shutil.which("mosquitto_sub") or "mosquitto_sub"
VERSION_FLAG = {"3.1": "mqttv31", "3.1.1": "mqttv311", "5.0": "mqttv5"}
FORMAT = "MSG|%t|%q|%r|%p"
SUB_DEADLINE_S = 8
"""`-W`: mosquitto_sub exits by itself (code 27) if its `-C` count has not come by then."""


def base_args(broker: Broker, version: str, args: tuple[str, ...]) -> list[str]:
    # Our own client id unless the test sets one: the tools' default ids are longer than the
    # 23 characters a 3.1 server has to accept [MQTT-3.1.3-5].
    client_id = [] if "-i" in args else ["-i", unique_client_id("t")]
    return ["-h", broker.host, "-p", str(broker.port), "-V", VERSION_FLAG[version], *client_id]


def mosquitto_pub(broker: Broker, version: str, *args: str, stdin: bytes | None = None) -> None:
    """Runs mosquitto_pub to completion (killed after the timeout) and checks it succeeded."""
    cmd = [PUB, *base_args(broker, version, args), *args]
    result = subprocess.run(cmd, input=stdin, capture_output=True, timeout=WAIT_S, check=False)
    assert result.returncode == 0, f"{cmd} exited {result.returncode}: {result.stderr!r}"


def fields(line: str) -> tuple[str, ...]:
    """The fields of a ``-F`` line after the ``MSG`` tag."""
    return tuple(line.split("|")[1:])


class MosquittoSub:
    """A mosquitto_sub process whose output is read line by line on a thread."""

    def __init__(self, broker: Broker, version: str, *args: str) -> None:
        deadline = [] if "-W" in args else ["-W", str(SUB_DEADLINE_S)]
        self.cmd = [*STDBUF, SUB, *base_args(broker, version, args), "-d", *deadline, *args]
        self.process = subprocess.Popen(
            self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.output: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self._lines.put(raw.decode(errors="backslashreplace").rstrip("\n"))
        self._lines.put(None)

    def wait_line(self, wanted: Callable[[str], bool], what: str, timeout: float = WAIT_S) -> str:
        """Reads output until a line satisfies ``wanted``; fails at the deadline or at exit."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self._lines.get(timeout=max(left, 0.0)) if left > 0 else None
            except queue.Empty:
                line = None
            if line is None:
                raise AssertionError(f"no {what} from {self.cmd}; output: {self.output}")
            self.output.append(line)
            if wanted(line):
                return line

    def wait_subscribed(self) -> None:
        self.wait_line(lambda line: line.endswith("received SUBACK"), "SUBACK")

    def finish(self, timeout: float = WAIT_S) -> list[tuple[str, ...]]:
        """Waits for the process to exit by itself (``-C``, ``-E``); returns its messages."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.cmd} still running after {timeout} s") from None
        self._reader.join(timeout=WAIT_S)
        while not self._lines.empty():
            line = self._lines.get_nowait()
            if line is not None:
                self.output.append(line)
        assert code == 0, f"{self.cmd} exited {code}; output: {self.output}"
        return self.messages()

    def messages(self) -> list[tuple[str, ...]]:
        return [fields(line) for line in self.output if line.startswith("MSG|")]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=WAIT_S)

    def close(self) -> None:
        self.kill()
        assert self.process.stdout is not None
        self.process.stdout.close()


@contextlib.contextmanager
def mosquitto_sub(broker: Broker, version: str, *args: str) -> Iterator[MosquittoSub]:
    """A running mosquitto_sub, killed when the block ends (also when a test fails in it)."""
    sub = MosquittoSub(broker, version, *args)
    try:
        yield sub
    finally:
        sub.close()


@pytest.mark.parametrize("qos", [0, 1, 2])
@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_pub_sub_at_each_qos(broker: Broker, version: str, qos: int) -> None:
    """Messages published at a QoS reach a subscriber at the same QoS [MQTT-3.8.4-6], in
    order [MQTT-4.6.0-6], not retained [MQTT-3.3.1-9]."""
    topic = f"cli/qos{qos}"
    with mosquitto_sub(
        broker, version, "-t", topic, "-q", str(qos), "-C", "2", "-F", FORMAT
    ) as sub:
        sub.wait_subscribed()
        mosquitto_pub(broker, version, "-t", topic, "-q", str(qos), "-m", "one")
        mosquitto_pub(broker, version, "-t", topic, "-q", str(qos), "-m", "two")
        assert sub.finish() == [(topic, str(qos), "0", "one"), (topic, str(qos), "0", "two")]


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_verbose_output_with_wildcards(broker: Broker, version: str) -> None:
    """`-v` prints topic and payload of each match of `+` and `#` filters (section 4.7.1:
    `#` also matches the parent level); a topic matching no filter is not delivered."""
    args = ["-t", "cli/+/leaf", "-t", "cli/deep/#", "-C", "3", "-v"]
    with mosquitto_sub(broker, version, *args) as sub:
        sub.wait_subscribed()
        for topic in ["cli/a/leaf", "cli/a/other", "cli/deep", "cli/deep/x/y"]:
            mosquitto_pub(broker, version, "-t", topic, "-q", "1", "-m", topic.replace("/", "-"))
        sub.finish()
    printed = [line for line in sub.output if line.startswith("cli/")]
    assert printed == ["cli/a/leaf cli-a-leaf", "cli/deep cli-deep", "cli/deep/x/y cli-deep-x-y"]


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_retained_message_set_and_cleared(broker: Broker, version: str) -> None:
    """A retained message reaches a later subscriber with the retain flag [MQTT-3.3.1-8]; an
    empty retained message (`-n -r`) removes it [MQTT-3.3.1-10] (5.0: [MQTT-3.3.1-6])."""
    topic = "cli/retained"
    mosquitto_pub(broker, version, "-t", topic, "-q", "1", "-r", "-m", "kept")
    with mosquitto_sub(broker, version, "-t", topic, "-q", "1", "-C", "1", "-F", FORMAT) as sub:
        assert sub.finish() == [(topic, "1", "1", "kept")]

    mosquitto_pub(broker, version, "-t", topic, "-q", "1", "-r", "-n")
    # --retained-only exits at the first message without the retain flag: the live fence,
    # which comes after any retained message sent at subscribe time.
    only_retained = ["-t", topic, "-q", "1", "--retained-only", "-F", FORMAT]
    with mosquitto_sub(broker, version, *only_retained) as sub:
        sub.wait_subscribed()
        mosquitto_pub(broker, version, "-t", topic, "-q", "1", "-m", "fence")
        assert sub.finish() == []


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_persistent_session_resume(broker: Broker, version: str) -> None:
    """`-c -i id` keeps the session: QoS 1 messages published while the client is away are
    queued [MQTT-3.1.2-5] and delivered in order when it returns [MQTT-4.6.0-6]."""
    session = ["-c", "-i", unique_client_id("s"), "-q", "1", "-t", "cli/sess"]
    with mosquitto_sub(broker, version, *session, "-E") as sub:
        assert sub.finish() == []
    lines = [f"queued-{i}" for i in range(5)]
    stdin = "".join(f"{line}\n" for line in lines).encode()
    mosquitto_pub(broker, version, "-t", "cli/sess", "-q", "1", "-l", stdin=stdin)
    with mosquitto_sub(broker, version, *session, "-C", "5", "-F", FORMAT) as sub:
        assert sub.finish() == [("cli/sess", "1", "0", line) for line in lines]


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_will_with_retain(broker: Broker, version: str) -> None:
    """A client killed without DISCONNECT has its will published [MQTT-3.1.2-8]; with
    `--will-retain` it is also retained for later subscribers [MQTT-3.1.2-17] (5.0:
    [MQTT-3.1.2-15]), and forwarded live without the retain flag [MQTT-3.3.1-9]."""
    will = ["--will-topic", "cli/will", "--will-payload", "bye", "--will-qos", "1"]
    with mosquitto_sub(broker, version, "-t", "cli/will", "-q", "1", "-C", "1", "-F", FORMAT) as w:
        w.wait_subscribed()
        with mosquitto_sub(broker, version, "-t", "cli/unused", *will, "--will-retain") as dying:
            dying.wait_subscribed()
            dying.kill()  # SIGKILL: the kernel closes the socket, no DISCONNECT is sent
        assert w.finish() == [("cli/will", "1", "0", "bye")]
    with mosquitto_sub(
        broker, version, "-t", "cli/will", "-q", "1", "-C", "1", "-F", FORMAT
    ) as sub:
        assert sub.finish() == [("cli/will", "1", "1", "bye")]


def test_v5_properties_round_trip(broker: Broker) -> None:
    """(5.0) `-D publish ...` properties reach a subscriber unaltered: user properties in
    order [MQTT-3.3.2-17] [MQTT-3.3.2-18], content type [MQTT-3.3.2-20], response topic
    [MQTT-3.3.2-15], correlation data [MQTT-3.3.2-16], payload format indicator
    [MQTT-3.3.2-4]; message expiry at most the sent value [MQTT-3.3.2-6]; `%S` shows the
    subscription identifier [MQTT-3.3.4-3]."""
    props = [
        ("user-property", "k1", "v1"),
        ("user-property", "k0", "v0"),
        ("user-property", "k1", "again"),
        ("content-type", "text/plain"),
        ("response-topic", "cli/reply"),
        ("correlation-data", "corr-42"),
        ("payload-format-indicator", "1"),
        ("message-expiry-interval", "100"),
    ]
    fmt = "MSG|%P|%C|%R|%D|%F|%E|%S|%q|%r|%p"
    sub_args = ["-t", "cli/props", "-q", "2", "-C", "1", "-F", fmt]
    sub_args += ["-D", "subscribe", "subscription-identifier", "42"]
    with mosquitto_sub(broker, "5.0", *sub_args) as sub:
        sub.wait_subscribed()
        pub_args = ["-t", "cli/props", "-q", "2", "-m", "hi"]
        for prop in props:
            pub_args += ["-D", "publish", *prop]
        mosquitto_pub(broker, "5.0", *pub_args)
        [got] = sub.finish()
    user, content, response, correlation, pfi, expiry, sid, qos, retain, payload = got
    assert user == "k1:v1 k0:v0 k1:again"
    assert (content, response, correlation, pfi) == ("text/plain", "cli/reply", "corr-42", "1")
    assert 0 < int(expiry) <= 100
    assert (sid, qos, retain, payload) == ("42", "2", "0", "hi")
