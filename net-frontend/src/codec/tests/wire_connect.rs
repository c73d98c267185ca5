//! CONNECT of each version as byte literals, one comment per field, checked both ways.

use mqlite::QoS;

use super::*;

/// A CONNECT 3.1.1 with clean session and keep alive 60 (3.1.1 §3.1).
#[test]
fn connect_v311_minimal() {
    let bytes = [
        0x10, 0x0E, // CONNECT, remaining length 14
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
        0x04, // level 4
        0x02, // flags: clean session
        0x00, 0x3C, // keep alive 60
        0x00, 0x02, b'a', b'b', // client id "ab"
    ];
    let Packet::Connect(c) = decode_one(&bytes, ProtocolVersion::V5) else {
        panic!("not a CONNECT")
    };
    assert_eq!(c.protocol_version, ProtocolVersion::V311);
    assert!(c.clean_start);
    assert_eq!(c.keep_alive, 60);
    assert_eq!(c.client_id, "ab");
    assert_eq!(c.will, None);
    assert_eq!(
        encode_vec(&Packet::Connect(c), ProtocolVersion::V311),
        bytes
    );
}

/// A CONNECT 3.1 (`MQIsdp`, level 3) with will, user name and password.
#[test]
fn connect_v31_with_will_and_credentials() {
    let bytes = [
        0x10, 0x1D, // CONNECT, remaining length 29
        0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', // protocol name
        0x03, // level 3
        0xEC, // flags: user name, password, will retain, will QoS 1, will
        0x00, 0x0A, // keep alive 10
        0x00, 0x01, b'c', // client id
        0x00, 0x01, b't', // will topic
        0x00, 0x02, b'h', b'i', // will payload
        0x00, 0x01, b'u', // user name
        0x00, 0x02, 0x01, 0x02, // password
    ];
    let Packet::Connect(c) = decode_one(&bytes, ProtocolVersion::V311) else {
        panic!("not a CONNECT")
    };
    assert_eq!(c.protocol_version, ProtocolVersion::V31);
    assert!(!c.clean_start);
    let will = c.will.as_ref().expect("will");
    assert_eq!((will.topic.as_str(), &will.payload[..]), ("t", &b"hi"[..]));
    assert_eq!((will.qos, will.retain), (QoS::AtLeastOnce, true));
    assert_eq!(c.username.as_deref(), Some("u"));
    assert_eq!(c.password.as_deref(), Some(&[1u8, 2][..]));
    assert_eq!(encode_vec(&Packet::Connect(c), ProtocolVersion::V31), bytes);
}

/// A CONNECT 5.0 with properties and will properties (5.0 §3.1.2.11, §3.1.3.2).
#[test]
fn connect_v5_with_properties() {
    let bytes = [
        0x10, 0x1D, // CONNECT, remaining length 29
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
        0x05, // level 5
        0x06, // flags: will (QoS 0), clean start
        0x00, 0x00, // keep alive 0
        0x08, // property length 8
        0x11, 0x00, 0x00, 0x00, 0x78, // session expiry interval 120
        0x21, 0x00, 0x0A, // receive maximum 10
        0x00, 0x00, // empty client id
        0x02, // will property length 2
        0x01, 0x01, // payload format indicator: UTF-8
        0x00, 0x01, b'w', // will topic
        0x00, 0x00, // empty will payload
    ];
    let Packet::Connect(c) = decode_one(&bytes, ProtocolVersion::V31) else {
        panic!("not a CONNECT")
    };
    assert_eq!(c.protocol_version, ProtocolVersion::V5);
    assert_eq!(c.properties.session_expiry_interval, Some(120));
    assert_eq!(c.properties.receive_maximum, Some(10));
    let will = c.will.as_ref().expect("will");
    assert_eq!(will.properties.payload_format_indicator, Some(true));
    assert_eq!(encode_vec(&Packet::Connect(c), ProtocolVersion::V5), bytes);
}

/// `decode_connect` returns the CONNECT, whose version the rest of the connection uses.
#[test]
fn decode_connect_reads_the_version() {
    let mut buf = BytesMut::from(
        &encode_vec(
            &Packet::Connect(Box::new(Connect {
                protocol_version: ProtocolVersion::V31,
                clean_start: true,
                keep_alive: 5,
                properties: Properties::default(),
                client_id: "c".into(),
                will: None,
                username: None,
                password: None,
            })),
            ProtocolVersion::V5,
        )[..],
    );
    let connect = decode_connect(&mut buf, &limits())
        .unwrap()
        .expect("whole packet");
    assert_eq!(connect.protocol_version, ProtocolVersion::V31);
    assert!(buf.is_empty());
}
