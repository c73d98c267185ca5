"""paho-mqtt clients against the broker under test, over MQTT 3.1, 3.1.1 and 5.0.

Statement ids cite MQTT 3.1.1 unless marked (5.0); where the two numberings differ both are given.
"""

from __future__ import annotations

import pytest

from conftest import Broker, Clients
from paho_client import ALL_VERSIONS, poll_until, unique_client_id

each_version = pytest.mark.parametrize("version", ALL_VERSIONS)


@each_version
def test_connect_is_accepted_without_session(
    broker: Broker, clients: Clients, version: str
) -> None:
    """CONNACK accepts a clean connection and reports no session
    [MQTT-3.2.2-1] / (5.0) [MQTT-3.2.2-2]."""
    client = clients.unconnected(broker, version)
    connack = client.connect()
    assert connack.reason_code == 0
    assert not connack.session_present


@each_version
@pytest.mark.parametrize("sub_qos", [0, 1, 2])
@pytest.mark.parametrize("pub_qos", [0, 1, 2])
def test_delivered_qos_is_min_of_publish_and_granted(
    broker: Broker, clients: Clients, version: str, pub_qos: int, sub_qos: int
) -> None:
    """The QoS of a delivered message is min(publish QoS, granted QoS)
    [MQTT-3.8.4-6] / (5.0) [MQTT-3.8.4-8]; SUBACK shows the granted QoS
    [MQTT-3.8.4-5] / (5.0) [MQTT-3.8.4-7]."""
    sub = clients(broker, version)
    [granted] = sub.subscribe("qos/t", sub_qos)
    assert granted == sub_qos, "a broker with maximum QoS 2 grants what was asked"
    pub = clients(broker, version)
    pub.publish("qos/t", "payload", pub_qos)
    # Same topic and QoS, so it arrives second [MQTT-4.6.0-6]: no duplicate came before it.
    pub.publish("qos/t", "fence", pub_qos)
    expected_qos = min(pub_qos, granted)
    assert [m.record() for m in sub.wait_for(2)] == [
        ("qos/t", "payload", expected_qos, False),
        ("qos/t", "fence", expected_qos, False),
    ]


@each_version
def test_retained_message_lifecycle(broker: Broker, clients: Clients, version: str) -> None:
    """A retained message is stored and replaced [MQTT-3.3.1-5], sent to a new subscriber with
    RETAIN=1 [MQTT-3.3.1-6] [MQTT-3.3.1-8] / (5.0) [MQTT-3.3.1-9], forwarded live with RETAIN=0
    [MQTT-3.3.1-9] / (5.0) [MQTT-3.3.1-12]; an empty retained payload is forwarded and clears it
    [MQTT-3.3.1-10] [MQTT-3.3.1-11] / (5.0) [MQTT-3.3.1-6] [MQTT-3.3.1-7]; RETAIN=0 leaves it
    alone [MQTT-3.3.1-12] / (5.0) [MQTT-3.3.1-8]."""
    pub = clients(broker, version)
    live = clients(broker, version)
    live.subscribe("ret/t", 1)
    pub.publish("ret/t", "first", 1, retain=True)
    pub.publish("ret/t", "second", 1, retain=True)
    pub.publish("ret/t", "not retained", 1, retain=False)
    assert [m.record() for m in live.wait_for(3)] == [
        ("ret/t", "first", 1, False),
        ("ret/t", "second", 1, False),
        ("ret/t", "not retained", 1, False),
    ]

    later = clients(broker, version)
    later.subscribe("ret/+", 2)
    [msg] = later.wait_for(1)
    assert msg.record() == ("ret/t", "second", 1, True)

    pub.publish("ret/t", b"", 1, retain=True)
    assert live.wait_for(4)[3].record() == ("ret/t", "", 1, False)
    assert later.wait_for(2)[1].record() == ("ret/t", "", 1, False)

    after_clear = clients(broker, version)
    after_clear.subscribe("ret/#", 1)
    # The fence is a live message on a topic the new subscriber matches: once it has arrived,
    # a retained message sent at subscribe time would have arrived before it.
    pub.publish("ret/fence", "fence", 1)
    assert [m.record() for m in after_clear.wait_for(1)] == [("ret/fence", "fence", 1, False)]
    assert len(after_clear.settle()) == 1


@each_version
def test_will_is_published_when_the_connection_dies(
    broker: Broker, clients: Clients, version: str
) -> None:
    """A connection closed without DISCONNECT publishes the will [MQTT-3.1.2-8], as a
    non-retained message when Will Retain is 0 [MQTT-3.1.2-16] / (5.0) [MQTT-3.1.2-14]."""
    watcher = clients(broker, version)
    watcher.subscribe("will/#", 2)
    dying = clients(broker, version, will=("will/dying", b"gone", 1, False))
    dying.kill()
    [msg] = watcher.wait_for(1)
    assert msg.record() == ("will/dying", "gone", 1, False)
    assert len(watcher.settle()) == 1, "the will is published once"


@each_version
def test_will_is_discarded_after_disconnect(broker: Broker, clients: Clients, version: str) -> None:
    """DISCONNECT deletes the will without publishing it [MQTT-3.1.2-10] / (5.0) [MQTT-3.14.4-3]."""
    watcher = clients(broker, version)
    watcher.subscribe("will/#", 1)
    leaving = clients(broker, version, will=("will/leaving", b"gone", 1, False))
    leaving.disconnect()
    fence = clients(broker, version)
    fence.publish("will/fence", "fence", 1)
    assert [m.record() for m in watcher.wait_for(1)] == [("will/fence", "fence", 1, False)]
    assert len(watcher.settle()) == 1


@each_version
def test_persistent_session_resumes_with_queued_messages(
    broker: Broker, clients: Clients, version: str
) -> None:
    """With CleanSession=0 (5.0: Clean Start=0 and a Session Expiry Interval) the session outlives
    the connection; QoS 1 messages published meanwhile are queued [MQTT-3.1.2-5] (3.1.1),
    CONNACK says Session Present [MQTT-3.2.2-2] / (5.0) [MQTT-3.2.2-3] and they arrive in
    publish order [MQTT-4.6.0-6] / (5.0) [MQTT-4.6.0-5]. (3.1 has no Session Present flag.)"""
    client_id = unique_client_id("p")
    options = {"client_id": client_id, "clean": False, "session_expiry": 300}
    first = clients.unconnected(broker, version, **options)
    assert not first.connect().session_present, "no session existed before [MQTT-3.2.2-3]"
    first.subscribe("sess/t", 1)
    first.disconnect()

    pub = clients(broker, version)
    payloads = [f"m{i}" for i in range(10)]
    for payload in payloads:
        pub.publish("sess/t", payload, 1)

    again = clients.unconnected(broker, version, **options)
    connack = again.connect()
    if version != "3.1":
        assert connack.session_present
    got = again.wait_for(len(payloads))
    assert [m.record() for m in got] == [("sess/t", p, 1, False) for p in payloads]

    # The subscription is part of the session: it still delivers after the resume.
    pub.publish("sess/t", "live", 1)
    assert again.wait_for(11)[10].record() == ("sess/t", "live", 1, False)


@each_version
def test_clean_session_discards_the_old_session(
    broker: Broker, clients: Clients, version: str
) -> None:
    """Connecting with CleanSession=1 (5.0: Clean Start=1) discards the stored session and its
    subscriptions [MQTT-3.1.2-6] / (5.0) [MQTT-3.1.2-4]."""
    client_id = unique_client_id("p")
    first = clients(broker, version, client_id=client_id, clean=False, session_expiry=300)
    first.subscribe("sess/t", 1)
    first.disconnect()

    clean = clients.unconnected(broker, version, client_id=client_id, clean=True)
    assert not clean.connect().session_present
    pub = clients(broker, version)
    pub.publish("sess/t", "dropped", 1)
    clean.subscribe("sess/fence", 1)
    pub.publish("sess/fence", "fence", 1)
    assert [m.record() for m in clean.wait_for(1)] == [("sess/fence", "fence", 1, False)]
    assert len(clean.settle()) == 1


@pytest.mark.parametrize("version", ["3.1.1", "5.0"])
def test_shared_subscription_delivers_each_message_once(
    broker: Broker, clients: Clients, version: str
) -> None:
    """Each message matching `$share/g/...` goes to exactly one session of the group (5.0
    section 4.8.2, which numbers no statement for it), at the granted QoS [MQTT-4.8.2-3].
    Shared subscriptions are a 5.0 feature that Mosquitto and mqlite also accept from 3.1.1
    clients; 3.1 is not covered."""
    members = [clients(broker, version) for _ in range(2)]
    for member in members:
        assert member.subscribe("$share/g/shared/t", 1) == [1]
    pub = clients(broker, version)
    payloads = [f"s{i}" for i in range(20)]
    for payload in payloads:
        pub.publish("shared/t", payload, 1)
    poll_until(lambda: sum(len(m.messages) for m in members) >= len(payloads), "shared messages")
    got = [msg for member in members for msg in member.settle(0.3)]
    assert sorted(m.payload.decode() for m in got) == sorted(payloads), "each message exactly once"
    assert all((m.topic, m.qos, m.retain) == ("shared/t", 1, False) for m in got)
