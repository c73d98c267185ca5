"""mqlite: an embeddable MQTT broker, in memory or durable.

Threads of one process publish and subscribe through a :class:`Broker` with full MQTT
semantics (wildcards, QoS 0/1/2, retained messages, wills, persistent sessions, MQTT 5
properties); :meth:`Broker.listen` lets network MQTT clients in too;
``Broker(persistence="DIR")`` keeps retained messages and persistent sessions across
restarts::

    import mqlite

    with mqlite.Broker() as broker:
        dash = broker.connect("dashboard")
        dash.subscribe("sensors/+/temperature", qos=1)
        with broker.connect("sensor-42") as sensor:
            sensor.publish("sensors/42/temperature", b"21.5", qos=1)
        msg = dash.recv(timeout=1.0)
        msg.ack()
"""

from __future__ import annotations

from enum import IntEnum

from mqlite._mqlite import (
    Broker,
    BrokerClosed,
    Client,
    ClientDisconnected,
    Config,
    InvalidClientId,
    InvalidTopic,
    LimitExceeded,
    Message,
    MessageIterator,
    MqliteError,
    NotAuthorized,
    NotDurable,
    PayloadTooLarge,
    Properties,
    QueueFull,
    RetainedStoreFull,
    Server,
    SessionEnded,
    SlowConsumer,
    StoreError,
    StoreLocked,
    TakenOver,
    Timeout,
    TooManyClients,
    TooManySubscriptions,
    Will,
)


class QoS(IntEnum):
    """MQTT quality of service levels; any ``qos=`` argument also takes the plain int."""

    AT_MOST_ONCE = 0
    AT_LEAST_ONCE = 1
    EXACTLY_ONCE = 2


__all__ = [
    "Broker",
    "BrokerClosed",
    "Client",
    "ClientDisconnected",
    "Config",
    "InvalidClientId",
    "InvalidTopic",
    "LimitExceeded",
    "Message",
    "MessageIterator",
    "MqliteError",
    "NotAuthorized",
    "NotDurable",
    "PayloadTooLarge",
    "Properties",
    "QoS",
    "QueueFull",
    "RetainedStoreFull",
    "Server",
    "SessionEnded",
    "SlowConsumer",
    "StoreError",
    "StoreLocked",
    "TakenOver",
    "Timeout",
    "TooManyClients",
    "TooManySubscriptions",
    "Will",
]
