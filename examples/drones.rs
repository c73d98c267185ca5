//! MQTT 5 request/response: a master asks two drones for their altitude on one topic. Each
//! request carries a response topic (where to answer) and correlation data (which request
//! an answer belongs to); the drones copy the correlation data into their replies.
//!
//! Run: `cargo run -p mqlite-examples --example drones`
#![allow(clippy::print_stdout)]

use std::thread;
use std::time::Duration;

use anyhow::{Context, anyhow};
use mqlite::{
    Broker, Bytes, Client, Config, ConnectOptions, PublishOptions, PublishProperties, QoS,
};

const REQUEST_TOPIC: &str = "drones/altitude";
const REPLY_TOPIC: &str = "drones/altitude/replies/master";
const REQUESTS: [&str; 2] = ["req-1", "req-2"];
const TIMEOUT: Duration = Duration::from_secs(2);

/// A drone: answers each request with its altitude, then climbs 10 m.
fn drone(client: Client, mut altitude_m: u32) -> anyhow::Result<()> {
    for _ in REQUESTS {
        let request = client.recv_timeout(TIMEOUT)?;
        request.ack();
        if request.payload().as_ref() != b"COMMAND:GET_ALTITUDE" {
            continue;
        }
        let asked = request.properties().context("request without properties")?;
        let reply_to = asked
            .response_topic
            .as_deref()
            .context("no response topic")?;
        let mut reply = PublishProperties::new();
        reply.correlation_data = asked.correlation_data.clone();
        let answer = format!("{} ALTITUDE:{altitude_m}m", client.client_id());
        client.publish_with(
            reply_to,
            answer,
            &PublishOptions::new(QoS::AtLeastOnce).properties(reply),
        )?;
        altitude_m += 10;
    }
    client.disconnect();
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let broker = Broker::new(Config::default());

    // Everyone subscribes before the first request goes out.
    let master = broker.connect(ConnectOptions::new("master"))?;
    master.subscribe(REPLY_TOPIC, QoS::AtLeastOnce)?;
    let mut drones = Vec::new();
    for (name, altitude_m) in [("drone-a", 120), ("drone-b", 85)] {
        let client = broker.connect(ConnectOptions::new(name))?;
        client.subscribe(REQUEST_TOPIC, QoS::AtLeastOnce)?;
        drones.push(thread::spawn(move || drone(client, altitude_m)));
    }

    let mut replies = Vec::new();
    for id in REQUESTS {
        let request = PublishProperties::new()
            .response_topic(REPLY_TOPIC)
            .correlation_data(Bytes::from_static(id.as_bytes()));
        let options = PublishOptions::new(QoS::AtLeastOnce).properties(request);
        master.publish_with(REQUEST_TOPIC, "COMMAND:GET_ALTITUDE", &options)?;
        println!("master: sent COMMAND:GET_ALTITUDE as {id}");

        // One reply per drone; the correlation data says which request each one answers.
        for _ in 0..drones.len() {
            let reply = master.recv_timeout(TIMEOUT)?;
            reply.ack();
            let correlation = reply
                .properties()
                .and_then(|p| p.correlation_data.clone())
                .context("reply without correlation data")?;
            replies.push(format!(
                "master: reply to {}: {}",
                String::from_utf8_lossy(&correlation),
                String::from_utf8_lossy(reply.payload())
            ));
        }
    }

    for handle in drones {
        handle
            .join()
            .map_err(|_| anyhow!("a drone thread panicked"))??;
    }
    // The drones answer in whatever order their threads run; sort for a stable printout.
    replies.sort();
    for line in &replies {
        println!("{line}");
    }
    master.disconnect();
    broker.shutdown();
    Ok(())
}
