//! PUBREL: releases a QoS 2 PUBLISH; fixed header flags 0b0010 (§3.6).

use super::PacketType;
use super::ack::ack_packet;

ack_packet!(
    /// PUBREL: releases a QoS 2 PUBLISH; fixed header flags 0b0010 (§3.6).
    PubRel,
    PacketType::PubRel
);
