"""Differential test of the MQTT 5.0 PUBLISH properties a subscriber receives: forwarded live,
from a resumed session's queue and from the retained store.

As in `test_differential`, the test asserts that both brokers delivered the same records after
the normalisation the spec allows, and that the broker under test delivered what the spec
requires. Statement ids cite MQTT 5.0.
"""

from __future__ import annotations

import time
from typing import Any

from conftest import Broker, Clients
from differential import Record, Records, Run, by_topic, differential
from paho_client import Received, publish_properties

EXPIRY_S = 60
"""The Message Expiry Interval sent."""
WAITED_S = 1.2
"""How long the queued and retained copies wait in the broker: over a second, so the interval
they carry must be below the one sent, whether a broker counts whole seconds or rounds."""
SENT: dict[str, Any] = {
    "UserProperty": [("b", "1"), ("a", "2"), ("b", "3"), ("ünï", "cödé"), ("empty", "")],
    "PayloadFormatIndicator": 1,
    "ContentType": "application/json",
    "ResponseTopic": "pr/reply",
    "CorrelationData": b"\x00\x01corr\xff",
    "MessageExpiryInterval": EXPIRY_S,
}
WAITED = ("queued", "later")
"""The subscribers that get copies which waited `WAITED_S` in the broker."""


def properties(run: Run) -> None:
    keep = {"clean": False, "session_expiry": 300}
    away = run.client("queued", "5.0", **keep)
    away.subscribe("pr/#", 2)
    away.disconnect()
    run.client("live", "5.0").subscribe("pr/#", 2)
    pub = run.client("pub", "5.0")
    pub.publish("pr/all", '{"x": 1}', 1, properties=publish_properties(**SENT))
    pub.publish("pr/kept", '{"x": 2}', 2, retain=True, properties=publish_properties(**SENT))
    pub.publish("pr/zero", "raw", 1, properties=publish_properties(PayloadFormatIndicator=0))
    pub.publish("pr/none", "plain", 1)
    # Let the queued and retained copies age by the clock: the point is the time they wait.
    time.sleep(WAITED_S)
    run.client("queued", "5.0", **keep)
    run.client("later", "5.0").subscribe("pr/#", 1)


def with_properties(message: Received) -> Record:
    """``(topic, payload, qos, retain, properties)``, the properties as sorted pairs."""
    props = tuple(
        sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in message.properties.items())
    )
    return (*message.record(), props)


def expiry_counted_down(records: Records) -> Records:
    """Replaces each Message Expiry Interval by what the spec asks of it, or leaves the value
    to show in the diff: at most the interval sent, and below it for a copy that waited a
    second or more [MQTT-3.3.2-6]. A live copy may show the interval sent or a second less,
    depending on when the broker's clock ticked."""

    def expiry(name: str, value: int) -> int | str:
        if name in WAITED:
            return "counted down" if 0 < value <= EXPIRY_S - 1 else value
        return "at most sent" if 0 < value <= EXPIRY_S else value

    def normalise(name: str, record: Record) -> Record:
        *fields, props = record
        props = tuple((k, expiry(name, v) if k == "MessageExpiryInterval" else v) for k, v in props)
        return (*fields, props)

    return by_topic({name: [normalise(name, r) for r in recs] for name, recs in records.items()})


def test_publish_properties_round_trip(
    broker: Broker, mosquitto_ref: Broker, clients: Clients
) -> None:
    """User Properties arrive unaltered [MQTT-3.3.2-17] and in order, duplicates and an empty
    value included [MQTT-3.3.2-18], as do the Payload Format Indicator (also an explicit 0)
    [MQTT-3.3.2-4], Response Topic [MQTT-3.3.2-15], Correlation Data [MQTT-3.3.2-16] and
    Content Type [MQTT-3.3.2-20]. That holds live, from a resumed session's queue, and from the
    retained store for a new subscription [MQTT-3.3.1-9]. The Message Expiry Interval is the
    one received less the time the message waited in the server [MQTT-3.3.2-6]; a message
    published without properties is forwarded without any (sections 3.3.2.3.2, 3.3.2.3.3)."""
    outcome = differential(
        properties, broker, mosquitto_ref, clients, expiry_counted_down, with_properties
    )
    got = expiry_counted_down(outcome.records)

    def sent(label: str) -> tuple[tuple[str, Any], ...]:
        values = {
            **SENT,
            "MessageExpiryInterval": label,
            "UserProperty": tuple(SENT["UserProperty"]),
        }
        return tuple(sorted(values.items()))

    zero = (("PayloadFormatIndicator", 0),)
    for name, label in (("live", "at most sent"), ("queued", "counted down")):
        assert got[name] == [
            ("pr/all", '{"x": 1}', 1, False, sent(label)),
            ("pr/kept", '{"x": 2}', 2, False, sent(label)),
            ("pr/none", "plain", 1, False, ()),
            ("pr/zero", "raw", 1, False, zero),
        ], name
    assert got["later"] == [("pr/kept", '{"x": 2}', 1, True, sent("counted down"))]
    assert outcome.session_present["queued"] == [False, True]
