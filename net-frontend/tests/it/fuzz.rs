//! Random bytes over a thousand connections never panic the server, leak a connection or
//! stop it serving.

use crate::common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Instant;

use common::*;
use mqlite::{ConnectOptions, QoS};

/// A small, seeded PRNG (xorshift64*): the fuzz input is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// One connection's input: sometimes a valid CONNECT (of a few shared client ids, so
/// connections also take each other over), then framed packets of random type, flags and
/// body, or raw junk.
fn random_input(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    let id = b'a' + rng.below(4) as u8;
    match rng.below(4) {
        0 => {}
        1 => out.extend_from_slice(&[
            0x10, 0x0D, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 5, 0, 1, id,
        ]),
        _ => out.extend_from_slice(&[
            0x10, 0x0E, 0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 5, 0, 0, 1, id,
        ]),
    }
    for _ in 0..rng.below(6) {
        if rng.below(4) == 0 {
            let n = rng.below(64);
            out.extend(rng.bytes(n));
        } else {
            let body_len = rng.below(40);
            out.push(rng.next() as u8);
            out.push(body_len as u8);
            if rng.below(2) == 0 && body_len >= 4 {
                // A topic "f/x" or "#" first, so PUBLISH and SUBSCRIBE go further.
                out.extend_from_slice(&[0, 3, b'f', b'/', b'x'][..body_len.min(5)]);
                let rest = body_len - body_len.min(5);
                out.extend(rng.bytes(rest));
            } else {
                out.extend(rng.bytes(body_len));
            }
        }
    }
    out
}

/// Sends `input`, half-closes, and reads until the server closes (or resets). Returns how
/// the connection ended, or `None` if it did not end within [`WAIT`].
fn run_one(addr: SocketAddr, input: &[u8]) -> Option<&'static str> {
    let mut stream = TcpStream::connect(addr).expect("tcp connect");
    stream.set_write_timeout(Some(WAIT)).expect("write timeout");
    // The server may close before it read everything; a failed write is an answer too.
    let _ = stream.write_all(input);
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + WAIT;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        stream.set_read_timeout(Some(left)).expect("read timeout");
        match stream.read(&mut buf) {
            Ok(0) => return Some("eof"),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Some("reset"),
        }
    }
}

/// About a thousand connections of random bytes (seeded, so a failure names the seed and the
/// input) on four threads at once: every connection ends, none stays open or connected,
/// and the server still serves network and in-process clients on both workers.
#[test]
fn random_bytes_never_stop_the_server() {
    const THREADS: u64 = 4;
    const PER_THREAD: usize = 250;
    let mut cfg = config();
    cfg.workers = 2;
    cfg.max_packet_size = 4096;
    let (broker, server) = start(cfg);
    let addr = server.local_addr();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                let seed = 0x9E37_79B9_7F4A_7C15 ^ (t + 1);
                let mut rng = Rng(seed);
                for i in 0..PER_THREAD {
                    let input = random_input(&mut rng);
                    assert!(
                        run_one(addr, &input).is_some(),
                        "seed {seed:#x}, connection {i}: the server did not close; input {input:02x?}"
                    );
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("fuzz thread");
    }

    let stats = wait_stats(&server, "every fuzz connection to close", |s| {
        s.connections_open == 0
    });
    assert_eq!(stats.connections_accepted, THREADS * PER_THREAD as u64);
    assert_eq!(stats.clients_connected, 0, "{stats:?}");
    wait_until("the broker to see no client", || {
        broker.stats().clients_connected == 0
    });

    // Still serving, on both workers (connections are dealt in turn).
    let inproc = broker
        .connect(ConnectOptions::new("after").auto_ack(true))
        .expect("connect");
    inproc
        .subscribe("after/#", QoS::AtLeastOnce)
        .expect("subscribe");
    let mut subs: Vec<_> = (0..2)
        .map(|i| {
            let mut c = TestClient::connect(addr, V5, &format!("after-{i}"));
            c.subscribe("after/#", QoS::AtMostOnce);
            c
        })
        .collect();
    let mut publisher = TestClient::connect(addr, V311, "after-pub");
    publisher.send(&publish_packet(
        "after/x",
        b"alive",
        QoS::AtLeastOnce,
        Some(1),
    ));
    assert_eq!(
        publisher.recv(),
        mqlite_net::Packet::PubAck(mqlite_net::codec::PubAck::new(pid(1)))
    );
    for sub in &mut subs {
        assert_eq!(&sub.recv_publish().payload[..], b"alive");
    }
    assert_eq!(
        inproc
            .recv_timeout(WAIT)
            .expect("in-process receives")
            .payload(),
        "alive".as_bytes()
    );
}
