//! Fixtures of the TLS tests: a PKI made at test time with rcgen (a CA, a server certificate
//! for localhost / 127.0.0.1, client certificates: valid, expired, from another CA, without a
//! Common Name) written as PEM files, TLS servers in front of a broker, and a blocking rustls
//! MQTT client that reads packets back with a timeout.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mqlite::Broker;
use mqlite_net::codec::{decode, encode};
use mqlite_net::{
    DecodeLimits, Packet, ProtocolVersion, Server, ServerConfig, ServerHandle, TlsConfig,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// How long a test waits for something that must happen.
pub(crate) const TLS_WAIT: Duration = Duration::from_secs(5);

/// The Common Name of the valid client certificate.
pub(crate) const CLIENT_CN: &str = "device-1";
/// Its URI Subject Alternative Name.
pub(crate) const CLIENT_URI: &str = "spiffe://mqlite.test/device/1";

/// A CA, a second unrelated CA, and certificates, as PEM files in a temporary directory:
///
/// | file | what |
/// |---|---|
/// | `ca.pem` | the CA |
/// | `server.pem`, `server.key` | localhost, 127.0.0.1; signed by the CA |
/// | `client.pem`, `client.key` | CN `device-1`, URI SAN; signed by the CA |
/// | `expired.pem`, `expired.key` | CN `old-device`, valid 2020–2021; signed by the CA |
/// | `nocn.pem`, `nocn.key` | no CN, DNS SAN only; signed by the CA |
/// | `other-ca.pem` | the other CA |
/// | `stranger.pem`, `stranger.key` | CN `stranger`; signed by the other CA |
/// | `other-server.pem`, `other-server.key` | localhost, 127.0.0.1; signed by the other CA |
#[derive(Debug)]
pub(crate) struct Pki {
    dir: tempfile::TempDir,
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

fn leaf_params(cn: Option<&str>, sans: Vec<SanType>, server: bool) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "mqlite tests");
    if let Some(cn) = cn {
        params.distinguished_name.push(DnType::CommonName, cn);
    }
    params.subject_alt_names = sans;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![if server {
        ExtendedKeyUsagePurpose::ServerAuth
    } else {
        ExtendedKeyUsagePurpose::ClientAuth
    }];
    params
}

fn server_sans() -> Vec<SanType> {
    vec![
        SanType::DnsName("localhost".try_into().unwrap()),
        SanType::IpAddress([127, 0, 0, 1].into()),
    ]
}

impl Pki {
    pub(crate) fn new() -> Self {
        let pki = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        let ca =
            CertifiedIssuer::self_signed(ca_params("mqlite test CA"), KeyPair::generate().unwrap())
                .unwrap();
        let other =
            CertifiedIssuer::self_signed(ca_params("other CA"), KeyPair::generate().unwrap())
                .unwrap();
        pki.write("ca.pem", &ca.pem());
        pki.write("other-ca.pem", &other.pem());
        pki.leaf(
            &ca,
            "server",
            leaf_params(Some("localhost"), server_sans(), true),
        );
        pki.leaf(
            &other,
            "other-server",
            leaf_params(Some("localhost"), server_sans(), true),
        );
        let uri = SanType::URI(CLIENT_URI.try_into().unwrap());
        pki.leaf(
            &ca,
            "client",
            leaf_params(Some(CLIENT_CN), vec![uri], false),
        );
        let mut expired = leaf_params(Some("old-device"), vec![], false);
        expired.not_before = rcgen::date_time_ymd(2020, 1, 1);
        expired.not_after = rcgen::date_time_ymd(2021, 1, 1);
        pki.leaf(&ca, "expired", expired);
        let dns = SanType::DnsName("nocn.example".try_into().unwrap());
        pki.leaf(&ca, "nocn", leaf_params(None, vec![dns], false));
        pki.leaf(
            &other,
            "stranger",
            leaf_params(Some("stranger"), vec![], false),
        );
        pki
    }

    fn leaf(&self, issuer: &CertifiedIssuer<'_, KeyPair>, name: &str, params: CertificateParams) {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, issuer).unwrap();
        self.write(&format!("{name}.pem"), &cert.pem());
        self.write(&format!("{name}.key"), &key.serialize_pem());
    }

    fn write(&self, name: &str, contents: &str) {
        std::fs::write(self.path(name), contents).unwrap();
    }

    /// The path of one of the files.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Server TLS: `server.pem` / `server.key`, no client certificates.
    pub(crate) fn tls(&self) -> TlsConfig {
        TlsConfig::new(self.path("server.pem"), self.path("server.key"))
    }

    /// Server mutual TLS: client certificates of the CA required.
    pub(crate) fn mtls(&self) -> TlsConfig {
        self.tls()
            .cafile(self.path("ca.pem"))
            .require_certificate(true)
    }

    /// A client: trusts `ca`, shows the certificate `cert` (`"client"` for
    /// `client.pem` + `client.key`) if given.
    pub(crate) fn client(&self, ca: &str, cert: Option<&str>) -> ClientSetup {
        ClientSetup {
            ca: self.path(ca),
            cert: cert.map(|c| {
                (
                    self.path(&format!("{c}.pem")),
                    self.path(&format!("{c}.key")),
                )
            }),
            versions: vec![&rustls::version::TLS13, &rustls::version::TLS12],
            alpn: vec![b"mqtt".to_vec()],
        }
    }
}

/// Server settings for TLS tests: one worker.
pub(crate) fn tls_server_config() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.workers = 1;
    config
}

/// A server with one TLS listener on 127.0.0.1:0.
pub(crate) fn serve_tls(broker: &Broker, config: ServerConfig, tls: TlsConfig) -> ServerHandle {
    Server::builder(broker.clone())
        .config(config)
        .listen_tls("127.0.0.1:0", tls)
        .bind()
        .expect("bind a TLS listener")
        .spawn()
        .expect("spawn server")
}

/// How a TLS client is set up.
#[derive(Debug, Clone)]
pub(crate) struct ClientSetup {
    ca: PathBuf,
    cert: Option<(PathBuf, PathBuf)>,
    versions: Vec<&'static rustls::SupportedProtocolVersion>,
    alpn: Vec<Vec<u8>>,
}

impl ClientSetup {
    /// Offers only `version`.
    pub(crate) fn only(mut self, version: &'static rustls::SupportedProtocolVersion) -> Self {
        self.versions = vec![version];
        self
    }

    /// Offers these ALPN protocols instead of `mqtt`.
    pub(crate) fn alpn(mut self, protocols: &[&[u8]]) -> Self {
        self.alpn = protocols.iter().map(|p| p.to_vec()).collect();
        self
    }

    fn config(&self) -> ClientConfig {
        let mut roots = RootCertStore::empty();
        for cert in certs(&self.ca) {
            roots.add(cert).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&self.versions)
            .unwrap()
            .with_root_certificates(roots);
        let mut config = match &self.cert {
            Some((cert, key)) => builder
                .with_client_auth_cert(certs(cert), PrivateKeyDer::from_pem_file(key).unwrap())
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn.clone();
        // Every connection makes a full handshake, so each test checks the certificates.
        config.resumption = rustls::client::Resumption::disabled();
        config
    }
}

fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// How a read ended without a packet.
#[derive(Debug)]
pub(crate) enum TlsEnded {
    /// The server closed the connection.
    Eof,
    /// A TLS error, an alert from the server, a reset.
    Error(io::Error),
    /// Nothing arrived in time.
    Timeout,
}

/// A blocking MQTT client over rustls.
#[derive(Debug)]
pub(crate) struct TlsClient {
    pub(crate) tls: StreamOwned<ClientConnection, TcpStream>,
    pub(crate) version: ProtocolVersion,
    buf: BytesMut,
}

impl TlsClient {
    /// Opens TCP and starts TLS (the handshake runs with the first read or write).
    pub(crate) fn open(addr: SocketAddr, setup: &ClientSetup, version: ProtocolVersion) -> Self {
        let name = ServerName::try_from("localhost").unwrap();
        let conn = ClientConnection::new(Arc::new(setup.config()), name).unwrap();
        let sock = TcpStream::connect(addr).expect("tcp connect");
        sock.set_write_timeout(Some(TLS_WAIT)).unwrap();
        Self {
            tls: StreamOwned::new(conn, sock),
            version,
            buf: BytesMut::new(),
        }
    }

    /// Runs the handshake to its end (as far as the client can tell).
    pub(crate) fn handshake(&mut self) -> io::Result<()> {
        self.tls.sock.set_read_timeout(Some(TLS_WAIT))?;
        while self.tls.conn.is_handshaking() {
            self.tls.conn.complete_io(&mut self.tls.sock)?;
        }
        Ok(())
    }

    /// Connects `client_id` with clean start over TLS; returns the client and CONNACK.
    pub(crate) fn connect(
        addr: SocketAddr,
        setup: &ClientSetup,
        version: ProtocolVersion,
        client_id: &str,
    ) -> (Self, Result<Packet, TlsEnded>) {
        let mut client = Self::open(addr, setup, version);
        let connect = crate::common::connect_packet(version, client_id);
        let sent = client.try_send(&Packet::Connect(Box::new(connect)));
        let answer = match sent {
            Ok(()) => client.recv_within(TLS_WAIT),
            Err(e) => Err(TlsEnded::Error(e)),
        };
        (client, answer)
    }

    /// Connects and asserts a successful CONNACK.
    pub(crate) fn connected(
        addr: SocketAddr,
        setup: &ClientSetup,
        version: ProtocolVersion,
        client_id: &str,
    ) -> Self {
        let (client, answer) = Self::connect(addr, setup, version, client_id);
        match answer {
            Ok(Packet::ConnAck(ack)) if !ack.reason_code.is_error() => client,
            other => panic!("expected a successful CONNACK for {client_id}, got {other:?}"),
        }
    }

    pub(crate) fn try_send(&mut self, packet: &Packet) -> io::Result<()> {
        let mut out = BytesMut::new();
        encode(packet, self.version, &mut out).expect("test packet encodes");
        self.tls.write_all(&out)?;
        self.tls.flush()
    }

    pub(crate) fn send(&mut self, packet: &Packet) {
        self.try_send(packet).expect("send over TLS");
    }

    /// The next packet within `timeout`, or how the wait ended.
    pub(crate) fn recv_within(&mut self, timeout: Duration) -> Result<Packet, TlsEnded> {
        let deadline = Instant::now() + timeout;
        let limits = DecodeLimits::default();
        loop {
            if let Some(packet) = decode(&mut self.buf, self.version, &limits).expect("decodes") {
                return Ok(packet);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(TlsEnded::Timeout);
            }
            self.tls.sock.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 16 * 1024];
            match self.tls.read(&mut chunk) {
                Ok(0) => return Err(TlsEnded::Eof),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(TlsEnded::Timeout);
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(TlsEnded::Eof),
                Err(e) => return Err(TlsEnded::Error(e)),
            }
        }
    }

    /// The next packet, which must arrive within [`TLS_WAIT`].
    pub(crate) fn recv(&mut self) -> Packet {
        self.recv_within(TLS_WAIT)
            .unwrap_or_else(|e| panic!("expected a packet, got {e:?}"))
    }
}
