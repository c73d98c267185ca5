//! The `slow` scenario: a subscriber that stops reading while publishers go on. Two
//! subscribers share one topic: the fast one reads and acknowledges everything; the slow one
//! subscribes and then never reads again, so its socket buffers fill and the broker must
//! queue, drop or disconnect. `--pubs` publishers, each paced at `--rate` messages per second
//! (the same load for every broker, whatever it does with the backlog), run for `--warmup`
//! plus `--duration`.
//!
//! With `--broker-pid`, the broker's RSS is sampled every 50 ms. A broker that bounds what it
//! keeps for a stuck subscriber levels off once that bound is reached; one that does not grows
//! for the whole run. The report gives the RSS when publishing starts, at the middle of the
//! run and at its end, the peak, the growth over the second half, and one value per second.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use mqlite_net::codec::PublishTopic;

use crate::client::{Conn, Target};
use crate::options::Options;
use crate::publisher::{self, PubPlan};
use crate::report::Report;
use crate::rss::{RssSample, RssSampler, RssSummary};
use crate::stats::per_sec;
use crate::subscriber;
use crate::throughput::{self, prefix};
use crate::workers::{self, StopOnDrop, Worker};

/// Spacing of the reported RSS series.
const SERIES_STEP: Duration = Duration::from_secs(1);

/// Runs the slow-subscriber scenario.
///
/// # Errors
///
/// A connection or subscription fails, or a publisher or the fast subscriber fails or stops
/// early. The broker closing the slow subscriber is a result, not an error.
pub(crate) fn run(o: &Options, target: &Target) -> Result<Report> {
    let rss = o.broker_pid.map(RssSampler::start).transpose()?;
    let topic = format!("{}/slow", prefix());
    let pid = std::process::id();
    let mut fast = Conn::connect(target, &format!("mb{pid}-fast")).context("fast subscriber")?;
    fast.subscribe(&topic, o.qos, o.timeout)
        .context("fast subscriber: subscribing")?;
    // Held, never read again until the end: this is the stuck consumer.
    let mut slow = Conn::connect(target, &format!("mb{pid}-slow")).context("slow subscriber")?;
    slow.subscribe(&topic, o.qos, o.timeout)
        .context("slow subscriber: subscribing")?;
    let mut pub_conns = Vec::with_capacity(o.pubs);
    for i in 0..o.pubs {
        let conn = Conn::connect(target, &format!("mb{pid}-sp{i}"))
            .with_context(|| format!("publisher {i}"))?;
        pub_conns.push(conn);
    }

    let sub_stop = Arc::new(AtomicBool::new(false));
    let pub_stop = Arc::new(AtomicBool::new(false));
    let _guard = StopOnDrop(vec![Arc::clone(&sub_stop), Arc::clone(&pub_stop)]);
    let delivered = Arc::new(AtomicU64::new(0));
    let published: Vec<Arc<AtomicU64>> = (0..o.pubs).map(|_| Arc::default()).collect();
    let start = Instant::now();
    let subs = vec![spawn_fast(fast, &sub_stop, &delivered)?];
    let pubs = spawn_publishers(o, &topic, pub_conns, &pub_stop, &published, start)?;

    let ended = || workers::any_ended(&subs) || workers::any_ended(&pubs);
    let mut window = None;
    if workers::sleep_unless(o.warmup, ended) {
        let (t, p, d) = (
            Instant::now(),
            sum(&published),
            delivered.load(Ordering::Relaxed),
        );
        if workers::sleep_unless(o.duration, ended) {
            let elapsed = t.elapsed();
            let (p2, d2) = (sum(&published), delivered.load(Ordering::Relaxed));
            window = Some((elapsed, p2 - p, d2 - d));
        }
    }
    let end = Instant::now();
    // Relaxed: workers poll the flags between bounded waits; join_all synchronises.
    pub_stop.store(true, Ordering::Relaxed);
    let pub_conns = workers::join_all(pubs, Instant::now() + o.timeout + Duration::from_secs(1))?;
    let published_total = sum(&published);
    throughput::drain(std::slice::from_ref(&delivered), published_total, o.timeout);
    sub_stop.store(true, Ordering::Relaxed);
    let fast = workers::join_all(subs, Instant::now() + Duration::from_secs(2))?;
    let Some((elapsed, published_in, delivered_in)) = window else {
        bail!("a worker stopped before the end of the run");
    };
    let rss = rss.map(RssSampler::finish_with_samples).transpose()?;
    // A read now tells whether the broker closed the stuck subscriber meanwhile.
    let slow_closed = slow.try_fill().is_err();
    for conn in pub_conns.into_iter().chain(fast).chain([slow]) {
        conn.disconnect();
    }

    let mut r = Report::new(o);
    r.figure("published_msgs_per_sec", per_sec(published_in, elapsed));
    r.figure("fast_sub_msgs_per_sec", per_sec(delivered_in, elapsed));
    r.count("published_total", published_total);
    let delivered_total = delivered.load(Ordering::Relaxed);
    r.count("fast_sub_delivered_total", delivered_total);
    if published_total > 0 {
        let pct = 100.0 * delivered_total as f64 / published_total as f64;
        r.figure("fast_sub_delivered_pct", pct);
    }
    r.count("slow_sub_closed_by_broker", u64::from(slow_closed));
    if let Some((summary, samples)) = rss {
        rss_figures(&mut r, summary, &samples, start, end);
    }
    Ok(r)
}

/// The RSS figures of a run that published from `start` to `end`.
fn rss_figures(r: &mut Report, s: RssSummary, samples: &[RssSample], start: Instant, end: Instant) {
    let mid = start + (end - start) / 2;
    let [at_start, at_mid, at_end] = [start, mid, end].map(|t| kib_at(samples, t));
    let peak = samples
        .iter()
        .filter(|x| x.at >= start && x.at <= end)
        .map(|x| x.kib)
        .max()
        .unwrap_or(at_end);
    r.count("rss_before_kib", s.before_kib);
    r.count("rss_start_kib", at_start);
    r.count("rss_mid_kib", at_mid);
    r.count("rss_end_kib", at_end);
    r.count("rss_peak_kib", peak.max(at_start).max(at_end));
    r.figure("rss_growth_second_half_kib", at_end as f64 - at_mid as f64);
    r.series("rss_series_kib", series(samples, start, end, SERIES_STEP));
}

/// The last sample at or before `t`, or the first one if all are later.
fn kib_at(samples: &[RssSample], t: Instant) -> u64 {
    let i = samples.partition_point(|s| s.at <= t);
    samples.get(i.saturating_sub(1)).map_or(0, |s| s.kib)
}

/// One value per `step` from `start` to `end`, both included.
fn series(samples: &[RssSample], start: Instant, end: Instant, step: Duration) -> Vec<u64> {
    let mut out = Vec::new();
    let mut t = start;
    while t < end {
        out.push(kib_at(samples, t));
        t += step;
    }
    out.push(kib_at(samples, end));
    out
}

fn spawn_fast(
    mut conn: Conn,
    stop: &Arc<AtomicBool>,
    delivered: &Arc<AtomicU64>,
) -> Result<Worker<Conn>> {
    let (stop, delivered) = (Arc::clone(stop), Arc::clone(delivered));
    workers::spawn("fast subscriber".to_owned(), move || {
        subscriber::run(&mut conn, &stop, &delivered, |_| {})?;
        Ok(conn)
    })
}

fn spawn_publishers(
    o: &Options,
    topic: &str,
    conns: Vec<Conn>,
    stop: &Arc<AtomicBool>,
    published: &[Arc<AtomicU64>],
    epoch: Instant,
) -> Result<Vec<Worker<Conn>>> {
    let payload = Bytes::from(vec![b'x'; o.size_bytes]);
    let mut pubs = Vec::with_capacity(conns.len());
    for (i, (mut conn, counter)) in conns.into_iter().zip(published).enumerate() {
        let plan = PubPlan {
            topic: PublishTopic::new(topic)?,
            qos: o.qos,
            inflight: o.inflight,
            rate: Some(o.rate),
            precise: false,
            epoch,
            drain: o.timeout,
            backlog: None,
        };
        let (stop, counter, payload) = (Arc::clone(stop), Arc::clone(counter), payload.clone());
        pubs.push(workers::spawn(format!("publisher {i}"), move || {
            publisher::run(&mut conn, &plan, &stop, &counter, |_, _| payload.clone())?;
            Ok(conn)
        })?);
    }
    Ok(pubs)
}

fn sum(counters: &[Arc<AtomicU64>]) -> u64 {
    counters.iter().map(|c| c.load(Ordering::Relaxed)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(t0: Instant, kib: &[u64]) -> Vec<RssSample> {
        kib.iter()
            .enumerate()
            .map(|(i, &kib)| RssSample {
                at: t0 + Duration::from_millis(500 * i as u64),
                kib,
            })
            .collect()
    }

    #[test]
    fn value_at_a_time_is_the_last_sample_before_it() {
        let t0 = Instant::now();
        let s = samples(t0, &[10, 20, 30, 40]);
        assert_eq!(kib_at(&s, t0), 10);
        assert_eq!(kib_at(&s, t0 + Duration::from_millis(999)), 20);
        assert_eq!(kib_at(&s, t0 + Duration::from_secs(9)), 40);
        assert_eq!(kib_at(&[], t0), 0);
    }

    #[test]
    fn series_has_one_value_per_step_and_the_end() {
        let t0 = Instant::now();
        let s = samples(t0, &[10, 20, 30, 40, 50]);
        let end = t0 + Duration::from_millis(1_900);
        assert_eq!(series(&s, t0, end, Duration::from_secs(1)), [10, 30, 40]);
    }
}
