//! The subscriber loop: counts deliveries and acknowledges them, PUBACK for QoS 1 and
//! PUBREC / PUBCOMP for QoS 2, all acknowledgements of one read written in one batch.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::{Result, bail};
use mqlite::QoS;
use mqlite_net::codec::{Packet, PubAck, PubComp, PubRec, Publish};

use crate::client::{Conn, POLL};

/// Receives until `stop` is set, adding each PUBLISH to `delivered` and passing it to
/// `on_publish` first.
///
/// # Errors
///
/// The connection fails, or the broker sends a packet a subscriber never expects.
pub(crate) fn run(
    conn: &mut Conn,
    stop: &AtomicBool,
    delivered: &AtomicU64,
    mut on_publish: impl FnMut(&Publish),
) -> Result<()> {
    // Relaxed: a flag polled between bounded waits, and a counter read only as a total.
    while !stop.load(Ordering::Relaxed) {
        if !conn.fill(POLL)? {
            continue;
        }
        let mut n = 0;
        while let Some(packet) = conn.next_buffered()? {
            match packet {
                Packet::Publish(publish) => {
                    n += 1;
                    on_publish(&publish);
                    acknowledge(conn, &publish)?;
                }
                Packet::PubRel(rel) => conn.queue(&Packet::PubComp(PubComp::new(rel.packet_id)))?,
                Packet::PingResp => {}
                other => bail!("unexpected {:?} sent to a subscriber", other.packet_type()),
            }
        }
        delivered.fetch_add(n, Ordering::Relaxed);
        if !conn.flush(stop)? {
            break;
        }
    }
    Ok(())
}

/// Queues the acknowledgement `publish` needs, if any.
fn acknowledge(conn: &mut Conn, publish: &Publish) -> Result<()> {
    match (publish.qos, publish.packet_id) {
        (QoS::AtMostOnce, _) => Ok(()),
        (QoS::AtLeastOnce, Some(id)) => conn.queue(&Packet::PubAck(PubAck::new(id))),
        (QoS::ExactlyOnce, Some(id)) => conn.queue(&Packet::PubRec(PubRec::new(id))),
        (qos, None) => bail!("{qos} PUBLISH without a packet identifier"),
    }
}
