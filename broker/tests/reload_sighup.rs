//! The `mqlite` binary on a real SIGHUP: it reads the password files of the top level and of
//! a `[[listener]]` again, and a bad file is logged as one line naming the file and line
//! while the previous version stays in force. Linux and macOS (`kill` sends the signals).
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

#[path = "../../net-frontend/tests/it/auth_common/mod.rs"]
mod auth_common;
mod common;

use std::net::SocketAddr;

use mqlite_net::auth::hash_password;
use mqlite_net::codec::ReasonCode;

use auth_common::{login, try_connect};
use common::V5;
use common::process::{BinaryBroker, free_addr};

fn password_line(user: &str, password: &str) -> String {
    format!(
        "{user}:{}\n",
        hash_password(password.as_bytes(), 101).unwrap()
    )
}

/// Whether `user` logs in on `addr` with `password`.
fn logs_in(addr: SocketAddr, user: &str, password: &str) -> bool {
    let (_, code) = try_connect(addr, login(V5, user, Some(user), Some(password)));
    code == ReasonCode::SUCCESS
}

/// SIGHUP reloads the top-level and a listener's password files; a bad file keeps its old
/// version and is logged once, naming the file and line; the broker keeps running.
#[test]
fn sighup_reloads_password_files_and_logs_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let (main, other) = (free_addr(), free_addr());
    std::fs::write(dir.path().join("passwd"), password_line("alice", "old")).unwrap();
    std::fs::write(dir.path().join("passwd2"), password_line("bob", "b")).unwrap();
    let config = dir.path().join("mqlite.toml");
    std::fs::write(
        &config,
        format!(
            "listen = [\"{main}\"]\npassword_file = \"passwd\"\n\
             [[listener]]\naddress = \"{other}\"\npassword_file = \"passwd2\"\n\
             [server]\nworkers = 1\n"
        ),
    )
    .unwrap();
    let broker = BinaryBroker::start(&["--config", config.to_str().unwrap()]);
    broker.expect_log(&["listening", &other.to_string()]);
    assert!(logs_in(main, "alice", "old"));
    assert!(
        !logs_in(other, "alice", "old"),
        "the listener has its own file"
    );
    assert!(logs_in(other, "bob", "b"));

    std::fs::write(dir.path().join("passwd"), password_line("alice", "new")).unwrap();
    broker.signal("HUP");
    broker.expect_log(&["password and ACL files reloaded"]);
    assert!(logs_in(main, "alice", "new"));
    assert!(!logs_in(main, "alice", "old"));

    let bad = dir.path().join("passwd2");
    std::fs::write(&bad, "# users\nbob:plaintext\n").unwrap();
    broker.signal("HUP");
    let line = broker.expect_log(&["ERROR", "keeping its previous version"]);
    assert!(line.contains(&bad.display().to_string()), "{line}");
    assert!(line.contains("line 2"), "{line}");
    assert!(logs_in(other, "bob", "b"), "the previous file stays");

    broker.stop();
}
