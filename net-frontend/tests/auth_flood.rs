//! Issue #10: "1,000 failed logins in a row leave other clients' latency unchanged and memory
//! flat". Its own test binary, so no other test's allocations blur the memory reading; it
//! compiles in the fixtures of the other tests (`it/`).
#![allow(clippy::unwrap_used)]

#[path = "it/auth_common/mod.rs"]
mod auth_common;
#[path = "it/common/mod.rs"]
mod common;

use mqlite::QoS;
use mqlite_net::auth::Auth;
use mqlite_net::codec::ReasonCode;

use auth_common::{connected, login, passwords, publish_qos1, start_with, try_connect};
use common::{Ended, V5, V311, WAIT};

/// Resident set size of this process, in KiB (Linux).
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn fail_logins(addr: std::net::SocketAddr, n: usize) {
    for i in 0..n {
        let version = if i % 2 == 0 { V5 } else { V311 };
        let (mut client, code) =
            try_connect(addr, login(version, "x", Some("alice"), Some("guess")));
        assert_ne!(code, ReasonCode::SUCCESS);
        assert!(matches!(
            client.recv_within(WAIT),
            Err(Ended::Eof | Ended::Reset)
        ));
    }
}

/// Issue #10: 1,000 failed logins in a row leave memory flat and other clients working.
#[test]
fn a_thousand_failed_logins_leave_memory_flat_and_others_working() {
    let auth = Auth::builder()
        .password_file(passwords(&[("alice", "secret")]))
        .build();
    let (_broker, server) = start_with(auth.clone());
    let addr = server.local_addr();
    let mut subscriber = connected(addr, login(V311, "sub", Some("alice"), Some("secret")));
    subscriber.subscribe("t", QoS::AtMostOnce);
    let mut publisher = connected(addr, login(V5, "pub", Some("alice"), Some("secret")));
    let mut round_trip = |n: u8| {
        assert_eq!(publish_qos1(&mut publisher, "t", &[n]), ReasonCode::SUCCESS);
        let got = subscriber.recv_publish();
        assert_eq!(&got.payload[..], &[n]);
    };

    fail_logins(addr, 200); // warm up allocator pools and buffers
    let before = rss_kib();
    for round in 0..10 {
        fail_logins(addr, 100);
        round_trip(round);
    }
    let after = rss_kib();
    assert_eq!(auth.stats().bad_credentials, 1200);
    assert_eq!(server.stats().clients_connected, 2);
    common::wait_stats(&server, "refused connections to close", |s| {
        s.connections_open == 2
    });
    if let (Some(before), Some(after)) = (before, after) {
        // Every refused connection's buffers are freed: no growth per login. The slack
        // covers allocator noise, not 1,000 leaked connections (tens of MiB).
        let grown = after.saturating_sub(before);
        eprintln!("RSS {before} KiB before, {after} KiB after 1,000 failed logins");
        assert!(
            grown < 4 * 1024,
            "RSS grew by {grown} KiB over 1,000 failed logins"
        );
    }
}
