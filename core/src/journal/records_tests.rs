use super::*;
use proptest::prelude::*;

const TIME: TimeBase = TimeBase {
    clock: Duration::from_secs(100),
    unix: Duration::from_secs(1_767_225_600),
};

fn topic() -> impl Strategy<Value = TopicName> {
    "[a-z]{1,6}(/[a-z0-9]{1,6}){0,3}".prop_map(|t| TopicName::new(&t).expect("valid"))
}

fn qos() -> impl Strategy<Value = QoS> {
    (0u8..3).prop_map(|q| QoS::from_u8(q).expect("0..3"))
}

fn properties() -> impl Strategy<Value = Option<PublishProperties>> {
    proptest::option::of(
        (
            proptest::option::of(any::<bool>()),
            proptest::option::of(0u64..1_000_000),
            proptest::option::of("[a-z/]{0,12}"),
            proptest::option::of(any::<Vec<u8>>()),
            proptest::collection::vec(("[a-z]{0,5}", "[a-z]{0,5}"), 0..3),
        )
            .prop_map(|(pfi, expiry, ct, corr, users)| {
                let mut p = PublishProperties::new();
                p.payload_format_indicator = pfi;
                p.message_expiry_interval = expiry.map(Duration::from_millis);
                p.content_type = ct;
                p.correlation_data = corr.map(Bytes::from);
                p.user_properties = users;
                p
            }),
    )
}

fn publication() -> impl Strategy<Value = Publication> {
    (
        topic(),
        any::<Vec<u8>>(),
        qos(),
        any::<bool>(),
        properties(),
        proptest::option::of(0u64..10_000_000),
    )
        .prop_map(
            |(topic, payload, qos, retain, props, expiry_ms)| Publication {
                topic,
                payload: Bytes::from(payload),
                qos,
                retain,
                properties: props.map(ValueArc::new),
                origin: None,
                // Whole milliseconds: the record keeps milliseconds.
                expires_at: expiry_ms.map_or(Deadline::NONE, |ms| {
                    Deadline::at(TIME.clock + Duration::from_millis(ms))
                }),
                inbound_id: 0,
            },
        )
}

fn same_publication(a: &Publication, b: &Publication) -> bool {
    a.topic == b.topic
        && a.payload == b.payload
        && a.qos == b.qos
        && a.retain == b.retain
        && a.properties.as_deref() == b.properties.as_deref()
        && a.expires_at == b.expires_at
}

fn round_trip(record: &Record) -> Record {
    let (kind, bytes) = record.encode(TIME);
    Record::decode(kind, &bytes, TIME).expect("decodes")
}

proptest! {
    /// Every delivery record decodes to the delivery it was made of.
    #[test]
    fn delivery_round_trips(
        p in publication(),
        q in qos(),
        retain: bool,
        ids in proptest::collection::vec(1u32..1_000_000, 0..3),
        shared: bool,
        session: u64,
    ) {
        let mut delivery = Delivery::new(p, q, retain, ids.clone());
        if shared {
            delivery.extra.get_or_insert_with(Default::default).shared =
                Some(TopicFilter::new("$share/g/a/#").expect("valid"));
        }
        let tag = Some(InboundTag { epoch: session, key: 3, packet_id: 9 });
        let record = Record::Delivery(DeliveryRecord {
            session,
            id: session ^ 0x55,
            tag,
            delivery: delivery.clone(),
        });
        // The journal encodes deliveries from a borrowed delivery: the same bytes.
        let mut bytes = Vec::new();
        encode_delivery_into(&mut bytes, session, session ^ 0x55, tag, &delivery, TIME);
        prop_assert_eq!(bytes, record.encode(TIME).1);
        let Record::Delivery(back) = round_trip(&record) else {
            panic!("kind changed");
        };
        prop_assert_eq!(back.session, session);
        prop_assert_eq!(back.id, session ^ 0x55);
        prop_assert_eq!(back.tag, Some(InboundTag { epoch: session, key: 3, packet_id: 9 }));
        prop_assert!(same_publication(&back.delivery.publication, &delivery.publication));
        prop_assert_eq!(back.delivery.qos, q);
        prop_assert_eq!(back.delivery.retain, retain);
        let back_ids = back.delivery.extra.as_ref().map(|e| e.subscription_ids.clone()).unwrap_or_default();
        prop_assert_eq!(back_ids, ids);
        prop_assert_eq!(back.delivery.shared().is_some(), shared);
    }

    /// Every session record decodes to itself.
    #[test]
    fn session_round_trips(
        no: u64,
        client_id in "[a-zA-Z0-9-]{0,23}",
        expiry_ms in 0u64..u64::from(u32::MAX) * 1000,
        offline_since in proptest::option::of(any::<u64>()),
        will in proptest::option::of((topic(), any::<Vec<u8>>(), qos(), any::<bool>(), properties(), 0u64..100_000)),
        subs in proptest::collection::vec(("[a-z]{1,4}(/[a-z+]{1,3}){0,2}", qos(), any::<bool>(), any::<bool>(), 0u8..3, proptest::option::of(1u32..268_435_455)), 0..4),
    ) {
        let will = will.map(|(t, payload, q, retain, props, delay)| {
            let mut w = Will::to_topic(t, payload).qos(q).retain(retain).delay(Duration::from_millis(delay));
            w.properties = props;
            w
        });
        let subscriptions = subs.into_iter().filter_map(|(f, q, nl, rap, rh, id)| {
            let mut o = SubOptions::new(q);
            o.no_local = nl;
            o.retain_as_published = rap;
            o.retain_handling = [RetainHandling::SendAtSubscribe, RetainHandling::SendAtSubscribeIfNew, RetainHandling::DoNotSend][rh as usize];
            o.subscription_id = id;
            Some((TopicFilter::new(&f).ok()?, o))
        }).collect();
        let record = SessionRecord {
            no,
            client_id,
            expiry: Duration::from_millis(expiry_ms),
            offline_since,
            will,
            subscriptions,
        };
        let Record::Session(back) = round_trip(&Record::Session(record.clone())) else {
            panic!("kind changed");
        };
        prop_assert_eq!(back, record);
    }

    /// Retained records and the small step records decode to themselves.
    #[test]
    fn retained_and_steps_round_trip(p in publication(), of: u64, packet_id: u16, session: u64) {
        let Record::Retained(back) = round_trip(&Record::Retained(p.clone())) else {
            panic!("kind changed");
        };
        prop_assert!(same_publication(&back, &p));
        let sent = matches!(round_trip(&Record::Sent { of, packet_id, released: true }), Record::Sent { of: o, packet_id: i, released: true } if o == of && i == packet_id);
        let released = matches!(round_trip(&Record::Released { of }), Record::Released { of: o } if o == of);
        let tag = InboundTag { epoch: of, key: 7, packet_id };
        let inbound = matches!(round_trip(&Record::Inbound { session, tag }), Record::Inbound { session: s, tag: t } if s == session && t == tag);
        let routed = matches!(round_trip(&Record::Routed { tag }), Record::Routed { tag: t } if t == tag);
        prop_assert!(sent && released && inbound && routed);
    }

    /// Arbitrary bytes of any kind never panic the decoder (a damaged record is skipped).
    #[test]
    fn arbitrary_bytes_never_panic(kind in 0u8..10, bytes: Vec<u8>) {
        let _ = Record::decode(kind, &bytes, TIME);
    }

    /// A record cut short does not decode.
    #[test]
    fn truncated_record_is_refused(p in publication(), cut in 1usize..8) {
        let (kind, bytes) = Record::Retained(p).encode(TIME);
        let keep = bytes.len().saturating_sub(cut);
        prop_assert!(Record::decode(kind, &bytes[..keep], TIME).is_none());
    }
}

/// Unix time and clock time convert both ways, before and after the base.
#[test]
fn time_base_converts_both_ways() {
    let ms = TIME.to_unix_ms(TIME.clock + Duration::from_secs(5));
    assert_eq!(ms, 1_767_225_605_000);
    assert_eq!(
        TIME.clock_of_unix_ms(ms),
        TIME.clock + Duration::from_secs(5)
    );
    let earlier = TIME.to_unix_ms(TIME.clock - Duration::from_secs(5));
    assert_eq!(
        TIME.clock_of_unix_ms(earlier),
        TIME.clock - Duration::from_secs(5)
    );
    // Long before the clock's origin: clamped to it.
    assert_eq!(TIME.clock_of_unix_ms(0), Duration::ZERO);
}
