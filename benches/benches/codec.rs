//! The MQTT codec on its hot path, PUBLISH, in bytes per second:
//!
//! - `codec/publish_encode`: `PublishRef::encode` into a reused buffer;
//! - `codec/publish_decode`: `codec::decode` of one whole packet (the payload stays a
//!   zero-copy `Bytes` of the input).
//!
//! Each for MQTT 3.1.1 and for 5.0 with properties (two user properties, content type,
//! message expiry, topic alias), 64 B and 16 KiB payloads, QoS 1. Reference in both groups:
//! a `memcpy` of the same encoded bytes (`BytesMut::extend_from_slice` into a reused buffer).
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mqlite::QoS;
use mqlite_benches::{PAYLOAD_SIZES, payload, size_label};
use mqlite_net::codec::{
    DecodeLimits, Packet, PacketId, Properties, ProtocolVersion, PublishRef, decode,
};

const TOPIC: &[u8] = b"site/42/dev/7/temp";

/// One PUBLISH case: its version, properties and payload, and its encoded bytes.
struct Case {
    name: String,
    version: ProtocolVersion,
    properties: Properties,
    payload: bytes::Bytes,
    encoded: Vec<u8>,
}

impl Case {
    fn new(version: ProtocolVersion, size: usize) -> Self {
        let mut properties = Properties::default();
        let vname = if version.is_v5() {
            properties.user_properties = vec![
                ("source".to_owned(), "sensor-42".to_owned()),
                ("trace-id".to_owned(), "4bf92f3577b34da6".to_owned()),
            ];
            properties.content_type = Some("application/json".to_owned());
            properties.message_expiry_interval = Some(3600);
            properties.topic_alias = Some(5);
            "v5_props"
        } else {
            "v311"
        };
        let mut case = Self {
            name: format!("{vname}/{}", size_label(size)),
            version,
            properties,
            payload: payload(size),
            encoded: Vec::new(),
        };
        let mut out = BytesMut::new();
        case.publish().encode(version, &mut out).unwrap();
        case.encoded = out.to_vec();
        case
    }

    fn publish(&self) -> PublishRef<'_> {
        PublishRef {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: TOPIC,
            packet_id: PacketId::new(7),
            properties: &self.properties,
            payload: &self.payload,
        }
    }
}

fn cases() -> Vec<Case> {
    PAYLOAD_SIZES
        .into_iter()
        .flat_map(|size| {
            [ProtocolVersion::V311, ProtocolVersion::V5].map(|version| Case::new(version, size))
        })
        .collect()
}

/// The reference of both groups: the same bytes copied into a reused buffer.
fn memcpy(c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, case: &Case) {
    let mut out = BytesMut::with_capacity(case.encoded.len());
    c.bench_function(BenchmarkId::new("memcpy", &case.name), |b| {
        b.iter(|| {
            out.clear();
            out.extend_from_slice(black_box(&case.encoded));
            black_box(&out);
        })
    });
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec/publish_encode");
    for case in cases() {
        group.throughput(Throughput::Bytes(case.encoded.len() as u64));
        let mut out = BytesMut::with_capacity(case.encoded.len());
        group.bench_function(BenchmarkId::new("mqlite", &case.name), |b| {
            b.iter(|| {
                out.clear();
                black_box(case.publish())
                    .encode(case.version, &mut out)
                    .unwrap();
                black_box(&out);
            })
        });
        memcpy(&mut group, &case);
    }
    group.finish();
}

fn decode_publish(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec/publish_decode");
    let limits = DecodeLimits::default();
    for case in cases() {
        group.throughput(Throughput::Bytes(case.encoded.len() as u64));
        group.bench_function(BenchmarkId::new("mqlite", &case.name), |b| {
            b.iter_batched(
                || BytesMut::from(case.encoded.as_slice()),
                |mut buf| match decode(&mut buf, case.version, &limits) {
                    Ok(Some(Packet::Publish(p))) => p,
                    other => panic!("not a PUBLISH: {other:?}"),
                },
                BatchSize::SmallInput,
            )
        });
        memcpy(&mut group, &case);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30);
    targets = encode, decode_publish
}
criterion_main!(benches);
