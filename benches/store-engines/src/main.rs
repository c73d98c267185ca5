//! mqlite-store-engines: measures candidate storage engines for mqlite's durable mode on mqlite's
//! workload (see README.md and docs/durability.md). Progress goes to stderr, the result tables
//! (Markdown, medians of `--reps` runs) to stdout.

mod engines;
mod fsync;
mod stats;
mod workload;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use engines::{Kind, Table};
use stats::{dir_bytes, evict, load1, loadavg, median, mib};

const USAGE: &str = "usage: mqlite-store-engines [--dir DIR] [--reps N] [--cap-secs S] \
    [--engines a,b,..] [--queue-messages N] [--growth-messages N] [--recovery-messages N] \
    [fsync|queue|growth|upsert|recovery ...]
engines: sqlite-wal-full, sqlite-wal-normal, redb, minimal-log, mqlite-store (with the feature)";

struct Args {
    dir: PathBuf,
    reps: usize,
    cap: Duration,
    engines: Vec<Kind>,
    queue_messages: u64,
    growth_messages: u64,
    recovery_messages: u64,
    sections: Vec<String>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        dir: PathBuf::from("/work/tmp-store-bench"),
        reps: 3,
        cap: Duration::from_secs(10),
        engines: Kind::ALL.to_vec(),
        queue_messages: 200_000,
        growth_messages: 2_000_000,
        recovery_messages: 1_000_000,
        sections: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--dir" => args.dir = value()?.into(),
            "--reps" => args.reps = value()?.parse()?,
            "--cap-secs" => args.cap = Duration::from_secs_f64(value()?.parse()?),
            "--queue-messages" => args.queue_messages = value()?.parse()?,
            "--growth-messages" => args.growth_messages = value()?.parse()?,
            "--recovery-messages" => args.recovery_messages = value()?.parse()?,
            "--engines" => {
                args.engines = value()?
                    .split(',')
                    .map(|name| Kind::parse(name).with_context(|| format!("unknown engine {name}")))
                    .collect::<Result<_>>()?;
            }
            "-h" | "--help" => {
                eprintln!("{USAGE}");
                std::process::exit(0);
            }
            section @ ("fsync" | "queue" | "growth" | "upsert" | "recovery") => {
                args.sections.push(section.to_owned());
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    if args.sections.is_empty() {
        args.sections = ["fsync", "queue", "growth", "upsert", "recovery"].map(String::from).to_vec();
    }
    ensure!(args.reps > 0, "--reps must be at least 1");
    Ok(args)
}

/// A fresh, empty directory for one run.
fn fresh(base: &Path, name: &str) -> Result<PathBuf> {
    let dir = base.join(name);
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn loads(values: &[f64]) -> String {
    values.iter().map(|l| format!("{l:.1}")).collect::<Vec<_>>().join("/")
}

fn fsync_section(args: &Args) -> Result<()> {
    const SYNCS: usize = 1000;
    println!("\n### Raw sync latency ({SYNCS} durable 4 KiB writes, median of {} runs)\n", args.reps);
    println!("| operation | p10 | p50 | p99 | mean | 1-min load per run |");
    println!("|---|---:|---:|---:|---:|---|");
    for mode in fsync::Mode::ALL {
        let (mut p10, mut p50, mut p99, mut mean, mut load) = (vec![], vec![], vec![], vec![], vec![]);
        for rep in 0..args.reps {
            let dir = fresh(&args.dir, "fsync")?;
            load.push(load1());
            let l = fsync::measure(&dir, mode, SYNCS)?;
            eprintln!("fsync {} run {rep}: p50 {:.0} us p99 {:.0} us [load {}]", mode.name(), l.p50_us, l.p99_us, loadavg());
            p10.push(l.p10_us);
            p50.push(l.p50_us);
            p99.push(l.p99_us);
            mean.push(l.mean_us);
            fs::remove_dir_all(&dir)?;
        }
        println!(
            "| {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {} |",
            mode.name(),
            median(&p10) / 1e3,
            median(&p50) / 1e3,
            median(&p99) / 1e3,
            median(&mean) / 1e3,
            loads(&load)
        );
    }
    Ok(())
}

fn queue_section(args: &Args) -> Result<()> {
    const BATCHES: [u64; 3] = [1, 10, 100];
    let n = args.queue_messages;
    println!(
        "\n### Queue: append + ack {} behind, {n} messages, one commit per batch (median of {} runs; \
         a run stops after {:.0} s, so slow settings count fewer messages)\n",
        workload::ACK_WINDOW,
        args.reps,
        args.cap.as_secs_f64()
    );
    println!("| engine | batch | msgs/s (median) | runs | messages | on disk at end | after reclaim | 1-min load per run |");
    println!("|---|---:|---:|---|---:|---:|---:|---|");
    for &kind in &args.engines {
        for batch in BATCHES {
            let (mut rates, mut done, mut sizes, mut reclaimed, mut load) = (vec![], vec![], vec![], vec![], vec![]);
            for rep in 0..args.reps {
                let dir = fresh(&args.dir, &format!("queue-{}-{batch}", kind.name()))?;
                let mut store = kind.open(&dir)?;
                load.push(load1());
                let run = workload::queue(store.as_mut(), n, batch, true, Some(args.cap), |_| Ok(()))?;
                let size = dir_bytes(&dir)?;
                store.reclaim()?;
                let after = dir_bytes(&dir)?;
                drop(store);
                eprintln!(
                    "queue {} batch {batch} run {rep}: {} msgs in {:.2} s = {:.0} msgs/s, {} -> {} [load {}]",
                    kind.name(), run.ops, run.elapsed.as_secs_f64(), run.per_sec(), mib(size as f64), mib(after as f64), loadavg()
                );
                rates.push(run.per_sec());
                done.push(run.ops as f64);
                sizes.push(size as f64);
                reclaimed.push(after as f64);
                fs::remove_dir_all(&dir)?;
            }
            let complete = done.iter().all(|&d| d as u64 == n);
            let (size, after) = if complete {
                (mib(median(&sizes)), mib(median(&reclaimed)))
            } else {
                ("(capped)".to_owned(), "".to_owned())
            };
            println!(
                "| {} | {batch} | {:.0} | {} | {:.0} | {size} | {after} | {} |",
                kind.name(),
                median(&rates),
                rates.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(", "),
                median(&done),
                loads(&load)
            );
        }
    }
    Ok(())
}

fn growth_section(args: &Args) -> Result<()> {
    let n = args.growth_messages;
    let marks: Vec<u64> = [200_000, 500_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000]
        .into_iter()
        .filter(|&m| m <= n)
        .collect();
    println!(
        "\n### Growth: {n} messages through a queue of {}, batch 100 (one run per engine)\n",
        workload::ACK_WINDOW
    );
    let header: Vec<String> = marks.iter().map(|m| format!("on disk at {}k", m / 1000)).collect();
    println!("| engine | msgs/s | {} | after reclaim | reclaim time | 1-min load (start/end) |", header.join(" | "));
    println!("|---|---:|{}---:|---:|---|", "---:|".repeat(marks.len()));
    for &kind in &args.engines {
        let dir = fresh(&args.dir, &format!("growth-{}", kind.name()))?;
        let mut store = kind.open(&dir)?;
        let load_start = load1();
        let mut sizes = Vec::new();
        let run = workload::queue(store.as_mut(), n, 100, true, None, |seq| {
            if marks.contains(&seq) {
                let size = dir_bytes(&dir)?;
                eprintln!("growth {} at {seq}: {} [load {}]", kind.name(), mib(size as f64), loadavg());
                sizes.push(mib(size as f64));
            }
            Ok(())
        })?;
        let start = Instant::now();
        let how = store.reclaim()?;
        let reclaim_time = start.elapsed();
        let after = dir_bytes(&dir)?;
        drop(store);
        println!(
            "| {} | {:.0} | {} | {} | {} | {:.1}/{:.1} |",
            kind.name(),
            run.per_sec(),
            sizes.join(" | "),
            mib(after as f64),
            how.map_or("continuous".to_owned(), |h| format!("{:.2} s ({h})", reclaim_time.as_secs_f64())),
            load_start,
            load1()
        );
        fs::remove_dir_all(&dir)?;
    }
    Ok(())
}

fn upsert_section(args: &Args) -> Result<()> {
    const SESSIONS: u64 = 10_000;
    const SESSION_UPDATES: u64 = 100_000;
    const RETAINED: u64 = 100_000;
    const RETAINED_OPS: u64 = 100_000;
    println!(
        "\n### Upserts, one commit per 100 (median of {} runs): {SESSION_UPDATES} random updates of \
         {SESSIONS} sessions ({} B); {RETAINED_OPS} random set (80%) / clear (20%) of {RETAINED} \
         retained topics\n",
        args.reps,
        workload::SESSION_BYTES
    );
    println!("| engine | session updates/s | retained set+clear/s | on disk at end | after reclaim | 1-min load per run |");
    println!("|---|---:|---:|---:|---:|---|");
    for &kind in &args.engines {
        let (mut sess, mut ret, mut sizes, mut reclaimed, mut load) = (vec![], vec![], vec![], vec![], vec![]);
        for rep in 0..args.reps {
            let dir = fresh(&args.dir, &format!("upsert-{}", kind.name()))?;
            let mut store = kind.open(&dir)?;
            load.push(load1());
            workload::populate(store.as_mut(), Table::Session, SESSIONS, 1000)?;
            let s = workload::upserts(store.as_mut(), Table::Session, SESSIONS, SESSION_UPDATES, 0, 100, 1 + rep as u64)?;
            workload::populate(store.as_mut(), Table::Retained, RETAINED, 1000)?;
            let r = workload::upserts(store.as_mut(), Table::Retained, RETAINED, RETAINED_OPS, 20, 100, 7 + rep as u64)?;
            let size = dir_bytes(&dir)?;
            store.reclaim()?;
            let after = dir_bytes(&dir)?;
            drop(store);
            eprintln!(
                "upsert {} run {rep}: sessions {:.0}/s retained {:.0}/s, {} -> {} [load {}]",
                kind.name(), s.per_sec(), r.per_sec(), mib(size as f64), mib(after as f64), loadavg()
            );
            sess.push(s.per_sec());
            ret.push(r.per_sec());
            sizes.push(size as f64);
            reclaimed.push(after as f64);
            fs::remove_dir_all(&dir)?;
        }
        println!(
            "| {} | {:.0} | {:.0} | {} | {} | {} |",
            kind.name(),
            median(&sess),
            median(&ret),
            mib(median(&sizes)),
            mib(median(&reclaimed)),
            loads(&load)
        );
    }
    Ok(())
}

fn recovery_section(args: &Args) -> Result<()> {
    const RETAINED: u64 = 100_000;
    let n = args.recovery_messages;
    println!(
        "\n### Recovery: open a store holding {n} queued (un-acked) messages and {RETAINED} retained, \
         read everything back (median of {} runs; cold = the store's files evicted from the page \
         cache first)\n",
        args.reps
    );
    println!("| engine | build msgs/s (batch 1000) | on disk | open + read, cold | open + read, warm | 1-min load per run |");
    println!("|---|---:|---:|---:|---:|---|");
    for &kind in &args.engines {
        // synchronous=NORMAL writes the same file format as FULL: recovering it is the same.
        if kind == Kind::SqliteNormal {
            continue;
        }
        let dir = fresh(&args.dir, &format!("recovery-{}", kind.name()))?;
        let mut store = kind.open(&dir)?;
        let build = workload::queue(store.as_mut(), n, 1000, false, None, |_| Ok(()))?;
        workload::populate(store.as_mut(), Table::Retained, RETAINED, 1000)?;
        drop(store);
        let size = dir_bytes(&dir)?;
        let (mut cold, mut warm, mut load) = (vec![], vec![], vec![]);
        for rep in 0..args.reps {
            load.push(load1());
            evict(&dir)?;
            let start = Instant::now();
            let found = kind.recover(&dir)?;
            let c = start.elapsed();
            ensure!(
                found.queued == n && found.queued_payload_bytes == n * workload::PAYLOAD_BYTES as u64 && found.retained == RETAINED,
                "{}: recovered {found:?}",
                kind.name()
            );
            let start = Instant::now();
            kind.recover(&dir)?;
            let w = start.elapsed();
            eprintln!(
                "recovery {} run {rep}: cold {:.3} s warm {:.3} s ({found:?}) [load {}]",
                kind.name(), c.as_secs_f64(), w.as_secs_f64(), loadavg()
            );
            cold.push(c.as_secs_f64());
            warm.push(w.as_secs_f64());
        }
        println!(
            "| {} | {:.0} | {} | {:.2} s | {:.2} s | {} |",
            kind.name(),
            build.per_sec(),
            mib(size as f64),
            median(&cold),
            median(&warm),
            loads(&load)
        );
        fs::remove_dir_all(&dir)?;
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = parse_args()?;
    fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;
    println!(
        "mqlite-store-engines: dir {}, {} runs per figure, engines {}; load at start: {}",
        args.dir.display(),
        args.reps,
        args.engines.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "),
        loadavg()
    );
    for section in &args.sections {
        match section.as_str() {
            "fsync" => fsync_section(&args)?,
            "queue" => queue_section(&args)?,
            "growth" => growth_section(&args)?,
            "upsert" => upsert_section(&args)?,
            "recovery" => recovery_section(&args)?,
            _ => unreachable!("sections are checked in parse_args"),
        }
    }
    println!("\nload at end: {}", loadavg());
    Ok(())
}
