"""A pytest plugin: each test gets a fresh MQTT broker reachable over the network.

Installing ``mqlite`` registers this module with pytest (the ``pytest11`` entry point), so
any test suite can use its fixtures without importing anything::

    def test_device_reports_temperature(mqlite_broker):
        dashboard = mqlite_broker.connect("dashboard")  # an in-process client
        dashboard.subscribe("sensors/#")
        start_device(host=mqlite_broker.host, port=mqlite_broker.port)  # code under test
        assert dashboard.recv(timeout=5).topic == "sensors/42/temperature"

Fixtures:

- ``mqlite_broker``: a :class:`RunningBroker`, a new :class:`mqlite.Broker` listening on an
  ephemeral loopback port, shut down at teardown (its network connections closed, its
  in-process clients' blocked receives woken).
- ``mqlite_config``: the :class:`mqlite.Config` that broker is made with; ``None`` (the
  default) keeps the defaults. Override it in a ``conftest.py`` or a test module to set
  limits.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import mqlite

__all__ = ["RunningBroker", "mqlite_broker", "mqlite_config"]


class RunningBroker:
    """A broker and its network listener, as the ``mqlite_broker`` fixture gives them.

    Network clients connect to ``host`` and ``port`` (or ``url``); in-process clients come
    from ``connect()``, which is ``broker.connect`` with the same arguments.
    """

    def __init__(self, broker: mqlite.Broker, server: mqlite.Server) -> None:
        """Wraps a broker and the server its ``listen()`` returned."""
        self.broker = broker
        """The in-process :class:`mqlite.Broker`."""
        self.server = server
        """Its network listener (a :class:`mqlite.Server`)."""
        self.connect = broker.connect
        """Connects an in-process client: :meth:`mqlite.Broker.connect`."""

    @property
    def host(self) -> str:
        """The listener's IP address (``'127.0.0.1'``)."""
        return self.server.host

    @property
    def port(self) -> int:
        """The listener's TCP port, picked by the system."""
        return self.server.port

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)``, as ``socket.create_connection`` takes it."""
        return self.server.address

    @property
    def url(self) -> str:
        """``'mqtt://127.0.0.1:<port>'``."""
        return self.server.url

    def __repr__(self) -> str:
        """``RunningBroker(url='mqtt://...')``."""
        return f"RunningBroker(url={self.url!r})"


@pytest.fixture
def mqlite_config() -> mqlite.Config | None:
    """The config of the ``mqlite_broker`` fixture's broker; ``None`` for the defaults."""
    return None


@pytest.fixture
def mqlite_broker(mqlite_config: mqlite.Config | None) -> Iterator[RunningBroker]:
    """A fresh broker listening on an ephemeral loopback port; shut down at teardown."""
    # One worker thread: a test's handful of connections needs no more, and it starts and
    # stops faster. The broker's shutdown also closes the listener.
    with mqlite.Broker(config=mqlite_config) as broker:
        yield RunningBroker(broker, broker.listen("127.0.0.1:0", workers=1))
