//! [`Connection`]: one connection attached to a session, with everything the in-process
//! `Client` and the transport's `WireClient` share: publish, subscribe, take, acknowledge,
//! session expiry and the end of the connection.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use super::Engine;
use super::publish::Started;
use crate::router::{Attached, RouteCache};
use crate::session::{AckHandle, Next, Notify, Session, SessionKey, TakeRequest, TakeSink, Taken};
use crate::sync::{Arc, Mutex, ValueArc};
use crate::types::connect_options::NEVER_EXPIRE;
use crate::types::error::{PublishError, SessionError, SubscribeError};
use crate::types::hooks::{DisconnectReason, DropReason, Event};
use crate::types::message::Delivery;
use crate::types::publish_options::PublishOptions;
use crate::types::qos::{QoS, SubOptions};
use crate::types::stats::SessionStats;
use crate::types::topic::TopicName;

/// Who consumes a connection's deliveries, and how it is woken.
#[derive(Debug)]
pub(crate) struct Consumer {
    pub(crate) notify: ValueArc<dyn Notify>,
    /// An in-process client (QoS 2 is received when handed out), not a transport.
    pub(crate) in_process: bool,
    /// Acknowledge QoS 1/2 deliveries as they are handed out.
    pub(crate) auto_ack: bool,
}

/// One connection attached to a session. Dropping it ends the connection uncleanly (the
/// will is published); [`Connection::disconnect`] ends it cleanly.
pub(crate) struct Connection {
    engine: Arc<Engine>,
    session: Arc<Session>,
    generation: u64,
    session_present: bool,
    username: Option<String>,
    auto_ack: bool,
    disconnected: bool,
    /// Where this connection's last topic routed (see `router::RouteCache`).
    route_cache: Mutex<RouteCache>,
    /// Keeps the store open while this handle lives (dropped after `Drop::drop` detached).
    _store: Option<ValueArc<super::StoreGuard>>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("client_id", &self.client_id())
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// Collects one take: the item, and expired deliveries for the event hook.
#[derive(Default)]
struct One {
    next: Option<Next>,
    expired: Vec<Delivery>,
}

impl TakeSink for One {
    #[inline(always)]
    fn next(&mut self, next: Next) {
        self.next = Some(next);
    }
    fn expired(&mut self, delivery: Delivery) {
        self.expired.push(delivery);
    }
}

impl Connection {
    pub(crate) fn new(
        engine: Arc<Engine>,
        attached: Attached,
        username: Option<String>,
        auto_ack: bool,
    ) -> Self {
        Self {
            _store: engine.store_guard(),
            engine,
            session: attached.session,
            generation: attached.generation,
            session_present: attached.session_present,
            username,
            auto_ack,
            disconnected: false,
            route_cache: Mutex::new(RouteCache::default()),
        }
    }

    /// The client id (the assigned one, if connected with an empty id).
    pub(crate) fn client_id(&self) -> &str {
        &self.session.client_id
    }

    /// Whether connect resumed an existing session [MQTT-3.2.2-2].
    pub(crate) fn session_present(&self) -> bool {
        self.session_present
    }

    /// A snapshot of the session.
    pub(crate) fn stats(&self) -> SessionStats {
        self.session.stats()
    }

    /// The broker's clock time.
    pub(crate) fn now(&self) -> Duration {
        self.engine.clock().now()
    }

    /// Why this handle can no longer be used, or `Ok`.
    pub(crate) fn check(&self) -> Result<(), SessionError> {
        self.session.check(self.generation)
    }

    /// Publishes to a validated topic, if the handle is still live.
    #[inline]
    pub(crate) fn publish(
        &self,
        topic: TopicName,
        payload: Bytes,
        options: &PublishOptions,
    ) -> Result<(), PublishError> {
        self.check()?;
        self.route(topic, payload, options)
    }

    /// The publish up to waiting for room ([`Engine::publish_start`]), if the handle is
    /// still live: for a publisher that waits for room asynchronously.
    pub(crate) fn publish_start(
        &self,
        topic: TopicName,
        payload: Bytes,
        options: &PublishOptions,
    ) -> Result<Started, PublishError> {
        self.check()?;
        let started = self.engine.publish_start(
            Some(self.origin()),
            topic,
            payload,
            options,
            Some(&self.route_cache),
        )?;
        self.session.count_published();
        Ok(started)
    }

    /// Who publishes through this connection, as the engine's publish path takes it.
    #[inline]
    fn origin(&self) -> (SessionKey, &str, Option<&str>) {
        (self.session.key, self.client_id(), self.username.as_deref())
    }

    /// The broker's engine.
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Publishes without checking that the handle is still live: for a message the broker
    /// already accepted (an incoming QoS 2 PUBLISH whose id is held).
    #[inline]
    fn route(
        &self,
        topic: TopicName,
        payload: Bytes,
        options: &PublishOptions,
    ) -> Result<(), PublishError> {
        self.engine.publish(
            Some(self.origin()),
            topic,
            payload,
            options,
            Some(&self.route_cache),
        )?;
        self.session.count_published();
        Ok(())
    }

    /// Subscribes to each filter; one result per filter.
    pub(crate) fn subscribe(
        &self,
        filters: &[(&str, SubOptions)],
    ) -> Result<Vec<Result<QoS, SubscribeError>>, SessionError> {
        self.engine.subscribe(
            &self.session,
            self.generation,
            self.username.as_deref(),
            filters,
        )
    }

    /// Subscribes to one filter; the granted QoS.
    pub(crate) fn subscribe_one(
        &self,
        filter: &str,
        options: SubOptions,
    ) -> Result<QoS, SubscribeError> {
        let mut results = self.subscribe(&[(filter, options)])?;
        results
            .pop()
            .unwrap_or(Err(SubscribeError::Session(SessionError::BrokerClosed)))
    }

    /// Unsubscribes from each filter; per filter, whether it was subscribed.
    pub(crate) fn unsubscribe(
        &self,
        filters: &[&str],
    ) -> Result<Vec<Result<bool, SubscribeError>>, SessionError> {
        self.engine
            .unsubscribe(&self.session, self.generation, filters)
    }

    /// Takes the next thing to send, reporting expired deliveries it skipped.
    #[inline]
    pub(crate) fn take_one(&self) -> Result<Option<Next>, SessionError> {
        let mut one = One::default();
        let request = TakeRequest {
            generation: self.generation,
            max: 1,
            auto_ack: self.auto_ack,
            clock: self.engine.clock(),
        };
        let result = self.session.take(request, &mut one);
        for delivery in one.expired {
            self.engine.emit(&Event::MessageDropped {
                client_id: self.client_id(),
                topic: &delivery.publication.topic,
                reason: DropReason::Expired,
            });
        }
        result.map(|()| one.next)
    }

    /// What lets the message handed out as `taken` acknowledge itself; `None` for QoS 0 or
    /// with auto-acknowledgement.
    pub(crate) fn ack_handle(&self, taken: &Taken) -> Option<AckHandle> {
        (taken.packet_id.is_some() && !self.auto_ack)
            .then(|| AckHandle::new(self.session.clone(), self.generation, taken.seq))
    }

    /// Completes a QoS 2 delivery an in-process receiver already holds (the PUBREL it has
    /// no use for).
    pub(crate) fn complete_released(&self, packet_id: u16) -> Result<(), SessionError> {
        self.session.pubcomp(self.generation, packet_id).map(drop)
    }

    /// Whether nothing is ready in the queue (a lock-free hint).
    pub(crate) fn queue_is_empty(&self) -> bool {
        self.session.queue_is_empty()
    }

    /// Whether deliveries wait behind a full in-flight window.
    pub(crate) fn window_blocked(&self) -> bool {
        self.session.window_blocked()
    }

    /// Raises the waiting flag before sleeping; `true` if something arrived meanwhile.
    pub(crate) fn park(&self) -> bool {
        self.session.park()
    }

    /// Changes how long the session outlives this connection, capped by
    /// `max_session_expiry`.
    pub(crate) fn set_session_expiry(&self, expiry: Duration) -> Result<(), SessionError> {
        let cap = self
            .engine
            .config()
            .max_session_expiry
            .unwrap_or(NEVER_EXPIRE);
        self.session.set_expiry(self.generation, expiry, cap)
    }

    /// Ends the connection cleanly: no will [MQTT-3.1.2-10].
    pub(crate) fn disconnect(mut self) {
        self.disconnected = true;
        self.engine
            .detach(&self.session, self.generation, DisconnectReason::Normal);
    }
}

/// The acknowledgement protocol of a transport.
impl Connection {
    /// PUBACK; whether a QoS 1 delivery with that id was in flight.
    pub(crate) fn puback(&self, packet_id: u16) -> Result<bool, SessionError> {
        notified(self.session.puback(self.generation, packet_id))
    }

    /// PUBREC; whether a QoS 2 delivery with that id was in flight.
    pub(crate) fn pubrec(&self, packet_id: u16) -> Result<bool, SessionError> {
        self.session.pubrec(self.generation, packet_id)
    }

    /// PUBCOMP; whether a released QoS 2 delivery with that id was in flight.
    pub(crate) fn pubcomp(&self, packet_id: u16) -> Result<bool, SessionError> {
        notified(self.session.pubcomp(self.generation, packet_id))
    }

    /// An incoming QoS 2 PUBLISH: routed once, its id held until PUBREL. `Ok(false)` for a
    /// resend of one held [MQTT-4.3.3-2].
    pub(crate) fn publish_qos2(
        &self,
        packet_id: u16,
        topic: TopicName,
        payload: Bytes,
        options: &PublishOptions,
    ) -> Result<bool, PublishError> {
        let max = usize::from(self.engine.config().max_inflight_messages);
        match self.session.inbound_qos2(self.generation, packet_id, max)? {
            Ok(false) => Ok(false),
            Err(()) => Err(PublishError::ReceiveMaximumExceeded { max }),
            // Once the id is held the message is the broker's: it is routed even if a takeover
            // ends this connection meanwhile, as the new connection's resend of it now counts
            // as a duplicate [MQTT-4.3.3-2]. (Found by the loom model `qos2_resend_pubrel`.)
            Ok(true) => match self.route(topic, payload, &inbound(options, packet_id)) {
                Ok(()) => {
                    self.session.inbound_routed(packet_id);
                    Ok(true)
                }
                Err(e) => {
                    self.session.inbound_forget(packet_id);
                    Err(e)
                }
            },
        }
    }

    /// PUBREL; whether the id was held.
    pub(crate) fn pubrel(&self, packet_id: u16) -> Result<bool, SessionError> {
        self.session.pubrel(self.generation, packet_id)
    }
}

/// The options of an incoming QoS 2 PUBLISH's routing: tagged with its packet id in
/// durable mode (see `journal::records::InboundTag`).
fn inbound(options: &PublishOptions, packet_id: u16) -> PublishOptions {
    let mut options = options.clone();
    options.inbound_id = packet_id;
    options
}

/// An acknowledgement's answer, after waking the consumer if it reopened its window.
fn notified(
    answer: Result<(bool, Option<ValueArc<dyn Notify>>), SessionError>,
) -> Result<bool, SessionError> {
    let (known, wake) = answer?;
    if let Some(notify) = wake {
        notify.notify();
    }
    Ok(known)
}

impl Drop for Connection {
    fn drop(&mut self) {
        if !self.disconnected {
            self.engine
                .detach(&self.session, self.generation, DisconnectReason::Dropped);
        }
    }
}
