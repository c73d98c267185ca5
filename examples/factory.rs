//! A factory floor in one process: sensor threads publish vibration readings, an edge thread
//! watches all of them through one wildcard, spots an anomaly and publishes an alert, and a
//! dashboard thread receives it. The edge client both subscribes and publishes.
//!
//! Run: `cargo run -p mqlite-examples --example factory`
#![allow(clippy::print_stdout)]

use std::thread;
use std::time::Duration;

use anyhow::anyhow;
use mqlite::{Broker, Client, Config, ConnectOptions, QoS};

/// Readings in mm/s; the lathe has one spike.
const SENSORS: [(&str, [f64; 5]); 2] = [
    ("factory/line1/press/vibration", [2.1, 2.3, 2.2, 2.4, 2.2]),
    ("factory/line2/lathe/vibration", [3.0, 3.1, 9.4, 3.2, 3.0]),
];
const LIMIT_MM_S: f64 = 7.0;
const TIMEOUT: Duration = Duration::from_secs(2);

/// The edge: checks every reading, alerts on the ones over the limit, and says when its
/// shift is over so the dashboard knows nothing more is coming.
fn edge(client: Client, expected_readings: usize) -> anyhow::Result<()> {
    let mut alerts = 0;
    for _ in 0..expected_readings {
        let msg = client.recv_timeout(TIMEOUT)?;
        let value: f64 = std::str::from_utf8(msg.payload())?.parse()?;
        msg.ack();
        if value > LIMIT_MM_S {
            let machine = msg.topic().trim_start_matches("factory/");
            let machine = machine.trim_end_matches("/vibration");
            let alert = format!("{machine} vibration {value} mm/s over {LIMIT_MM_S} mm/s");
            client.publish("maintenance/alerts", alert, QoS::AtLeastOnce, false)?;
            alerts += 1;
        }
    }
    let summary = format!("shift over: {expected_readings} readings checked, alerts: {alerts}");
    client.publish("maintenance/edge/status", summary, QoS::AtLeastOnce, false)?;
    client.disconnect();
    Ok(())
}

/// The dashboard: collects what arrives on `maintenance/#` until the edge's shift is over.
fn dashboard(client: Client) -> anyhow::Result<Vec<String>> {
    let mut seen = Vec::new();
    loop {
        let msg = client.recv_timeout(TIMEOUT)?;
        msg.ack();
        let text = String::from_utf8_lossy(msg.payload()).into_owned();
        seen.push(format!("{}: {text}", msg.topic()));
        if msg.topic() == "maintenance/edge/status" {
            break;
        }
    }
    client.disconnect();
    Ok(seen)
}

fn join<T>(handle: thread::JoinHandle<anyhow::Result<T>>) -> anyhow::Result<T> {
    handle.join().map_err(|_| anyhow!("a thread panicked"))?
}

fn main() -> anyhow::Result<()> {
    let broker = Broker::new(Config::default());

    // Subscribe before any thread starts, so no reading or alert can be missed.
    let edge_client = broker.connect(ConnectOptions::new("edge"))?;
    edge_client.subscribe("factory/+/+/vibration", QoS::AtLeastOnce)?;
    let dash_client = broker.connect(ConnectOptions::new("dashboard"))?;
    dash_client.subscribe("maintenance/#", QoS::AtLeastOnce)?;

    let expected = SENSORS.iter().map(|(_, readings)| readings.len()).sum();
    let edge_thread = thread::spawn(move || edge(edge_client, expected));
    let dash_thread = thread::spawn(move || dashboard(dash_client));

    // One thread per sensor, each with its own client (a `Client` is `Send`).
    let mut sensor_threads = Vec::new();
    for (topic, readings) in SENSORS {
        let sensor = broker.connect(ConnectOptions::new(topic.replace('/', "-")))?;
        sensor_threads.push(thread::spawn(move || -> anyhow::Result<()> {
            for value in readings {
                sensor.publish(topic, value.to_string(), QoS::AtLeastOnce, false)?;
            }
            sensor.disconnect();
            Ok(())
        }));
    }

    for handle in sensor_threads {
        join(handle)?;
    }
    println!("sensors: published {expected} readings");
    join(edge_thread)?;
    for line in join(dash_thread)? {
        println!("dashboard got {line}");
    }
    broker.shutdown();
    Ok(())
}
