"""Differential tests: the same scenario against the broker under test and a reference Mosquitto.

Each test asserts that both brokers delivered the same records (after the normalisation the spec
allows, see `differential`) and that the broker under test delivered what the spec requires.
Statement ids cite MQTT 3.1.1 unless marked (5.0).
"""

from __future__ import annotations

import functools

import pytest

from conftest import Broker, Clients
from differential import (
    Records,
    Run,
    by_topic,
    copies,
    differential,
    has_topic,
    merge_copies,
    wait_quietly,
)
from paho_client import ALL_VERSIONS

ORDERING_MESSAGES = 1000
EXACTLY_ONCE_MESSAGES = 200


def overlapping(run: Run, version: str) -> None:
    sub = run.client("sub", version)
    sub.subscribe("ov/#", 1)
    sub.subscribe("ov/+", 2)
    sub.subscribe("ov/a", 0)
    run.client("other", version).subscribe("ov/+", 0)
    pub = run.client("pub", version)
    for topic, payload, qos in [
        ("ov/a", "a2", 2),
        ("ov/a", "a1", 1),
        ("ov/a", "a0", 0),
        ("ov/b/c", "bc2", 2),
        ("ov/b", "b1", 1),
    ]:
        pub.publish(topic, payload, qos)


def without_qos(records: Records) -> Records:
    """Copies folded, QoS dropped: what Mosquitto gets right for overlapping 3.x subscriptions.

    Sorted, because messages published at different QoS need not keep their order: the order
    rule covers one topic at one QoS [MQTT-4.6.0-6], and with QoS dropped that is lost."""
    return {
        name: sorted((t, p, 0, r) for t, p, _q, r in recs)
        for name, recs in merge_copies(records).items()
    }


def merged_by_topic_and_qos(records: Records) -> Records:
    """Copies folded, sorted by topic and QoS, arrival order kept within each: the order rule
    covers one topic at one QoS [MQTT-4.6.0-6] (5.0: [MQTT-4.6.0-5]). Here that matters because
    paho hands a QoS 2 message over only at PUBREL, which a QoS 1 message published after it
    can overtake when the broker sends one copy at QoS 2."""
    return {
        name: sorted(recs, key=lambda r: (r[0], r[2]))
        for name, recs in merge_copies(records).items()
    }


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_overlapping_subscriptions(
    broker: Broker, mosquitto_ref: Broker, clients: Clients, version: str
) -> None:
    """A message matching several subscriptions of one client is delivered at the highest of
    their QoS; the server MAY also send one more copy per further subscription
    [MQTT-3.3.5-1] (5.0: [MQTT-3.3.4-2]). Mosquitto sends one copy per subscription in 5.0,
    so copies are folded before comparing."""
    # Spec over Mosquitto [MQTT-3.3.5-1]: before 5.0, Mosquitto 2.0.11 sends one copy at the
    # QoS of one of the matching subscriptions (`a2` at QoS 0 here, though `ov/+` was granted
    # QoS 2), so for 3.1 and 3.1.1 the brokers are compared without QoS and only the broker
    # under test is checked against the spec.
    spec_over_mosquitto = version != "5.0"
    raw = differential(
        functools.partial(overlapping, version=version),
        broker,
        mosquitto_ref,
        clients,
        without_qos if spec_over_mosquitto else merged_by_topic_and_qos,
    ).records
    if spec_over_mosquitto and broker.is_mosquitto:
        pytest.skip(
            "[MQTT-3.3.5-1]: Mosquitto delivers overlapping 3.x subscriptions below the highest "
            "granted QoS"
        )
    for message, count in copies(raw, "sub").items():
        assert count <= 3, f"{message}: {count} copies for 3 subscriptions at most"
    got = merged_by_topic_and_qos(raw)
    assert got["sub"] == [
        ("ov/a", "a0", 0, False),
        ("ov/a", "a1", 1, False),
        ("ov/a", "a2", 2, False),
        ("ov/b", "b1", 1, False),
        ("ov/b/c", "bc2", 1, False),
    ]
    assert got["other"] == [
        ("ov/a", "a2", 0, False),
        ("ov/a", "a1", 0, False),
        ("ov/a", "a0", 0, False),
        ("ov/b", "b1", 0, False),
    ]
    assert got["pub"] == []


def dollar_topics(run: Run, version: str) -> None:
    run.client("hash", version).subscribe("#", 1)
    run.client("plus", version).subscribe("+/status", 1)
    run.client("dollar", version).subscribe("$app/#", 1)
    pub = run.client("pub", version)
    pub.publish("$app/status", "dollar", 1)
    pub.publish("app/status", "plain", 1)


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_dollar_topics_not_matched_by_leading_wildcards(
    broker: Broker, mosquitto_ref: Broker, clients: Clients, version: str
) -> None:
    """Filters starting with `#` or `+` do not match topic names starting with `$`
    [MQTT-4.7.2-1]; a filter starting with `$app` does."""
    scenario = functools.partial(dollar_topics, version=version)
    got = by_topic(differential(scenario, broker, mosquitto_ref, clients).records)
    assert got["hash"] == [("app/status", "plain", 1, False)]
    assert got["plus"] == [("app/status", "plain", 1, False)]
    assert got["dollar"] == [("$app/status", "dollar", 1, False)]


def sys_topics(run: Run, version: str) -> None:
    watcher = run.client("sys", version)
    watcher.subscribe("$SYS/broker/version", 0)
    # Both brokers publish `$SYS/broker/version` retained when they start; once it has
    # arrived here, the subscriptions below would get it too if their filters matched it.
    wait_quietly(watcher, has_topic("$SYS/broker/version"))
    run.client("hash", version).subscribe("#", 1)
    run.client("plus", version).subscribe("+/broker/#", 1)
    run.client("pub", version).publish("app/broker/version", "plain", 1)


def first_sys_record(records: Records) -> Records:
    """The brokers' `$SYS` payloads differ (each names itself), and a broker may publish the
    topic again while the test runs: keep the first `$SYS` record, without its payload."""
    first = [(t, "(the broker's own)", q, r) for t, _p, q, r in records["sys"][:1]]
    return by_topic({**records, "sys": first})


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_sys_topics_not_matched_by_leading_wildcards(
    broker: Broker, mosquitto_ref: Broker, clients: Clients, version: str
) -> None:
    """The broker's own retained `$SYS/...` messages are not sent for `#` or `+/broker/#`
    [MQTT-4.7.2-1], only for a filter that starts with `$SYS` (section 4.7.2)."""
    scenario = functools.partial(sys_topics, version=version)
    got = first_sys_record(
        differential(scenario, broker, mosquitto_ref, clients, first_sys_record).records
    )
    assert got["sys"] == [("$SYS/broker/version", "(the broker's own)", 0, True)]
    assert got["hash"] == [("app/broker/version", "plain", 1, False)]
    assert got["plus"] == [("app/broker/version", "plain", 1, False)]


def retained_wildcards(run: Run, version: str) -> None:
    pub = run.client("pub", version)
    pub.publish("r/a", "A", 0, retain=True)
    pub.publish("r/b", "B", 1, retain=True)
    pub.publish("r/c/d", "CD", 2, retain=True)
    pub.publish("r/e", "E", 1)
    pub.publish("r/f", "F", 1, retain=True)
    pub.publish("r/f", "", 1, retain=True)
    run.client("plus", version).subscribe("r/+", 2)
    run.client("hash", version).subscribe("r/#", 1)
    run.client("leaf", version).subscribe("r/c/+", 0)
    pub.publish("r/b", "B2", 2, retain=True)


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_retained_messages_with_wildcard_subscriptions(
    broker: Broker, mosquitto_ref: Broker, clients: Clients, version: str
) -> None:
    """A new wildcard subscription receives every matching retained message with RETAIN=1
    [MQTT-3.3.1-6] [MQTT-3.3.1-8] at min(stored QoS, granted QoS) [MQTT-3.8.4-6]; a cleared
    or never-retained topic sends nothing [MQTT-3.3.1-11] [MQTT-3.3.1-12]; a later retained
    publish reaches existing subscriptions with RETAIN=0 [MQTT-3.3.1-9]."""
    scenario = functools.partial(retained_wildcards, version=version)
    got = by_topic(differential(scenario, broker, mosquitto_ref, clients).records)
    assert got["plus"] == [
        ("r/a", "A", 0, True),
        ("r/b", "B", 1, True),
        ("r/b", "B2", 2, False),
    ]
    assert got["hash"] == [
        ("r/a", "A", 0, True),
        ("r/b", "B", 1, True),
        ("r/b", "B2", 1, False),
        ("r/c/d", "CD", 1, True),
    ]
    assert got["leaf"] == [("r/c/d", "CD", 0, True)]


def retain_handling(run: Run) -> None:
    pub = run.client("pub", "5.0")
    pub.publish("rh/t", "R", 1, retain=True)
    for handling in (0, 1, 2):
        sub = run.client(f"rh{handling}", "5.0")
        sub.subscribe("rh/t", 1, retain_handling=handling)
        sub.subscribe("rh/t", 1, retain_handling=handling)


def test_retain_handling(broker: Broker, mosquitto_ref: Broker, clients: Clients) -> None:
    """(5.0) Retain Handling 0 sends retained messages on every SUBSCRIBE, also one that
    replaces a subscription [MQTT-3.3.1-9] [MQTT-3.8.4-4]; 1 only when the subscription is
    new [MQTT-3.3.1-10]; 2 never [MQTT-3.3.1-11]."""
    got = by_topic(differential(retain_handling, broker, mosquitto_ref, clients).records)
    assert got["rh0"] == [("rh/t", "R", 1, True), ("rh/t", "R", 1, True)]
    assert got["rh1"] == [("rh/t", "R", 1, True)]
    assert got["rh2"] == []


def retain_as_published(run: Run) -> None:
    run.client("rap0", "5.0").subscribe("rap/#", 1, retain_as_published=False)
    run.client("rap1", "5.0").subscribe("rap/#", 1, retain_as_published=True)
    pub = run.client("pub", "5.0")
    pub.publish("rap/t", "retained", 1, retain=True)
    pub.publish("rap/t", "plain", 1)
    run.client("later", "5.0").subscribe("rap/#", 1, retain_as_published=False)


def test_retain_as_published(broker: Broker, mosquitto_ref: Broker, clients: Clients) -> None:
    """(5.0) Retain As Published 0 clears RETAIN on forwarded messages [MQTT-3.3.1-12], 1 keeps
    it as published [MQTT-3.3.1-13]; retained messages sent for a new subscription have RETAIN=1
    whatever the option (section 3.3.1.3)."""
    got = by_topic(differential(retain_as_published, broker, mosquitto_ref, clients).records)
    assert got["rap0"] == [("rap/t", "retained", 1, False), ("rap/t", "plain", 1, False)]
    assert got["rap1"] == [("rap/t", "retained", 1, True), ("rap/t", "plain", 1, False)]
    assert got["later"] == [("rap/t", "retained", 1, True)]


def qos_downgrade(run: Run, version: str) -> None:
    for qos in (0, 1, 2):
        run.client(f"sub{qos}", version).subscribe("dg/+", qos)
    pub = run.client("pub", version)
    for qos in (0, 1, 2):
        pub.publish(f"dg/{qos}", f"published at {qos}", qos)


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_qos_downgrade(
    broker: Broker, mosquitto_ref: Broker, clients: Clients, version: str
) -> None:
    """Each delivery is at min(publish QoS, granted QoS) [MQTT-3.8.4-6] (5.0: [MQTT-3.8.4-8])."""
    scenario = functools.partial(qos_downgrade, version=version)
    got = by_topic(differential(scenario, broker, mosquitto_ref, clients).records)
    for sub_qos in (0, 1, 2):
        assert got[f"sub{sub_qos}"] == [
            (f"dg/{q}", f"published at {q}", min(q, sub_qos), False) for q in (0, 1, 2)
        ]


def unsubscribe(run: Run, version: str) -> None:
    sub = run.client("sub", version)
    sub.subscribe("us/#", 1)
    sub.subscribe("us/a", 2)
    pub = run.client("pub", version)
    pub.publish("us/a", "both", 2)
    sub.unsubscribe("us/a")
    pub.publish("us/a", "hash only", 2)
    sub.unsubscribe("us/#", "us/never")
    pub.publish("us/a", "none", 2)


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_unsubscribe_stops_delivery(
    broker: Broker, mosquitto_ref: Broker, clients: Clients, version: str
) -> None:
    """UNSUBSCRIBE deletes exactly the named subscription [MQTT-3.10.4-1] and no new message
    is added for it [MQTT-3.10.4-2]; an unknown filter is acknowledged too [MQTT-3.10.4-5]."""
    scenario = functools.partial(unsubscribe, version=version)
    got = merge_copies(differential(scenario, broker, mosquitto_ref, clients, merge_copies).records)
    assert got["sub"] == [("us/a", "both", 2, False), ("us/a", "hash only", 1, False)]


def will_with_retain(run: Run, version: str) -> None:
    live = run.client("live", version)
    live.subscribe("wr/#", 1)
    dying = run.client("dying", version, will=("wr/status", b"offline", 1, True))
    dying.kill()
    wait_quietly(live, has_topic("wr/status"))
    run.client("later", version).subscribe("wr/#", 2)


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_will_with_retain(
    broker: Broker, mosquitto_ref: Broker, clients: Clients, version: str
) -> None:
    """A will with Will Retain is published on an unclean close [MQTT-3.1.2-8] as a retained
    message [MQTT-3.1.2-17] (5.0: [MQTT-3.1.2-15]): live subscribers get it with RETAIN=0
    [MQTT-3.3.1-9], later ones with RETAIN=1 [MQTT-3.3.1-8]."""
    scenario = functools.partial(will_with_retain, version=version)
    got = by_topic(differential(scenario, broker, mosquitto_ref, clients).records)
    assert got["live"] == [("wr/status", "offline", 1, False)]
    assert got["later"] == [("wr/status", "offline", 1, True)]


def ordering(run: Run, version: str, qos: int = 1, count: int = ORDERING_MESSAGES) -> None:
    """Two publishers send ``count`` messages in all at ``qos``, without waiting for acks."""
    run.client("sub", version).subscribe("ord/t", qos)
    publishers = [run.client(f"p{i}", version) for i in range(2)]
    sent = []
    for n in range(count // 2):
        for i, pub in enumerate(publishers):
            sent.append((pub, pub.publish("ord/t", f"p{i}-{n:04}", qos, wait=False)))
    for pub, info in sent:
        pub.wait_published(info)


def per_publisher(records: Records) -> Records:
    """Splits the subscriber's records by publisher (the payload prefix): the spec orders
    messages per publisher [MQTT-4.6.0-6], not across publishers."""
    return {
        prefix: [r for r in records["sub"] if r[1].startswith(prefix)] for prefix in ("p0", "p1")
    }


@pytest.mark.timeout(90)
@pytest.mark.parametrize("version", ["3.1.1", "5.0"])
def test_ordering_per_publisher(
    broker: Broker, mosquitto_ref: Broker, clients: Clients, version: str
) -> None:
    """Two publishers send 500 QoS 1 messages each on one topic; the subscriber receives every
    message once, each publisher's in publish order [MQTT-4.6.0-6] (5.0: [MQTT-4.6.0-5])."""
    scenario = functools.partial(ordering, version=version)
    got = per_publisher(
        differential(scenario, broker, mosquitto_ref, clients, per_publisher).records
    )
    for i in range(2):
        assert got[f"p{i}"] == [
            ("ord/t", f"p{i}-{n:04}", 1, False) for n in range(ORDERING_MESSAGES // 2)
        ]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_qos2_exactly_once_per_publisher(
    broker: Broker, mosquitto_ref: Broker, clients: Clients, version: str
) -> None:
    """Two publishers send 100 QoS 2 messages each, without waiting for PUBCOMP, to a
    subscriber granted QoS 2: each message arrives exactly once (section 4.3.3; no duplicates
    to onward recipients [MQTT-4.3.3-2] (5.0: [MQTT-4.3.3-10])), at QoS 2 [MQTT-3.8.4-6]
    (5.0: [MQTT-3.8.4-8]) and in publish order per publisher [MQTT-4.6.0-6]
    (5.0: [MQTT-4.6.0-5])."""
    scenario = functools.partial(ordering, version=version, qos=2, count=EXACTLY_ONCE_MESSAGES)
    got = per_publisher(
        differential(scenario, broker, mosquitto_ref, clients, per_publisher).records
    )
    for i in range(2):
        assert got[f"p{i}"] == [
            ("ord/t", f"p{i}-{n:04}", 2, False) for n in range(EXACTLY_ONCE_MESSAGES // 2)
        ]
