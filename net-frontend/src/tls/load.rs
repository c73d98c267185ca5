//! From a [`TlsConfig`] to a `rustls::ServerConfig`: PEM files read, the client-certificate
//! verifier chosen, versions and ALPN set. A [`TlsListener`] keeps the current one in a
//! swap slot: every accepted connection takes the configuration of the moment (one read lock
//! and an `Arc` clone), so a reload changes new handshakes only.

use std::path::Path;
use std::sync::Arc;

use parking_lot::RwLock;
use rustls::RootCertStore;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::version::{TLS12, TLS13};

use super::verify::IdentityVerifier;
use super::{TlsConfig, TlsError, TlsVersion};

/// The ALPN protocol id offered: the IANA registration for MQTT.
const ALPN_MQTT: &[u8] = b"mqtt";

/// One TLS listener: its settings and the rustls configuration new handshakes use.
#[derive(Debug)]
pub(crate) struct TlsListener {
    settings: TlsConfig,
    current: RwLock<Arc<ServerConfig>>,
}

impl TlsListener {
    /// Reads the files of `settings`.
    pub(crate) fn load(settings: TlsConfig) -> Result<Self, TlsError> {
        let current = RwLock::new(build(&settings)?);
        Ok(Self { settings, current })
    }

    /// Reads the files again and, if they are good, makes new handshakes use them. On error
    /// the previous configuration stays.
    pub(crate) fn reload(&self) -> Result<(), TlsError> {
        let fresh = build(&self.settings)?;
        *self.current.write() = fresh;
        Ok(())
    }

    /// The configuration for a connection accepted now.
    pub(crate) fn current(&self) -> Arc<ServerConfig> {
        self.current.read().clone()
    }

    /// The listener's settings.
    pub(crate) fn settings(&self) -> &TlsConfig {
        &self.settings
    }
}

/// Builds the rustls configuration of `settings`.
fn build(settings: &TlsConfig) -> Result<Arc<ServerConfig>, TlsError> {
    if settings.require_certificate && settings.cafile.is_none() {
        return Err(TlsError::Conflict(
            "require_certificate needs a cafile to verify client certificates against",
        ));
    }
    if settings.use_identity_as_username && !settings.require_certificate {
        return Err(TlsError::Conflict(
            "use_identity_as_username needs require_certificate = true",
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match settings.min_version {
        TlsVersion::Tls12 => &[&TLS13, &TLS12],
        TlsVersion::Tls13 => &[&TLS13],
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| invalid(&settings.certfile, &e))?;
    let builder = match &settings.cafile {
        None => builder.with_no_client_auth(),
        Some(cafile) => {
            let roots = Arc::new(load_roots(cafile)?);
            let mut verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
            if !settings.require_certificate {
                // A certificate is optional, but one that is shown must be valid.
                verifier = verifier.allow_unauthenticated();
            }
            let mut verifier = verifier.build().map_err(|e| invalid(cafile, &e))?;
            if settings.use_identity_as_username {
                verifier = Arc::new(IdentityVerifier {
                    inner: verifier,
                    source: settings.identity_source,
                });
            }
            builder.with_client_cert_verifier(verifier)
        }
    };
    let certs = load_certs(&settings.certfile)?;
    let key = load_key(&settings.keyfile)?;
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| invalid(&settings.certfile, &e))?;
    config.alpn_protocols = vec![ALPN_MQTT.to_vec()];
    Ok(Arc::new(config))
}

fn invalid(path: &Path, error: &dyn std::fmt::Display) -> TlsError {
    TlsError::Invalid {
        path: path.to_owned(),
        reason: error.to_string(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn pem_error(path: &Path, what: &str, error: &pem::Error) -> TlsError {
    let reason = match error {
        pem::Error::NoItemsFound => format!("no PEM {what} found"),
        other => format!("bad PEM {what}: {other}"),
    };
    TlsError::Pem {
        path: path.to_owned(),
        reason,
    }
}

/// Every certificate of a PEM file, in order; at least one.
fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, "certificate", &e))?;
    if certs.is_empty() {
        return Err(pem_error(path, "certificate", &pem::Error::NoItemsFound));
    }
    Ok(certs)
}

/// The first private key of a PEM file.
fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        if matches!(e, pem::Error::NoItemsFound) && pem.windows(9).any(|w| w == b"ENCRYPTED") {
            TlsError::Pem {
                path: path.to_owned(),
                reason: "the private key is encrypted; give an unencrypted key \
                         (`openssl pkey -in KEY -out PLAIN`)"
                    .to_owned(),
            }
        } else {
            pem_error(path, "private key (PKCS#8, PKCS#1 or SEC1)", &e)
        }
    })
}

/// The CA certificates of a PEM bundle; at least one.
fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots.add(cert).map_err(|e| invalid(path, &e))?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair};

    struct Files {
        dir: tempfile::TempDir,
    }

    impl Files {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(vec!["localhost".to_owned()])
                .unwrap()
                .self_signed(&key)
                .unwrap();
            std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
            std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
            Self { dir }
        }

        fn path(&self, name: &str) -> std::path::PathBuf {
            self.dir.path().join(name)
        }

        fn config(&self) -> TlsConfig {
            TlsConfig::new(self.path("cert.pem"), self.path("key.pem"))
        }
    }

    #[test]
    fn loads_and_offers_mqtt_alpn() {
        let files = Files::new();
        let listener = TlsListener::load(files.config()).unwrap();
        assert_eq!(listener.current().alpn_protocols, vec![b"mqtt".to_vec()]);
    }

    #[test]
    fn file_errors_name_the_file() {
        let files = Files::new();
        let missing = TlsListener::load(TlsConfig::new(
            files.path("nope.pem"),
            files.path("key.pem"),
        ));
        assert!(matches!(missing, Err(TlsError::Read { .. })));
        // The certificate given as the key: no key in it.
        let err = TlsListener::load(TlsConfig::new(
            files.path("cert.pem"),
            files.path("cert.pem"),
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("cert.pem") && err.contains("no PEM private key"),
            "{err}"
        );
        let err = TlsListener::load(TlsConfig::new(files.path("key.pem"), files.path("key.pem")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no PEM certificate"), "{err}");
    }

    #[test]
    fn key_of_another_certificate_is_refused() {
        let files = Files::new();
        std::fs::write(
            files.path("other.pem"),
            KeyPair::generate().unwrap().serialize_pem(),
        )
        .unwrap();
        let result = TlsListener::load(TlsConfig::new(
            files.path("cert.pem"),
            files.path("other.pem"),
        ));
        assert!(
            matches!(result, Err(TlsError::Invalid { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn conflicting_options_are_refused() {
        let files = Files::new();
        let err = TlsListener::load(files.config().require_certificate(true)).unwrap_err();
        assert!(err.to_string().contains("cafile"), "{err}");
        let err = TlsListener::load(
            files
                .config()
                .cafile(files.path("cert.pem"))
                .use_identity_as_username(true),
        )
        .unwrap_err();
        assert!(err.to_string().contains("require_certificate"), "{err}");
    }

    #[test]
    fn reload_keeps_the_old_configuration_on_error() {
        let files = Files::new();
        let listener = TlsListener::load(files.config()).unwrap();
        let before = listener.current();
        std::fs::write(files.path("key.pem"), "garbage").unwrap();
        assert!(listener.reload().is_err());
        assert!(Arc::ptr_eq(&before, &listener.current()));
    }
}
