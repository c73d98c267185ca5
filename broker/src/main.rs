//! `mqlite`: an MQTT broker (3.1, 3.1.1, 5.0) on the mqlite router, in memory or durable.
//!
//! With no arguments it listens on 127.0.0.1:1883, in memory. `--listen ADDR` (repeatable),
//! `--config FILE` and `--persistence DIR` (durable mode, `persistence.rs`) override; logs go
//! to stderr through `tracing` (`RUST_LOG=debug`).
//! SIGINT and SIGTERM close every connection and stop; SIGHUP reloads the TLS certificates
//! and the password and ACL files. `config.rs` reads the TOML file, `listener.rs` its
//! `[[listener]]` tables.
//! `mqlite passwd FILE USER` manages a password file (`passwd.rs`).
//!
//! This is the `mqlite-broker` package; the library it runs is `mqlite-net`, which embedders
//! use without this binary's dependencies.

#![forbid(unsafe_code)]
#![allow(clippy::print_stdout)]

mod config;
mod listener;
mod passwd;
mod persistence;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use anyhow::{Context, bail};
use mqlite::Broker;
use mqlite_net::{ListenerConfig, Server, ServerHandle};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::config::{FileConfig, check_anonymous};
use crate::listener::AuthKeys;

const HELP: &str = "\
mqlite: an embeddable MQTT broker (MQTT 3.1, 3.1.1 and 5.0), in memory or durable

Usage: mqlite [OPTIONS]
       mqlite passwd [-D] [-I N] FILE USER   (add, update or delete a user of a password file)

Options:
  -l, --listen ADDR   listen on ADDR (host:port); repeatable; default 127.0.0.1:1883
  -c, --config FILE   read settings from a TOML file (see mqlite.example.toml)
  -p, --persistence DIR
                      durable mode: keep retained messages, persistent sessions and their
                      queued and in-flight messages in DIR (created if missing) across
                      restarts and crashes; overrides the file's persistence_location
  -h, --help          print this help
  -V, --version       print the version

Logs go to stderr; set RUST_LOG (error, warn, info, debug, trace) to choose how much.
SIGINT or SIGTERM closes every connection and stops the broker; SIGHUP reloads the TLS
certificates and keys, the password files and the ACL files.

Durable mode (off by default: everything is in memory and lost at exit) is --persistence DIR
or these top-level keys of the config file:
  persistence = true                  turn it on
  persistence_location = \"DIR\"        the store's folder, relative to the config file;
                                      default \"mqlite-data\" beside it
  persistence_sync = \"commit\"         commit (default): fsync before every acknowledgement,
                                      shared by all acknowledgements of a moment (survives
                                      power loss); periodic: fsync every interval (survives
                                      a crash; a power loss loses up to one interval);
                                      none: never fsync (survives a crash only)
  persistence_sync_interval_ms = 1000 the interval of periodic
Only one broker may use a store folder at a time.";

/// What the command line asked for.
#[derive(Debug, Default)]
struct Args {
    listen: Vec<String>,
    config: Option<PathBuf>,
    persistence: Option<PathBuf>,
}

/// Parses the command line; `Ok(None)` when it only asked for help or the version.
fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Option<Args>> {
    let mut parsed = Args::default();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg, None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .with_context(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-l" | "--listen" => parsed.listen.push(value("--listen")?),
            "-c" | "--config" => parsed.config = Some(PathBuf::from(value("--config")?)),
            "-p" | "--persistence" => {
                parsed.persistence = Some(PathBuf::from(value("--persistence")?));
            }
            "-h" | "--help" => {
                println!("{HELP}");
                return Ok(None);
            }
            "-V" | "--version" => {
                println!("mqlite {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            other => bail!("unknown argument `{other}` (try --help)"),
        }
    }
    Ok(Some(parsed))
}

fn resolve(addrs: &[String]) -> anyhow::Result<Vec<SocketAddr>> {
    let mut out = Vec::new();
    for addr in addrs {
        let resolved = addr
            .to_socket_addrs()
            .with_context(|| format!("listen address `{addr}` (expected host:port)"))?;
        out.extend(resolved);
    }
    Ok(out)
}

/// The `[[listener]]` tables, each with its addresses and its own settings (TLS,
/// authentication, limits; the rest from the top level and `[server]`), after checking that
/// no listener off loopback, `listen_addrs` included, is open to anonymous clients by
/// accident.
fn listeners(
    file: &FileConfig,
    listen_addrs: &[SocketAddr],
) -> anyhow::Result<Vec<(Vec<SocketAddr>, ListenerConfig)>> {
    let global_auth = file.auth_keys();
    let allowed = |keys: &AuthKeys, addrs: &[SocketAddr]| {
        check_anonymous(
            addrs,
            keys.allow_anonymous.unwrap_or(false),
            keys.password_file.is_some(),
        )
    };
    allowed(&global_auth, listen_addrs)?;
    let server_limits = file.server.limit_keys();
    let mut listeners = Vec::new();
    for section in &file.listener {
        let resolved = resolve(std::slice::from_ref(&section.address))?;
        // A listener that requires a client certificate authenticates its clients.
        if !section.requires_certificate() {
            allowed(&section.auth_keys().or(&global_auth), &resolved)?;
        }
        let config = section.config(&file.base_dir, &global_auth, &server_limits)?;
        listeners.push((resolved, config));
    }
    Ok(listeners)
}

fn run(args: Args) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let listen = if !args.listen.is_empty() {
        args.listen.clone()
    } else {
        file.listen.clone().unwrap_or_else(|| {
            // No `listen` key: the default address, unless `[[listener]]` tables say where.
            if file.listener.is_empty() {
                vec!["127.0.0.1:1883".to_owned()]
            } else {
                Vec::new()
            }
        })
    };
    let addrs = resolve(&listen)?;
    let listeners = listeners(&file, &addrs)?;
    let auth = file.auth()?;
    // Each connection is a file descriptor: take the hard limit, not the often tiny soft
    // one (Mosquitto relies on systemd for this; a plain shell gives 1024).
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open file limit"),
    }
    let broker = build_broker(&file, &args)?;
    let mut server_config = file.server_config()?;
    server_config.auth = auth;
    let mut builder = Server::builder(broker.clone()).config(server_config);
    for addr in &addrs {
        builder = builder.listen(*addr);
    }
    for (resolved, config) in listeners {
        builder = builder.listen_with(&resolved[..], config);
    }
    // Before the listeners open (and log that they listen): a signal sent as soon as the
    // broker is reachable must stop it cleanly, not kill it by the default action.
    let mut signals =
        Signals::new([SIGINT, SIGTERM, SIGHUP]).context("cannot install signal handlers")?;
    let server = builder.bind()?.spawn()?;
    for signal in signals.forever() {
        if signal == SIGHUP {
            on_sighup(&server);
            continue;
        }
        tracing::info!(signal, "shutting down");
        break;
    }
    server.shutdown();
    broker.shutdown();
    log_store_stats(&broker);
    tracing::info!("stopped");
    Ok(())
}

/// The router: in memory, or durable with its store opened and recovered (a store that
/// cannot be opened, locked by another broker or of a newer format, is an error).
fn build_broker(file: &FileConfig, args: &Args) -> anyhow::Result<Broker> {
    let builder = Broker::builder().config(file.broker_config()?);
    match persistence::settings(file, args.persistence.as_deref())? {
        Some(settings) => Ok(builder.store(persistence::open(&settings)?).build()),
        None => {
            if file.persistence_location.is_some() {
                tracing::warn!("persistence_location is set but persistence is not: in memory");
            }
            Ok(builder.build())
        }
    }
}

/// Durable mode: one line of the store's figures since start, at exit.
fn log_store_stats(broker: &Broker) {
    if let Some(s) = broker.store_stats() {
        tracing::info!(
            bytes_on_disk = s.bytes_on_disk,
            records_written = s.records_written,
            fsyncs = s.fsyncs,
            fsync_mean_us = s.fsync_mean.as_micros(),
            fsync_max_us = s.fsync_max.as_micros(),
            errors = s.errors,
            "store"
        );
    }
}

/// SIGHUP: reload what can change under a running broker without dropping connections: the
/// TLS certificates, keys and CA bundles (new handshakes use them), and every password and
/// ACL file (new CONNECTs use the password files; connected clients' next checks use the
/// new ACLs). Each bad file is logged once, naming the file and line, and keeps its previous
/// version; the reload functions log, so the errors need nothing more here.
fn on_sighup(server: &ServerHandle) {
    tracing::info!("SIGHUP: reloading");
    let _ = server.reload_tls();
    let _ = server.reload_auth();
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1).peekable();
    let result = if args.peek().map(String::as_str) == Some("passwd") {
        passwd::run(args.skip(1))
    } else {
        parse_args(args).and_then(|args| match args {
            Some(args) => run(args),
            None => Ok(()),
        })
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mqlite: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Option<Args>> {
        parse_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn listen_is_repeatable_and_config_is_read() {
        let args = parse(&[
            "--listen",
            "127.0.0.1:1",
            "-l",
            "[::1]:2",
            "--config=x.toml",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(args.listen, ["127.0.0.1:1", "[::1]:2"]);
        assert_eq!(args.config, Some(PathBuf::from("x.toml")));
        assert_eq!(args.persistence, None);
        let args = parse(&["--persistence", "data"]).unwrap().unwrap();
        assert_eq!(args.persistence, Some(PathBuf::from("data")));
        let args = parse(&["-p", "/d"]).unwrap().unwrap();
        assert_eq!(args.persistence, Some(PathBuf::from("/d")));
        assert!(parse(&["--persistence"]).is_err());
    }

    fn file(text: &str) -> FileConfig {
        toml::from_str(text).unwrap()
    }

    /// `allow_anonymous` is decided per listener: a listener off loopback needs a password
    /// file or `allow_anonymous = true` of its own or from the top level.
    #[test]
    fn each_listener_off_loopback_needs_authentication() {
        let local: Vec<SocketAddr> = vec!["127.0.0.1:1883".parse().unwrap()];
        let open = "[[listener]]\naddress = \"0.0.0.0:1884\"\n";
        let err = listeners(&file(open), &local).unwrap_err().to_string();
        assert!(err.contains("0.0.0.0:1884"), "{err}");
        let own = format!("{open}allow_anonymous = true\n");
        assert_eq!(listeners(&file(&own), &local).unwrap().len(), 1);
        let global = format!("allow_anonymous = true\n{open}");
        assert!(listeners(&file(&global), &local).is_ok());
        // The listener may not inherit it and then refuse it for itself.
        let refused = format!("allow_anonymous = true\n{open}allow_anonymous = false\n");
        assert!(listeners(&file(&refused), &local).is_err());
        // Top-level settings keep applying to `listen` addresses.
        let public: Vec<SocketAddr> = vec!["0.0.0.0:1883".parse().unwrap()];
        assert!(listeners(&file(&own), &public).is_err());
    }

    /// A listener's own keys make its own settings, the keys it leaves unset coming from
    /// the top level and `[server]`; a listener without any keeps the server's (`None`).
    #[test]
    fn listener_settings_fall_back_to_the_server() {
        let text = "[server]\nmax_connections_per_ip = 5\n\
                    inbound_messages_per_second = 100\ninbound_message_burst = 500\n\
                    [[listener]]\naddress = \"127.0.0.1:1\"\n\
                    [[listener]]\naddress = \"127.0.0.1:2\"\nmax_connections = 7\n\
                    inbound_messages_per_second = 10\nclientid_equals_username = true\n";
        let configs = listeners(&file(text), &[]).unwrap();
        let (plain, own) = (&configs[0].1, &configs[1].1);
        assert!(plain.auth.is_none() && plain.limits.is_none());
        assert!(own.auth.is_some());
        let limits = own.limits.clone().unwrap();
        assert_eq!(limits.max_connections, Some(7));
        assert_eq!(limits.max_connections_per_ip, Some(5), "from [server]");
        // A rate and its burst go together: the burst is the listener's rate, not 500.
        assert_eq!(limits.inbound_message_rate, mqlite_net::Rate::new(10, 10));
        let server = file(text).server_config().unwrap();
        assert_eq!(
            server.limits.inbound_message_rate,
            mqlite_net::Rate::new(100, 500)
        );
        assert_eq!(server.limits.max_connections, None);

        let burst_alone = "[[listener]]\naddress = \"127.0.0.1:3\"\ninbound_burst_bytes = 9\n";
        let err = format!("{:#}", listeners(&file(burst_alone), &[]).unwrap_err());
        assert!(
            err.contains("127.0.0.1:3") && err.contains("inbound_bytes_per_second"),
            "{err}"
        );
    }

    /// The complete example of docs/security.md ("Everything together") uses only keys that
    /// exist, passes the anonymous check and sets the limits it says.
    #[test]
    fn the_security_guide_example_is_a_valid_config() {
        let guide = include_str!("../../docs/security.md");
        let section = guide.split("## Everything together").nth(1).unwrap();
        let toml_text = section.split("```toml\n").nth(1).unwrap();
        let toml_text = toml_text.split("```").next().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let hash = mqlite_net::auth::hash_password(b"pw", 101).unwrap();
        std::fs::write(dir.path().join("passwd"), format!("sensor-17:{hash}\n")).unwrap();
        std::fs::write(dir.path().join("acl"), "pattern write sensors/%c/#\n").unwrap();
        let mut config = file(toml_text);
        config.base_dir = dir.path().to_owned();
        let addrs = resolve(config.listen.as_deref().unwrap()).unwrap();
        let configs = listeners(&config, &addrs).unwrap();
        let sensors = configs[0].1.limits.clone().unwrap();
        assert_eq!(sensors.max_connections, Some(20_000));
        assert_eq!(
            sensors.inbound_message_rate,
            mqlite_net::Rate::new(200, 1000)
        );
        assert!(configs[1].1.tls.as_ref().unwrap().require_certificate);
        assert_eq!(config.server_config().unwrap().max_connections, 50_000);
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--listen"]).is_err());
        assert!(resolve(&["no-port".to_owned()]).is_err());
    }
}
