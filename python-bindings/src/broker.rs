//! `Broker`: the router, and `connect()`, which turns keyword arguments into core's
//! `ConnectOptions`.

use mqlite::{Bytes, ConnectOptions, NEVER_EXPIRE};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::client::Client;
use crate::config::{self, Config};
use crate::convert;
use crate::errors;
use crate::message::Will;

/// An in-memory MQTT broker. Clients of the same process connect with `connect()`.
///
/// `Broker(config=Config(...))` sets limits. Use it as a context manager (or call
/// `shutdown()`) to end every connection, publishing wills, and wake blocked receivers,
/// which then raise `BrokerClosed`.
#[pyclass(frozen, module = "mqlite._mqlite")]
#[derive(Debug)]
pub(crate) struct Broker {
    inner: mqlite::Broker,
}

#[pymethods]
impl Broker {
    #[new]
    #[pyo3(signature = (config=None))]
    fn new(config: Option<&Config>) -> Self {
        let config = config.map(|c| c.inner.clone()).unwrap_or_default();
        Self {
            inner: mqlite::Broker::new(config),
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
            options = options.overflow_policy(config::overflow_policy(policy)?);
        }
        if let Some(max) = max_queued_messages {
            options = options.max_queued_messages(max);
        }
        let client = self.inner.connect(options).map_err(errors::connect)?;
        Ok(Client::new(client))
    }

    /// Ends every connection (publishing wills), refuses new ones and wakes every blocked
    /// receiver. Idempotent.
    fn shutdown(&self) {
        self.inner.shutdown();
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

    /// Shuts the broker down; exceptions propagate.
    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.inner.shutdown();
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
