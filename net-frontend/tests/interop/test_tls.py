"""TLS and mutual TLS with real clients: mosquitto_pub / mosquitto_sub (``--cafile --cert
--key``) and paho-mqtt (``tls_set``) against a broker with two TLS listeners.

- the TLS listener: server certificate only;
- the mTLS listener: ``require_certificate`` and ``use_identity_as_username`` with the CA.

The certificates are made per test with the ``openssl`` command line, by the same commands
docs/security.md gives users (plus an expired client certificate, made with ``openssl ca`` and
fixed dates). The broker under test (mqlite, or Mosquitto to validate the suite) is started
here with a config file of its own format, since the ``broker`` fixture only has ``--listen``.
"""

from __future__ import annotations

import gc
import shutil
import signal
import ssl
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import (
    Broker,
    broker_kind_under_test,
    finish,
    free_port,
    spawn_configured,
    wait_until_listening,
)
from paho_client import WAIT_S, PahoClient, unique_client_id

OPENSSL = shutil.which("openssl") or "openssl"
PUB = shutil.which("mosquitto_pub") or "mosquitto_pub"
SUB = shutil.which("mosquitto_sub") or "mosquitto_sub"
# stdbuf: mosquitto_sub's stdout is a pipe here, which stdio would buffer by the block.
STDBUF = [shutil.which("stdbuf") or "stdbuf", "-oL"]
VERSION_FLAG = {"3.1.1": "mqttv311", "5.0": "mqttv5"}
HOST = "127.0.0.1"
"""The server certificate names localhost and 127.0.0.1; clients check the name."""

pytestmark = pytest.mark.skipif(shutil.which(OPENSSL) is None, reason="needs openssl")


def openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(
        [OPENSSL, *args], cwd=cwd, capture_output=True, timeout=WAIT_S, check=False
    )
    assert result.returncode == 0, f"openssl {args}: {result.stderr.decode(errors='replace')}"


def new_key_and_csr(cwd: Path, name: str, subject: str, *ext: str) -> None:
    """``name.key`` (EC P-256) and ``name.csr`` with ``subject`` and extensions ``ext``."""
    addext = [a for e in ext for a in ("-addext", e)]
    openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, *addext,
        cwd=cwd,
    )  # fmt: skip


def sign(cwd: Path, name: str, ca: str) -> None:
    """``name.crt`` from ``name.csr``, signed by ``ca.crt`` / ``ca.key``, its extensions kept."""
    openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-days", "825", "-copy_extensions", "copyall", "-out", f"{name}.crt",
        cwd=cwd,
    )  # fmt: skip


def new_ca(cwd: Path, name: str, subject: str) -> None:
    openssl(
        "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-days", "3650", "-subj", subject,
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", f"{name}.key", "-out", f"{name}.crt",
        cwd=cwd,
    )  # fmt: skip


def sign_expired(cwd: Path, name: str) -> None:
    """``name.crt`` valid in 2020 only: ``openssl ca`` takes fixed dates, ``x509`` does not."""
    (cwd / "index.txt").write_text("")
    (cwd / "ca.cnf").write_text(
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\n"
        "serial = ca.srl\ndefault_md = sha256\npolicy = p\ncopy_extensions = copy\n"
        "[p]\ncommonName = supplied\n"
    )
    openssl(
        "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key",
        "-in", f"{name}.csr", "-out", f"{name}.crt", "-notext",
        "-startdate", "20200101000000Z", "-enddate", "20201231000000Z",
        cwd=cwd,
    )  # fmt: skip


@dataclass
class Pki:
    dir: Path

    def path(self, name: str) -> str:
        return str(self.dir / name)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    """CA, server (localhost, 127.0.0.1), clients: valid (CN device-1), expired, other CA."""
    d = tmp_path / "pki"
    d.mkdir()
    new_ca(d, "ca", "/CN=mqlite test CA")
    san = "subjectAltName=DNS:localhost,IP:127.0.0.1"
    new_key_and_csr(d, "server", "/CN=localhost", san, "extendedKeyUsage=serverAuth")
    sign(d, "server", "ca")
    new_key_and_csr(d, "client", "/CN=device-1", "extendedKeyUsage=clientAuth")
    sign(d, "client", "ca")
    new_key_and_csr(d, "expired", "/CN=old-device", "extendedKeyUsage=clientAuth")
    sign_expired(d, "expired")
    new_ca(d, "other-ca", "/CN=other CA")
    new_key_and_csr(d, "stranger", "/CN=stranger", "extendedKeyUsage=clientAuth")
    sign(d, "stranger", "other-ca")
    new_key_and_csr(d, "other-server", "/CN=localhost", san, "extendedKeyUsage=serverAuth")
    sign(d, "other-server", "other-ca")
    return Pki(d)


@dataclass
class TlsBroker(Broker):
    """The broker under test with a TLS listener on ``port`` and an mTLS one on ``mtls_port``."""

    mtls_port: int = 0


def config_text(kind: str, pki: Pki, tls_port: int, mtls_port: int) -> str:
    p = pki.path
    if kind == "mqlite":
        tls = f'certfile = "{p("server.crt")}"\nkeyfile = "{p("server.key")}"\n'
        return (
            "listen = []\n"
            f'[[listener]]\naddress = "{HOST}:{tls_port}"\n{tls}'
            f'[[listener]]\naddress = "{HOST}:{mtls_port}"\n{tls}'
            f'cafile = "{p("ca.crt")}"\nrequire_certificate = true\n'
            "use_identity_as_username = true\n"
        )
    tls = f"certfile {p('server.crt')}\nkeyfile {p('server.key')}\n"
    # `user root`: run as root, Mosquitto would switch to its own user before reading the
    # certificates, which live in pytest's private temporary folder.
    return (
        "user root\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type all\n"
        f"listener {tls_port} {HOST}\n{tls}"
        f"listener {mtls_port} {HOST}\n{tls}cafile {p('ca.crt')}\n"
        "require_certificate true\nuse_identity_as_username true\n"
    )


@pytest.fixture
def tls_broker(tmp_path: Path, pki: Pki) -> Iterator[TlsBroker]:
    kind = broker_kind_under_test()
    workdir = tmp_path / "broker"
    workdir.mkdir()
    tls_port, mtls_port = free_port(), free_port()
    process, log_path = spawn_configured(kind, workdir, config_text(kind, pki, tls_port, mtls_port))
    broker = TlsBroker(kind, "under test", HOST, tls_port, log_path, process, mtls_port)
    if not (wait_until_listening(process, tls_port) and wait_until_listening(process, mtls_port)):
        code = broker.stop()
        pytest.fail(f"{kind} did not listen (exit {code})\n{broker.log_tail()}", pytrace=False)
    yield broker
    finish(broker)


def tls_args(pki: Pki, cert: str | None, ca: str = "ca") -> list[str]:
    args = ["--cafile", pki.path(f"{ca}.crt")]
    if cert is not None:
        args += ["--cert", pki.path(f"{cert}.crt"), "--key", pki.path(f"{cert}.key")]
    return args


def mosquitto_roundtrip(port: int, version: str, tls: list[str]) -> None:
    """mosquitto_sub waits for one message that mosquitto_pub sends; both over TLS."""
    common = ["-h", HOST, "-p", str(port), "-V", VERSION_FLAG[version], *tls]
    topic = f"tls/{unique_client_id('t')}"
    sub_args = ["-i", unique_client_id("s"), "-t", topic, "-C", "1", "-W", "8", "-d"]
    sub = subprocess.Popen(
        [*STDBUF, SUB, *common, *sub_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        # The subscription is in place once mosquitto_sub printed its SUBACK (-d).
        assert sub.stdout is not None
        seen: list[bytes] = []
        for line in sub.stdout:
            seen.append(line)
            if b"SUBACK" in line:
                break
        else:
            raise AssertionError(f"mosquitto_sub got no SUBACK: {b''.join(seen)!r}")
        pub = subprocess.run(
            [PUB, *common, "-i", unique_client_id("p"), "-t", topic, "-m", "secret"],
            capture_output=True,
            timeout=WAIT_S,
            check=False,
        )
        assert pub.returncode == 0, f"mosquitto_pub: {pub.stderr!r}"
        out, _ = sub.communicate(timeout=WAIT_S)
        assert sub.returncode == 0, f"mosquitto_sub exited {sub.returncode}: {out!r}"
        assert b"secret" in out.splitlines(), out
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()


def mosquitto_pub_refused(port: int, tls: list[str]) -> str:
    """Runs mosquitto_pub expecting failure; returns its error output."""
    result = subprocess.run(
        [PUB, "-h", HOST, "-p", str(port), "-V", "mqttv311", "-t", "x", "-m", "x", *tls],
        capture_output=True,
        timeout=WAIT_S,
        check=False,
    )
    assert result.returncode != 0, "mosquitto_pub was let in"
    return result.stderr.decode(errors="replace")


@pytest.mark.parametrize("version", ["3.1.1", "5.0"])
def test_mosquitto_clients_over_tls(tls_broker: TlsBroker, pki: Pki, version: str) -> None:
    mosquitto_roundtrip(tls_broker.port, version, tls_args(pki, None))


@pytest.mark.parametrize("version", ["3.1.1", "5.0"])
def test_mosquitto_clients_over_mtls(tls_broker: TlsBroker, pki: Pki, version: str) -> None:
    mosquitto_roundtrip(tls_broker.mtls_port, version, tls_args(pki, "client"))


@pytest.mark.parametrize("cert", [None, "expired", "stranger"])
def test_mosquitto_client_without_a_valid_certificate_is_refused(
    tls_broker: TlsBroker, pki: Pki, cert: str | None
) -> None:
    mosquitto_pub_refused(tls_broker.mtls_port, tls_args(pki, cert))
    # The listener still serves a good client.
    mosquitto_roundtrip(tls_broker.mtls_port, "3.1.1", tls_args(pki, "client"))


def test_mosquitto_client_refuses_a_server_of_another_ca(tls_broker: TlsBroker, pki: Pki) -> None:
    mosquitto_pub_refused(tls_broker.port, tls_args(pki, None, ca="other-ca"))


def paho(port: int, version: str, pki: Pki, cert: str | None, ca: str = "ca") -> PahoClient:
    """An unconnected paho client with ``tls_set``."""
    client = PahoClient(HOST, port, version)
    certfile = pki.path(f"{cert}.crt") if cert else None
    keyfile = pki.path(f"{cert}.key") if cert else None
    # PahoClient has no TLS option of its own; tls_set goes to the paho client inside it.
    client._paho.tls_set(ca_certs=pki.path(f"{ca}.crt"), certfile=certfile, keyfile=keyfile)
    return client


REFUSED = (ssl.SSLError, OSError, AssertionError)
"""How a paho connect fails: TLS 1.2 in the handshake; with TLS 1.3 the client's side of it
ends first and the server's alert closes the connection before any CONNACK."""


def try_connect(client: PahoClient, timeout: float = 5) -> str | None:
    """Connects; returns why it failed, or None. paho leaves the socket of a failed TLS
    handshake unclosed: it is freed here (when the exception and its traceback go) without the
    ResourceWarning that would otherwise fail whichever test runs then."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            client.connect(timeout=timeout)
            return None
        except REFUSED as e:
            error = repr(e)
        gc.collect()
    return error


def paho_roundtrip(port: int, version: str, pki: Pki, cert: str | None) -> None:
    sub = paho(port, version, pki, cert)
    pub = paho(port, version, pki, cert)
    try:
        sub.connect()
        topic = f"tls/{sub.client_id}"
        sub.subscribe(topic, 1)
        pub.connect()
        pub.publish(topic, b"over tls", qos=1)
        assert sub.wait_for(1)[0].payload == b"over tls"
    finally:
        sub.close()
        pub.close()


@pytest.mark.parametrize("version", ["3.1.1", "5.0"])
def test_paho_over_tls(tls_broker: TlsBroker, pki: Pki, version: str) -> None:
    paho_roundtrip(tls_broker.port, version, pki, None)


@pytest.mark.parametrize("version", ["3.1.1", "5.0"])
def test_paho_over_mtls(tls_broker: TlsBroker, pki: Pki, version: str) -> None:
    paho_roundtrip(tls_broker.mtls_port, version, pki, "client")


@pytest.mark.parametrize("cert", [None, "expired", "stranger"])
def test_paho_without_a_valid_certificate_is_refused(
    tls_broker: TlsBroker, pki: Pki, cert: str | None
) -> None:
    client = paho(tls_broker.mtls_port, "3.1.1", pki, cert)
    try:
        assert try_connect(client) is not None, "paho was let in"
    finally:
        client.close()


def test_sighup_reloads_the_certificate_and_keeps_connections(
    tls_broker: TlsBroker, pki: Pki
) -> None:
    before = paho(tls_broker.port, "3.1.1", pki, None)
    try:
        before.connect()
        topic = f"tls/{before.client_id}"
        before.subscribe(topic, 1)
        for ext in ("crt", "key"):
            shutil.copy(pki.path(f"other-server.{ext}"), pki.path(f"server.{ext}"))
        tls_broker.process.send_signal(signal.SIGHUP)
        # New handshakes present the other CA's certificate once the reload happened.
        deadline = time.monotonic() + WAIT_S
        while True:
            after = paho(tls_broker.port, "3.1.1", pki, None, ca="other-ca")
            error = try_connect(after)
            after.close()
            if error is None:
                break
            assert time.monotonic() < deadline, f"still refused after SIGHUP: {error}"
            time.sleep(0.1)
        # The connection made before the reload still works.
        publisher = paho(tls_broker.port, "3.1.1", pki, None, ca="other-ca")
        publisher.connect()
        publisher.publish(topic, b"after reload", qos=1)
        assert before.wait_for(1)[0].payload == b"after reload"
        publisher.close()
    finally:
        before.close()
