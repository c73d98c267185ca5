//! `Broker`: the router, `connect()`, which turns keyword arguments into core's
//! `ConnectOptions`, and `listen()`, which starts a network frontend on the same router.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use mqlite::{Bytes, ConnectOptions, NEVER_EXPIRE, SessionError};
use mqlite_net::ServerConfig;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::client::Client;
use crate::config::{self, Config};
use crate::convert;
use crate::errors;
use crate::message::Will;
use crate::server::{ListenAddress, Listener, Server};

/// An in-memory MQTT broker. Clients of the same process connect with `connect()`; network
/// clients reach the same router through `listen()`.
///
/// `Broker(config=Config(...))` sets limits. Use it as a context manager (or call
/// `shutdown()`) to close its network listeners, end every connection, publishing wills, and
/// wake blocked receivers, which then raise `BrokerClosed`.
#[pyclass(frozen, module = "mqlite._mqlite")]
#[derive(Debug)]
pub(crate) struct Broker {
    inner: mqlite::Broker,
    /// The network frontends started by `listen()`; closed by `shutdown()` and on drop.
    /// Held only briefly: never across a join or a GIL release.
    servers: Mutex<Vec<Arc<Listener>>>,
}

impl Broker {
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
    #[pyo3(signature = (config=None))]
    fn new(config: Option<&Config>) -> Self {
        let config = config.map(|c| c.inner.clone()).unwrap_or_default();
        Self {
            inner: mqlite::Broker::new(config),
            servers: Mutex::new(Vec::new()),
        }
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
        let client = self.inner.connect(options).map_err(errors::connect)?;
        Ok(Client::new(client))
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
        let servers = {
            let mut servers = self.servers();
            self.inner.shutdown();
            std::mem::take(&mut *servers)
        };
        py.detach(|| {
            for listener in servers {
                listener.close();
            }
        });
    }

    /// Whether `shutdown()` was called.
    #[getter]
    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// A snapshot of the broker's counters, as a dict.
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
        format!(
            "Broker(closed={})",
            if self.inner.is_closed() {
                "True"
            } else {
                "False"
            }
        )
    }
}
