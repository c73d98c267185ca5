//! The README quickstart, printing what happens: connect, subscribe with a wildcard,
//! publish, receive, acknowledge, and a will published when a client vanishes.
//!
//! Run: `cargo run -p mqlite-examples --example quickstart`
#![allow(clippy::print_stdout)]

use std::time::Duration;

use mqlite::{Broker, Config, ConnectOptions, QoS, Will};

fn main() -> anyhow::Result<()> {
    let broker = Broker::new(Config::default());

    // A dashboard watches every sensor's temperature and every device's status.
    let dash = broker.connect(ConnectOptions::new("dashboard"))?;
    dash.subscribe("sensors/+/temperature", QoS::AtLeastOnce)?;
    dash.subscribe("devices/+/status", QoS::AtLeastOnce)?;

    // A sensor leaves a will: if it vanishes, the broker says so for it.
    let sensor = broker.connect(
        ConnectOptions::new("sensor-42").will(
            Will::new("devices/42/status", "offline")?
                .qos(QoS::AtLeastOnce)
                .retain(true),
        ),
    )?;
    sensor.publish("sensors/42/temperature", "21.5", QoS::AtLeastOnce, true)?;

    let msg = dash.recv_timeout(Duration::from_secs(1))?;
    println!(
        "dashboard got {} = {} (QoS {})",
        msg.topic(),
        String::from_utf8_lossy(msg.payload()),
        msg.qos().as_u8()
    );
    msg.ack(); // QoS 1 is acknowledged, as a network client's PUBACK would

    drop(sensor); // no disconnect(): the connection ends uncleanly, so the will goes out
    let will = dash.recv_timeout(Duration::from_secs(1))?;
    println!(
        "dashboard got {} = {} (the will)",
        will.topic(),
        String::from_utf8_lossy(will.payload())
    );
    will.ack();

    // A latecomer sees the retained state at once.
    let late = broker.connect(ConnectOptions::new("late"))?;
    late.subscribe("#", QoS::AtMostOnce)?;
    for msg in late.try_iter() {
        println!(
            "latecomer got retained {} = {}",
            msg.topic(),
            String::from_utf8_lossy(msg.payload())
        );
    }
    broker.shutdown();
    Ok(())
}
