//! The acceptor thread: accepts connections, admits or refuses each against the connection
//! limits (the server's `max_connections`, then the listener's connection rate and counts per
//! source address and in total), and deals the admitted ones to the workers in turn.
//!
//! A refused connection is closed at once, before a byte of it is read, and counted; the
//! log line is at `debug`, since a flood of them must not flood the log too.

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};

use super::{STOP, Stop};
use crate::conn::Shared;
use crate::limits::IpRefusal;
use crate::listener::{Listener, Refused};
use crate::stats;
use crate::worker::WorkerShared;

/// How often idle source addresses are forgotten.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The acceptor thread's state.
pub(super) struct Acceptor {
    pub(super) poll: Poll,
    /// The sockets, each with its listener (several sockets share one when a `listen*`
    /// call resolved to several addresses).
    pub(super) sockets: Vec<(TcpListener, Arc<Listener>)>,
    /// Each listener once, for the sweep.
    pub(super) listeners: Vec<Arc<Listener>>,
    pub(super) workers: Vec<Arc<WorkerShared>>,
    pub(super) shared: Arc<Shared>,
    pub(super) stop: Arc<Stop>,
    pub(super) next: usize,
}

impl Acceptor {
    pub(super) fn run(mut self) {
        for (i, (socket, _)) in self.sockets.iter_mut().enumerate() {
            if let Err(e) = self
                .poll
                .registry()
                .register(socket, Token(i), Interest::READABLE)
            {
                tracing::error!(error = %e, "could not register a listener");
                return;
            }
        }
        let mut events = Events::with_capacity(64);
        let mut next_sweep = Instant::now() + SWEEP_EVERY;
        while !self.stop.stopped.load(Ordering::Acquire) {
            let timeout = next_sweep.saturating_duration_since(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, Some(timeout))
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
            let now = Instant::now();
            if now >= next_sweep {
                for listener in &self.listeners {
                    listener.sweep(now);
                }
                next_sweep = now + SWEEP_EVERY;
            }
        }
    }

    fn accept_all(&mut self, index: usize) {
        let Some((socket, listener)) = self.sockets.get(index) else {
            return;
        };
        loop {
            match socket.accept() {
                Ok((stream, peer)) => {
                    let counters = &self.shared.counters;
                    stats::add(&counters.accepted, 1);
                    let open = counters.open.load(Ordering::Relaxed);
                    if open >= self.shared.config.max_connections as u64 {
                        stats::add(&counters.refused, 1);
                        tracing::warn!(%peer, open, "max_connections reached; connection closed");
                        continue;
                    }
                    let admission = match listener.admit(peer, Instant::now()) {
                        Ok(admission) => admission,
                        Err(refused) => {
                            let (counter, why) = match refused {
                                Refused::ListenerFull => {
                                    (&counters.refused, "the listener's max_connections")
                                }
                                Refused::Ip(IpRefusal::Rate) => {
                                    (&counters.rate_limited, "connect_rate_per_ip")
                                }
                                Refused::Ip(IpRefusal::TooMany) => {
                                    (&counters.refused_per_ip, "max_connections_per_ip")
                                }
                                Refused::Ip(IpRefusal::Full) => {
                                    (&counters.refused_per_ip, "max_tracked_ips")
                                }
                            };
                            stats::add(counter, 1);
                            tracing::debug!(%peer, limit = why, "connection refused at accept");
                            continue;
                        }
                    };
                    stats::add(&counters.open, 1);
                    let _ = stream.set_nodelay(true);
                    let worker = &self.workers[self.next % self.workers.len()];
                    self.next = self.next.wrapping_add(1);
                    worker.push_incoming(stream, admission);
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
