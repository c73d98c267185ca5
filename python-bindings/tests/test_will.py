"""Wills and the context manager: a clean exit discards the will [MQTT-3.1.2-10]; an
exception, garbage collection or a takeover publishes it."""

from __future__ import annotations

import gc

import pytest

import mqlite


def _watcher(broker: mqlite.Broker) -> mqlite.Client:
    w = broker.connect("watcher")
    w.subscribe("status/#", qos=1)
    return w


def test_with_block_normal_exit_disconnects_cleanly(broker: mqlite.Broker) -> None:
    watcher = _watcher(broker)
    with broker.connect("dev", will=mqlite.Will("status/dev", b"offline")) as dev:
        dev.publish("status/dev", b"online")
    assert dev.is_disconnected
    assert [m.payload for m in watcher.messages(timeout=0.1)] == [b"online"]


def test_with_block_exception_publishes_will(broker: mqlite.Broker) -> None:
    watcher = _watcher(broker)
    will = mqlite.Will("status/dev", b"offline", qos=1, retain=True)
    with pytest.raises(RuntimeError), broker.connect("dev", will=will) as dev:
        dev.publish("status/dev", b"online", qos=1, retain=True)
        raise RuntimeError("crash")
    assert [m.payload for m in watcher.messages(timeout=0.1)] == [b"online", b"offline"]
    late = broker.connect("late")
    late.subscribe("status/#")
    msg = late.recv(timeout=1.0)
    assert (msg.payload, msg.retain) == (b"offline", True)


def test_garbage_collected_client_publishes_will(broker: mqlite.Broker) -> None:
    watcher = _watcher(broker)
    dev = broker.connect("dev", will=mqlite.Will("status/dev", b"gone"))
    del dev
    gc.collect()
    assert watcher.recv(timeout=1.0).payload == b"gone"


def test_disconnect_discards_will(broker: mqlite.Broker) -> None:
    watcher = _watcher(broker)
    broker.connect("dev", will=mqlite.Will("status/dev", b"gone")).disconnect()
    assert watcher.try_recv() is None


def test_takeover_publishes_old_will(broker: mqlite.Broker) -> None:
    """[MQTT-3.1.4-3]"""
    watcher = _watcher(broker)
    old = broker.connect("dev", will=mqlite.Will("status/dev", b"replaced"))
    broker.connect("dev")
    assert watcher.recv(timeout=1.0).payload == b"replaced"
    del old


def test_will_properties_and_accessors() -> None:
    props = mqlite.Properties(content_type="text/plain")
    will = mqlite.Will("a", "b", qos=2, retain=True, properties=props, delay=1.5)
    assert (will.topic, will.payload, will.qos, will.retain, will.delay) == (
        "a",
        b"b",
        2,
        True,
        1.5,
    )
    assert will.properties == props
    assert "topic" in repr(will)
