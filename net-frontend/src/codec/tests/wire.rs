//! Valid packets as byte literals, one comment per field, checked both ways.

use bytes::Bytes;
use mqlite::{QoS, RetainHandling, SubOptions, TopicFilter};

use super::*;

/// CONNACK 3.1.1 return code 5 is 5.0's Not authorized; session present is bit 0.
#[test]
fn connack_v311_return_code_maps_to_reason_code() {
    let bytes = [
        0x20, 0x02, // CONNACK, remaining length 2
        0x01, // session present
        0x05, // return code 5: not authorized
    ];
    let packet = decode_one(&bytes, ProtocolVersion::V311);
    let expected = ConnAck {
        session_present: true,
        reason_code: ReasonCode::NOT_AUTHORIZED,
        properties: Properties::default(),
    };
    assert_eq!(packet, Packet::ConnAck(expected));
    assert_eq!(encode_vec(&packet, ProtocolVersion::V311), bytes);
}

/// CONNACK 5.0 with reason code and CONNACK-only properties.
#[test]
fn connack_v5_with_properties() {
    let bytes = [
        0x20, 0x08, // CONNACK, remaining length 8
        0x00, // no session present
        0x00, // success
        0x05, // property length 5
        0x13, 0x00, 0x1E, // server keep alive 30
        0x24, 0x00, // maximum QoS 0
    ];
    let Packet::ConnAck(ack) = decode_one(&bytes, ProtocolVersion::V5) else {
        panic!("not a CONNACK")
    };
    assert_eq!(ack.properties.maximum_qos, Some(QoS::AtMostOnce));
    assert_eq!(ack.properties.server_keep_alive, Some(30));
    assert_eq!(
        encode_vec(&Packet::ConnAck(ack), ProtocolVersion::V5),
        bytes
    );
}

/// PUBLISH 3.1.1 QoS 1: the payload is everything after the packet identifier, and it is
/// split from the input buffer without a copy.
#[test]
fn publish_v311_qos1_payload_is_zero_copy() {
    let bytes = [
        0x3B, 0x09, // PUBLISH, DUP, QoS 1, RETAIN; remaining length 9
        0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
        0x00, 0x07, // packet id 7
        b'h', b'i', // payload
    ];
    let mut buf = BytesMut::from(&bytes[..]);
    buf.extend_from_slice(&SENTINEL);
    let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
    let Some(Packet::Publish(p)) = decode(&mut buf, ProtocolVersion::V311, &limits()).unwrap()
    else {
        panic!("not a PUBLISH")
    };
    assert_eq!(&buf[..], &SENTINEL);
    assert!(
        range.contains(&(p.payload.as_ptr() as usize)),
        "payload was copied"
    );
    assert!(
        range.contains(&(p.topic.as_bytes().as_ptr() as usize)),
        "topic was copied"
    );
    assert_eq!((p.dup, p.qos, p.retain), (true, QoS::AtLeastOnce, true));
    assert_eq!((p.topic.as_str(), p.packet_id), ("a/b", Some(pid(7))));
    assert_eq!(p.payload, Bytes::from_static(b"hi"));
    assert_eq!(
        encode_vec(&Packet::Publish(p), ProtocolVersion::V311),
        bytes
    );
}

/// PUBLISH 5.0 with an empty topic and a topic alias (5.0 §3.3.2.3.4).
#[test]
fn publish_v5_empty_topic_with_alias() {
    let bytes = [
        0x30, 0x07, // PUBLISH QoS 0, remaining length 7
        0x00, 0x00, // empty topic
        0x03, // property length 3
        0x23, 0x00, 0x02, // topic alias 2
        b'x', // payload
    ];
    let Packet::Publish(p) = decode_one(&bytes, ProtocolVersion::V5) else {
        panic!("not a PUBLISH")
    };
    assert!(p.topic.is_empty());
    assert_eq!(p.properties.topic_alias, Some(2));
    assert_eq!(encode_vec(&Packet::Publish(p), ProtocolVersion::V5), bytes);
}

/// PUBACK in 3.1.1, and the short 5.0 forms: no reason code means success [MQTT-3.4.2.1].
#[test]
fn acks_short_forms() {
    let bytes = [0x40, 0x02, 0x12, 0x34]; // PUBACK, length 2, packet id 0x1234
    let expected = Packet::PubAck(PubAck::new(pid(0x1234)));
    for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
        assert_eq!(decode_one(&bytes, version), expected);
        assert_eq!(encode_vec(&expected, version), bytes);
    }
    let rel = [0x62, 0x02, 0x00, 0x01]; // PUBREL (flags 0b0010), length 2, packet id 1
    assert_eq!(
        decode_one(&rel, ProtocolVersion::V31),
        Packet::PubRel(PubRel::new(pid(1)))
    );
}

/// PUBREC 5.0 with a reason code and no properties.
#[test]
fn pubrec_v5_reason_code_without_properties() {
    let bytes = [
        0x50, 0x03, // PUBREC, remaining length 3
        0x00, 0x09, // packet id 9
        0x10, // no matching subscribers
    ];
    let mut expected = PubRec::new(pid(9));
    expected.reason_code = ReasonCode::NO_MATCHING_SUBSCRIBERS;
    assert_eq!(
        decode_one(&bytes, ProtocolVersion::V5),
        Packet::PubRec(expected.clone())
    );
    assert_eq!(
        encode_vec(&Packet::PubRec(expected), ProtocolVersion::V5),
        bytes
    );
}

/// SUBSCRIBE 5.0: options bits and a subscription identifier (5.0 §3.8.3.1).
#[test]
fn subscribe_v5_options_and_identifier() {
    let bytes = [
        0x82, 0x0F, // SUBSCRIBE (flags 0b0010), remaining length 15
        0x00, 0x05, // packet id 5
        0x02, // property length 2
        0x0B, 0x07, // subscription identifier 7
        0x00, 0x03, b'a', b'/', b'+', // filter "a/+"
        0x2E, // retain handling 2, retain as published, no local, QoS 2
        0x00, 0x01, b'#', // filter "#"
        0x00, // QoS 0
    ];
    let Packet::Subscribe(s) = decode_one(&bytes, ProtocolVersion::V5) else {
        panic!("not a SUBSCRIBE")
    };
    assert_eq!(s.properties.subscription_identifiers, [7]);
    let first = SubOptions::new(QoS::ExactlyOnce)
        .no_local(true)
        .retain_as_published(true)
        .retain_handling(RetainHandling::DoNotSend);
    assert_eq!(s.filters[0], (TopicFilter::new("a/+").unwrap(), first));
    assert_eq!(
        s.filters[1],
        (
            TopicFilter::new("#").unwrap(),
            SubOptions::new(QoS::AtMostOnce)
        )
    );
    assert_eq!(
        encode_vec(&Packet::Subscribe(s), ProtocolVersion::V5),
        bytes
    );
}

/// SUBACK 3.1.1 return codes, and UNSUBACK in 3.1.1 (identifier only) and 5.0 (codes).
#[test]
fn suback_and_unsuback() {
    let suback = [
        0x90, 0x04, // SUBACK, remaining length 4
        0x00, 0x05, // packet id 5
        0x01, 0x80, // granted QoS 1, failure
    ];
    let Packet::SubAck(s) = decode_one(&suback, ProtocolVersion::V311) else {
        panic!("not a SUBACK")
    };
    assert_eq!(
        s.reason_codes,
        [ReasonCode::GRANTED_QOS_1, ReasonCode::UNSPECIFIED_ERROR]
    );
    let unsuback_v311 = [0xB0, 0x02, 0x00, 0x06]; // UNSUBACK, length 2, packet id 6
    let Packet::UnsubAck(u) = decode_one(&unsuback_v311, ProtocolVersion::V311) else {
        panic!("not an UNSUBACK")
    };
    assert!(u.reason_codes.is_empty());
    let unsuback_v5 = [
        0xB0, 0x04, // UNSUBACK, remaining length 4
        0x00, 0x06, // packet id 6
        0x00, // property length 0
        0x11, // no subscription existed
    ];
    let Packet::UnsubAck(u) = decode_one(&unsuback_v5, ProtocolVersion::V5) else {
        panic!("not an UNSUBACK")
    };
    assert_eq!(u.reason_codes, [ReasonCode::NO_SUBSCRIPTION_EXISTED]);
}

/// UNSUBSCRIBE 3.1.1 with two filters.
#[test]
fn unsubscribe_v311() {
    let bytes = [
        0xA2, 0x09, // UNSUBSCRIBE (flags 0b0010), remaining length 9
        0x00, 0x02, // packet id 2
        0x00, 0x01, b'a', // filter "a"
        0x00, 0x02, b'b', b'/', // filter "b/"
    ];
    let Packet::Unsubscribe(u) = decode_one(&bytes, ProtocolVersion::V311) else {
        panic!("not an UNSUBSCRIBE")
    };
    assert_eq!(
        u.filters,
        [
            TopicFilter::new("a").unwrap(),
            TopicFilter::new("b/").unwrap()
        ]
    );
    assert_eq!(
        encode_vec(&Packet::Unsubscribe(u), ProtocolVersion::V311),
        bytes
    );
}

/// PINGREQ, PINGRESP and a 3.1.1 DISCONNECT are two bytes.
#[test]
fn empty_packets() {
    for (bytes, packet) in [
        ([0xC0, 0x00], Packet::PingReq),
        ([0xD0, 0x00], Packet::PingResp),
        ([0xE0, 0x00], Packet::Disconnect(Disconnect::default())),
    ] {
        for version in [
            ProtocolVersion::V31,
            ProtocolVersion::V311,
            ProtocolVersion::V5,
        ] {
            assert_eq!(decode_one(&bytes, version), packet);
            assert_eq!(encode_vec(&packet, version), bytes);
        }
    }
}

/// DISCONNECT 5.0 with session taken over and a reason string; AUTH with continue.
#[test]
fn disconnect_and_auth_v5() {
    let bytes = [
        0xE0, 0x06, // DISCONNECT, remaining length 6
        0x8E, // session taken over
        0x04, // property length 4
        0x1F, 0x00, 0x01, b'x', // reason string "x"
    ];
    let Packet::Disconnect(d) = decode_one(&bytes, ProtocolVersion::V5) else {
        panic!("not a DISCONNECT")
    };
    assert_eq!(d.reason_code, ReasonCode::SESSION_TAKEN_OVER);
    assert_eq!(d.properties.reason_string.as_deref(), Some("x"));
    assert_eq!(
        encode_vec(&Packet::Disconnect(d), ProtocolVersion::V5),
        bytes
    );
    let auth = [
        0xF0, 0x08, // AUTH, remaining length 8
        0x18, // continue authentication
        0x06, // property length 6
        0x15, 0x00, 0x03, b'k', b'r', b'b', // authentication method "krb"
    ];
    let Packet::Auth(a) = decode_one(&auth, ProtocolVersion::V5) else {
        panic!("not an AUTH")
    };
    assert_eq!(a.reason_code, ReasonCode::CONTINUE_AUTHENTICATION);
    assert_eq!(encode_vec(&Packet::Auth(a), ProtocolVersion::V5), auth);
}

/// Every proper prefix of a packet is "need more bytes", with the buffer untouched.
#[test]
fn every_prefix_needs_more_bytes() {
    let bytes = [0x30, 0x05, 0x00, 0x01, b't', b'h', b'i']; // PUBLISH "t" "hi"
    for end in 0..bytes.len() {
        let mut buf = BytesMut::from(&bytes[..end]);
        assert_eq!(decode(&mut buf, ProtocolVersion::V311, &limits()), Ok(None));
        assert_eq!(&buf[..], &bytes[..end]);
    }
}

/// A failed encode leaves the output buffer as it was.
#[test]
fn failed_encode_leaves_output_untouched() {
    let mut out = BytesMut::from(&b"kept"[..]);
    let err = encode(
        &Packet::Auth(Auth::default()),
        ProtocolVersion::V311,
        &mut out,
    );
    assert_eq!(
        err,
        Err(EncodeError::PacketNotInVersion {
            packet: PacketType::Auth,
            version: ProtocolVersion::V311
        })
    );
    let mut publish = Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: PublishTopic::new("t").unwrap(),
        packet_id: None,
        properties: Properties::default(),
        payload: Bytes::new(),
    };
    let err = encode(
        &Packet::Publish(publish.clone()),
        ProtocolVersion::V5,
        &mut out,
    );
    assert_eq!(
        err,
        Err(EncodeError::PacketIdMismatch {
            qos: QoS::AtLeastOnce
        })
    );
    publish.packet_id = Some(pid(1));
    publish.properties.topic_alias = Some(1);
    let err = encode(&Packet::Publish(publish), ProtocolVersion::V311, &mut out);
    assert!(matches!(
        err,
        Err(EncodeError::NotInVersion {
            what: "properties",
            ..
        })
    ));
    assert_eq!(&out[..], b"kept");
}

/// A 3.1.1 UNSUBACK has no reason codes, and 5.0 needs one per filter [MQTT-3.11.3-1]: it
/// does not encode in 5.0 rather than as bytes that no decoder accepts. Found by the `decode`
/// fuzz target (net-frontend/fuzz), which encodes each decoded packet in every version.
#[test]
fn unsuback_without_reason_codes_does_not_encode_in_v5() {
    let bytes = [
        0xB0, 0x02, // UNSUBACK, remaining length 2
        0x00, 0x06, // packet id 6
    ];
    let packet = decode_one(&bytes, ProtocolVersion::V311);
    let mut out = BytesMut::from(&b"kept"[..]);
    assert_eq!(
        encode(&packet, ProtocolVersion::V5, &mut out),
        Err(EncodeError::NotInVersion {
            what: "an UNSUBACK without reason codes",
            version: ProtocolVersion::V5
        })
    );
    assert_eq!(&out[..], b"kept");
}
