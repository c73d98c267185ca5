//! One connection's TLS state between a non-blocking socket and the connection state
//! machine. The worker reads the socket itself (one `read` of up to 64 KiB) and hands the
//! ciphertext to [`TlsSession::receive`], which feeds rustls from that slice, so a read
//! costs one syscall however rustls buffers; plaintext comes out into the connection's read
//! buffer. [`TlsSession::flush`] moves the connection's plaintext into rustls (its buffer is
//! bounded by rustls's default limit of 64 KiB) and writes the records to the socket.
//!
//! The handshake needs no code of its own: it is what `receive` and `flush` do until rustls
//! says it is over, all inside the worker's event loop; a client that stalls in it is closed
//! by the connection's CONNECT timeout like one that stalls before CONNECT.

use std::io::{self, Read, Write};
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use rustls::ServerConnection;

use super::TlsListener;
use super::identity::identity;
use crate::worker::Flushed;

/// One connection's TLS.
#[derive(Debug)]
pub(crate) struct TlsSession {
    conn: ServerConnection,
    listener: Arc<TlsListener>,
    /// The handshake is over and [`Received::established`] said so.
    established: bool,
    /// rustls hit a fatal error: only its alert is left to send.
    failed: bool,
}

/// What [`TlsSession::receive`] found besides plaintext.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Received {
    /// The handshake completed in this call.
    pub(crate) established: bool,
    /// With `established`, on a listener with `use_identity_as_username`: the client
    /// certificate's identity, the username of this connection.
    pub(crate) username: Option<String>,
    /// The client sent `close_notify`: no more input will come.
    pub(crate) peer_closed: bool,
}

/// Why a TLS connection failed; an alert for the client may be waiting in the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TlsFailure {
    /// The handshake failed over the client's certificate: missing, expired, from another
    /// CA, or without the identity the listener logs clients in with.
    Certificate {
        /// What was wrong with it, for the log.
        reason: String,
    },
    /// The handshake failed otherwise: not TLS at all, no common version, cipher suite or
    /// ALPN protocol.
    Handshake,
    /// A TLS error after the handshake (a record that does not decrypt, say).
    Session,
}

impl TlsSession {
    /// A session for a connection just accepted on `listener`, with the configuration of
    /// the moment.
    pub(crate) fn new(listener: Arc<TlsListener>) -> Result<Self, rustls::Error> {
        Ok(Self {
            conn: ServerConnection::new(listener.current())?,
            listener,
            established: false,
            failed: false,
        })
    }

    /// Decrypts `ciphertext` (all of it) and appends the plaintext to `plaintext`.
    pub(crate) fn receive(
        &mut self,
        mut ciphertext: &[u8],
        plaintext: &mut BytesMut,
    ) -> Result<Received, TlsFailure> {
        let mut received = Received::default();
        while !ciphertext.is_empty() {
            match self.conn.read_tls(&mut ciphertext) {
                // Only after close_notify: rustls takes nothing more.
                Ok(0) => {
                    received.peer_closed = true;
                    break;
                }
                Ok(_) => {}
                // The plaintext buffer is drained after every record batch, so it cannot be
                // full; treat anything else as fatal.
                Err(e) => {
                    tracing::debug!(error = %e, "TLS input refused");
                    self.failed = true;
                    return Err(self.failure_kind(None));
                }
            }
            let state = match self.conn.process_new_packets() {
                Ok(state) => state,
                Err(e) => {
                    self.failed = true;
                    let kind = self.failure_kind(Some(&e));
                    tracing::debug!(error = %e, ?kind, "TLS failed");
                    return Err(kind);
                }
            };
            let n = state.plaintext_bytes_to_read();
            if n > 0 {
                let start = plaintext.len();
                plaintext.resize(start + n, 0);
                if self
                    .conn
                    .reader()
                    .read_exact(&mut plaintext[start..])
                    .is_err()
                {
                    plaintext.truncate(start);
                    self.failed = true;
                    return Err(TlsFailure::Session);
                }
            }
            if state.peer_has_closed() {
                received.peer_closed = true;
                break;
            }
        }
        if !self.established && !self.conn.is_handshaking() {
            self.established = true;
            received.established = true;
            if self.listener.settings().use_identity_as_username {
                // The verifier refused certificates without an identity; this is a guard.
                received.username = Some(self.identity().ok_or_else(|| {
                    self.failed = true;
                    TlsFailure::Certificate {
                        reason: "no identity in the certificate".to_owned(),
                    }
                })?);
            }
            tracing::debug!(
                version = ?self.conn.protocol_version(),
                suite = ?self.conn.negotiated_cipher_suite().map(|s| s.suite()),
                alpn = ?self.conn.alpn_protocol().map(String::from_utf8_lossy),
                "TLS handshake done"
            );
        }
        Ok(received)
    }

    fn failure_kind(&self, error: Option<&rustls::Error>) -> TlsFailure {
        if self.established {
            return TlsFailure::Session;
        }
        match error {
            Some(
                e @ (rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented),
            ) => TlsFailure::Certificate {
                reason: e.to_string(),
            },
            _ => TlsFailure::Handshake,
        }
    }

    /// The client certificate's identity (by the listener's `identity_source`), if the
    /// client showed a certificate that has one.
    fn identity(&self) -> Option<String> {
        let cert = self.conn.peer_certificates()?.first()?;
        identity(cert, self.listener.settings().identity_source)
    }

    /// Encrypts what it can of `plaintext` (removing it from the buffer) and writes TLS
    /// records to `socket` until it would block. `Empty` means both the plaintext and the
    /// records are gone; the number of bytes written goes to `written`.
    pub(crate) fn flush(
        &mut self,
        plaintext: &mut BytesMut,
        socket: &mut impl Write,
        written: &mut u64,
    ) -> Flushed {
        if self.failed {
            // Nothing more is encrypted after a fatal error; only the alert goes out.
            plaintext.clear();
        }
        loop {
            if !plaintext.is_empty() {
                match self.conn.writer().write(plaintext) {
                    Ok(n) => plaintext.advance(n),
                    Err(_) => return Flushed::Broken,
                }
            }
            if !self.conn.wants_write() {
                return if plaintext.is_empty() {
                    Flushed::Empty
                } else {
                    // Buffered by rustls until the handshake ends; input moves it on.
                    Flushed::Blocked
                };
            }
            match self.conn.write_tls(socket) {
                Ok(0) => return Flushed::Broken,
                Ok(n) => *written += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Flushed::Blocked,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Flushed::Broken,
            }
        }
    }

    /// Queues `close_notify` after what is buffered, if the session is in a state to say it.
    pub(crate) fn close(&mut self) {
        if self.established && !self.failed {
            self.conn.send_close_notify();
        }
    }
}
