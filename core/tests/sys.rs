//! `$SYS` statistics, published on the broker clock.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{assert_empty, broker_with, connect, drain};
use mqlite::{Config, QoS};

/// `$SYS/broker/...` topics use Mosquitto's names, are published each `sys_interval`, and
/// are not matched by `#` [MQTT-4.7.2-1].
#[test]
fn sys_topics_published_each_interval() {
    let mut config = Config::default();
    config.sys_interval = Some(Duration::from_secs(10));
    let (broker, clock) = broker_with(config);
    let all = connect(&broker, "all");
    all.subscribe("#", QoS::AtMostOnce).unwrap();
    let sys = connect(&broker, "sys");
    sys.subscribe("$SYS/#", QoS::AtMostOnce).unwrap();
    sys.publish("x", "1", QoS::AtMostOnce, true).unwrap();
    drain(&all);
    broker.tick();
    let values: HashMap<_, _> = drain(&sys).into_iter().collect();
    assert_eq!(values["$SYS/broker/clients/connected"], "2");
    assert_eq!(values["$SYS/broker/retained messages/count"], "1");
    assert_eq!(values["$SYS/broker/subscriptions/count"], "2");
    assert_eq!(values["$SYS/broker/messages/received"], "1");
    assert_eq!(values["$SYS/broker/uptime"], "0 seconds");
    assert!(values["$SYS/broker/version"].starts_with("mqlite "));
    assert!(values.contains_key("$SYS/broker/messages/sent"));
    assert!(values.contains_key("$SYS/broker/publish/messages/dropped"));
    assert_empty(&all);
    clock.advance(Duration::from_secs(5));
    broker.tick();
    assert_empty(&sys);
    clock.advance(Duration::from_secs(5));
    assert_eq!(broker.tick(), Some(Duration::from_secs(10)));
    let values: HashMap<_, _> = drain(&sys).into_iter().collect();
    assert_eq!(values["$SYS/broker/uptime"], "10 seconds");
}
