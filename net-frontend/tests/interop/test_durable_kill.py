"""Kill tests of mqlite's durable mode (issue #15): ``mqlite --persistence DIR`` is killed with
SIGKILL at random moments and started again on the same directory, and real clients check that
nothing it acknowledged was lost.

The guarantee under test: a PUBACK / PUBREC, a SUBACK and the CONNACK of a new persistent
session are sent only once what they acknowledge is durable, so after ``kill -9`` and a restart
every acknowledged message reaches its persistent subscribers, in order, at most once at QoS 2;
retained messages are as acknowledged; sessions keep their subscriptions and wills; expiry
counts the time the broker was down. Messages sent but not acknowledged before the kill may
arrive or not.

The random moments come from a seed, printed with each test (shown on failure); set
``DURABLE_KILL_SEED`` to replay one. mqlite only: skipped when the broker under test is
Mosquitto, whose persistence is a periodic snapshot that a kill loses by design.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from conftest import Clients, broker_kind_under_test
from durable_support import (
    LONG_SESSION_S,
    Collector,
    DurableBroker,
    Flood,
    Got,
    check_stream,
    numbered,
)
from paho_client import publish_properties, unique_client_id

pytestmark = pytest.mark.skipif(
    broker_kind_under_test() != "mqlite",
    reason="tests mqlite's durable mode (--persistence); Mosquitto persists by snapshot",
)

# The load tests queue every message for an offline subscriber: room for all of them.
BIG_QUEUES = """
[broker]
max_queued_messages = 1000000
max_queued_bytes = 268435456
"""


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[DurableBroker]:
    """A durable mqlite on a fresh store directory, running; stopped at teardown."""
    b = DurableBroker(tmp_path / "durable", BIG_QUEUES)
    b.start()
    yield b
    b.finish()


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """The test's random source, seeded from ``DURABLE_KILL_SEED`` or at random, and printed."""
    seed = int(os.environ.get("DURABLE_KILL_SEED") or random.randrange(1 << 32))
    print(f"{request.node.name}: seed {seed} (replay with DURABLE_KILL_SEED={seed})")
    return random.Random(seed)


# 1. QoS 1 and QoS 2 under load, several kills


ROUNDS = 4
PUBLISHERS = 2
PER_ROUND = 2500
"""Messages one publisher sends at most in one round; the kill comes before."""


# Found here: a PUBCOMP sent before the release of its incoming QoS 2 id was durable (stale
# ids after a kill filled the receive maximum: "connection lost before N acks"), and
# seconds-long pauses (held output written only once no hold was left; other connections'
# records holding a subscriber's drain). See net-frontend/src/worker/durable.rs.
@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("qos", "online", "protocol", "resume"),
    [
        pytest.param(1, False, "3.1.1", False, id="qos1-offline-3.1.1"),
        pytest.param(1, True, "5.0", False, id="qos1-online-5.0"),
        pytest.param(2, False, "5.0", False, id="qos2-offline-5.0"),
        pytest.param(2, True, "3.1.1", False, id="qos2-online-3.1.1"),
        pytest.param(1, False, "5.0", True, id="qos1-offline-5.0-publishers-resume"),
        # Found a loss here once in 20 runs: a kill between the incoming QoS 2 id's record and
        # the routing left the id alone, so the resend was taken as a duplicate. Fixed by
        # tagging the deliveries with the id (core/src/journal/records.rs, InboundTag).
        pytest.param(2, True, "3.1.1", True, id="qos2-online-3.1.1-publishers-resume"),
    ],
)
def test_acknowledged_messages_survive_kills_under_load(
    durable: DurableBroker,
    rng: random.Random,
    qos: int,
    online: bool,
    protocol: str,
    resume: bool,
) -> None:
    """Publishers send numbered messages as fast as they can while the broker is killed at a
    random moment, ``ROUNDS`` times, each restart on the same store. The persistent subscriber
    (``online``: connected through the load and the kills, reconnecting after each restart;
    otherwise away until the end) then has every message its publishers got a PUBACK /
    PUBCOMP for, per publisher in order [MQTT-4.6.0-6], duplicates only at QoS 1
    [MQTT-4.3.3-*], with Session Present=1 after every restart.

    Publishers have clean sessions (a new one continues the numbering after each restart), or
    with ``resume`` persistent ones that reconnect and complete what was in flight: paho sends
    PUBLISH again with DUP, or PUBREL for a QoS 2 message the broker had acknowledged with
    PUBREC, whose packet id the broker must still know [MQTT-4.3.3-*]. Then every message
    handed to paho is acknowledged in the end, and must arrive (at QoS 2 exactly once)."""
    topic = f"load/q{qos}"
    sub = Collector(unique_client_id("sub"), protocol)
    names = [f"p{i}" for i in range(PUBLISHERS)]
    floods: dict[str, Flood] = {}
    sent: dict[str, set[int]] = {p: set() for p in names}
    acked: dict[str, set[int]] = {p: set() for p in names}
    timeline: list[str] = []

    def new_flood(p: str, first: int) -> Flood:
        return Flood(
            durable.host,
            durable.port,
            client_id=unique_client_id(p),
            qos=qos,
            message=lambda n: (f"{topic}/{p}", numbered(p, n).encode(), False),
            first=first,
            limit=PER_ROUND,
            protocol=protocol,
            persistent=resume,
        ).start()

    def tally() -> None:
        for p, flood in floods.items():
            sent[p].update(s.number for s in flood.sent)
            acked[p].update(flood.acked_numbers())

    try:
        assert not sub.connect(durable), "a new session"
        sub.subscribe(f"{topic}/#", qos)
        if not online:
            sub.disconnect()
        for round_ in range(1, ROUNDS + 1):
            if round_ > 1:
                durable.start()
                if online:
                    assert sub.connect(durable), f"round {round_}: the subscriber's session lost"
            # Counted before the floods start: a fast broker acknowledges hundreds before
            # the next line runs, and the moment must stay within this round's messages.
            base = len(floods[names[0]].acked_numbers()) if resume and floods else 0
            if round_ == 1 or not resume:
                floods = {p: new_flood(p, floods[p].next_number if floods else 0) for p in names}
            else:
                for p, flood in floods.items():
                    assert flood.resume(durable, PER_ROUND), f"round {round_}: {p}'s session lost"
            # The random moment: once the first publisher has this many more acknowledged,
            # with both publishers (and the online subscriber) in full flow.
            moment = rng.randrange(PER_ROUND // 10, PER_ROUND * 9 // 10)
            began = time.monotonic()
            floods[names[0]].wait_acks(base + moment)
            durable.kill()
            elapsed = time.monotonic() - began
            for flood in floods.values():
                flood.stop(close=not resume)
            tally()
            if online:
                sub.wait_closed()
            timeline.append(
                f"round {round_}: killed at +{moment} acks of {names[0]} ({elapsed:.3f} s); "
                + "in all "
                + ", ".join(f"{p} sent {len(sent[p])} ({len(acked[p])} acked)" for p in names)
                + f"; subscriber had {len(sub.snapshot())}"
            )
        durable.start()
        if resume:
            for p, flood in floods.items():
                assert flood.resume(durable, 0), f"after the last restart: {p}'s session lost"
                flood.wait_done()
            tally()
            timeline.append("resumed: " + ", ".join(f"{p} {len(acked[p])} acked" for p in names))
            assert acked == sent, "every message is acknowledged once its publisher resumed"
        print("\n".join(timeline))
        assert sub.connect(durable), "after the last restart: the subscriber's session lost"

        # Incremental: it runs under the collector's lock at every message, so a scan of
        # everything received each time made the drain quadratic (seconds for 10,000
        # messages, the paho thread waiting for the lock), not the broker.
        missing = {p: set(acked[p]) for p in names}
        seen = [0]

        def has_all_acked(got: list[Got]) -> bool:
            for g in got[seen[0] :]:
                p, _, n = g.payload.partition(":")
                if p in missing and n.isdigit():
                    missing[p].discard(int(n))
            seen[0] = len(got)
            return not any(missing.values())

        try:
            sub.wait_until(has_all_acked, "every acknowledged message", timeout=60)
        except AssertionError:
            pass  # check_stream says which ones are missing
        time.sleep(0.5)  # duplicates (QoS 2) or stragglers would come now
        got = sub.snapshot()
        problems = check_stream(got, acked, sent, qos)
        assert not problems, (
            "\n".join(problems) + "\n" + "\n".join(timeline) + f"\n{len(got)} received"
        )
        assert all(acked.values()), "a publisher had nothing acknowledged"
    finally:
        for flood in floods.values():
            flood.stop()
        sub.close()


# 2. Retained messages


RETAINED_TOPICS = [f"ret/t{i}" for i in range(5)]


@pytest.mark.timeout(60)
def test_retained_messages_are_as_acknowledged_after_kills(
    durable: DurableBroker, clients: Clients, rng: random.Random
) -> None:
    """A publisher sets, replaces and clears (empty payload) retained messages on a few topics
    at QoS 1 as fast as it can; the broker is killed at a random moment. After each restart a
    new subscriber gets, per topic, the state after the last acknowledged operation or after
    one of the unacknowledged ones that followed it (none if that was a clear)
    [MQTT-3.3.1-5] [MQTT-3.3.1-10] [MQTT-3.3.1-11]. The last round waits for every
    acknowledgement before the kill: then the state is exactly the last one."""
    known: dict[str, str | None] = dict.fromkeys(RETAINED_TOPICS)
    allowed: dict[str, set[str | None]] = {t: {None} for t in RETAINED_TOPICS}
    first = 0
    rounds = 4
    for round_ in range(1, rounds + 1):
        if round_ > 1:
            durable.start()
            observed = _retained_state(durable, clients)
            _check_retained(observed, allowed, round_ - 1)
            known = observed
        last = round_ == rounds
        count = 300 if last else 3000
        ops = [
            (rng.choice(RETAINED_TOPICS), "" if rng.random() < 0.25 else f"v{first + i}")
            for i in range(count)
        ]

        def op(
            n: int, ops: list[tuple[str, str]] = ops, base: int = first
        ) -> tuple[str, bytes, bool]:
            topic, payload = ops[n - base]
            return topic, payload.encode(), True

        flood = Flood(
            durable.host,
            durable.port,
            client_id=unique_client_id("ret"),
            qos=1,
            message=op,
            first=first,
            limit=count,
        ).start()
        try:
            if last:
                flood.wait_done()
                moment = "when all were acknowledged"
            else:
                # The random moment: after this many acknowledgements, in full flow.
                acks = rng.randrange(50, count - 500)
                flood.wait_acks(acks)
                moment = f"at {acks} acks"
            durable.kill()
        finally:
            flood.stop()
        print(
            f"round {round_}: killed {moment}; "
            f"{len(flood.sent)} sent, {len(flood.acked_numbers())} acked"
        )
        allowed = _allowed_retained(known, flood)
        first += count
    durable.start()
    observed = _retained_state(durable, clients)
    _check_retained(observed, allowed, rounds)
    assert all(len(a) == 1 for a in allowed.values()), "the last round was fully acknowledged"


def _allowed_retained(known: dict[str, str | None], flood: Flood) -> dict[str, set[str | None]]:
    """Per topic, the states the store may hold after the kill: after its last acknowledged
    operation or any later one (operations apply in order), or ``known`` if none was
    acknowledged."""
    allowed: dict[str, set[str | None]] = {}
    for topic in RETAINED_TOPICS:
        states: list[str | None] = [known[topic]]
        acked_at = 0
        for s in flood.sent:
            if s.topic != topic:
                continue
            states.append(s.payload.decode() or None)
            if flood.is_acked(s):
                acked_at = len(states) - 1
        allowed[topic] = set(states[acked_at:])
    return allowed


def _retained_state(durable: DurableBroker, clients: Clients) -> dict[str, str | None]:
    """The retained message of each topic, as a new subscriber gets them."""
    sub = clients(durable, "5.0")
    sub.subscribe("ret/#", 1)
    got = sub.settle(0.5)
    sub.close()
    state: dict[str, str | None] = dict.fromkeys(RETAINED_TOPICS)
    topics = [m.topic for m in got]
    assert len(topics) == len(set(topics)), f"a topic's retained message twice: {topics}"
    for m in got:
        assert m.retain, f"{m.record()} without RETAIN=1"
        state[m.topic] = m.payload.decode()
    return state


def _check_retained(
    observed: dict[str, str | None], allowed: dict[str, set[str | None]], round_: int
) -> None:
    wrong = {
        t: (observed[t], sorted(allowed[t], key=str))
        for t in RETAINED_TOPICS
        if observed[t] not in allowed[t]
    }
    assert not wrong, f"after the kill of round {round_}, topic: (got, allowed): {wrong}"


# 3. Sessions: subscriptions and wills


@pytest.mark.timeout(30)
def test_session_subscriptions_survive_kill(durable: DurableBroker, clients: Clients) -> None:
    """A 5.0 session with subscriptions of several options, connected when the broker is
    killed, resumes after the restart with Session Present=1 [MQTT-3.2.2-2]; the messages
    published while it was away are queued and delivered with their Subscription Identifiers
    [MQTT-3.3.4-3]; No Local [MQTT-3.8.3-3] and Retain As Published [MQTT-3.3.1-12] still hold;
    a 3.1.1 session too."""
    sid = unique_client_id("s5")
    s3id = unique_client_id("s3")
    s5 = clients(durable, "5.0", client_id=sid, clean=True, session_expiry=LONG_SESSION_S)
    assert s5.subscribe("sub/a", 1, no_local=True, subscription_identifier=7) == [1]
    assert s5.subscribe("sub/b/+", 2, retain_as_published=True, subscription_identifier=8) == [2]
    assert s5.subscribe("sub/c/#", 1) == [1]
    s3 = clients(durable, "3.1.1", client_id=s3id, clean=False)
    assert s3.subscribe([("sub/a", 1), ("sub/b/+", 2)]) == [1, 2]
    durable.kill()

    durable.start()
    pub = clients(durable, "5.0")
    pub.publish("sub/a", "a1", 1)
    pub.publish("sub/b/x", "b1", 2)
    pub.publish("sub/c/y/z", "c1", 1)
    pub.publish("sub/other", "o1", 1)
    s5 = clients.unconnected(
        durable, "5.0", client_id=sid, clean=False, session_expiry=LONG_SESSION_S
    )
    assert s5.connect().session_present, "the 5.0 session did not survive the kill"
    got = s5.wait_for(3)
    by_topic = {m.topic: m for m in got}
    assert sorted(m.record() for m in got) == [
        ("sub/a", "a1", 1, False),
        ("sub/b/x", "b1", 2, False),
        ("sub/c/y/z", "c1", 1, False),
    ]
    assert by_topic["sub/a"].properties.get("SubscriptionIdentifier") == [7]
    assert by_topic["sub/b/x"].properties.get("SubscriptionIdentifier") == [8]
    assert "SubscriptionIdentifier" not in by_topic["sub/c/y/z"].properties
    s5.take()
    # No Local: its own message is not sent back; the fence from another client is.
    s5.publish("sub/a", "own", 1)
    pub.publish("sub/a", "fence", 1)
    assert [m.record() for m in s5.wait_for(1)] == [("sub/a", "fence", 1, False)]
    # Retain As Published: a live retained message keeps RETAIN=1.
    pub.publish("sub/b/y", "kept", 1, retain=True)
    assert [m.record() for m in s5.wait_for(2)][1] == ("sub/b/y", "kept", 1, True)

    s3 = clients.unconnected(durable, "3.1.1", client_id=s3id, clean=False)
    assert s3.connect().session_present, "the 3.1.1 session did not survive the kill"
    got3 = s3.wait_for(5)
    # Order is kept per topic only [MQTT-4.6.0-6]; live messages are forwarded with RETAIN=0.
    assert sorted(m.record() for m in got3) == [
        ("sub/a", "a1", 1, False),
        ("sub/a", "fence", 1, False),
        ("sub/a", "own", 1, False),
        ("sub/b/x", "b1", 2, False),
        ("sub/b/y", "kept", 1, False),
    ]
    assert [m.payload for m in got3 if m.topic == "sub/a"] == [b"a1", b"own", b"fence"]


@pytest.mark.timeout(30)
def test_delayed_will_runs_out_while_broker_is_down(
    durable: DurableBroker, clients: Clients
) -> None:
    """A 5.0 client whose connection broke leaves a will with a delay of 3 s; the broker is
    killed before the delay ends and stays down 3.5 s: the will is published once, at the
    restart (a will whose delay runs out while the broker is down is published at start, not
    3 s later) and reaches a persistent watcher [MQTT-3.1.2-8]; another client's will with a
    delay of a minute is not published when that client comes back in time [MQTT-3.1.3-9]."""
    wid = unique_client_id("w")
    watcher = clients(durable, "5.0", client_id=wid, clean=True, session_expiry=LONG_SESSION_S)
    watcher.subscribe("will/#", 1)
    gone_id, back_id = unique_client_id("gone"), unique_client_id("back")
    gone = clients(
        durable,
        "5.0",
        client_id=gone_id,
        session_expiry=LONG_SESSION_S,
        will=("will/gone", b"gone", 1, False),
        will_properties=will_delay(3),
    )
    clients(
        durable,
        "5.0",
        client_id=back_id,
        session_expiry=LONG_SESSION_S,
        will=("will/back", b"back", 1, False),
        will_properties=will_delay(60),
    )
    gone.kill()  # the connection breaks: the 3 s delay starts
    # A durable step after it (SUBACK waits for the store): the broker has seen the break.
    watcher.subscribe("will/barrier", 1)
    assert watcher.messages == [], "the will came before its delay"
    durable.kill()
    time.sleep(3.5)
    durable.start()
    started = time.monotonic()
    back = clients.unconnected(
        durable, "5.0", client_id=back_id, clean=False, session_expiry=LONG_SESSION_S
    )
    assert back.connect().session_present
    watcher = clients.unconnected(
        durable, "5.0", client_id=wid, clean=False, session_expiry=LONG_SESSION_S
    )
    assert watcher.connect().session_present
    assert [m.record() for m in watcher.wait_for(1)] == [("will/gone", "gone", 1, False)]
    waited = time.monotonic() - started
    assert waited < 1.5, f"the will came {waited:.2f} s after the restart, not at it"
    assert [m.record() for m in watcher.settle(1.0)] == [("will/gone", "gone", 1, False)]


@pytest.mark.timeout(30)
def test_will_of_a_client_connected_at_the_kill_is_published(
    durable: DurableBroker, clients: Clients
) -> None:
    """The kill closes the connections of persistent sessions without DISCONNECT: their wills
    are intact and published after the restart, once their delay has passed [MQTT-3.1.2-8]
    (3.1.1: at once; 5.0: after a Will Delay Interval of 1 s). A persistent watcher gets each
    once."""
    wid = unique_client_id("w")
    watcher = clients(durable, "5.0", client_id=wid, clean=True, session_expiry=LONG_SESSION_S)
    watcher.subscribe("will/#", 1)
    clients(
        durable,
        "3.1.1",
        client_id=unique_client_id("c3"),
        clean=False,
        will=("will/v3", b"v3", 1, False),
    )
    clients(
        durable,
        "5.0",
        client_id=unique_client_id("c5"),
        session_expiry=LONG_SESSION_S,
        will=("will/v5", b"v5", 1, False),
        will_properties=will_delay(1),
    )
    durable.kill()
    durable.start()
    watcher = clients.unconnected(
        durable, "5.0", client_id=wid, clean=False, session_expiry=LONG_SESSION_S
    )
    assert watcher.connect().session_present
    expected = [("will/v3", "v3", 1, False), ("will/v5", "v5", 1, False)]
    assert sorted(m.record() for m in watcher.wait_for(2, timeout=5)) == expected
    assert sorted(m.record() for m in watcher.settle()) == expected


def will_delay(delay_s: int) -> Properties:
    props = Properties(PacketTypes.WILLMESSAGE)
    props.WillDelayInterval = delay_s
    return props


# 4. Expiry counts the downtime


@pytest.mark.timeout(30)
def test_expiry_counts_the_downtime(durable: DurableBroker, clients: Clients) -> None:
    """Session expiry and message expiry count the time the broker was down (wall clock): a
    5.0 session with a 3 s Session Expiry Interval, offline across a 5 s outage, is gone at
    restart (Session Present=0) [MQTT-3.1.2-23]; a session of an hour survives, without the
    queued message whose 3 s Message Expiry Interval ran out meanwhile and with the other's
    interval counted down by the outage [MQTT-3.3.2-5] [MQTT-3.3.2-6]."""
    short_id, long_id = unique_client_id("short"), unique_client_id("long")
    short = clients(durable, "5.0", client_id=short_id, clean=True, session_expiry=3)
    short.subscribe("exp/t", 1)
    short.disconnect()
    long_ = clients(durable, "5.0", client_id=long_id, clean=True, session_expiry=LONG_SESSION_S)
    long_.subscribe("exp/t", 1)
    long_.disconnect()
    pub = clients(durable, "5.0")
    pub.publish("exp/t", "expires", 1, properties=publish_properties(MessageExpiryInterval=3))
    pub.publish("exp/t", "lasts", 1, properties=publish_properties(MessageExpiryInterval=60))
    durable.kill()
    time.sleep(5.0)
    durable.start()
    long_ = clients.unconnected(
        durable, "5.0", client_id=long_id, clean=False, session_expiry=LONG_SESSION_S
    )
    assert long_.connect().session_present, "the session of an hour did not survive the kill"
    [m] = long_.wait_for(1)
    assert m.record() == ("exp/t", "lasts", 1, False), "the expired message was delivered"
    remaining = m.properties["MessageExpiryInterval"]
    assert remaining <= 56, f"Message Expiry Interval {remaining} s: the outage was not counted"
    assert [r.record() for r in long_.settle()] == [("exp/t", "lasts", 1, False)]
    short = clients.unconnected(durable, "5.0", client_id=short_id, clean=False, session_expiry=3)
    assert not short.connect().session_present, "the 3 s session outlived a 5 s outage"
    assert short.settle(0.2) == []
