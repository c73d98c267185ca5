//! `tls-bench`: TLS connection setup rate and QoS 0 1 → 1 throughput of any MQTT broker,
//! with a rustls client (full handshakes, no session resumption). See README.md.
//!
//! ```text
//! tls-bench certs DIR                       # ca.crt, server.crt, server.key (EC P-256)
//! tls-bench setup      --port P (--cafile CA | --plain) [--conns 2000] [--threads 4]
//! tls-bench throughput --port P (--cafile CA | --plain) [--duration 5] [--warmup 1] [--size 64]
//! ```
//!
//! MQTT 3.1.1 packets are written by hand: this tool needs only CONNECT, SUBSCRIBE, PUBLISH
//! QoS 0 and DISCONNECT, and has no dependency on the broker it measures.

#![allow(clippy::print_stdout)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// Plain TCP or TLS.
#[derive(Clone)]
enum Transport {
    Plain,
    Tls(Arc<ClientConfig>),
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

struct Options {
    addr: SocketAddr,
    transport: Transport,
    conns: usize,
    threads: usize,
    duration: Duration,
    warmup: Duration,
    size: usize,
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args
        .next()
        .context("usage: tls-bench certs|setup|throughput ...")?;
    if command == "certs" {
        return certs(&args.next().context("certs DIR")?);
    }
    let options = parse(args)?;
    match command.as_str() {
        "setup" => setup(&options),
        "throughput" => throughput(&options),
        other => bail!("unknown command {other}"),
    }
}

fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<Options> {
    let mut o = Options {
        addr: "127.0.0.1:8883".parse()?,
        transport: Transport::Plain,
        conns: 2000,
        threads: 4,
        duration: Duration::from_secs(5),
        warmup: Duration::from_secs(1),
        size: 64,
    };
    let mut host = "127.0.0.1".to_owned();
    let mut port = 8883u16;
    let mut tls = None;
    while let Some(flag) = args.next() {
        if flag == "--plain" {
            continue;
        }
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--host" => host = value,
            "--port" => port = value.parse()?,
            "--cafile" => tls = Some(value),
            "--conns" => o.conns = value.parse()?,
            "--threads" => o.threads = value.parse()?,
            "--duration" => o.duration = Duration::from_secs_f64(value.parse()?),
            "--warmup" => o.warmup = Duration::from_secs_f64(value.parse()?),
            "--size" => o.size = value.parse()?,
            other => bail!("unknown option {other}"),
        }
    }
    o.addr = format!("{host}:{port}").parse()?;
    if let Some(ca) = tls {
        o.transport = Transport::Tls(Arc::new(client_config(&ca)?));
    }
    Ok(o)
}

fn client_config(cafile: &str) -> anyhow::Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cafile)? {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // Every connection pays a full handshake: the cost a fleet of devices reconnecting pays.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// A CA and a server certificate for localhost / 127.0.0.1, written to `dir`.
fn certs(dir: &str) -> anyhow::Result<()> {
    let dir = std::path::Path::new(dir);
    std::fs::create_dir_all(dir)?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, "tls-bench CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;
    let key = KeyPair::generate()?;
    let server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?
        .signed_by(&key, &ca)?;
    std::fs::write(dir.join("ca.crt"), ca.pem())?;
    std::fs::write(dir.join("server.crt"), server.pem())?;
    std::fs::write(dir.join("server.key"), key.serialize_pem())?;
    Ok(())
}

fn open(o: &Options) -> io::Result<Box<dyn Stream>> {
    let sock = TcpStream::connect(o.addr)?;
    sock.set_nodelay(true)?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(match &o.transport {
        Transport::Plain => Box::new(sock),
        Transport::Tls(config) => {
            let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
            let conn = ClientConnection::new(config.clone(), name).map_err(io::Error::other)?;
            Box::new(StreamOwned::new(conn, sock))
        }
    })
}

fn push_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

fn push_len(out: &mut Vec<u8>, mut len: usize) {
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            break;
        }
    }
}

fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    push_len(&mut out, body.len());
    out.extend_from_slice(body);
    out
}

/// CONNECT 3.1.1, clean session, keep alive 60.
fn connect_packet(client_id: &str) -> Vec<u8> {
    let mut body = Vec::new();
    push_str(&mut body, b"MQTT");
    body.extend_from_slice(&[4, 0x02, 0, 60]);
    push_str(&mut body, client_id.as_bytes());
    packet(0x10, &body)
}

/// Connects and checks CONNACK.
fn mqtt_connect(o: &Options, client_id: &str) -> anyhow::Result<Box<dyn Stream>> {
    let mut s = open(o)?;
    s.write_all(&connect_packet(client_id))?;
    s.flush()?;
    let mut ack = [0u8; 4];
    s.read_exact(&mut ack)?;
    if ack != [0x20, 2, 0, 0] {
        bail!("CONNECT refused: {ack:?}");
    }
    Ok(s)
}

/// Connection setup: TCP + TLS handshake + CONNECT/CONNACK + DISCONNECT, `conns` times
/// over `threads` threads.
fn setup(o: &Options) -> anyhow::Result<()> {
    let per_thread = o.conns / o.threads;
    let start = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..o.threads)
            .map(|t| {
                scope.spawn(move || -> anyhow::Result<Vec<Duration>> {
                    let mut lat = Vec::with_capacity(per_thread);
                    for i in 0..per_thread {
                        let began = Instant::now();
                        let mut s = mqtt_connect(o, &format!("tb{t}x{i}"))?;
                        lat.push(began.elapsed());
                        s.write_all(&[0xE0, 0])?; // DISCONNECT
                        s.flush()?;
                    }
                    Ok(lat)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("setup thread"))
            .collect::<anyhow::Result<Vec<_>>>()
    })?
    .into_iter()
    .flatten()
    .collect();
    let elapsed = start.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!(
        "setup: {} connections in {:.2} s = {:.0} conn/s; connect+CONNACK p50 {:.2} ms, p99 {:.2} ms",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
    );
    Ok(())
}

/// Counts PUBLISH packets in a stream of MQTT packets; keeps a partial one for next time.
fn count_publishes(buf: &mut Vec<u8>) -> u64 {
    let mut at = 0;
    let mut n = 0;
    while let Some(&first) = buf.get(at) {
        let (mut len, mut shift, mut i) = (0usize, 0, at + 1);
        let header_end = loop {
            let Some(&b) = buf.get(i) else { break None };
            len |= usize::from(b & 0x7F) << shift;
            shift += 7;
            i += 1;
            if b & 0x80 == 0 {
                break Some(i);
            }
        };
        let Some(body) = header_end else { break };
        if buf.len() < body + len {
            break;
        }
        if first >> 4 == 3 {
            n += 1;
        }
        at = body + len;
    }
    buf.drain(..at);
    n
}

/// QoS 0, one publisher → one subscriber of its topic, publishing as fast as the broker
/// takes it; delivered messages counted over `duration` after `warmup`.
fn throughput(o: &Options) -> anyhow::Result<()> {
    let topic = format!("tls-bench/{}", std::process::id());
    let mut sub = mqtt_connect(o, "tb-sub")?;
    let mut body = vec![0, 1];
    push_str(&mut body, topic.as_bytes());
    body.push(0);
    sub.write_all(&packet(0x82, &body))?;
    sub.flush()?;
    let mut suback = [0u8; 5];
    sub.read_exact(&mut suback)?;
    let received = Arc::new(AtomicU64::new(0));
    let published = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (received, stop) = (received.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = Vec::with_capacity(1 << 17);
            let mut chunk = vec![0u8; 1 << 16];
            while !stop.load(Ordering::Relaxed) {
                match sub.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        buf.extend_from_slice(&chunk[..n]);
                        received.fetch_add(count_publishes(&mut buf), Ordering::Relaxed);
                    }
                }
            }
        })
    };
    let mut publisher = mqtt_connect(o, "tb-pub")?;
    let mut one = Vec::new();
    push_str(&mut one, topic.as_bytes());
    one.resize(one.len() + o.size, b'x');
    let one = packet(0x30, &one);
    let per_batch = (64 * 1024 / one.len()).max(1);
    let batch: Vec<u8> = one
        .iter()
        .copied()
        .cycle()
        .take(one.len() * per_batch)
        .collect();
    let writer = {
        let (published, stop) = (published.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if publisher
                    .write_all(&batch)
                    .and_then(|()| publisher.flush())
                    .is_err()
                {
                    break;
                }
                published.fetch_add(per_batch as u64, Ordering::Relaxed);
            }
            let _ = publisher.write_all(&[0xE0, 0]);
        })
    };
    std::thread::sleep(o.warmup);
    let (r0, p0, t0) = (
        received.load(Ordering::Relaxed),
        published.load(Ordering::Relaxed),
        Instant::now(),
    );
    std::thread::sleep(o.duration);
    let (r1, p1, t1) = (
        received.load(Ordering::Relaxed),
        published.load(Ordering::Relaxed),
        Instant::now(),
    );
    stop.store(true, Ordering::Relaxed);
    let secs = (t1 - t0).as_secs_f64();
    let delivered = (r1 - r0) as f64 / secs;
    println!(
        "throughput: {:.0} msgs/s delivered ({:.1} MB/s payload), {:.0} msgs/s published, {} B payload",
        delivered,
        delivered * o.size as f64 / 1e6,
        (p1 - p0) as f64 / secs,
        o.size,
    );
    let _ = writer.join();
    // The reader may sit in a read until its timeout; the process ends it.
    drop(reader);
    Ok(())
}
