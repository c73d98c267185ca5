//! One connection's socket I/O, plain or TLS: reading input into its [`Conn`], taking its
//! deliveries and writing them, closing. The event loop (`mod.rs`) decides when.
//!
//! TLS: a connection accepted on a TLS listener has a [`TlsSession`] between its socket and
//! its [`Conn`]. The socket is read as for plain TCP and the bytes go through the session,
//! which leaves plaintext in `conn.read`; `conn.write` holds plaintext that the session
//! encrypts as the socket drains. The handshake is just the first bytes of that exchange, so
//! it never blocks the loop, and the connection's CONNECT timeout (it counts from accept)
//! closes a client that stalls in it.
//!
//! Input rates: a connection of a listener with `inbound_message_rate` or
//! `inbound_byte_rate` has an [`Inbound`] budget. Each turn reads at most its bytes from the
//! socket and lets its `Conn` handle at most its PUBLISH packets; the rest stays in the
//! kernel's buffer or in `conn.read`. Once a bucket is empty the connection is not read
//! until `resume_at`, whatever events arrive, so the client is slowed by TCP flow control and
//! nothing it sent is dropped.

use std::io::{self, Read, Write};
use std::time::Instant;

use bytes::Buf;
use mio::net::TcpStream;

use crate::conn::{Conn, Drain, Shared};
use crate::limits::{Inbound, Pause, PauseCause};
use crate::listener::Admission;
use crate::stats;
use crate::tls::{TlsFailure, TlsSession};

use super::durable::Holds;

/// `read` calls per connection per turn before others get theirs.
const READS_PER_TURN: usize = 2;
/// Delivery batches (`ServerConfig::delivery_batch` each) a connection writes per turn while
/// its socket takes them. Larger than the read budget: one subscriber may have to keep up
/// with many publishers.
const BATCHES_PER_TURN: usize = 16;
/// A write buffer larger than this is freed once empty, so idle connections stay small.
const KEEP_WRITE_CAPACITY: usize = 16 * 1024;

/// What a flush left in the write buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flushed {
    /// Nothing: the socket took it all.
    Empty,
    /// The socket would block; a writable event follows.
    Blocked,
    /// The socket is broken.
    Broken,
}

/// A connection and its socket.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) stream: TcpStream,
    pub(super) conn: Conn,
    /// The TLS session of a connection to a TLS listener.
    pub(super) tls: Option<Box<TlsSession>>,
    /// Set once the connection closed: we wait for the client's EOF until then + LINGER.
    pub(super) closing_since: Option<Instant>,
    /// Still has bytes to read or deliveries to take after its turn.
    pub(super) busy: bool,
    /// Reading stopped on a full write buffer.
    pub(super) read_paused: bool,
    /// Reading stopped because the client's QoS 0 messages find full queues: resume after
    /// `ServerConfig::full_queue_backoff`.
    pub(super) throttled: bool,
    /// The listener's input rates for this connection, if it has any.
    pub(super) inbound: Option<Box<Inbound>>,
    /// Past its input rates: not read before then.
    resume_at: Option<Instant>,
    /// `resume_at` was just set: the event loop must schedule the connection for then.
    new_pause: bool,
    /// Durable mode: output waiting for the store (`durable.rs`); `None` when all of it
    /// may be written, always in memory mode.
    pub(super) holds: Option<Box<Holds>>,
    /// The connection closed while output was held: close it once the holds settle.
    pub(super) close_pending: bool,
    /// Durable mode: some held output was released (so the CONNACK went out).
    pub(super) released_any: bool,
    /// Its place in its listener's counts, given back when the entry is dropped.
    _admission: Admission,
}

impl Entry {
    /// A connection just accepted, with its TLS session on a TLS listener.
    pub(super) fn new(
        stream: TcpStream,
        conn: Conn,
        tls: Option<Box<TlsSession>>,
        admission: Admission,
    ) -> Self {
        Self {
            stream,
            conn,
            tls,
            closing_since: None,
            busy: false,
            read_paused: false,
            throttled: false,
            inbound: None,
            resume_at: None,
            new_pause: false,
            holds: None,
            close_pending: false,
            released_any: false,
            _admission: admission,
        }
    }

    /// When to serve the connection again, if its input was just paused for its rates.
    pub(super) fn take_new_pause(&mut self) -> Option<Instant> {
        if std::mem::take(&mut self.new_pause) {
            self.resume_at
        } else {
            None
        }
    }

    /// Reads and handles input until the socket is empty, the turn's budget (reads, input
    /// rates) is spent or the write buffer is full. Returns `false` if the connection must
    /// close.
    pub(super) fn read(&mut self, scratch: &mut [u8], server: &Shared, now: Instant) -> bool {
        self.read_paused = false;
        let Some(mut inbound) = self.inbound.take() else {
            let mut unlimited = usize::MAX;
            return self.read_turn(scratch, server, now, &mut unlimited);
        };
        let open = self.read_limited(&mut inbound, scratch, server, now);
        self.inbound = Some(inbound);
        open
    }

    /// [`Entry::read`] within the input rates.
    fn read_limited(
        &mut self,
        inbound: &mut Inbound,
        scratch: &mut [u8],
        server: &Shared,
        now: Instant,
    ) -> bool {
        if self.resume_at.is_some_and(|at| now < at) {
            return true; // an event during the pause: the pause list serves it later
        }
        self.resume_at = None;
        let budget = match inbound.budget(now) {
            Ok(budget) => budget,
            Err(pause) => {
                self.pause(pause, server);
                return true;
            }
        };
        self.conn.set_publish_budget(budget.publishes);
        let mut bytes_left = budget.bytes;
        let open = self.read_turn(scratch, server, now, &mut bytes_left);
        let publishes = budget.publishes - self.conn.publish_budget();
        let exhausted = inbound.spend(publishes, budget.bytes - bytes_left, now);
        if open && let Some(pause) = exhausted {
            self.pause(pause, server);
        }
        open
    }

    fn pause(&mut self, pause: Pause, server: &Shared) {
        let counter = match pause.cause {
            PauseCause::Messages => &server.counters.message_throttles,
            PauseCause::Bytes => &server.counters.byte_throttles,
        };
        stats::add(counter, 1);
        self.resume_at = Some(pause.until);
        self.new_pause = true;
    }

    /// One turn of reading: at most [`READS_PER_TURN`] reads and `bytes_left` bytes, and no
    /// more once the connection used its PUBLISH budget.
    fn read_turn(
        &mut self,
        scratch: &mut [u8],
        server: &Shared,
        now: Instant,
        bytes_left: &mut usize,
    ) -> bool {
        // Packets left from a paused turn first.
        if !self.conn.read.is_empty() && self.conn.on_read(now).is_err() {
            return false;
        }
        if self.conn.take_throttle() {
            self.throttled = true;
            return true;
        }
        for _ in 0..READS_PER_TURN {
            if self.conn.is_write_full() {
                // Paused: served again once the socket takes our bytes.
                self.read_paused = true;
                return true;
            }
            if self.conn.publish_budget() == 0 || *bytes_left == 0 {
                // Past an input rate: what is unread waits for the pause to end.
                return true;
            }
            let max = scratch.len().min(*bytes_left);
            match self.stream.read(&mut scratch[..max]) {
                Ok(0) => return false,
                Ok(n) => {
                    stats::add(&server.counters.bytes_in, n as u64);
                    *bytes_left -= n;
                    let Ok(peer_closed) = self.take_input(&scratch[..n], server) else {
                        return false; // `start_closing` flushes the TLS alert
                    };
                    if self.conn.on_read(now).is_err() || peer_closed {
                        return false;
                    }
                    if self.conn.take_throttle() {
                        self.throttled = true;
                        return true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        self.busy = true;
        true
    }

    /// Moves bytes read from the socket into the connection's read buffer: as they are, or
    /// decrypted by its TLS session. `Ok(true)`: the client closed its TLS session
    /// (`close_notify`); `Err`: the TLS session failed and the connection must close.
    fn take_input(&mut self, bytes: &[u8], server: &Shared) -> Result<bool, ()> {
        let Some(tls) = self.tls.as_deref_mut() else {
            self.conn.read.extend_from_slice(bytes);
            return Ok(false);
        };
        let counters = &server.counters;
        match tls.receive(bytes, &mut self.conn.read) {
            Ok(received) => {
                if received.established {
                    stats::add(&counters.tls_handshakes, 1);
                    if let Some(username) = received.username {
                        self.conn.set_transport_username(username);
                    }
                }
                Ok(received.peer_closed)
            }
            Err(failure) => {
                match failure {
                    TlsFailure::Certificate { reason } => {
                        let peer = self.stream.peer_addr().ok();
                        tracing::info!(?peer, %reason, "client certificate refused");
                        stats::add(&counters.tls_handshake_failures, 1);
                        stats::add(&counters.tls_certificates_refused, 1);
                    }
                    TlsFailure::Handshake => stats::add(&counters.tls_handshake_failures, 1),
                    TlsFailure::Session => stats::add(&counters.malformed, 1),
                }
                Err(())
            }
        }
    }

    /// Takes deliveries and writes until the socket or the session has nothing more for
    /// now. Returns `false` if the connection must close, and whether it started a hold
    /// that needs a ticket: in durable mode (`durable`), a batch whose hand-out recorded
    /// something (a QoS 2 PUBLISH's packet id) is held until that record is durable, or a
    /// crash could hand the message out again under another id.
    pub(super) fn deliver_and_flush(
        &mut self,
        server: &Shared,
        durable: Option<&mqlite::Broker>,
        now: Instant,
    ) -> (bool, bool) {
        let mut new_hold = false;
        for _ in 0..BATCHES_PER_TURN {
            let mark = durable.map(|broker| (broker, self.durable_mark(broker)));
            let Ok(drain) = self.conn.on_delivery() else {
                return (false, new_hold); // `start_closing` flushes the DISCONNECT
            };
            if let Some((broker, mark)) = mark {
                new_hold |= self.hold_if_changed(broker, mark);
            }
            let pending = self.conn.write.len();
            let flushed = self.flush(server);
            self.conn.on_flushed(now, self.conn.write.len() < pending);
            match (drain, flushed) {
                (_, Flushed::Broken) => return (false, new_hold),
                (Drain::Idle, _) => return (true, new_hold),
                // The socket is full: its writable event resumes the connection.
                (Drain::More, Flushed::Blocked) => return (true, new_hold),
                (Drain::More, Flushed::Empty) => {}
            }
        }
        self.busy = true;
        (true, new_hold)
    }

    /// Writes as much of the write buffer as the socket takes and the holds allow.
    fn flush(&mut self, server: &Shared) -> Flushed {
        let Some(writable) = self
            .holds
            .as_deref()
            .map(|h| h.writable(self.conn.write.len()))
        else {
            return self.flush_all(server);
        };
        // Only the front, released part goes out; the held rest is put back after it.
        let held = self.conn.write.split_off(writable);
        let flushed = self.flush_all(server);
        let written = writable - self.conn.write.len();
        self.conn.write.unsplit(held);
        if let Some(holds) = self.holds.as_deref_mut() {
            holds.advance(written);
        }
        match flushed {
            // Held bytes wait for the store, whose callback serves the connection again.
            Flushed::Empty if !self.conn.write.is_empty() => Flushed::Blocked,
            other => other,
        }
    }

    /// Writes as much of the write buffer as the socket takes (through TLS on a TLS
    /// connection).
    fn flush_all(&mut self, server: &Shared) -> Flushed {
        let buf = &mut self.conn.write;
        if let Some(tls) = self.tls.as_deref_mut() {
            let mut written = 0;
            let flushed = tls.flush(buf, &mut self.stream, &mut written);
            stats::add(&server.counters.bytes_out, written);
            if flushed == Flushed::Empty && buf.capacity() > KEEP_WRITE_CAPACITY {
                *buf = bytes::BytesMut::new();
            }
            return flushed;
        }
        while !buf.is_empty() {
            match self.stream.write(buf) {
                Ok(0) => return Flushed::Broken,
                Ok(n) => {
                    stats::add(&server.counters.bytes_out, n as u64);
                    buf.advance(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Flushed::Blocked,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Flushed::Broken,
            }
        }
        if buf.capacity() > KEEP_WRITE_CAPACITY {
            *buf = bytes::BytesMut::new();
        }
        Flushed::Empty
    }

    /// Flushes the last packets, then (on TLS) `close_notify` after them.
    pub(super) fn flush_last(&mut self, server: &Shared) {
        self.flush(server);
        if let Some(tls) = self.tls.as_deref_mut() {
            tls.close();
            self.flush(server);
        }
    }

    /// Discards input of a closing connection; clears `closing_since` at EOF or error.
    pub(super) fn drain_closing(&mut self, scratch: &mut [u8]) {
        loop {
            match self.stream.read(scratch) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        self.closing_since = None;
    }
}
