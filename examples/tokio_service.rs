//! An async service on tokio: it subscribes to `sensors/+/celsius`, converts each reading to
//! Fahrenheit and republishes it on `sensors/<id>/fahrenheit`, waiting for messages with
//! `client.recv_async().await` (no thread blocked). A `watch` channel tells it to stop (main
//! sends it when done; Ctrl-C sends it too); it then disconnects cleanly.
//!
//! ```sh
//! cargo run -p mqlite-examples --example tokio_service
//! ```
//!
//! mqlite needs no runtime: `recv_async` works on any executor. tokio is only this example's.
#![allow(clippy::print_stdout)]

use std::time::Duration;

use anyhow::{Context, bail};
use mqlite::{Broker, Client, Config, ConnectOptions, QoS};
use tokio::sync::watch;
use tokio::time::timeout;

/// The service: converts readings until told to stop; returns how many it converted.
async fn fahrenheit_service(client: Client, mut stop: watch::Receiver<bool>) -> usize {
    let mut converted = 0;
    loop {
        // `recv_async` is cancel-safe: if `stop` wins the race, no message is lost.
        tokio::select! {
            _ = stop.changed() => break,
            received = client.recv_async() => {
                let message = match received {
                    Ok(message) => message,
                    Err(e) => {
                        println!("service: connection ended: {e}");
                        return converted;
                    }
                };
                // sensors/<id>/celsius → sensors/<id>/fahrenheit
                let Some(id) = message.topic().split('/').nth(1) else { continue };
                let Some(celsius) = std::str::from_utf8(message.payload())
                    .ok()
                    .and_then(|text| text.parse::<f64>().ok())
                else {
                    println!("service: ignored a reading that is not a number");
                    continue;
                };
                let fahrenheit = format!("{:.1}", celsius * 9.0 / 5.0 + 32.0);
                let topic = format!("sensors/{id}/fahrenheit");
                // Publishing never waits for subscribers, so it is fine in async code.
                if let Err(e) = client.publish(&topic, fahrenheit, QoS::AtLeastOnce, false) {
                    println!("service: republish failed: {e}");
                }
                converted += 1;
            }
        }
    }
    client.disconnect();
    converted
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let broker = Broker::new(Config::default());

    // The service's client subscribes before it starts, so no reading is missed.
    let service = broker.connect(ConnectOptions::new("fahrenheit-service"))?;
    service.subscribe("sensors/+/celsius", QoS::AtLeastOnce)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(fahrenheit_service(service, stop_rx));

    // Ctrl-C stops the service too (for a long-running version of this program).
    let ctrl_c = stop_tx.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = ctrl_c.send(true);
        }
    });

    // A display that wants Fahrenheit, and a sensor gateway that publishes Celsius.
    let display = broker.connect(ConnectOptions::new("display"))?;
    display.subscribe("sensors/+/fahrenheit", QoS::AtLeastOnce)?;
    let sensors = broker.connect(ConnectOptions::new("sensor-gateway"))?;
    let readings = [("kitchen", "21.5"), ("garage", "-4.0"), ("sauna", "80")];
    for (id, celsius) in readings {
        sensors.publish(
            &format!("sensors/{id}/celsius"),
            celsius,
            QoS::AtLeastOnce,
            false,
        )?;
        println!("sensor-gateway: sensors/{id}/celsius = {celsius}");
    }

    for _ in readings {
        let message = timeout(Duration::from_secs(2), display.recv_async())
            .await
            .context("no converted reading within 2 s")??;
        println!(
            "display got {} = {} F",
            message.topic(),
            String::from_utf8_lossy(message.payload())
        );
        message.ack();
    }

    // Graceful shutdown: signal, then wait for the task to disconnect and finish.
    stop_tx.send(true)?;
    let converted = timeout(Duration::from_secs(2), task)
        .await
        .context("the service did not stop within 2 s")??;
    println!("service: stopped after {converted} readings, disconnected cleanly");
    if broker.stats().clients_connected != 2 {
        bail!("expected only the display and the gateway still connected");
    }
    display.disconnect();
    sensors.disconnect();
    Ok(())
}
