//! `login_flood`: failed logins as fast as a client can make them, the load of
//! `benches/auth-flood.sh` (issue #10: "1,000 failed logins in a row leave other clients'
//! latency unchanged").
//!
//! Each login: TCP connect, CONNECT (clean start, a fresh client id) with `--username` and a
//! wrong `--password`, read the CONNACK, wait for the broker to close the connection, close.
//! With `--anonymous` the CONNECT has no user name and is expected to succeed; the client then
//! sends DISCONNECT and waits for the close the same way: connection churn without any
//! password hashing, a control for the failed-login runs. Waiting for the broker's close
//! leaves TIME_WAIT on the broker's side, so a long flood does not run out of local ports.
//!
//! Bounded: stops after `--duration` seconds or `--count` logins, whichever comes first;
//! every socket call has the `--timeout`.
//!
//! ```sh
//! cargo run --release -p mqlite-benches --example login_flood -- --port 1883 --duration 8
//! ```
//!
//! Prints one JSON object (`--json`) or a summary line: logins completed, refused, accepted,
//! failed (no CONNACK), logins per second overall and per whole second, and the time from
//! TCP connect to CONNACK. Exit status 1 if no login completed or any login ended other than
//! expected (a wrong password accepted, an anonymous login refused), 2 on bad arguments.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use bytes::{Bytes, BytesMut};
use mqlite_net::codec::{
    self, Connect, DecodeLimits, Disconnect, Packet, Properties, ProtocolVersion, ReasonCode,
};
use serde_json::json;

const USAGE: &str = "\
usage: login_flood [options]

Failed logins back to back: connect, CONNECT with a wrong password, read the refusal
CONNACK, wait for the broker to close, close; repeat until --duration or --count.

options (defaults in brackets):
  --host H          broker address [127.0.0.1]
  --port N          broker port [1883]
  --version 3|4|5   MQTT 3.1, 3.1.1 or 5.0 [4]
  --username U      user name of every CONNECT [alice]
  --password P      the (wrong) password [wrong-password]
  --anonymous       no user name or password: logins expected to succeed (control)
  --threads T       clients logging in concurrently, each back to back [1]
  --duration SECS   stop after this long [10]
  --count N         stop after this many logins, all threads together [1000000]
  --timeout SECS    bound on connect, CONNACK and the broker's close [5]
  --json            one JSON object instead of a summary line
";

/// The command line.
#[derive(Debug, Clone)]
struct Args {
    host: String,
    port: u16,
    version: ProtocolVersion,
    username: String,
    password: String,
    anonymous: bool,
    threads: usize,
    duration: Duration,
    count: u64,
    timeout: Duration,
    json: bool,
}

fn parse_args() -> Result<Option<Args>> {
    let mut a = Args {
        host: "127.0.0.1".to_owned(),
        port: 1883,
        version: ProtocolVersion::V311,
        username: "alice".to_owned(),
        password: "wrong-password".to_owned(),
        anonymous: false,
        threads: 1,
        duration: Duration::from_secs(10),
        count: 1_000_000,
        timeout: Duration::from_secs(5),
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--host" => a.host = value()?,
            "--port" => a.port = value()?.parse().context("--port")?,
            "--version" => {
                a.version = match value()?.as_str() {
                    "3" => ProtocolVersion::V31,
                    "4" => ProtocolVersion::V311,
                    "5" => ProtocolVersion::V5,
                    v => bail!("--version {v}: expected 3, 4 or 5"),
                }
            }
            "--username" => a.username = value()?,
            "--password" => a.password = value()?,
            "--anonymous" => a.anonymous = true,
            "--threads" => a.threads = value()?.parse().context("--threads")?,
            "--duration" => a.duration = secs(&value()?).context("--duration")?,
            "--count" => a.count = value()?.parse().context("--count")?,
            "--timeout" => a.timeout = secs(&value()?).context("--timeout")?,
            "--json" => a.json = true,
            other => bail!("unknown option `{other}`"),
        }
    }
    if a.threads == 0 || a.threads > 64 {
        bail!("--threads must be 1 to 64");
    }
    if a.timeout.is_zero() {
        bail!("--timeout must be above 0");
    }
    Ok(Some(a))
}

fn secs(s: &str) -> Result<Duration> {
    let v: f64 = s.parse()?;
    if !(0.0..=86_400.0).contains(&v) {
        bail!("{v} is not between 0 and 86400 seconds");
    }
    Ok(Duration::from_secs_f64(v))
}

/// Counts shared by the login threads.
#[derive(Debug, Default)]
struct Counters {
    /// Logins claimed (started), bounded by `--count`.
    claimed: AtomicU64,
    /// CONNACK with a non-zero reason code.
    refused: AtomicU64,
    /// CONNACK 0.
    accepted: AtomicU64,
    /// No CONNACK: connect failed, timed out, malformed answer.
    failed: AtomicU64,
    /// The broker closed the connection (EOF or reset) after its CONNACK, within the timeout.
    closed_by_broker: AtomicU64,
}

/// What one thread saw beyond the counts.
#[derive(Debug, Default)]
struct ThreadLog {
    /// TCP connect to CONNACK, per completed login.
    connack_times: Vec<Duration>,
    /// CONNACK reason codes and how often each came.
    codes: BTreeMap<u8, u64>,
}

/// One login: the CONNACK's reason code and whether the broker closed afterwards.
fn login_once(a: &Args, addr: SocketAddr, client_id: String, buf: &mut BytesMut) -> Result<Login> {
    let start = Instant::now();
    let deadline = start + a.timeout;
    let mut stream = TcpStream::connect_timeout(&addr, a.timeout).context("connect")?;
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(a.timeout))?;
    let (username, password) = if a.anonymous {
        (None, None)
    } else {
        (
            Some(a.username.clone()),
            Some(Bytes::copy_from_slice(a.password.as_bytes())),
        )
    };
    buf.clear();
    codec::encode(
        &Packet::Connect(Box::new(Connect {
            protocol_version: a.version,
            clean_start: true,
            keep_alive: 0,
            properties: Properties::default(),
            client_id,
            will: None,
            username,
            password,
        })),
        a.version,
        buf,
    )
    .context("encoding CONNECT")?;
    stream.write_all(buf).context("writing CONNECT")?;
    buf.clear();

    let limits = DecodeLimits::default();
    let mut chunk = [0u8; 256];
    let ack = loop {
        if let Some(packet) = codec::decode(buf, a.version, &limits).context("decoding")? {
            match packet {
                Packet::ConnAck(ack) => break ack,
                other => bail!("expected CONNACK, got {:?}", other.packet_type()),
            }
        }
        match read_until(&mut stream, &mut chunk, deadline)? {
            Some(0) => bail!("closed before CONNACK"),
            Some(n) => buf.extend_from_slice(&chunk[..n]),
            None => bail!("no CONNACK within the timeout"),
        }
    };
    let connack_time = start.elapsed();
    if ack.reason_code == ReasonCode::SUCCESS {
        buf.clear();
        codec::encode(&Packet::Disconnect(Disconnect::default()), a.version, buf)
            .context("encoding DISCONNECT")?;
        stream.write_all(buf).context("writing DISCONNECT")?;
    }
    // Whatever else comes (nothing is expected) is skipped until the broker closes.
    let closed = loop {
        match read_until(&mut stream, &mut chunk, deadline) {
            Ok(Some(0)) | Err(_) => break true,
            Ok(Some(_)) => {}
            Ok(None) => break false,
        }
    };
    Ok(Login {
        code: ack.reason_code,
        connack_time,
        closed,
    })
}

/// The outcome of one login that got its CONNACK.
#[derive(Debug)]
struct Login {
    code: ReasonCode,
    connack_time: Duration,
    closed: bool,
}

/// Reads once, waiting until `deadline`: `Some(n)` bytes (0: closed), `None` on timeout.
/// A reset is reported as a close.
fn read_until(
    stream: &mut TcpStream,
    chunk: &mut [u8],
    deadline: Instant,
) -> Result<Option<usize>> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        stream.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
        match stream.read(chunk) {
            Ok(n) => return Ok(Some(n)),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                ) =>
            {
                return Ok(Some(0));
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("reading"),
        }
    }
}

/// One login thread: logs in back to back until `stop` or the count is used up.
fn login_loop(
    a: &Args,
    addr: SocketAddr,
    thread_no: usize,
    counters: &Counters,
    stop: &AtomicBool,
    first_error: &Mutex<Option<String>>,
) -> ThreadLog {
    let mut log = ThreadLog::default();
    let mut buf = BytesMut::with_capacity(256);
    let pid = std::process::id();
    // Relaxed throughout: counters and a stop flag, ordering no other data.
    while !stop.load(Ordering::Relaxed) {
        let n = counters.claimed.fetch_add(1, Ordering::Relaxed);
        if n >= a.count {
            break;
        }
        let client_id = format!("flood-{pid}-{thread_no}-{n}");
        match login_once(a, addr, client_id, &mut buf) {
            Ok(login) => {
                log.connack_times.push(login.connack_time);
                *log.codes.entry(login.code.0).or_default() += 1;
                let counter = if login.code == ReasonCode::SUCCESS {
                    &counters.accepted
                } else {
                    &counters.refused
                };
                counter.fetch_add(1, Ordering::Relaxed);
                if login.closed {
                    counters.closed_by_broker.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = first_error.lock() {
                    first.get_or_insert_with(|| format!("{e:#}"));
                }
                // A refused TCP connect fails at once; do not spin on it.
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
    log
}

/// The nearest-rank percentile of sorted `v`.
fn percentile(v: &[Duration], fraction: f64) -> Option<Duration> {
    if v.is_empty() {
        return None;
    }
    let rank = (fraction * v.len() as f64 - 1e-9).ceil() as usize;
    v.get(rank.clamp(1, v.len()) - 1).copied()
}

fn micros(d: Option<Duration>) -> serde_json::Value {
    d.map_or(serde_json::Value::Null, |d| {
        json!((d.as_secs_f64() * 1e7).round() / 10.0)
    })
}

/// User plus system CPU time of this process so far (Linux: `/proc/self/stat`, in clock
/// ticks, taken to be 100 per second as on every common Linux build); `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces: state is
    // field 3, utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

fn run(a: &Args) -> Result<bool> {
    let addr = (a.host.as_str(), a.port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {}:{}", a.host, a.port))?
        .next()
        .context("no address")?;
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let first_error = Arc::new(Mutex::new(None));
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..a.threads {
        let (a2, c, s, f) = (
            a.clone(),
            Arc::clone(&counters),
            Arc::clone(&stop),
            Arc::clone(&first_error),
        );
        handles.push(
            thread::Builder::new()
                .name(format!("login-{t}"))
                .spawn(move || login_loop(&a2, addr, t, &c, &s, &f))
                .context("spawning a login thread")?,
        );
    }

    // Completed logins (refused or accepted) in each whole second since the start.
    let completed =
        || counters.refused.load(Ordering::Relaxed) + counters.accepted.load(Ordering::Relaxed);
    let mut per_second = Vec::new();
    let mut last = 0;
    let end = start + a.duration;
    let mut next_tick = start + Duration::from_secs(1);
    loop {
        let now = Instant::now();
        if now >= end || handles.iter().all(|h| h.is_finished()) {
            break;
        }
        if now >= next_tick {
            let c = completed();
            per_second.push(c - last);
            last = c;
            next_tick += Duration::from_secs(1);
        }
        thread::sleep(
            next_tick
                .min(end)
                .saturating_duration_since(now)
                .min(Duration::from_millis(50)),
        );
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed();
    let mut times = Vec::new();
    let mut codes: BTreeMap<u8, u64> = BTreeMap::new();
    for h in handles {
        // A login thread stops within one login (bounded by --timeout) of the stop flag.
        let log = h
            .join()
            .map_err(|_| anyhow::anyhow!("a login thread panicked"))?;
        times.extend(log.connack_times);
        for (code, n) in log.codes {
            *codes.entry(code).or_default() += n;
        }
    }
    times.sort_unstable();

    let refused = counters.refused.load(Ordering::Relaxed);
    let accepted = counters.accepted.load(Ordering::Relaxed);
    let failed = counters.failed.load(Ordering::Relaxed);
    let closed = counters.closed_by_broker.load(Ordering::Relaxed);
    let done = refused + accepted;
    let unexpected = if a.anonymous { refused } else { accepted };
    let secs = elapsed.as_secs_f64();
    let rate = |n: u64| ((n as f64 / secs) * 10.0).round() / 10.0;
    let first_error = first_error.lock().ok().and_then(|e| e.clone());
    let codes_json: serde_json::Map<String, serde_json::Value> = codes
        .iter()
        .map(|(code, n)| (format!("{code:#04x}"), json!(n)))
        .collect();
    let codes_text: Vec<String> = codes
        .iter()
        .map(|(code, n)| format!("{n} × {code:#04x}"))
        .collect();
    if a.json {
        let report = json!({
            "scenario": "login_flood",
            "params": {
                "host": a.host, "port": a.port, "version": a.version.level(),
                "username": if a.anonymous { None } else { Some(&a.username) },
                "anonymous": a.anonymous, "threads": a.threads,
                "duration_s": a.duration.as_secs_f64(), "count": a.count,
                "timeout_s": a.timeout.as_secs_f64(),
            },
            "results": {
                "elapsed_s": (secs * 1000.0).round() / 1000.0,
                "cpu_pct": cpu_seconds().map(|c| (c / secs * 1000.0).round() / 10.0),
                "completed": done, "refused": refused, "accepted": accepted,
                "failed": failed, "closed_by_broker": closed, "unexpected": unexpected,
                "completed_per_sec": rate(done),
                "refused_per_sec": rate(refused),
                "min_per_whole_sec": per_second.iter().min(),
                "max_per_whole_sec": per_second.iter().max(),
                "per_sec_series": per_second,
                "connack_p50_us": micros(percentile(&times, 0.5)),
                "connack_p99_us": micros(percentile(&times, 0.99)),
                "connack_max_us": micros(percentile(&times, 1.0)),
                "connack_codes": codes_json,
                "first_error": first_error,
            }
        });
        println!("{report}");
    } else {
        println!(
            "{done} logins in {secs:.2} s ({:.0}/s): {refused} refused, {accepted} accepted, \
             {failed} failed, {closed} closed by the broker; CONNACK p50 {} µs, p99 {} µs; \
             codes: {}{}",
            rate(done),
            micros(percentile(&times, 0.5)),
            micros(percentile(&times, 0.99)),
            codes_text.join(", "),
            first_error.map_or(String::new(), |e| format!("; first error: {e}")),
        );
    }
    Ok(done > 0 && unexpected == 0)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("login_flood: {e:#}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("login_flood: no login completed, or one ended other than expected");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("login_flood: {e:#}");
            ExitCode::FAILURE
        }
    }
}
