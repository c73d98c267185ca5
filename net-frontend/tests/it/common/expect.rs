//! The checks of the malformed-input tests: send bad bytes, assert the exact reply before
//! the server closes, and the counter that took it.

use mqlite_net::{ProtocolVersion, ServerConfig, ServerHandle};

use super::{TestClient, V5, V311, config, start, wait_stats};

/// The counter a bad input must raise (and only it, among the three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counted {
    /// `malformed_packets`.
    Malformed,
    /// `protocol_errors`.
    Protocol,
    /// `connect_refused`.
    Refused,
    /// A malformed 5.0 CONNECT: `malformed_packets` and `connect_refused` (it got a CONNACK).
    MalformedRefused,
}

impl Counted {
    /// (malformed_packets, protocol_errors, connect_refused) expected after one such input.
    fn expected(self) -> (u64, u64, u64) {
        match self {
            Self::Malformed => (1, 0, 0),
            Self::Protocol => (0, 1, 0),
            Self::Refused => (0, 0, 1),
            Self::MalformedRefused => (1, 0, 1),
        }
    }
}

/// Asserts the server's counters show exactly one input of kind `counted` and that the
/// connection is gone.
pub(crate) fn assert_counted(server: &ServerHandle, case: &str, counted: Counted) {
    let stats = wait_stats(server, "the connection to close", |s| {
        s.connections_open == 0
    });
    let got = (
        stats.malformed_packets,
        stats.protocol_errors,
        stats.connect_refused,
    );
    assert_eq!(
        got,
        counted.expected(),
        "{case}: (malformed_packets, protocol_errors, connect_refused)"
    );
    assert_eq!(stats.clients_connected, 0, "{case}: clients_connected");
}

/// Connects a `version` client to a fresh server with `config`, sends `input`, and asserts
/// the server answers exactly `reply` (raw bytes; empty for none) before closing, counting
/// the input as `counted`.
pub(crate) fn expect_after_connect(
    case: &str,
    config: ServerConfig,
    version: ProtocolVersion,
    input: &[u8],
    reply: &[u8],
    counted: Counted,
) {
    let (_broker, server) = start(config);
    let mut client = TestClient::connect(server.local_addr(), version, "bad");
    client.send_bytes(input);
    assert_eq!(
        client.read_until_eof(),
        reply,
        "{case} ({version}): reply before EOF"
    );
    drop(client);
    assert_counted(&server, case, counted);
}

/// Sends `input` as the first bytes of a connection and asserts the exact `reply` before the
/// server closes, counted as `counted`.
pub(crate) fn expect_as_first_packet(
    case: &str,
    config: ServerConfig,
    input: &[u8],
    reply: &[u8],
    counted: Counted,
) {
    let (_broker, server) = start(config);
    let mut client = TestClient::open(server.local_addr(), V311);
    client.send_bytes(input);
    assert_eq!(client.read_until_eof(), reply, "{case}: reply before EOF");
    drop(client);
    assert_counted(&server, case, counted);
}

/// `input` after a successful 5.0 and 3.1.1 CONNECT: 5.0 gets DISCONNECT `code`, 3.1.1 is
/// closed without a reply; both counted as `counted`.
pub(crate) fn both_versions(
    case: &str,
    input_v5: &[u8],
    input_v311: &[u8],
    code: u8,
    counted: Counted,
) {
    expect_after_connect(
        case,
        config(),
        V5,
        input_v5,
        &disconnect_bytes(code),
        counted,
    );
    expect_after_connect(case, config(), V311, input_v311, &[], counted);
}

/// `input` after a successful 5.0 CONNECT gets DISCONNECT `code`, counted as `counted`.
pub(crate) fn v5_only(case: &str, input: &[u8], code: u8, counted: Counted) {
    expect_after_connect(case, config(), V5, input, &disconnect_bytes(code), counted);
}

/// The raw DISCONNECT a 5.0 server sends with `code` and no properties.
pub(crate) fn disconnect_bytes(code: u8) -> [u8; 3] {
    [
        0xE0, 0x01, // DISCONNECT, remaining length 1
        code, // reason code
    ]
}

/// The raw 5.0 CONNACK refusing with `code`, without properties.
pub(crate) fn connack_v5_bytes(code: u8) -> [u8; 5] {
    [
        0x20, 0x03, // CONNACK, remaining length 3
        0x00, // no session present
        code, // reason code
        0x00, // no properties
    ]
}

/// The raw 3.1.1 CONNACK with return `code`.
pub(crate) fn connack_v311_bytes(code: u8) -> [u8; 4] {
    [
        0x20, 0x02, // CONNACK, remaining length 2
        0x00, // no session present
        code, // return code
    ]
}
