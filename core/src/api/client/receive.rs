//! The blocking ways to receive: `recv`, `recv_timeout`, `recv_many`, the iterators, and
//! `wakeups` for waiting on several clients. `try_recv` (in `mod.rs`) is the one step they all
//! repeat.

use std::time::{Duration, Instant};

use super::Client;
use crate::api::message::Message;
use crate::sync::channel;
use crate::types::error::{RecvError, SessionError, TryRecvError};

/// Lock-free looks at the queue before a receiver sleeps: the first `SPIN_STEPS` spin
/// 1, 2, 4, … times, the rest yield the CPU.
const BACKOFF_STEPS: u32 = 10;
const SPIN_STEPS: u32 = 6;

impl Client {
    /// Blocks until a message arrives, or the handle becomes unusable.
    ///
    /// # Errors
    ///
    /// [`RecvError::Session`] once the handle was taken over, or its broker shut down and
    /// the queue is drained.
    pub fn recv(&self) -> Result<Message, RecvError> {
        loop {
            match self.recv_timeout(Duration::from_secs(3600)) {
                Err(RecvError::Timeout) => continue,
                other => return other,
            }
        }
    }

    /// Blocks up to `timeout` for a message.
    ///
    /// # Errors
    ///
    /// [`RecvError::Timeout`] if none arrived in time; [`RecvError::Session`] as for
    /// [`Client::recv`].
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Message, RecvError> {
        // Waiting is real time; the broker clock only drives MQTT's time rules.
        let mut deadline: Option<Option<Instant>> = None;
        loop {
            match self.try_recv() {
                Ok(message) => return Ok(message),
                Err(TryRecvError::Session(e)) => return Err(e.into()),
                Err(TryRecvError::Empty) => {}
            }
            // A delivery often arrives within a microsecond or two: look without locks for a
            // moment before paying for a sleep and a wake-up. Spins grow, then yield, so a
            // publisher sharing this CPU gets to run (crossbeam's backoff does the same).
            // Deliveries behind a full in-flight window wait for an ack, not for spinning.
            if !self.conn.window_blocked()
                && (0..BACKOFF_STEPS).any(|step| {
                    if step < SPIN_STEPS {
                        (0..1u32 << step).for_each(|_| std::hint::spin_loop());
                    } else {
                        std::thread::yield_now();
                    }
                    !self.conn.queue_is_empty()
                })
            {
                continue;
            }
            if self.conn.park() {
                continue;
            }
            let deadline = *deadline.get_or_insert_with(|| Instant::now().checked_add(timeout));
            let left = deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
            if left.is_zero() {
                return Err(RecvError::Timeout);
            }
            match self.doorbell.rx.recv_timeout(left) {
                Ok(()) => {}
                Err(channel::RecvTimeoutError::Timeout) => return Err(RecvError::Timeout),
                // The session dropped its waker: this connection has ended.
                Err(channel::RecvTimeoutError::Disconnected) => {
                    return match self.try_recv() {
                        Ok(message) => Ok(message),
                        Err(TryRecvError::Session(e)) => Err(e.into()),
                        Err(TryRecvError::Empty) => Err(self.ended().into()),
                    };
                }
            }
        }
    }

    /// Waits up to `timeout` for a first message, then takes up to `max` messages that are
    /// ready, in order. An empty vector means the timeout passed.
    ///
    /// # Errors
    ///
    /// [`SessionError`] if the handle is unusable and nothing is left to receive.
    pub fn recv_many(&self, max: usize, timeout: Duration) -> Result<Vec<Message>, SessionError> {
        let mut out = Vec::new();
        if max == 0 {
            return Ok(out);
        }
        match self.recv_timeout(timeout) {
            Ok(m) => out.push(m),
            Err(RecvError::Timeout) => return Ok(out),
            Err(RecvError::Session(e)) => return Err(e),
        }
        while out.len() < max {
            match self.try_recv() {
                Ok(m) => out.push(m),
                Err(_) => break,
            }
        }
        Ok(out)
    }

    /// A blocking iterator over messages; it ends when the handle becomes unusable.
    pub fn iter(&self) -> impl Iterator<Item = Message> + '_ {
        std::iter::from_fn(move || self.recv().ok())
    }

    /// An iterator over the messages ready now; it never blocks.
    pub fn try_iter(&self) -> impl Iterator<Item = Message> + '_ {
        std::iter::from_fn(move || self.try_recv().ok())
    }

    /// A channel that receives a token whenever new messages may be ready, for waiting on
    /// several clients at once with `crossbeam_channel::select!`. After a token, drain the
    /// client with [`Client::try_recv`] until `Empty` (tokens are coalesced: one may stand for
    /// many messages, and a token may be spurious).
    ///
    /// ```
    /// use std::time::Duration;
    /// use crossbeam_channel::select;
    /// use mqlite::{Broker, Config, ConnectOptions, QoS};
    /// let broker = Broker::new(Config::default());
    /// let a = broker.connect(ConnectOptions::new("a"))?;
    /// let b = broker.connect(ConnectOptions::new("b"))?;
    /// a.subscribe("x", QoS::AtMostOnce)?;
    /// b.subscribe("y", QoS::AtMostOnce)?;
    /// b.publish("y", "hello b", QoS::AtMostOnce, false)?;
    /// select! {
    ///     recv(a.wakeups()) -> _ => unreachable!("nothing was published to x"),
    ///     recv(b.wakeups()) -> _ => assert_eq!(b.try_recv()?.topic(), "y"),
    ///     default(Duration::from_secs(1)) => panic!("timed out"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(not(loom))]
    pub fn wakeups(&self) -> &crossbeam_channel::Receiver<()> {
        &self.doorbell.rx
    }

    /// Why this handle ended, once it has nothing more to receive.
    pub(crate) fn ended(&self) -> SessionError {
        self.conn
            .check()
            .err()
            .unwrap_or(SessionError::BrokerClosed)
    }
}
