//! The `mqlite` binary on a real SIGHUP: it reads the password files of the top level and of
//! a `[[listener]]` again, and a bad file is logged as one line naming the file and line
//! while the previous version stays in force. Linux and macOS (`kill` sends the signals).
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod auth_common;
mod common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use mqlite_net::auth::hash_password;
use mqlite_net::codec::ReasonCode;

use auth_common::{login, try_connect};
use common::{V5, WAIT, wait_until};

fn password_line(user: &str, password: &str) -> String {
    format!(
        "{user}:{}\n",
        hash_password(password.as_bytes(), 101).unwrap()
    )
}

/// A free port on 127.0.0.1 (bound, then released for the broker to take).
fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name}");
}

/// The broker, killed if the test fails before it stops it.
struct Broker {
    child: Child,
    log: mpsc::Receiver<String>,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Broker {
    fn start(config: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mqlite"))
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Self { child, log }
    }

    /// Waits for a log line containing every one of `parts`; returns it.
    fn expect_log(&self, parts: &[&str]) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .log
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no log line with {parts:?}"));
            if parts.iter().all(|p| line.contains(p)) {
                return line;
            }
        }
    }
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
    let mut broker = Broker::start(&config);
    broker.expect_log(&["listening", &other.to_string()]);
    assert!(logs_in(main, "alice", "old"));
    assert!(
        !logs_in(other, "alice", "old"),
        "the listener has its own file"
    );
    assert!(logs_in(other, "bob", "b"));

    std::fs::write(dir.path().join("passwd"), password_line("alice", "new")).unwrap();
    signal(&broker.child, "HUP");
    broker.expect_log(&["password and ACL files reloaded"]);
    assert!(logs_in(main, "alice", "new"));
    assert!(!logs_in(main, "alice", "old"));

    let bad = dir.path().join("passwd2");
    std::fs::write(&bad, "# users\nbob:plaintext\n").unwrap();
    signal(&broker.child, "HUP");
    let line = broker.expect_log(&["ERROR", "keeping its previous version"]);
    assert!(line.contains(&bad.display().to_string()), "{line}");
    assert!(line.contains("line 2"), "{line}");
    assert!(logs_in(other, "bob", "b"), "the previous file stays");

    signal(&broker.child, "TERM");
    wait_until("the broker to stop", || {
        matches!(broker.child.try_wait(), Ok(Some(_)))
    });
    let status = broker.child.wait().unwrap();
    assert!(status.success(), "{status}");
}
