//! The embedder's hooks: enhanced authentication exchanges ([`Hooks::start_auth`],
//! [`Broker::start_auth`], [`ConnectOptions::enhanced_auth`]) and the denial events
//! ([`Event::ConnectDenied`] and friends) that every refusal reports. Issue #10.
#![allow(clippy::unwrap_used, clippy::disallowed_types)] // tests use plain std types

mod common;

use std::sync::{Arc, Mutex};

use common::{broker, connect};
use mqlite::{
    AuthStep, Authenticator, Broker, ClientInfo, ConnectError, ConnectOptions, DenyReason, Event,
    Hooks, PublishError, QoS, SubscribeError, TopicFilter, TopicName, Will,
};

/// A two-step challenge: the client says `hello`, gets `nonce`, answers `secret:nonce`.
#[derive(Debug, Default)]
struct Challenge {
    sent: bool,
}

impl Authenticator for Challenge {
    fn step(&mut self, data: Option<&[u8]>) -> AuthStep {
        match (self.sent, data) {
            (false, Some(b"hello")) => {
                self.sent = true;
                AuthStep::Continue(b"nonce".to_vec())
            }
            (true, Some(b"secret:nonce")) => AuthStep::Success(Some(b"welcome".to_vec())),
            _ => AuthStep::Fail,
        }
    }
}

/// Supports the method `CHALLENGE`; refuses every password login; denies publishing on
/// `secret/#` and subscribing to `secret/#`; records every denial event.
#[derive(Debug, Default, Clone)]
struct Strict(Arc<Mutex<Vec<String>>>);

impl Hooks for Strict {
    fn authenticate(&self, _: &ClientInfo<'_>, _: Option<&[u8]>) -> bool {
        false
    }

    fn authorize_publish(&self, _: &ClientInfo<'_>, topic: &TopicName, _: QoS, _: bool) -> bool {
        !topic.as_str().starts_with("secret/")
    }

    fn authorize_subscribe(&self, _: &ClientInfo<'_>, filter: &TopicFilter, _: QoS) -> bool {
        !filter.as_str().starts_with("secret/")
    }

    fn start_auth(&self, _: &ClientInfo<'_>, method: &str) -> Option<Box<dyn Authenticator>> {
        (method == "CHALLENGE").then(|| Box::new(Challenge::default()) as Box<dyn Authenticator>)
    }

    fn on_event(&self, event: &Event<'_>) {
        let line = match event {
            Event::ConnectDenied {
                client_id,
                username,
                reason,
            } => format!("connect {client_id} {username:?} {reason:?}"),
            Event::ReauthDenied {
                client_id, reason, ..
            } => format!("reauth {client_id} {reason:?}"),
            Event::PublishDenied {
                client_id,
                topic,
                reason,
            } => format!("publish {client_id} {topic} {reason:?}"),
            Event::SubscribeDenied {
                client_id,
                filter,
                reason,
            } => format!("subscribe {client_id} {filter} {reason:?}"),
            Event::DeliveryDenied {
                client_id,
                topic,
                reason,
            } => format!("delivery {client_id} {topic} {reason:?}"),
            _ => return,
        };
        self.0.lock().unwrap().push(line);
    }
}

impl Strict {
    fn broker(&self) -> Broker {
        Broker::builder().hooks(self.clone()).build()
    }

    fn events(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Runs the `CHALLENGE` exchange for `username` with `answer` as the second message.
fn exchange(broker: &Broker, username: Option<&str>, answer: &[u8]) -> mqlite::AuthExchange {
    let mut exchange = broker.start_auth("c", username, "CHALLENGE").unwrap();
    assert_eq!(exchange.method(), "CHALLENGE");
    assert_eq!(
        exchange.step(Some(b"hello")),
        AuthStep::Continue(b"nonce".to_vec())
    );
    exchange.step(Some(answer));
    exchange
}

/// Without hooks, and for a method the hooks do not know, there is no exchange: the
/// frontend answers CONNACK 0x8C [MQTT-4.12.0-1].
#[test]
fn unsupported_method_has_no_exchange() {
    assert!(broker().start_auth("c", None, "CHALLENGE").is_none());
    let hooks = Strict::default();
    assert!(
        hooks
            .broker()
            .start_auth("c", None, "SCRAM-SHA-1")
            .is_none()
    );
}

/// A successful exchange connects the client without `Hooks::authenticate` (which refuses
/// everyone here): the exchange was its authentication. The will is still authorized.
#[test]
fn successful_exchange_replaces_authenticate() {
    let hooks = Strict::default();
    let broker = hooks.broker();
    let done = exchange(&broker, Some("alice"), b"secret:nonce");
    assert!(done.is_authenticated());
    let options = ConnectOptions::new("c")
        .credentials("alice", None)
        .enhanced_auth(&done);
    let client = broker.connect(options.clone()).unwrap();
    client
        .publish("open/a", "x", QoS::AtMostOnce, false)
        .unwrap();
    client.disconnect();
    let with_secret_will = options.will(Will::new("secret/will", "gone").unwrap());
    assert!(matches!(
        broker.connect(with_secret_will),
        Err(ConnectError::NotAuthorized { .. })
    ));
    assert_eq!(hooks.events(), ["connect c Some(\"alice\") Hooks"]);
}

/// A failed exchange, or one started for another user name, lets nobody in, and the
/// refusal is reported as a failed authentication.
#[test]
fn failed_or_foreign_exchange_is_refused() {
    let hooks = Strict::default();
    let broker = hooks.broker();
    let failed = exchange(&broker, None, b"secret:guess");
    assert!(!failed.is_authenticated());
    let refused = broker.connect(ConnectOptions::new("c").enhanced_auth(&failed));
    assert!(matches!(refused, Err(ConnectError::NotAuthorized { .. })));

    let alice = exchange(&broker, Some("alice"), b"secret:nonce");
    let as_bob = ConnectOptions::new("c")
        .credentials("bob", None)
        .enhanced_auth(&alice);
    assert!(matches!(
        broker.connect(as_bob),
        Err(ConnectError::NotAuthorized { .. })
    ));
    assert_eq!(
        hooks.events(),
        [
            "connect c None AuthenticationFailed",
            "connect c Some(\"bob\") AuthenticationFailed"
        ]
    );
}

/// Once the authenticator said `Success` or `Fail` the exchange is over: more data is
/// refused without reaching the authenticator.
#[test]
fn finished_exchange_takes_no_more_steps() {
    let hooks = Strict::default();
    let broker = hooks.broker();
    let mut done = exchange(&broker, None, b"secret:nonce");
    assert_eq!(done.step(Some(b"hello")), AuthStep::Fail);
    assert!(done.is_authenticated(), "a late step does not undo success");
    let mut failed = exchange(&broker, None, b"nope");
    assert_eq!(failed.step(Some(b"secret:nonce")), AuthStep::Fail);
    assert!(!failed.is_authenticated());
}

/// Every refusal of the hooks is reported through `on_event`: the login, the will, a
/// publish, a subscription (the other filters of the request are unaffected).
#[test]
fn hook_refusals_are_reported() {
    let hooks = Strict::default();
    let broker = hooks.broker();
    let login = ConnectOptions::new("pw").credentials("mallory", Some("x".into()));
    assert!(broker.connect(login).is_err());
    let done = exchange(&broker, None, b"secret:nonce");
    let client = broker
        .connect(ConnectOptions::new("c").enhanced_auth(&done))
        .unwrap();
    assert!(matches!(
        client.publish("secret/plans", "x", QoS::AtLeastOnce, false),
        Err(PublishError::NotAuthorized { .. })
    ));
    let results = client
        .subscribe_many(&[
            ("secret/#", QoS::AtMostOnce.into()),
            ("open/#", QoS::AtMostOnce.into()),
        ])
        .unwrap();
    assert!(matches!(
        results[0],
        Err(SubscribeError::NotAuthorized { .. })
    ));
    assert_eq!(results[1], Ok(QoS::AtMostOnce));
    assert_eq!(
        hooks.events(),
        [
            "connect pw Some(\"mallory\") Hooks",
            "publish c secret/plans Hooks",
            "subscribe c secret/# Hooks",
        ]
    );
}

/// A frontend reports refusals by rules of its own with `Broker::emit_event`; without hooks
/// it is a no-op.
#[test]
fn emit_event_reaches_on_event() {
    let hooks = Strict::default();
    let broker = hooks.broker();
    broker.emit_event(&Event::DeliveryDenied {
        client_id: "c",
        topic: "a/b",
        reason: DenyReason::Acl,
    });
    broker.emit_event(&Event::ReauthDenied {
        client_id: "c",
        username: None,
        reason: DenyReason::AuthenticationFailed,
    });
    assert_eq!(
        hooks.events(),
        ["delivery c a/b Acl", "reauth c AuthenticationFailed"]
    );
    let plain = common::broker();
    plain.emit_event(&Event::DeliveryDenied {
        client_id: "c",
        topic: "a/b",
        reason: DenyReason::Acl,
    });
    drop(connect(&plain, "still-works"));
}

/// Panics in `on_event` on the connect or the disconnect of clients named `boom…`.
#[derive(Debug)]
struct PanicsOn {
    connect: bool,
}

impl Hooks for PanicsOn {
    fn on_event(&self, event: &Event<'_>) {
        match event {
            Event::ClientConnected { client_id, .. }
                if self.connect && client_id.starts_with("boom") =>
            {
                panic!("on_event panics on purpose at connect")
            }
            Event::ClientDisconnected { client_id, .. }
                if !self.connect && client_id.starts_with("boom") =>
            {
                panic!("on_event panics on purpose at disconnect")
            }
            _ => {}
        }
    }
}

/// A watcher of `wills/#` on a broker whose `on_event` panics as `connect` says.
fn panicking_broker(connect_panics: bool) -> (Broker, mqlite::Client) {
    let broker = Broker::builder()
        .hooks(PanicsOn {
            connect: connect_panics,
        })
        .build();
    let watcher = connect(&broker, "watcher");
    watcher.subscribe("wills/#", QoS::AtMostOnce).unwrap();
    (broker, watcher)
}

fn connect_boom(broker: &Broker) -> Result<mqlite::Client, ConnectError> {
    broker.connect(ConnectOptions::new("boom").will(Will::new("wills/boom", "gone").unwrap()))
}

/// An embedder's hook that panics while a client connects ends that session as lost (its
/// will is published once, it is no longer counted as connected) instead of leaving it
/// attached to a handle that never reached the caller.
#[test]
fn hook_panic_at_connect_leaves_no_session_attached() {
    let (broker, watcher) = panicking_broker(true);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| connect_boom(&broker)));
    assert!(outcome.is_err(), "the hook's panic reaches the caller");
    let will = watcher.recv_timeout(common::WAIT).unwrap();
    assert_eq!(
        (will.topic(), will.payload().as_ref()),
        ("wills/boom", &b"gone"[..])
    );
    assert_eq!(broker.stats().clients_connected, 1, "only the watcher");
    assert!(watcher.try_recv().is_err(), "the will went out once");
}

/// A hook that panics on a disconnect event loses no will: wills go out before the events
/// are reported.
#[test]
fn hook_panic_at_disconnect_loses_no_will() {
    let (broker, watcher) = panicking_broker(false);
    let boom = connect_boom(&broker).unwrap();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(boom)));
    assert!(
        outcome.is_err(),
        "the hook's panic reaches the dropping thread"
    );
    let will = watcher.recv_timeout(common::WAIT).unwrap();
    assert_eq!(
        (will.topic(), will.payload().as_ref()),
        ("wills/boom", &b"gone"[..])
    );
    drop(connect(&broker, "still-works"));
}
