//! One connection's socket I/O, plain or TLS: reading input into its [`Conn`], taking its
//! deliveries and writing them, closing. The event loop (`mod.rs`) decides when.
//!
//! TLS: a connection accepted on a TLS listener has a [`TlsSession`] between its socket and
//! its [`Conn`]. The socket is read as for plain TCP and the bytes go through the session,
//! which leaves plaintext in `conn.read`; `conn.write` holds plaintext that the session
//! encrypts as the socket drains. The handshake is just the first bytes of that exchange, so
//! it never blocks the loop, and the connection's CONNECT timeout (it counts from accept)
//! closes a client that stalls in it.

use std::io::{self, Read, Write};
use std::time::Instant;

use bytes::Buf;
use mio::net::TcpStream;

use crate::conn::{Conn, Drain, Shared};
use crate::stats;
use crate::tls::{TlsFailure, TlsSession};

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
}

impl Entry {
    /// A connection just accepted, with its TLS session on a TLS listener.
    pub(super) fn new(stream: TcpStream, conn: Conn, tls: Option<Box<TlsSession>>) -> Self {
        Self {
            stream,
            conn,
            tls,
            closing_since: None,
            busy: false,
            read_paused: false,
            throttled: false,
        }
    }

    /// Reads and handles input until the socket is empty, the turn's budget is spent or the
    /// write buffer is full. Returns `false` if the connection must close.
    pub(super) fn read(&mut self, scratch: &mut [u8], server: &Shared, now: Instant) -> bool {
        self.read_paused = false;
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
            match self.stream.read(scratch) {
                Ok(0) => return false,
                Ok(n) => {
                    stats::add(&server.counters.bytes_in, n as u64);
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
    /// now. Returns `false` if the connection must close.
    pub(super) fn deliver_and_flush(&mut self, server: &Shared, now: Instant) -> bool {
        for _ in 0..BATCHES_PER_TURN {
            let Ok(drain) = self.conn.on_delivery() else {
                return false; // `start_closing` flushes the DISCONNECT
            };
            let pending = self.conn.write.len();
            let flushed = self.flush(server);
            self.conn.on_flushed(now, self.conn.write.len() < pending);
            match (drain, flushed) {
                (_, Flushed::Broken) => return false,
                (Drain::Idle, _) => return true,
                // The socket is full: its writable event resumes the connection.
                (Drain::More, Flushed::Blocked) => return true,
                (Drain::More, Flushed::Empty) => {}
            }
        }
        self.busy = true;
        true
    }

    /// Writes as much of the write buffer as the socket takes (through TLS on a TLS
    /// connection).
    fn flush(&mut self, server: &Shared) -> Flushed {
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
