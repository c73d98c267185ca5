//! A blocking MQTT client over one `TcpStream`: CONNECT / SUBSCRIBE handshakes, a write
//! buffer flushed in batches and a read buffer decoded packet by packet with `mqlite-net`'s
//! codec. Every read and write has a timeout, so no call blocks for long; the flow control of
//! publishers and subscribers lives in `publisher.rs` and `subscriber.rs`.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use bytes::{Buf as _, BytesMut};
use mqlite::{QoS, SubOptions, TopicFilter};
use mqlite_net::codec::{
    self, Connect, DecodeLimits, Packet, PacketId, Properties, ProtocolVersion, Subscribe,
};

/// How long one read or write waits before the caller gets to check its stop flag.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// A write that makes no progress for this long means the broker stopped reading.
const WRITE_STALL: Duration = Duration::from_secs(10);

/// Bytes asked of the kernel per read.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Where to connect and how.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The broker's address, resolved once.
    pub(crate) addr: SocketAddr,
    /// Protocol version of every connection.
    pub(crate) version: ProtocolVersion,
    /// Bound on TCP connect plus CONNACK, and on SUBACK.
    pub(crate) timeout: Duration,
    /// The keep alive every CONNECT asks for, in seconds; 0 turns it off.
    pub(crate) keep_alive: u16,
}

impl Target {
    /// Resolves `host:port`.
    pub(crate) fn resolve(
        host: &str,
        port: u16,
        version: ProtocolVersion,
        timeout: Duration,
        keep_alive: u16,
    ) -> Result<Self> {
        let addr = (host, port)
            .to_socket_addrs()
            .with_context(|| format!("resolving {host}:{port}"))?
            .next()
            .with_context(|| format!("{host}:{port} resolves to no address"))?;
        Ok(Self {
            addr,
            version,
            timeout,
            keep_alive,
        })
    }
}

/// The session expiry, in seconds, a 5.0 persistent session asks for: longer than any run.
pub(crate) const PERSISTENT_SESSION_EXPIRY_S: u32 = 3600;

/// What a connection asks the broker to do with its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Session {
    /// A new session that ends with the connection (3.1/3.1.1 clean session 1; 5.0 clean
    /// start, no session expiry).
    Clean,
    /// A new session that outlives the connection (3.1/3.1.1 clean session 0; 5.0 clean
    /// start false with [`PERSISTENT_SESSION_EXPIRY_S`]), so the broker keeps (and in durable
    /// mode stores) its subscriptions and queued messages. The client id must be new: a
    /// resumed session is an error.
    Persistent,
}

/// The CONNECT of `client_id` asking for `session`.
fn connect_packet(target: &Target, client_id: &str, session: Session) -> Packet {
    let persistent = session == Session::Persistent;
    let mut properties = Properties::default();
    if persistent && target.version == ProtocolVersion::V5 {
        properties.session_expiry_interval = Some(PERSISTENT_SESSION_EXPIRY_S);
    }
    Packet::Connect(Box::new(Connect {
        protocol_version: target.version,
        clean_start: !persistent,
        keep_alive: target.keep_alive,
        properties,
        client_id: client_id.to_owned(),
        will: None,
        username: None,
        password: None,
    }))
}

/// One MQTT connection.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: TcpStream,
    version: ProtocolVersion,
    limits: DecodeLimits,
    rbuf: BytesMut,
    wbuf: BytesMut,
    scratch: Box<[u8]>,
    read_timeout: Duration,
    /// The broker's Receive Maximum (5.0 CONNACK), 65,535 when it sent none.
    pub(crate) receive_maximum: u16,
}

impl Conn {
    /// Opens a TCP connection, sends CONNECT (clean start, no session kept, the target's keep
    /// alive) and waits for a successful CONNACK.
    ///
    /// # Errors
    ///
    /// As [`Conn::connect_with`].
    pub(crate) fn connect(target: &Target, client_id: &str) -> Result<Self> {
        Self::connect_with(target, client_id, Session::Clean)
    }

    /// Opens a TCP connection, sends CONNECT asking for `session` (and the target's keep
    /// alive) and waits for a successful CONNACK.
    ///
    /// # Errors
    ///
    /// The TCP connect fails, the broker closes, times out, sends a malformed packet or
    /// refuses the connection (the CONNACK reason code is in the message), or resumes an
    /// old session where a new persistent one was asked for.
    pub(crate) fn connect_with(target: &Target, client_id: &str, session: Session) -> Result<Self> {
        let deadline = Instant::now() + target.timeout;
        let stream = TcpStream::connect_timeout(&target.addr, target.timeout)
            .with_context(|| format!("connecting to {}", target.addr))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(POLL))?;
        stream.set_write_timeout(Some(POLL))?;
        let mut conn = Self {
            stream,
            version: target.version,
            limits: DecodeLimits::default(),
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
            scratch: vec![0; READ_CHUNK_BYTES].into_boxed_slice(),
            read_timeout: POLL,
            receive_maximum: u16::MAX,
        };
        conn.queue(&connect_packet(target, client_id, session))?;
        conn.flush_all()?;
        match conn.recv_until(deadline, "CONNACK")? {
            Packet::ConnAck(ack) if ack.reason_code.0 != 0 => {
                bail!("broker refused the connection: CONNACK {}", ack.reason_code)
            }
            Packet::ConnAck(ack) if ack.session_present && session == Session::Persistent => {
                bail!("the broker resumed an old session of `{client_id}`; a run needs a new one")
            }
            Packet::ConnAck(ack) => {
                conn.receive_maximum = ack.properties.receive_maximum.unwrap_or(u16::MAX);
                Ok(conn)
            }
            other => bail!("expected CONNACK, got {:?}", other.packet_type()),
        }
    }

    /// Removes the session `client_id` left on the broker: connects with clean start (which
    /// discards it; 5.0: no session expiry, so nothing is kept) and disconnects.
    ///
    /// # Errors
    ///
    /// As [`Conn::connect`].
    pub(crate) fn remove_session(target: &Target, client_id: &str) -> Result<()> {
        Self::connect(target, client_id)?.disconnect();
        Ok(())
    }

    /// Subscribes to `filter` at `qos` and waits for a SUBACK granting it.
    ///
    /// # Errors
    ///
    /// An invalid filter, a refused subscription (the SUBACK code is in the message), a
    /// closed connection or no SUBACK within the target's timeout.
    pub(crate) fn subscribe(&mut self, filter: &str, qos: QoS, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let packet_id = PacketId::new(1).context("1 is a valid packet identifier")?;
        let filter = TopicFilter::new(filter).with_context(|| format!("filter `{filter}`"))?;
        self.queue(&Packet::Subscribe(Subscribe {
            packet_id,
            properties: Properties::default(),
            filters: vec![(filter, SubOptions::new(qos))],
        }))?;
        self.flush_all()?;
        match self.recv_until(deadline, "SUBACK")? {
            Packet::SubAck(ack) => match ack.reason_codes.first() {
                Some(code) if code.is_error() => bail!("broker refused the subscription: {code}"),
                Some(code) if code.0 < qos.as_u8() => {
                    bail!("broker granted QoS {} instead of {}", code.0, qos.as_u8())
                }
                Some(_) => Ok(()),
                None => bail!("SUBACK without a reason code"),
            },
            other => bail!("expected SUBACK, got {:?}", other.packet_type()),
        }
    }

    /// Appends `packet` to the write buffer.
    ///
    /// # Errors
    ///
    /// The packet cannot be encoded for this connection's version.
    pub(crate) fn queue(&mut self, packet: &Packet) -> Result<()> {
        codec::encode(packet, self.version, &mut self.wbuf)
            .with_context(|| format!("encoding {:?}", packet.packet_type()))
    }

    /// Bytes waiting in the write buffer.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.wbuf.len()
    }

    /// Writes the whole write buffer. Returns `false`, leaving the rest queued, if `stop` was
    /// set while the broker was not reading.
    ///
    /// # Errors
    ///
    /// The connection failed or the broker read nothing for 10 s.
    pub(crate) fn flush(&mut self, stop: &AtomicBool) -> Result<bool> {
        let mut last_progress = Instant::now();
        while !self.wbuf.is_empty() {
            match self.stream.write(&self.wbuf) {
                Ok(0) => bail!("broker closed the connection"),
                Ok(n) => {
                    self.wbuf.advance(n);
                    last_progress = Instant::now();
                }
                Err(e) if is_timeout(&e) => {
                    // Relaxed: a flag polled between bounded waits, ordering no other data.
                    if stop.load(Ordering::Relaxed) {
                        return Ok(false);
                    }
                    if last_progress.elapsed() > WRITE_STALL {
                        bail!("broker read nothing for {} s", WRITE_STALL.as_secs());
                    }
                }
                Err(e) => return Err(e).context("writing to the broker"),
            }
        }
        self.wbuf.clear();
        Ok(true)
    }

    /// [`Conn::flush`] for a handshake: no stop flag, only the stall bound.
    fn flush_all(&mut self) -> Result<()> {
        self.flush(&AtomicBool::new(false)).map(drop)
    }

    /// The next whole packet already read, if any.
    ///
    /// # Errors
    ///
    /// The bytes are malformed, or the broker sent DISCONNECT.
    pub(crate) fn next_buffered(&mut self) -> Result<Option<Packet>> {
        let packet = codec::decode(&mut self.rbuf, self.version, &self.limits)
            .context("malformed packet from the broker")?;
        if let Some(Packet::Disconnect(d)) = &packet {
            bail!("broker sent DISCONNECT {}", d.reason_code);
        }
        Ok(packet)
    }

    /// Reads once, waiting at most `wait` (rounded up to 1 ms); `false` if nothing came.
    ///
    /// # Errors
    ///
    /// The broker closed the connection or the socket failed.
    pub(crate) fn fill(&mut self, wait: Duration) -> Result<bool> {
        let wait = wait.max(Duration::from_millis(1));
        if wait != self.read_timeout {
            self.stream.set_read_timeout(Some(wait))?;
            self.read_timeout = wait;
        }
        self.read_once()
    }

    /// Reads what has already arrived, without waiting; `false` if nothing had.
    ///
    /// # Errors
    ///
    /// As [`Conn::fill`].
    pub(crate) fn try_fill(&mut self) -> Result<bool> {
        self.stream.set_nonblocking(true)?;
        let result = self.read_once();
        self.stream.set_nonblocking(false)?;
        result
    }

    fn read_once(&mut self) -> Result<bool> {
        match self.stream.read(&mut self.scratch) {
            Ok(0) => bail!("broker closed the connection"),
            Ok(n) => {
                self.rbuf.extend_from_slice(&self.scratch[..n]);
                Ok(true)
            }
            Err(e) if is_timeout(&e) => Ok(false),
            Err(e) => Err(e).context("reading from the broker"),
        }
    }

    /// Waits for the next packet until `deadline`; `what` names it in the timeout error.
    ///
    /// # Errors
    ///
    /// As [`Conn::next_buffered`] and [`Conn::fill`], or nothing arrived in time.
    pub(crate) fn recv_until(&mut self, deadline: Instant, what: &str) -> Result<Packet> {
        loop {
            if let Some(packet) = self.next_buffered()? {
                return Ok(packet);
            }
            let now = Instant::now();
            if now >= deadline {
                bail!("no {what} from the broker in time");
            }
            self.fill((deadline - now).min(POLL))?;
        }
    }

    /// Sends DISCONNECT, best effort: the connection is being dropped anyway.
    pub(crate) fn disconnect(mut self) {
        self.wbuf.clear();
        if self.queue(&Packet::Disconnect(Default::default())).is_ok() {
            let _ = self.stream.write_all(&self.wbuf);
        }
    }
}

/// A read or write timeout: `WouldBlock` on Unix, `TimedOut` on Windows.
fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}
