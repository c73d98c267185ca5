//! [`Client`]: one connection's handle to publish, subscribe and receive. The wire-level
//! acknowledgement protocol for network frontends is in [`wire`].

mod receive;
pub(crate) mod wire;

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use crate::broker::{BrokerShared, NEVER_EXPIRE};
use crate::error::{PublishError, SessionError, SubscribeError, TryRecvError};
use crate::hooks::{DisconnectReason, DropReason, Event};
use crate::message::{Delivery, Message};
use crate::publish::PublishOptions;
use crate::qos::{QoS, SubOptions};
use crate::router::RouteCache;
use crate::session::{AckHandle, Outgoing, Session, Taken, Wake};
use crate::sync::{Arc, Mutex, Ordering, channel};
use crate::topic::TopicName;

/// The in-process consumer's wake-up: a token on a one-slot channel.
#[derive(Debug)]
pub(crate) struct ChannelWaker(pub(crate) channel::Sender<()>);

impl Wake for ChannelWaker {
    fn wake(&self) {
        // Full means a token is already waiting; disconnected means nobody is listening.
        let _ = self.0.try_send(());
    }
}

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
    pub(crate) broker: Arc<BrokerShared>,
    pub(crate) session: Arc<Session>,
    pub(crate) generation: u64,
    doorbell: Option<channel::Receiver<()>>,
    session_present: bool,
    username: Option<String>,
    pub(crate) auto_ack: bool,
    disconnected: bool,
    /// Where this client's last topic routed (see `router::RouteCache`).
    route_cache: Mutex<RouteCache>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id())
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub(crate) fn new(
        broker: Arc<BrokerShared>,
        session: Arc<Session>,
        generation: u64,
        doorbell: Option<channel::Receiver<()>>,
        session_present: bool,
        username: Option<String>,
        auto_ack: bool,
    ) -> Self {
        Self {
            broker,
            session,
            generation,
            doorbell,
            session_present,
            username,
            auto_ack,
            disconnected: false,
            route_cache: Mutex::new(RouteCache::default()),
        }
    }

    /// The client id (the assigned one, if connected with an empty id).
    pub fn client_id(&self) -> &str {
        &self.session.client_id
    }

    /// A snapshot of this client's session: queued, in flight, sent and dropped.
    pub fn stats(&self) -> crate::SessionStats {
        self.session.stats()
    }

    /// Whether connect resumed an existing session [MQTT-3.2.2-2].
    pub fn session_present(&self) -> bool {
        self.session_present
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
        self.publish_name(topic, payload.into(), options)
    }

    /// Publishes to an already validated topic (saves the validation on hot loops).
    ///
    /// # Errors
    ///
    /// As [`Client::publish_with`].
    pub fn publish_name(
        &self,
        topic: TopicName,
        payload: Bytes,
        options: &PublishOptions,
    ) -> Result<(), PublishError> {
        self.session.check(self.generation)?;
        self.route(topic, payload, options)
    }

    /// Publishes without checking that the handle is still live: for a message the broker
    /// already accepted (an incoming QoS 2 PUBLISH whose id is held).
    pub(crate) fn route(
        &self,
        topic: TopicName,
        payload: Bytes,
        options: &PublishOptions,
    ) -> Result<(), PublishError> {
        let origin = (self.session.key, self.client_id(), self.username.as_deref());
        let cache = Some(&self.route_cache);
        self.broker
            .publish(Some(origin), topic, payload, options, cache)?;
        self.session.published.fetch_add(1, Ordering::Relaxed);
        Ok(())
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
        let mut results = self.subscribe_many(&[(filter, options.into())])?;
        results
            .pop()
            .unwrap_or(Err(SubscribeError::Session(SessionError::BrokerClosed)))
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
        self.broker.subscribe(
            &self.session,
            self.generation,
            self.username.as_deref(),
            filters,
        )
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
        self.broker
            .unsubscribe(&self.session, self.generation, filters)
    }

    /// Takes the next message if one is ready, without blocking.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if nothing is deliverable now; [`TryRecvError::Session`] once
    /// the handle was taken over, or its broker shut down and the queue is drained.
    pub fn try_recv(&self) -> Result<Message, TryRecvError> {
        loop {
            match self.take_one()? {
                Some(Outgoing::Publish(taken)) => return Ok(self.message(taken)),
                // An in-process receiver has no PUBREL to send: a QoS 2 delivery it already
                // has is complete (only a session last used over the network holds one).
                Some(Outgoing::Release(packet_id)) => {
                    self.session.pubcomp(self.generation, packet_id)?;
                }
                None => return Err(TryRecvError::Empty),
            }
        }
    }

    /// Takes the next thing to send, reporting expired deliveries it skipped.
    pub(crate) fn take_one(&self) -> Result<Option<Outgoing>, SessionError> {
        let mut expired = Vec::new();
        let mut got = None;
        let clock = &self.broker.clock;
        let result = self.session.take(
            self.generation,
            1,
            || clock.now(),
            self.auto_ack,
            |out| got = Some(out),
            &mut expired,
        );
        if !expired.is_empty() {
            self.report_expired(expired);
        }
        result.map(|()| got)
    }

    pub(crate) fn message(&self, taken: Taken) -> Message {
        let expiry_left = taken
            .delivery
            .publication
            .expires_at
            .get()
            .map(|at| at.saturating_sub(self.broker.clock.now()));
        let ack = (taken.packet_id.is_some() && !self.auto_ack).then(|| AckHandle {
            session: self.session.clone(),
            generation: self.generation,
            seq: taken.seq,
        });
        Message {
            delivery: taken.delivery,
            packet_id: taken.packet_id,
            expiry_left,
            ack,
        }
    }

    pub(crate) fn report_expired(&self, expired: Vec<Delivery>) {
        for delivery in expired {
            self.broker.emit(&Event::MessageDropped {
                client_id: self.client_id(),
                topic: &delivery.publication.topic,
                reason: DropReason::Expired,
            });
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
        let cap = self
            .broker
            .config
            .max_session_expiry
            .unwrap_or(NEVER_EXPIRE);
        let mut state = self.session.inner.lock();
        crate::session::state_check(&state, self.generation)?;
        state.expiry = expiry.min(cap).min(NEVER_EXPIRE);
        Ok(())
    }

    /// Ends the connection cleanly: the will is discarded [MQTT-3.1.2-10]. A persistent
    /// session keeps its subscriptions and queues messages until it expires; messages this
    /// handle received but did not acknowledge are redelivered on resume.
    pub fn disconnect(mut self) {
        self.disconnected = true;
        self.end(DisconnectReason::Normal);
    }

    fn end(&self, reason: DisconnectReason) {
        self.broker.detach(&self.session, self.generation, reason);
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if !self.disconnected {
            self.end(DisconnectReason::Dropped);
        }
    }
}
