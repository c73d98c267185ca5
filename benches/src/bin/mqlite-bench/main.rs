//! `mqlite-bench`: a network load generator for any MQTT 3.1 / 3.1.1 / 5.0 broker. It speaks
//! raw MQTT over blocking `TcpStream`s, one thread per connection, encoding and decoding
//! with `mqlite-net`'s codec; usage and how to read the output: `benches/README.md`.
//!
//! | module | what it holds |
//! |---|---|
//! | `args`, `options` | the command line, one run's settings |
//! | `client` | one connection: handshakes, buffered reads and writes with timeouts |
//! | `publisher`, `subscriber` | the send and receive loops, QoS 1/2 flow control |
//! | `backlog` | `--max-backlog`: a bound on deliveries outstanding over all publishers |
//! | `throughput`, `latency`, `idle`, `slow` | the scenarios |
//! | `stats`, `rss`, `report` | percentiles, broker memory, output |
//! | `workers` | threads joined with deadlines |
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout)]

mod args;
mod backlog;
mod client;
mod idle;
mod latency;
mod options;
mod publisher;
mod report;
mod rss;
mod slow;
mod stats;
mod subscriber;
mod throughput;
mod workers;

use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::args::{Command, USAGE};
use crate::client::Target;
use crate::options::{Options, Scenario};
use crate::report::Report;

/// Slack on top of a scenario's own bounds before the watchdog ends the process.
const WATCHDOG_SLACK: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let options = match args::parse(std::env::args().skip(1)) {
        Ok(Command::Run(o)) => o,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("mqlite-bench: {e:#}\nrun `mqlite-bench --help` for usage");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(report) if options.json => println!("{}", report.to_json()),
        Ok(report) => print!("{}", report.to_text()),
        Err(e) => {
            eprintln!("mqlite-bench {}: error: {e:#}", options.scenario);
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn run(o: &Options) -> Result<Report> {
    let nofile = raise_nofile();
    if o.scenario == Scenario::Idle && (o.conns as u64).saturating_add(64) > nofile {
        bail!(
            "--conns {} needs more file descriptors than RLIMIT_NOFILE allows ({nofile}); raise the hard limit (ulimit -Hn)",
            o.conns
        );
    }
    start_watchdog(deadline(o));
    let target = Target::resolve(&o.host, o.port, o.version, o.timeout, o.keep_alive)?;
    match o.scenario {
        Scenario::Throughput | Scenario::Fanout | Scenario::Fanin => throughput::run(o, &target),
        Scenario::Latency => latency::run(o, &target),
        Scenario::Idle => idle::run(o, &target),
        Scenario::Slow => slow::run(o, &target),
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the limit now in force.
fn raise_nofile() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            eprintln!("mqlite-bench: could not raise RLIMIT_NOFILE: {e}");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// The longest a run of `o` may take: its phases, each wait bounded by `--timeout`, and the
/// connects (each bounded by `--timeout` too, but a healthy broker answers in milliseconds).
fn deadline(o: &Options) -> Duration {
    let connects = match o.scenario {
        Scenario::Idle => o.conns,
        Scenario::Slow => o.pubs + 2,
        _ => o.pubs + o.subs,
    };
    let connect_budget =
        Duration::from_millis(5).saturating_mul(u32::try_from(connects).unwrap_or(u32::MAX));
    o.warmup + o.duration + o.timeout.saturating_mul(4) + connect_budget + WATCHDOG_SLACK
}

/// Ends the process with an error if the run is still going after `after`: the last line
/// of defence, so the tool never hangs whatever the broker does.
fn start_watchdog(after: Duration) {
    let spawned = thread::Builder::new()
        .name("watchdog".to_owned())
        .spawn(move || {
            thread::sleep(after);
            eprintln!(
                "mqlite-bench: run exceeded its {} s deadline; giving up",
                after.as_secs()
            );
            std::process::exit(3);
        });
    if let Err(e) = spawned {
        eprintln!("mqlite-bench: no watchdog thread ({e}); continuing without one");
    }
}
