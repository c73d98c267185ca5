//! Birth and death messages: each device publishes `online` (retained) when it connects and
//! leaves `offline` (retained) as its will. A dashboard that starts late subscribes to
//! `devices/+/status` and sees every device's current state at once.
//!
//! Run: `cargo run -p mqlite-examples --example birth_death`
#![allow(clippy::print_stdout)]

use mqlite::{Broker, Client, Config, ConnectOptions, QoS, Will};

/// Connects device `name`: the will is the death message, the first publish the birth.
fn start_device(broker: &Broker, name: &str) -> anyhow::Result<Client> {
    let status = format!("devices/{name}/status");
    let device = broker.connect(
        ConnectOptions::new(name).will(
            Will::new(status.as_str(), "offline")?
                .qos(QoS::AtLeastOnce)
                .retain(true),
        ),
    )?;
    device.publish(&status, "online", QoS::AtLeastOnce, true)?;
    println!("{name}: connected, published online (retained)");
    Ok(device)
}

fn main() -> anyhow::Result<()> {
    let broker = Broker::new(Config::default());

    let pump = start_device(&broker, "pump")?;
    let fan = start_device(&broker, "fan")?;
    let valve = start_device(&broker, "valve")?;

    // The fan loses power: its handle goes away without disconnect(), so the broker
    // publishes its will, which replaces the retained `online`.
    drop(fan);
    println!("fan: lost power (handle dropped), the broker publishes its will");

    // The valve shuts down on purpose. disconnect() discards the will [MQTT-3.1.2-10],
    // so a well-behaved device publishes its death message itself first.
    valve.publish("devices/valve/status", "offline", QoS::AtLeastOnce, true)?;
    valve.disconnect();
    println!("valve: published offline and disconnected cleanly (will discarded)");

    // The dashboard starts now, after all of that happened. Retained messages are queued
    // at subscribe time, so they are ready at once (sorted here for a stable printout).
    let dashboard = broker.connect(ConnectOptions::new("dashboard"))?;
    dashboard.subscribe("devices/+/status", QoS::AtLeastOnce)?;
    let mut states = Vec::new();
    for msg in dashboard.try_iter() {
        let retained = if msg.retain() { " (retained)" } else { "" };
        states.push(format!(
            "dashboard: {} = {}{retained}",
            msg.topic(),
            String::from_utf8_lossy(msg.payload())
        ));
        msg.ack();
    }
    states.sort();
    for line in &states {
        println!("{line}");
    }

    pump.disconnect();
    broker.shutdown();
    Ok(())
}
