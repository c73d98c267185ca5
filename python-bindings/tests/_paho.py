"""A paho-mqtt client for the network tests: its own network thread, received messages in a
queue, and every wait bounded by ``WAIT`` seconds. Import it after
``pytest.importorskip("paho.mqtt")``."""

from __future__ import annotations

import queue
import socket
import threading
from typing import Any, final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

WAIT = 5.0
"""The longest any step waits: far above what it takes, far below the test timeout."""

V311 = MQTTProtocolVersion.MQTTv311
V5 = MQTTProtocolVersion.MQTTv5


def publish_properties(**values: Any) -> Properties:
    """MQTT 5 PUBLISH properties, by paho's names (``UserProperty=[("k", "v")]``...)."""
    props: Any = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    for name, value in values.items():
        setattr(props, name, value)
    return props  # type: ignore[no-any-return]


def read_property(msg: mqtt.MQTTMessage, name: str) -> Any:
    """A property of a received 5.0 message by paho's name, or ``None``."""
    return getattr(msg.properties, name, None)


@final
class Device:
    """A paho-mqtt client connected to ``address`` (VERSION2 callbacks). Use it in a
    ``with`` block: leaving it disconnects cleanly unless ``kill()`` was called."""

    def __init__(
        self,
        address: tuple[str, int],
        client_id: str,
        *,
        protocol: MQTTProtocolVersion = V311,
        will: tuple[str, bytes, int, bool] | None = None,
    ) -> None:
        """Connects and waits for an accepting CONNACK; ``will`` is (topic, payload, qos,
        retain)."""
        self.protocol = protocol
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.connect_reason: ReasonCode | None = None
        self.disconnect_reason: ReasonCode | None = None
        self.disconnect_from_server = False
        self._subacks: dict[int, list[ReasonCode]] = {}
        self._subacked = threading.Condition()
        self._killed = False
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=protocol,
            # A test sees the server close; it must not connect again behind its back.
            reconnect_on_failure=False,
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        if will is not None:
            topic, payload, qos, retain = will
            self.client.will_set(topic, payload, qos=qos, retain=retain)
        self.client.connect(address[0], address[1], keepalive=60)
        self.client.loop_start()
        assert self.connected.wait(WAIT), f"{client_id}: no CONNACK within {WAIT} s"
        assert self.connect_reason is not None
        assert not self.connect_reason.is_failure, f"refused: {self.connect_reason}"

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self.connect_reason = reason
        self.connected.set()

    def _on_disconnect(
        self, _c: mqtt.Client, _u: Any, flags: mqtt.DisconnectFlags, reason: ReasonCode, _p: Any
    ) -> None:
        self.disconnect_reason = reason
        self.disconnect_from_server = flags.is_disconnect_packet_from_server
        self.disconnected.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.messages.put(msg)

    def _on_subscribe(
        self, _c: mqtt.Client, _u: Any, mid: int, codes: list[ReasonCode], _p: Any
    ) -> None:
        with self._subacked:
            self._subacks[mid] = codes
            self._subacked.notify_all()

    def subscribe(self, topic_filter: str, qos: int = 0) -> int:
        """Subscribes and waits for the SUBACK; returns the granted QoS."""
        result, mid = self.client.subscribe(topic_filter, qos)
        assert result == mqtt.MQTT_ERR_SUCCESS and mid is not None
        with self._subacked:
            assert self._subacked.wait_for(lambda: mid in self._subacks, WAIT), "no SUBACK"
            (code,) = self._subacks.pop(mid)
        assert not code.is_failure, f"subscription refused: {code}"
        return code.value

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
    ) -> None:
        """Publishes and waits until the protocol exchange completed (written for QoS 0,
        PUBACK for 1, PUBCOMP for 2)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(WAIT)
        assert info.is_published(), f"publish to {topic} not completed within {WAIT} s"

    def recv(self, timeout: float = WAIT) -> mqtt.MQTTMessage:
        """The next message received; raises ``queue.Empty`` after ``timeout`` seconds."""
        return self.messages.get(timeout=timeout)

    def kill(self) -> None:
        """Closes the socket without a DISCONNECT, as a device losing power does: the broker
        must publish the will."""
        self._killed = True
        sock = self.client.socket()
        assert isinstance(sock, socket.socket)
        # Both ways: our FIN reaches the broker at once, and the network thread wakes up at
        # EOF, closes the socket itself without writing anything and ends.
        sock.shutdown(socket.SHUT_RDWR)
        self.client.loop_stop()

    def close(self) -> None:
        """Disconnects cleanly (unless killed) and stops the network thread."""
        if not self._killed:
            if self.client.is_connected():
                self.client.disconnect()
            self.client.loop_stop()

    def __enter__(self) -> Device:
        """Returns the device itself."""
        return self

    def __exit__(self, *_exc: object) -> None:
        """Disconnects (see ``close()``)."""
        self.close()
