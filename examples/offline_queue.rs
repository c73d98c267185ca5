//! A persistent session keeps collecting while its client is away: QoS 1 messages queue up,
//! and when the client comes back with `clean_start(false)` the session is present and the
//! messages arrive in the order they were published.
//!
//! Run: `cargo run -p mqlite-examples --example offline_queue`
#![allow(clippy::print_stdout)]

use mqlite::{Broker, Config, ConnectOptions, NEVER_EXPIRE, QoS};

/// A session that survives disconnects: resume it, and keep it until a clean start.
fn persistent(client_id: &str) -> ConnectOptions {
    ConnectOptions::new(client_id)
        .clean_start(false)
        .session_expiry(NEVER_EXPIRE)
}

fn main() -> anyhow::Result<()> {
    let broker = Broker::new(Config::default());

    let logger = broker.connect(persistent("logger"))?;
    println!(
        "logger: connected, session present: {}",
        logger.session_present()
    );
    logger.subscribe("orders/#", QoS::AtLeastOnce)?;
    logger.disconnect(); // clean disconnect: the session and its subscription stay
    println!("logger: went offline");

    let shop = broker.connect(ConnectOptions::new("shop"))?;
    for n in 1..=3 {
        shop.publish(
            &format!("orders/{n}"),
            format!("order #{n}"),
            QoS::AtLeastOnce,
            false,
        )?;
    }
    // QoS 0 is not queued for offline sessions unless `queue_qos0_messages` is on.
    shop.publish("orders/heartbeat", "still here", QoS::AtMostOnce, false)?;
    println!("shop: published orders 1 to 3 at QoS 1 and a heartbeat at QoS 0");

    let logger = broker.connect(persistent("logger"))?;
    println!(
        "logger: back, session present: {}",
        logger.session_present()
    );
    let stats = logger.stats();
    println!(
        "logger: {} queued, {} QoS 0 dropped while offline",
        stats.queued, stats.dropped_offline
    );

    // Everything queued is ready at once, oldest first.
    let mut order = Vec::new();
    for msg in logger.try_iter() {
        let payload = String::from_utf8_lossy(msg.payload()).into_owned();
        println!(
            "logger got {} = {payload} (QoS {})",
            msg.topic(),
            msg.qos().as_u8()
        );
        msg.ack(); // unacknowledged, it would be redelivered on the next resume
        order.push(payload);
    }
    println!("logger: received in this order: {}", order.join(", "));

    logger.disconnect();
    shop.disconnect();
    broker.shutdown();
    Ok(())
}
