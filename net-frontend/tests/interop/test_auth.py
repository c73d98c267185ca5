"""Passwords with real clients: mosquitto_pub (``-u -P``) and paho-mqtt (``username_pw_set``),
3.1.1 and 5.0, against a broker with a password file, over plain TCP and over TLS.

The password file is written by ``mqlite passwd FILE USER`` with the password on standard
input (``mosquitto_passwd -b`` when only Mosquitto is under test). The right password logs in;
a wrong one, a user name without a password and no user name at all are refused, as the
``allow_anonymous`` default is ``false`` once there is a password file (Mosquitto 2 too).
The broker under test is started here with a config file of its own format, since the
``broker`` fixture only has ``--listen``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
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
from test_tls import OPENSSL, new_ca, new_key_and_csr, sign

PUB = shutil.which("mosquitto_pub") or "mosquitto_pub"
VERSION_FLAG = {"3.1.1": "mqttv311", "5.0": "mqttv5"}
HOST = "127.0.0.1"
USER = "sensor-1"
PASSWORD = "correct horse"
WRONG = "correct horse!"

SUCCESS = 0
BAD_USER_NAME_OR_PASSWORD = 134
"""CONNACK 0x86 (5.0)."""
NOT_AUTHORIZED = 135
"""CONNACK 0x87 (5.0); paho reports 3.1.1's return code 5 "not authorized" as this too."""

REASON_TEXT = {
    NOT_AUTHORIZED: "Not authorized",
    BAD_USER_NAME_OR_PASSWORD: "Bad User Name or Password",
}

CREDENTIALS = {
    "right": (USER, PASSWORD),
    "wrong password": (USER, WRONG),
    "missing password": (USER, None),
    "unknown user": ("sensor-2", PASSWORD),
    "anonymous": (None, None),
}
REFUSED = [name for name in CREDENTIALS if name != "right"]


def write_password_file(path: Path) -> None:
    """``USER:PASSWORD`` in Mosquitto 2's format, by ``mqlite passwd`` where it is known."""
    mqlite = os.environ.get("MQLITE_BIN")
    if mqlite:
        cmd = [os.path.abspath(mqlite), "passwd", str(path), USER]
        stdin: bytes | None = f"{PASSWORD}\n".encode()
    else:
        tool = shutil.which("mosquitto_passwd")
        if tool is None:
            pytest.skip("needs MQLITE_BIN or mosquitto_passwd to write the password file")
        cmd, stdin = [tool, "-c", "-b", str(path), USER, PASSWORD], None
    result = subprocess.run(cmd, input=stdin, capture_output=True, timeout=WAIT_S, check=False)
    assert result.returncode == 0, f"{cmd}: {result.stderr!r}"
    assert path.read_text().startswith(f"{USER}:$7$"), path.read_text()


@dataclass
class AuthBroker(Broker):
    """The broker under test with a password file; over TLS when ``cafile`` is set."""

    cafile: str | None = None


def make_pki(d: Path) -> None:
    """``ca.crt`` and ``server.crt`` / ``server.key`` for localhost and 127.0.0.1."""
    d.mkdir()
    new_ca(d, "ca", "/CN=mqlite test CA")
    san = "subjectAltName=DNS:localhost,IP:127.0.0.1"
    new_key_and_csr(d, "server", "/CN=localhost", san, "extendedKeyUsage=serverAuth")
    sign(d, "server", "ca")


def config_text(kind: str, port: int, passwd: Path, pki: Path | None) -> str:
    if kind == "mqlite":
        text = f'listen = []\npassword_file = "{passwd}"\n[[listener]]\naddress = "{HOST}:{port}"\n'
        if pki is not None:
            text += f'certfile = "{pki / "server.crt"}"\nkeyfile = "{pki / "server.key"}"\n'
        return text
    # `user root`: run as root, Mosquitto would switch to its own user before reading the
    # files, which live in pytest's private temporary folder.
    text = (
        "user root\npersistence false\nlog_dest stderr\nlog_type all\n"
        f"password_file {passwd}\nallow_anonymous false\nlistener {port} {HOST}\n"
    )
    if pki is not None:
        text += f"certfile {pki / 'server.crt'}\nkeyfile {pki / 'server.key'}\n"
    return text


@pytest.fixture(
    params=[
        "tcp",
        pytest.param(
            "tls", marks=pytest.mark.skipif(shutil.which(OPENSSL) is None, reason="needs openssl")
        ),
    ]
)
def auth_broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AuthBroker]:
    """The broker under test, fresh for this test, with a password file; plain TCP or TLS."""
    kind = broker_kind_under_test()
    workdir = tmp_path / "broker"
    workdir.mkdir()
    passwd = workdir / "passwd"
    write_password_file(passwd)
    pki = None
    if request.param == "tls":
        pki = tmp_path / "pki"
        make_pki(pki)
    port = free_port()
    process, log_path = spawn_configured(kind, workdir, config_text(kind, port, passwd, pki))
    cafile = str(pki / "ca.crt") if pki is not None else None
    broker = AuthBroker(kind, "under test", HOST, port, log_path, process, cafile)
    if not wait_until_listening(process, port):
        code = broker.stop()
        pytest.fail(f"{kind} did not listen (exit {code})\n{broker.log_tail()}", pytrace=False)
    yield broker
    finish(broker)


def expected_refusal(broker: AuthBroker, version: str, username: str | None) -> int:
    """The CONNACK code paho reports for refused credentials (docs/security.md)."""
    if username is None or version == "3.1.1":
        return NOT_AUTHORIZED
    # A documented difference: Mosquitto answers bad credentials on 5.0 with 0x87 as well.
    return NOT_AUTHORIZED if broker.is_mosquitto else BAD_USER_NAME_OR_PASSWORD


def mosquitto_pub(
    broker: AuthBroker, version: str, credentials: str
) -> subprocess.CompletedProcess[bytes]:
    username, password = CREDENTIALS[credentials]
    args = ["-h", HOST, "-p", str(broker.port), "-V", VERSION_FLAG[version]]
    args += ["-i", unique_client_id("a"), "-q", "1", "-t", "auth/test", "-m", "hello"]
    if broker.cafile is not None:
        args += ["--cafile", broker.cafile]
    if username is not None:
        args += ["-u", username]
    if password is not None:
        args += ["-P", password]
    return subprocess.run([PUB, *args], capture_output=True, timeout=WAIT_S, check=False)


@pytest.mark.parametrize("version", ["3.1.1", "5.0"])
def test_mosquitto_pub_logs_in_with_the_right_password(
    auth_broker: AuthBroker, version: str
) -> None:
    result = mosquitto_pub(auth_broker, version, "right")
    assert result.returncode == 0, f"mosquitto_pub: {result.stderr!r}"


@pytest.mark.parametrize("credentials", REFUSED)
@pytest.mark.parametrize("version", ["3.1.1", "5.0"])
def test_mosquitto_pub_is_refused_without_the_right_password(
    auth_broker: AuthBroker, version: str, credentials: str
) -> None:
    result = mosquitto_pub(auth_broker, version, credentials)
    error = result.stderr.decode(errors="replace")
    assert result.returncode != 0, f"mosquitto_pub was let in with {credentials}"
    expected = expected_refusal(auth_broker, version, CREDENTIALS[credentials][0])
    # How mosquitto_pub (Mosquitto 2) prints the CONNACK's return or reason code.
    if version == "3.1.1":
        message = "Connection Refused: not authorised"
    else:
        message = REASON_TEXT[expected]
    assert message.lower() in error.lower(), error


def connack_code(broker: AuthBroker, version: str, credentials: str) -> int:
    """Connects a paho client with ``credentials``; returns the CONNACK's reason code."""
    client = PahoClient(broker.host, broker.port, version)
    # PahoClient has no options for these; they go to the paho client inside it.
    if broker.cafile is not None:
        client._paho.tls_set(ca_certs=broker.cafile)
    username, password = CREDENTIALS[credentials]
    if username is not None:
        client._paho.username_pw_set(username, password)
    try:
        client.connect()
    except AssertionError:
        # connect() asserts success; a refusal leaves its CONNACK behind.
        if client._connack is None:
            raise
    finally:
        client.close()
    assert client._connack is not None
    return client._connack.reason_code


@pytest.mark.parametrize("version", ["3.1.1", "5.0"])
def test_paho_logs_in_only_with_the_right_password(auth_broker: AuthBroker, version: str) -> None:
    """A refused CONNECT is answered with a CONNACK that says why: 0x86 "bad user name or
    password" (5.0, mqlite) or 0x87 "not authorized", and 5 on 3.1.1 (docs/security.md)."""
    assert connack_code(auth_broker, version, "right") == SUCCESS
    for credentials in REFUSED:
        username = CREDENTIALS[credentials][0]
        expected = expected_refusal(auth_broker, version, username)
        assert connack_code(auth_broker, version, credentials) == expected, credentials
