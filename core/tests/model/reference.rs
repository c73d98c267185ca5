//! The reference model's state: sessions, publications and the deliveries owed, the
//! reference topic matcher, and the dispatch of each operation.

use std::collections::{BTreeMap, HashMap};

use mqlite::{Broker, Client, Config, Message, QoS};

use super::ops::{Case, Op};
use super::{CLIENTS, Check, MAX_INFLIGHT};
use crate::common::broker_with;

/// The reference matcher: `+` is one level, `#` the rest (MQTT §4.7.1).
pub(crate) fn matches(filter: &str, topic: &str) -> bool {
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) | (None, None) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// QoS 0 for an offline session without `queue_qos0_messages`: dropped at once.
    NotQueued,
    /// Owed, not received yet.
    Pending,
    Received,
    /// Missing after a full drain (bounded variant only).
    Dropped,
    /// Still pending when its session was discarded.
    Lost,
}

/// One publication owed to one session incarnation.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(crate) publication: usize,
    pub(crate) qos: QoS,
    pub(crate) state: State,
    /// Model time of the publish, and the consumer interval of the session then.
    pub(crate) offered_at: u64,
    pub(crate) interval: u64,
    /// Deliveries the session's consumer took from the queue since it last found nothing.
    pub(crate) taken_since_release: usize,
    /// Model time, order and packet id of the first reception.
    pub(crate) first_at: u64,
    pub(crate) handout: u64,
    pub(crate) packet_id: Option<u16>,
    /// The connection that last received it, and whether it was acknowledged there.
    pub(crate) conn: u64,
    pub(crate) acked: bool,
}

/// One session incarnation.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) slot: usize,
    pub(crate) alive: bool,
    pub(crate) online: bool,
    pub(crate) persistent: bool,
    pub(crate) subs: BTreeMap<usize, QoS>,
    /// Connection number, counting from 1.
    pub(crate) conn: u64,
    pub(crate) receive_maximum: usize,
    pub(crate) max_receive_maximum: usize,
    pub(crate) auto_ack: bool,
    pub(crate) deliveries: Vec<usize>,
    pub(crate) handouts: u64,
    pub(crate) taken_since_release: usize,
    /// Bumped at every consumer action (try_recv, connection end): room may be freed.
    pub(crate) interval: u64,
    /// A new (non-DUP) message was received on this connection.
    pub(crate) fresh_in_conn: bool,
    /// Handout order of the last resend on this connection.
    pub(crate) last_resend: Option<u64>,
}

#[derive(Debug)]
pub(crate) struct Publication {
    pub(crate) publisher: usize,
    pub(crate) topic: usize,
    pub(crate) qos: QoS,
    pub(crate) queue_full_drops: u64,
    pub(crate) deliveries: Vec<usize>,
}

#[derive(Default)]
pub(crate) struct Slot {
    pub(crate) client: Option<Client>,
    /// The live session of this client id.
    pub(crate) session: Option<usize>,
    /// Unacknowledged messages of the current connection, with their delivery.
    pub(crate) held: Vec<(Message, usize)>,
    /// Messages whose ack must do nothing: from ended connections, or already acknowledged.
    pub(crate) stale: Vec<Message>,
}

pub(crate) struct Model {
    pub(crate) broker: Broker,
    pub(crate) max_queued: Option<usize>,
    pub(crate) queue_qos0: bool,
    pub(crate) slots: Vec<Slot>,
    pub(crate) sessions: Vec<Session>,
    pub(crate) publications: Vec<Publication>,
    pub(crate) deliveries: Vec<Delivery>,
    pub(crate) by_key: HashMap<(usize, usize), usize>,
    /// Last first-received publication per (session, publisher, topic).
    pub(crate) last_first: HashMap<(usize, usize, usize), usize>,
    pub(crate) now: u64,
    pub(crate) offline_drops: u64,
    pub(crate) first_receptions: u64,
    pub(crate) receptions: u64,
}

pub(crate) fn client_id(slot: usize) -> String {
    format!("c{slot}")
}

impl Model {
    pub(crate) fn new(case: &Case) -> Self {
        let mut config = Config::default();
        config.max_queued_messages = case.max_queued.unwrap_or(1 << 20);
        config.max_queued_bytes = 1 << 30;
        config.max_inflight_messages = MAX_INFLIGHT;
        config.queue_qos0_messages = case.queue_qos0;
        config.sys_interval = None;
        let (broker, _clock) = broker_with(config);
        Self {
            broker,
            max_queued: case.max_queued,
            queue_qos0: case.queue_qos0,
            slots: (0..CLIENTS).map(|_| Slot::default()).collect(),
            sessions: Vec::new(),
            publications: Vec::new(),
            deliveries: Vec::new(),
            by_key: HashMap::new(),
            last_first: HashMap::new(),
            now: 0,
            offline_drops: 0,
            first_receptions: 0,
            receptions: 0,
        }
    }

    pub(crate) fn apply(&mut self, op: &Op) -> Check {
        match *op {
            Op::Connect {
                client,
                clean_start,
                persistent,
                receive_maximum,
                auto_ack,
            } => self.connect(client, clean_start, persistent, receive_maximum, auto_ack),
            Op::Subscribe {
                client,
                filter,
                qos,
            } => self.subscribe(client, filter, qos),
            Op::Unsubscribe { client, filter } => self.unsubscribe(client, filter),
            Op::Publish { client, topic, qos } => self.publish(client, topic, qos),
            Op::Receive { client, max, ack } => self.receive(client, max, ack),
            Op::Ack { client, mask } => {
                self.ack_held(client, mask);
                Ok(())
            }
            Op::AckStale { client } => {
                if self.slots[client].client.is_some() {
                    for m in &self.slots[client].stale {
                        m.ack();
                    }
                }
                Ok(())
            }
            Op::Drain { client } => self.drain(client),
            Op::Disconnect { client } => {
                self.end(client, true);
                Ok(())
            }
            Op::Drop { client } => {
                self.end(client, false);
                Ok(())
            }
        }
    }
}
/// Whether a received delivery occupies the in-flight window of connection `conn`: QoS 1
/// until acknowledged, across connections; QoS 2 until acknowledged on its own connection
/// (on resume, an in-process client has had it, so it completes).
pub(crate) fn in_window(d: &Delivery, conn: u64) -> bool {
    !d.acked && (d.qos == QoS::AtLeastOnce || (d.qos == QoS::ExactlyOnce && d.conn == conn))
}
