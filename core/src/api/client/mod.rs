//! [`Client`]: an application thread's handle to publish, subscribe and receive. The
//! blocking receives are in `receive.rs`, the async ones in `future.rs`, the client's
//! wake-up in `doorbell.rs`. A transport's handle is [`crate::wire::WireClient`].

mod doorbell;
mod future;
mod receive;

pub use future::{MessageStream, Publish, Recv};

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use super::message::Message;
use crate::engine::{Connection, Consumer, Engine};
use crate::session::Next;
use crate::sync::{Arc, ValueArc};
use crate::types::connect_options::ConnectOptions;
use crate::types::error::{ConnectError, PublishError, SessionError, SubscribeError, TryRecvError};
use crate::types::publish_options::PublishOptions;
use crate::types::qos::{QoS, SubOptions};
use crate::types::stats::SessionStats;
use crate::types::topic::TopicName;
use doorbell::{Bell, Doorbell};

/// A connected client: publishes, subscribes and receives through its session.
///
/// Dropping it without [`Client::disconnect`] ends the connection uncleanly: its will is
/// published (also when the owning thread panics). A persistent session outlives the handle.
/// A `Client` is `Send + Sync`; one thread usually receives while others may publish.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mqlite::{Broker, Config, ConnectOptions, QoS};
/// let broker = Broker::new(Config::default());
/// let client = broker.connect(ConnectOptions::new("echo"))?;
/// client.subscribe("echo/#", QoS::AtMostOnce)?;
/// client.publish("echo/1", "hi", QoS::AtMostOnce, false)?;
/// assert_eq!(client.recv_timeout(Duration::from_secs(1))?.topic(), "echo/1");
/// client.disconnect();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Client {
    conn: Connection,
    /// How the session wakes this client's receives, blocking and async.
    doorbell: Doorbell,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects an in-process client to `engine`.
    pub(crate) fn connect(
        engine: &Arc<Engine>,
        options: ConnectOptions,
    ) -> Result<Self, ConnectError> {
        let (bell, doorbell) = Bell::new();
        let consumer = Consumer {
            notify: ValueArc::new(bell),
            in_process: true,
            auto_ack: options.auto_ack,
        };
        let conn = Engine::connect(engine, options, consumer)?;
        // Durable mode: a new persistent session, or the discard of an old one by a clean
        // start, is on disk before connect returns (a failure is counted in the store's
        // errors; the session holds in memory).
        let _ = conn.engine().sync();
        Ok(Self { conn, doorbell })
    }

    /// The client id (the assigned one, if connected with an empty id).
    pub fn client_id(&self) -> &str {
        self.conn.client_id()
    }

    /// A snapshot of this client's session: queued, in flight, sent and dropped.
    pub fn stats(&self) -> SessionStats {
        self.conn.stats()
    }

    /// Whether connect resumed an existing session [MQTT-3.2.2-2].
    pub fn session_present(&self) -> bool {
        self.conn.session_present()
    }

    /// Publishes `payload` to `topic`.
    ///
    /// Returns once the message is in every matching subscriber's queue: for QoS 1 and 2 this
    /// is the moment a network client would get its PUBACK / PUBCOMP. Never blocks on a
    /// subscriber; a full queue drops per its overflow policy and counts the drop.
    ///
    /// # Errors
    ///
    /// [`PublishError`]: an invalid topic, a limit, a refusal by the hooks, a full retained
    /// store, or a handle that was taken over or whose broker shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// # use mqlite::{Broker, Config, ConnectOptions, QoS, PublishError};
    /// let broker = Broker::new(Config::default());
    /// let c = broker.connect(ConnectOptions::new("c"))?;
    /// c.publish("a/b", "x", QoS::AtLeastOnce, true)?;
    /// assert!(matches!(c.publish("a/+", "x", QoS::AtMostOnce, false),
    ///                  Err(PublishError::InvalidTopic(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn publish(
        &self,
        topic: &str,
        payload: impl Into<Bytes>,
        qos: QoS,
        retain: bool,
    ) -> Result<(), PublishError> {
        self.publish_with(topic, payload, &PublishOptions::new(qos).retain(retain))
    }

    /// Publishes with MQTT 5 properties or other [`PublishOptions`].
    ///
    /// # Errors
    ///
    /// As [`Client::publish`], plus [`PublishError::QueueFull`] when asked for.
    pub fn publish_with(
        &self,
        topic: &str,
        payload: impl Into<Bytes>,
        options: &PublishOptions,
    ) -> Result<(), PublishError> {
        let topic = TopicName::new(topic)?;
        self.publish_validated(topic, payload.into(), options)
    }

    /// Publishes to a topic already validated as a [`TopicName`] (saves the validation in
    /// hot loops that publish to the same topics).
    ///
    /// # Errors
    ///
    /// As [`Client::publish_with`].
    pub fn publish_validated(
        &self,
        topic: TopicName,
        payload: Bytes,
        options: &PublishOptions,
    ) -> Result<(), PublishError> {
        self.conn.publish(topic, payload, options)?;
        if options.qos() != QoS::AtMostOnce {
            // Durable mode: returns once durable, sharing the sync with other threads.
            self.conn.engine().sync().map_err(not_durable)?;
        }
        Ok(())
    }

    /// Publishes several messages with the same options, in order. In durable mode a QoS 1/2
    /// batch waits for durability once, after the last message (one fsync for the batch
    /// under `commit`, where [`Client::publish`] in a loop waits for one per message).
    ///
    /// # Errors
    ///
    /// As [`Client::publish_with`], for the first message that fails (the messages before it
    /// were published); [`PublishError::NotDurable`] if the batch could not be made durable
    /// (then none of it is known to be).
    pub fn publish_many(
        &self,
        messages: impl IntoIterator<Item = (TopicName, Bytes)>,
        options: &PublishOptions,
    ) -> Result<(), PublishError> {
        let mut result = Ok(());
        for (topic, payload) in messages {
            result = self.conn.publish(topic, payload, options);
            if result.is_err() {
                break;
            }
        }
        if options.qos() != QoS::AtMostOnce {
            // Also after a failure: what was published before it is made durable.
            let synced = self.conn.engine().sync().map_err(not_durable);
            result = result.and(synced);
        }
        result
    }

    /// Subscribes to one filter; returns the granted QoS. Retained messages matching it are
    /// queued for this client first [MQTT-3.3.1-6], [MQTT-3.3.1-8].
    ///
    /// # Errors
    ///
    /// [`SubscribeError`]: an invalid filter, a limit, a refusal by the hooks, or an unusable
    /// handle.
    pub fn subscribe(
        &self,
        filter: &str,
        options: impl Into<SubOptions>,
    ) -> Result<QoS, SubscribeError> {
        let granted = self.conn.subscribe_one(filter, options.into())?;
        // Durable mode: the subscription is on disk before this returns (a failure is
        // counted in the store's errors; the subscription holds in memory).
        let _ = self.conn.engine().sync();
        Ok(granted)
    }

    /// Subscribes to several filters in one call; one result per filter, in order, like the
    /// return codes of one SUBACK [MQTT-3.9.3-1].
    ///
    /// # Errors
    ///
    /// [`SessionError`] if the handle is unusable; per-filter errors are in the vector.
    pub fn subscribe_many(
        &self,
        filters: &[(&str, SubOptions)],
    ) -> Result<Vec<Result<QoS, SubscribeError>>, SessionError> {
        let results = self.conn.subscribe(filters)?;
        let _ = self.conn.engine().sync();
        Ok(results)
    }

    /// Unsubscribes from one filter; returns whether it was subscribed.
    ///
    /// # Errors
    ///
    /// An invalid filter or an unusable handle.
    pub fn unsubscribe(&self, filter: &str) -> Result<bool, SubscribeError> {
        let mut results = self.unsubscribe_many(&[filter])?;
        results.pop().unwrap_or(Ok(false))
    }

    /// Unsubscribes from several filters; per filter, whether it was subscribed.
    ///
    /// # Errors
    ///
    /// [`SessionError`] if the handle is unusable.
    pub fn unsubscribe_many(
        &self,
        filters: &[&str],
    ) -> Result<Vec<Result<bool, SubscribeError>>, SessionError> {
        self.conn.unsubscribe(filters)
    }

    /// Takes the next message if one is ready, without blocking.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if nothing is deliverable now; [`TryRecvError::Session`] once
    /// the handle was taken over, or its broker shut down and the queue is drained.
    pub fn try_recv(&self) -> Result<Message, TryRecvError> {
        loop {
            match self.conn.take_one()? {
                Some(Next::Publish(taken)) => return Ok(Message::new(&self.conn, taken)),
                // An in-process receiver has no PUBREL to send: a QoS 2 delivery it already
                // has is complete (only a session last used over the network holds one).
                Some(Next::Release(packet_id)) => self.conn.complete_released(packet_id)?,
                None => return Err(TryRecvError::Empty),
            }
        }
    }

    /// Changes how long the session outlives this connection, as a 5.0 DISCONNECT's Session
    /// Expiry Interval does (§3.14.2.2.2); capped by `max_session_expiry`. Takes effect when
    /// the connection ends. A session that was to end at disconnect may not be given a
    /// lifetime this way [MQTT-3.14.2-2]: the network frontend refuses that as a protocol
    /// error before calling.
    ///
    /// # Errors
    ///
    /// The handle was taken over or its broker shut down.
    pub fn set_session_expiry(&self, expiry: Duration) -> Result<(), SessionError> {
        self.conn.set_session_expiry(expiry)
    }

    /// Ends the connection cleanly: the will is discarded [MQTT-3.1.2-10]. A persistent
    /// session keeps its subscriptions and queues messages until it expires; messages this
    /// handle received but did not acknowledge are redelivered on resume.
    pub fn disconnect(self) {
        self.conn.disconnect();
    }
}

/// A failed sync as a publish error.
pub(crate) fn not_durable(e: crate::types::store::StoreError) -> PublishError {
    PublishError::NotDurable {
        reason: e.to_string(),
    }
}
