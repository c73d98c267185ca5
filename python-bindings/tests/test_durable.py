"""Durable mode, ``Broker(persistence=...)``: what survives a restart of the broker on the
same store (persistent sessions with their queues, subscriptions and retained messages), the
options and errors of opening a store, the store's figures in ``stats()``, and the
``mqlite_durable_broker`` fixture of the pytest plugin."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import mqlite
from mqlite.testing import DurableBroker

pytest_plugins = ["pytester"]

HOUR = 3600.0


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A directory for a store, not yet created."""
    return tmp_path / "store"


def open_broker(store: Path, **options: str | int) -> mqlite.Broker:
    return mqlite.Broker(persistence=store, **options)  # type: ignore[arg-type]


def reopen(store: Path) -> mqlite.Broker:
    """A broker on ``store`` once the previous one, shut down and dropped by the caller, let
    go of it: its timer thread may drop the last reference a moment later."""
    deadline = time.monotonic() + 1.0
    while True:
        try:
            return open_broker(store)
        except mqlite.StoreLocked:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def persistent(broker: mqlite.Broker, client_id: str) -> mqlite.Client:
    return broker.connect(client_id, clean_start=False, session_expiry=HOUR)


def drain(client: mqlite.Client) -> list[mqlite.Message]:
    """Every message that arrives until none does for 0.3 s, each acknowledged."""
    got = list(client.messages(timeout=0.3))
    for msg in got:
        msg.ack()
    return got


def test_queued_qos1_messages_of_a_persistent_session_survive_a_restart_in_order(
    store: Path,
) -> None:
    broker = open_broker(store)
    sub = persistent(broker, "sub")
    sub.subscribe("sensors/#", qos=1)
    sub.disconnect()
    with broker.connect("sensor") as sensor:
        for i in range(50):
            sensor.publish(f"sensors/{i % 3}", f"reading {i}", qos=1)
    broker.shutdown()
    del broker, sub, sensor  # the last objects of the old broker: its store is released
    broker = reopen(store)
    assert broker.stats()["store_records_recovered"] > 0
    sub = persistent(broker, "sub")
    assert sub.session_present
    got = []
    for msg in sub.messages(timeout=0.5):
        got.append(msg.payload)
        msg.ack()
    assert got == [f"reading {i}".encode() for i in range(50)]
    broker.shutdown()


def test_unacknowledged_messages_are_delivered_again_after_a_restart(store: Path) -> None:
    broker = open_broker(store)
    sub = persistent(broker, "sub")
    sub.subscribe("t", qos=1)
    with broker.connect("pub") as pub:
        pub.publish("t", b"one", qos=1)
        pub.publish("t", b"two", qos=1)
    first = sub.recv(timeout=1)
    first.ack()  # "one" is done
    second = sub.recv(timeout=1)  # "two" is handed out but never acknowledged
    assert second.payload == b"two"
    broker.shutdown()
    del broker, sub, pub  # the messages may stay: they do not hold the store
    broker = reopen(store)

    sub = persistent(broker, "sub")
    msg = sub.recv(timeout=1)
    assert msg.payload == b"two"
    msg.ack()
    assert sub.try_recv() is None
    broker.shutdown()


def test_retained_messages_survive_set_replace_and_clear(store: Path) -> None:
    broker = open_broker(store)
    with broker.connect("pub") as pub:
        pub.publish("config/a", b"a1", qos=1, retain=True)
        pub.publish("config/b", b"b1", qos=1, retain=True)
        pub.publish("config/c", b"c1", qos=1, retain=True)
    broker.shutdown()
    del broker, pub
    broker = reopen(store)

    with broker.connect("pub") as pub:
        pub.publish("config/a", b"a2", qos=1, retain=True)  # replaced
        pub.publish("config/b", b"", qos=1, retain=True)  # cleared
    broker.shutdown()
    del broker, pub
    broker = reopen(store)

    late = broker.connect("late")
    late.subscribe("config/#", qos=1)
    got = {}
    for msg in late.messages(timeout=0.3):
        assert msg.retain
        got[msg.topic] = msg.payload
        msg.ack()
    assert got == {"config/a": b"a2", "config/c": b"c1"}
    broker.shutdown()


def test_subscriptions_of_a_persistent_session_survive_a_restart(store: Path) -> None:
    broker = open_broker(store)
    sub = persistent(broker, "sub")
    assert sub.subscribe("a/+", qos=1) == 1
    assert sub.subscribe("b/#", qos=2) == 2
    sub.subscribe("gone", qos=1)
    assert sub.unsubscribe("gone")
    sub.disconnect()
    broker.shutdown()
    del broker, sub
    broker = reopen(store)

    sub = persistent(broker, "sub")
    assert sub.session_present
    assert broker.stats()["subscriptions"] == 2
    # Online, no new subscribe: the recovered subscriptions route.
    with broker.connect("pub") as pub:
        pub.publish("a/1", b"x", qos=1)
        pub.publish("b/c/d", b"y", qos=2)
        pub.publish("gone", b"z", qos=1)
    got = [(m.topic, m.qos) for m in drain(sub)]
    assert got == [("a/1", 1), ("b/c/d", 2)]
    broker.shutdown()


def test_a_session_that_ends_at_disconnect_is_not_kept(store: Path) -> None:
    broker = open_broker(store)
    with broker.connect("brief", clean_start=False) as brief:  # session_expiry 0
        brief.subscribe("t", qos=1)
    broker.shutdown()
    del broker, brief
    broker = reopen(store)
    assert not broker.connect("brief", clean_start=False).session_present
    broker.shutdown()


def test_opening_a_store_held_by_another_broker_raises_a_clear_error(store: Path) -> None:
    with open_broker(store) as first:
        with pytest.raises(mqlite.StoreLocked, match="locked by another") as info:
            open_broker(store)
        assert str(store) in str(info.value)
        assert not first.is_closed


def test_options_of_persistence_are_checked(store: Path) -> None:
    with pytest.raises(ValueError, match="persistence_sync must be 'commit', 'periodic' or"):
        open_broker(store, persistence_sync="always")
    with pytest.raises(ValueError, match="persistence_sync_interval_ms must be at least 1"):
        open_broker(store, persistence_sync="periodic", persistence_sync_interval_ms=0)
    with pytest.raises(ValueError, match="persistence_sync_interval_ms"):
        open_broker(store, persistence_sync_interval_ms=-5)
    with pytest.raises(TypeError):
        mqlite.Broker(persistence=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        mqlite.Broker(None, "dir")  # type: ignore[call-arg]  # keyword-only
    assert not store.exists(), "nothing is created when an option is refused"


def test_a_store_that_cannot_be_created_raises_store_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(b"")
    with pytest.raises(mqlite.StoreError, match=str(not_a_dir)):
        open_broker(not_a_dir / "store")


@pytest.mark.parametrize("sync", ["commit", "periodic", "none"])
def test_every_sync_policy_survives_a_restart(store: Path, sync: str) -> None:
    broker = open_broker(store, persistence_sync=sync, persistence_sync_interval_ms=50)
    persistent(broker, "sub").subscribe("t", qos=1)
    broker.connect("pub").publish("t", b"kept", qos=1, retain=True)
    broker.sync()
    broker.shutdown()
    del broker
    broker = reopen(store)
    sub = persistent(broker, "sub")
    msg = sub.recv(timeout=1)
    assert msg.payload == b"kept"
    msg.ack()
    broker.shutdown()


def test_store_figures_in_stats(store: Path) -> None:
    with open_broker(store) as broker:
        assert broker.persistence == store
        assert broker.recovery_summary is not None
        assert "recovered 0 records" in broker.recovery_summary
        assert repr(broker) == f"Broker(persistence='{store}', closed=False)"
        before = broker.stats()["store_fsyncs"]
        persistent(broker, "sub").subscribe("t", qos=1)
        broker.connect("pub").publish("t", b"x", qos=1)
        stats = broker.stats()
        assert stats["store_fsyncs"] > before
        assert stats["store_records_written"] > 0
        assert stats["store_bytes_written"] > 0
        assert stats["store_bytes_on_disk"] > 0
        assert stats["store_live_records"] > 0
        assert stats["store_fsync_max_us"] >= stats["store_fsync_mean_us"]
        assert stats["store_errors"] == 0
        assert stats["store_records_recovered"] == stats["store_records_discarded"] == 0
        assert all(isinstance(v, int) for v in stats.values())


def test_memory_mode_has_no_store_figures() -> None:
    with mqlite.Broker() as broker:
        assert broker.persistence is None
        assert broker.recovery_summary is None
        assert not [k for k in broker.stats() if k.startswith("store_")]
        broker.sync()  # nothing to do
        assert repr(broker) == "Broker(closed=False)"


def test_qos1_publishes_from_threads_release_the_gil_and_share_fsyncs(store: Path) -> None:
    """Eight threads publishing at QoS 1 (each waiting for its fsync without the GIL) finish
    with fewer fsyncs than messages: the waits were shared."""
    threads_n, per_thread = 8, 25
    with open_broker(store) as broker:
        sub = persistent(broker, "sub")
        sub.subscribe("t/#", qos=1)
        fsyncs = broker.stats()["store_fsyncs"]
        errors: list[BaseException] = []

        def run(n: int) -> None:
            try:
                with broker.connect(f"pub{n}") as pub:
                    for i in range(per_thread):
                        pub.publish(f"t/{n}", str(i), qos=1)
            except BaseException as e:  # reported by the main thread
                errors.append(e)

        threads = [threading.Thread(target=run, args=(n,)) for n in range(threads_n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        fsyncs = broker.stats()["store_fsyncs"] - fsyncs
        assert 0 < fsyncs < threads_n * per_thread
        got: dict[str, list[bytes]] = {}
        for msg in sub.messages(timeout=0.5):
            got.setdefault(msg.topic, []).append(msg.payload)
            msg.ack()
        want = [str(i).encode() for i in range(per_thread)]
        assert got == {f"t/{n}": want for n in range(threads_n)}


def test_publish_many_waits_for_durability_once_per_batch(store: Path) -> None:
    """``publish_many`` at QoS 1 under ``"commit"`` makes its whole batch durable with one
    wait (a loop of ``publish`` waits for one fsync per message), and the batch survives a
    restart in order."""
    with open_broker(store) as broker:
        persistent(broker, "sub").subscribe("t/#", qos=1)
        fsyncs = broker.stats()["store_fsyncs"]
        with broker.connect("pub") as pub:
            pub.publish_many([str(i) for i in range(50)], topic="t/x", qos=1)
        assert broker.stats()["store_fsyncs"] - fsyncs <= 2
    with reopen(store) as broker:
        got = drain(persistent(broker, "sub"))
        assert [m.payload for m in got] == [str(i).encode() for i in range(50)]


def test_a_network_publish_survives_a_restart(store: Path) -> None:
    pytest.importorskip("paho.mqtt", reason="needs paho-mqtt: pip install paho-mqtt==2.1.0")
    from _paho import Device

    broker = open_broker(store)
    persistent(broker, "app").subscribe("devices/#", qos=1)
    with broker.listen("127.0.0.1:0", workers=1) as server:
        with Device(server.address, "device-1") as device:
            device.publish("devices/1/status", b"online", qos=1, retain=True)
            device.publish("devices/1/alert", b"smoke", qos=1)
    broker.shutdown()
    del broker, server
    broker = reopen(store)

    app = persistent(broker, "app")
    got = [(m.topic, m.payload) for m in drain(app)]
    assert got == [("devices/1/status", b"online"), ("devices/1/alert", b"smoke")]
    late = broker.connect("late")
    late.subscribe("devices/+/status")
    assert late.recv(timeout=1).payload == b"online"
    broker.shutdown()


# The pytest plugin's durable fixture.


def test_mqlite_durable_broker_restarts_on_the_same_store_and_port(
    mqlite_durable_broker: DurableBroker,
) -> None:
    durable = mqlite_durable_broker
    assert durable.broker.persistence == durable.path
    assert durable.path.is_dir()
    port = durable.port
    assert durable.url == f"mqtt://127.0.0.1:{port}"
    assert durable.address == (durable.host, port)
    assert repr(durable) == f"DurableBroker(path='{durable.path}', url='{durable.url}')"

    app = durable.connect("app", clean_start=False, session_expiry=HOUR)
    app.subscribe("alerts/#", qos=1)
    durable.connect("device").publish("alerts/fire", b"!", qos=1)
    durable.connect("config").publish("config", b"v1", qos=1, retain=True)

    durable.restart()
    assert durable.restarts == 1
    assert not durable.broker.is_closed
    assert app.is_disconnected, "restart() disconnected the old broker's clients"
    assert (durable.port, durable.server.port) == (port, port)
    assert durable.broker.stats()["store_records_recovered"] > 0

    app = durable.connect("app", clean_start=False, session_expiry=HOUR)
    assert app.session_present
    msg = app.recv(timeout=5)
    assert (msg.topic, msg.payload) == ("alerts/fire", b"!")
    msg.ack()
    del msg
    durable.restart()
    late = durable.connect("late")
    late.subscribe("config")
    assert late.recv(timeout=5).payload == b"v1"


def test_restart_releases_the_store_whoever_holds_the_old_broker(
    mqlite_durable_broker: DurableBroker,
) -> None:
    durable = mqlite_durable_broker
    app = durable.connect("app", clean_start=False, session_expiry=HOUR)
    app.subscribe("t", qos=1)
    app.publish("t", b"x", qos=1)
    held = app.recv(timeout=5)  # a message of the old broker
    other = durable.broker.connect("other")  # a client restart() does not know
    durable.restart()  # the shutdown releases the store at once
    with pytest.raises(mqlite.MqliteError):
        other.publish("t", b"y", qos=1)  # its broker is shut down
    app = durable.connect("app", clean_start=False, session_expiry=HOUR)
    assert app.recv(timeout=5).payload == b"x"  # redelivered: never acknowledged
    held.ack()  # an acknowledgement to the old broker goes nowhere
    assert durable.restarts == 1


@pytest.fixture
def durable_brokers() -> Iterator[list[DurableBroker]]:
    """The ``DurableBroker``s a test made, closed at teardown."""
    made: list[DurableBroker] = []
    yield made
    for d in made:
        d.close()


def test_durable_broker_takes_a_config_and_a_sync_policy(
    tmp_path: Path, durable_brokers: list[DurableBroker]
) -> None:
    durable = DurableBroker(
        tmp_path / "s",
        config=mqlite.Config(max_payload_size=4),
        persistence_sync="none",
    )
    durable_brokers.append(durable)
    with pytest.raises(mqlite.PayloadTooLarge):
        durable.connect("c").publish("t", b"12345", qos=1)
    durable.restart()
    assert durable.broker.persistence == tmp_path / "s"
    with pytest.raises(mqlite.PayloadTooLarge):
        durable.connect("c").publish("t", b"12345", qos=1)


def test_readme_example_of_the_durable_fixture_passes(pytester: pytest.Pytester) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    (example,) = [b for b in blocks if "def test_" in b and "mqlite_durable_broker" in b]
    pytester.makepyfile(test_readme_durable=example)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_durable_fixture_in_a_fresh_pytest_run(pytester: pytest.Pytester) -> None:
    """The fixture is found by pytest alone, each test gets its own store, the plugin's
    ``mqlite_config`` and ``mqlite_persistence_sync`` apply, and the broker is shut down at
    teardown."""
    pytester.makepyfile(
        test_durable_fixture="""
        import pytest
        import mqlite

        seen = []

        @pytest.fixture
        def mqlite_persistence_sync():
            return "periodic"

        @pytest.fixture
        def mqlite_config():
            return mqlite.Config(max_payload_size=8)

        def test_first(mqlite_durable_broker):
            seen.append(mqlite_durable_broker)
            c = mqlite_durable_broker.connect("c", clean_start=False, session_expiry=60)
            c.subscribe("t", qos=1)
            with pytest.raises(mqlite.PayloadTooLarge):
                c.publish("t", b"123456789")

        def test_second(mqlite_durable_broker):
            (first,) = seen
            assert first.broker.is_closed and first.server.is_closed
            assert first.path != mqlite_durable_broker.path
            c = mqlite_durable_broker.connect("c", clean_start=False, session_expiry=60)
            assert not c.session_present
            assert mqlite_durable_broker.persistence_sync == "periodic"
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
