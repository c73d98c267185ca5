//! Profiling driver: 1 → 1 QoS 0, 64 B, N messages (not a benchmark; see benches/).
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]
use std::time::{Duration, Instant};

use mqlite::{Broker, ConnectOptions, QoS};
use mqlite_benches::publish_n;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(5_000_000, |s| s.parse().unwrap());
    let rounds: u32 = std::env::args().nth(2).map_or(1, |s| s.parse().unwrap());
    for _ in 0..rounds {
        round(n);
    }
}

fn round(n: u64) {
    let broker = Broker::new(mqlite_benches::unthrottled());
    let sub = broker.connect(ConnectOptions::new("sub")).unwrap();
    sub.subscribe("bench/t", QoS::AtMostOnce).unwrap();
    let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
    let consumer = std::thread::spawn(move || {
        for _ in 0..n {
            sub.recv_timeout(Duration::from_secs(10)).unwrap();
        }
    });
    let start = Instant::now();
    publish_n(&publisher, "bench/t", QoS::AtMostOnce, n);
    consumer.join().unwrap();
    let secs = start.elapsed().as_secs_f64();
    println!("{n} messages in {secs:.3} s: {:.0} msgs/s", n as f64 / secs);
}
