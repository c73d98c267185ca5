//! The effective-QoS table, as observed: a message published at QoS 0/1/2 reaches
//! subscribers at QoS 0/1/2 with the lower of the two levels [MQTT-3.8.4-8].
//!
//! Run: `cargo run -p mqlite-examples --example qos_table`
#![allow(clippy::print_stdout)]

use std::time::Duration;

use mqlite::{Broker, Config, ConnectOptions, QoS};

const LEVELS: [QoS; 3] = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];

fn main() -> anyhow::Result<()> {
    let broker = Broker::new(Config::default());

    // One subscriber per level, each asking for that maximum QoS on the same filter.
    let mut subscribers = Vec::new();
    for sub_qos in LEVELS {
        let client = broker.connect(ConnectOptions::new(format!("sub-qos{}", sub_qos.as_u8())))?;
        let granted = client.subscribe("table/#", sub_qos)?;
        println!(
            "{} subscribed to table/# and was granted {granted}",
            client.client_id()
        );
        subscribers.push(client);
    }

    // One message per level; the topic says which level it was published at.
    let publisher = broker.connect(ConnectOptions::new("publisher"))?;
    for pub_qos in LEVELS {
        publisher.publish(&format!("table/{}", pub_qos.as_u8()), "hi", pub_qos, false)?;
    }

    // observed[publish QoS][subscription QoS] = the QoS each delivery arrived with.
    let mut observed = [[0u8; 3]; 3];
    for (sub_index, subscriber) in subscribers.iter().enumerate() {
        for _ in LEVELS {
            let msg = subscriber.recv_timeout(Duration::from_secs(1))?;
            let pub_index: usize = msg.topic().trim_start_matches("table/").parse()?;
            observed[pub_index][sub_index] = msg.qos().as_u8();
            msg.ack(); // QoS 1 and 2 deliveries wait in flight until acknowledged
        }
    }

    println!("effective QoS (rows: published at, columns: subscribed at)");
    println!("              sub 0  sub 1  sub 2");
    for (pub_qos, row) in LEVELS.iter().zip(observed) {
        println!(
            "publish QoS {} {:>5}  {:>5}  {:>5}",
            pub_qos.as_u8(),
            row[0],
            row[1],
            row[2]
        );
    }
    broker.shutdown();
    Ok(())
}
