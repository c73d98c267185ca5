//! Layer 3: the router. The session table, the topic index and the client-id map, and the
//! operations that change them together: attach (connect, takeover, clean start), detach,
//! close, subscription bookkeeping, expiry and the fan-out of one publication.
//!
//! Not here: limits, hooks, the retained store and timers (`engine/`); a session's own rules
//! (`session/`). The engine holds the router behind its `RwLock`: publishers hold it for
//! reading while they match and enqueue, so a subscribe or unsubscribe (which write) is
//! ordered entirely before or after each publish: a publish that starts after `subscribe()`
//! returned is delivered, and none that starts after `unsubscribe()` returned is.
//!
//! | file | what lives there |
//! | --- | --- |
//! | `mod.rs` | [`Router`]: the tables and their operations |
//! | `route.rs` | fan-out of one publication, shared-group picks, [`RouteCache`] |
//! | `effects.rs` | [`Effects`]: work found under the lock, done after it |

mod effects;
mod route;

pub(crate) use effects::Effects;
pub(crate) use route::{RouteCache, settle};

use std::collections::HashMap;
use std::time::Duration;

use crate::index::TopicIndex;
use crate::journal::{Journal, RecoveredSession};
use crate::session::{
    Attachment, Durable, Expiry, Session, SessionCounters, SessionKey, SessionLimits,
    SubscribeRefused,
};
use crate::sync::{Arc, ValueArc};
use crate::types::config::SharedStrategy;
use crate::types::error::{ConnectError, SessionError};
use crate::types::hooks::DisconnectReason;
use crate::types::message::Delivery;
use crate::types::qos::SubOptions;
use crate::types::topic::TopicFilter;

/// The session table, the topic index and the client ids: everything behind the router lock.
#[derive(Debug)]
pub(crate) struct Router {
    index: TopicIndex<SessionKey>,
    sessions: Vec<Option<Arc<Session>>>,
    free: Vec<SessionKey>,
    by_id: HashMap<ValueArc<str>, SessionKey>,
    closed: bool,
    /// How a shared group picks its member (from the config).
    shared_strategy: SharedStrategy,
    /// Bumped by every change of the index, so a cached route is valid exactly while the
    /// version it was computed at is current.
    version: u64,
    /// Counters of sessions already discarded, so totals never go backwards.
    retired: SessionCounters,
    retired_published: u64,
    /// The journal of durable mode: every new session gets a number in it.
    journal: Option<ValueArc<Journal>>,
}

/// A connection asking to attach to the session of its client id.
#[derive(Debug)]
pub(crate) struct AttachRequest {
    pub(crate) client_id: ValueArc<str>,
    /// Discard an existing session instead of resuming it.
    pub(crate) clean_start: bool,
    /// Limits of a session made new.
    pub(crate) limits: SessionLimits,
    pub(crate) attachment: Attachment,
}

/// The session a connection attached to.
#[derive(Debug)]
pub(crate) struct Attached {
    pub(crate) session: Arc<Session>,
    pub(crate) generation: u64,
    /// An existing session was resumed [MQTT-3.2.2-2].
    pub(crate) session_present: bool,
}

impl Router {
    pub(crate) fn new(shared_strategy: SharedStrategy, journal: Option<ValueArc<Journal>>) -> Self {
        Self {
            index: TopicIndex::new(),
            sessions: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            closed: false,
            shared_strategy,
            version: 0,
            retired: SessionCounters::default(),
            retired_published: 0,
            journal,
        }
    }

    pub(crate) fn session(&self, key: SessionKey) -> Option<&Arc<Session>> {
        self.sessions.get(key as usize).and_then(Option::as_ref)
    }

    pub(crate) fn sessions(&self) -> impl Iterator<Item = &Arc<Session>> {
        self.sessions.iter().flatten()
    }

    /// The session of `client_id`, connected or not.
    pub(crate) fn find(&self, client_id: &str) -> Option<&Arc<Session>> {
        self.by_id.get(client_id).and_then(|&key| self.session(key))
    }

    /// Whether [`Router::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Subscriptions in the index.
    pub(crate) fn subscription_count(&self) -> usize {
        self.index.len()
    }

    /// Counters and publishes of the sessions already discarded.
    pub(crate) fn retired(&self) -> (SessionCounters, u64) {
        (self.retired, self.retired_published)
    }

    /// Attaches a connection to the session of its client id: takes over a connected one
    /// (its will is published [MQTT-3.1.4-3]), resumes it, or discards it for a clean start
    /// and makes a new one. `admit` is asked, under the lock, whether a connection that takes
    /// over nothing may be added (`max_clients`).
    pub(crate) fn attach(
        &mut self,
        request: AttachRequest,
        admit: impl FnOnce() -> Result<(), ConnectError>,
        effects: &mut Effects,
    ) -> Result<Attached, ConnectError> {
        if self.closed {
            return Err(ConnectError::BrokerClosed);
        }
        let existing = self.find(&request.client_id).cloned();
        if !existing.as_ref().is_some_and(|s| s.is_online()) {
            admit()?;
        }
        let mut session_present = false;
        let resumed = existing.and_then(|old| {
            if let Some(ended) = old.end_current(SessionError::TakenOver) {
                effects.ended(&old, DisconnectReason::TakenOver, ended);
            }
            if request.clean_start {
                // Durable mode: the CONNACK (Session Present 0) waits for the discard.
                old.released_acknowledged();
                self.discard(&old, effects);
                return None;
            }
            session_present = true;
            Some(old)
        });
        let session =
            resumed.unwrap_or_else(|| self.create(request.client_id, request.limits, None));
        let generation = session.attach(request.attachment);
        Ok(Attached {
            session,
            generation,
            session_present,
        })
    }

    /// A new session in a free slot.
    fn create(
        &mut self,
        client_id: ValueArc<str>,
        limits: SessionLimits,
        no: Option<u64>,
    ) -> Arc<Session> {
        let key = match self.free.pop() {
            Some(key) => key,
            None => {
                self.sessions.push(None);
                SessionKey::try_from(self.sessions.len() - 1)
                    .expect("max_clients keeps sessions below 2^32")
            }
        };
        let durable = self.journal.as_ref().map(|journal| Durable {
            no: no.unwrap_or_else(|| journal.new_session_no()),
            journal: ValueArc::downgrade(journal),
        });
        let session = Arc::new(Session::new(key, client_id.clone(), limits, durable));
        self.by_id.insert(client_id, key);
        self.sessions[key as usize] = Some(session.clone());
        session
    }

    /// Rebuilds a persistent session from its records at start (see [`Session::restore`]),
    /// with its subscriptions in the index.
    pub(crate) fn restore(
        &mut self,
        recovered: RecoveredSession,
        limits: SessionLimits,
        expires_at: Option<Duration>,
        offline_since: u64,
    ) -> Arc<Session> {
        let client_id: ValueArc<str> = ValueArc::from(recovered.record.client_id.as_str());
        let no = recovered.record.no;
        let session = self.create(client_id, limits, Some(no));
        for (filter, opts) in &recovered.record.subscriptions {
            self.index.insert(filter, session.key, *opts);
        }
        self.version += 1;
        session.restore(recovered, expires_at, offline_since);
        session
    }

    /// Connection `generation` of `session` leaves: ends it (the will unless `reason` is a
    /// normal disconnect) and discards the session if it does not outlive its connection.
    pub(crate) fn detach(
        &mut self,
        session: &Arc<Session>,
        generation: u64,
        reason: DisconnectReason,
        now: Duration,
        effects: &mut Effects,
    ) {
        let publish_will = reason != DisconnectReason::Normal;
        let Some((ended, expiry)) = session.detach(generation, publish_will, now) else {
            return;
        };
        effects.ended(session, reason, ended);
        if expiry.is_zero() || self.closed {
            self.discard(session, effects);
        }
    }

    /// Refuses new connections from now on and ends every attached one (wills published).
    /// Returns `false` if it was already closed.
    pub(crate) fn close(&mut self, effects: &mut Effects) -> bool {
        if self.closed {
            return false;
        }
        self.closed = true;
        for session in self.sessions.iter().flatten() {
            if let Some(ended) = session.end_current(SessionError::BrokerClosed) {
                effects.ended(session, DisconnectReason::BrokerShutdown, ended);
            }
        }
        true
    }

    /// Subscribes connection `generation` of `session` to `filter`, in the session and the
    /// index. Returns whether the filter is new to the session.
    pub(crate) fn subscribe(
        &mut self,
        session: &Session,
        generation: u64,
        filter: &TopicFilter,
        opts: SubOptions,
        max: usize,
    ) -> Result<bool, SubscribeRefused> {
        let is_new = session.subscribe(generation, filter, opts, max)?;
        self.index.insert(filter, session.key, opts);
        self.version += 1;
        Ok(is_new)
    }

    /// Unsubscribes connection `generation` of `session` from `filter`; whether it was
    /// subscribed.
    pub(crate) fn unsubscribe(
        &mut self,
        session: &Session,
        generation: u64,
        filter: &TopicFilter,
    ) -> Result<bool, SessionError> {
        let existed = session.unsubscribe(generation, filter)?;
        if existed {
            self.index.remove(filter, session.key);
            self.version += 1;
        }
        Ok(existed)
    }

    /// The sessions not attached whose expiry passed at `now`, and the expiry times still
    /// ahead.
    pub(crate) fn expiring(&self, now: Duration) -> (Vec<Arc<Session>>, Vec<Duration>) {
        let mut expired = Vec::new();
        let mut ahead = Vec::new();
        for session in self.sessions() {
            match session.expiry() {
                Expiry::At(at) if at <= now => expired.push(session.clone()),
                Expiry::At(at) => ahead.push(at),
                Expiry::None => {}
            }
        }
        (expired, ahead)
    }

    /// Discards `session` if it is still unattached and expired at `now` [MQTT-3.1.2-23]
    /// (it may have been resumed since [`Router::expiring`] looked). Returns whether it was.
    pub(crate) fn expire(
        &mut self,
        session: &Arc<Session>,
        now: Duration,
        effects: &mut Effects,
    ) -> bool {
        let expired = matches!(session.expiry(), Expiry::At(at) if at <= now);
        if expired {
            self.discard(session, effects);
        }
        expired
    }

    /// Discards a session (its subscriptions, slot and id) and sends what it held through
    /// shared subscriptions to other members of those groups.
    fn discard(&mut self, session: &Arc<Session>, effects: &mut Effects) {
        let moved = self.remove(session);
        route::redirect(self, moved, effects);
    }

    /// Takes a session out of the tables. Returns the deliveries it held that came through
    /// shared subscriptions and may go to another member.
    #[must_use]
    fn remove(&mut self, session: &Arc<Session>) -> Vec<Delivery> {
        let key = session.key;
        if !self.session(key).is_some_and(|s| Arc::ptr_eq(s, session)) {
            return Vec::new();
        }
        for filter in session.filters() {
            self.index.remove(&filter, key);
        }
        self.version += 1;
        self.retired.add(&session.counters());
        self.retired_published += session.published();
        self.sessions[key as usize] = None;
        self.free.push(key);
        if self.by_id.get(&session.client_id) == Some(&key) {
            self.by_id.remove(&session.client_id);
        }
        session.drain_shared()
    }
}
