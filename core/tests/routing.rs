//! Routing: wildcards, `$` topics, shared subscriptions, no-local, subscription ids,
//! unsubscribe, hooks and the ways to receive.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{assert_empty, broker, connect, drain, recv};
use mqlite::{
    Broker, ClientInfo, Config, ConnectOptions, Hooks, PublishError, QoS, SubOptions,
    SubscribeError, TopicFilter, TopicName,
};

/// Wildcard subscriptions receive exactly the topics they match (MQTT §4.7).
#[test]
fn wildcards_route_to_matching_topics() {
    let broker = broker();
    let plus = connect(&broker, "plus");
    plus.subscribe("sensors/+/temperature", QoS::AtMostOnce)
        .unwrap();
    let hash = connect(&broker, "hash");
    hash.subscribe("sensors/#", QoS::AtMostOnce).unwrap();
    let publisher = connect(&broker, "pub");
    for topic in [
        "sensors/1/temperature",
        "sensors/1/humidity",
        "sensors",
        "other/1/temperature",
    ] {
        publisher
            .publish(topic, "x", QoS::AtMostOnce, false)
            .unwrap();
    }
    let topics = |c| drain(c).into_iter().map(|(t, _)| t).collect::<Vec<_>>();
    assert_eq!(topics(&plus), ["sensors/1/temperature"]);
    assert_eq!(
        topics(&hash),
        ["sensors/1/temperature", "sensors/1/humidity", "sensors"]
    );
}

/// `#` and `+/...` do not match `$` topics; `$SYS/#` does [MQTT-4.7.2-1].
#[test]
fn leading_wildcard_skips_dollar_topics() {
    let broker = broker();
    let all = connect(&broker, "all");
    all.subscribe("#", QoS::AtMostOnce).unwrap();
    all.subscribe("+/monitor/Clients", QoS::AtMostOnce).unwrap();
    let sys = connect(&broker, "sys");
    sys.subscribe("$SYS/#", QoS::AtMostOnce).unwrap();
    connect(&broker, "pub")
        .publish("$SYS/monitor/Clients", "x", QoS::AtMostOnce, false)
        .unwrap();
    assert_empty(&all);
    assert_eq!(drain(&sys).len(), 1);
}

/// A shared subscription delivers each message to exactly one member, round-robin
/// (MQTT 5.0 §4.8.2).
#[test]
fn shared_group_delivers_to_one_member() {
    let broker = broker();
    let members: Vec<_> = (0..3).map(|i| connect(&broker, &format!("m{i}"))).collect();
    for m in &members {
        m.subscribe("$share/workers/jobs/+", QoS::AtLeastOnce)
            .unwrap();
    }
    let other = connect(&broker, "other");
    other.subscribe("jobs/+", QoS::AtMostOnce).unwrap();
    let publisher = connect(&broker, "pub");
    for i in 0..30 {
        publisher
            .publish(&format!("jobs/{i}"), "x", QoS::AtLeastOnce, false)
            .unwrap();
    }
    let counts: Vec<usize> = members.iter().map(|m| drain(m).len()).collect();
    assert_eq!(counts.iter().sum::<usize>(), 30);
    assert!(counts.iter().all(|&n| n == 10), "round robin: {counts:?}");
    assert_eq!(
        drain(&other).len(),
        30,
        "a non-shared subscription gets every message"
    );
}

/// An offline member of a shared group is skipped while another is online.
#[test]
fn shared_group_skips_offline_member() {
    let broker = broker();
    let away = broker
        .connect(
            ConnectOptions::new("away")
                .clean_start(false)
                .session_expiry(mqlite::NEVER_EXPIRE),
        )
        .unwrap();
    away.subscribe("$share/g/t", QoS::AtLeastOnce).unwrap();
    away.disconnect();
    let here = connect(&broker, "here");
    here.subscribe("$share/g/t", QoS::AtLeastOnce).unwrap();
    let publisher = connect(&broker, "pub");
    for _ in 0..4 {
        publisher
            .publish("t", "x", QoS::AtLeastOnce, false)
            .unwrap();
    }
    assert_eq!(drain(&here).len(), 4);
}

/// No-local: a client's own publications are not delivered to its no-local subscription
/// [MQTT-3.8.3-3].
#[test]
fn no_local_skips_own_messages() {
    let broker = broker();
    let me = connect(&broker, "me");
    me.subscribe("chat", SubOptions::new(QoS::AtMostOnce).no_local(true))
        .unwrap();
    me.publish("chat", "mine", QoS::AtMostOnce, false).unwrap();
    assert_empty(&me);
    connect(&broker, "you")
        .publish("chat", "yours", QoS::AtMostOnce, false)
        .unwrap();
    assert_eq!(recv(&me).payload().as_ref(), b"yours");
}

/// A delivery carries the identifiers of every matching subscription (MQTT 5.0 §3.3.4).
#[test]
fn subscription_ids_are_carried() {
    let broker = broker();
    let sub = connect(&broker, "sub");
    sub.subscribe(
        "a/+",
        SubOptions::new(QoS::AtMostOnce).subscription_id(Some(7)),
    )
    .unwrap();
    sub.subscribe(
        "a/#",
        SubOptions::new(QoS::AtMostOnce).subscription_id(Some(9)),
    )
    .unwrap();
    connect(&broker, "pub")
        .publish("a/b", "x", QoS::AtMostOnce, false)
        .unwrap();
    let m = recv(&sub);
    let mut ids = m.subscription_ids().to_vec();
    ids.sort_unstable();
    assert_eq!(ids, [7, 9]);
}

/// After unsubscribe returns, no new message for that filter is delivered [MQTT-3.10.4-2].
#[test]
fn unsubscribe_stops_delivery() {
    let broker = broker();
    let sub = connect(&broker, "sub");
    sub.subscribe("t", QoS::AtMostOnce).unwrap();
    assert!(sub.unsubscribe("t").unwrap());
    assert!(!sub.unsubscribe("t").unwrap());
    connect(&broker, "pub")
        .publish("t", "x", QoS::AtMostOnce, false)
        .unwrap();
    assert_empty(&sub);
}

/// One subscribe call with several filters gives one result per filter, in order
/// [MQTT-3.8.4-5]; a bad filter does not stop the others.
#[test]
fn subscribe_many_reports_per_filter() {
    let broker = broker();
    let sub = connect(&broker, "sub");
    let results = sub
        .subscribe_many(&[
            ("a/#", QoS::AtLeastOnce.into()),
            ("a/#/b", QoS::AtLeastOnce.into()),
            ("b", QoS::ExactlyOnce.into()),
        ])
        .unwrap();
    assert_eq!(results[0], Ok(QoS::AtLeastOnce));
    assert!(matches!(results[1], Err(SubscribeError::InvalidFilter(_))));
    assert_eq!(results[2], Ok(QoS::ExactlyOnce));
    let unsub = sub.unsubscribe_many(&["a/#", "zzz"]).unwrap();
    assert_eq!(unsub, [Ok(true), Ok(false)]);
}

#[derive(Debug)]
struct Acl;
impl Hooks for Acl {
    fn authenticate(&self, client: &ClientInfo<'_>, password: Option<&[u8]>) -> bool {
        client.client_id != "intruder" && password != Some(b"wrong")
    }
    fn authorize_publish(
        &self,
        client: &ClientInfo<'_>,
        topic: &TopicName,
        _: QoS,
        _: bool,
    ) -> bool {
        topic.as_str().starts_with(client.client_id)
    }
    fn authorize_subscribe(&self, _: &ClientInfo<'_>, filter: &TopicFilter, _: QoS) -> bool {
        filter.as_str() != "#"
    }
}

/// The hooks authenticate connects and authorize publishes and subscriptions.
#[test]
fn hooks_authorize() {
    let broker = Broker::builder()
        .config(Config::default())
        .hooks(Acl)
        .build();
    assert!(broker.connect(ConnectOptions::new("intruder")).is_err());
    assert!(
        broker
            .connect(ConnectOptions::new("x").credentials("u", Some("wrong".into())))
            .is_err()
    );
    let alice = broker.connect(ConnectOptions::new("alice")).unwrap();
    assert!(matches!(
        alice.subscribe("#", QoS::AtMostOnce),
        Err(SubscribeError::NotAuthorized { .. })
    ));
    alice.subscribe("alice/#", QoS::AtMostOnce).unwrap();
    assert!(matches!(
        alice.publish("bob/x", "", QoS::AtMostOnce, false),
        Err(PublishError::NotAuthorized { .. })
    ));
    alice
        .publish("alice/x", "ok", QoS::AtMostOnce, false)
        .unwrap();
    assert_eq!(recv(&alice).topic(), "alice/x");
}

/// `crossbeam_channel::select!` waits on several clients at once.
#[cfg(not(loom))]
#[test]
fn select_waits_on_several_clients() {
    let broker = broker();
    let a = connect(&broker, "a");
    let b = connect(&broker, "b");
    a.subscribe("a", QoS::AtMostOnce).unwrap();
    b.subscribe("b", QoS::AtMostOnce).unwrap();
    let publisher = connect(&broker, "pub");
    let sender = std::thread::spawn(move || {
        publisher.publish("b", "1", QoS::AtMostOnce, false).unwrap();
        publisher.publish("a", "2", QoS::AtMostOnce, false).unwrap();
    });
    let mut got = Vec::new();
    while got.len() < 2 {
        crossbeam_channel::select! {
            recv(a.wakeups()) -> _ => got.extend(a.try_iter().map(|m| m.topic().to_owned())),
            recv(b.wakeups()) -> _ => got.extend(b.try_iter().map(|m| m.topic().to_owned())),
            default(Duration::from_secs(5)) => panic!("timed out"),
        }
    }
    sender.join().unwrap();
    got.sort();
    assert_eq!(got, ["a", "b"]);
}

/// `recv_many` takes a batch; `iter` blocks and ends when the session ends.
#[test]
fn batch_and_iterator_receive() {
    let broker = broker();
    let sub = connect(&broker, "sub");
    sub.subscribe("t", QoS::AtMostOnce).unwrap();
    let publisher = connect(&broker, "pub");
    for i in 0..10 {
        publisher
            .publish("t", format!("{i}"), QoS::AtMostOnce, false)
            .unwrap();
    }
    assert_eq!(sub.recv_many(4, Duration::from_secs(1)).unwrap().len(), 4);
    assert_eq!(sub.recv_many(100, Duration::from_secs(1)).unwrap().len(), 6);
    assert!(
        sub.recv_many(100, Duration::from_millis(10))
            .unwrap()
            .is_empty()
    );
    publisher
        .publish("t", "last", QoS::AtMostOnce, false)
        .unwrap();
    broker.shutdown();
    assert_eq!(sub.iter().count(), 1);
}

/// A publisher's cached route never outlives a change of the subscriptions: a new
/// subscriber, an unsubscribe, and a subscriber whose session ended are all seen by the very
/// next publish to the same topic.
#[test]
fn route_cache_follows_subscription_changes() {
    let broker = broker();
    let publisher = connect(&broker, "pub");
    publisher.publish("t", "0", QoS::AtMostOnce, false).unwrap(); // cached: nobody
    let a = connect(&broker, "a");
    a.subscribe("t", QoS::AtMostOnce).unwrap();
    publisher.publish("t", "1", QoS::AtMostOnce, false).unwrap(); // cached: a
    assert_eq!(drain(&a), [("t".to_owned(), "1".to_owned())]);
    a.unsubscribe("t").unwrap();
    publisher.publish("t", "2", QoS::AtMostOnce, false).unwrap();
    assert_empty(&a);
    a.subscribe("t", QoS::AtMostOnce).unwrap();
    publisher.publish("t", "3", QoS::AtMostOnce, false).unwrap();
    drop(a); // its session ends; a new one may take its slot
    let b = connect(&broker, "b");
    b.subscribe("other", QoS::AtMostOnce).unwrap();
    publisher.publish("t", "4", QoS::AtMostOnce, false).unwrap();
    assert_empty(&b);
    b.subscribe("t", QoS::AtMostOnce).unwrap();
    publisher.publish("t", "5", QoS::AtMostOnce, false).unwrap();
    assert_eq!(drain(&b), [("t".to_owned(), "5".to_owned())]);
}
