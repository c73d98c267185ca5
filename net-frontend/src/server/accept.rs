//! The acceptor thread: accepts connections, admits or refuses each against the connection
//! limits (the server's `max_connections`, then the listener's connection rate and counts per
//! source address and in total), and deals the admitted ones to the workers in turn, passing
//! over a worker that stopped (a panic in its event loop stops it; see `worker/panics.rs`).
//!
//! A refused connection is closed at once, before a byte of it is read, and counted; the
//! log line is at `debug`, since a flood of them must not flood the log too.

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use super::{STOP, Stop};
use crate::conn::Shared;
use crate::limits::IpRefusal;
use crate::listener::{Admission, Listener, Refused};
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
                    if !deal(&self.workers, &mut self.next, stream, admission) {
                        stats::dec(&counters.open);
                        // `debug`: each stopped worker logged its end at `error` already.
                        tracing::debug!(%peer, "no worker running; connection closed");
                    }
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

/// Hands an admitted connection to the next worker in turn (`next`) that still runs. A
/// worker stops taking sockets when the server stops or a panic stopped it; if none takes
/// this one, it is dropped (closed) rather than left unserved, and `false` returned.
fn deal(
    workers: &[Arc<WorkerShared>],
    next: &mut usize,
    stream: TcpStream,
    admission: Admission,
) -> bool {
    let mut connection = (stream, admission);
    for _ in 0..workers.len() {
        let worker = &workers[*next % workers.len()];
        *next = next.wrapping_add(1);
        match worker.push_incoming(connection.0, connection.1) {
            Ok(()) => return true,
            Err(back) => connection = back,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerConfig;
    use crate::listener::ListenerConfig;
    use crate::worker::Worker;

    /// An accepted socket, its admission by `listener`, and the client's end.
    fn accepted(listener: &Arc<Listener>) -> (TcpStream, Admission, std::net::TcpStream) {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let client =
            std::net::TcpStream::connect(socket.local_addr().expect("addr")).expect("connect");
        let (stream, peer) = socket.accept().expect("accept");
        stream.set_nonblocking(true).expect("non-blocking");
        let admission = listener.admit(peer, Instant::now()).expect("admitted");
        (TcpStream::from_std(stream), admission, client)
    }

    /// A stopped worker (at shutdown, or after a panic in its loop) is passed over; with
    /// none running, the socket is closed rather than left to a worker that never serves it.
    #[test]
    fn deal_passes_over_stopped_workers() {
        let broker = mqlite::Broker::new(mqlite::Config::default());
        let config = ServerConfig::default();
        let listener = Arc::new(config.listener(ListenerConfig::new()).expect("listener"));
        let server = Arc::new(Shared::new(config));
        let stopped = Worker::new(broker.clone(), server.clone()).expect("worker");
        let running = Worker::new(broker, server).expect("worker");
        let workers = [stopped.shared(), running.shared()];
        workers[0].stop();
        stopped.run(); // returns at once: it was asked to stop

        let mut next = 0;
        let (stream, admission, _client) = accepted(&listener);
        assert!(deal(&workers, &mut next, stream, admission));
        assert_eq!(next, 2, "dealt to the second worker");

        workers[1].stop();
        running.run();
        let (stream, admission, mut client) = accepted(&listener);
        assert!(!deal(&workers, &mut next, stream, admission));
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        let read = std::io::Read::read(&mut client, &mut [0; 1]).expect("read");
        assert_eq!(read, 0, "the socket was closed");
    }
}
