//! The `mqlite` binary from the outside, as a subprocess: `--help` and `--version`, the default
//! address, SIGINT and SIGTERM with a client connected, the refusal to open a listener off
//! loopback without authentication, `mqlite passwd` end to end (its file read by a real
//! Mosquitto where one is installed), the config keys `allow_anonymous = false` and a
//! listener's `max_client_id_length`, and durable mode (`--persistence DIR`, `persistence =
//! true`: a retained message across a restart, the store's lock, its default folder). Every wait has a deadline and every process started
//! here is killed at the end. Linux and macOS (`kill` sends the signals).
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

#[path = "../../net-frontend/tests/it/auth_common/mod.rs"]
mod auth_common;
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{ExitStatus, Stdio};

use mqlite_net::Packet;
use mqlite_net::codec::{Connect, ReasonCode};

use auth_common::mosquitto::start_mosquitto;
use auth_common::{login, try_connect};
use common::process::{BinaryBroker, free_addr, mqlite, wait_exit};
use common::{TestClient, V5, V311, connect_packet};

/// What a finished run printed.
struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

fn read_all(pipe: Option<impl Read>) -> String {
    let mut text = String::new();
    pipe.unwrap().read_to_string(&mut text).unwrap();
    text
}

/// Runs `mqlite args` with `stdin`, to completion within [`WAIT`].
fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = mqlite()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Dropping the pipe after the write ends the input. A child that exits without reading
    // (`--help`) may have closed it first: the passwd test checks what was read.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let status = wait_exit(&mut child, &format!("mqlite {args:?}"));
    // The outputs are a few lines, well within a pipe's buffer, so the child never blocked.
    let stdout = read_all(child.stdout.take());
    let stderr = read_all(child.stderr.take());
    Output {
        status,
        stdout,
        stderr,
    }
}

/// `connect` refused on 3.1.1: the exact bytes before the server closes, CONNACK with
/// `return_code` [MQTT-3.2.2-5].
fn refused_v311(addr: SocketAddr, connect: Connect, return_code: u8) {
    let mut client = TestClient::open(addr, V311);
    client.send(&Packet::Connect(Box::new(connect)));
    assert_eq!(client.read_until_eof(), [0x20, 0x02, 0x00, return_code]);
}

#[test]
fn help_names_listen_and_config() {
    for flag in ["--help", "-h"] {
        let out = run(&[flag], "");
        assert!(out.status.success(), "{flag}: {}", out.status);
        for word in [
            "Usage: mqlite",
            "--listen",
            "--config",
            "--persistence",
            "mqlite passwd",
        ] {
            assert!(
                out.stdout.contains(word),
                "{flag} lacks {word}:\n{}",
                out.stdout
            );
        }
    }
}

#[test]
fn version_prints_the_crate_version() {
    let out = run(&["--version"], "");
    assert!(out.status.success(), "{}", out.status);
    assert_eq!(
        out.stdout,
        format!("mqlite {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn an_unknown_argument_is_one_error_line() {
    let out = run(&["--bogus"], "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        out.stderr,
        "mqlite: unknown argument `--bogus` (try --help)\n"
    );
}

/// Without arguments mqlite serves 127.0.0.1:1883. Where that port is taken (another broker
/// on this machine), the failure must name the address instead.
#[test]
fn no_arguments_listen_on_loopback_1883() {
    let default: SocketAddr = "127.0.0.1:1883".parse().unwrap();
    if let Err(e) = TcpListener::bind(default) {
        eprintln!("127.0.0.1:1883 is busy ({e}): checking that mqlite's error names it");
        let out = run(&[], "");
        assert!(!out.status.success());
        assert!(
            out.stderr.contains("cannot listen on 127.0.0.1:1883"),
            "{}",
            out.stderr
        );
        return;
    }
    let broker = BinaryBroker::start(&[]);
    broker.expect_listening(&[default]);
    TestClient::connect(default, V311, "default-port").disconnect();
    broker.stop();
}

/// `signal` with a 5.0 client connected: the client is told DISCONNECT 0x8B "server shutting
/// down" and the broker exits with status 0.
fn stops_cleanly_on(signal: &str) {
    let addr = free_addr();
    let mut broker = BinaryBroker::start(&["--listen", &addr.to_string()]);
    broker.expect_listening(&[addr]);
    let mut client = TestClient::connect(addr, V5, "stay");
    client.ping();
    broker.signal(signal);
    let status = wait_exit(&mut broker.child, &format!("mqlite after SIG{signal}"));
    assert!(status.success(), "SIG{signal}: {status}");
    broker.expect_log(&["stopped"]);
    client.expect_disconnect(ReasonCode::SERVER_SHUTTING_DOWN);
}

#[test]
fn sigint_stops_cleanly_with_a_client_connected() {
    stops_cleanly_on("INT");
}

#[test]
fn sigterm_stops_cleanly_with_a_client_connected() {
    stops_cleanly_on("TERM");
}

/// One line on stderr that names the listener and both ways out, and exit status 1.
fn assert_refused_off_loopback(out: &Output, addr: &str) {
    assert_eq!(out.status.code(), Some(1), "stderr: {}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    let [line] = lines[..] else {
        panic!("expected one line on stderr, got:\n{}", out.stderr);
    };
    for part in [
        addr,
        "not on loopback",
        "password_file",
        "allow_anonymous = true",
    ] {
        assert!(line.contains(part), "{line}");
    }
}

/// Like Mosquitto 2, no listener off loopback opens without authentication, whether it comes
/// from `--listen` or from a `[[listener]]` table.
#[test]
fn non_loopback_listener_without_authentication_refuses_to_start() {
    assert_refused_off_loopback(&run(&["--listen", "0.0.0.0:0"], ""), "0.0.0.0:0");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mqlite.toml");
    let text = "listen = []\n[[listener]]\naddress = \"0.0.0.0:0\"\n";
    std::fs::write(&config, text).unwrap();
    let out = run(&["--config", config.to_str().unwrap()], "");
    assert_refused_off_loopback(&out, "0.0.0.0:0");
}

/// `mqlite passwd FILE USER` takes the password from standard input and writes a Mosquitto 2
/// line; mqlite and, where installed, Mosquitto itself log the user in with it and refuse a
/// wrong password.
#[test]
fn passwd_from_stdin_writes_a_file_both_brokers_accept() {
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    let out = run(
        &["passwd", passwd.to_str().unwrap(), "alice"],
        "wonder land\n",
    );
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stderr.contains("added user `alice`"), "{}", out.stderr);
    assert_eq!(out.stdout, "", "the password is never echoed");
    let text = std::fs::read_to_string(&passwd).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with("alice:$7$101$"),
        "{text}"
    );

    let logs_in = |addr: SocketAddr, version, password: &str| {
        let (_, code) = try_connect(addr, login(version, "a1", Some("alice"), Some(password)));
        code
    };
    let addr = free_addr();
    let config = dir.path().join("mqlite.toml");
    std::fs::write(
        &config,
        format!("listen = [\"{addr}\"]\npassword_file = \"passwd\"\n"),
    )
    .unwrap();
    let broker = BinaryBroker::with_config(&config, &[addr]);
    assert_eq!(logs_in(addr, V5, "wonder land"), ReasonCode::SUCCESS);
    assert_eq!(
        logs_in(addr, V5, "wonder"),
        ReasonCode::BAD_USER_NAME_OR_PASSWORD
    );
    broker.stop();

    let acl = dir.path().join("acl");
    std::fs::write(&acl, "user alice\ntopic readwrite #\n").unwrap();
    // Prints a "skipped:" line where Mosquitto is not installed.
    let Some(mosquitto) = start_mosquitto(dir.path(), &passwd, &acl, false) else {
        return;
    };
    assert_eq!(
        logs_in(mosquitto.addr, V311, "wonder land"),
        ReasonCode::SUCCESS
    );
    refused_v311(
        mosquitto.addr,
        login(V311, "a2", Some("alice"), Some("wonder")),
        5,
    );
}

/// `allow_anonymous = false` without a password file refuses every client without a user name,
/// on the `listen` addresses and on each `[[listener]]` that inherits it, with CONNACK 0x87
/// (5.0) / 5 (3.1.1), as Mosquitto 2 does; a listener's own `allow_anonymous = true` wins.
#[test]
fn allow_anonymous_false_refuses_anonymous_clients() {
    let dir = tempfile::tempdir().unwrap();
    let (main, inherits, open) = (free_addr(), free_addr(), free_addr());
    let config = dir.path().join("mqlite.toml");
    std::fs::write(
        &config,
        format!(
            "listen = [\"{main}\"]\nallow_anonymous = false\n\
             [[listener]]\naddress = \"{inherits}\"\nclientid_prefixes = \"c\"\n\
             [[listener]]\naddress = \"{open}\"\nallow_anonymous = true\n"
        ),
    )
    .unwrap();
    let broker = BinaryBroker::with_config(&config, &[main, inherits, open]);
    for addr in [main, inherits] {
        let (_, code) = try_connect(addr, connect_packet(V5, "c1"));
        assert_eq!(code, ReasonCode::NOT_AUTHORIZED, "{addr}");
        refused_v311(addr, connect_packet(V311, "c2"), 5);
    }
    TestClient::connect(open, V5, "c3").disconnect();
    broker.stop();
}

/// A `[[listener]]`'s `max_client_id_length` refuses longer ids there with CONNACK 0x85
/// "client identifier not valid" (5.0) / 2 "identifier rejected" (3.1.1) [MQTT-3.1.3-9]; ids
/// up to the limit connect, and the other listeners keep the broker's limit.
#[test]
fn listener_max_client_id_length_refuses_longer_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (short, other) = (free_addr(), free_addr());
    let config = dir.path().join("mqlite.toml");
    std::fs::write(
        &config,
        format!(
            "listen = [\"{other}\"]\n\
             [[listener]]\naddress = \"{short}\"\nmax_client_id_length = 30\n"
        ),
    )
    .unwrap();
    let broker = BinaryBroker::with_config(&config, &[short, other]);
    let (fits, too_long) = ("i".repeat(30), "i".repeat(31));
    let (_, code) = try_connect(short, connect_packet(V5, &too_long));
    assert_eq!(code, ReasonCode::CLIENT_IDENTIFIER_NOT_VALID);
    refused_v311(short, connect_packet(V311, &too_long), 2);
    TestClient::connect(short, V5, &fits).disconnect();
    TestClient::connect(other, V311, &too_long).disconnect();
    broker.stop();
}

/// A retained QoS 1 message, as a 3.1.1 client would send it.
fn retained(topic: &str, payload: &[u8], id: u16) -> Packet {
    let Packet::Publish(mut publish) =
        common::publish_packet(topic, payload, mqlite::QoS::AtLeastOnce, Some(id))
    else {
        unreachable!("publish_packet makes a PUBLISH")
    };
    publish.retain = true;
    Packet::Publish(publish)
}

/// `--persistence DIR`: the broker logs the store it opened, a retained message survives a
/// restart, and a second broker on the same folder exits with status 1 and one clear line
/// saying the store is locked.
#[test]
fn persistence_flag_keeps_retained_messages_and_locks_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("data");
    let store = store.to_str().unwrap();
    let addr = free_addr();
    let listen = addr.to_string();
    let broker = BinaryBroker::start(&["--listen", &listen, "--persistence", store]);
    broker.expect_log(&["store opened", store]);
    broker.expect_listening(&[addr]);
    let mut publisher = TestClient::connect(addr, V311, "pub");
    publisher.send(&retained("state/door", b"open", 1));
    assert!(matches!(publisher.recv(), Packet::PubAck(_)));
    publisher.disconnect();

    let other = free_addr().to_string();
    let out = run(&["--listen", &other, "--persistence", store], "");
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("mqlite: cannot open the store") && last.contains("locked"),
        "{}",
        out.stderr
    );

    broker.stop();
    let broker = BinaryBroker::start(&["--listen", &listen, "--persistence", store]);
    let line = broker.expect_log(&["store opened", store]);
    assert!(!line.contains("recovered 0 records"), "{line}");
    broker.expect_listening(&[addr]);
    let mut subscriber = TestClient::connect(addr, V311, "sub");
    subscriber.subscribe("state/#", mqlite::QoS::AtLeastOnce);
    let message = subscriber.recv_publish();
    assert!(message.retain);
    assert_eq!(&message.payload[..], b"open");
    subscriber.disconnect();
    broker.stop();
}

/// `persistence = true` in a config file without a location keeps the store in
/// `mqlite-data` beside the file, whatever the working directory; a bad sync policy is one
/// error line naming the key, and the broker does not start.
#[test]
fn persistence_in_the_config_file_defaults_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let config = dir.path().join("mqlite.toml");
    std::fs::write(
        &config,
        format!("listen = [\"{addr}\"]\npersistence = true\npersistence_sync = \"periodic\"\n"),
    )
    .unwrap();
    let broker = BinaryBroker::start(&["--config", config.to_str().unwrap()]);
    let line = broker.expect_log(&["store opened"]);
    let store = dir.path().join("mqlite-data");
    assert!(line.contains(store.to_str().unwrap()), "{line}");
    broker.expect_listening(&[addr]);
    broker.stop();
    assert!(store.is_dir());

    std::fs::write(
        &config,
        "persistence = true\npersistence_sync = \"often\"\n",
    )
    .unwrap();
    let out = run(&["--config", config.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        out.stderr,
        "mqlite: persistence_sync: `often`: expected commit, periodic or none\n"
    );
}
