"""A real network client, paho-mqtt 2.1 (MQTT 3.1.1 and 5.0), against `Broker.listen()`,
exchanging messages with in-process clients of the same broker: QoS 0/1/2 both ways,
retained messages, MQTT 5 properties, wills, and how the server closes connections.

Each test gets its broker from the `mqlite_broker` fixture of the package's pytest plugin."""

from __future__ import annotations

import pytest

pytest.importorskip("paho.mqtt", reason="needs paho-mqtt: pip install paho-mqtt==2.1.0")

from _net import WAIT, wait_until
from _paho import V5, V311, Device, publish_properties, read_property
from paho.mqtt.enums import MQTTProtocolVersion

import mqlite
from mqlite.testing import RunningBroker

PROTOCOLS = pytest.mark.parametrize("protocol", [V311, V5], ids=["3.1.1", "5.0"])


@PROTOCOLS
def test_paho_publishes_reach_in_process_subscriber_at_each_qos(
    mqlite_broker: RunningBroker, protocol: MQTTProtocolVersion
) -> None:
    dashboard = mqlite_broker.connect("dashboard")
    dashboard.subscribe("sensors/#", qos=2)
    with Device(mqlite_broker.address, "device", protocol=protocol) as device:
        for qos in (0, 1, 2):
            device.publish(f"sensors/{qos}", f"reading {qos}".encode(), qos=qos)
        for qos in (0, 1, 2):
            msg = dashboard.recv(timeout=WAIT)
            assert (msg.topic, msg.payload, msg.qos, msg.retain) == (
                f"sensors/{qos}",
                f"reading {qos}".encode(),
                qos,
                False,
            )
            msg.ack()


@PROTOCOLS
def test_in_process_publishes_reach_paho_subscriber_at_each_qos(
    mqlite_broker: RunningBroker, protocol: MQTTProtocolVersion
) -> None:
    controller = mqlite_broker.connect("controller")
    with Device(mqlite_broker.address, "device", protocol=protocol) as device:
        assert device.subscribe("cmd/#", qos=2) == 2
        for qos in (0, 1, 2):
            controller.publish(f"cmd/{qos}", f"go {qos}".encode(), qos=qos)
        for qos in (0, 1, 2):
            msg = device.recv()
            assert (msg.topic, msg.payload, msg.qos, msg.retain) == (
                f"cmd/{qos}",
                f"go {qos}".encode(),
                qos,
                False,
            )


@PROTOCOLS
def test_retained_messages_cross_both_ways(
    mqlite_broker: RunningBroker, protocol: MQTTProtocolVersion
) -> None:
    """[MQTT-3.3.1-6]: a new subscription gets the retained message, with RETAIN set."""
    mqlite_broker.connect("controller").publish("state/mode", b"auto", qos=1, retain=True)
    with Device(mqlite_broker.address, "device", protocol=protocol) as device:
        device.subscribe("state/#", qos=1)
        msg = device.recv()
        assert (msg.topic, msg.payload, msg.retain) == ("state/mode", b"auto", True)
        device.publish("state/device", b"online", qos=1, retain=True)
    late = mqlite_broker.connect("late")
    late.subscribe("state/#", qos=1)
    got = {(m.topic, m.payload, m.retain) for m in (late.recv(WAIT), late.recv(WAIT))}
    assert got == {("state/mode", b"auto", True), ("state/device", b"online", True)}
    assert late.try_recv() is None


@PROTOCOLS
def test_paho_to_paho_through_the_listener(
    mqlite_broker: RunningBroker, protocol: MQTTProtocolVersion
) -> None:
    with Device(mqlite_broker.address, "sub", protocol=protocol) as sub:
        sub.subscribe("chat/#", qos=1)
        with Device(mqlite_broker.address, "pub", protocol=protocol) as pub:
            pub.publish("chat/1", b"hello", qos=1)
        assert sub.recv().payload == b"hello"


def test_v5_properties_cross_from_paho_to_in_process(mqlite_broker: RunningBroker) -> None:
    responder = mqlite_broker.connect("responder")
    responder.subscribe("requests/#", qos=1)
    props = publish_properties(
        UserProperty=[("trace", "abc"), ("trace", "def")],
        ContentType="application/json",
        ResponseTopic="responses/device",
        CorrelationData=b"\x00\x01req",
    )
    with Device(mqlite_broker.address, "device", protocol=V5) as device:
        device.publish("requests/1", b"{}", qos=1, properties=props)
        msg = recv_acked(responder)
    assert msg.properties is not None
    assert msg.properties.user_properties == [("trace", "abc"), ("trace", "def")]
    assert msg.properties.content_type == "application/json"
    assert msg.properties.response_topic == "responses/device"
    assert msg.properties.correlation_data == b"\x00\x01req"


def test_v5_properties_cross_from_in_process_to_paho(mqlite_broker: RunningBroker) -> None:
    requester = mqlite_broker.connect("requester")
    props = mqlite.Properties(
        user_properties=[("k", "v")],
        content_type="text/plain",
        response_topic="responses/requester",
        correlation_data=b"id-7",
    )
    with Device(mqlite_broker.address, "device", protocol=V5) as device:
        device.subscribe("requests/#", qos=1)
        requester.publish("requests/7", b"ping", qos=1, properties=props)
        msg = device.recv()
    assert msg.payload == b"ping"
    assert read_property(msg, "UserProperty") == [("k", "v")]
    assert read_property(msg, "ContentType") == "text/plain"
    assert read_property(msg, "ResponseTopic") == "responses/requester"
    assert read_property(msg, "CorrelationData") == b"id-7"


@PROTOCOLS
def test_will_published_when_paho_socket_dies(
    mqlite_broker: RunningBroker, protocol: MQTTProtocolVersion
) -> None:
    """[MQTT-3.1.2-8]: a connection closed without DISCONNECT publishes the will."""
    watcher = mqlite_broker.connect("watcher")
    watcher.subscribe("devices/+/status", qos=1)
    will = ("devices/7/status", b"offline", 1, True)
    with Device(mqlite_broker.address, "device-7", protocol=protocol, will=will) as device:
        device.publish("devices/7/status", b"online", qos=1, retain=True)
        assert recv_acked(watcher).payload == b"online"
        device.kill()
        msg = recv_acked(watcher)
    assert (msg.topic, msg.payload) == ("devices/7/status", b"offline")
    late = mqlite_broker.connect("late")
    late.subscribe("devices/#")
    assert late.recv(timeout=WAIT).payload == b"offline"


def test_clean_paho_disconnect_discards_will(mqlite_broker: RunningBroker) -> None:
    """[MQTT-3.1.2-10]"""
    watcher = mqlite_broker.connect("watcher")
    watcher.subscribe("devices/#")
    with Device(mqlite_broker.address, "device", will=("devices/1", b"gone", 0, False)):
        pass
    stats = mqlite_broker.server.stats
    wait_until(lambda: stats()["connections_open"] == 0, "the connection to close")
    assert watcher.try_recv() is None


def test_server_close_sends_v5_clients_a_disconnect(mqlite_broker: RunningBroker) -> None:
    """paho 2.1 reads a DISCONNECT's reason code only when properties follow it, so it
    reports 0x8B as "normal"; test_listen.py checks the 0x8B byte on a raw socket."""
    with Device(mqlite_broker.address, "device", protocol=V5) as device:
        mqlite_broker.server.close()
        assert device.disconnected.wait(WAIT)
        assert device.disconnect_from_server


@PROTOCOLS
def test_broker_shutdown_closes_paho_connections(
    mqlite_broker: RunningBroker, protocol: MQTTProtocolVersion
) -> None:
    with Device(mqlite_broker.address, "device", protocol=protocol) as device:
        mqlite_broker.broker.shutdown()
        assert device.disconnected.wait(WAIT)
    assert mqlite_broker.server.is_closed


def recv_acked(client: mqlite.Client) -> mqlite.Message:
    """The next message of an in-process client, acknowledged."""
    msg = client.recv(timeout=WAIT)
    msg.ack()
    return msg
