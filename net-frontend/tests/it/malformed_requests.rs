//! Requests a connected client may not make, as raw bytes over a real socket: topic aliases
//! out of range, subscription identifiers in PUBLISH, bad SUBSCRIBE and UNSUBSCRIBE, packets
//! only a server sends, AUTH without a method, a DISCONNECT raising the session expiry, more
//! QoS 2 than the Receive Maximum, a second CONNECT. Each checks the exact reply, the close
//! and the counter, as in `malformed.rs`.

use crate::common;

use common::*;
use mqlite::Broker;

/// A second CONNECT is a protocol error [MQTT-3.1.0-2].
#[test]
fn second_connect_is_a_protocol_error() {
    let v5 = [
        0x10, 0x0E, // CONNECT, remaining length 14
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
        0x05, // level 5
        0x02, // clean start
        0x00, 0x3C, // keep alive 60
        0x00, // no properties
        0x00, 0x01, b'x', // client id "x"
    ];
    let v311 = [
        0x10, 0x0D, // CONNECT, remaining length 13
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
        0x04, // level 4
        0x02, // clean session
        0x00, 0x3C, // keep alive 60
        0x00, 0x01, b'x', // client id "x"
    ];
    both_versions("second CONNECT", &v5, &v311, 0x82, Counted::Protocol);
}

/// Only the server sends Subscription Identifiers in PUBLISH [MQTT-3.3.4-6].
#[test]
fn subscription_identifier_in_publish_is_a_protocol_error() {
    let input = [
        0x30, 0x07, // PUBLISH QoS 0, remaining length 7
        0x00, 0x01, b't', // topic "t"
        0x02, // property length 2
        0x0B, 0x05, // Subscription Identifier 5
        b'x', // payload
    ];
    v5_only(
        "subscription identifier in PUBLISH",
        &input,
        0x82,
        Counted::Protocol,
    );
}

/// A Topic Alias above the Topic Alias Maximum of the CONNACK is 0x94 Topic Alias invalid
/// [MQTT-3.3.2-9].
#[test]
fn topic_alias_above_maximum_is_invalid() {
    let mut two = config();
    two.topic_alias_maximum = 2;
    let input = [
        0x30, 0x08, // PUBLISH QoS 0, remaining length 8
        0x00, 0x01, b't', // topic "t"
        0x03, // property length 3
        0x23, 0x00, 0x03, // Topic Alias 3
        b'x', // payload
    ];
    let reply = disconnect_bytes(0x94);
    expect_after_connect(
        "Topic Alias 3 of 2",
        two,
        V5,
        &input,
        &reply,
        Counted::Protocol,
    );
}

/// Topic Alias 0 is not permitted [MQTT-3.3.2-8]: 0x94 Topic Alias invalid, like an alias
/// above the maximum.
#[test]
fn topic_alias_0_is_invalid() {
    let input = [
        0x30, 0x08, // PUBLISH QoS 0, remaining length 8
        0x00, 0x01, b't', // topic "t"
        0x03, // property length 3
        0x23, 0x00, 0x00, // Topic Alias 0
        b'x', // payload
    ];
    let (_broker, server) = start(config());
    let mut client = TestClient::connect(server.local_addr(), V5, "bad");
    client.send_bytes(&input);
    assert_eq!(client.read_until_eof(), disconnect_bytes(0x94));
}

/// An empty topic with an alias that was never set is a protocol error (5.0 §3.3.2.3.4).
#[test]
fn unknown_topic_alias_is_a_protocol_error() {
    let input = [
        0x30, 0x07, // PUBLISH QoS 0, remaining length 7
        0x00, 0x00, // empty topic
        0x03, // property length 3
        0x23, 0x00, 0x01, // Topic Alias 1, never set
        b'x', // payload
    ];
    v5_only("unknown Topic Alias", &input, 0x82, Counted::Protocol);
}

/// SUBSCRIBE needs at least one filter [MQTT-3.8.3-3].
#[test]
fn subscribe_without_filters_is_a_protocol_error() {
    let v5 = [
        0x82, 0x03, // SUBSCRIBE, remaining length 3
        0x00, 0x01, // packet id 1
        0x00, // no properties, no filters
    ];
    let v311 = [
        0x82, 0x02, // SUBSCRIBE, remaining length 2
        0x00, 0x01, // packet id 1, no filters
    ];
    both_versions(
        "SUBSCRIBE without filters",
        &v5,
        &v311,
        0x82,
        Counted::Protocol,
    );
}

/// Reserved bits of the subscription options must be 0 [MQTT-3.8.3-5] (3.1.1: bits 7-2
/// [MQTT-3-8.3-4]).
#[test]
fn subscribe_with_reserved_option_bits_is_a_protocol_error() {
    let v5 = [
        0x82, 0x07, // SUBSCRIBE, remaining length 7
        0x00, 0x01, // packet id 1
        0x00, // no properties
        0x00, 0x01, b't', // filter "t"
        0xC0, // options: reserved bits 7-6 set
    ];
    let v311 = [
        0x82, 0x06, // SUBSCRIBE, remaining length 6
        0x00, 0x01, // packet id 1
        0x00, 0x01, b't', // filter "t"
        0x04, // options: reserved bit 2 set
    ];
    both_versions("reserved option bits", &v5, &v311, 0x82, Counted::Protocol);
}

/// Retain Handling 3 does not exist [MQTT-3.8.3-5].
#[test]
fn subscribe_with_retain_handling_3_is_a_protocol_error() {
    let input = [
        0x82, 0x07, // SUBSCRIBE, remaining length 7
        0x00, 0x01, // packet id 1
        0x00, // no properties
        0x00, 0x01, b't', // filter "t"
        0x30, // options: Retain Handling 3
    ];
    v5_only("Retain Handling 3", &input, 0x82, Counted::Protocol);
}

/// A topic filter with `#` before its last level is invalid [MQTT-4.7.1-1]: 5.0 closes with
/// 0x8F Topic Filter invalid.
#[test]
fn subscribe_with_invalid_filter_is_refused() {
    let v5 = [
        0x82, 0x0B, // SUBSCRIBE, remaining length 11
        0x00, 0x01, // packet id 1
        0x00, // no properties
        0x00, 0x05, b'a', b'/', b'#', b'/', b'b', // filter "a/#/b"
        0x00, // options: QoS 0
    ];
    let v311 = [
        0x82, 0x0A, // SUBSCRIBE, remaining length 10
        0x00, 0x01, // packet id 1
        0x00, 0x05, b'a', b'/', b'#', b'/', b'b', // filter "a/#/b"
        0x00, // QoS 0
    ];
    both_versions("filter a/#/b", &v5, &v311, 0x8F, Counted::Malformed);
}

/// UNSUBSCRIBE needs at least one filter [MQTT-3.10.3-2].
#[test]
fn unsubscribe_without_filters_is_a_protocol_error() {
    let v5 = [
        0xA2, 0x03, // UNSUBSCRIBE, remaining length 3
        0x00, 0x01, // packet id 1
        0x00, // no properties, no filters
    ];
    let v311 = [
        0xA2, 0x02, // UNSUBSCRIBE, remaining length 2
        0x00, 0x01, // packet id 1, no filters
    ];
    both_versions(
        "UNSUBSCRIBE without filters",
        &v5,
        &v311,
        0x82,
        Counted::Protocol,
    );
}

/// CONNACK is a server's packet: from a client it is a protocol error (5.0 §4.13).
#[test]
fn connack_from_a_client_is_a_protocol_error() {
    let v5 = [
        0x20, 0x03, // CONNACK, remaining length 3
        0x00, // no session present
        0x00, // success
        0x00, // no properties
    ];
    let v311 = [
        0x20, 0x02, // CONNACK, remaining length 2
        0x00, 0x00, // no session present, accepted
    ];
    both_versions("CONNACK from a client", &v5, &v311, 0x82, Counted::Protocol);
}

/// SUBACK is a server's packet: from a client it is a protocol error (5.0 §4.13).
#[test]
fn suback_from_a_client_is_a_protocol_error() {
    let v5 = [
        0x90, 0x04, // SUBACK, remaining length 4
        0x00, 0x01, // packet id 1
        0x00, // no properties
        0x00, // granted QoS 0
    ];
    let v311 = [
        0x90, 0x03, // SUBACK, remaining length 3
        0x00, 0x01, // packet id 1
        0x00, // granted QoS 0
    ];
    both_versions("SUBACK from a client", &v5, &v311, 0x82, Counted::Protocol);
}

/// AUTH from a client that connected without an Authentication Method is a protocol error
/// [MQTT-4.12.0-1] (§3.15).
#[test]
fn auth_without_authentication_method_is_a_protocol_error() {
    let input = [
        0xF0, 0x00, // AUTH, remaining length 0 (success, no properties)
    ];
    v5_only("AUTH without method", &input, 0x82, Counted::Protocol);
}

/// DISCONNECT may not set a Session Expiry Interval when CONNECT had none [MQTT-3.14.2-2].
#[test]
fn disconnect_raising_session_expiry_is_a_protocol_error() {
    let input = [
        0xE0, 0x07, // DISCONNECT, remaining length 7
        0x00, // normal disconnection
        0x05, // property length 5
        0x11, 0x00, 0x00, 0x00, 0x3C, // Session Expiry Interval 60
    ];
    v5_only(
        "DISCONNECT raising session expiry",
        &input,
        0x82,
        Counted::Protocol,
    );
}

/// More unreleased QoS 2 PUBLISHes than the CONNACK's Receive Maximum: 0x93 Receive Maximum
/// exceeded (5.0 §3.3.4, the client's rule [MQTT-3.3.4-7]).
#[test]
fn qos2_over_receive_maximum_is_refused() {
    let mut core = mqlite::Config::default();
    core.max_inflight_messages = 1;
    let broker = Broker::new(core);
    let server = serve(&broker, config());
    let mut client = TestClient::connect(server.local_addr(), V5, "greedy");
    client.send_bytes(&[
        0x34, 0x07, // PUBLISH QoS 2, remaining length 7
        0x00, 0x01, b't', // topic "t"
        0x00, 0x01, // packet id 1
        0x00, // no properties
        b'x', // payload
        0x34, 0x07, // PUBLISH QoS 2, remaining length 7
        0x00, 0x01, b't', // topic "t"
        0x00, 0x02, // packet id 2: a second one before PUBREL of the first
        0x00, // no properties
        b'x', // payload
    ]);
    let reply = client.read_until_eof();
    let expected = [
        0x50, 0x02, 0x00, 0x01, // PUBREC for packet id 1
        0xE0, 0x01, 0x93, // DISCONNECT 0x93 Receive Maximum exceeded
    ];
    assert_eq!(reply, expected);
    drop(client);
    assert_counted(&server, "Receive Maximum exceeded", Counted::Protocol);
}

/// A connection closed for exceeding the Receive Maximum is counted out once: the broker's
/// count of connected clients goes back to zero and `max_clients` still admits others.
#[test]
fn receive_maximum_close_is_counted_out_once() {
    let mut core = mqlite::Config::default();
    core.max_inflight_messages = 1;
    core.max_clients = 2;
    let broker = Broker::new(core);
    let server = serve(&broker, config());
    for round in 0..3 {
        let mut client = TestClient::connect(server.local_addr(), V311, &format!("g{round}"));
        client.send_bytes(&[
            0x34, 0x06, 0x00, 0x01, b't', 0x00, 0x01, b'x', // PUBLISH QoS 2 id 1
            0x34, 0x06, 0x00, 0x01, b't', 0x00, 0x02, b'x', // id 2 before PUBREL of 1
        ]);
        let _ = client.read_until_eof();
        drop(client);
        crate::common::wait_until("the connection to be counted out", || {
            broker.stats().clients_connected == 0
        });
    }
    let _ok = TestClient::connect(server.local_addr(), V311, "after");
}
