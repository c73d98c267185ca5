"""A blocking test client over paho-mqtt 2.1 (callback API version 2).

Every call that waits for the broker (CONNACK, SUBACK, UNSUBACK, PUBACK/PUBCOMP, messages) has a
deadline and raises ``AssertionError`` with what it saw when the deadline passes.
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

WAIT_S = 10.0
"""How long any positive wait lasts before the test fails."""
SETTLE_S = 0.5
"""How long a negative check waits for a message that must not come."""

PROTOCOLS = {"3.1": mqtt.MQTTv31, "3.1.1": mqtt.MQTTv311, "5.0": mqtt.MQTTv5}
ALL_VERSIONS = ("3.1", "3.1.1", "5.0")

# The 5.0 PUBLISH properties a subscriber can see, by paho's attribute name.
PUBLISH_PROPERTIES = (
    "PayloadFormatIndicator",
    "MessageExpiryInterval",
    "ContentType",
    "ResponseTopic",
    "CorrelationData",
    "SubscriptionIdentifier",
    "UserProperty",
)

_ids = itertools.count()


def unique_client_id(prefix: str = "c") -> str:
    """A client id of at most 23 characters from [0-9a-zA-Z], valid in 3.1 [MQTT-3.1.3-5]."""
    return f"{prefix}{os.getpid() % 100000}n{next(_ids)}"[:23]


@dataclass(frozen=True)
class Received:
    """One application message as a subscriber got it."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: dict[str, Any] = field(default_factory=dict, compare=False)

    def record(self) -> tuple[str, str, int, bool]:
        """``(topic, payload, qos, retain)`` with the payload decoded for readable diffs."""
        return (self.topic, self.payload.decode(errors="backslashreplace"), self.qos, self.retain)


@dataclass(frozen=True)
class Connack:
    session_present: bool
    reason_code: int
    properties: dict[str, Any]


def poll_until(ready: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """Polls a condition that spans several clients until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() >= deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.01)


def publish_properties(**values: Any) -> Properties:
    """A PUBLISH property set from paho attribute names (``UserProperty=[("k", "v")]``, ...)."""
    props = Properties(PacketTypes.PUBLISH)
    for name, value in values.items():
        setattr(props, name, value)
    return props


def _properties_dict(
    props: Properties | None, names: Sequence[str] | None = None
) -> dict[str, Any]:
    if props is None:
        return {}
    if names is None:
        names = [n.replace(" ", "") for n in props.names]
    return {name: getattr(props, name) for name in names if hasattr(props, name)}


class PahoClient:
    """One MQTT connection driven by paho's network thread.

    ``clean`` is CleanSession (3.x) or Clean Start (5.0); ``session_expiry`` sets the 5.0
    Session Expiry Interval in CONNECT; ``will`` is ``(topic, payload, qos, retain)``.
    Automatic reconnection is off: a test reconnects by opening a new client with the same id.
    """

    def __init__(
        self,
        host: str,
        port: int,
        protocol: str = "5.0",
        *,
        client_id: str | None = None,
        clean: bool = True,
        session_expiry: int | None = None,
        will: tuple[str, bytes, int, bool] | None = None,
        will_properties: Properties | None = None,
    ) -> None:
        self.host, self.port, self.protocol = host, port, protocol
        self.is_v5 = protocol == "5.0"
        self.client_id = client_id or unique_client_id()
        self.clean = clean
        self.session_expiry = session_expiry
        self.messages: list[Received] = []
        self._cond = threading.Condition()
        self._acks: dict[int, tuple[list[int], dict[str, Any]]] = {}
        self._puback_codes: dict[int, int] = {}
        self._connack: Connack | None = None
        self._disconnected = False
        self._started = False
        self._paho = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=None if self.is_v5 else clean,
            protocol=PROTOCOLS[protocol],
            reconnect_on_failure=False,
        )
        if will is not None:
            topic, payload, qos, retain = will
            self._paho.will_set(topic, payload, qos, retain, properties=will_properties)
        self._paho.on_connect = self._on_connect
        self._paho.on_message = self._on_message
        self._paho.on_subscribe = self._on_ack
        self._paho.on_unsubscribe = self._on_ack
        self._paho.on_publish = self._on_publish
        self._paho.on_disconnect = self._on_disconnect

    # paho callbacks, called on its network thread

    def _on_connect(self, _c: Any, _u: Any, flags: Any, rc: Any, props: Any) -> None:
        with self._cond:
            self._connack = Connack(bool(flags.session_present), rc.value, _properties_dict(props))
            self._cond.notify_all()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        props = _properties_dict(getattr(msg, "properties", None), PUBLISH_PROPERTIES)
        received = Received(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain), props)
        with self._cond:
            self.messages.append(received)
            self._cond.notify_all()

    def _on_ack(self, _c: Any, _u: Any, mid: int, codes: Any, props: Any) -> None:
        # SUBACK and UNSUBACK: 3.x UNSUBACK has no codes, and paho passes an empty list.
        values = [c.value for c in codes] if isinstance(codes, list) else [codes.value]
        with self._cond:
            self._acks[mid] = (values, _properties_dict(props))
            self._cond.notify_all()

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: Any, _props: Any) -> None:
        with self._cond:
            self._puback_codes[mid] = rc.value
            self._cond.notify_all()

    def _on_disconnect(self, _c: Any, _u: Any, _flags: Any, _rc: Any, _props: Any) -> None:
        with self._cond:
            self._disconnected = True
            self._cond.notify_all()

    # waiting

    def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not ready():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{self.client_id} ({self.protocol}): no {what} within {timeout} s; "
                        f"received so far: {[m.record() for m in self.messages]}"
                    )
                self._cond.wait(left)

    @property
    def is_connected(self) -> bool:
        """Connected and not yet closed (by DISCONNECT, `kill` or the broker)."""
        with self._cond:
            return self._started and self._connack is not None and not self._disconnected

    # the operations

    def connect(self, timeout: float = WAIT_S) -> Connack:
        """Sends CONNECT and waits for CONNACK; fails on a refusal."""
        self._connack = None
        self._disconnected = False
        props = None
        if self.is_v5 and self.session_expiry is not None:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.session_expiry
        if self.is_v5:
            self._paho.connect(
                self.host, self.port, keepalive=30, clean_start=self.clean, properties=props
            )
        else:
            self._paho.connect(self.host, self.port, keepalive=30)
        self._paho.loop_start()
        self._started = True
        self._wait(lambda: self._connack is not None or self._disconnected, timeout, "CONNACK")
        assert self._connack is not None, f"{self.client_id}: connection closed before CONNACK"
        assert self._connack.reason_code == 0, f"CONNECT refused: {self._connack}"
        return self._connack

    def subscribe(
        self,
        filters: str | Sequence[tuple[str, int]],
        qos: int = 0,
        *,
        no_local: bool = False,
        retain_as_published: bool = False,
        retain_handling: int = 0,
        subscription_identifier: int | None = None,
        timeout: float = WAIT_S,
    ) -> list[int]:
        """Subscribes and returns the SUBACK return / reason codes, one per filter."""
        pairs = [(filters, qos)] if isinstance(filters, str) else list(filters)
        props = None
        if self.is_v5:
            topics: list[Any] = [
                (f, SubscribeOptions(q, no_local, retain_as_published, retain_handling))
                for f, q in pairs
            ]
            if subscription_identifier is not None:
                props = Properties(PacketTypes.SUBSCRIBE)
                props.SubscriptionIdentifier = subscription_identifier
        else:
            topics = pairs
        rc, mid = self._paho.subscribe(topics, properties=props)
        assert rc == mqtt.MQTT_ERR_SUCCESS and mid is not None, f"subscribe not sent: {rc}"
        self._wait(lambda: mid in self._acks, timeout, f"SUBACK for {pairs}")
        return self._acks[mid][0]

    def unsubscribe(self, *filters: str, timeout: float = WAIT_S) -> list[int]:
        """Unsubscribes and returns the 5.0 UNSUBACK reason codes (empty before 5.0)."""
        rc, mid = self._paho.unsubscribe(list(filters))
        assert rc == mqtt.MQTT_ERR_SUCCESS and mid is not None, f"unsubscribe not sent: {rc}"
        self._wait(lambda: mid in self._acks, timeout, f"UNSUBACK for {filters}")
        return self._acks[mid][0]

    def publish(
        self,
        topic: str,
        payload: bytes | str,
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
        *,
        wait: bool = True,
        timeout: float = WAIT_S,
    ) -> mqtt.MQTTMessageInfo:
        """Publishes; with ``wait``, returns once its flow is done (sent, PUBACK or PUBCOMP)."""
        info = self._paho.publish(topic, payload, qos, retain, properties)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, f"publish to {topic} not queued: {info.rc}"
        if wait:
            self.wait_published(info, timeout)
        return info

    def wait_published(self, info: mqtt.MQTTMessageInfo, timeout: float = WAIT_S) -> None:
        # Our own on_publish record: paho marks the info as published only after the callback.
        self._wait(lambda: info.mid in self._puback_codes, timeout, f"publish of mid {info.mid}")

    def puback_code(self, info: mqtt.MQTTMessageInfo) -> int:
        """The reason code of the PUBACK / PUBREC that completed a 5.0 publish."""
        with self._cond:
            return self._puback_codes[info.mid]

    def wait_for(self, count: int, timeout: float = WAIT_S) -> list[Received]:
        """Waits until at least ``count`` messages have arrived; returns all of them."""
        self._wait(lambda: len(self.messages) >= count, timeout, f"{count} messages")
        with self._cond:
            return list(self.messages)

    def wait_until(
        self, predicate: Callable[[list[Received]], bool], what: str, timeout: float = WAIT_S
    ) -> list[Received]:
        self._wait(lambda: predicate(self.messages), timeout, what)
        with self._cond:
            return list(self.messages)

    def settle(self, seconds: float = SETTLE_S) -> list[Received]:
        """Everything received after letting a short quiet period pass (for negative checks)."""
        time.sleep(seconds)
        with self._cond:
            return list(self.messages)

    def take(self) -> list[Received]:
        """Returns and forgets the messages received so far."""
        with self._cond:
            taken, self.messages = self.messages, []
            return taken

    def disconnect(self, timeout: float = WAIT_S) -> None:
        """Sends DISCONNECT (normal disconnection) and waits for the connection to close."""
        self._paho.disconnect()
        self._wait(lambda: self._disconnected, timeout, "close after DISCONNECT")
        self._stop_loop()

    def kill(self, timeout: float = WAIT_S) -> None:
        """Closes the TCP connection without DISCONNECT, as a crashed client would."""
        sock = self._paho.socket()
        assert isinstance(sock, socket.socket), f"{self.client_id} is not connected over TCP"
        sock.shutdown(socket.SHUT_RDWR)
        self._wait(lambda: self._disconnected, timeout, "close after shutdown")
        self._stop_loop()

    def close(self) -> None:
        """Teardown: disconnects if still connected; never raises or blocks for long."""
        if not self._started:
            return
        try:
            if not self._disconnected:
                self.disconnect(timeout=2.0)
        except (AssertionError, OSError):
            pass
        self._stop_loop()

    def _stop_loop(self) -> None:
        if self._started:
            self._started = False
            self._paho.loop_stop()
            # loop_start opened a socket pair (to wake the network thread) that paho closes only
            # in Client.__del__; close it now, as an unclosed socket warns at garbage collection.
            self._paho._reset_sockets()
