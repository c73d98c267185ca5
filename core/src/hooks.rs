//! Hooks an embedding application installs to authenticate, authorize and observe clients.
//! Network clients go through the same hooks as in-process ones.

use std::fmt;

use crate::qos::QoS;
use crate::topic::{TopicFilter, TopicName};

/// Who is asking: passed to every hook.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ClientInfo<'a> {
    /// The client id.
    pub client_id: &'a str,
    /// The user name given at connect, if any.
    pub username: Option<&'a str>,
}

/// Why a message was dropped instead of delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// The session's queue was full (count or bytes).
    QueueFull,
    /// A QoS 0 message for an offline session (see `queue_qos0_messages`).
    Offline,
    /// Its message expiry interval ran out before delivery.
    Expired,
}

/// Why a session's connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// [`crate::Client::disconnect`]: a clean disconnect; no will.
    Normal,
    /// The handle was dropped without a disconnect; the will is published.
    Dropped,
    /// A new connection took the session over; the will is published.
    TakenOver,
    /// The broker shut down; the will is published.
    BrokerShutdown,
    /// The queue overflowed under [`crate::OverflowPolicy::Disconnect`]; the will is published.
    SlowConsumer,
}

/// Something that happened, for [`Hooks::on_event`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A client connected.
    ClientConnected {
        /// The client id.
        client_id: &'a str,
        /// Whether it resumed an existing session.
        session_present: bool,
    },
    /// A client's connection ended.
    ClientDisconnected {
        /// The client id.
        client_id: &'a str,
        /// How it ended.
        reason: DisconnectReason,
    },
    /// A message was dropped for one session.
    MessageDropped {
        /// The session's client id.
        client_id: &'a str,
        /// The message's topic.
        topic: &'a TopicName,
        /// Why it was dropped.
        reason: DropReason,
    },
}

/// Callbacks of an embedding application. Every method has a permissive default, so an
/// implementation overrides only what it needs.
///
/// Hooks run on the calling client's thread, never while the broker holds a lock, and must
/// not block for long.
///
/// ```
/// use mqlite::{Broker, ClientInfo, ConnectOptions, Hooks, TopicName, QoS};
/// #[derive(Debug)]
/// struct ReadOnlySys;
/// impl Hooks for ReadOnlySys {
///     fn authorize_publish(&self, _: &ClientInfo<'_>, topic: &TopicName, _: QoS, _: bool) -> bool {
///         !topic.as_str().starts_with("control/")
///     }
/// }
/// let broker = Broker::builder().hooks(ReadOnlySys).build();
/// let c = broker.connect(ConnectOptions::new("c"))?;
/// assert!(c.publish("control/reboot", "now", QoS::AtMostOnce, false).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Hooks: Send + Sync + fmt::Debug + 'static {
    /// Accepts or refuses a connection. `password` is what the client sent, if anything.
    fn authenticate(&self, client: &ClientInfo<'_>, password: Option<&[u8]>) -> bool {
        let _ = (client, password);
        true
    }

    /// Allows or refuses one publish (also called for a will, at connect).
    fn authorize_publish(
        &self,
        client: &ClientInfo<'_>,
        topic: &TopicName,
        qos: QoS,
        retain: bool,
    ) -> bool {
        let _ = (client, topic, qos, retain);
        true
    }

    /// Allows or refuses one subscription.
    fn authorize_subscribe(&self, client: &ClientInfo<'_>, filter: &TopicFilter, qos: QoS) -> bool {
        let _ = (client, filter, qos);
        true
    }

    /// Observes an event.
    fn on_event(&self, event: &Event<'_>) {
        let _ = event;
    }
}
