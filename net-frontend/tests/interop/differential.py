"""Runs one scripted scenario against two brokers and returns what each subscriber received.

A scenario is a function of a `Run`. It opens named clients with `Run.client`, subscribes and
publishes through them. When it returns, `Run.fence` publishes one QoS 1 message per connected
client on `fence/<name>` and waits for each to arrive, so every earlier delivery on that
connection has arrived too; a short settle then catches anything a broker reordered. Fence
messages are dropped from the records.

A record is ``(topic, payload, qos, retain)`` in arrival order. The spec orders deliveries only
per topic and QoS [MQTT-4.6.0-6] (5.0: [MQTT-4.6.0-5]), so `by_topic` (the default
normalisation) sorts records by topic and keeps the arrival order within each topic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from conftest import Broker, Clients
from paho_client import WAIT_S, PahoClient, Received

Record = tuple[str, str, int, bool]
Records = dict[str, list[Record]]
Scenario = Callable[["Run"], None]

FENCE_SETTLE_S = 0.2


class Run:
    """One scenario against one broker."""

    def __init__(self, broker: Broker, clients: Clients) -> None:
        self.broker = broker
        self._clients = clients
        self.named: dict[str, PahoClient] = {}

    def client(self, name: str, protocol: str, **options: Any) -> PahoClient:
        """A connected client whose client id is ``name`` and whose deliveries are recorded."""
        client = self._clients(self.broker, protocol, client_id=name, **options)
        client.subscribe(f"fence/{name}", 1)
        self.named[name] = client
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
            name: [m.record() for m in c.messages if not m.topic.startswith("fence/")]
            for name, c in self.named.items()
        }


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


def run_scenario(scenario: Scenario, broker: Broker, clients: Clients) -> Records:
    """Runs ``scenario`` against ``broker``; closes its clients; returns the records."""
    run = Run(broker, clients)
    scenario(run)
    run.fence()
    records = run.records()
    clients.close_all()
    return records


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
