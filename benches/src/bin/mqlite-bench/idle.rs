//! The `idle` scenario: opens `--conns` connections from `--connectors` threads (CONNECT,
//! then wait for CONNACK), holds them for `--duration` (sending PINGREQ every half keep alive
//! if `--keepalive` is set), checks each is still alive with one PINGREQ / PINGRESP round,
//! and reports connect times and, with `--broker-pid`, the broker's RSS per connection.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use mqlite_net::codec::Packet;

use crate::client::{Conn, Target};
use crate::options::Options;
use crate::report::Report;
use crate::rss::RssSampler;
use crate::stats::{Distribution, micros, per_sec};
use crate::workers;

/// Runs the idle scenario.
///
/// # Errors
///
/// A connection fails or is refused.
pub(crate) fn run(o: &Options, target: &Target) -> Result<Report> {
    let rss = o.broker_pid.map(RssSampler::start).transpose()?;
    let start = Instant::now();
    let (mut conns, times) = connect_all(o, target)?;
    let connect_elapsed = start.elapsed();

    let hold_until = Instant::now() + o.duration;
    let ping_every = Duration::from_secs(u64::from(o.keep_alive)) / 2;
    let mut lost = None;
    loop {
        let left = hold_until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        if ping_every.is_zero() {
            std::thread::sleep(left);
            continue;
        }
        std::thread::sleep(left.min(ping_every));
        if let (_, Some(e)) = ping_all(&mut conns, o.timeout) {
            lost.get_or_insert(e);
        }
    }
    let (alive, error) = ping_all(&mut conns, o.timeout);
    if let Some(e) = lost.or(error) {
        eprintln!(
            "mqlite-bench idle: {} of {} connections lost; first: {e:#}",
            conns.len() - alive,
            conns.len()
        );
    }
    let rss = rss.map(RssSampler::finish).transpose()?;
    for conn in conns {
        conn.disconnect();
    }

    let dist = Distribution::new(times);
    let mut r = Report::new(o);
    r.count("connected", dist.len() as u64);
    r.figure("connect_total_ms", connect_elapsed.as_secs_f64() * 1e3);
    r.figure(
        "connects_per_sec",
        per_sec(dist.len() as u64, connect_elapsed),
    );
    for (name, d) in [
        ("connect_mean_us", dist.mean()),
        ("connect_p50_us", dist.percentile(0.5)),
        ("connect_p99_us", dist.percentile(0.99)),
        ("connect_max_us", dist.percentile(1.0)),
    ] {
        if let Some(d) = d {
            r.figure(name, micros(d));
        }
    }
    r.count("alive_after_hold", alive as u64);
    if let Some(rss) = rss {
        let grown = rss.after_kib.saturating_sub(rss.before_kib);
        r.rss(Some(rss));
        r.figure("rss_per_conn_kib", grown as f64 / o.conns as f64);
    }
    Ok(r)
}

/// Opens every connection; connector `k` opens connections `k`, `k + K`, … Returns them and
/// each one's connect time (TCP connect to CONNACK).
fn connect_all(o: &Options, target: &Target) -> Result<(Vec<Conn>, Vec<Duration>)> {
    let pid = std::process::id();
    let (n, k) = (o.conns, o.connectors.min(o.conns));
    let mut connectors = Vec::with_capacity(k);
    for c in 0..k {
        let target = target.clone();
        connectors.push(workers::spawn(format!("connector {c}"), move || {
            let mut conns = Vec::with_capacity(n / k + 1);
            let mut times = Vec::with_capacity(n / k + 1);
            for i in (c..n).step_by(k) {
                let t = Instant::now();
                let conn = Conn::connect(&target, &format!("mb{pid}-i{i}"))
                    .with_context(|| format!("connection {i} of {n}"))?;
                times.push(t.elapsed());
                conns.push(conn);
            }
            Ok((conns, times))
        })?);
    }
    // Each connect is bounded by the timeout, so this only catches a wedged connector.
    let per_connector = u32::try_from(n / k + 1).unwrap_or(u32::MAX);
    let deadline = Instant::now() + o.timeout.saturating_mul(per_connector);
    let mut all = (Vec::with_capacity(n), Vec::with_capacity(n));
    for (conns, times) in workers::join_all(connectors, deadline)? {
        all.0.extend(conns);
        all.1.extend(times);
    }
    Ok(all)
}

/// Sends PINGREQ on every connection, then waits for each PINGRESP (all within `timeout`).
/// Returns how many answered and the first failure.
fn ping_all(conns: &mut [Conn], timeout: Duration) -> (usize, Option<anyhow::Error>) {
    let never = AtomicBool::new(false);
    let mut sent = vec![false; conns.len()];
    let mut first_error = None;
    for (conn, sent) in conns.iter_mut().zip(&mut sent) {
        match conn
            .queue(&Packet::PingReq)
            .and_then(|()| conn.flush(&never))
        {
            Ok(_) => *sent = true,
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let deadline = Instant::now() + timeout;
    let mut alive = 0;
    for (conn, _) in conns.iter_mut().zip(&sent).filter(|(_, sent)| **sent) {
        match conn.recv_until(deadline, "PINGRESP") {
            Ok(Packet::PingResp) => alive += 1,
            Ok(other) => {
                first_error.get_or_insert(anyhow::anyhow!(
                    "expected PINGRESP, got {:?}",
                    other.packet_type()
                ));
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    (alive, first_error)
}
