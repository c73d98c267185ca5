//! TLS listeners: [`TlsConfig`] (one listener's certificate, key, client-certificate rules and
//! minimum version), loaded into a rustls server configuration that a SIGHUP-style
//! [`crate::ServerHandle::reload_tls`] swaps without touching open connections.
//!
//! - `load.rs`: PEM files → `rustls::ServerConfig`; the per-listener swap slot.
//! - `verify.rs`: the client-certificate verifier (webpki, plus "has the identity we need").
//! - `identity.rs`: a client certificate's subject CN or Subject Alternative Name, from DER.
//! - `session.rs`: one connection's TLS state driven over a non-blocking socket.
//!
//! Not here: sockets and the event loop (`worker/`), MQTT (`conn/`): TLS sits below the
//! connection state machine, which only ever sees plaintext.

mod identity;
mod load;
mod session;
mod verify;

use std::path::PathBuf;

pub(crate) use load::TlsListener;
pub(crate) use session::{TlsFailure, TlsSession};

/// The TLS settings of one listener (Mosquitto's listener options of the same names).
///
/// # Examples
///
/// ```no_run
/// use mqlite::{Broker, Config};
/// use mqlite_net::{Server, TlsConfig, TlsVersion};
///
/// let broker = Broker::new(Config::default());
/// let tls = TlsConfig::new("/etc/mqlite/server.crt", "/etc/mqlite/server.key")
///     .cafile("/etc/mqlite/ca.crt")
///     .require_certificate(true)
///     .use_identity_as_username(true)
///     .min_version(TlsVersion::Tls13);
/// let server = Server::builder(broker)
///     .listen("127.0.0.1:1883")
///     .listen_tls("0.0.0.0:8883", tls)
///     .bind()?
///     .spawn()?;
/// // Later, once new certificate files are in place (the `mqlite` binary does this on
/// // SIGHUP): new handshakes use them, open connections stay.
/// server.reload_tls()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsConfig {
    /// The server's certificate chain, PEM: its own certificate first, then intermediates.
    pub certfile: PathBuf,
    /// The server's private key, PEM (PKCS#8, PKCS#1 RSA or SEC1 EC; not encrypted).
    pub keyfile: PathBuf,
    /// CA certificates (PEM) that client certificates must chain to. Without
    /// `require_certificate` a client may still present a certificate, which must then be
    /// valid.
    pub cafile: Option<PathBuf>,
    /// Refuse, during the handshake, a client without a valid certificate (missing,
    /// expired, from another CA): it never reaches CONNECT. Needs `cafile`.
    pub require_certificate: bool,
    /// Use the client certificate's identity (see `identity_source`) as the MQTT username,
    /// in place of the CONNECT's username and password, as Mosquitto does. Needs
    /// `require_certificate`; a certificate without that identity fails the handshake.
    pub use_identity_as_username: bool,
    /// Which field of the client certificate is its identity.
    pub identity_source: IdentitySource,
    /// The oldest TLS version accepted (Mosquitto's `tls_version`).
    pub min_version: TlsVersion,
}

impl TlsConfig {
    /// A listener with this certificate chain and key; no client certificates, TLS 1.2 and
    /// 1.3.
    pub fn new(certfile: impl Into<PathBuf>, keyfile: impl Into<PathBuf>) -> Self {
        Self {
            certfile: certfile.into(),
            keyfile: keyfile.into(),
            cafile: None,
            require_certificate: false,
            use_identity_as_username: false,
            identity_source: IdentitySource::CommonName,
            min_version: TlsVersion::Tls12,
        }
    }

    /// Sets [`TlsConfig::cafile`].
    #[must_use]
    pub fn cafile(mut self, path: impl Into<PathBuf>) -> Self {
        self.cafile = Some(path.into());
        self
    }

    /// Sets [`TlsConfig::require_certificate`].
    #[must_use]
    pub fn require_certificate(mut self, require: bool) -> Self {
        self.require_certificate = require;
        self
    }

    /// Sets [`TlsConfig::use_identity_as_username`].
    #[must_use]
    pub fn use_identity_as_username(mut self, use_identity: bool) -> Self {
        self.use_identity_as_username = use_identity;
        self
    }

    /// Sets [`TlsConfig::identity_source`].
    #[must_use]
    pub fn identity_source(mut self, source: IdentitySource) -> Self {
        self.identity_source = source;
        self
    }

    /// Sets [`TlsConfig::min_version`].
    #[must_use]
    pub fn min_version(mut self, version: TlsVersion) -> Self {
        self.min_version = version;
        self
    }
}

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum TlsVersion {
    /// TLS 1.2 (RFC 5246).
    Tls12,
    /// TLS 1.3 (RFC 8446).
    Tls13,
}

impl std::str::FromStr for TlsVersion {
    type Err = TlsError;

    /// Mosquitto's spelling: `tlsv1.2` or `tlsv1.3`.
    fn from_str(s: &str) -> Result<Self, TlsError> {
        match s {
            "tlsv1.2" => Ok(Self::Tls12),
            "tlsv1.3" => Ok(Self::Tls13),
            other => Err(TlsError::UnknownValue {
                key: "tls_version",
                value: other.to_owned(),
                expected: "tlsv1.2 or tlsv1.3 (older versions are not supported)",
            }),
        }
    }
}

/// The field of a client certificate that names its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum IdentitySource {
    /// The subject's first Common Name (Mosquitto's `use_identity_as_username`).
    #[default]
    CommonName,
    /// The first DNS name of the Subject Alternative Name extension.
    SanDns,
    /// The first e-mail address (rfc822Name) of the Subject Alternative Name extension.
    SanEmail,
    /// The first URI of the Subject Alternative Name extension (a SPIFFE id, say).
    SanUri,
}

impl std::str::FromStr for IdentitySource {
    type Err = TlsError;

    /// `cn`, `san_dns`, `san_email` or `san_uri`.
    fn from_str(s: &str) -> Result<Self, TlsError> {
        match s {
            "cn" => Ok(Self::CommonName),
            "san_dns" => Ok(Self::SanDns),
            "san_email" => Ok(Self::SanEmail),
            "san_uri" => Ok(Self::SanUri),
            other => Err(TlsError::UnknownValue {
                key: "identity_source",
                value: other.to_owned(),
                expected: "cn, san_dns, san_email or san_uri",
            }),
        }
    }
}

/// Why a TLS listener's settings could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A file has no usable PEM item of the kind expected, or a malformed one.
    #[error("{}: {reason}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The certificate and key do not make a usable server identity (a key that does not
    /// match the certificate, an unsupported key type), or the CA bundle is unusable.
    #[error("{}: {reason}", path.display())]
    Invalid {
        /// The certificate or CA file.
        path: PathBuf,
        /// What rustls said.
        reason: String,
    },
    /// Options that do not go together.
    #[error("{0}")]
    Conflict(&'static str),
    /// A configuration value is not one of those known.
    #[error("{key} `{value}`: expected {expected}")]
    UnknownValue {
        /// The option.
        key: &'static str,
        /// The value given.
        value: String,
        /// The values accepted.
        expected: &'static str,
    },
}
