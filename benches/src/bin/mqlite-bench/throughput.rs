//! The throughput scenarios: `throughput`, and its presets `fanout` (1 → N on one topic) and
//! `fanin` (N → 1 through a wildcard).
//!
//! Topic model: publisher `i` publishes to `<prefix>/<i mod T>`; subscriber `j` subscribes
//! to `<prefix>/<j mod T>`, or with `--fanout` to `<prefix>/+` and so gets every message.
//! `<prefix>` is `mqlite-bench/<pid>`, so concurrent runs do not see each other's messages.
//! Subscribers are subscribed before any publisher starts; after the warm-up, published
//! and delivered messages are counted over `--duration`; then publishers stop, subscribers
//! drain what is still on its way, and the totals are compared with what was expected.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use mqlite_net::codec::PublishTopic;

use crate::backlog::{Backlog, Share};
use crate::client::{Conn, Session, Target};
use crate::options::Options;
use crate::report::Report;
use crate::rss::{RssSampler, RssSummary};
use crate::stats::per_sec;
use crate::workers::{self, StopOnDrop, Worker};
use crate::{publisher, subscriber};

/// Drain ends once deliveries make no progress for this long.
const DRAIN_IDLE: Duration = Duration::from_secs(2);

/// The topic prefix of this process's runs.
pub(crate) fn prefix() -> String {
    format!("mqlite-bench/{}", std::process::id())
}

/// Runs a throughput scenario.
///
/// # Errors
///
/// A connection or subscription fails, or a worker fails or stops early.
pub(crate) fn run(o: &Options, target: &Target) -> Result<Report> {
    let rss = o.broker_pid.map(RssSampler::start).transpose()?;
    let prefix = prefix();
    let sub_ids = subscriber_ids(o);
    let (sub_conns, pub_conns) = connect(o, target, &prefix, &sub_ids)?;
    let sub_stop = Arc::new(AtomicBool::new(false));
    let pub_stop = Arc::new(AtomicBool::new(false));
    let _guard = StopOnDrop(vec![Arc::clone(&sub_stop), Arc::clone(&pub_stop)]);
    let delivered: Vec<Arc<AtomicU64>> = (0..o.subs).map(|_| Arc::default()).collect();
    let published: Vec<Arc<AtomicU64>> = (0..o.pubs).map(|_| Arc::default()).collect();
    let backlog =
        (o.max_backlog > 0).then(|| Arc::new(Backlog::new(o.max_backlog, delivered.clone())));
    let subs = spawn_subscribers(sub_conns, &sub_stop, &delivered)?;
    let pubs = spawn_publishers(
        o,
        &prefix,
        pub_conns,
        &pub_stop,
        &published,
        backlog.as_ref(),
    )?;

    let ended = || workers::any_ended(&subs) || workers::any_ended(&pubs);
    let mut window = None;
    if workers::sleep_unless(o.warmup, ended) {
        let (start, published_before) = (Instant::now(), total(&published));
        let delivered_before = snapshot(&delivered);
        if workers::sleep_unless(o.duration, ended) {
            let after = snapshot(&delivered);
            window = Some(Window {
                elapsed: start.elapsed(),
                published: total(&published) - published_before,
                per_sub: after
                    .iter()
                    .zip(&delivered_before)
                    .map(|(a, b)| a - b)
                    .collect(),
            });
        }
    }

    // Relaxed: workers poll the flags between bounded waits; join_all synchronises.
    pub_stop.store(true, Ordering::Relaxed);
    let pub_conns = workers::join_all(pubs, Instant::now() + o.timeout + Duration::from_secs(1))?;
    let per_pub = snapshot(&published);
    let expected = expected_deliveries(&per_pub, o.subs, o.topics, o.fanout);
    drain(&delivered, expected, o.timeout);
    sub_stop.store(true, Ordering::Relaxed);
    let sub_conns = workers::join_all(subs, Instant::now() + Duration::from_secs(2))?;
    let Some(window) = window else {
        bail!("a worker stopped before the end of the run");
    };
    let rss = rss.map(RssSampler::finish).transpose()?;
    for conn in pub_conns.into_iter().chain(sub_conns) {
        conn.disconnect();
    }
    if o.persistent_subscriber {
        for id in &sub_ids {
            Conn::remove_session(target, id)
                .with_context(|| format!("removing the session of `{id}`"))?;
        }
    }
    let totals = [per_pub.iter().sum(), expected, total(&delivered)];
    Ok(report(o, &window, totals, rss))
}

/// What was counted in the measured window.
#[derive(Debug)]
struct Window {
    elapsed: Duration,
    published: u64,
    per_sub: Vec<u64>,
}

/// The subscribers' client ids. Persistent ones carry a tag of the run's start time too
/// (the low 32 bits of the Unix time in µs; 23 characters at most, 3.1's limit), so a run
/// never resumes a session an earlier process with the same pid left behind.
fn subscriber_ids(o: &Options) -> Vec<String> {
    let pid = std::process::id();
    let tag = match o.persistent_subscriber {
        false => String::new(),
        true => {
            let micros = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros());
            format!("-{:08x}", micros & 0xffff_ffff)
        }
    };
    (0..o.subs).map(|j| format!("mb{pid}{tag}-s{j}")).collect()
}

/// Connects and subscribes every subscriber (as `sub_ids`), then connects every publisher.
fn connect(
    o: &Options,
    target: &Target,
    prefix: &str,
    sub_ids: &[String],
) -> Result<(Vec<Conn>, Vec<Conn>)> {
    let pid = std::process::id();
    let session = match o.persistent_subscriber {
        true => Session::Persistent,
        false => Session::Clean,
    };
    let mut subs = Vec::with_capacity(o.subs);
    for (j, id) in sub_ids.iter().enumerate() {
        let filter = match o.fanout {
            true => format!("{prefix}/+"),
            false => format!("{prefix}/{}", j % o.topics),
        };
        let mut conn =
            Conn::connect_with(target, id, session).with_context(|| format!("subscriber {j}"))?;
        conn.subscribe(&filter, o.qos, o.timeout)
            .with_context(|| format!("subscriber {j}: subscribing to `{filter}`"))?;
        subs.push(conn);
    }
    let mut pubs = Vec::with_capacity(o.pubs);
    for i in 0..o.pubs {
        let conn = Conn::connect(target, &format!("mb{pid}-p{i}"))
            .with_context(|| format!("publisher {i}"))?;
        pubs.push(conn);
    }
    Ok((subs, pubs))
}

/// The throughput report; `totals` are published, expected and delivered over the run.
fn report(o: &Options, w: &Window, totals: [u64; 3], rss: Option<RssSummary>) -> Report {
    let delivered: u64 = w.per_sub.iter().sum();
    let mut r = Report::new(o);
    r.figure("published_msgs_per_sec", per_sec(w.published, w.elapsed));
    r.figure("delivered_msgs_per_sec", per_sec(delivered, w.elapsed));
    let payload_bytes = delivered * o.size_bytes as u64;
    r.figure(
        "delivered_mib_per_sec",
        per_sec(payload_bytes, w.elapsed) / 1_048_576.0,
    );
    if let Some(&slowest) = w.per_sub.iter().min() {
        r.figure("slowest_sub_msgs_per_sec", per_sec(slowest, w.elapsed));
    }
    let [published, expected, delivered] = totals;
    r.count("published_total", published);
    r.count("expected_total", expected);
    r.count("delivered_total", delivered);
    if expected > 0 {
        r.figure("delivered_pct", 100.0 * delivered as f64 / expected as f64);
    }
    r.rss(rss);
    r
}

fn spawn_subscribers(
    conns: Vec<Conn>,
    stop: &Arc<AtomicBool>,
    delivered: &[Arc<AtomicU64>],
) -> Result<Vec<Worker<Conn>>> {
    let mut subs = Vec::with_capacity(conns.len());
    for (j, (mut conn, counter)) in conns.into_iter().zip(delivered).enumerate() {
        let (stop, counter) = (Arc::clone(stop), Arc::clone(counter));
        subs.push(workers::spawn(format!("subscriber {j}"), move || {
            subscriber::run(&mut conn, &stop, &counter, |_| {})?;
            Ok(conn)
        })?);
    }
    Ok(subs)
}

fn spawn_publishers(
    o: &Options,
    prefix: &str,
    conns: Vec<Conn>,
    stop: &Arc<AtomicBool>,
    published: &[Arc<AtomicU64>],
    backlog: Option<&Arc<Backlog>>,
) -> Result<Vec<Worker<Conn>>> {
    let payload = Bytes::from(vec![b'x'; o.size_bytes]);
    let epoch = Instant::now();
    let mut pubs = Vec::with_capacity(conns.len());
    for (i, (mut conn, counter)) in conns.into_iter().zip(published).enumerate() {
        let plan = publisher::PubPlan {
            topic: PublishTopic::new(&format!("{prefix}/{}", i % o.topics))?,
            qos: o.qos,
            inflight: o.inflight,
            rate: None,
            precise: false,
            epoch,
            drain: o.timeout,
            backlog: backlog
                .map(|b| Share::new(b, subscribers_of(i % o.topics, o.subs, o.topics, o.fanout))),
        };
        let (stop, counter, payload) = (Arc::clone(stop), Arc::clone(counter), payload.clone());
        pubs.push(workers::spawn(format!("publisher {i}"), move || {
            publisher::run(&mut conn, &plan, &stop, &counter, |_, _| payload.clone())?;
            Ok(conn)
        })?);
    }
    Ok(pubs)
}

/// Waits until `expected` messages are delivered, deliveries stall for [`DRAIN_IDLE`], or
/// `timeout` passes (QoS 0 messages a broker dropped never arrive).
pub(crate) fn drain(delivered: &[Arc<AtomicU64>], expected: u64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let (mut last, mut since) = (total(delivered), Instant::now());
    while last < expected && Instant::now() < deadline && since.elapsed() < DRAIN_IDLE {
        thread::sleep(Duration::from_millis(10));
        let now = total(delivered);
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
}

/// Deliveries `per_pub` published messages should make: with `fanout` every subscriber gets
/// every message; otherwise topic `t` has the subscribers `j` with `j mod topics = t`.
pub(crate) fn expected_deliveries(
    per_pub: &[u64],
    subs: usize,
    topics: usize,
    fanout: bool,
) -> u64 {
    let topics = topics.max(1);
    per_pub
        .iter()
        .enumerate()
        .map(|(i, &n)| n * subscribers_of(i % topics, subs, topics, fanout))
        .sum()
}

/// The subscribers that get a message on topic `t`: all of them with `fanout`, otherwise
/// those `j` with `j mod topics = t`.
fn subscribers_of(t: usize, subs: usize, topics: usize, fanout: bool) -> u64 {
    let topics = topics.max(1);
    let n = match fanout {
        true => subs,
        false => subs / topics + usize::from(t < subs % topics),
    };
    n as u64
}

fn total(counters: &[Arc<AtomicU64>]) -> u64 {
    counters.iter().map(|c| c.load(Ordering::Relaxed)).sum()
}

fn snapshot(counters: &[Arc<AtomicU64>]) -> Vec<u64> {
    counters.iter().map(|c| c.load(Ordering::Relaxed)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_fanout_and_fanin_expectations() {
        // 1:1 pairs: each message reaches the one subscriber of its topic.
        assert_eq!(expected_deliveries(&[10, 20, 30], 3, 3, false), 60);
        // 1 → 4 on one topic.
        assert_eq!(expected_deliveries(&[10], 4, 1, false), 40);
        // 3 → 1 through the wildcard.
        assert_eq!(expected_deliveries(&[10, 20, 30], 1, 3, true), 60);
        // 5 subscribers over 2 topics: topic 0 has 3, topic 1 has 2.
        assert_eq!(expected_deliveries(&[1, 1], 5, 2, false), 5);
        // More topics than subscribers: topic 2 has none.
        assert_eq!(expected_deliveries(&[1, 1, 1], 2, 3, false), 2);
    }
}
