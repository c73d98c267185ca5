"""Runs one scripted scenario against two brokers and returns what each subscriber received.

A scenario is a function of a `Run`. It opens named clients with `Run.client`, subscribes and
publishes through them. When it returns, `Run.fence` publishes one QoS 1 message per connected
client on `fence/<name>` and waits for each to arrive, so every earlier delivery on that
connection has arrived too; a short settle then catches anything a broker reordered. Fence
messages are dropped from the records.

A record is ``(topic, payload, qos, retain)`` in arrival order (a test may ask for more, such as
the 5.0 properties). The spec orders deliveries only per topic and QoS [MQTT-4.6.0-6] (5.0:
[MQTT-4.6.0-5]), so `by_topic` (the default normalisation) sorts records by topic and keeps the
arrival order within each topic.

A name can be opened again after its connection closed, to resume a session: its records go on
from those of the earlier connections, and for a client that keeps its session (``clean=False``)
the Session Present flag of each CONNACK is recorded and compared too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conftest import Broker, Clients
from paho_client import WAIT_S, PahoClient, Received

Record = tuple[Any, ...]
"""``(topic, payload, qos, retain)`` unless the test records more (see `run_scenario`)."""
Records = dict[str, list[Record]]
Scenario = Callable[["Run"], None]

FENCE_SETTLE_S = 0.2


class Run:
    """One scenario against one broker."""

    def __init__(
        self, broker: Broker, clients: Clients, record: Callable[[Received], Record]
    ) -> None:
        self.broker = broker
        self._clients = clients
        self._record = record
        self.named: dict[str, PahoClient] = {}
        self._earlier: dict[str, list[Received]] = {}
        self.session_present: dict[str, list[bool]] = {}

    def client(self, name: str, protocol: str, **options: Any) -> PahoClient:
        """A connected client whose client id is ``name`` and whose deliveries are recorded.

        If ``name`` was opened before, its earlier connection must have closed; the records of
        this connection follow those of the earlier ones."""
        previous = self.named.get(name)
        if previous is not None:
            assert not previous.is_connected, f"{name}: close it before opening it again"
            self._earlier.setdefault(name, []).extend(previous.messages)
        client = self._clients.unconnected(self.broker, protocol, client_id=name, **options)
        connack = client.connect()
        if options.get("clean") is False:
            self.session_present.setdefault(name, []).append(connack.session_present)
        self.named[name] = client
        client.subscribe(f"fence/{name}", 1)
        return client

    def fence(self) -> None:
        control = self._clients(self.broker, "3.1.1", client_id="fencecontrol")
        connected = {name: c for name, c in self.named.items() if c.is_connected}
        for name in connected:
            control.publish(f"fence/{name}", "fence", 1)
        for name, c in connected.items():
            c.wait_until(has_topic(f"fence/{name}"), f"fence/{name}")
        time.sleep(FENCE_SETTLE_S)
        control.disconnect()

    def records(self) -> Records:
        return {
            name: [
                self._record(m)
                for m in [*self._earlier.get(name, []), *c.messages]
                if not m.topic.startswith("fence/")
            ]
            for name, c in self.named.items()
        }


@dataclass
class Outcome:
    """What one broker did in a scenario."""

    records: Records
    session_present: dict[str, list[bool]]
    """Per client opened with ``clean=False``: Session Present in each of its CONNACKs."""


def has_topic(topic: str) -> Callable[[list[Received]], bool]:
    """A `PahoClient.wait_until` predicate: some message on ``topic`` has arrived."""
    return lambda messages: any(m.topic == topic for m in messages)


def wait_quietly(
    client: PahoClient, ready: Callable[[list[Received]], bool], timeout: float = WAIT_S
) -> bool:
    """Waits for an event a broker might wrongly never produce; the records will show it."""
    try:
        client.wait_until(ready, "event", timeout)
    except AssertionError:
        return False
    return True


def run_scenario(
    scenario: Scenario,
    broker: Broker,
    clients: Clients,
    record: Callable[[Received], Record] = Received.record,
) -> Outcome:
    """Runs ``scenario`` against ``broker``, recording each delivery as ``record(message)``;
    closes its clients; returns what happened."""
    run = Run(broker, clients, record)
    scenario(run)
    run.fence()
    outcome = Outcome(run.records(), run.session_present)
    clients.close_all()
    return outcome


def by_topic(records: Records) -> Records:
    """Sorts each subscriber's records by topic, keeping arrival order within a topic."""
    return {name: sorted(recs, key=lambda r: r[0]) for name, recs in records.items()}


def merge_copies(records: Records) -> Records:
    """Folds the copies a server MAY send for overlapping subscriptions into one record at the
    highest QoS [MQTT-3.3.5-1] (5.0: [MQTT-3.3.4-2]). Payloads are unique in the scenarios
    that use this, so (topic, payload) names a message."""
    merged: Records = {}
    for name, recs in records.items():
        first: dict[tuple[str, str], Record] = {}
        for topic, payload, qos, retain in recs:
            seen = first.get((topic, payload))
            if seen is None or qos > seen[2]:
                first[(topic, payload)] = (topic, payload, qos, retain or bool(seen and seen[3]))
        merged[name] = list(first.values())
    return by_topic(merged)


def copies(records: Records, name: str) -> dict[tuple[str, str], int]:
    """How many copies of each message subscriber ``name`` received."""
    counts: dict[tuple[str, str], int] = {}
    for topic, payload, _qos, _retain in records[name]:
        counts[(topic, payload)] = counts.get((topic, payload), 0) + 1
    return counts


def differential(
    scenario: Scenario,
    broker: Broker,
    mosquitto_ref: Broker,
    clients: Clients,
    normalise: Callable[[Records], Records] = by_topic,
    record: Callable[[Received], Record] = Received.record,
) -> Outcome:
    """Runs the scenario on both brokers, asserts that the normalised records and the Session
    Present flags are equal, and returns what the broker under test did, not normalised."""
    reference = run_scenario(scenario, mosquitto_ref, clients, record)
    under_test = run_scenario(scenario, broker, clients, record)
    assert normalise(under_test.records) == normalise(reference.records), (
        f"{broker.kind} (left) differs from mosquitto (right)"
    )
    assert under_test.session_present == reference.session_present, (
        f"Session Present: {broker.kind} (left) differs from mosquitto (right)"
    )
    return under_test
