//! `Broker`: the router (in memory, or durable with `persistence=`), `connect()`, which turns
//! keyword arguments into core's `ConnectOptions`, and `listen()`, which starts a network
//! frontend on the same router.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use mqlite::{Bytes, ConnectOptions, NEVER_EXPIRE, SessionError};
use mqlite_net::ServerConfig;
use mqlite_store::{Persistence, SyncPolicy};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::client::Client;
use crate::config::{self, Config};
use crate::convert;
use crate::errors;
use crate::message::Will;
use crate::server::{ListenAddress, Listener, Server};

/// An MQTT broker, in memory or durable. Clients of the same process connect with
/// `connect()`; network clients reach the same router through `listen()`.
///
/// `Broker(config=Config(...))` sets limits. `persistence='DIR'` makes it durable: retained
/// messages, persistent sessions and their queued messages are kept in the store in `DIR` and
/// survive a restart (or a crash) of the process; `persistence_sync` says when they reach the
/// disk: `'commit'` (the default; before a QoS 1/2 publish returns, sharing fsyncs between
/// threads), `'periodic'` (every `persistence_sync_interval_ms`) or `'none'` (left to the
/// operating system). Use it as a context manager (or call `shutdown()`) to close its network
/// listeners, end every connection, publishing wills, and wake blocked receivers, which then
/// raise `BrokerClosed`.
#[pyclass(frozen, module = "mqlite._mqlite")]
#[derive(Debug)]
pub(crate) struct Broker {
    inner: mqlite::Broker,
    /// Durable mode: the store's directory and what opening it found.
    store: Option<StoreInfo>,
    /// The network frontends started by `listen()`; closed by `shutdown()` and on drop.
    /// Held only briefly: never across a join or a GIL release.
    servers: Mutex<Vec<Arc<Listener>>>,
}

/// What a durable broker remembers of its store.
#[derive(Debug)]
struct StoreInfo {
    dir: PathBuf,
    recovery_summary: String,
}

/// The sync policy named `name`, or a `ValueError` naming the option.
fn sync_policy(name: &str, interval_ms: i64) -> PyResult<SyncPolicy> {
    let interval = u64::try_from(interval_ms)
        .ok()
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis)
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "persistence_sync_interval_ms must be at least 1, not {interval_ms}"
            ))
        })?;
    match name {
        "commit" => Ok(SyncPolicy::Commit),
        "periodic" => Ok(SyncPolicy::Periodic(interval)),
        "none" => Ok(SyncPolicy::None),
        other => Err(PyValueError::new_err(format!(
            "persistence_sync must be 'commit', 'periodic' or 'none', not '{other}'"
        ))),
    }
}

impl Broker {
    /// Whether the broker keeps its state in a store: then publishes at QoS 1/2, subscribes
    /// and connects may wait for an fsync, so they release the GIL.
    pub(crate) fn is_durable(&self) -> bool {
        self.store.is_some()
    }

    fn servers(&self) -> MutexGuard<'_, Vec<Arc<Listener>>> {
        self.servers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Broker {
    /// No Python object can reach the listeners any more (each `Server` keeps its broker
    /// alive), so they stop with it. Joining needs no GIL: the frontend's threads never take
    /// it.
    fn drop(&mut self) {
        let servers = self
            .servers
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for listener in servers.drain(..) {
            listener.close();
        }
    }
}

#[pymethods]
impl Broker {
    #[new]
    #[pyo3(signature = (config=None, *, persistence=None, persistence_sync="commit",
        persistence_sync_interval_ms=1000))]
    fn new(
        py: Python<'_>,
        config: Option<&Config>,
        persistence: Option<PathBuf>,
        persistence_sync: &str,
        persistence_sync_interval_ms: i64,
    ) -> PyResult<Self> {
        let config = config.map(|c| c.inner.clone()).unwrap_or_default();
        // Checked in memory mode too, so that a typo is found before it matters.
        let policy = sync_policy(persistence_sync, persistence_sync_interval_ms)?;
        let builder = mqlite::Broker::builder().config(config);
        let (inner, store) = match persistence {
            None => (builder.build(), None),
            Some(dir) => {
                // Opening reads the whole store back (seconds for a large one) and building
                // rebuilds the sessions from it: both without the GIL.
                let (inner, recovery_summary) = py
                    .detach(|| {
                        let persistence = Persistence::open(&dir, policy)?;
                        let summary = persistence.recovery_summary().to_owned();
                        Ok::<_, mqlite_store::OpenError>((
                            builder.store(persistence).build(),
                            summary,
                        ))
                    })
                    .map_err(errors::open_store)?;
                let info = StoreInfo {
                    dir,
                    recovery_summary,
                };
                (inner, Some(info))
            }
        };
        Ok(Self {
            inner,
            store,
            servers: Mutex::new(Vec::new()),
        })
    }

    /// Connects a client: a new session, or the existing one of that client id.
    ///
    /// A client already connected with the same id is taken over: its next call raises
    /// `TakenOver` and its will is published. With `clean_start=False` an existing session
    /// resumes (`Client.session_present` is then true). `session_expiry` is how many seconds
    /// the session outlives its connection (`None`: forever; 0, the default: it ends at
    /// disconnect). With `auto_ack=True` QoS 1 and 2 messages need no `Message.ack()`.
    #[pyo3(signature = (client_id, *, clean_start=true, session_expiry=Some(0.0), will=None,
        username=None, password=None, receive_maximum=None, overflow_policy=None,
        max_queued_messages=None, auto_ack=false),
        text_signature = "($self, client_id, *, clean_start=True, session_expiry=0.0, \
            will=None, username=None, password=None, receive_maximum=None, \
            overflow_policy=None, max_queued_messages=None, auto_ack=False)")]
    #[allow(clippy::too_many_arguments)] // keyword arguments, one per connect option
    fn connect(
        &self,
        py: Python<'_>,
        client_id: &str,
        clean_start: bool,
        session_expiry: Option<f64>,
        will: Option<&Will>,
        username: Option<String>,
        password: Option<&Bound<'_, PyAny>>,
        receive_maximum: Option<u16>,
        overflow_policy: Option<&str>,
        max_queued_messages: Option<usize>,
        auto_ack: bool,
    ) -> PyResult<Client> {
        let expiry = convert::seconds(session_expiry, "session_expiry")?.unwrap_or(NEVER_EXPIRE);
        let mut options = ConnectOptions::new(client_id)
            .clean_start(clean_start)
            .session_expiry(expiry.min(NEVER_EXPIRE))
            .auto_ack(auto_ack);
        if let Some(will) = will {
            options = options.will(will.to_core()?);
        }
        if let Some(username) = username {
            let password: Option<Bytes> = password
                .map(|p| convert::payload(p, "password"))
                .transpose()?;
            options = options.credentials(username, password);
        }
        if let Some(max) = receive_maximum {
            options = options.receive_maximum(max);
        }
        if let Some(policy) = overflow_policy {
            options = options.overflow_policy(config::from_name("overflow_policy", policy)?);
        }
        if let Some(max) = max_queued_messages {
            options = options.max_queued_messages(max);
        }
        let client = if self.is_durable() {
            // A new persistent session is on disk before connect returns.
            py.detach(|| self.inner.connect(options))
        } else {
            self.inner.connect(options)
        }
        .map_err(errors::connect)?;
        Ok(Client::new(client, self.is_durable()))
    }

    /// Starts the network frontend on this broker's router: MQTT 3.1, 3.1.1 and 5.0 clients
    /// connect over TCP to `address` and share topics, retained messages and sessions with
    /// the in-process clients.
    ///
    /// `address` is `'host:port'` (`'[::1]:1883'` for IPv6) or `(host, port)`; port 0, the
    /// default, picks a free port (read it from `Server.port`). A host name is resolved and
    /// every address it resolves to is bound (only the first with port 0). `workers` is the
    /// number of event-loop threads (default: one per core). Binding and starting release
    /// the GIL. The server runs until `Server.close()` or this broker's `shutdown()`.
    ///
    /// Raises `ValueError` for an address that does not parse or resolve, `OSError` (with
    /// `errno` set and the address in the message) if it cannot be bound, e.g. when it is
    /// in use, and `BrokerClosed` after `shutdown()`.
    #[pyo3(signature = (address=None, *, workers=None),
        text_signature = "($self, address='127.0.0.1:0', *, workers=None)")]
    fn listen(
        slf: &Bound<'_, Self>,
        address: Option<&Bound<'_, PyAny>>,
        workers: Option<usize>,
    ) -> PyResult<Server> {
        let py = slf.py();
        let me = slf.get();
        let address = ListenAddress::from_py(address)?;
        let mut config = ServerConfig::default();
        match workers {
            Some(0) => return Err(PyValueError::new_err("workers must be at least 1, not 0")),
            Some(n) => config.workers = n,
            None => {}
        }
        if me.inner.is_closed() {
            return Err(errors::session(SessionError::BrokerClosed));
        }
        let broker = me.inner.clone();
        let listener = py.detach(|| Listener::start(broker, &address, config))?;
        let listener = Arc::new(listener);
        {
            let mut servers = me.servers();
            // Checked under the lock `shutdown()` holds while it takes the list: a server
            // added here is either seen by it or refused.
            if !me.inner.is_closed() {
                servers.retain(|s| !s.is_closed());
                servers.push(listener.clone());
                return Ok(Server::new(listener, slf.clone().unbind()));
            }
        }
        py.detach(|| listener.close());
        Err(errors::session(SessionError::BrokerClosed))
    }

    /// Closes the network listeners (see `listen()`), ends every connection (publishing
    /// wills), refuses new ones and wakes every blocked receiver. Waits for the listeners'
    /// threads with the GIL released. Idempotent.
    fn shutdown(&self, py: Python<'_>) {
        // Without the GIL from the start: a durable broker's shutdown waits for the store.
        // The lock is taken inside, so it is never held across a GIL release, and nothing
        // below needs the GIL.
        py.detach(|| {
            let servers = {
                let mut servers = self.servers();
                self.inner.shutdown();
                std::mem::take(&mut *servers)
            };
            for listener in servers {
                listener.close();
            }
        });
    }

    /// Blocks (without the GIL) until everything the broker recorded so far is on disk,
    /// per its sync policy: with `'periodic'` or `'none'` this is an fsync now. Does nothing
    /// in memory mode. Raises `NotDurable` if the store could not make it durable.
    fn sync(&self, py: Python<'_>) -> PyResult<()> {
        if !self.is_durable() {
            return Ok(());
        }
        py.detach(|| self.inner.sync()).map_err(errors::sync)
    }

    /// The store's directory (as given to `persistence=`), or `None` in memory mode.
    #[getter]
    fn persistence(&self) -> Option<PathBuf> {
        self.store.as_ref().map(|s| s.dir.clone())
    }

    /// One line saying what opening the store found (records recovered, time taken, and any
    /// damage moved aside to `DIR/damaged-*`), or `None` in memory mode.
    #[getter]
    fn recovery_summary(&self) -> Option<&str> {
        self.store.as_ref().map(|s| s.recovery_summary.as_str())
    }

    /// Whether `shutdown()` was called.
    #[getter]
    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// A snapshot of the broker's counters, as a dict of ints.
    ///
    /// A durable broker adds its store's figures, under keys that start with `store_`:
    /// `bytes_on_disk`, `live_records`, `records_written`, `bytes_written`, `fsyncs`,
    /// `errors` (failed writes or syncs), `fsync_mean_us`, `fsync_max_us`, and what opening
    /// the store found: `recovery_us`, `records_recovered`, `records_discarded` and
    /// `bytes_discarded`. Durations are in microseconds. In memory mode these keys are absent.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("clients_connected", s.clients_connected)?;
        d.set_item("sessions", s.sessions)?;
        d.set_item("subscriptions", s.subscriptions)?;
        d.set_item("retained_messages", s.retained_messages)?;
        d.set_item("retained_bytes", s.retained_bytes)?;
        d.set_item("messages_received", s.messages_received)?;
        d.set_item("messages_sent", s.messages_sent)?;
        d.set_item("dropped_queue_full", s.dropped_queue_full)?;
        d.set_item("dropped_offline", s.dropped_offline)?;
        d.set_item("dropped_expired", s.dropped_expired)?;
        if let Some(s) = self.inner.store_stats() {
            let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
            d.set_item("store_bytes_on_disk", s.bytes_on_disk)?;
            d.set_item("store_live_records", s.live_records)?;
            d.set_item("store_records_written", s.records_written)?;
            d.set_item("store_bytes_written", s.bytes_written)?;
            d.set_item("store_fsyncs", s.fsyncs)?;
            d.set_item("store_errors", s.errors)?;
            d.set_item("store_fsync_mean_us", micros(s.fsync_mean))?;
            d.set_item("store_fsync_max_us", micros(s.fsync_max))?;
            d.set_item("store_recovery_us", micros(s.recovery_time))?;
            d.set_item("store_records_recovered", s.records_recovered)?;
            d.set_item("store_records_discarded", s.records_discarded)?;
            d.set_item("store_bytes_discarded", s.bytes_discarded)?;
        }
        Ok(d)
    }

    /// Returns the broker itself.
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Shuts the broker down (see `shutdown()`); exceptions propagate.
    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.shutdown(py);
        false
    }

    fn __repr__(&self) -> String {
        let closed = if self.inner.is_closed() {
            "True"
        } else {
            "False"
        };
        match &self.store {
            Some(store) => format!(
                "Broker(persistence='{}', closed={closed})",
                store.dir.display()
            ),
            None => format!("Broker(closed={closed})"),
        }
    }
}
