//! [`Server`]: listens on TCP addresses, plain or TLS, and serves every connection as a
//! client of one [`Broker`], on an acceptor thread plus N worker threads.
//!
//! - `mod.rs`: building and binding ([`ServerBuilder`]), the running server
//!   ([`ServerHandle`]: counters, reloads, shutdown).
//! - `accept.rs`: the acceptor thread and the connection limits it enforces.
//! - `reload.rs`: reloading TLS certificates and password and ACL files.
//!
//! Not here: serving connections (`worker/`), a listener's settings (`listener.rs`).

mod accept;
mod reload;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use mio::net::TcpListener;
use mio::{Poll, Token, Waker};
use mqlite::Broker;

use crate::config::ServerConfig;
use crate::conn::Shared;
use crate::listener::{Listener, ListenerConfig};
use crate::stats::NetStats;
use crate::tls::{TlsConfig, TlsError, TlsListener};
use crate::worker::{Worker, WorkerShared};
use accept::Acceptor;

const STOP: Token = Token(usize::MAX);

/// A bound, not yet running network frontend: the listeners are open (so
/// [`Server::local_addr`] is known, even for port 0) and nothing is accepted until
/// [`Server::spawn`].
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use mqlite::{Broker, Config, ConnectOptions, QoS};
///
/// let broker = Broker::new(Config::default());
/// let server = mqlite_net::Server::bind(broker.clone(), "127.0.0.1:0")?.spawn()?;
///
/// // An in-process subscriber and a network publisher share the router.
/// let dashboard = broker.connect(ConnectOptions::new("dashboard"))?;
/// dashboard.subscribe("s/#", QoS::AtMostOnce)?;
///
/// let mut device = std::net::TcpStream::connect(server.local_addr())?;
/// // CONNECT (3.1.1, clean session, keep alive 60, client id "d"), then PUBLISH QoS 0.
/// device.write_all(&[0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 1, b'd'])?;
/// let mut connack = [0u8; 4];
/// device.read_exact(&mut connack)?;
/// assert_eq!(connack, [0x20, 2, 0, 0]);
/// device.write_all(&[0x30, 7, 0, 3, b's', b'/', b'1', b'h', b'i'])?;
///
/// let msg = dashboard.recv_timeout(std::time::Duration::from_secs(5))?;
/// assert_eq!((msg.topic(), &msg.payload()[..]), ("s/1", &b"hi"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Server {
    broker: Broker,
    config: ServerConfig,
    sockets: Vec<TcpListener>,
    addrs: Vec<SocketAddr>,
    /// Per socket, its listener.
    listeners: Vec<Arc<Listener>>,
}

/// Builds a [`Server`] with several listeners, plain or TLS, each with its own settings if
/// it wants them, or a [`ServerConfig`].
#[derive(Debug)]
pub struct ServerBuilder {
    broker: Broker,
    config: ServerConfig,
    /// What each `listen*` call asked for: the addresses it resolved to and its settings.
    listeners: Vec<(Vec<SocketAddr>, ListenerConfig)>,
    /// The first address that did not resolve, reported by [`ServerBuilder::bind`].
    error: Option<io::Error>,
}

/// Why [`ServerBuilder::bind`] (or [`Server::bind`]) could not open the listeners.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// An address given to a `listen*` call did not resolve.
    #[error("cannot resolve a listen address: {0}")]
    Resolve(#[source] io::Error),
    /// No `listen*` call gave an address.
    #[error("no address to listen on")]
    NoAddress,
    /// A listener could not be opened on `addr` (in use, no permission).
    #[error("cannot listen on {addr}: {source}")]
    Io {
        /// The address.
        addr: SocketAddr,
        /// What the system said.
        source: io::Error,
    },
    /// A TLS listener's certificate, key or CA files could not be loaded; the error names
    /// the file.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// For callers that return `io::Result`: the system's error kind for [`BindError::Resolve`]
/// and [`BindError::Io`], [`io::ErrorKind::InvalidInput`] otherwise, with the [`BindError`]
/// inside (`get_ref` and `downcast_ref`).
impl From<BindError> for io::Error {
    fn from(e: BindError) -> Self {
        let kind = match &e {
            BindError::Resolve(source) | BindError::Io { source, .. } => source.kind(),
            BindError::NoAddress | BindError::Tls(_) => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, e)
    }
}

impl ServerBuilder {
    /// Uses `config` instead of the defaults.
    #[must_use]
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Adds a listener on `addr` (every address it resolves to). Port 0 picks a free port.
    #[must_use]
    pub fn listen(self, addr: impl ToSocketAddrs) -> Self {
        self.listen_with(addr, ListenerConfig::new())
    }

    /// Adds a TLS listener on `addr` with `tls` (its files are read by
    /// [`ServerBuilder::bind`]). Port 0 picks a free port.
    #[must_use]
    pub fn listen_tls(self, addr: impl ToSocketAddrs, tls: TlsConfig) -> Self {
        self.listen_with(addr, ListenerConfig::new().tls(tls))
    }

    /// Adds a listener on `addr` with settings of its own: TLS, authentication, limits
    /// (what it leaves unset comes from the [`ServerConfig`]). The addresses `addr`
    /// resolves to make one listener: they share its `max_connections` and per-address
    /// counts. Port 0 picks a free port.
    #[must_use]
    pub fn listen_with(mut self, addr: impl ToSocketAddrs, listener: ListenerConfig) -> Self {
        match addr.to_socket_addrs() {
            Ok(addrs) => self.listeners.push((addrs.collect(), listener)),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// Reads the TLS files and opens the listeners.
    ///
    /// # Errors
    ///
    /// [`BindError::Resolve`]: an address did not resolve; [`BindError::NoAddress`]: none
    /// was given; [`BindError::Io`]: a listener could not bind (in use, no permission), with
    /// its address; [`BindError::Tls`]: a TLS listener's files could not be loaded, with the
    /// [`TlsError`] that names the file.
    pub fn bind(self) -> Result<Server, BindError> {
        if let Some(e) = self.error {
            return Err(BindError::Resolve(e));
        }
        if self.listeners.iter().all(|(addrs, _)| addrs.is_empty()) {
            return Err(BindError::NoAddress);
        }
        let (mut sockets, mut addrs, mut listeners) = (Vec::new(), Vec::new(), Vec::new());
        for (resolved, settings) in self.listeners {
            // One listener per `listen*` call, shared by the addresses it resolved to.
            let listener = Arc::new(self.config.listener(settings)?);
            for addr in resolved {
                let io = |source| BindError::Io { addr, source };
                let socket = TcpListener::bind(addr).map_err(io)?;
                addrs.push(socket.local_addr().map_err(io)?);
                sockets.push(socket);
                listeners.push(listener.clone());
            }
        }
        Ok(Server {
            broker: self.broker,
            config: self.config,
            sockets,
            addrs,
            listeners,
        })
    }
}

impl ServerConfig {
    /// A running listener from its settings, falling back to these.
    fn listener(&self, settings: ListenerConfig) -> Result<Listener, TlsError> {
        let tls = match settings.tls {
            Some(tls) => Some(Arc::new(TlsListener::load(tls)?)),
            None => None,
        };
        let auth = settings.auth.unwrap_or_else(|| self.auth.clone());
        let limits = settings.limits.unwrap_or_else(|| self.limits.clone());
        Ok(Listener::new(tls, auth, limits, self.max_tracked_ips))
    }
}

/// Each listener once (several sockets share one when its address resolved to several).
fn distinct(listeners: &[Arc<Listener>]) -> Vec<Arc<Listener>> {
    let mut seen: Vec<Arc<Listener>> = Vec::new();
    for listener in listeners {
        if !seen.iter().any(|s| Arc::ptr_eq(s, listener)) {
            seen.push(listener.clone());
        }
    }
    seen
}

impl Server {
    /// Binds one listener on `addr` with the default [`ServerConfig`].
    ///
    /// # Errors
    ///
    /// As [`ServerBuilder::bind`].
    pub fn bind(broker: Broker, addr: impl ToSocketAddrs) -> Result<Self, BindError> {
        Self::builder(broker).listen(addr).bind()
    }

    /// A builder for several listeners or another configuration.
    pub fn builder(broker: Broker) -> ServerBuilder {
        ServerBuilder {
            broker,
            config: ServerConfig::default(),
            listeners: Vec::new(),
            error: None,
        }
    }

    /// The address of the first listener (with the port picked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// The addresses of all listeners, in the order they were added.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Starts the acceptor and worker threads and returns at once.
    ///
    /// # Errors
    ///
    /// The event loop or a thread could not be created.
    pub fn spawn(self) -> io::Result<ServerHandle> {
        let shared = Arc::new(Shared::new(self.config.clone()));
        let mut workers = Vec::new();
        let mut threads = Vec::new();
        for i in 0..self.config.worker_count() {
            let worker = Worker::new(self.broker.clone(), shared.clone())?;
            workers.push(worker.shared());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("mqlite-net-{i}"))
                    .spawn(move || worker.run())?,
            );
        }
        let poll = Poll::new()?;
        let stop = Arc::new(Stop {
            waker: Waker::new(poll.registry(), STOP)?,
            stopped: AtomicBool::new(false),
        });
        let listeners = distinct(&self.listeners);
        for (addr, listener) in self.addrs.iter().zip(&self.listeners) {
            tracing::info!(%addr, tls = listener.tls.is_some(), "listening");
        }
        let acceptor = Acceptor {
            poll,
            sockets: self.sockets.into_iter().zip(self.listeners).collect(),
            listeners: listeners.clone(),
            workers: workers.clone(),
            shared: shared.clone(),
            stop: stop.clone(),
            next: 0,
        };
        threads.push(
            std::thread::Builder::new()
                .name("mqlite-accept".into())
                .spawn(move || acceptor.run())?,
        );
        Ok(ServerHandle {
            shared,
            stop,
            workers,
            threads,
            addrs: self.addrs,
            listeners,
        })
    }
}

#[derive(Debug)]
struct Stop {
    waker: Waker,
    stopped: AtomicBool,
}

/// A running server. [`ServerHandle::shutdown`] (or dropping the handle) closes every
/// connection, 5.0 clients with DISCONNECT 0x8B "Server shutting down", and stops the threads;
/// the broker and its in-process clients carry on.
#[derive(Debug)]
pub struct ServerHandle {
    shared: Arc<Shared>,
    stop: Arc<Stop>,
    workers: Vec<Arc<WorkerShared>>,
    threads: Vec<JoinHandle<()>>,
    addrs: Vec<SocketAddr>,
    /// Each listener once.
    listeners: Vec<Arc<Listener>>,
}

impl ServerHandle {
    /// The address of the first listener.
    pub fn local_addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// The addresses of all listeners.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The frontend's counters now.
    pub fn stats(&self) -> NetStats {
        let mut stats = self.shared.counters.snapshot();
        for auth in self.auths() {
            stats.auth.add(&auth.stats());
        }
        stats.tracked_addresses = self.listeners.iter().map(|l| l.tracked_ips() as u64).sum();
        stats
    }

    /// Stops accepting, closes every connection and waits for the threads to end.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    /// Waits until the server stops (after [`ServerHandle::stopper`] was used from
    /// elsewhere).
    pub fn join(mut self) {
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }

    /// A handle that stops the server from another thread (a signal handler, say).
    pub fn stopper(&self) -> Stopper {
        Stopper {
            stop: self.stop.clone(),
            workers: self.workers.clone(),
        }
    }

    fn stop_and_join(&mut self) {
        self.stopper().stop();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.stop_and_join();
        }
    }
}

/// Stops a running server from any thread ([`ServerHandle::stopper`]).
#[derive(Debug, Clone)]
pub struct Stopper {
    stop: Arc<Stop>,
    workers: Vec<Arc<WorkerShared>>,
}

impl Stopper {
    /// Asks the server to stop; returns at once. Calling it again does nothing.
    pub fn stop(&self) {
        if self.stop.stopped.swap(true, Ordering::AcqRel) {
            return;
        }
        let _ = self.stop.waker.wake();
        for worker in &self.workers {
            worker.stop();
        }
    }
}
