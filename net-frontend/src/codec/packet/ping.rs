//! PINGREQ and PINGRESP (§3.12, §3.13): a fixed header and nothing else. Their encoding is
//! two constant bytes, written in `packet/mod.rs`.

use super::{DecodeError, Packet, PacketType, Reader};

/// Checks that the body is empty [MQTT-2.2.3].
pub(super) fn decode(
    r: &mut Reader,
    packet: PacketType,
    value: Packet,
) -> Result<Packet, DecodeError> {
    r.finish(packet)?;
    Ok(value)
}
