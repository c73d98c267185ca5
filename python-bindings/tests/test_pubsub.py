"""Publish, subscribe and receive: the semantics of core's topics/qos/retained tests."""

from __future__ import annotations

import pytest

import mqlite


def test_wildcard_subscription_receives_matching_publish(broker: mqlite.Broker) -> None:
    dash = broker.connect("dash")
    assert dash.subscribe("sensors/+/temperature", qos=1) == 1
    sensor = broker.connect("sensor")
    sensor.publish("sensors/42/temperature", b"21.5", qos=1)
    sensor.publish("sensors/42/humidity", b"40", qos=1)
    msg = dash.recv(timeout=1.0)
    assert (msg.topic, msg.payload, msg.qos, msg.retain, msg.dup) == (
        "sensors/42/temperature",
        b"21.5",
        1,
        False,
        False,
    )
    assert msg.packet_id is not None
    msg.ack()
    assert dash.try_recv() is None


def test_qos_is_min_of_publish_and_granted(broker: mqlite.Broker) -> None:
    """[MQTT-3.8.4-8]"""
    c = broker.connect("c")
    c.subscribe("t", qos=mqlite.QoS.AT_LEAST_ONCE)
    c.publish("t", b"x", qos=2)
    c.publish("t", b"y", qos=0)
    assert [m.qos for m in c.recv_many(10, timeout=1.0)] == [1, 0]


def test_hash_wildcard_skips_dollar_topics(broker: mqlite.Broker) -> None:
    """[MQTT-4.7.2-1]"""
    c = broker.connect("c")
    c.subscribe("#")
    c.publish("$app/x", b"hidden")
    c.publish("app/x", b"seen")
    assert c.recv(timeout=1.0).topic == "app/x"
    assert c.try_recv() is None


def test_retained_message_sent_at_subscribe_with_retain_flag(broker: mqlite.Broker) -> None:
    """[MQTT-3.3.1-6]"""
    pub = broker.connect("pub")
    pub.publish("state/door", b"open", qos=1, retain=True)
    sub = broker.connect("sub")
    sub.subscribe("state/#", qos=1)
    msg = sub.recv(timeout=1.0)
    assert (msg.topic, msg.payload, msg.retain) == ("state/door", b"open", True)


def test_empty_retained_payload_clears_it(broker: mqlite.Broker) -> None:
    pub = broker.connect("pub")
    pub.publish("state/door", b"open", retain=True)
    pub.publish("state/door", b"", retain=True)
    sub = broker.connect("sub")
    sub.subscribe("state/#")
    assert sub.try_recv() is None


def test_unacked_qos1_redelivered_with_dup_after_resume(broker: mqlite.Broker) -> None:
    """[MQTT-3.3.1-1]: an unacknowledged message comes again, with dup set."""
    c = broker.connect("c", clean_start=False, session_expiry=None)
    assert not c.session_present
    c.subscribe("t", qos=1)
    c.publish("t", b"once", qos=1)
    assert c.recv(timeout=1.0).payload == b"once"
    c.disconnect()
    again = broker.connect("c", clean_start=False, session_expiry=None)
    assert again.session_present
    msg = again.recv(timeout=1.0)
    assert (msg.payload, msg.dup) == (b"once", True)
    msg.ack()
    again.disconnect()
    third = broker.connect("c", clean_start=False, session_expiry=None)
    assert third.try_recv() is None


def test_unsubscribe_stops_delivery(broker: mqlite.Broker) -> None:
    c = broker.connect("c")
    c.subscribe("t")
    assert c.unsubscribe("t") is True
    assert c.unsubscribe("t") is False
    c.publish("t", b"x")
    assert c.try_recv() is None


def test_no_local_skips_own_publications(broker: mqlite.Broker) -> None:
    """MQTT 5.0 [MQTT-3.8.3-3]"""
    c = broker.connect("c")
    c.subscribe("t", no_local=True)
    c.publish("t", b"mine")
    broker.connect("other").publish("t", b"theirs")
    assert c.recv(timeout=1.0).payload == b"theirs"


def test_payload_accepts_bytes_like_and_str(broker: mqlite.Broker) -> None:
    c = broker.connect("c")
    c.subscribe("t")
    for payload in (b"ab", bytearray(b"ab"), memoryview(b"ab"), "ab"):
        c.publish("t", payload)
        assert c.recv(timeout=1.0).payload == b"ab"


def test_properties_round_trip(broker: mqlite.Broker) -> None:
    c = broker.connect("c")
    c.subscribe("req")
    props = mqlite.Properties(
        user_properties=[("unit", "m"), ("unit", "s")],
        message_expiry_interval=60,
        response_topic="replies/1",
        correlation_data=b"id-1",
        content_type="text/plain",
        payload_format_indicator=True,
    )
    c.publish("req", b"x", properties=props)
    msg = c.recv(timeout=1.0)
    got = msg.properties
    assert got is not None
    assert got == props
    assert got.user_properties == [("unit", "m"), ("unit", "s")]
    assert got.correlation_data == b"id-1"
    assert got.response_topic == "replies/1"
    assert got.content_type == "text/plain"
    assert msg.message_expiry_interval is not None
    assert 0 < msg.message_expiry_interval <= 60
    assert "replies/1" in repr(got)


def test_message_without_properties_has_none(broker: mqlite.Broker) -> None:
    c = broker.connect("c")
    c.subscribe("t")
    c.publish("t", b"x")
    assert c.recv(timeout=1.0).properties is None


def test_subscription_ids_are_reported(broker: mqlite.Broker) -> None:
    c = broker.connect("c")
    c.subscribe("t/#", subscription_id=7)
    c.publish("t/1", b"x")
    assert c.recv(timeout=1.0).subscription_ids == [7]


def test_recv_timeout_raises_timeout(broker: mqlite.Broker) -> None:
    c = broker.connect("c")
    with pytest.raises(mqlite.Timeout):
        c.recv(timeout=0.05)
    with pytest.raises(TimeoutError):
        c.recv(timeout=0)


def test_recv_many_batches_in_order(broker: mqlite.Broker) -> None:
    c = broker.connect("c")
    c.subscribe("t")
    for i in range(10):
        c.publish("t", str(i))
    batch = c.recv_many(4, timeout=1.0)
    assert [m.payload for m in batch] == [b"0", b"1", b"2", b"3"]
    assert len(c.recv_many(100, timeout=1.0)) == 6
    assert c.recv_many(100, timeout=0.01) == []
    assert c.recv_many(0) == []


def test_messages_iterator_ends_on_timeout(broker: mqlite.Broker) -> None:
    c = broker.connect("c")
    c.subscribe("t")
    for i in range(3):
        c.publish("t", str(i))
    assert [m.payload for m in c.messages(timeout=0.05)] == [b"0", b"1", b"2"]


def test_auto_ack_needs_no_ack(broker: mqlite.Broker) -> None:
    c = broker.connect("c", auto_ack=True, receive_maximum=1)
    c.subscribe("t", qos=1)
    c.publish("t", b"1", qos=1)
    c.publish("t", b"2", qos=1)
    # Acknowledged on receipt, so the one-message window never fills.
    assert [m.payload for m in c.recv_many(2, timeout=1.0)] == [b"1", b"2"]


def test_inflight_window_holds_until_ack(broker: mqlite.Broker) -> None:
    c = broker.connect("c", receive_maximum=1)
    c.subscribe("t", qos=1)
    c.publish("t", b"1", qos=1)
    c.publish("t", b"2", qos=1)
    first = c.recv(timeout=1.0)
    assert c.try_recv() is None
    first.ack()
    assert c.recv(timeout=1.0).payload == b"2"


def test_stats_count_messages(broker: mqlite.Broker) -> None:
    c = broker.connect("c")
    c.subscribe("t")
    c.publish("t", b"x")
    assert c.stats()["queued"] == 1
    c.recv(timeout=1.0)
    assert broker.stats()["clients_connected"] == 1
    assert broker.stats()["messages_received"] >= 1


def test_empty_client_id_gets_one_assigned(broker: mqlite.Broker) -> None:
    c = broker.connect("")
    assert c.client_id != ""
    assert c.client_id in repr(c)


def test_publish_many_publishes_in_order(broker: mqlite.Broker) -> None:
    c = broker.connect("c")
    c.subscribe("t/#", qos=1)
    c.publish_many(((f"t/{i}", str(i)) for i in range(5)), qos=1)
    assert [m.payload for m in c.recv_many(10, timeout=1.0)] == [b"0", b"1", b"2", b"3", b"4"]


def test_publish_many_to_one_topic(broker: mqlite.Broker) -> None:
    c = broker.connect("c")
    c.subscribe("t", qos=1)
    props = mqlite.Properties(content_type="text/plain")
    c.publish_many([b"a", "b", bytearray(b"c")], topic="t", qos=1, retain=True, properties=props)
    got = c.recv_many(10, timeout=1.0)
    assert [(m.payload, m.qos, m.properties) for m in got] == [
        (b"a", 1, props),
        (b"b", 1, props),
        (b"c", 1, props),
    ]
    late = broker.connect("late")
    late.subscribe("t")
    assert late.recv(timeout=1.0).payload == b"c"  # the last one stayed retained


def test_publish_many_checks_every_item_before_publishing(broker: mqlite.Broker) -> None:
    c = broker.connect("c")
    c.subscribe("#")
    with pytest.raises(mqlite.InvalidTopic):
        c.publish_many([("t/ok", b"x"), ("t/+", b"x")])
    with pytest.raises(mqlite.InvalidTopic):
        c.publish_many([b"x"], topic="t/#")
    with pytest.raises(TypeError, match="pair"):
        c.publish_many([("t", b"x"), ("t", b"x", 1)])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="pair"):
        c.publish_many([42])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="payload"):
        c.publish_many([("t", b"x")], topic="t")  # type: ignore[list-item]
    with pytest.raises(TypeError):
        c.publish_many(42)  # type: ignore[call-overload]
    assert c.try_recv() is None


def test_publish_many_stops_at_a_full_queue(broker: mqlite.Broker) -> None:
    sub = broker.connect("sub", max_queued_messages=2)
    sub.subscribe("t")
    pub = broker.connect("pub")
    with pytest.raises(mqlite.QueueFull):
        pub.publish_many([b"1", b"2", b"3", b"4"], topic="t", fail_if_full=True)
    assert [m.payload for m in sub.recv_many(10, timeout=1.0)] == [b"1", b"2"]
    with pytest.raises(mqlite.QueueFull):
        pub.publish_many([b"5"] * 3, topic="t", wait_if_full=0.01, fail_if_full=True)
