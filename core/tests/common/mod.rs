//! Fixtures shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use mqlite::{
    Broker, Client, Config, ConnectOptions, ManualClock, Message, NEVER_EXPIRE, TryRecvError,
};

pub(crate) mod durable;

/// How long a test waits for a message that must arrive.
pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// A broker with a manual clock (no timer thread) and `config`.
pub(crate) fn broker_with(config: Config) -> (Broker, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    let broker = Broker::builder()
        .config(config)
        .clock(clock.clone())
        .build();
    (broker, clock)
}

/// A broker with default limits and a manual clock.
pub(crate) fn broker() -> Broker {
    broker_with(Config::default()).0
}

/// Options for a persistent session that never expires (MQTT 3.1.1 clean session 0).
pub(crate) fn persistent(id: &str) -> ConnectOptions {
    ConnectOptions::new(id)
        .clean_start(false)
        .session_expiry(NEVER_EXPIRE)
}

/// Connects `id` with default options.
pub(crate) fn connect(broker: &Broker, id: &str) -> Client {
    broker.connect(ConnectOptions::new(id)).unwrap()
}

/// The next message, which must arrive within [`WAIT`].
pub(crate) fn recv(client: &Client) -> Message {
    client.recv_timeout(WAIT).unwrap()
}

/// Asserts nothing is ready for `client`.
pub(crate) fn assert_empty(client: &Client) {
    match client.try_recv() {
        Err(TryRecvError::Empty) => {}
        Ok(m) => panic!("expected no message, got {m:?}"),
        Err(e) => panic!("expected Empty, got {e}"),
    }
}

/// Every message ready now, as (topic, payload) strings.
pub(crate) fn drain(client: &Client) -> Vec<(String, String)> {
    client
        .try_iter()
        .map(|m| {
            m.ack();
            (
                m.topic().to_owned(),
                String::from_utf8_lossy(m.payload()).into_owned(),
            )
        })
        .collect()
}
