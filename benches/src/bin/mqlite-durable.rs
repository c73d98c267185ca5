//! The figures of durable mode (docs/durability.md, benches/RESULTS.md), in process:
//!
//! - `publish`: QoS 1, 64 B, publishers → one persistent subscriber that acknowledges, in
//!   memory and under each sync policy, with 1, 8 and 64 publisher threads (group commit);
//! - `recovery`: a store with `--queued` messages queued for an offline session and
//!   `--retained` retained messages is closed, then opened and the broker rebuilt from it;
//! - `growth`: `--messages` messages through a persistent session with a short queue; the
//!   store's size on disk, sampled, and at the end;
//! - `rss`: the process's resident memory with 1 GiB queued for an offline session.
//!
//! ```text
//! cargo run --release -p mqlite-benches --bin mqlite-durable -- publish recovery growth
//! ```
//! The store lives in `--dir` (default: a directory under the system's temp dir, on the disk
//! the figures are about), removed at the end.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use mqlite::{Broker, ConnectOptions, QoS};
use mqlite_store::{Persistence, SyncPolicy};

const HOUR: Duration = Duration::from_secs(3600);

#[derive(Debug)]
struct Args {
    scenarios: Vec<String>,
    dir: PathBuf,
    seconds: f64,
    queued: u64,
    retained: u64,
    messages: u64,
    payload: u64,
}

fn parse() -> anyhow::Result<Args> {
    let mut a = Args {
        scenarios: Vec::new(),
        dir: std::env::temp_dir().join(format!("mqlite-durable-{}", std::process::id())),
        seconds: 3.0,
        queued: 1_000_000,
        retained: 100_000,
        messages: 10_000_000,
        payload: 16 * 1024,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--dir" => a.dir = PathBuf::from(value()?),
            "--seconds" => a.seconds = value()?.parse()?,
            "--queued" => a.queued = value()?.parse()?,
            "--retained" => a.retained = value()?.parse()?,
            "--messages" => a.messages = value()?.parse()?,
            "--payload" => a.payload = value()?.parse()?,
            s if !s.starts_with('-') => a.scenarios.push(s.to_owned()),
            other => bail!("unknown argument {other}"),
        }
    }
    if a.scenarios.is_empty() {
        a.scenarios = vec!["publish".into(), "recovery".into(), "growth".into()];
    }
    Ok(a)
}

fn broker(dir: Option<&Path>, sync: SyncPolicy) -> Broker {
    let builder = Broker::builder().config(big_config());
    match dir {
        Some(dir) => {
            let _ = std::fs::remove_dir_all(dir);
            builder.store(Persistence::open(dir, sync).unwrap()).build()
        }
        None => builder.build(),
    }
}

/// Bounds large enough for the recovery scenario's queue and retained set.
fn big_config() -> mqlite::Config {
    let mut config = mqlite::Config::default();
    config.max_queued_messages = 4_000_000;
    config.max_queued_bytes = 4 << 30;
    config.max_retained_messages = 1_000_000;
    config.max_retained_bytes = 1 << 30;
    config
}

fn persistent(id: &str) -> ConnectOptions {
    ConnectOptions::new(id)
        .clean_start(false)
        .session_expiry(HOUR)
}

/// msgs/s of QoS 1 publishes by `publishers` threads to one acknowledging subscriber.
fn publish_rate(broker: &Broker, publishers: usize, seconds: f64) -> f64 {
    let sub = broker.connect(persistent("sub")).unwrap();
    sub.subscribe("t/#", QoS::AtLeastOnce).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let consumer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if let Ok(m) = sub.recv_timeout(Duration::from_millis(50)) {
                    m.ack();
                    n += 1;
                }
            }
            n
        })
    };
    let payload = Bytes::from(vec![0x5a; 64]);
    let started = Instant::now();
    let threads: Vec<_> = (0..publishers)
        .map(|i| {
            let c = broker
                .connect(ConnectOptions::new(format!("pub{i}")))
                .unwrap();
            let (stop, payload) = (stop.clone(), payload.clone());
            std::thread::spawn(move || {
                let topic = format!("t/{i}");
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    c.publish(topic.as_str(), payload.clone(), QoS::AtLeastOnce, false)
                        .unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    let published: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let elapsed = started.elapsed().as_secs_f64();
    consumer.join().unwrap();
    published as f64 / elapsed
}

fn publish(args: &Args) {
    println!("## publish: QoS 1, 64 B, N publishers -> 1 persistent subscriber (msgs/s)\n");
    println!("| mode | 1 publisher | 8 publishers | 64 publishers | fsyncs/s at 64 |");
    println!("|---|---:|---:|---:|---:|");
    let modes: [(&str, Option<SyncPolicy>); 4] = [
        ("memory", None),
        ("none", Some(SyncPolicy::None)),
        (
            "periodic 1 s",
            Some(SyncPolicy::Periodic(Duration::from_secs(1))),
        ),
        ("commit", Some(SyncPolicy::Commit)),
    ];
    for (name, sync) in modes {
        let mut row = format!("| {name} |");
        let mut fsyncs = 0.0;
        for publishers in [1, 8, 64] {
            let dir = sync.map(|_| args.dir.as_path());
            let b = broker(dir, sync.unwrap_or(SyncPolicy::None));
            let before = b.store_stats().map_or(0, |s| s.fsyncs);
            let started = Instant::now();
            let rate = publish_rate(&b, publishers, args.seconds);
            let after = b.store_stats().map_or(0, |s| s.fsyncs);
            fsyncs = (after - before) as f64 / started.elapsed().as_secs_f64();
            row.push_str(&format!(" {rate:.0} |"));
            b.shutdown();
        }
        println!("{row} {fsyncs:.0} |");
    }
    println!();
}

fn recovery(args: &Args) {
    println!(
        "## recovery: {} queued (64 B) + {} retained, open + rebuild\n",
        args.queued, args.retained
    );
    {
        let b = broker(Some(&args.dir), SyncPolicy::None);
        let sub = b.connect(persistent("sub")).unwrap();
        sub.subscribe("q", QoS::AtLeastOnce).unwrap();
        sub.disconnect();
        let p = b.connect(ConnectOptions::new("pub")).unwrap();
        let payload = Bytes::from(vec![0x5a; 64]);
        let started = Instant::now();
        for i in 0..args.retained {
            p.publish(
                format!("r/{i}").as_str(),
                payload.clone(),
                QoS::AtMostOnce,
                true,
            )
            .unwrap();
        }
        for _ in 0..args.queued {
            p.publish("q", payload.clone(), QoS::AtLeastOnce, false)
                .unwrap();
        }
        b.sync().unwrap();
        let s = b.store_stats().unwrap();
        println!(
            "built in {:.1} s: {} live records, {:.1} MiB on disk",
            started.elapsed().as_secs_f64(),
            s.live_records,
            s.bytes_on_disk as f64 / 1048576.0
        );
        let queued = b.session_stats("sub").map_or(0, |s| s.queued);
        println!("queued for the offline session: {queued}");
    }
    let started = Instant::now();
    let store = Persistence::open(&args.dir, SyncPolicy::Commit).unwrap();
    let opened = started.elapsed();
    let b = Broker::builder().config(big_config()).store(store).build();
    let total = started.elapsed();
    let queued = b.session_stats("sub").map_or(0, |s| s.queued);
    let s = b.store_stats().unwrap();
    println!(
        "open {:.2} s, open + rebuild {:.2} s: {} records, {} queued, {} retained\n",
        opened.as_secs_f64(),
        total.as_secs_f64(),
        s.records_recovered,
        queued,
        b.stats().retained_messages
    );
}

fn growth(args: &Args) {
    println!(
        "## growth: {} messages (64 B, QoS 1) through a persistent session, 10 in flight\n",
        args.messages
    );
    let b = broker(
        Some(&args.dir),
        SyncPolicy::Periodic(Duration::from_secs(1)),
    );
    let sub = b.connect(persistent("sub")).unwrap();
    sub.subscribe("g", QoS::AtLeastOnce).unwrap();
    let p = b.connect(ConnectOptions::new("pub")).unwrap();
    let payload = Bytes::from(vec![0x5a; 64]);
    let started = Instant::now();
    let mut max_bytes = 0;
    let mut inflight = std::collections::VecDeque::new();
    for i in 0..args.messages {
        p.publish("g", payload.clone(), QoS::AtLeastOnce, false)
            .unwrap();
        inflight.push_back(sub.recv_timeout(Duration::from_secs(5)).unwrap());
        if inflight.len() > 10 {
            inflight.pop_front().unwrap().ack();
        }
        if i % 100_000 == 0 {
            max_bytes = max_bytes.max(b.store_stats().unwrap().bytes_on_disk);
        }
    }
    let s = b.store_stats().unwrap();
    println!(
        "{:.0} msgs/s; on disk at the end {:.1} MiB, largest sampled {:.1} MiB; {} records ({:.0} MiB) written\n",
        args.messages as f64 / started.elapsed().as_secs_f64(),
        s.bytes_on_disk as f64 / 1048576.0,
        max_bytes.max(s.bytes_on_disk) as f64 / 1048576.0,
        s.records_written,
        s.bytes_written as f64 / 1048576.0
    );
}

/// Resident set size of this process, from `/proc/self/statm` (Linux), in bytes.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn rss(args: &Args) {
    let total: u64 = 1 << 30;
    let payload_bytes = args.payload.max(1);
    println!(
        "## rss: 1 GiB queued ({} B payloads) for an offline session\n",
        payload_bytes
    );
    let b = broker(Some(&args.dir), SyncPolicy::None);
    let sub = b.connect(persistent("sub")).unwrap();
    sub.subscribe("q", QoS::AtLeastOnce).unwrap();
    sub.disconnect();
    let p = b.connect(ConnectOptions::new("pub")).unwrap();
    let idle = rss_bytes();
    for i in 0..total / payload_bytes {
        // A payload of its own per message, as from the network.
        let payload = Bytes::from(vec![(i % 251) as u8; payload_bytes as usize]);
        p.publish("q", payload, QoS::AtLeastOnce, false).unwrap();
    }
    b.sync().unwrap();
    let queued = b.session_stats("sub").map_or(0, |s| s.queued);
    let after = rss_bytes();
    println!(
        "queued {queued} messages; RSS idle {:.1} MiB, with the queue {:.1} MiB (+{:.1} MiB)\n",
        idle as f64 / 1048576.0,
        after as f64 / 1048576.0,
        (after.saturating_sub(idle)) as f64 / 1048576.0
    );
}

fn main() -> anyhow::Result<()> {
    let args = parse()?;
    for s in &args.scenarios {
        match s.as_str() {
            "publish" => publish(&args),
            "recovery" => recovery(&args),
            "growth" => growth(&args),
            "rss" => rss(&args),
            other => bail!("unknown scenario {other} (publish, recovery, growth, rss)"),
        }
    }
    let _ = std::fs::remove_dir_all(&args.dir);
    Ok(())
}
