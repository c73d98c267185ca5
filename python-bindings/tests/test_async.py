"""asyncio: recv_async on the running loop, with no thread per call."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

import pytest

import mqlite


def test_recv_async_gets_a_ready_message(broker: mqlite.Broker) -> None:
    c = broker.connect("c")
    c.subscribe("t")
    c.publish("t", b"ready")

    async def main() -> bytes:
        return (await c.recv_async()).payload

    assert asyncio.run(main()) == b"ready"


def test_recv_async_waits_for_a_later_message(broker: mqlite.Broker) -> None:
    c = broker.connect("c")
    c.subscribe("t")
    pub = broker.connect("pub")

    async def main() -> list[bytes]:
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, pub.publish, "t", b"later")
        # Published from another thread too.
        threading.Timer(0.1, pub.publish, args=("t", b"thread")).start()
        first = await asyncio.wait_for(c.recv_async(), 5.0)
        second = await asyncio.wait_for(c.recv_async(), 5.0)
        return [first.payload, second.payload]

    assert asyncio.run(main()) == [b"later", b"thread"]


def test_many_clients_wait_at_once_without_a_thread_each(broker: mqlite.Broker) -> None:
    clients = [broker.connect(f"c{i}") for i in range(50)]
    for i, c in enumerate(clients):
        c.subscribe(f"t/{i}")
    pub = broker.connect("pub")

    async def main() -> list[bytes]:
        threads_before = threading.active_count()
        waits = [asyncio.ensure_future(c.recv_async()) for c in clients]
        await asyncio.sleep(0.05)
        assert threading.active_count() <= threads_before + 1
        for i in range(len(clients)):
            pub.publish(f"t/{i}", str(i))
        return [m.payload for m in await asyncio.wait_for(asyncio.gather(*waits), 5.0)]

    assert asyncio.run(main()) == [str(i).encode() for i in range(50)]


def test_timed_out_recv_async_loses_no_message(broker: mqlite.Broker) -> None:
    c = broker.connect("c")
    c.subscribe("t")

    async def main() -> bytes:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(c.recv_async(), 0.05)
        c.publish("t", b"after")
        return (await asyncio.wait_for(c.recv_async(), 5.0)).payload

    assert asyncio.run(main()) == b"after"


def test_recv_async_after_a_cancelled_one_is_woken(broker: mqlite.Broker) -> None:
    """A cancelled receive leaves its registration behind; the doorbell's one token must
    still reach the receive that is waiting now, not only the stale one."""
    c = broker.connect("c")
    c.subscribe("t")
    pub = broker.connect("pub")

    async def main() -> list[bytes]:
        got = []
        for i in range(3):
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(c.recv_async(), 0.02)
            threading.Timer(0.05, pub.publish, args=("t", b"m%d" % i)).start()
            got.append((await asyncio.wait_for(c.recv_async(), 5.0)).payload)
        return got

    assert asyncio.run(main()) == [b"m0", b"m1", b"m2"]


def test_concurrent_recv_async_on_one_client_all_complete(broker: mqlite.Broker) -> None:
    c = broker.connect("c")
    c.subscribe("t")
    pub = broker.connect("pub")

    async def main() -> list[bytes]:
        waits = [asyncio.ensure_future(c.recv_async()) for _ in range(3)]
        await asyncio.sleep(0.02)
        for i in range(3):
            threading.Timer(0.02 * (i + 1), pub.publish, args=("t", b"m%d" % i)).start()
        return sorted(m.payload for m in await asyncio.wait_for(asyncio.gather(*waits), 5.0))

    assert asyncio.run(main()) == [b"m0", b"m1", b"m2"]


def test_recv_async_raises_when_the_session_ends() -> None:
    broker = mqlite.Broker()
    c = broker.connect("c")

    async def main() -> None:
        asyncio.get_running_loop().call_later(0.05, broker.shutdown)
        with pytest.raises(mqlite.BrokerClosed):
            await asyncio.wait_for(c.recv_async(), 5.0)

    asyncio.run(main())


def test_recv_async_needs_a_running_loop(broker: mqlite.Broker) -> None:
    c = broker.connect("c")
    with pytest.raises(RuntimeError):
        c.recv_async()


def test_exit_with_a_pending_recv_async_is_quiet() -> None:
    """Sessions ending at interpreter exit ring doorbells; the waiter thread must not panic."""
    code = (
        "import asyncio, mqlite\n"
        "c = mqlite.Broker().connect('c')\n"
        "async def main():\n"
        "    try:\n"
        "        await asyncio.wait_for(c.recv_async(), 0.05)\n"
        "    except asyncio.TimeoutError:\n"
        "        pass\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=20, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")
