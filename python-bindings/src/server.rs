//! `Broker.listen()` and `Server`: the network frontend `mqlite-net` serving a broker's router
//! over TCP. Binding, starting and stopping release the GIL; the frontend's threads never take
//! it. Not here: MQTT over the wire (all of it is in `mqlite-net`).

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use mqlite_net::{BindError, NetStats, Server as NetServer, ServerConfig, ServerHandle};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use crate::broker::Broker;
use crate::errors;

/// The address given to `listen()`: `"host:port"` or `(host, port)`.
#[derive(Debug)]
pub(crate) enum ListenAddress {
    Text(String),
    HostPort(String, u16),
}

impl ListenAddress {
    /// The default of `listen()`: an ephemeral port on the loopback interface.
    pub(crate) const DEFAULT: &'static str = "127.0.0.1:0";

    /// Reads `address`; `TypeError` for another type, `ValueError` for a port out of range.
    pub(crate) fn from_py(address: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let Some(address) = address else {
            return Ok(Self::Text(Self::DEFAULT.to_owned()));
        };
        if let Ok(text) = address.cast::<PyString>() {
            return Ok(Self::Text(text.to_cow()?.into_owned()));
        }
        if let Ok(pair) = address.cast::<PyTuple>()
            && pair.len() == 2
        {
            let host = pair.get_item(0)?;
            let port = pair.get_item(1)?;
            if let (Ok(host), Ok(port)) = (host.cast::<PyString>(), port.extract::<i64>()) {
                let port = u16::try_from(port).map_err(|_| {
                    PyValueError::new_err(format!("port must be in 0..=65535, not {port}"))
                })?;
                return Ok(Self::HostPort(host.to_cow()?.into_owned(), port));
            }
        }
        Err(PyTypeError::new_err(format!(
            "address must be a 'host:port' string or a (host, port) tuple, not {}",
            address.repr()?
        )))
    }

    /// Resolves the address (a DNS lookup for a host name: call it without the GIL). With
    /// port 0 only the first address is kept: each listener would get a different port.
    fn resolve(&self) -> Result<Vec<SocketAddr>, String> {
        let resolved = match self {
            Self::Text(text) => text.to_socket_addrs(),
            Self::HostPort(host, port) => (host.as_str(), *port).to_socket_addrs(),
        };
        let mut addrs: Vec<SocketAddr> = resolved
            .map_err(|e| format!("invalid address {}: {e}", self.describe()))?
            .collect();
        if addrs.is_empty() {
            return Err(format!(
                "invalid address {}: it resolves to no address",
                self.describe()
            ));
        }
        if addrs.first().is_some_and(|a| a.port() == 0) {
            addrs.truncate(1);
        }
        Ok(addrs)
    }

    fn describe(&self) -> String {
        match self {
            Self::Text(text) => format!("{text:?} (expected 'host:port')"),
            Self::HostPort(host, port) => format!("({host:?}, {port})"),
        }
    }
}

/// Why `listen()` failed, made into an exception once the GIL is back.
#[derive(Debug)]
pub(crate) enum ListenError {
    /// The address did not parse or resolve: `ValueError`.
    Address(String),
    /// Binding or starting failed: `OSError` (the message names the address).
    Io(io::Error),
}

impl ListenError {
    /// A failed bind: `OSError` with the system's error kind (so the errno) for a socket
    /// that could not be opened, `ValueError` for the rest; the message names the address.
    fn bind(e: BindError) -> Self {
        let message = e.to_string();
        match e {
            BindError::Io { source, .. } => Self::Io(io::Error::new(source.kind(), message)),
            _ => Self::Address(message),
        }
    }
}

impl From<ListenError> for PyErr {
    fn from(e: ListenError) -> Self {
        match e {
            ListenError::Address(msg) => PyValueError::new_err(msg),
            ListenError::Io(e) => errors::listen(e),
        }
    }
}

/// A running network frontend shared by its `Server` object and its `Broker`, which closes
/// it at `shutdown()`.
#[derive(Debug)]
pub(crate) struct Listener {
    running: Mutex<Running>,
    /// Held for the whole of a close, so a second `close()` returns only once the threads
    /// ended. Never taken with the GIL held by a thread that may then wait for the GIL.
    closing: Mutex<()>,
    /// Every listener's address; `first` is the one `host`, `port` and `url` show.
    addrs: Vec<SocketAddr>,
    first: SocketAddr,
}

#[derive(Debug)]
enum Running {
    Live(ServerHandle),
    /// The counters when it closed, with the gauges at zero (every connection was closed).
    Closed(NetStats),
}

impl Listener {
    /// Resolves `address`, binds it and starts the frontend's threads for `broker`. Blocking:
    /// call it without the GIL.
    pub(crate) fn start(
        broker: mqlite::Broker,
        address: &ListenAddress,
        config: ServerConfig,
    ) -> Result<Self, ListenError> {
        let addrs = address.resolve().map_err(ListenError::Address)?;
        let server = NetServer::builder(broker)
            .config(config)
            .listen(&addrs[..])
            .bind()
            .map_err(ListenError::bind)?;
        let local = server.local_addr();
        let handle = server.spawn().map_err(|e| {
            ListenError::Io(io::Error::new(
                e.kind(),
                format!("cannot start the network frontend on {local}: {e}"),
            ))
        })?;
        Ok(Self {
            addrs: handle.local_addrs().to_vec(),
            first: handle.local_addr(),
            running: Mutex::new(Running::Live(handle)),
            closing: Mutex::new(()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Running> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops accepting, closes every connection and joins the threads. Idempotent. Blocking:
    /// call it without the GIL.
    pub(crate) fn close(&self) {
        let _closing = self.closing.lock().unwrap_or_else(PoisonError::into_inner);
        let handle = {
            let mut running = self.lock();
            let Running::Live(live) = &*running else {
                return;
            };
            let mut last = live.stats();
            last.connections_open = 0;
            last.clients_connected = 0;
            let Running::Live(handle) = std::mem::replace(&mut *running, Running::Closed(last))
            else {
                return;
            };
            handle
        };
        handle.shutdown();
    }

    /// Whether `close()` was called (by the `Server` or its broker).
    pub(crate) fn is_closed(&self) -> bool {
        matches!(*self.lock(), Running::Closed(_))
    }

    fn stats(&self) -> NetStats {
        match &*self.lock() {
            Running::Live(handle) => handle.stats(),
            Running::Closed(last) => *last,
        }
    }
}

/// `(host, port)` of a socket address, the way Python's `socket` writes it.
fn host_port(addr: &SocketAddr) -> (String, u16) {
    (addr.ip().to_string(), addr.port())
}

/// A network frontend serving a `Broker` over MQTT 3.1, 3.1.1 and 5.0 on TCP, made by
/// `Broker.listen()`. Network clients and the broker's in-process clients share one router.
///
/// It runs until `close()` (or the end of its `with` block), the broker's `shutdown()`, or
/// the broker being garbage-collected; dropping this object alone does not stop it (it keeps
/// the broker alive). Closing sends MQTT 5 clients DISCONNECT 0x8B (server shutting down) and
/// closes every connection without a clean disconnect, so their wills are published.
#[pyclass(frozen, module = "mqlite._mqlite")]
#[derive(Debug)]
pub(crate) struct Server {
    listener: Arc<Listener>,
    /// Keeps the broker, and so this listener, alive as long as this object.
    _broker: Py<Broker>,
}

impl Server {
    pub(crate) fn new(listener: Arc<Listener>, broker: Py<Broker>) -> Self {
        Self {
            listener,
            _broker: broker,
        }
    }

    fn first(&self) -> &SocketAddr {
        &self.listener.first
    }
}

#[pymethods]
impl Server {
    /// The IP address the first listener is bound to, e.g. `'127.0.0.1'`.
    #[getter]
    fn host(&self) -> String {
        self.first().ip().to_string()
    }

    /// The TCP port of the first listener (the one picked by the system for port 0).
    #[getter]
    fn port(&self) -> u16 {
        self.first().port()
    }

    /// `(host, port)` of the first listener, as `socket.connect` takes it.
    #[getter]
    fn address(&self) -> (String, u16) {
        host_port(self.first())
    }

    /// `(host, port)` of every listener (a host name may resolve to several addresses).
    #[getter]
    fn addresses(&self) -> Vec<(String, u16)> {
        self.listener.addrs.iter().map(host_port).collect()
    }

    /// `'mqtt://host:port'` of the first listener (an IPv6 host in brackets).
    #[getter]
    fn url(&self) -> String {
        format!("mqtt://{}", self.first())
    }

    /// Whether the server was closed (by `close()` or the broker's `shutdown()`).
    #[getter]
    fn is_closed(&self) -> bool {
        self.listener.is_closed()
    }

    /// A snapshot of the frontend's counters, as a dict: connections accepted, refused and
    /// open, clients connected, connections closed per reason, packets and bytes each way.
    /// After `close()`, the counters as they were when it closed, with `connections_open`
    /// and `clients_connected` at 0.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        net_stats(py, &self.listener.stats())
    }

    /// Stops accepting, closes every network connection and waits for the frontend's threads
    /// to end (the GIL is released meanwhile). The broker and its in-process clients carry
    /// on. Idempotent.
    fn close(&self, py: Python<'_>) {
        let listener = self.listener.clone();
        py.detach(move || listener.close());
    }

    /// Returns the server itself.
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes the server; exceptions propagate.
    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        let closed = if self.listener.is_closed() {
            "True"
        } else {
            "False"
        };
        format!("Server(url='{}', closed={closed})", self.url())
    }
}

/// `NetStats` as a dict with one key per counter.
fn net_stats<'py>(py: Python<'py>, s: &NetStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("connections_accepted", s.connections_accepted)?;
    d.set_item("connections_refused", s.connections_refused)?;
    d.set_item("connections_open", s.connections_open)?;
    d.set_item("clients_connected", s.clients_connected)?;
    d.set_item("connect_refused", s.connect_refused)?;
    d.set_item("malformed_packets", s.malformed_packets)?;
    d.set_item("protocol_errors", s.protocol_errors)?;
    d.set_item("connect_timeouts", s.connect_timeouts)?;
    d.set_item("keepalive_timeouts", s.keepalive_timeouts)?;
    d.set_item("slow_consumers", s.slow_consumers)?;
    d.set_item("taken_over", s.taken_over)?;
    d.set_item("oversized_dropped", s.oversized_dropped)?;
    d.set_item("packets_received", s.packets_received)?;
    d.set_item("packets_sent", s.packets_sent)?;
    d.set_item("bytes_received", s.bytes_received)?;
    d.set_item("bytes_sent", s.bytes_sent)?;
    d.set_item("panics", s.panics)?;
    d.set_item("tls_handshakes", s.tls_handshakes)?;
    d.set_item("tls_handshake_failures", s.tls_handshake_failures)?;
    d.set_item("tls_certificates_refused", s.tls_certificates_refused)?;
    d.set_item("connections_refused_per_ip", s.connections_refused_per_ip)?;
    d.set_item("connections_rate_limited", s.connections_rate_limited)?;
    d.set_item("inbound_message_throttles", s.inbound_message_throttles)?;
    d.set_item("inbound_byte_throttles", s.inbound_byte_throttles)?;
    d.set_item("tracked_addresses", s.tracked_addresses)?;
    Ok(d)
}
