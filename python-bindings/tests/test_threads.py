"""Threads: concurrent publishers, GIL release while blocked, Ctrl-C while blocked."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import mqlite


def test_several_threads_publish_at_once(broker: mqlite.Broker) -> None:
    threads, per_thread = 4, 500
    sub = broker.connect("sub", auto_ack=True)
    sub.subscribe("load/#", qos=1)

    def publish(n: int) -> None:
        with broker.connect(f"pub-{n}") as pub:
            for i in range(per_thread):
                pub.publish(f"load/{n}", str(i), qos=1, wait_if_full=5.0)

    workers = [threading.Thread(target=publish, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    seen: dict[str, list[int]] = {}
    while sum(len(v) for v in seen.values()) < threads * per_thread:
        batch = sub.recv_many(1000, timeout=5.0)
        assert batch, "publishers stalled"
        for m in batch:
            seen.setdefault(m.topic, []).append(int(m.payload))
    for w in workers:
        w.join()
    # Order is kept per publisher.
    assert all(v == list(range(per_thread)) for v in seen.values())


def test_blocking_recv_releases_the_gil(broker: mqlite.Broker) -> None:
    c = broker.connect("c")
    c.subscribe("t")
    ticks = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        with pytest.raises(mqlite.Timeout):
            c.recv(timeout=0.3)
    finally:
        stop.set()
        t.join()
    assert ticks > 1000


def test_recv_from_another_thread_wakes(broker: mqlite.Broker) -> None:
    c = broker.connect("c")
    c.subscribe("t")
    got: list[bytes] = []
    t = threading.Thread(target=lambda: got.append(c.recv(timeout=5.0).payload))
    t.start()
    time.sleep(0.05)
    broker.connect("p").publish("t", b"wake")
    t.join()
    assert got == [b"wake"]


def test_disconnect_from_another_thread_ends_blocked_recv(broker: mqlite.Broker) -> None:
    c = broker.connect("c")
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            c.recv(timeout=5.0)
        except mqlite.MqliteError as e:
            errors.append(e)

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.05)
    c.disconnect()
    t.join(timeout=2.0)
    assert not t.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], mqlite.ClientDisconnected)


def test_shutdown_wakes_blocked_receiver() -> None:
    broker = mqlite.Broker()
    c = broker.connect("c")
    timer = threading.Timer(0.05, broker.shutdown)
    timer.start()
    with pytest.raises(mqlite.BrokerClosed):
        c.recv(timeout=5.0)
    timer.join()


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="needs SIGINT")
@pytest.mark.parametrize("call", ["recv", "recv_many", "messages"])
def test_ctrl_c_interrupts_blocking_recv_within_100ms(broker: mqlite.Broker, call: str) -> None:
    c = broker.connect("c")
    sent_at: list[float] = []

    def interrupt() -> None:
        sent_at.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(0.2, interrupt)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        if call == "recv":
            c.recv()
        elif call == "recv_many":
            c.recv_many(10)
        else:
            list(c.messages())
    latency = time.monotonic() - sent_at[0]
    timer.join()
    # 100 ms slices, plus slack for a loaded 2-core CI machine to schedule the main thread.
    assert latency < 0.2


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="needs SIGINT")
@pytest.mark.parametrize("call", ["publish", "publish_many"])
def test_ctrl_c_interrupts_a_publish_waiting_for_room(broker: mqlite.Broker, call: str) -> None:
    sub = broker.connect("sub", max_queued_messages=1)
    sub.subscribe("t", qos=1)
    pub = broker.connect("pub")
    pub.publish("t", b"fills the queue", qos=1)
    sent_at: list[float] = []

    def interrupt() -> None:
        sent_at.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(0.2, interrupt)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        if call == "publish":
            pub.publish("t", b"waits", qos=1, wait_if_full=60.0)
        else:
            pub.publish_many([b"waits", b"never sent"], topic="t", qos=1, wait_if_full=60.0)
    latency = time.monotonic() - sent_at[0]
    timer.join()
    # The core asks every 50 ms; slack for a loaded 2-core CI machine.
    assert latency < 0.2
    assert sub.recv(timeout=1.0).payload == b"fills the queue"
