//! The publisher loop: sends as fast as flow control allows, or at a fixed rate, keeping at
//! most `inflight` QoS 1/2 messages unacknowledged and completing PUBACK (QoS 1) and
//! PUBREC → PUBREL → PUBCOMP (QoS 2). QoS 0 is written in batches of up to 64 KiB, so its
//! only brake is TCP back-pressure from the broker. With `--max-backlog`, all publishers of a
//! run also share a bound on the deliveries outstanding (`backlog.rs`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use bytes::Bytes;
use mqlite::QoS;
use mqlite_net::codec::{Packet, PacketId, Properties, PubRel, Publish, PublishTopic, ReasonCode};

use crate::backlog::Share;
use crate::client::{Conn, POLL};

/// Bytes encoded before the write buffer is flushed.
const BATCH_BYTES: usize = 64 * 1024;

/// Messages encoded at most per batch (QoS 0 has no window to bound a batch).
const MAX_BATCH_MESSAGES: usize = 4096;

/// How long a publisher held back by a full backlog waits before trying again (or for
/// acknowledgements, when it has messages in flight).
const BACKLOG_WAIT: Duration = Duration::from_millis(1);

/// The longest a paced publisher waits before checking for acknowledgements again.
const MAX_PACING_WAIT: Duration = Duration::from_millis(1);

/// What one publisher sends.
#[derive(Debug, Clone)]
pub(crate) struct PubPlan {
    /// Topic of every message.
    pub(crate) topic: PublishTopic,
    /// QoS of every message.
    pub(crate) qos: QoS,
    /// QoS 1/2 window; lowered to the broker's Receive Maximum.
    pub(crate) inflight: u16,
    /// Messages per second, or `None` for as fast as possible.
    pub(crate) rate: Option<u32>,
    /// Pace to the microsecond by yielding in the last 250 µs before each message, instead
    /// of sleeping (which overshoots by tens of µs but leaves the CPU to the broker).
    pub(crate) precise: bool,
    /// Time 0 of the pacing schedule (shared with the subscriber that measures latency).
    pub(crate) epoch: Instant,
    /// How long to wait for the last acknowledgements once stopped.
    pub(crate) drain: Duration,
    /// The run's bound on outstanding deliveries (`--max-backlog`), if any.
    pub(crate) backlog: Option<Share>,
}

/// What a publisher saw, returned when it stops.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PubOutcome {
    /// The longest a paced message went out after its scheduled time.
    pub(crate) max_lag: Duration,
}

/// Sends until `stop` is set, adding each completed message to `published` (QoS 0: written
/// to the socket; QoS 1/2: acknowledged). `payload(seq, due)` builds message `seq` just
/// before it is written, `due` being its scheduled send time (the epoch when unpaced).
/// Once stopped, waits up to `plan.drain` for the messages still in flight.
///
/// # Errors
///
/// The connection fails, the broker refuses a PUBLISH, or acknowledges an unknown packet.
pub(crate) fn run(
    conn: &mut Conn,
    plan: &PubPlan,
    stop: &AtomicBool,
    published: &AtomicU64,
    mut payload: impl FnMut(u64, Instant) -> Bytes,
) -> Result<PubOutcome> {
    let window = match plan.qos {
        QoS::AtMostOnce => usize::MAX,
        _ => usize::from(plan.inflight.min(conn.receive_maximum).max(1)),
    };
    let mut s = Sender {
        flight: InFlight::new(),
        pacer: plan.rate.map(|rate| Pacer::new(plan.epoch, rate)),
        outcome: PubOutcome::default(),
        seq: 0,
        ends: Vec::new(),
    };
    // Relaxed: flags polled between bounded waits, and counters read only as totals.
    while !stop.load(Ordering::Relaxed) {
        let held_back = s.queue_batch(conn, plan, window, &mut payload)?;
        let queued = conn.queued_bytes();
        let flushed = conn.flush(stop)?;
        if plan.qos == QoS::AtMostOnce {
            let written = queued - conn.queued_bytes();
            let whole = s.ends.partition_point(|&end| end <= written);
            published.fetch_add(whole as u64, Ordering::Relaxed);
        }
        if !flushed {
            break;
        }
        if s.flight.count > 0 {
            // A full window (or a full backlog) waits for acknowledgements; a paced
            // publisher picks up those already here, so PUBREL goes out at once (a QoS 2
            // message reaches subscribers only after it); an unpaced one with room left
            // goes back to sending.
            let arrived = if s.flight.count >= window {
                conn.fill(POLL)?
            } else if held_back {
                conn.fill(BACKLOG_WAIT)?
            } else {
                s.pacer.is_some() && conn.try_fill()?
            };
            if arrived {
                published.fetch_add(on_acks(conn, &mut s.flight)?, Ordering::Relaxed);
                if !conn.flush(stop)? {
                    break;
                }
            }
            if s.flight.count >= window {
                continue;
            }
        } else if held_back {
            thread::sleep(BACKLOG_WAIT);
        }
        if let Some(p) = &s.pacer {
            p.wait(MAX_PACING_WAIT, plan.precise);
        }
    }
    drain(conn, &mut s.flight, plan.drain, published)?;
    Ok(s.outcome)
}

/// A publisher's state between batches.
#[derive(Debug)]
struct Sender {
    flight: InFlight,
    pacer: Option<Pacer>,
    outcome: PubOutcome,
    /// The sequence number of the next message.
    seq: u64,
    /// Where each message of the batch ends in the write buffer, to count exactly the QoS 0
    /// messages written in full if `stop` interrupts a flush.
    ends: Vec<usize>,
}

impl Sender {
    /// Encodes the next batch into the write buffer: messages while the window has room,
    /// the buffer is below [`BATCH_BYTES`], a paced message is due and the run's backlog
    /// (if bounded) has room. Returns `true` if the backlog was full before any message.
    fn queue_batch(
        &mut self,
        conn: &mut Conn,
        plan: &PubPlan,
        window: usize,
        payload: &mut impl FnMut(u64, Instant) -> Bytes,
    ) -> Result<bool> {
        self.ends.clear();
        let room = window
            .saturating_sub(self.flight.count)
            .min(MAX_BATCH_MESSAGES);
        let mut credit = match &plan.backlog {
            None => room as u64,
            Some(share) => share.reserve(room as u64),
        };
        let held_back = credit == 0 && room > 0;
        while credit > 0 && conn.queued_bytes() < BATCH_BYTES {
            let due = match &mut self.pacer {
                None => plan.epoch,
                Some(p) => {
                    let now = Instant::now();
                    let Some(due) = p.take_due(now) else { break };
                    self.outcome.max_lag = self.outcome.max_lag.max(now - due);
                    due
                }
            };
            let packet_id = (plan.qos != QoS::AtMostOnce).then(|| self.flight.take());
            conn.queue(&Packet::Publish(Publish {
                dup: false,
                qos: plan.qos,
                retain: false,
                topic: plan.topic.clone(),
                packet_id,
                properties: Properties::default(),
                payload: payload(self.seq, due),
            }))?;
            self.seq += 1;
            credit -= 1;
            self.ends.push(conn.queued_bytes());
        }
        if let Some(share) = &plan.backlog {
            share.release(credit);
        }
        Ok(held_back)
    }
}

/// Reads acknowledgements until none are in flight or `drain` has passed.
fn drain(
    conn: &mut Conn,
    flight: &mut InFlight,
    drain: Duration,
    published: &AtomicU64,
) -> Result<()> {
    let deadline = Instant::now() + drain;
    let never = AtomicBool::new(false);
    while flight.count > 0 && Instant::now() < deadline {
        conn.flush(&never)?;
        if conn.fill(POLL)? {
            published.fetch_add(on_acks(conn, flight)?, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// Handles every buffered packet; returns how many messages completed.
fn on_acks(conn: &mut Conn, flight: &mut InFlight) -> Result<u64> {
    let mut done = 0;
    while let Some(packet) = conn.next_buffered()? {
        match packet {
            Packet::PubAck(ack) => {
                check_code(ack.reason_code, "PUBACK")?;
                flight.advance(ack.packet_id, AWAIT_ACK, FREE, "PUBACK")?;
                done += 1;
            }
            Packet::PubRec(rec) => {
                check_code(rec.reason_code, "PUBREC")?;
                flight.advance(rec.packet_id, AWAIT_ACK, AWAIT_COMP, "PUBREC")?;
                conn.queue(&Packet::PubRel(PubRel::new(rec.packet_id)))?;
            }
            Packet::PubComp(comp) => {
                flight.advance(comp.packet_id, AWAIT_COMP, FREE, "PUBCOMP")?;
                done += 1;
            }
            Packet::PingResp => {}
            other => bail!("unexpected {:?} sent to a publisher", other.packet_type()),
        }
    }
    Ok(done)
}

/// A 5.0 PUBACK / PUBREC may refuse the message; 0x10 (no matching subscribers) is success.
fn check_code(code: ReasonCode, packet: &str) -> Result<()> {
    if code.is_error() {
        bail!("broker refused a PUBLISH: {packet} {code}");
    }
    Ok(())
}

/// The packet identifier is free.
const FREE: u8 = 0;
/// PUBLISH sent, waiting for PUBACK or PUBREC.
const AWAIT_ACK: u8 = 1;
/// PUBREL sent, waiting for PUBCOMP.
const AWAIT_COMP: u8 = 2;

/// The state of every packet identifier of one connection.
#[derive(Debug)]
struct InFlight {
    state: Vec<u8>,
    next: u16,
    count: usize,
}

impl InFlight {
    fn new() -> Self {
        Self {
            state: vec![FREE; 1 << 16],
            next: 0,
            count: 0,
        }
    }

    /// A free identifier, marked [`AWAIT_ACK`]. The window is at most 65,535, so one is free.
    fn take(&mut self) -> PacketId {
        loop {
            self.next = self.next.wrapping_add(1);
            if let Some(id) = PacketId::new(self.next)
                && self.state[usize::from(self.next)] == FREE
            {
                self.state[usize::from(self.next)] = AWAIT_ACK;
                self.count += 1;
                return id;
            }
        }
    }

    /// Moves `id` from `from` to `to`; `what` names the acknowledgement in the error.
    fn advance(&mut self, id: PacketId, from: u8, to: u8, what: &str) -> Result<()> {
        let slot = &mut self.state[usize::from(id.get())];
        if *slot != from {
            bail!("{what} for packet identifier {} not awaiting one", id.get());
        }
        *slot = to;
        if to == FREE {
            self.count -= 1;
        }
        Ok(())
    }
}

/// A fixed-rate schedule: message `n` is due `n / rate` seconds after the epoch. A message
/// sent late keeps its scheduled time, so a stalled publisher shows as latency rather than
/// as fewer samples (no coordinated omission).
#[derive(Debug)]
struct Pacer {
    epoch: Instant,
    rate: u32,
    n: u64,
    next: Instant,
}

impl Pacer {
    fn new(epoch: Instant, rate: u32) -> Self {
        Self {
            epoch,
            rate,
            n: 0,
            next: epoch,
        }
    }

    /// The scheduled time of the next message if it is due at `now`, and moves on.
    fn take_due(&mut self, now: Instant) -> Option<Instant> {
        if now < self.next {
            return None;
        }
        let due = self.next;
        self.n += 1;
        self.next = self.epoch + Duration::from_nanos(due_nanos(self.n, self.rate));
        Some(due)
    }

    fn until_due(&self) -> Duration {
        self.next.saturating_duration_since(Instant::now())
    }

    /// Waits for the next message, at most `max`. With `precise`, sleeps only while it is
    /// far off, then yields, because a sleep overshoots by tens of microseconds.
    fn wait(&self, max: Duration, precise: bool) {
        let until = Instant::now() + self.until_due().min(max);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            if !precise {
                thread::sleep(left);
            } else if left > Duration::from_micros(250) {
                thread::sleep(left - Duration::from_micros(150));
            } else {
                thread::yield_now();
            }
        }
    }
}

/// Nanoseconds from the epoch to message `n` at `rate` per second.
pub(crate) fn due_nanos(n: u64, rate: u32) -> u64 {
    let nanos = u128::from(n) * 1_000_000_000 / u128::from(rate.max(1));
    u64::try_from(nanos).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_skip_zero_and_busy_ones() {
        let mut flight = InFlight::new();
        let first = flight.take();
        assert_eq!(first.get(), 1);
        flight.next = u16::MAX - 1;
        assert_eq!(flight.take().get(), u16::MAX);
        // Wraps past 0 and past 1, which is still in flight.
        assert_eq!(flight.take().get(), 2);
        assert_eq!(flight.count, 3);
        flight
            .advance(first, AWAIT_ACK, FREE, "PUBACK")
            .expect("in flight");
        assert_eq!(flight.count, 2);
        assert!(flight.advance(first, AWAIT_ACK, FREE, "PUBACK").is_err());
    }

    #[test]
    fn pacer_schedules_from_the_epoch() {
        let epoch = Instant::now();
        let mut pacer = Pacer::new(epoch, 4);
        assert_eq!(pacer.take_due(epoch), Some(epoch));
        assert_eq!(pacer.take_due(epoch), None);
        // Late: every overdue message comes out with its own scheduled time.
        let late = epoch + Duration::from_millis(600);
        assert_eq!(
            pacer.take_due(late),
            Some(epoch + Duration::from_millis(250))
        );
        assert_eq!(
            pacer.take_due(late),
            Some(epoch + Duration::from_millis(500))
        );
        assert_eq!(pacer.take_due(late), None);
    }

    #[test]
    fn due_nanos_has_no_drift() {
        assert_eq!(due_nanos(3, 3), 1_000_000_000);
        assert_eq!(due_nanos(10_000, 10_000), 1_000_000_000);
        assert_eq!(due_nanos(1, 3), 333_333_333);
    }
}
