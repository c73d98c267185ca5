"""`Broker.listen()` and `Server`: addresses, errors, counters, and how servers stop. The
MQTT traffic here is raw 3.1.1 over a socket; test_paho.py talks to it with a real client."""

from __future__ import annotations

import errno
import gc
import socket

import pytest
from _net import (
    WAIT,
    connect,
    connect_v5,
    is_closed_by_peer,
    publish,
    read_packet,
    read_publish,
    subscribe,
    wait_until,
)

import mqlite


def test_listen_reports_its_ephemeral_loopback_address(broker: mqlite.Broker) -> None:
    with broker.listen() as server:
        assert server.host == "127.0.0.1"
        assert 0 < server.port < 65536
        assert server.address == ("127.0.0.1", server.port)
        assert server.addresses == [server.address]
        assert server.url == f"mqtt://127.0.0.1:{server.port}"
        assert repr(server) == f"Server(url='{server.url}', closed=False)"
        assert not server.is_closed
    assert server.is_closed
    assert repr(server).endswith("closed=True)")


def test_network_publish_reaches_in_process_subscriber(broker: mqlite.Broker) -> None:
    dashboard = broker.connect("dashboard")
    dashboard.subscribe("sensors/#")
    with broker.listen() as server, connect(server.address, "device") as device:
        publish(device, "sensors/1", b"hi")
        msg = dashboard.recv(timeout=WAIT)
        assert (msg.topic, msg.payload) == ("sensors/1", b"hi")


def test_in_process_publish_reaches_network_subscriber(broker: mqlite.Broker) -> None:
    with broker.listen() as server, connect(server.address, "device") as device:
        subscribe(device, "cmd/#")
        broker.connect("controller").publish("cmd/1", b"go")
        assert read_publish(device) == ("cmd/1", b"go")


def test_tuple_address(broker: mqlite.Broker) -> None:
    with broker.listen(("127.0.0.1", 0)) as server:
        connect(server.address, "device").close()


def test_ipv6_address_in_brackets(broker: mqlite.Broker) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    with broker.listen("[::1]:0") as server:
        assert server.host == "::1"
        assert server.url == f"mqtt://[::1]:{server.port}"


def test_address_in_use_raises_oserror_naming_the_address(broker: mqlite.Broker) -> None:
    with broker.listen() as server:
        taken = f"127.0.0.1:{server.port}"
        with pytest.raises(OSError, match=taken) as info:
            broker.listen(taken)
        assert info.value.errno == errno.EADDRINUSE


@pytest.mark.parametrize(
    "address",
    ["nonsense", "127.0.0.1", "127.0.0.1:99999", "127.0.0.1:port", ("127.0.0.1", 70000)],
)
def test_bad_address_raises_value_error(broker: mqlite.Broker, address: object) -> None:
    with pytest.raises(ValueError, match=r"address|port"):
        broker.listen(address)  # type: ignore[arg-type]


@pytest.mark.parametrize("address", [1883, ("127.0.0.1",), (1883, "127.0.0.1"), None, b"x:1"])
def test_address_of_another_type_raises_type_error(broker: mqlite.Broker, address: object) -> None:
    if address is None:
        broker.listen(None).close()  # type: ignore[arg-type]
        return
    with pytest.raises(TypeError, match="host:port"):
        broker.listen(address)  # type: ignore[arg-type]


def test_zero_workers_raises_value_error(broker: mqlite.Broker) -> None:
    with pytest.raises(ValueError, match="workers"):
        broker.listen(workers=0)


def test_close_is_idempotent_and_refuses_new_connections(broker: mqlite.Broker) -> None:
    server = broker.listen(workers=1)
    with connect(server.address, "device") as device:
        server.close()
        server.close()
        assert server.is_closed
        assert is_closed_by_peer(device)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(server.address, timeout=WAIT)
    # The broker and its in-process clients carry on.
    c = broker.connect("c")
    c.subscribe("t")
    c.publish("t", b"still here")
    assert c.recv(timeout=WAIT).payload == b"still here"


def test_close_sends_v5_clients_disconnect_server_shutting_down(
    broker: mqlite.Broker,
) -> None:
    """[MQTT-3.14.2-1]: reason 0x8B, Server shutting down."""
    server = broker.listen()
    with connect_v5(server.address, "device") as device:
        server.close()
        first, body = read_packet(device)
        assert (first, body[:1]) == (0xE0, b"\x8b")
        assert is_closed_by_peer(device)


def test_stats_count_connections_and_freeze_at_close(broker: mqlite.Broker) -> None:
    server = broker.listen()
    with connect(server.address, "device") as device:
        publish(device, "t", b"x")
        stats = server.stats()
        assert stats["connections_accepted"] == 1
        assert stats["clients_connected"] == 1
        wait_until(lambda: server.stats()["packets_received"] == 2, "CONNECT and PUBLISH")
    wait_until(lambda: server.stats()["connections_open"] == 0, "the connection to close")
    assert server.stats()["packets_sent"] == 1  # the CONNACK
    server.close()
    after = server.stats()
    assert (after["connections_accepted"], after["connections_open"]) == (1, 0)
    assert set(after) == {
        "connections_accepted",
        "connections_refused",
        "connections_open",
        "clients_connected",
        "connect_refused",
        "malformed_packets",
        "protocol_errors",
        "connect_timeouts",
        "keepalive_timeouts",
        "slow_consumers",
        "taken_over",
        "oversized_dropped",
        "packets_received",
        "packets_sent",
        "bytes_received",
        "bytes_sent",
        "panics",
        "tls_handshakes",
        "tls_handshake_failures",
        "tls_certificates_refused",
        "connections_refused_per_ip",
        "connections_rate_limited",
        "inbound_message_throttles",
        "inbound_byte_throttles",
        "tracked_addresses",
    }


def test_broker_shutdown_closes_its_servers() -> None:
    broker = mqlite.Broker()
    first, second = broker.listen(), broker.listen()
    with connect(first.address, "device") as device:
        broker.shutdown()
        assert first.is_closed and second.is_closed
        assert is_closed_by_peer(device)
    with pytest.raises(mqlite.BrokerClosed):
        broker.listen()
    first.close()  # still idempotent


def test_server_keeps_its_broker_alive() -> None:
    server = mqlite.Broker().listen()
    gc.collect()
    with server:
        connect(server.address, "device").close()


def test_garbage_collected_broker_closes_its_servers() -> None:
    broker = mqlite.Broker()
    address = broker.listen().address  # the Server object is dropped at once
    connect(address, "device").close()  # the broker keeps it running
    del broker
    gc.collect()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=WAIT)
