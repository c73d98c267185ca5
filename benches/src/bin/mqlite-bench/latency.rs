//! The `latency` scenario: one publisher at a fixed rate, one subscriber of its topic, both
//! in this process. Each payload starts with the message's sequence number and a time
//! (nanoseconds since a shared `Instant`); latency is receive time minus that time.
//!
//! - `--stamp sent` (default): the time the publisher encodes the message, just before
//!   writing it. The publisher sleeps between messages, leaving the CPU to the broker.
//! - `--stamp scheduled`: the message's slot in the schedule, so a publisher held back by a
//!   full window or a stalled broker shows up as latency rather than as missing samples
//!   (no coordinated omission). Sleep overshoot would count too, so the publisher yields
//!   in a loop for the last 250 µs before each message, keeping a core busy.
//!
//! Either way `max_send_lag_us` says how far behind its schedule the publisher fell. Only
//! messages stamped inside the measured window count.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use bytes::{BufMut as _, Bytes, BytesMut};
use mqlite_net::codec::{Publish, PublishTopic};

use crate::client::{Conn, Target};
use crate::options::{Options, STAMP_BYTES, Stamp};
use crate::publisher::{self, PubOutcome, PubPlan, due_nanos};
use crate::report::Report;
use crate::rss::{RssSampler, RssSummary};
use crate::stats::{Distribution, micros};
use crate::subscriber;
use crate::throughput::{self, prefix};
use crate::workers::{self, StopOnDrop, Worker};

/// The reported percentiles, as fractions.
const PERCENTILES: [(&str, f64); 5] = [
    ("latency_p50_us", 0.50),
    ("latency_p90_us", 0.90),
    ("latency_p99_us", 0.99),
    ("latency_p999_us", 0.999),
    ("latency_max_us", 1.0),
];

/// What the subscriber measured inside the window.
#[derive(Debug, Default)]
struct Received {
    samples: Vec<Duration>,
    /// Messages whose sequence number was not one more than the previous one's.
    out_of_order: u64,
}

/// Runs the latency scenario.
///
/// # Errors
///
/// A connection or subscription fails, or a worker fails or stops early.
pub(crate) fn run(o: &Options, target: &Target) -> Result<Report> {
    let rss = o.broker_pid.map(RssSampler::start).transpose()?;
    let topic = format!("{}/latency", prefix());
    let pid = std::process::id();
    let mut sub_conn = Conn::connect(target, &format!("mb{pid}-ls")).context("subscriber")?;
    sub_conn
        .subscribe(&topic, o.qos, o.timeout)
        .with_context(|| format!("subscribing to `{topic}`"))?;
    let pub_conn = Conn::connect(target, &format!("mb{pid}-lp")).context("publisher")?;

    let sub_stop = Arc::new(AtomicBool::new(false));
    let pub_stop = Arc::new(AtomicBool::new(false));
    let _guard = StopOnDrop(vec![Arc::clone(&sub_stop), Arc::clone(&pub_stop)]);
    let epoch = Instant::now();
    let window = (o.warmup, o.warmup + o.duration);
    let delivered = Arc::new(AtomicU64::new(0));
    let published = Arc::new(AtomicU64::new(0));
    let sub = spawn_subscriber(sub_conn, &sub_stop, &delivered, epoch, window)?;
    let publisher = spawn_publisher(o, &topic, pub_conn, &pub_stop, &published, epoch)?;

    let (mut subs, mut pubs) = (vec![sub], vec![publisher]);
    let ended = || workers::any_ended(&subs) || workers::any_ended(&pubs);
    // A little past the window, so the last scheduled messages have gone out.
    let completed = workers::sleep_unless(window.1 + Duration::from_millis(20), ended);
    pub_stop.store(true, Ordering::Relaxed);
    let (pub_conn, outcome) = join_one(&mut pubs, o.timeout)?;
    let expected = scheduled_between(window.0, window.1, o.rate);
    throughput::drain(
        std::slice::from_ref(&delivered),
        published.load(Ordering::Relaxed),
        o.timeout,
    );
    sub_stop.store(true, Ordering::Relaxed);
    let (sub_conn, received) = join_one(&mut subs, Duration::from_secs(2))?;
    if !completed {
        bail!("a worker stopped before the end of the run");
    }
    let rss = rss.map(RssSampler::finish).transpose()?;
    pub_conn.disconnect();
    sub_conn.disconnect();
    Ok(report(o, expected, received, outcome, rss))
}

/// Starts the subscriber, which records the latency of each message stamped in `window`.
fn spawn_subscriber(
    mut conn: Conn,
    stop: &Arc<AtomicBool>,
    delivered: &Arc<AtomicU64>,
    epoch: Instant,
    window: (Duration, Duration),
) -> Result<Worker<(Conn, Received)>> {
    let (stop, delivered) = (Arc::clone(stop), Arc::clone(delivered));
    workers::spawn("subscriber".to_owned(), move || {
        let mut received = Received::default();
        let mut last_seq = None;
        subscriber::run(&mut conn, &stop, &delivered, |p| {
            on_publish(p, epoch, window, &mut last_seq, &mut received);
        })?;
        Ok((conn, received))
    })
}

/// Starts the paced publisher.
fn spawn_publisher(
    o: &Options,
    topic: &str,
    mut conn: Conn,
    stop: &Arc<AtomicBool>,
    published: &Arc<AtomicU64>,
    epoch: Instant,
) -> Result<Worker<(Conn, PubOutcome)>> {
    let plan = PubPlan {
        topic: PublishTopic::new(topic)?,
        qos: o.qos,
        inflight: o.inflight,
        rate: Some(o.rate),
        precise: o.stamp == Stamp::Scheduled,
        epoch,
        drain: o.timeout,
        backlog: None,
    };
    let (size, kind) = (o.size_bytes, o.stamp);
    let (stop, published) = (Arc::clone(stop), Arc::clone(published));
    workers::spawn("publisher".to_owned(), move || {
        let outcome = publisher::run(&mut conn, &plan, &stop, &published, |seq, due| {
            let time = match kind {
                Stamp::Sent => Instant::now(),
                Stamp::Scheduled => due,
            };
            stamp(seq, time.duration_since(epoch), size)
        })?;
        Ok((conn, outcome))
    })
}

/// Joins the one worker of `group`, waiting at most `wait` plus a second.
fn join_one<T>(group: &mut Vec<Worker<T>>, wait: Duration) -> Result<T> {
    let all = workers::join_all(
        std::mem::take(group),
        Instant::now() + wait + Duration::from_secs(1),
    )?;
    all.into_iter().next().context("one worker was started")
}

/// The latency report: counts, percentiles, publisher lag and broker RSS.
fn report(
    o: &Options,
    expected: u64,
    received: Received,
    outcome: PubOutcome,
    rss: Option<RssSummary>,
) -> Report {
    let dist = Distribution::new(received.samples);
    let mut r = Report::new(o);
    r.count("scheduled", expected);
    r.count("received", dist.len() as u64);
    r.count("out_of_order", received.out_of_order);
    for (name, fraction) in PERCENTILES {
        if let Some(d) = dist.percentile(fraction) {
            r.figure(name, micros(d));
        }
    }
    if let Some(mean) = dist.mean() {
        r.figure("latency_mean_us", micros(mean));
    }
    r.figure("max_send_lag_us", micros(outcome.max_lag));
    r.rss(rss);
    r
}

/// A payload of `size` bytes: the sequence number, then `since_epoch` in nanoseconds, then
/// zeros.
fn stamp(seq: u64, since_epoch: Duration, size: usize) -> Bytes {
    let mut b = BytesMut::with_capacity(size.max(STAMP_BYTES));
    b.put_u64(seq);
    b.put_u64(u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX));
    b.resize(size.max(STAMP_BYTES), 0);
    b.freeze()
}

/// Reads a payload's stamp: sequence number and scheduled time since the epoch.
fn read_stamp(payload: &[u8]) -> Option<(u64, Duration)> {
    let seq = u64::from_be_bytes(payload.get(..8)?.try_into().ok()?);
    let nanos = u64::from_be_bytes(payload.get(8..16)?.try_into().ok()?);
    Some((seq, Duration::from_nanos(nanos)))
}

/// Records one delivery if it was scheduled inside `window`.
fn on_publish(
    p: &Publish,
    epoch: Instant,
    window: (Duration, Duration),
    last_seq: &mut Option<u64>,
    received: &mut Received,
) {
    let Some((seq, scheduled)) = read_stamp(&p.payload) else {
        return;
    };
    let latency = epoch.elapsed().saturating_sub(scheduled);
    if last_seq.is_some_and(|last| seq != last + 1) {
        received.out_of_order += 1;
    }
    *last_seq = Some(seq);
    if scheduled >= window.0 && scheduled < window.1 {
        received.samples.push(latency);
    }
}

/// How many messages at `rate` per second are scheduled in `[from, to)` after the epoch.
fn scheduled_between(from: Duration, to: Duration, rate: u32) -> u64 {
    // The first n with due_nanos(n) >= t, starting from an estimate that floors can miss by 1.
    let first_at = |t: Duration| {
        let t = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
        let mut n = t.saturating_mul(u64::from(rate)) / 1_000_000_000;
        while due_nanos(n, rate) < t {
            n += 1;
        }
        n
    };
    first_at(to) - first_at(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips_and_pads() {
        let payload = stamp(7, Duration::from_nanos(123_456_789), 64);
        assert_eq!(payload.len(), 64);
        assert_eq!(
            read_stamp(&payload),
            Some((7, Duration::from_nanos(123_456_789)))
        );
        assert_eq!(read_stamp(&payload[..15]), None);
    }

    #[test]
    fn schedule_counts_whole_window() {
        let s = Duration::from_secs;
        assert_eq!(scheduled_between(s(1), s(3), 10_000), 20_000);
        assert_eq!(scheduled_between(s(0), s(1), 3), 3);
        assert_eq!(scheduled_between(Duration::from_millis(500), s(1), 3), 1);
    }
}
