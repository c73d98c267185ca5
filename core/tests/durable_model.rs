//! Durable mode against a model: random sequences of publishes (QoS 1/2, retained set and
//! clear), a persistent subscriber connecting, receiving (acknowledging or not) and leaving,
//! with crashes (`kill -9`: the store's files as they are at that instant) and clean restarts
//! injected between any two steps. After every run the subscriber must have received every
//! message whose publish returned, per topic in order, QoS 2 exactly once and QoS 1 at least
//! once [MQTT-4.3.2-1], [MQTT-4.3.3-1], [MQTT-4.6.0-1]; retained messages must be the last
//! acknowledged ones [MQTT-3.3.1-5].
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use mqlite::{Broker, Client, ConnectOptions, QoS};
use mqlite_store::{Persistence, SyncPolicy};
use proptest::prelude::*;

mod common;
use common::durable::copy_dir;

#[derive(Debug, Clone)]
enum Op {
    Publish { topic: u8, qos2: bool },
    Retain { topic: u8, clear: bool },
    Connect,
    Disconnect,
    Receive { n: u8, ack: bool },
    Crash,
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..3, any::<bool>()).prop_map(|(topic, qos2)| Op::Publish { topic, qos2 }),
        2 => (0u8..3, any::<bool>()).prop_map(|(topic, clear)| Op::Retain { topic, clear }),
        2 => Just(Op::Connect),
        1 => Just(Op::Disconnect),
        3 => (1u8..6, any::<bool>()).prop_map(|(n, ack)| Op::Receive { n, ack }),
        1 => Just(Op::Crash),
        1 => Just(Op::Restart),
    ]
}

fn open(dir: &Path) -> Broker {
    let store = Persistence::open(dir, SyncPolicy::None).unwrap();
    Broker::builder().store(store).build()
}

fn sub_options() -> ConnectOptions {
    ConnectOptions::new("sub")
        .clean_start(false)
        .session_expiry(Duration::from_secs(3600))
}

/// What the subscriber saw, checked as it arrives.
#[derive(Default)]
struct Seen {
    /// Times each message (by sequence number) arrived.
    count: HashMap<u64, u32>,
    /// The highest sequence number seen per topic.
    last: HashMap<u8, u64>,
}

impl Seen {
    fn take(&mut self, msg: &mqlite::Message) {
        let seq: u64 = std::str::from_utf8(msg.payload()).unwrap().parse().unwrap();
        let topic = msg.topic().as_bytes()[2] - b'0';
        let n = self.count.entry(seq).or_default();
        *n += 1;
        if msg.qos() == QoS::ExactlyOnce {
            assert_eq!(*n, 1, "QoS 2 message {seq} delivered twice");
        }
        if *n == 1 {
            let last = self.last.entry(topic).or_default();
            assert!(
                seq > *last,
                "message {seq} on t/{topic} after {last}: out of order"
            );
            *last = seq;
        }
    }
}

struct World {
    root: tempfile::TempDir,
    generation: u32,
    broker: Broker,
    publisher: Option<Client>,
    sub: Option<Client>,
    seq: u64,
    /// Messages whose publish returned: (sequence number, qos 2).
    acked: Vec<u64>,
    /// Retained topic -> last acknowledged value ("" = cleared).
    retained: HashMap<u8, String>,
    seen: Seen,
}

impl World {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let broker = open(&root.path().join("0"));
        let sub = broker.connect(sub_options()).unwrap();
        sub.subscribe("t/#", QoS::ExactlyOnce).unwrap();
        let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
        Self {
            root,
            generation: 0,
            broker,
            publisher: Some(publisher),
            sub: Some(sub),
            seq: 0,
            acked: Vec::new(),
            retained: HashMap::new(),
            seen: Seen::default(),
        }
    }

    fn dir(&self) -> std::path::PathBuf {
        self.root.path().join(self.generation.to_string())
    }

    fn reopen(&mut self, crash: bool) {
        if crash {
            let next = self.root.path().join((self.generation + 1).to_string());
            copy_dir(&self.dir(), &next);
            self.generation += 1;
        }
        self.sub = None;
        self.publisher = None;
        let old = std::mem::replace(&mut self.broker, Broker::builder().build());
        // A clean restart shuts down (the store is released at once); a crash just drops.
        if !crash {
            old.shutdown();
        }
        drop(old);
        self.broker = open(&self.dir());
        self.publisher = Some(self.broker.connect(ConnectOptions::new("pub")).unwrap());
    }

    fn receive(&mut self, n: u8, ack: bool) {
        let Some(sub) = &self.sub else { return };
        for _ in 0..n {
            let Ok(msg) = sub.try_recv() else { return };
            self.seen.take(&msg);
            if ack {
                msg.ack();
            }
        }
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Publish { topic, qos2 } => {
                self.seq += 1;
                let qos = if qos2 {
                    QoS::ExactlyOnce
                } else {
                    QoS::AtLeastOnce
                };
                let payload = self.seq.to_string();
                let publisher = self.publisher.as_ref().unwrap();
                publisher
                    .publish(format!("t/{topic}").as_str(), payload, qos, false)
                    .unwrap();
                self.acked.push(self.seq);
            }
            Op::Retain { topic, clear } => {
                self.seq += 1;
                let value = if clear {
                    String::new()
                } else {
                    self.seq.to_string()
                };
                let publisher = self.publisher.as_ref().unwrap();
                publisher
                    .publish(
                        format!("r/{topic}").as_str(),
                        value.clone(),
                        QoS::AtLeastOnce,
                        true,
                    )
                    .unwrap();
                self.retained.insert(topic, value);
            }
            Op::Connect if self.sub.is_none() => {
                let sub = self.broker.connect(sub_options()).unwrap();
                assert!(sub.session_present(), "the session survived");
                self.sub = Some(sub);
            }
            Op::Connect => {}
            Op::Disconnect => {
                if let Some(sub) = self.sub.take() {
                    sub.disconnect();
                }
            }
            Op::Receive { n, ack } => self.receive(n, ack),
            Op::Crash => self.reopen(true),
            Op::Restart => self.reopen(false),
        }
    }

    fn check_end(&mut self) {
        if self.sub.is_none() {
            self.sub = Some(self.broker.connect(sub_options()).unwrap());
        }
        let sub = self.sub.take().unwrap();
        while let Ok(msg) = sub.recv_timeout(Duration::from_millis(50)) {
            self.seen.take(&msg);
            msg.ack();
        }
        for seq in &self.acked {
            assert!(
                self.seen.count.contains_key(seq),
                "acknowledged message {seq} lost"
            );
        }
        let check = self.broker.connect(ConnectOptions::new("check")).unwrap();
        check.subscribe("r/#", QoS::AtLeastOnce).unwrap();
        let mut got = HashMap::new();
        while let Ok(msg) = check.recv_timeout(Duration::from_millis(50)) {
            let topic = msg.topic().as_bytes()[2] - b'0';
            got.insert(topic, String::from_utf8_lossy(msg.payload()).into_owned());
            msg.ack();
        }
        let expected: HashMap<u8, String> = self
            .retained
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(t, v)| (*t, v.clone()))
            .collect();
        assert_eq!(got, expected, "retained messages");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any sequence, crashes anywhere: nothing acknowledged is lost, order and QoS hold.
    #[test]
    fn crashes_lose_nothing_acknowledged(ops in proptest::collection::vec(op(), 1..40)) {
        let mut world = World::new();
        for op in &ops {
            world.step(op);
        }
        // One more crash at the very end, then the final check.
        world.step(&Op::Crash);
        world.check_end();
    }
}
