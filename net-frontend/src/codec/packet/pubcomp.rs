//! PUBCOMP: completes a QoS 2 exchange (§3.7).

use super::PacketType;
use super::ack::ack_packet;

ack_packet!(
    /// PUBCOMP: completes a QoS 2 exchange (§3.7).
    PubComp,
    PacketType::PubComp
);
