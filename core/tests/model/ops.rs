//! The generated cases: the operation enum, its proptest strategies and its `Debug` form
//! (the operation list a shrunk failure prints).

use std::fmt;

use mqlite::QoS;
use proptest::prelude::*;

use super::{CLIENTS, FILTERS, MAX_OPS, QOS, TOPICS};

#[derive(Clone)]
pub(crate) enum Op {
    Connect {
        client: usize,
        clean_start: bool,
        persistent: bool,
        receive_maximum: u16,
        auto_ack: bool,
    },
    Subscribe {
        client: usize,
        filter: usize,
        qos: QoS,
    },
    Unsubscribe {
        client: usize,
        filter: usize,
    },
    Publish {
        client: usize,
        topic: usize,
        qos: QoS,
    },
    /// Up to `max` try_recv calls; bit i of `ack` acks the i-th message at once.
    Receive {
        client: usize,
        max: usize,
        ack: u8,
    },
    /// Acks the held messages whose bit is set.
    Ack {
        client: usize,
        mask: u16,
    },
    AckStale {
        client: usize,
    },
    Drain {
        client: usize,
    },
    Disconnect {
        client: usize,
    },
    Drop {
        client: usize,
    },
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::Connect {
                client,
                clean_start,
                persistent,
                receive_maximum,
                auto_ack,
            } => write!(
                f,
                "c{client}.connect({}, {}, receive_maximum {receive_maximum}{})",
                if clean_start { "clean" } else { "resume" },
                if persistent {
                    "never expires"
                } else {
                    "expiry 0"
                },
                if auto_ack { ", auto_ack" } else { "" }
            ),
            Op::Subscribe {
                client,
                filter,
                qos,
            } => write!(
                f,
                "c{client}.subscribe({:?}, {})",
                FILTERS[filter],
                qos.as_u8()
            ),
            Op::Unsubscribe { client, filter } => {
                write!(f, "c{client}.unsubscribe({:?})", FILTERS[filter])
            }
            Op::Publish { client, topic, qos } => {
                write!(f, "c{client}.publish({:?}, {})", TOPICS[topic], qos.as_u8())
            }
            Op::Receive { client, max, ack } => {
                write!(f, "c{client}.receive({max}, ack {ack:#010b})")
            }
            Op::Ack { client, mask } => write!(f, "c{client}.ack_held({mask:#x})"),
            Op::AckStale { client } => write!(f, "c{client}.ack_stale()"),
            Op::Drain { client } => write!(f, "c{client}.drain()"),
            Op::Disconnect { client } => write!(f, "c{client}.disconnect()"),
            Op::Drop { client } => write!(f, "c{client}.drop()"),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Case {
    pub(crate) queue_qos0: bool,
    /// `max_queued_messages` of the bounded variant.
    pub(crate) max_queued: Option<usize>,
    pub(crate) ops: Vec<Op>,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "queue_qos0_messages {}, max_queued_messages {:?}, ops:",
            self.queue_qos0, self.max_queued
        )?;
        for (i, op) in self.ops.iter().enumerate() {
            write!(f, "\n  {i:3}: {op:?}")?;
        }
        Ok(())
    }
}

pub(crate) fn op() -> impl Strategy<Value = Op> {
    let client = 0..CLIENTS;
    let qos = prop::sample::select(QOS.to_vec());
    prop_oneof![
        4 => (
            client.clone(),
            prop::bool::weighted(0.3),
            prop::bool::weighted(0.7),
            0..=6u16,
            prop::bool::weighted(0.1),
        )
            .prop_map(|(client, clean_start, persistent, receive_maximum, auto_ack)| {
                Op::Connect { client, clean_start, persistent, receive_maximum, auto_ack }
            }),
        5 => (client.clone(), 0..FILTERS.len(), qos.clone())
            .prop_map(|(client, filter, qos)| Op::Subscribe { client, filter, qos }),
        1 => (client.clone(), 0..FILTERS.len())
            .prop_map(|(client, filter)| Op::Unsubscribe { client, filter }),
        10 => (client.clone(), 0..TOPICS.len(), qos)
            .prop_map(|(client, topic, qos)| Op::Publish { client, topic, qos }),
        6 => (client.clone(), 1..=8usize, any::<u8>())
            .prop_map(|(client, max, ack)| Op::Receive { client, max, ack }),
        2 => (client.clone(), any::<u16>()).prop_map(|(client, mask)| Op::Ack { client, mask }),
        1 => client.clone().prop_map(|client| Op::AckStale { client }),
        1 => client.clone().prop_map(|client| Op::Drain { client }),
        1 => client.clone().prop_map(|client| Op::Disconnect { client }),
        1 => client.prop_map(|client| Op::Drop { client }),
    ]
}

pub(crate) fn case(bounded: bool) -> impl Strategy<Value = Case> {
    let max_queued = if bounded {
        prop::sample::select(vec![1usize, 2, 4, 8, 16])
            .prop_map(Some)
            .boxed()
    } else {
        Just(None).boxed()
    };
    (
        any::<bool>(),
        max_queued,
        prop::collection::vec(op(), 1..=MAX_OPS),
    )
        .prop_map(|(queue_qos0, max_queued, ops)| Case {
            queue_qos0,
            max_queued,
            ops,
        })
}
