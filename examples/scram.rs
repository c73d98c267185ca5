//! MQTT 5 enhanced authentication with SCRAM-SHA-256 (RFC 5802, RFC 7677), through the
//! embedder's hook. The broker stores no passwords, only each user's salted keys; a client
//! proves it knows the password without sending it, and the server proves it knows the
//! keys back. The exchange runs in AUTH packets (MQTT 5.0 §4.12):
//!
//! ```text
//! client                                   broker (Hooks::start_auth → ScramServer)
//! CONNECT  method, client-first  ───────►
//!          ◄─────── AUTH 0x18 Continue, server-first (nonce, salt, iterations)
//! AUTH 0x18 client-final (proof) ───────►
//!          ◄─────── CONNACK 0x00 Success, server-final (signature)   or CONNACK 0x87
//! ...later: AUTH 0x19 Re-authenticate, the same exchange, ending in AUTH 0x00.
//! ```
//!
//! A device speaks MQTT 5 over TCP (packets from mqlite's own codec, as in `gateway.rs`):
//! it authenticates, publishes, re-authenticates and publishes again; an in-process
//! dashboard authenticates the same way through `Broker::start_auth`; an intruder with the
//! wrong password is refused, and the refusal reaches the event hook.
//!
//! Run: `cargo run -p mqlite-examples --example scram`
#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::{Bytes, BytesMut};
use hmac::{Hmac, Mac};
use mqlite::{
    AuthStep, Authenticator, Broker, ClientInfo, Config, ConnectOptions, Event, Hooks, QoS,
};
use mqlite_net::codec::{
    self, Auth, Connect, DecodeLimits, Packet, PacketId, Properties, ProtocolVersion, Publish,
    PublishTopic, ReasonCode,
};
use sha2::{Digest, Sha256};

const METHOD: &str = "SCRAM-SHA-256";
/// RFC 7677 §4: at least 4096.
const ITERATIONS: u32 = 4096;
const V5: ProtocolVersion = ProtocolVersion::V5;

// ---- SCRAM's arithmetic (RFC 5802 §3) -------------------------------------------------

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn xor(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

fn salted_password(password: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut out);
    out
}

/// 18 random bytes, printable: a client's or the server's half of the nonce.
fn nonce() -> anyhow::Result<String> {
    let mut bytes = [0; 18];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(B64.encode(bytes))
}

/// The value of attribute `key` in a SCRAM message (`n=alice,r=...`).
fn attr(message: &str, key: char) -> Option<&str> {
    message
        .split(',')
        .find_map(|field| field.strip_prefix(key)?.strip_prefix('='))
}

// ---- The server side: what the broker's hook runs ---------------------------------------

/// What the server keeps of a user: never the password (RFC 5802 §3).
#[derive(Debug, Clone)]
struct StoredUser {
    salt: Vec<u8>,
    stored_key: [u8; 32],
    server_key: [u8; 32],
}

impl StoredUser {
    /// Done once, when the user is created: the expensive PBKDF2 stays out of logins.
    fn new(password: &str) -> anyhow::Result<Self> {
        let mut salt = vec![0; 16];
        getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        Ok(Self::with_salt(password, salt))
    }

    fn with_salt(password: &str, salt: Vec<u8>) -> Self {
        let salted = salted_password(password, &salt, ITERATIONS);
        Self {
            stored_key: Sha256::digest(hmac(&salted, b"Client Key")).into(),
            server_key: hmac(&salted, b"Server Key"),
            salt,
        }
    }
}

/// The embedder's hooks: SCRAM-SHA-256 is the only way in, and refusals are reported.
#[derive(Debug)]
struct ScramHooks {
    users: Arc<HashMap<String, StoredUser>>,
}

impl Hooks for ScramHooks {
    /// Plain user name + password logins: none.
    fn authenticate(&self, _: &ClientInfo<'_>, _: Option<&[u8]>) -> bool {
        false
    }

    fn start_auth(&self, client: &ClientInfo<'_>, method: &str) -> Option<Box<dyn Authenticator>> {
        (method == METHOD).then(|| {
            Box::new(ScramServer {
                users: self.users.clone(),
                connect_username: client.username.map(str::to_owned),
                state: ServerState::ClientFirst,
            }) as Box<dyn Authenticator>
        })
    }

    fn on_event(&self, event: &Event<'_>) {
        match event {
            Event::ConnectDenied {
                client_id,
                username,
                reason,
            } => println!("event: connect denied for {client_id} (user {username:?}): {reason:?}"),
            Event::ReauthDenied {
                client_id, reason, ..
            } => println!("event: re-authentication denied for {client_id}: {reason:?}"),
            _ => {}
        }
    }
}

/// One SCRAM exchange, server side.
#[derive(Debug)]
struct ScramServer {
    users: Arc<HashMap<String, StoredUser>>,
    /// The CONNECT's user name: the SCRAM user must be the same, since the broker's ACL and
    /// hooks know the client by it.
    connect_username: Option<String>,
    state: ServerState,
}

#[derive(Debug)]
enum ServerState {
    ClientFirst,
    ClientFinal {
        user: StoredUser,
        client_first_bare: String,
        server_first: String,
        nonce: String,
    },
    Done,
}

impl Authenticator for ScramServer {
    fn step(&mut self, data: Option<&[u8]>) -> AuthStep {
        let Some(message) = data.and_then(|d| std::str::from_utf8(d).ok()) else {
            return AuthStep::Fail;
        };
        let answer = match std::mem::replace(&mut self.state, ServerState::Done) {
            ServerState::ClientFirst => self.server_first(message),
            ServerState::ClientFinal {
                user,
                client_first_bare,
                server_first,
                nonce,
            } => server_final(message, &user, &client_first_bare, &server_first, &nonce),
            ServerState::Done => None,
        };
        answer.unwrap_or(AuthStep::Fail)
    }
}

impl ScramServer {
    /// client-first `n,,n=USER,r=CNONCE` → server-first `r=CNONCE+SNONCE,s=SALT,i=4096`.
    fn server_first(&mut self, message: &str) -> Option<AuthStep> {
        // `n,,`: no channel binding, no authorization identity.
        let bare = message.strip_prefix("n,,")?;
        let (name, client_nonce) = (attr(bare, 'n')?, attr(bare, 'r')?);
        if self.connect_username.as_deref().is_some_and(|u| u != name) {
            return None;
        }
        // A production server answers an unknown user with a made-up salt, so that it
        // looks like a wrong password; this example just refuses.
        let user = self.users.get(name)?.clone();
        let nonce = format!("{client_nonce}{}", nonce().ok()?);
        let server_first = format!("r={nonce},s={},i={ITERATIONS}", B64.encode(&user.salt));
        self.state = ServerState::ClientFinal {
            user,
            client_first_bare: bare.to_owned(),
            server_first: server_first.clone(),
            nonce,
        };
        Some(AuthStep::Continue(server_first.into_bytes()))
    }
}

/// client-final `c=biws,r=NONCE,p=PROOF` → server-final `v=SIGNATURE`, if the proof holds.
fn server_final(
    message: &str,
    user: &StoredUser,
    client_first_bare: &str,
    server_first: &str,
    nonce: &str,
) -> Option<AuthStep> {
    let (without_proof, proof) = message.rsplit_once(",p=")?;
    // `biws` is base64 of the `n,,` header the client sent first.
    if attr(without_proof, 'c')? != "biws" || attr(without_proof, 'r')? != nonce {
        return None;
    }
    let proof: [u8; 32] = B64.decode(proof).ok()?.try_into().ok()?;
    let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
    let client_key = xor(&proof, &hmac(&user.stored_key, auth_message.as_bytes()));
    let stored_key: [u8; 32] = Sha256::digest(client_key).into();
    // Compare in constant time: no early exit tells how much of the proof was right.
    let diff = stored_key
        .iter()
        .zip(&user.stored_key)
        .fold(0, |acc, (a, b)| acc | (a ^ b));
    if diff != 0 {
        return None;
    }
    let signature = hmac(&user.server_key, auth_message.as_bytes());
    Some(AuthStep::Success(Some(
        format!("v={}", B64.encode(signature)).into_bytes(),
    )))
}

// ---- The client side ------------------------------------------------------------------

/// One SCRAM exchange, client side.
struct ScramClient {
    password: String,
    client_first_bare: String,
    client_nonce: String,
    /// The server signature to expect, once the proof is sent.
    expected: Option<[u8; 32]>,
}

impl ScramClient {
    fn new(user: &str, password: &str) -> anyhow::Result<Self> {
        Self::with_nonce(user, password, nonce()?)
    }

    fn with_nonce(user: &str, password: &str, client_nonce: String) -> anyhow::Result<Self> {
        ensure!(!user.contains([',', '=']), "this example sends names as-is");
        Ok(Self {
            password: password.to_owned(),
            client_first_bare: format!("n={user},r={client_nonce}"),
            client_nonce,
            expected: None,
        })
    }

    fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    fn client_final(&mut self, server_first: &[u8]) -> anyhow::Result<Vec<u8>> {
        let server_first = std::str::from_utf8(server_first)?;
        let nonce = attr(server_first, 'r').context("no nonce")?;
        ensure!(
            nonce.starts_with(&self.client_nonce),
            "the server changed our nonce"
        );
        let salt = B64.decode(attr(server_first, 's').context("no salt")?)?;
        let iterations: u32 = attr(server_first, 'i').context("no iterations")?.parse()?;
        ensure!(iterations >= ITERATIONS, "too few iterations: {iterations}");
        let salted = salted_password(&self.password, &salt, iterations);
        let client_key = hmac(&salted, b"Client Key");
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let proof = xor(&client_key, &hmac(&stored_key, auth_message.as_bytes()));
        self.expected = Some(hmac(&hmac(&salted, b"Server Key"), auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Checks server-final: the server knew our keys, so it is the real one.
    fn verify(&self, server_final: Option<&[u8]>) -> anyhow::Result<()> {
        let text = std::str::from_utf8(server_final.context("no server-final")?)?;
        let signature = B64.decode(attr(text, 'v').context("no signature")?)?;
        ensure!(
            self.expected.is_some_and(|e| e[..] == signature[..]),
            "wrong server signature"
        );
        Ok(())
    }
}

/// A device speaking MQTT 5 over TCP.
struct Device {
    name: &'static str,
    stream: TcpStream,
    inbox: BytesMut,
}

impl Device {
    fn open(name: &'static str, addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(Self {
            name,
            stream,
            inbox: BytesMut::new(),
        })
    }

    fn send(&mut self, packet: &Packet) -> anyhow::Result<()> {
        let mut wire = BytesMut::new();
        codec::encode(packet, V5, &mut wire)?;
        self.stream.write_all(&wire)?;
        Ok(())
    }

    fn receive(&mut self) -> anyhow::Result<Packet> {
        loop {
            if let Some(packet) = codec::decode(&mut self.inbox, V5, &DecodeLimits::default())? {
                return Ok(packet);
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).context("reading")?;
            ensure!(n > 0, "the broker closed the connection");
            self.inbox.extend_from_slice(&chunk[..n]);
        }
    }

    /// CONNECT with SCRAM; returns the CONNACK's reason code.
    fn connect(
        &mut self,
        client_id: &str,
        user: &str,
        password: &str,
    ) -> anyhow::Result<ReasonCode> {
        let mut scram = ScramClient::new(user, password)?;
        let properties = Properties {
            authentication_method: Some(METHOD.to_owned()),
            authentication_data: Some(Bytes::from(scram.client_first())),
            ..Properties::default()
        };
        self.send(&Packet::Connect(Box::new(Connect {
            protocol_version: V5,
            clean_start: true,
            keep_alive: 30,
            properties,
            client_id: client_id.to_owned(),
            will: None,
            username: Some(user.to_owned()),
            password: None,
        })))?;
        match self.answer_challenges(&mut scram)? {
            Packet::ConnAck(ack) if ack.reason_code == ReasonCode::SUCCESS => {
                scram.verify(ack.properties.authentication_data.as_deref())?;
                Ok(ack.reason_code)
            }
            Packet::ConnAck(ack) => Ok(ack.reason_code),
            other => bail!("expected CONNACK, got {other:?}"),
        }
    }

    /// AUTH 0x19 Re-authenticate: the same exchange on a live connection.
    fn reauthenticate(&mut self, user: &str, password: &str) -> anyhow::Result<ReasonCode> {
        let mut scram = ScramClient::new(user, password)?;
        self.send(&auth(ReasonCode::RE_AUTHENTICATE, scram.client_first()))?;
        match self.answer_challenges(&mut scram)? {
            Packet::Auth(a) if a.reason_code == ReasonCode::SUCCESS => {
                scram.verify(a.properties.authentication_data.as_deref())?;
                Ok(a.reason_code)
            }
            Packet::Disconnect(d) => Ok(d.reason_code),
            other => bail!("expected AUTH or DISCONNECT, got {other:?}"),
        }
    }

    /// Answers the server's AUTH 0x18 challenge(s); returns the packet that ends it all.
    fn answer_challenges(&mut self, scram: &mut ScramClient) -> anyhow::Result<Packet> {
        loop {
            match self.receive()? {
                Packet::Auth(a) if a.reason_code == ReasonCode::CONTINUE_AUTHENTICATION => {
                    let server_first = a.properties.authentication_data.unwrap_or_default();
                    let text = String::from_utf8_lossy(&server_first);
                    let shown = text.split(",s=").next().unwrap_or_default();
                    println!("{}: server-first: {shown},s=…,i=…", self.name);
                    let client_final = scram.client_final(&server_first)?;
                    self.send(&auth(ReasonCode::CONTINUE_AUTHENTICATION, client_final))?;
                }
                end => return Ok(end),
            }
        }
    }

    /// A QoS 1 publish, acknowledged.
    fn publish(&mut self, id: u16, topic: &str, payload: &'static str) -> anyhow::Result<()> {
        let packet_id = PacketId::new(id).context("packet id 0")?;
        self.send(&Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: PublishTopic::new(topic)?,
            packet_id: Some(packet_id),
            properties: Properties::default(),
            payload: Bytes::from_static(payload.as_bytes()),
        }))?;
        match self.receive()? {
            Packet::PubAck(ack) if ack.reason_code == ReasonCode::SUCCESS => Ok(()),
            other => bail!("expected PUBACK, got {other:?}"),
        }
    }
}

/// An AUTH packet of this method.
fn auth(reason_code: ReasonCode, data: Vec<u8>) -> Packet {
    let properties = Properties {
        authentication_method: Some(METHOD.to_owned()),
        authentication_data: Some(Bytes::from(data)),
        ..Properties::default()
    };
    Packet::Auth(Auth {
        reason_code,
        properties,
    })
}

fn main() -> anyhow::Result<()> {
    // The user database: salted keys, made once.
    let mut users = HashMap::new();
    users.insert("alice".to_owned(), StoredUser::new("correct horse")?);
    users.insert("dashboard".to_owned(), StoredUser::new("battery staple")?);
    let hooks = ScramHooks {
        users: Arc::new(users),
    };
    let broker = Broker::builder()
        .config(Config::default())
        .hooks(hooks)
        .build();
    let server = mqlite_net::Server::bind(broker.clone(), "127.0.0.1:0")?.spawn()?;
    println!(
        "broker: listening on {}, {METHOD} only",
        server.local_addr()
    );

    // An in-process client authenticates through the same hook: the embedder drives the
    // exchange itself and hands the result to `connect`.
    let mut scram = ScramClient::new("dashboard", "battery staple")?;
    let mut exchange = broker
        .start_auth("dashboard", Some("dashboard"), METHOD)
        .context("the hooks support SCRAM")?;
    let AuthStep::Continue(server_first) = exchange.step(Some(&scram.client_first())) else {
        bail!("expected a challenge");
    };
    let client_final = scram.client_final(&server_first)?;
    let AuthStep::Success(server_final) = exchange.step(Some(&client_final)) else {
        bail!("dashboard refused");
    };
    scram.verify(server_final.as_deref())?;
    let options = ConnectOptions::new("dashboard").credentials("dashboard", None);
    let dashboard = broker.connect(options.enhanced_auth(&exchange))?;
    dashboard.subscribe("sensors/#", QoS::AtLeastOnce)?;
    println!("dashboard: authenticated in-process, server signature verified");
    let show = |dashboard: &mqlite::Client| -> anyhow::Result<()> {
        let msg = dashboard.recv_timeout(Duration::from_secs(5))?;
        let payload = String::from_utf8_lossy(msg.payload()).into_owned();
        println!("dashboard got {} = {payload}", msg.topic());
        msg.ack();
        Ok(())
    };

    // The device: CONNECT, challenge, proof, CONNACK with the server's signature.
    let mut device = Device::open("device", server.local_addr())?;
    let code = device.connect("thermo-1", "alice", "correct horse")?;
    ensure!(code == ReasonCode::SUCCESS, "device refused: {code}");
    println!("device: CONNACK {code}, server signature verified");
    device.publish(1, "sensors/alice/temperature", "21.5")?;
    show(&dashboard)?;

    // Re-authentication on the live connection, as a long-lived device would do before its
    // credentials age out; the session and its subscriptions are untouched.
    let code = device.reauthenticate("alice", "correct horse")?;
    ensure!(
        code == ReasonCode::SUCCESS,
        "re-authentication refused: {code}"
    );
    println!("device: re-authenticated: AUTH {code}, server signature verified");
    device.publish(2, "sensors/alice/temperature", "21.7")?;
    show(&dashboard)?;

    // An intruder who knows the user name but not the password.
    let mut intruder = Device::open("intruder", server.local_addr())?;
    let code = intruder.connect("intruder", "alice", "wrong guess")?;
    println!("intruder: CONNACK {code} for a wrong password");
    ensure!(code == ReasonCode::NOT_AUTHORIZED, "intruder got in");

    device.send(&Packet::Disconnect(Default::default()))?;
    let stats = server.stats();
    println!(
        "broker: {} connections, {} refused",
        stats.connections_accepted, stats.connect_refused
    );
    server.shutdown();
    Ok(())
}

/// `cargo test -p mqlite-examples --example scram`: both sides against the exchange of
/// RFC 7677 §3 (user `user`, password `pencil`).
#[cfg(test)]
mod tests {
    use super::*;

    const SERVER_FIRST: &str = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                                s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                                p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    #[test]
    fn client_matches_rfc_7677() -> anyhow::Result<()> {
        let mut client = ScramClient::with_nonce("user", "pencil", "rOprNGfwEbeRWgbNEkqO".into())?;
        assert_eq!(client.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        assert_eq!(
            client.client_final(SERVER_FIRST.as_bytes())?,
            CLIENT_FINAL.as_bytes()
        );
        client.verify(Some(SERVER_FINAL.as_bytes()))
    }

    #[test]
    fn server_matches_rfc_7677() -> anyhow::Result<()> {
        let user = StoredUser::with_salt("pencil", B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==")?);
        let nonce = attr(SERVER_FIRST, 'r').context("nonce")?;
        let bare = "n=user,r=rOprNGfwEbeRWgbNEkqO";
        let answer = server_final(CLIENT_FINAL, &user, bare, SERVER_FIRST, nonce);
        assert_eq!(
            answer,
            Some(AuthStep::Success(Some(SERVER_FINAL.as_bytes().to_vec())))
        );
        let forged = CLIENT_FINAL.replace("p=dH", "p=dG");
        assert_eq!(
            server_final(&forged, &user, bare, SERVER_FIRST, nonce),
            None
        );
        Ok(())
    }
}
