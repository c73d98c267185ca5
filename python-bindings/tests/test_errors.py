"""Errors: every core error is an mqlite.MqliteError subclass; bad arguments are
TypeError / ValueError."""

from __future__ import annotations

import pytest

import mqlite


@pytest.mark.parametrize(
    "exc",
    [
        mqlite.InvalidTopic,
        mqlite.InvalidClientId,
        mqlite.NotAuthorized,
        mqlite.LimitExceeded,
        mqlite.PayloadTooLarge,
        mqlite.QueueFull,
        mqlite.RetainedStoreFull,
        mqlite.TooManySubscriptions,
        mqlite.TooManyClients,
        mqlite.SessionEnded,
        mqlite.TakenOver,
        mqlite.BrokerClosed,
        mqlite.SlowConsumer,
        mqlite.ClientDisconnected,
        mqlite.Timeout,
    ],
)
def test_every_exception_derives_from_mqlite_error(exc: type[Exception]) -> None:
    assert issubclass(exc, mqlite.MqliteError)
    assert exc.__module__ == "mqlite"
    assert exc.__doc__


def test_wildcard_in_topic_name_is_invalid_topic(broker: mqlite.Broker) -> None:
    """[MQTT-3.3.2-2]"""
    c = broker.connect("c")
    with pytest.raises(mqlite.InvalidTopic):
        c.publish("a/+", b"x")


def test_hash_not_last_is_invalid_filter(broker: mqlite.Broker) -> None:
    """[MQTT-4.7.1-1]"""
    c = broker.connect("c")
    with pytest.raises(mqlite.InvalidTopic, match="#"):
        c.subscribe("a/#/b")


def test_invalid_will_topic_refuses_connect(broker: mqlite.Broker) -> None:
    with pytest.raises(mqlite.InvalidTopic):
        broker.connect("c", will=mqlite.Will("a/#", b"x"))


def test_payload_over_limit_is_payload_too_large() -> None:
    with mqlite.Broker(config=mqlite.Config(max_payload_size=8)) as broker:
        c = broker.connect("c")
        c.publish("t", b"12345678")
        with pytest.raises(mqlite.PayloadTooLarge, match="max_payload_size"):
            c.publish("t", b"123456789")


def test_full_queue_with_fail_if_full_is_queue_full() -> None:
    with mqlite.Broker(config=mqlite.Config(max_queued_messages=2)) as broker:
        sub = broker.connect("sub")
        sub.subscribe("t", qos=1)
        pub = broker.connect("pub")
        for _ in range(2):
            pub.publish("t", b"x", qos=1, fail_if_full=True)
        with pytest.raises(mqlite.QueueFull):
            pub.publish("t", b"x", qos=1, fail_if_full=True)
        pub.publish("t", b"x", qos=1)  # dropped and counted, not raised
        assert sub.stats()["dropped_queue_full"] >= 1


def test_wait_if_full_gives_up_after_its_timeout() -> None:
    with mqlite.Broker(config=mqlite.Config(max_queued_messages=1)) as broker:
        sub = broker.connect("sub")
        sub.subscribe("t", qos=1)
        pub = broker.connect("pub")
        pub.publish("t", b"x", qos=1)
        with pytest.raises(mqlite.QueueFull):
            pub.publish("t", b"y", qos=1, fail_if_full=True, wait_if_full=0.05)


def test_limits_from_config() -> None:
    config = mqlite.Config(max_subscriptions_per_client=1, max_clients=1, max_client_id_length=4)
    assert config.max_clients == 1
    with mqlite.Broker(config=config) as broker:
        with pytest.raises(mqlite.InvalidClientId):
            broker.connect("too-long")
        c = broker.connect("c")
        with pytest.raises(mqlite.TooManyClients):
            broker.connect("d")
        c.subscribe("a")
        with pytest.raises(mqlite.TooManySubscriptions):
            c.subscribe("b")


def test_config_reads_back_every_setting() -> None:
    config = mqlite.Config(
        max_queued_messages=7,
        max_queued_bytes=700,
        max_inflight_messages=3,
        overflow_policy="drop_oldest",
        queue_qos0_messages=True,
        max_payload_size=70,
        max_topic_length=17,
        max_topic_levels=5,
        max_subscriptions_per_client=9,
        max_retained_messages=11,
        max_retained_bytes=1100,
        max_clients=13,
        max_client_id_length=15,
        shared_subscription_strategy="sticky",
        max_session_expiry=60.0,
        sys_interval=0,
    )
    assert (config.max_queued_messages, config.max_queued_bytes) == (7, 700)
    assert (config.max_inflight_messages, config.overflow_policy) == (3, "drop_oldest")
    assert config.queue_qos0_messages is True
    assert (config.max_payload_size, config.max_topic_length) == (70, 17)
    assert config.max_topic_levels == 5
    assert config.max_subscriptions_per_client == 9
    assert (config.max_retained_messages, config.max_retained_bytes) == (11, 1100)
    assert (config.max_clients, config.max_client_id_length) == (13, 15)
    assert config.shared_subscription_strategy == "sticky"
    assert config.max_session_expiry == 60.0
    assert config.sys_interval is None
    defaults = mqlite.Config()
    assert defaults.overflow_policy == "drop_newest"
    assert defaults.shared_subscription_strategy == "round_robin"
    assert defaults.max_session_expiry is None
    assert defaults.sys_interval == 10.0


def test_retained_store_full() -> None:
    # No $SYS statistics: they are retained messages too.
    config = mqlite.Config(max_retained_messages=1, sys_interval=0)
    with mqlite.Broker(config=config) as broker:
        c = broker.connect("c")
        c.publish("a", b"x", retain=True)
        with pytest.raises(mqlite.RetainedStoreFull):
            c.publish("b", b"x", retain=True)


def test_takeover_raises_taken_over_on_old_handle(broker: mqlite.Broker) -> None:
    """[MQTT-3.1.4-3]"""
    old = broker.connect("same")
    broker.connect("same")
    with pytest.raises(mqlite.TakenOver):
        old.publish("t", b"x")
    with pytest.raises(mqlite.TakenOver):
        old.recv(timeout=1.0)


def test_shutdown_raises_broker_closed() -> None:
    broker = mqlite.Broker()
    c = broker.connect("c")
    broker.shutdown()
    assert broker.is_closed
    with pytest.raises(mqlite.BrokerClosed):
        c.recv(timeout=1.0)
    with pytest.raises(mqlite.BrokerClosed):
        broker.connect("d")


def test_use_after_disconnect_raises_client_disconnected(broker: mqlite.Broker) -> None:
    c = broker.connect("c")
    c.disconnect()
    c.disconnect()  # idempotent
    assert c.is_disconnected
    with pytest.raises(mqlite.ClientDisconnected):
        c.publish("t", b"x")
    with pytest.raises(mqlite.SessionEnded):
        c.recv(timeout=0.01)


@pytest.mark.parametrize("qos", [3, 255])
def test_bad_qos_is_value_error(broker: mqlite.Broker, qos: int) -> None:
    c = broker.connect("c")
    with pytest.raises(ValueError, match="qos must be 0, 1 or 2"):
        c.publish("t", b"x", qos=qos)
    with pytest.raises(ValueError, match="qos must be 0, 1 or 2"):
        mqlite.Will("t", b"x", qos=qos)


def test_bad_arguments_are_type_and_value_errors(broker: mqlite.Broker) -> None:
    c = broker.connect("c")
    with pytest.raises(TypeError, match="payload must be"):
        c.publish("t", 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        c.publish("t", b"x", 1)  # type: ignore[call-arg]  # options are keyword-only
    with pytest.raises(ValueError, match="timeout"):
        c.recv(timeout=-1)
    with pytest.raises(ValueError, match="retain_handling"):
        c.subscribe("t", retain_handling=3)
    with pytest.raises(ValueError, match="overflow_policy"):
        mqlite.Config(overflow_policy="sometimes")
    for qos in (-1, 3, 300):
        with pytest.raises(ValueError, match="qos must be 0, 1 or 2"):
            c.publish("t", b"x", qos=qos)
        with pytest.raises(ValueError, match="qos must be 0, 1 or 2"):
            c.subscribe("t", qos=qos)
    with pytest.raises(ValueError, match="retain_handling"):
        c.subscribe("t", retain_handling=-1)
