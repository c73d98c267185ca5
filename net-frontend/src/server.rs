//! [`Server`]: listens on TCP addresses, plain or TLS, and serves every connection as a
//! client of one [`Broker`], on an acceptor thread plus N worker threads.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use mqlite::Broker;

use crate::config::ServerConfig;
use crate::conn::Shared;
use crate::stats::{self, NetStats};
use crate::tls::{TlsConfig, TlsError, TlsListener};
use crate::worker::{Worker, WorkerShared};

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
    listeners: Vec<TcpListener>,
    addrs: Vec<SocketAddr>,
    /// Per listener, its TLS (`None` for plain TCP).
    tls: Vec<Option<Arc<TlsListener>>>,
}

/// Builds a [`Server`] with several listeners, plain or TLS, or a [`ServerConfig`].
#[derive(Debug)]
pub struct ServerBuilder {
    broker: Broker,
    config: ServerConfig,
    /// What each `listen*` call asked for: the addresses it resolved to and its TLS.
    listeners: Vec<(Vec<SocketAddr>, Option<TlsConfig>)>,
    error: Option<io::Error>,
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
        self.add(addr, None)
    }

    /// Adds a TLS listener on `addr` with `tls` (its files are read by
    /// [`ServerBuilder::bind`]). Port 0 picks a free port.
    #[must_use]
    pub fn listen_tls(self, addr: impl ToSocketAddrs, tls: TlsConfig) -> Self {
        self.add(addr, Some(tls))
    }

    fn add(mut self, addr: impl ToSocketAddrs, tls: Option<TlsConfig>) -> Self {
        match addr.to_socket_addrs() {
            Ok(addrs) => self.listeners.push((addrs.collect(), tls)),
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
    /// An address that did not resolve, none given, or a listener that could not bind (in
    /// use, no permission); the error names the address. A TLS listener whose files could
    /// not be loaded: an [`io::ErrorKind::InvalidInput`] error wrapping the [`TlsError`]
    /// (`error.get_ref()` and `downcast_ref`), which names the file.
    pub fn bind(self) -> io::Result<Server> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.listeners.iter().all(|(addrs, _)| addrs.is_empty()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no address to listen on",
            ));
        }
        let (mut listeners, mut addrs, mut tls) = (Vec::new(), Vec::new(), Vec::new());
        for (resolved, settings) in self.listeners {
            // One TLS configuration per `listen_tls`, shared by the addresses it resolved to.
            let loaded = match settings {
                Some(settings) => {
                    Some(Arc::new(TlsListener::load(settings).map_err(|e| {
                        io::Error::new(io::ErrorKind::InvalidInput, e)
                    })?))
                }
                None => None,
            };
            for addr in resolved {
                let listener = TcpListener::bind(addr).map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}"))
                })?;
                addrs.push(listener.local_addr()?);
                listeners.push(listener);
                tls.push(loaded.clone());
            }
        }
        Ok(Server {
            broker: self.broker,
            config: self.config,
            listeners,
            addrs,
            tls,
        })
    }
}

impl Server {
    /// Binds one listener on `addr` with the default [`ServerConfig`].
    ///
    /// # Errors
    ///
    /// As [`ServerBuilder::bind`].
    pub fn bind(broker: Broker, addr: impl ToSocketAddrs) -> io::Result<Self> {
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
        let acceptor = Acceptor {
            poll,
            listeners: self.listeners.into_iter().zip(self.tls.clone()).collect(),
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
        for (addr, tls) in self.addrs.iter().zip(&self.tls) {
            tracing::info!(%addr, tls = tls.is_some(), "listening");
        }
        Ok(ServerHandle {
            shared,
            stop,
            workers,
            threads,
            addrs: self.addrs,
            tls: self.tls,
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
    tls: Vec<Option<Arc<TlsListener>>>,
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
        stats.auth = self.shared.config.auth.stats();
        stats
    }

    /// Reads every TLS listener's certificate, key and CA files again (what the `mqlite`
    /// binary does on SIGHUP). New handshakes use the new files; open connections keep the
    /// session they have. Every listener is tried; one whose files are bad keeps its
    /// previous configuration.
    ///
    /// # Errors
    ///
    /// The first listener whose files could not be loaded; the error names the file.
    pub fn reload_tls(&self) -> Result<(), TlsError> {
        let mut first_error = None;
        let mut seen: Vec<&Arc<TlsListener>> = Vec::new();
        for tls in self.tls.iter().flatten() {
            if seen.iter().any(|s| Arc::ptr_eq(s, tls)) {
                continue; // one `listen_tls` that resolved to several addresses
            }
            seen.push(tls);
            if let Err(e) = tls.reload() {
                tracing::error!(error = %e, "TLS reload failed; keeping the previous files");
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => {
                tracing::info!(listeners = seen.len(), "TLS certificates reloaded");
                Ok(())
            }
        }
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

/// The acceptor thread: accepts connections and deals them to the workers in turn.
struct Acceptor {
    poll: Poll,
    /// The listeners, each with its TLS if it has TLS.
    listeners: Vec<(TcpListener, Option<Arc<TlsListener>>)>,
    workers: Vec<Arc<WorkerShared>>,
    shared: Arc<Shared>,
    stop: Arc<Stop>,
    next: usize,
}

impl Acceptor {
    fn run(mut self) {
        for (i, (listener, _)) in self.listeners.iter_mut().enumerate() {
            if let Err(e) = self
                .poll
                .registry()
                .register(listener, Token(i), Interest::READABLE)
            {
                tracing::error!(error = %e, "could not register a listener");
                return;
            }
        }
        let mut events = Events::with_capacity(64);
        while !self.stop.stopped.load(Ordering::Acquire) {
            if let Err(e) = self.poll.poll(&mut events, None)
                && e.kind() != io::ErrorKind::Interrupted
            {
                tracing::error!(error = %e, "acceptor poll failed");
                return;
            }
            for event in &events {
                if event.token() != STOP {
                    self.accept_all(event.token().0);
                }
            }
        }
    }

    fn accept_all(&mut self, index: usize) {
        let Some((listener, tls)) = self.listeners.get(index) else {
            return;
        };
        loop {
            match listener.accept() {
                Ok((stream, peer)) => {
                    let counters = &self.shared.counters;
                    stats::add(&counters.accepted, 1);
                    let open = counters.open.load(Ordering::Relaxed);
                    if open >= self.shared.config.max_connections as u64 {
                        stats::add(&counters.refused, 1);
                        tracing::warn!(%peer, open, "max_connections reached; connection closed");
                        continue;
                    }
                    stats::add(&counters.open, 1);
                    let _ = stream.set_nodelay(true);
                    let worker = &self.workers[self.next % self.workers.len()];
                    self.next = self.next.wrapping_add(1);
                    worker.push_incoming(stream, tls.clone());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of file descriptors, say: keep serving the connections we have.
                    tracing::warn!(error = %e, "accept failed");
                    return;
                }
            }
        }
    }
}
