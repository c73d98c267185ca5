//! Profiling driver: the publish path alone (one offline subscriber, so each QoS 0 publish
//! is matched, offered and dropped as offline). Not a benchmark; see benches/.
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]
use std::time::Instant;

use mqlite::{Broker, ConnectOptions, NEVER_EXPIRE, QoS};
use mqlite_benches::publish_n;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(10_000_000, |s| s.parse().unwrap());
    let broker = Broker::new(mqlite_benches::unthrottled());
    let sub = broker
        .connect(
            ConnectOptions::new("sub")
                .clean_start(false)
                .session_expiry(NEVER_EXPIRE),
        )
        .unwrap();
    sub.subscribe("bench/t", QoS::AtMostOnce).unwrap();
    sub.disconnect();
    let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
    let start = Instant::now();
    publish_n(&publisher, "bench/t", QoS::AtMostOnce, n);
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    println!("{n} publishes: {ns:.1} ns each");
}
