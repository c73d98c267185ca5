"""Raw MQTT 3.1.1 over a socket, for the network tests that need no client library, and a
bounded poll for state that only the server's counters show."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

WAIT = 5.0
"""The longest any step waits: far above what it takes, far below the test timeout."""


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Polls ``condition`` every 5 ms until it holds; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.005)


def _string(s: str) -> bytes:
    data = s.encode()
    return len(data).to_bytes(2, "big") + data


def _packet(first_byte: int, body: bytes) -> bytes:
    assert len(body) < 128, "one-byte remaining length only"
    return bytes([first_byte, len(body)]) + body


def connect(address: tuple[str, int], client_id: str) -> socket.socket:
    """Opens a connection, sends a 3.1.1 CONNECT (clean session, keep alive 60) and checks
    the CONNACK accepts it."""
    sock = socket.create_connection(address, timeout=WAIT)
    # Protocol name, level 4, flags: clean session, keep alive 60, client id.
    body = _string("MQTT") + bytes([4, 0x02, 0, 60]) + _string(client_id)
    sock.sendall(_packet(0x10, body))
    assert read_exactly(sock, 4) == bytes([0x20, 2, 0, 0]), "CONNACK: accepted"
    return sock


def connect_v5(address: tuple[str, int], client_id: str) -> socket.socket:
    """As ``connect()``, with a 5.0 CONNECT (no properties)."""
    sock = socket.create_connection(address, timeout=WAIT)
    # Protocol name, level 5, flags: clean start, keep alive 60, properties: none, client id.
    body = _string("MQTT") + bytes([5, 0x02, 0, 60, 0]) + _string(client_id)
    sock.sendall(_packet(0x10, body))
    first, ack = read_packet(sock)
    assert (first, ack[:2]) == (0x20, bytes([0, 0])), "CONNACK: no session, success"
    return sock


def read_packet(sock: socket.socket) -> tuple[int, bytes]:
    """Reads one packet of any length: its first byte and its body."""
    first = read_exactly(sock, 1)[0]
    length, shift = 0, 0
    while True:  # the remaining length, a variable byte integer
        byte = read_exactly(sock, 1)[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            break
    return first, read_exactly(sock, length)


def publish(sock: socket.socket, topic: str, payload: bytes) -> None:
    """Sends a QoS 0 PUBLISH."""
    sock.sendall(_packet(0x30, _string(topic) + payload))


def subscribe(sock: socket.socket, topic_filter: str) -> None:
    """Subscribes at QoS 0 (packet id 1) and checks the SUBACK grants it."""
    sock.sendall(_packet(0x82, (1).to_bytes(2, "big") + _string(topic_filter) + bytes([0])))
    assert read_exactly(sock, 5) == bytes([0x90, 3, 0, 1, 0]), "SUBACK: id 1, QoS 0"


def read_publish(sock: socket.socket) -> tuple[str, bytes]:
    """Reads one QoS 0 PUBLISH; returns its topic and payload."""
    header = read_exactly(sock, 2)
    assert header[0] & 0xF0 == 0x30 and header[1] < 128, f"a short PUBLISH, not {header!r}"
    body = read_exactly(sock, header[1])
    length = int.from_bytes(body[:2], "big")
    return body[2 : 2 + length].decode(), body[2 + length :]


def read_exactly(sock: socket.socket, n: int) -> bytes:
    """``n`` bytes from ``sock``; fails at EOF."""
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"connection closed after {len(data)} of {n} bytes"
        data += chunk
    return data


def is_closed_by_peer(sock: socket.socket) -> bool:
    """Whether the server closed the connection (EOF or reset) within ``WAIT`` seconds."""
    try:
        data = sock.recv(1)
    except ConnectionResetError:
        return True
    except OSError:  # the socket's timeout
        return False
    return data == b""
