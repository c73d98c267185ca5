//! Layer 4: the engine. One broker's shared state (configuration, clock, hooks, the router
//! behind its lock, the retained store, delayed wills, counters) and the operations over it:
//! connect and detach (with limits and hooks), publish, subscribe, the retained store,
//! timers (delayed wills, session expiry, `$SYS`), running effects, and statistics.
//!
//! Not here: the public handles (`api/`), which are thin wrappers of [`Engine`] and
//! [`Connection`]; the tables and fan-out (`router/`); one session's rules (`session/`).
//!
//! | file | what lives there |
//! | --- | --- |
//! | `mod.rs` | [`Engine`], its construction, events |
//! | `connect.rs` | connect (validation, hooks, limits), detach, shutdown |
//! | `connection.rs` | [`Connection`]: one attached connection, what `Client` and `WireClient` share |
//! | `publish.rs` | the publish path, the broker's own messages and wills |
//! | `room.rs`, `alarm.rs` | waiting for room in full queues (blocking or async), and the deadline alarm |
//! | `subscribe.rs` | subscribe and unsubscribe, retained messages at subscribe |
//! | `effects.rs` | running what `Effects` collected, with no lock held |
//! | `retained.rs` | the retained store |
//! | `timers.rs`, `sys.rs` | `tick`: delayed wills, session expiry, `$SYS`; the timer thread |
//! | `stats.rs` | summing the counters into [`crate::Stats`] |

mod alarm;
mod connect;
mod connection;
mod durable;
mod effects;
mod publish;
mod retained;
mod room;
mod stats;
mod subscribe;
mod sys;
mod timers;

pub(crate) use connection::{Connection, Consumer};
pub(crate) use durable::StoreGuard;
pub(crate) use publish::publish_result;
pub(crate) use room::RoomWait;

use std::fmt;
use std::time::Duration;

use crate::journal::Journal;
use crate::journal::records::TimeBase;
use crate::router::Router;
use crate::sync::{
    Arc, AtomicU64, AtomicUsize, Mutex, Ordering, RwLock, ValueArc, ValueWeak, channel,
};
use crate::types::clock::{Clock, SystemClock};
use crate::types::config::Config;
use crate::types::hooks::{ClientInfo, Event, Hooks};
use crate::types::store::Store;
use retained::RetainedStore;
use timers::PendingWill;

/// State shared by every handle of one broker.
pub(crate) struct Engine {
    config: Config,
    clock: ValueArc<dyn Clock>,
    hooks: Option<ValueArc<dyn Hooks>>,
    router: RwLock<Router>,
    retained: Mutex<RetainedStore>,
    pending_wills: Mutex<Vec<PendingWill>>,
    /// Connections attached now.
    connected: AtomicUsize,
    /// Messages the broker itself published (wills, `$SYS`).
    broker_published: AtomicU64,
    next_auto_id: AtomicU64,
    started: Duration,
    last_sys: Mutex<Option<Duration>>,
    /// Dropping it stops the timer thread.
    timer_stop: Mutex<Option<channel::Sender<()>>>,
    /// Deadlines of async waits (started on first use).
    alarm: alarm::Alarm,
    /// Durable mode's journal.
    journal: Option<ValueArc<Journal>>,
    /// See [`StoreGuard`]; the handles hold it.
    store_guard: ValueWeak<StoreGuard>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker")
            .field("config", &self.config)
            .field("connected", &self.connected.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// A broker's engine; with no `clock` given it uses the system clock and starts the
    /// timer thread.
    pub(crate) fn start(
        config: Config,
        clock: Option<ValueArc<dyn Clock>>,
        hooks: Option<ValueArc<dyn Hooks>>,
        store: Option<Box<dyn Store>>,
    ) -> (Arc<Self>, Option<ValueArc<StoreGuard>>) {
        let start_timer = clock.is_none();
        let clock = clock.unwrap_or_else(|| ValueArc::new(SystemClock::new()));
        let started = clock.now();
        let shared_strategy = config.shared_subscription_strategy;
        let (journal, recovered) = match store {
            Some(store) => {
                let time = TimeBase {
                    clock: started,
                    unix: clock.unix_time(),
                };
                let mut journal = Journal::new(store, time);
                let recovered = journal.recover();
                (Some(ValueArc::new(journal)), Some(recovered))
            }
            None => (None, None),
        };
        let guard = journal
            .as_ref()
            .map(|j| ValueArc::new(StoreGuard(j.clone())));
        let store_guard = guard
            .as_ref()
            .map_or_else(ValueWeak::new, ValueArc::downgrade);
        let engine = Arc::new(Self {
            store_guard,
            config,
            clock,
            hooks,
            router: RwLock::new(Router::new(shared_strategy, journal.clone())),
            retained: Mutex::new(RetainedStore::default()),
            pending_wills: Mutex::new(Vec::new()),
            connected: AtomicUsize::new(0),
            broker_published: AtomicU64::new(0),
            next_auto_id: AtomicU64::new(1),
            started,
            last_sys: Mutex::new(None),
            timer_stop: Mutex::new(None),
            alarm: alarm::Alarm::new(),
            journal,
        });
        if let Some(recovered) = recovered {
            engine.restore(recovered);
        }
        if start_timer {
            timers::spawn_timer(&engine);
        }
        (engine, guard)
    }

    /// The configuration in force.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// The broker's clock.
    pub(crate) fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// Whether the broker was shut down.
    pub(crate) fn is_closed(&self) -> bool {
        self.router.read().is_closed()
    }

    /// Wakes `waker` at `at` (the alarm thread).
    pub(crate) fn wake_at(&self, at: std::time::Instant, waker: &std::task::Waker) {
        self.alarm.wake_at(at, waker);
    }

    /// The hooks' view of a client.
    pub(crate) fn client_info<'a>(client_id: &'a str, username: Option<&'a str>) -> ClientInfo<'a> {
        ClientInfo {
            client_id,
            username,
        }
    }

    /// Passes `event` to the hooks, if any. Call it with no lock held.
    pub(crate) fn emit(&self, event: &Event<'_>) {
        if let Some(hooks) = &self.hooks {
            hooks.on_event(event);
        }
    }
}
