//! A gateway that is killed and restarted, and loses nothing.
//!
//! The gateway buffers sensor readings for its uplink (a persistent session, offline while
//! the network is down) in a durable broker. Run 1 takes readings until the process is
//! killed (`abort`, no shutdown, no destructors: what `kill -9` or a power cut does to the
//! process). Run 2 starts on the same directory: the uplink reconnects and gets every
//! reading whose publish returned, in order. Run it:
//!
//! ```text
//! cargo run -p mqlite-examples --example durable_gateway
//! ```
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use mqlite::{Broker, ConnectOptions, QoS};
use mqlite_store::{Persistence, SyncPolicy};

const READINGS: u32 = 500;

/// The gateway's broker: durable, in `dir`, fsync before every acknowledgement.
fn open_broker(dir: &Path) -> anyhow::Result<Broker> {
    let store = Persistence::open(dir, SyncPolicy::Commit)
        .with_context(|| format!("opening the store in {}", dir.display()))?;
    println!("store: {}", store.recovery_summary());
    Ok(Broker::builder().store(store).build())
}

/// The uplink's session: kept for a day while it is offline.
fn uplink() -> ConnectOptions {
    ConnectOptions::new("uplink")
        .clean_start(false)
        .session_expiry(Duration::from_secs(24 * 3600))
}

/// Run 1: the uplink subscribes and goes offline; sensors publish; the process dies.
fn take_readings(dir: &Path) -> anyhow::Result<()> {
    let broker = open_broker(dir)?;
    let link = broker.connect(uplink())?;
    link.subscribe("sensors/#", QoS::AtLeastOnce)?;
    link.disconnect(); // the network is down
    let sensor = broker.connect(ConnectOptions::new("sensor-7"))?;
    for i in 0..READINGS {
        // Returns once the reading is on disk (group commit): it is acknowledged.
        sensor.publish("sensors/7/temp", format!("{i}"), QoS::AtLeastOnce, false)?;
    }
    println!("run 1: {READINGS} readings acknowledged, now killed");
    std::process::abort();
}

/// Run 2: restart on the same directory; the uplink drains what was kept.
fn forward(dir: &Path) -> anyhow::Result<()> {
    let broker = open_broker(dir)?;
    let link = broker.connect(uplink())?;
    let mut next = 0;
    while let Ok(msg) = link.recv_timeout(Duration::from_secs(2)) {
        let n: u32 = std::str::from_utf8(msg.payload())?.parse()?;
        if n != next {
            bail!("reading {n} arrived where {next} was expected");
        }
        msg.ack();
        next += 1;
        if next == READINGS {
            break;
        }
    }
    println!(
        "run 2: uplink session present: {}, forwarded {next} of {READINGS} readings, in order",
        link.session_present()
    );
    broker.shutdown();
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("take") => return take_readings(Path::new(&args[2])),
        Some("forward") => return forward(Path::new(&args[2])),
        _ => {}
    }
    let dir = std::env::temp_dir().join(format!("mqlite-durable-gateway-{}", std::process::id()));
    let exe = std::env::current_exe()?;
    for phase in ["take", "forward"] {
        let status = Command::new(&exe).arg(phase).arg(&dir).status()?;
        println!("{phase}: exited with {status}");
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
