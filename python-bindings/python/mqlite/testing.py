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
- ``mqlite_durable_broker``: a :class:`DurableBroker`, the same but durable: its store is
  in a fresh directory (under ``tmp_path``), and ``restart()`` stops the broker and opens a
  new one on the same store and the same port, as a restart of the process would::

      def test_queued_alerts_survive_a_restart(mqlite_durable_broker):
          app = mqlite_durable_broker.connect("app", clean_start=False, session_expiry=3600)
          app.subscribe("alerts/#", qos=1)
          app.disconnect()
          mqlite_durable_broker.connect("device").publish("alerts/fire", b"!", qos=1)
          mqlite_durable_broker.restart()
          app = mqlite_durable_broker.connect("app", clean_start=False, session_expiry=3600)
          assert app.recv(timeout=5).payload == b"!"

- ``mqlite_config``: the :class:`mqlite.Config` those brokers are made with; ``None`` (the
  default) keeps the defaults. Override it in a ``conftest.py`` or a test module to set
  limits.
- ``mqlite_persistence_sync``: the ``persistence_sync`` of the durable broker:
  ``'commit'`` (the default), ``'periodic'`` or ``'none'``; override it like
  ``mqlite_config``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mqlite

__all__ = [
    "DurableBroker",
    "RunningBroker",
    "mqlite_broker",
    "mqlite_config",
    "mqlite_durable_broker",
    "mqlite_persistence_sync",
]


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


_RELEASE_WAIT = 1.0
"""The longest ``DurableBroker.restart()`` waits for the old broker to release its store."""


class DurableBroker:
    """A durable broker listening on loopback, as the ``mqlite_durable_broker`` fixture gives
    it, and the directory of its store, which outlives it: ``restart()`` replaces the broker
    by a new one on the same store and port.

    ``broker`` and ``server`` are the current broker and listener (new ones after each
    restart); network clients connect to ``host`` and ``port`` (unchanged by a restart), and
    in-process clients come from ``connect()``.
    """

    def __init__(
        self,
        path: Path,
        *,
        config: mqlite.Config | None = None,
        persistence_sync: str = "commit",
    ) -> None:
        """Opens (or creates) the store in ``path`` and starts a broker on it, listening on
        an ephemeral loopback port."""
        self.path = path
        """The store's directory."""
        self.config = config
        """The config of every broker it opens."""
        self.persistence_sync = persistence_sync
        """The sync policy of every broker it opens."""
        self.restarts = 0
        """How many times ``restart()`` was called."""
        self._clients: list[mqlite.Client] = []
        self._broker: mqlite.Broker | None = self._open()
        self._server: mqlite.Server | None = self._broker.listen("127.0.0.1:0", workers=1)
        self._port = self._server.port

    @property
    def broker(self) -> mqlite.Broker:
        """The current :class:`mqlite.Broker`."""
        if self._broker is None:
            raise RuntimeError("no broker: the last restart() failed")
        return self._broker

    @property
    def server(self) -> mqlite.Server:
        """The current broker's network listener (a :class:`mqlite.Server`)."""
        if self._server is None:
            raise RuntimeError("no broker: the last restart() failed")
        return self._server

    def _open(self) -> mqlite.Broker:
        return mqlite.Broker(
            config=self.config,
            persistence=self.path,
            persistence_sync=self.persistence_sync,
        )

    def _open_when_released(self) -> mqlite.Broker:
        """Opens the store once the old broker let go of it: a broker thread that was
        running when the last reference went (its timer) may hold it a moment longer."""
        deadline = time.monotonic() + _RELEASE_WAIT
        while True:
            try:
                return self._open()
            except mqlite.StoreLocked:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.005)

    def connect(self, client_id: str, **options: Any) -> mqlite.Client:
        """Connects an in-process client to the current broker: :meth:`mqlite.Broker.connect`
        with the same arguments. ``restart()`` disconnects it."""
        client = self.broker.connect(client_id, **options)
        self._clients.append(client)
        return client

    def restart(self) -> None:
        """Stops the broker and opens a new one on the same store, listening on the same port
        (``broker`` and ``server`` are then the new ones).

        The old broker is shut down (its network connections closed, wills published, and
        nothing removed from the store from then on, as when the process ends), which
        releases its store at once; the clients made by ``connect()`` are disconnected, and
        the new broker recovers from the store. Other clients of the old broker that the test
        still holds can no longer publish. If the store is still locked after a second (a
        broker in another process), ``restart()`` raises :class:`mqlite.StoreLocked`.
        """
        self.close()
        for client in self._clients:
            # After shutdown nothing leaves the store: this only lets go of the old broker.
            client.disconnect()
        self._clients.clear()
        self._broker = self._server = None
        # The store is released when the last object of the old broker goes: collect any
        # cycle that holds one.
        gc.collect()
        try:
            broker = self._open_when_released()
        except mqlite.StoreLocked as e:
            raise mqlite.StoreLocked(f"restart: {e} (is another broker using this store?)") from e
        self._broker = broker
        self._server = broker.listen(("127.0.0.1", self._port), workers=1)
        self.restarts += 1

    @property
    def host(self) -> str:
        """The listener's IP address (``'127.0.0.1'``)."""
        return "127.0.0.1"

    @property
    def port(self) -> int:
        """The listener's TCP port, picked by the system at the start and kept by restarts."""
        return self._port

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)``, as ``socket.create_connection`` takes it."""
        return (self.host, self.port)

    @property
    def url(self) -> str:
        """``'mqtt://127.0.0.1:<port>'``."""
        return f"mqtt://{self.host}:{self.port}"

    def close(self) -> None:
        """Shuts the current broker down (the store stays in ``path``). Idempotent."""
        if self._broker is not None:
            self._broker.shutdown()

    def __repr__(self) -> str:
        """``DurableBroker(path='...', url='mqtt://...')``."""
        return f"DurableBroker(path={str(self.path)!r}, url={self.url!r})"


@pytest.fixture
def mqlite_persistence_sync() -> str:
    """The ``persistence_sync`` of the ``mqlite_durable_broker`` fixture's broker."""
    return "commit"


@pytest.fixture
def mqlite_durable_broker(
    tmp_path: Path, mqlite_config: mqlite.Config | None, mqlite_persistence_sync: str
) -> Iterator[DurableBroker]:
    """A fresh durable broker (its store in ``tmp_path / 'mqlite-store'``) listening on an
    ephemeral loopback port; ``restart()`` reopens it on the same store. Shut down at
    teardown."""
    durable = DurableBroker(
        tmp_path / "mqlite-store", config=mqlite_config, persistence_sync=mqlite_persistence_sync
    )
    try:
        yield durable
    finally:
        durable.close()
