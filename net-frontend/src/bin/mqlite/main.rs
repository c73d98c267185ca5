//! `mqlite`: an MQTT broker (3.1, 3.1.1, 5.0) on the mqlite router, in memory.
//!
//! With no arguments it listens on 127.0.0.1:1883. `--listen ADDR` (repeatable) and
//! `--config FILE` override; logs go to stderr through `tracing` (`RUST_LOG=debug`).
//! SIGINT and SIGTERM close every connection and stop; SIGHUP reloads the TLS certificates.
//! `mqlite passwd FILE USER` manages a password file (`passwd.rs`).

#![allow(clippy::print_stdout)]

mod config;
mod passwd;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use anyhow::{Context, bail};
use mqlite::Broker;
use mqlite_net::{Server, ServerHandle};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::config::{FileConfig, check_anonymous};

const HELP: &str = "\
mqlite: an embeddable MQTT broker (MQTT 3.1, 3.1.1 and 5.0), in memory

Usage: mqlite [OPTIONS]
       mqlite passwd [-D] [-I N] FILE USER   (add, update or delete a user of a password file)

Options:
  -l, --listen ADDR   listen on ADDR (host:port); repeatable; default 127.0.0.1:1883
  -c, --config FILE   read settings from a TOML file (see mqlite.example.toml)
  -h, --help          print this help
  -V, --version       print the version

Logs go to stderr; set RUST_LOG (error, warn, info, debug, trace) to choose how much.
SIGINT or SIGTERM closes every connection and stops the broker; SIGHUP reloads the TLS
certificates and keys.";

/// What the command line asked for.
#[derive(Debug, Default)]
struct Args {
    listen: Vec<String>,
    config: Option<PathBuf>,
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
    // `[[listener]]` tables: each address with its TLS settings (`None`: plain TCP).
    let mut listeners = Vec::new();
    let mut open_addrs = addrs.clone();
    for section in &file.listener {
        let resolved = resolve(std::slice::from_ref(&section.address))?;
        if !section.requires_certificate() {
            // A listener that requires a client certificate authenticates its clients.
            open_addrs.extend(&resolved);
        }
        listeners.push((resolved, section.tls(&file.base_dir)?));
    }
    check_anonymous(
        &open_addrs,
        file.allow_anonymous.unwrap_or(false),
        file.password_file.is_some(),
    )?;
    let auth = file.auth()?;
    // Each connection is a file descriptor: take the hard limit, not the often tiny soft
    // one (Mosquitto relies on systemd for this; a plain shell gives 1024).
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open file limit"),
    }
    let broker = Broker::new(file.broker_config()?);
    let mut server_config = file.server_config();
    server_config.auth = auth;
    let mut builder = Server::builder(broker.clone()).config(server_config);
    for addr in &addrs {
        builder = builder.listen(*addr);
    }
    for (resolved, tls) in listeners {
        builder = match tls {
            Some(tls) => builder.listen_tls(&resolved[..], tls),
            None => builder.listen(&resolved[..]),
        };
    }
    let server = builder.bind()?.spawn()?;
    let mut signals =
        Signals::new([SIGINT, SIGTERM, SIGHUP]).context("cannot install signal handlers")?;
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
    tracing::info!("stopped");
    Ok(())
}

/// SIGHUP: reload what can change under a running broker without dropping connections (the
/// TLS certificates, keys and CA bundles; new handshakes use them). A bad file is logged and
/// the previous one stays.
fn on_sighup(server: &ServerHandle) {
    tracing::info!("SIGHUP: reloading");
    if let Err(e) = server.reload_tls() {
        tracing::error!(error = %e, "TLS reload failed; the previous certificates stay");
    }
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
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--listen"]).is_err());
        assert!(resolve(&["no-port".to_owned()]).is_err());
    }
}
