//! PUBACK: acknowledges a QoS 1 PUBLISH (§3.4).

use super::PacketType;
use super::ack::ack_packet;

ack_packet!(
    /// PUBACK: acknowledges a QoS 1 PUBLISH (§3.4).
    PubAck,
    PacketType::PubAck
);
