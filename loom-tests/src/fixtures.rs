//! Fixtures shared by the models and the stress tests: brokers on a manual clock, clients,
//! draining helpers and a counting [`Notify`] for transport-style clients.
//!
//! Everything here only calls `mqlite`'s public API. Under `cfg(loom)` these must be called
//! inside a loom model, as core's locks and atomics are then loom's.

use std::fmt;
use std::sync::Arc;

use mqlite::wire::{Notify, Outbound, WireClient};
use mqlite::{
    Broker, Client, Config, ConnectOptions, ManualClock, Message, NEVER_EXPIRE, QoS, TryRecvError,
    Will,
};

#[cfg(loom)]
use loom::sync::atomic::{AtomicUsize, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicUsize, Ordering};

/// Broker limits for the models: defaults, without `$SYS` (there is no timer anyway).
pub fn config() -> Config {
    let mut config = Config::default();
    config.sys_interval = None;
    config
}

/// A broker with `config` and a manual clock, so no timer thread runs.
pub fn broker(config: Config) -> Broker {
    Broker::builder()
        .config(config)
        .clock(Arc::new(ManualClock::new()))
        .build()
}

/// Connects with `options`.
///
/// # Panics
///
/// If the broker refuses the connection.
pub fn connect(broker: &Broker, options: ConnectOptions) -> Client {
    match broker.connect(options) {
        Ok(client) => client,
        Err(e) => panic!("connect refused: {e}"),
    }
}

/// Connects a transport's client (`Broker::connect_wire`) with `options`, notified through
/// `notify`.
///
/// # Panics
///
/// If the broker refuses the connection.
pub fn connect_wire(
    broker: &Broker,
    options: ConnectOptions,
    notify: Arc<dyn Notify>,
) -> WireClient {
    match broker.connect_wire(options, notify) {
        Ok(client) => client,
        Err(e) => panic!("connect refused: {e}"),
    }
}

/// What a consumer saw of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Got {
    /// The payload, as text.
    pub payload: String,
    /// The DUP flag (a redelivery).
    pub dup: bool,
    /// The RETAIN flag (sent as a retained message).
    pub retain: bool,
    /// The delivery's QoS.
    pub qos: QoS,
}

impl Got {
    /// What `message` carries.
    pub fn of(message: &Message) -> Self {
        Self {
            payload: String::from_utf8_lossy(message.payload()).into_owned(),
            dup: message.dup(),
            retain: message.retain(),
            qos: message.qos(),
        }
    }
}

/// The payloads of `got`, in order.
pub fn payloads(got: &[Got]) -> Vec<&str> {
    got.iter().map(|g| g.payload.as_str()).collect()
}

/// Takes every message ready for an in-process `client` without blocking, acknowledging
/// each one (`Message::ack`).
///
/// # Panics
///
/// If the handle is no longer usable.
pub fn drain(client: &Client) -> Vec<Got> {
    let mut got = Vec::new();
    loop {
        match client.try_recv() {
            Ok(message) => {
                got.push(Got::of(&message));
                message.ack();
            }
            Err(TryRecvError::Empty) => return got,
            Err(e) => panic!("drain: {e}"),
        }
    }
}

/// Takes every PUBLISH a transport's `client` has to send now, acknowledging each as a
/// network receiver would (PUBACK for QoS 1; PUBREC then PUBCOMP for QoS 2; PUBCOMP for a
/// resent PUBREL).
///
/// # Panics
///
/// If the handle is no longer usable.
pub fn poll_all(client: &WireClient) -> Vec<Got> {
    let mut got = Vec::new();
    loop {
        match client.poll_outbound() {
            Ok(Outbound::Publish(message)) => {
                got.push(Got::of(&message));
                acknowledge(client, &message);
            }
            Ok(Outbound::Release { packet_id }) => {
                let _ = client.pubcomp(packet_id);
            }
            Ok(other) => panic!("poll_all: unexpected {other:?}"),
            Err(TryRecvError::Empty) => return got,
            Err(e) => panic!("poll_all: {e}"),
        }
    }
}

/// Acknowledges `message` on the wire, as a network receiver would.
pub fn acknowledge(client: &WireClient, message: &Message) {
    let Some(packet_id) = message.packet_id() else {
        return;
    };
    // A handle taken over meanwhile answers `Err`: the new owner gets the message again.
    let _ = match message.qos() {
        QoS::AtLeastOnce => client.puback(packet_id),
        _ => client
            .pubrec(packet_id)
            .and_then(|_| client.pubcomp(packet_id)),
    };
}

/// A [`Notify`] that counts its calls, for transport-style consumers
/// (`Broker::connect_wire`). Its counter is a loom atomic under `cfg(loom)`.
pub struct CountingNotify {
    wakes: AtomicUsize,
}

impl CountingNotify {
    /// A notify that was never called.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            wakes: AtomicUsize::new(0),
        })
    }

    /// How many times it was called so far.
    pub fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for CountingNotify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingNotify")
            .field("wakes", &self.wakes())
            .finish()
    }
}

impl Notify for CountingNotify {
    fn notify(&self) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

/// The persistent client of the takeover scenario, with a QoS 1 will on `will`.
pub fn takeover_device() -> ConnectOptions {
    ConnectOptions::new("device")
        .clean_start(false)
        .session_expiry(NEVER_EXPIRE)
        .will(
            Will::new("will", "gone")
                .expect("a valid will topic")
                .qos(QoS::AtLeastOnce),
        )
}

/// The takeover scenario before the race (model 4 and its stress test).
#[derive(Debug)]
pub struct TakeoverScene {
    /// Subscribed to the will topic.
    pub watcher: Client,
    /// The device's first connection, subscribed to `data`: `q0` in flight (handed out,
    /// never acknowledged), `qa` waiting in its queue.
    pub old: Client,
    /// Publishes to `data`.
    pub publisher: Client,
}

/// Sets up [`TakeoverScene`] on `broker`.
///
/// # Panics
///
/// If any step the scenario relies on fails.
pub fn takeover_scene(broker: &Broker) -> TakeoverScene {
    let watcher = connect(broker, ConnectOptions::new("watcher"));
    watcher
        .subscribe("will", QoS::AtLeastOnce)
        .expect("subscribe to the will topic");
    let old = connect(broker, takeover_device());
    old.subscribe("data", QoS::AtLeastOnce)
        .expect("subscribe to data");
    let publisher = connect(broker, ConnectOptions::new("publisher"));
    for payload in ["q0", "qa"] {
        publisher
            .publish("data", payload, QoS::AtLeastOnce, false)
            .expect("publish to data");
    }
    let q0 = old.try_recv().expect("q0 is queued for the device");
    assert_eq!(q0.payload().as_ref(), b"q0");
    TakeoverScene {
        watcher,
        old,
        publisher,
    }
}
