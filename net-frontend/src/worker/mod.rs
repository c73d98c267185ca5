//! One worker thread: a mio event loop that owns a share of the connections, reads and
//! writes their sockets and feeds their [`Conn`] state machines.
//!
//! Wake-ups: a session whose queue goes from empty to non-empty calls its connection's
//! [`ConnWake`], which records the connection in the worker's ready list and wakes the
//! worker's `mio::Waker` only if the worker is not already awake (one syscall per batch,
//! not per message). The worker then drains a batch per connection and writes it with one
//! `write` call where the socket takes it.
//!
//! Throttling: a connection is not read for a while when its QoS 0 messages find full
//! queues (`full_queue_backoff`) or when it is past its listener's input rates
//! (`inbound_message_rate`, `inbound_byte_rate`). Both go on the `paused` list, which serves
//! the connection again when its time comes; deliveries to it go on meanwhile.
//!
//! - `mod.rs`: the event loop: accepting sockets from the acceptor, wake-ups, timers, which
//!   connection is served when.
//! - `socket.rs`: one connection's socket I/O, plain or through its [`TlsSession`] (the
//!   [`Conn`] sees plaintext only), its input budget, and closing.
//! - `durable.rs`: durable mode's group commit: a turn's acknowledgements are held until
//!   the store made what they acknowledge durable, one fsync for the whole turn.
//! - `panics.rs`: a panic while one connection is served (an embedder's hook, say) closes
//!   that connection alone; one in the loop itself stops the worker cleanly.
//!
//! Not here: MQTT (`conn/`), listening and admitting (`server/`, `listener.rs`), TLS
//! configuration (`tls/`), the rates' arithmetic (`limits/`).

use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use mqlite::Broker;
use mqlite::wire::Notify;
use parking_lot::Mutex;

use crate::conn::{Conn, Shared};
use crate::limits::Inbound;
use crate::listener::Admission;
use crate::stats;
use crate::tls::TlsSession;

mod durable;
mod panics;
mod socket;

use durable::DurableSignal;

use socket::Entry;
pub(crate) use socket::Flushed;

/// The token of the worker's own waker.
const WAKER: Token = Token(usize::MAX);
/// Bytes read from a socket per `read` call.
const READ_CHUNK: usize = 64 * 1024;
/// How often keep alive, CONNECT and stall timeouts are checked.
const TICK: Duration = Duration::from_millis(250);
/// How long a closing connection may keep its socket to let the last packet reach the
/// client (we shut down our side, then wait for the client's EOF).
const LINGER: Duration = Duration::from_secs(2);

/// What other threads share with a worker.
#[derive(Debug)]
pub(crate) struct WorkerShared {
    waker: Waker,
    /// The worker is awake or about to be: a wake-up may skip the syscall.
    notified: AtomicBool,
    /// Connections whose session has something to send.
    ready: Mutex<Vec<usize>>,
    /// Accepted sockets not yet registered, each with its admission by its listener;
    /// `None` once the worker stopped (asked to, or after a panic) and takes no more.
    incoming: Mutex<Option<Vec<(TcpStream, Admission)>>>,
    /// Set once to stop the worker.
    stop: AtomicBool,
    /// Durable mode: what the store's callbacks report (`durable.rs`).
    durable: DurableSignal,
}

impl WorkerShared {
    fn notify(&self) {
        // AcqRel: pairs with the swap in `Worker::run`; whoever sets the flag first after
        // the worker cleared it makes the one syscall.
        if !self.notified.swap(true, Ordering::AcqRel)
            && let Err(e) = self.waker.wake()
        {
            tracing::error!(error = %e, "could not wake a worker");
        }
    }

    /// Hands an accepted socket to the worker, with its listener's admission (which
    /// carries the listener's TLS, authentication and limits).
    ///
    /// # Errors
    ///
    /// The worker has stopped (it was asked to, or a panic stopped it) and would never
    /// serve the socket: both are handed back, for another worker or to be closed.
    pub(crate) fn push_incoming(
        &self,
        stream: TcpStream,
        admission: Admission,
    ) -> Result<(), (TcpStream, Admission)> {
        // Checked under the lock the worker takes to stop taking sockets, so none is pushed
        // after its last look and left unserved.
        match self.incoming.lock().as_mut() {
            Some(incoming) => incoming.push((stream, admission)),
            None => return Err((stream, admission)),
        }
        self.notify();
        Ok(())
    }

    /// Asks the worker to close every connection and stop.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.notify();
    }
}

/// The waker handed to the router for one connection.
#[derive(Debug)]
struct ConnWake {
    worker: Arc<WorkerShared>,
    slot: usize,
}

impl Notify for ConnWake {
    fn notify(&self) {
        self.worker.ready.lock().push(self.slot);
        self.worker.notify();
    }
}

/// The event loop of one worker thread.
pub(crate) struct Worker {
    poll: Poll,
    shared: Arc<WorkerShared>,
    server: Arc<Shared>,
    broker: Broker,
    slots: Vec<Option<Entry>>,
    free: Vec<usize>,
    scratch: Vec<u8>,
    /// Connections to serve again without waiting for an event.
    again: Vec<usize>,
    /// Throttled connections and when to read them again (a slot may appear more than
    /// once, or after its connection closed: serving it early or in vain is harmless).
    paused: Vec<(Instant, usize)>,
    /// The broker is durable: output of handled input is held until durable.
    durable: bool,
    /// Connections with held output (a slot may appear twice, or after it closed).
    holding: Vec<usize>,
    /// A hold of this loop turn waits for its ticket (`Worker::commit_turn`).
    unassigned: bool,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("connections", &(self.slots.len() - self.free.len()))
            .finish()
    }
}

impl Worker {
    /// A worker of `server` for `broker`; run it with [`Worker::run`] on its own thread.
    pub(crate) fn new(broker: Broker, server: Arc<Shared>) -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let shared = Arc::new(WorkerShared {
            waker,
            notified: AtomicBool::new(false),
            ready: Mutex::new(Vec::new()),
            incoming: Mutex::new(Some(Vec::new())),
            stop: AtomicBool::new(false),
            durable: DurableSignal::default(),
        });
        let durable = broker.store_stats().is_some();
        Ok(Self {
            poll,
            shared,
            server,
            broker,
            slots: Vec::new(),
            free: Vec::new(),
            scratch: vec![0; READ_CHUNK],
            again: Vec::new(),
            paused: Vec::new(),
            durable,
            holding: Vec::new(),
            unassigned: false,
        })
    }

    /// The handle other threads use to reach this worker.
    pub(crate) fn shared(&self) -> Arc<WorkerShared> {
        self.shared.clone()
    }

    /// Runs until stopped; then closes every connection (DISCONNECT 0x8B on 5.0). A panic
    /// while one connection is served closes only that one; a panic in the loop itself
    /// stops the worker as if it had been asked to.
    pub(crate) fn run(mut self) {
        if let Err(payload) = std::panic::catch_unwind(AssertUnwindSafe(|| self.serve_all())) {
            self.died(payload.as_ref());
        }
        self.close_all();
    }

    /// The event loop, until stopped.
    fn serve_all(&mut self) {
        let mut events = Events::with_capacity(1024);
        let mut next_tick = Instant::now() + TICK;
        loop {
            let now = Instant::now();
            let wake_at = self
                .paused
                .iter()
                .map(|p| p.0)
                .fold(next_tick, Instant::min);
            let timeout = if self.again.is_empty() {
                wake_at.saturating_duration_since(now)
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout))
                && e.kind() != io::ErrorKind::Interrupted
            {
                tracing::error!(error = %e, "worker poll failed");
                break;
            }
            if self.shared.stop.load(Ordering::Acquire) {
                break;
            }
            let now = Instant::now();
            for event in &events {
                if event.token() != WAKER {
                    let slot = event.token().0;
                    self.serve(slot, event.is_readable() || event.is_read_closed(), now);
                }
            }
            // Clear the flag first, then take both lists: a push after the clear sets the
            // flag again and wakes us (AcqRel: pairs with the swap in `notify`, so what was
            // pushed before a set we clear is visible to us).
            if self.shared.notified.swap(false, Ordering::AcqRel) {
                self.take_incoming(now);
                self.take_ready(now);
                self.release_durable(now);
            }
            for slot in std::mem::take(&mut self.again) {
                self.serve(slot, true, now);
            }
            if !self.paused.is_empty() {
                let (due, waiting) = std::mem::take(&mut self.paused)
                    .into_iter()
                    .partition(|&(at, _)| at <= now);
                self.paused = waiting;
                for (_, slot) in due {
                    self.serve(slot, true, now);
                }
            }
            self.commit_turn(now);
            if now >= next_tick {
                self.tick(now);
                next_tick = now + TICK;
            }
        }
    }

    fn take_incoming(&mut self, now: Instant) {
        let incoming = self.shared.incoming.lock().as_mut().map(std::mem::take);
        for (stream, admission) in incoming.into_iter().flatten() {
            self.register(stream, admission, now);
        }
    }

    fn take_ready(&mut self, now: Instant) {
        let ready = std::mem::take(&mut *self.shared.ready.lock());
        for slot in ready {
            self.serve(slot, false, now);
        }
    }

    fn register(&mut self, mut stream: TcpStream, admission: Admission, now: Instant) {
        let listener = admission.listener().clone();
        let tls = match listener.tls.clone().map(TlsSession::new).transpose() {
            Ok(tls) => tls.map(Box::new),
            Err(e) => {
                tracing::warn!(error = %e, "could not start a TLS session");
                stats::dec(&self.server.counters.open);
                return;
            }
        };
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, Token(slot), interest)
        {
            tracing::warn!(error = %e, "could not register a connection");
            stats::dec(&self.server.counters.open);
            self.free.push(slot);
            return;
        }
        let wake = Arc::new(ConnWake {
            worker: self.shared.clone(),
            slot,
        });
        let mut conn = Conn::new(self.broker.clone(), self.server.clone(), wake, now);
        conn.set_auth(listener.auth.clone());
        let mut entry = Entry::new(stream, conn, tls, admission);
        entry.inbound = Inbound::new(&listener.limits, now).map(Box::new);
        self.slots[slot] = Some(entry);
        // Bytes may already be waiting (edge-triggered: no event for them).
        self.serve(slot, true, now);
    }

    /// One turn of a connection: read what is there, take deliveries, write. A panic
    /// closes the connection alone.
    fn serve(&mut self, slot: usize, readable: bool, now: Instant) {
        self.guarded(slot, |worker| worker.serve_turn(slot, readable, now));
    }

    fn serve_turn(&mut self, slot: usize, readable: bool, now: Instant) {
        let Some(Some(entry)) = self.slots.get_mut(slot) else {
            return; // a stale wake-up for a closed connection
        };
        if entry.closing_since.is_some() {
            if readable {
                entry.drain_closing(&mut self.scratch);
            }
            if entry.closing_since.is_none() {
                self.remove(slot);
            }
            return;
        }
        if entry.close_pending {
            return; // closed while its output waits for the store
        }
        entry.busy = false;
        let mark = self.durable.then(|| entry.durable_mark(&self.broker));
        let mut open = !readable || entry.read(&mut self.scratch, &self.server, now);
        // Held only if the input recorded something (a PUBACK for a message no persistent
        // session took, the PUBLISHes of a draining subscriber, go out at once).
        if let Some(mark) = mark
            && entry.hold_if_changed(&self.broker, mark)
        {
            self.holding.push(slot);
            self.unassigned = true;
        }
        if open {
            let durable = self.durable.then_some(&self.broker);
            let (still_open, new_hold) = entry.deliver_and_flush(&self.server, durable, now);
            open = still_open;
            if new_hold {
                self.holding.push(slot);
                self.unassigned = true;
            }
        }
        let again = entry.busy || (entry.read_paused && !entry.conn.is_write_full());
        if !open {
            self.start_closing(slot, now);
            return;
        }
        if let Some(at) = entry.take_new_pause() {
            self.paused.push((at, slot));
        }
        if std::mem::take(&mut entry.throttled) {
            self.paused
                .push((now + self.server.config.full_queue_backoff, slot));
        } else if again {
            self.again.push(slot);
        }
    }

    /// Sends what is left, shuts our side down and waits (bounded) for the client's EOF, so
    /// the last packet (a CONNACK refusal, a DISCONNECT) is not lost to a reset.
    fn start_closing(&mut self, slot: usize, now: Instant) {
        let Some(Some(entry)) = self.slots.get_mut(slot) else {
            return;
        };
        if entry.holds.is_some() {
            // Its last output waits for the store; `durable.rs` closes it then.
            entry.close_pending = true;
            return;
        }
        entry.flush_last(&self.server);
        let _ = entry.stream.shutdown(std::net::Shutdown::Write);
        entry.closing_since = Some(now);
        entry.conn.read = bytes::BytesMut::new();
        entry.drain_closing(&mut self.scratch);
        if entry.closing_since.is_none() {
            self.remove(slot);
        }
    }

    fn remove(&mut self, slot: usize) {
        if let Some(mut entry) = self.slots.get_mut(slot).and_then(Option::take) {
            let _ = self.poll.registry().deregister(&mut entry.stream);
            stats::dec(&self.server.counters.open);
            self.free.push(slot);
            self.drop_entry(entry);
        }
    }

    fn tick(&mut self, now: Instant) {
        for slot in 0..self.slots.len() {
            self.guarded(slot, |worker| worker.tick_one(slot, now));
        }
    }

    fn tick_one(&mut self, slot: usize, now: Instant) {
        let Some(Some(entry)) = self.slots.get_mut(slot) else {
            return;
        };
        match entry.closing_since {
            Some(since) if now.saturating_duration_since(since) >= LINGER => self.remove(slot),
            Some(_) => {}
            None => {
                if entry.conn.on_tick(now).is_err() {
                    self.start_closing(slot, now);
                }
            }
        }
    }

    fn close_all(&mut self) {
        // Taken for good: the acceptor deals further sockets to the other workers.
        let incoming = self.shared.incoming.lock().take().unwrap_or_default();
        for (stream, _) in incoming {
            drop(stream);
            stats::dec(&self.server.counters.open);
        }
        self.settle_at_shutdown();
        for slot in 0..self.slots.len() {
            self.guarded(slot, |worker| worker.close(slot));
        }
    }

    fn close(&mut self, slot: usize) {
        if let Some(Some(entry)) = self.slots.get_mut(slot) {
            if entry.closing_since.is_none() {
                entry.conn.shut_down();
                entry.flush_last(&self.server);
            }
            let _ = entry.stream.shutdown(std::net::Shutdown::Both);
        }
        self.remove(slot);
    }
}
