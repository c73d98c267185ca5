//! PUBREC: first answer to a QoS 2 PUBLISH (§3.5).

use super::PacketType;
use super::ack::ack_packet;

ack_packet!(
    /// PUBREC: first answer to a QoS 2 PUBLISH (§3.5).
    PubRec,
    PacketType::PubRec
);
