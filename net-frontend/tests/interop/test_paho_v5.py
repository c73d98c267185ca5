"""paho-mqtt 5.0 clients: properties, subscription identifiers, no-local and reason codes.

Statement ids cite MQTT 5.0.
"""

from __future__ import annotations

import time

from conftest import Broker, Clients
from paho_client import publish_properties

SUCCESS = 0x00
NO_MATCHING_SUBSCRIBERS = 0x10
NO_SUBSCRIPTION_EXISTED = 0x11


def test_publish_properties_round_trip(broker: Broker, clients: Clients) -> None:
    """User properties arrive unaltered and in order [MQTT-3.3.2-17] [MQTT-3.3.2-18], as do the
    Payload Format Indicator [MQTT-3.3.2-4], Response Topic [MQTT-3.3.2-15], Correlation Data
    [MQTT-3.3.2-16] and Content Type [MQTT-3.3.2-20]; the Message Expiry Interval is the sent
    value less the time the message waited [MQTT-3.3.2-6]."""
    sub = clients(broker)
    sub.subscribe("props/t", 1)
    pub = clients(broker)
    sent = {
        "UserProperty": [("b", "1"), ("a", "2"), ("b", "3"), ("ünï", "cödé")],
        "PayloadFormatIndicator": 1,
        "ContentType": "application/json",
        "ResponseTopic": "props/reply",
        "CorrelationData": b"\x00\x01corr\xff",
        "MessageExpiryInterval": 120,
    }
    pub.publish("props/t", '{"x": 1}', 1, properties=publish_properties(**sent))
    [msg] = sub.wait_for(1)
    assert msg.record() == ("props/t", '{"x": 1}', 1, False)
    got = dict(msg.properties)
    expiry = got.pop("MessageExpiryInterval")
    assert 0 < expiry <= 120
    assert got == {k: v for k, v in sent.items() if k != "MessageExpiryInterval"}


def test_retained_message_expiry_counts_down(broker: Broker, clients: Clients) -> None:
    """A retained message keeps its properties; its Message Expiry Interval is lowered by the
    time it was stored [MQTT-3.3.2-6], and once it has expired it is no longer sent
    [MQTT-3.3.2-5]."""
    pub = clients(broker)
    props = publish_properties(MessageExpiryInterval=2, UserProperty=[("k", "v")])
    pub.publish("exp/t", "soon gone", 1, retain=True, properties=props)
    pub.publish("exp/keep", "kept", 1, retain=True)
    stored_at = time.monotonic()

    first = clients(broker)
    first.subscribe("exp/t", 1)
    [msg] = first.wait_for(1)
    assert msg.record() == ("exp/t", "soon gone", 1, True)
    assert msg.properties["UserProperty"] == [("k", "v")]
    assert 0 < msg.properties["MessageExpiryInterval"] <= 2

    # Wait out the 2 s interval (plus rounding to whole seconds) by the clock, not for an event.
    time.sleep(max(0.0, stored_at + 3.1 - time.monotonic()))
    later = clients(broker)
    later.subscribe("exp/#", 1)
    [kept] = later.wait_for(1)
    assert kept.record() == ("exp/keep", "kept", 1, True)
    assert len(later.settle(0.3)) == 1, "the expired retained message is not sent"


def test_subscription_identifiers(broker: Broker, clients: Clients) -> None:
    """A delivered message carries the Subscription Identifier of the subscription it matched
    [MQTT-3.3.4-3]; with overlapping subscriptions a single copy carries all of them
    [MQTT-3.3.4-4] and separate copies carry one each [MQTT-3.3.4-5]; a subscription made
    without one adds none."""
    sub = clients(broker)
    sub.subscribe("sid/a/+", 1, subscription_identifier=7)
    sub.subscribe("sid/+/x", 2, subscription_identifier=268_435_455)  # the largest allowed
    sub.subscribe("sid/b/x", 1)
    pub = clients(broker)

    pub.publish("sid/a/x", "a and x", 1)
    pub.publish("sid/b/x", "x and plain", 1)
    # The fence matches only `sid/a/+`, so it follows every copy of the messages before it.
    pub.publish("sid/a/fence", "fence", 1)
    got = sub.wait_until(lambda ms: any(m.payload == b"fence" for m in ms), "the fence")
    ids: dict[bytes, list[list[int]]] = {}
    for m in got:
        ids.setdefault(m.payload, []).append(sorted(m.properties.get("SubscriptionIdentifier", [])))
    assert ids[b"a and x"] in ([[7, 268_435_455]], [[7], [268_435_455]], [[268_435_455], [7]])
    assert sorted(ids[b"x and plain"]) in ([[268_435_455]], [[], [268_435_455]])
    assert ids[b"fence"] == [[7]]


def test_no_local_suppresses_own_messages(broker: Broker, clients: Clients) -> None:
    """With No Local, messages are not forwarded to the connection that published them
    [MQTT-3.8.3-3]; other subscribers and other publishers are unaffected."""
    me = clients(broker)
    me.subscribe("nl/t", 1, no_local=True)
    other = clients(broker)
    other.subscribe("nl/t", 1)

    me.publish("nl/t", "mine", 1)
    assert [m.record() for m in other.wait_for(1)] == [("nl/t", "mine", 1, False)]
    # Same topic and QoS from another client: once it arrives, `mine` would have arrived too
    # if it were going to; the order of two publishers is not fixed, so also settle a moment.
    other.publish("nl/t", "theirs", 1)
    me.wait_for(1)
    assert [m.record() for m in me.settle(0.3)] == [("nl/t", "theirs", 1, False)]


def test_reason_codes(broker: Broker, clients: Clients) -> None:
    """SUBACK has one reason code per filter, in order, showing the granted QoS [MQTT-3.8.4-6]
    [MQTT-3.8.4-7] [MQTT-3.9.3-1]; UNSUBACK has one per filter, in order, 0x11 where no
    subscription existed [MQTT-3.11.3-1]; PUBACK and PUBCOMP report success, or 0x10 where
    the server knows there is no subscriber (section 3.4.2.1)."""
    client = clients(broker)
    assert client.subscribe([("rc/a", 2), ("rc/b", 0), ("rc/c", 1)]) == [2, 0, 1]
    assert client.unsubscribe("rc/c", "rc/none", "rc/a") == [
        SUCCESS,
        NO_SUBSCRIPTION_EXISTED,
        SUCCESS,
    ]
    delivered = client.publish("rc/b", "to a subscriber", 1)
    assert client.puback_code(delivered) == SUCCESS
    unheard = client.publish("rc/nobody", "to nobody", 2)
    assert client.puback_code(unheard) in (SUCCESS, NO_MATCHING_SUBSCRIBERS)
    assert [m.record() for m in client.wait_for(1)] == [("rc/b", "to a subscriber", 0, False)]
