//! [`Broker`] and [`BrokerBuilder`]: the public handle of one broker.

use std::time::Duration;

use super::client::Client;
use super::wire::WireClient;
use crate::engine::{Engine, StoreGuard};
use crate::session::Notify;
use crate::sync::{Arc, ValueArc};
use crate::types::clock::Clock;
use crate::types::config::Config;
use crate::types::connect_options::ConnectOptions;
use crate::types::error::ConnectError;
use crate::types::hooks::{AuthExchange, Event, Hooks};
use crate::types::stats::{SessionStats, Stats};
use crate::types::store::{Store, StoreError, StoreStats, Ticket};

/// An in-memory MQTT broker. Cheap to clone: clones are handles to the same router.
///
/// Several independent brokers can live in one process. [`Broker::new`] never blocks and
/// needs no async runtime; with the system clock it starts one small timer thread for
/// `$SYS`, will delays and session expiry, which ends with the broker.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mqlite::{Broker, Config, ConnectOptions, QoS};
/// let broker = Broker::new(Config::default());
/// let dash = broker.connect(ConnectOptions::new("dashboard"))?;
/// dash.subscribe("sensors/+/temperature", QoS::AtLeastOnce)?;
/// let sensor = broker.connect(ConnectOptions::new("sensor-42"))?;
/// sensor.publish("sensors/42/temperature", "21.5", QoS::AtLeastOnce, false)?;
/// let msg = dash.recv_timeout(Duration::from_secs(1))?;
/// assert_eq!(msg.payload().as_ref(), b"21.5");
/// msg.ack();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Broker {
    engine: Arc<Engine>,
    /// Keeps the store open while a handle lives (durable mode).
    _store: Option<ValueArc<StoreGuard>>,
}

/// Builds a [`Broker`] with a custom clock or hooks.
#[derive(Debug, Default)]
pub struct BrokerBuilder {
    config: Config,
    clock: Option<ValueArc<dyn Clock>>,
    hooks: Option<ValueArc<dyn Hooks>>,
    store: Option<Box<dyn Store>>,
}

impl BrokerBuilder {
    /// Uses `config` for limits and policies.
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Reads time from `clock`. A broker with a clock other than the system clock starts no
    /// timer thread: call [`Broker::tick`] after advancing it.
    #[must_use]
    pub fn clock(mut self, clock: std::sync::Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Installs authentication, authorization and event hooks.
    #[must_use]
    pub fn hooks(mut self, hooks: impl Hooks) -> Self {
        self.hooks = Some(ValueArc::new(hooks));
        self
    }

    /// Makes the broker durable: retained messages, persistent sessions (subscriptions,
    /// will, expiry), their queued and in-flight messages and incoming QoS 2 ids are
    /// recorded in `store` and rebuilt from it at start. An acknowledgement (a QoS 1/2
    /// [`Client::publish`] returning, a subscribe, a connect of a new persistent session)
    /// comes only once what it recorded is durable. `mqlite_store::Persistence` is the
    /// shipped store; see `docs/durability.md`.
    #[must_use]
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Box::new(store));
        self
    }

    /// Creates the broker (in durable mode, after reading back what the store holds).
    pub fn build(self) -> Broker {
        let (engine, store) = Engine::start(self.config, self.clock, self.hooks, self.store);
        Broker {
            engine,
            _store: store,
        }
    }
}

impl Broker {
    /// A broker with `config`, the system clock and no hooks.
    pub fn new(config: Config) -> Self {
        Self::builder().config(config).build()
    }

    /// A builder for a broker with a custom clock or hooks.
    pub fn builder() -> BrokerBuilder {
        BrokerBuilder::default()
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        self.engine.config()
    }

    /// Connects a client: a new session, or the existing one of that client id.
    ///
    /// If a client with the same id is connected, its session is taken over: the old handle's
    /// next call fails with [`SessionError::TakenOver`](crate::SessionError::TakenOver) and its will is published
    /// [MQTT-3.1.4-3]. With `clean_start(false)` the existing session's subscriptions and queue
    /// carry over and [`Client::session_present`] is true [MQTT-3.2.2-2].
    ///
    /// # Errors
    ///
    /// [`ConnectError`]: an unusable client id or will, a refusal by the hooks,
    /// `max_clients`, or a shut-down broker.
    pub fn connect(&self, options: ConnectOptions) -> Result<Client, ConnectError> {
        Client::connect(&self.engine, options)
    }

    /// Connects a transport's client: a network connection or any other carrier of MQTT
    /// packets that an embedder writes (a WebSocket, a serial line). Unlike
    /// [`Broker::connect`], the handle speaks the acknowledgement protocol of the wire
    /// (see [`WireClient`]) and the session wakes the transport through `notify`, never by
    /// itself. Everything else is as for [`Broker::connect`].
    ///
    /// # Errors
    ///
    /// As [`Broker::connect`].
    pub fn connect_wire(
        &self,
        options: ConnectOptions,
        notify: std::sync::Arc<dyn Notify>,
    ) -> Result<WireClient, ConnectError> {
        WireClient::connect(&self.engine, options, notify)
    }

    /// Durable mode: a ticket that, once durable, makes everything recorded so far
    /// durable; `None` in memory mode. A transport takes one after handling a batch of
    /// packets and holds their acknowledgements until [`Broker::when_durable`] calls back
    /// (group commit).
    ///
    /// # Errors
    /// [`StoreError`] if writing to the store failed.
    pub fn durable_point(&self) -> Option<Result<Ticket, StoreError>> {
        self.engine.durable_point()
    }

    /// Durable mode: how many changes the calling thread has made to the store so far
    /// (records appended, and releases an answer acknowledges); 0 in memory mode. A
    /// transport compares it before and after handling a packet on its thread: if it did
    /// not change, the answer changed nothing durable and need not wait for
    /// [`Broker::when_durable`]. The releases that count: the PUBACK of a publish that
    /// clears a retained message, the PUBCOMP that frees a recorded incoming QoS 2 id, the
    /// CONNACK of a clean start that discarded a session (not a subscriber's
    /// acknowledgement). Every change an answer depends on is made by the thread that
    /// handles the packet; other threads' changes (another connection's publishes) do not
    /// count, so they do not hold this connection's output.
    pub fn records_appended(&self) -> u64 {
        self.engine.records_appended()
    }

    /// Calls `done` once `ticket` is durable, or with the error that prevented it; never
    /// blocks (`done` may run on another thread, or on this one before this returns).
    pub fn when_durable(
        &self,
        ticket: Ticket,
        done: Box<dyn FnOnce(Result<(), StoreError>) + Send>,
    ) {
        self.engine.when_durable(ticket, done);
    }

    /// Blocks until everything recorded so far is durable (no-op in memory mode).
    ///
    /// # Errors
    /// [`StoreError`] if the store could not make it durable.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.engine.sync()
    }

    /// The store's figures (bytes on disk, records, fsyncs and their latency, what was
    /// recovered at start); `None` in memory mode.
    pub fn store_stats(&self) -> Option<StoreStats> {
        self.engine.store_stats()
    }

    /// Ends every connection (publishing wills), refuses new ones, and wakes every blocked
    /// receiver: after draining what is queued, it gets [`SessionError::BrokerClosed`](crate::SessionError::BrokerClosed).
    /// Idempotent.
    pub fn shutdown(&self) {
        self.engine.shutdown();
    }

    /// Whether [`Broker::shutdown`] was called.
    pub fn is_closed(&self) -> bool {
        self.engine.is_closed()
    }

    /// Starts an enhanced authentication exchange (MQTT 5.0 §4.12) for a client that named
    /// the Authentication Method `method`: the hooks' [`Hooks::start_auth`]. `None` when there
    /// are no hooks or they do not support `method`. Feed the exchange the client's data
    /// with [`AuthExchange::step`]; once it succeeded, connect the client with
    /// [`ConnectOptions::enhanced_auth`]. A connected client re-authenticates with a new
    /// exchange.
    ///
    /// `client_id` may be empty (to be assigned at connect); `username` must be the one the
    /// client will connect with. Call it with no lock held: it calls the hooks.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqlite::{AuthStep, Authenticator, Broker, ClientInfo, ConnectOptions, Hooks};
    /// #[derive(Debug)]
    /// struct Knock(u8);
    /// impl Authenticator for Knock {
    ///     fn step(&mut self, data: Option<&[u8]>) -> AuthStep {
    ///         match (self.0, data) {
    ///             (0, Some(b"knock")) => { self.0 = 1; AuthStep::Continue(b"who's there?".to_vec()) }
    ///             (1, Some(b"alice")) => AuthStep::Success(None),
    ///             _ => AuthStep::Fail,
    ///         }
    ///     }
    /// }
    /// #[derive(Debug)]
    /// struct KnockKnock;
    /// impl Hooks for KnockKnock {
    ///     fn authenticate(&self, _: &ClientInfo<'_>, _: Option<&[u8]>) -> bool { false }
    ///     fn start_auth(&self, _: &ClientInfo<'_>, method: &str) -> Option<Box<dyn Authenticator>> {
    ///         (method == "KNOCK").then(|| Box::new(Knock(0)) as Box<dyn Authenticator>)
    ///     }
    /// }
    /// let broker = Broker::builder().hooks(KnockKnock).build();
    /// assert!(broker.start_auth("c", None, "SCRAM-SHA-1").is_none());
    /// let mut exchange = broker.start_auth("c", None, "KNOCK").expect("supported");
    /// assert_eq!(exchange.step(Some(b"knock")), AuthStep::Continue(b"who's there?".to_vec()));
    /// assert_eq!(exchange.step(Some(b"alice")), AuthStep::Success(None));
    /// let client = broker.connect(ConnectOptions::new("c").enhanced_auth(&exchange))?;
    /// assert!(broker.connect(ConnectOptions::new("d")).is_err(), "authenticate says no");
    /// # drop(client);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_auth(
        &self,
        client_id: &str,
        username: Option<&str>,
        method: &str,
    ) -> Option<AuthExchange> {
        self.engine.start_auth(client_id, username, method)
    }

    /// Passes `event` to the hooks' [`Hooks::on_event`] as if the broker had seen it; does
    /// nothing without hooks. For a frontend that refuses clients or actions by rules of its
    /// own (a password file, an ACL) and reports them like the hooks' refusals
    /// ([`Event::ConnectDenied`], [`Event::PublishDenied`], [`Event::SubscribeDenied`],
    /// [`Event::DeliveryDenied`], [`Event::ReauthDenied`]). Call it with no lock held.
    pub fn emit_event(&self, event: &Event<'_>) {
        self.engine.emit(event);
    }

    /// Runs what is due at the clock's current time: delayed wills, session expiry and
    /// `$SYS` statistics. Returns how long until the next thing is due, if anything is.
    /// The timer thread calls it; with a custom clock, tests call it after advancing time.
    pub fn tick(&self) -> Option<Duration> {
        self.engine.tick()
    }

    /// A snapshot of the broker's counters.
    pub fn stats(&self) -> Stats {
        self.engine.stats()
    }

    /// A snapshot of the session of `client_id`, connected or not; `None` if there is none.
    pub fn session_stats(&self, client_id: &str) -> Option<SessionStats> {
        self.engine.session_stats(client_id)
    }
}
