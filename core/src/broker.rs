//! The [`Broker`] handle, its builder, and connection lifecycle (connect, detach, shutdown).
//! The options of a connect are in `connect_options.rs`.

use std::fmt;
use std::time::Duration;

use crate::client::{ChannelWaker, Client};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::connect_options::ConnectOptions;
use crate::error::{ConnectError, SessionError};
use crate::hooks::{AuthExchange, ClientInfo, DenyReason, DisconnectReason, Event, Hooks};
use crate::router::{RouterState, redirect};
use crate::session::{Session, SessionLimits, Wake};
use crate::sync::{Arc, AtomicU64, AtomicUsize, Mutex, Ordering, RwLock, ValueArc, channel};
use crate::timers::PendingWill;
use crate::topic::TopicName;

/// Session expiry meaning "never" (MQTT 5.0: 0xFFFFFFFF seconds; 3.1.1 clean session = 0).
pub const NEVER_EXPIRE: Duration = Duration::from_secs(u32::MAX as u64);

/// State shared by every handle of one broker.
pub(crate) struct BrokerShared {
    pub(crate) config: Config,
    pub(crate) clock: ValueArc<dyn Clock>,
    pub(crate) hooks: Option<ValueArc<dyn Hooks>>,
    pub(crate) state: RwLock<RouterState>,
    pub(crate) retained: Mutex<crate::retained::RetainedStore>,
    pub(crate) pending_wills: Mutex<Vec<PendingWill>>,
    /// Connections attached now.
    pub(crate) connected: AtomicUsize,
    /// Messages the broker itself published (wills, `$SYS`).
    pub(crate) broker_published: AtomicU64,
    next_auto_id: AtomicU64,
    pub(crate) started: Duration,
    pub(crate) last_sys: Mutex<Option<Duration>>,
    /// Dropping it stops the timer thread.
    pub(crate) timer_stop: Mutex<Option<channel::Sender<()>>>,
}

impl fmt::Debug for BrokerShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker")
            .field("config", &self.config)
            .field("connected", &self.connected.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

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
    pub(crate) shared: Arc<BrokerShared>,
}

/// Builds a [`Broker`] with a custom clock or hooks.
#[derive(Debug, Default)]
pub struct BrokerBuilder {
    config: Config,
    clock: Option<ValueArc<dyn Clock>>,
    hooks: Option<ValueArc<dyn Hooks>>,
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

    /// Creates the broker.
    pub fn build(self) -> Broker {
        let start_timer = self.clock.is_none();
        let clock = self
            .clock
            .unwrap_or_else(|| ValueArc::new(SystemClock::new()));
        let started = clock.now();
        let shared_strategy = self.config.shared_subscription_strategy;
        let broker = Broker {
            shared: Arc::new(BrokerShared {
                config: self.config,
                clock,
                hooks: self.hooks,
                state: RwLock::new(RouterState::new(shared_strategy)),
                retained: Mutex::new(crate::retained::RetainedStore::default()),
                pending_wills: Mutex::new(Vec::new()),
                connected: AtomicUsize::new(0),
                broker_published: AtomicU64::new(0),
                next_auto_id: AtomicU64::new(1),
                started,
                last_sys: Mutex::new(None),
                timer_stop: Mutex::new(None),
            }),
        };
        if start_timer {
            crate::timers::spawn_timer(&broker.shared);
        }
        broker
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
        &self.shared.config
    }

    /// Connects a client: a new session, or the existing one of that client id.
    ///
    /// If a client with the same id is connected, its session is taken over: the old handle's
    /// next call fails with [`SessionError::TakenOver`] and its will is published
    /// [MQTT-3.1.4-3]. With `clean_start(false)` the existing session's subscriptions and queue
    /// carry over and [`Client::session_present`] is true [MQTT-3.2.2-2].
    ///
    /// # Errors
    ///
    /// [`ConnectError`]: an unusable client id or will, a refusal by the hooks,
    /// `max_clients`, or a shut-down broker.
    pub fn connect(&self, options: ConnectOptions) -> Result<Client, ConnectError> {
        BrokerShared::connect(&self.shared, options)
    }

    /// Ends every connection (publishing wills), refuses new ones, and wakes every blocked
    /// receiver: after draining what is queued, it gets [`SessionError::BrokerClosed`].
    /// Idempotent.
    pub fn shutdown(&self) {
        self.shared.shutdown();
    }

    /// Whether [`Broker::shutdown`] was called.
    pub fn is_closed(&self) -> bool {
        self.shared.state.read().closed
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
        let hooks = self.shared.hooks.as_ref()?;
        let info = BrokerShared::client_info(client_id, username);
        let authenticator = hooks.start_auth(&info, method)?;
        Some(AuthExchange::new(method, username, authenticator))
    }

    /// Passes `event` to the hooks' [`Hooks::on_event`] as if the broker had seen it; does
    /// nothing without hooks. For a frontend that refuses clients or actions by rules of its
    /// own (a password file, an ACL) and reports them like the hooks' refusals
    /// ([`Event::ConnectDenied`], [`Event::PublishDenied`], [`Event::SubscribeDenied`],
    /// [`Event::DeliveryDenied`], [`Event::ReauthDenied`]). Call it with no lock held.
    pub fn emit_event(&self, event: &Event<'_>) {
        self.shared.emit(event);
    }

    /// Runs what is due at the clock's current time: delayed wills, session expiry and
    /// `$SYS` statistics. Returns how long until the next thing is due, if anything is.
    /// The timer thread calls it; with a custom clock, tests call it after advancing time.
    pub fn tick(&self) -> Option<Duration> {
        self.shared.tick()
    }
}

impl BrokerShared {
    pub(crate) fn client_info<'a>(client_id: &'a str, username: Option<&'a str>) -> ClientInfo<'a> {
        ClientInfo {
            client_id,
            username,
        }
    }

    fn validate_connect(&self, options: &mut ConnectOptions) -> Result<(), ConnectError> {
        let invalid = |reason| ConnectError::InvalidClientId {
            client_id: options.client_id.chars().take(64).collect(),
            reason,
        };
        if options.client_id.len() > self.config.max_client_id_length {
            return Err(invalid("longer than max_client_id_length"));
        }
        if options.client_id.contains('\0') {
            return Err(invalid("contains U+0000 [MQTT-1.5.4-2]"));
        }
        if options.client_id.is_empty() {
            let n = self.next_auto_id.fetch_add(1, Ordering::Relaxed);
            options.client_id = format!("mqlite-auto-{n}");
        }
        let info = Self::client_info(&options.client_id, options.username.as_deref());
        // A finished enhanced authentication exchange replaces `authenticate`.
        let refused = match &options.enhanced_auth {
            Some(proof) => {
                (!proof.admits(info.username)).then_some(DenyReason::AuthenticationFailed)
            }
            None => self
                .hooks
                .as_ref()
                .is_some_and(|hooks| !hooks.authenticate(&info, options.password.as_deref()))
                .then_some(DenyReason::Hooks),
        };
        if let Some(reason) = refused {
            return Err(self.connect_denied(&info, reason));
        }
        if let Some(will) = &options.will {
            let topic = TopicName::new(&will.topic).map_err(ConnectError::InvalidWillTopic)?;
            self.check_limits(&topic, will.payload.len())
                .map_err(ConnectError::WillLimit)?;
            if let Some(hooks) = &self.hooks
                && !hooks.authorize_publish(&info, &topic, will.qos, will.retain)
            {
                return Err(self.connect_denied(&info, DenyReason::Hooks));
            }
        }
        Ok(())
    }

    /// Reports a refused connect ([`Event::ConnectDenied`]) and returns its error.
    fn connect_denied(&self, info: &ClientInfo<'_>, reason: DenyReason) -> ConnectError {
        self.emit(&Event::ConnectDenied {
            client_id: info.client_id,
            username: info.username,
            reason,
        });
        ConnectError::NotAuthorized {
            client_id: info.client_id.to_owned(),
        }
    }

    fn limits_for(&self, options: &ConnectOptions) -> SessionLimits {
        let c = &self.config;
        SessionLimits {
            max_queued_messages: options
                .max_queued_messages
                .map_or(c.max_queued_messages, |m| m.min(c.max_queued_messages)),
            max_queued_bytes: c.max_queued_bytes,
            receive_maximum: options
                .receive_maximum
                .map_or(c.max_inflight_messages, |m| m.min(c.max_inflight_messages))
                .max(1),
            overflow: options.overflow_policy.unwrap_or(c.overflow_policy),
            queue_qos0: c.queue_qos0_messages,
        }
    }

    pub(crate) fn connect(
        this: &Arc<Self>,
        mut options: ConnectOptions,
    ) -> Result<Client, ConnectError> {
        this.validate_connect(&mut options)?;
        let in_process = options.waker.is_none();
        let (doorbell, waker) = match options.waker.take() {
            Some(waker) => (None, waker),
            None => {
                let (tx, rx) = channel::bounded(1);
                let waker: ValueArc<dyn Wake> = ValueArc::new(ChannelWaker(tx));
                (Some(rx), waker)
            }
        };
        let limits = this.limits_for(&options);
        if let Some(cap) = this.config.max_session_expiry {
            options.session_expiry = options.session_expiry.min(cap);
        }
        let client_id: ValueArc<str> = ValueArc::from(options.client_id.as_str());
        let mut effects = this.effects();
        let mut state = this.state.write();
        if state.closed {
            return Err(ConnectError::BrokerClosed);
        }
        let existing = state
            .by_id
            .get(&client_id)
            .and_then(|&key| state.session(key))
            .cloned();
        let taking_over = existing
            .as_ref()
            .is_some_and(|s| s.inner.lock().is_online());
        if !taking_over && this.connected.load(Ordering::Relaxed) >= this.config.max_clients {
            return Err(ConnectError::TooManyClients {
                max: this.config.max_clients,
            });
        }
        let mut session_present = false;
        let session = match existing {
            Some(old) => {
                let mut s = old.inner.lock();
                let generation = s.generation();
                if let Some((will, waker)) =
                    old.end(&mut s, generation, SessionError::TakenOver, true)
                {
                    effects.ended(&old, DisconnectReason::TakenOver, will, waker);
                }
                drop(s);
                if options.clean_start {
                    let moved = state.remove(&old);
                    redirect(&state, moved, &mut effects);
                    None
                } else {
                    session_present = true;
                    Some(old)
                }
            }
            None => None,
        };
        let session = session.unwrap_or_else(|| {
            let key = state.next_key();
            let session = Arc::new(Session::new(key, client_id.clone(), limits));
            state.insert(session.clone());
            session
        });
        let generation = {
            let mut s = session.inner.lock();
            session.configure(
                &mut s,
                limits,
                options.will.take(),
                options.username.clone(),
                options.session_expiry,
            );
            session.attach(&mut s, waker, in_process)
        };
        this.connected.fetch_add(1, Ordering::Relaxed);
        drop(state);
        // A new connection to the session cancels a delayed will [MQTT-3.1.3-9].
        this.pending_wills
            .lock()
            .retain(|w| w.client_id != client_id);
        this.run_effects(effects);
        // The handle exists before the embedder's hook runs: if the hook panics, unwinding
        // drops it and the session ends as lost, instead of staying attached to nobody.
        let client = Client::new(
            this.clone(),
            session,
            generation,
            doorbell,
            session_present,
            options.username,
            options.auto_ack,
        );
        this.emit(&Event::ClientConnected {
            client_id: &client_id,
            session_present,
        });
        Ok(client)
    }

    /// Ends connection `generation` of `session`: publishes the will unless `reason` is a
    /// normal disconnect, and discards the session if it does not outlive its connection.
    pub(crate) fn detach(&self, session: &Arc<Session>, generation: u64, reason: DisconnectReason) {
        let mut effects = self.effects();
        let mut state = self.state.write();
        let mut s = session.inner.lock();
        let publish_will = reason != DisconnectReason::Normal;
        let Some((will, waker)) =
            session.end(&mut s, generation, SessionError::TakenOver, publish_will)
        else {
            return;
        };
        let expiry = s.expiry;
        let now = self.clock.now();
        s.expires_at = (expiry != NEVER_EXPIRE).then(|| now.saturating_add(expiry));
        drop(s);
        // The will waits for the earlier of its delay and the session's end [MQTT-3.1.3-9].
        let will = will.map(|mut w| {
            w.delay = w.delay.min(expiry);
            w
        });
        effects.ended(session, reason, will, waker);
        if expiry.is_zero() || state.closed {
            let moved = state.remove(session);
            redirect(&state, moved, &mut effects);
        }
        drop(state);
        self.run_effects(effects);
    }

    pub(crate) fn shutdown(&self) {
        let mut effects = self.effects();
        let mut state = self.state.write();
        if state.closed {
            return;
        }
        state.closed = true;
        for session in state.sessions() {
            let mut s = session.inner.lock();
            let generation = s.generation();
            if let Some((will, waker)) =
                session.end(&mut s, generation, SessionError::BrokerClosed, true)
            {
                drop(s);
                effects.ended(session, DisconnectReason::BrokerShutdown, will, waker);
            }
        }
        drop(state);
        // Delayed wills are due now: the broker is ending every session.
        for will in effects.rare().wills.iter_mut() {
            will.2.delay = Duration::ZERO;
        }
        let pending = std::mem::take(&mut *self.pending_wills.lock());
        effects
            .rare()
            .wills
            .extend(pending.into_iter().map(|p| (p.client_id, p.origin, p.will)));
        self.run_effects(effects);
        drop(self.timer_stop.lock().take());
    }

    pub(crate) fn emit(&self, event: &Event<'_>) {
        if let Some(hooks) = &self.hooks {
            hooks.on_event(event);
        }
    }
}
