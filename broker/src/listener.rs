//! `[[listener]]` tables and the settings a listener may have of its own: TLS, the
//! authentication keys (`password_file`, `acl_file`, `allow_anonymous`, client-id rules,
//! `max_client_id_length`) and the abuse limits. What a listener leaves unset comes from the
//! top level (authentication) or from `[server]` (limits), in the spirit of Mosquitto's
//! `per_listener_settings true`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use mqlite_net::auth::{Acl, Auth, ClientIdRules, PasswordFile};
use mqlite_net::{ListenerConfig, ListenerLimits, Rate, TlsConfig};
use serde::Deserialize;

/// A string or a list of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// The authentication keys, at the top level (every listener) or in a `[[listener]]`.
#[derive(Debug, Default, Clone)]
pub(crate) struct AuthKeys {
    pub(crate) password_file: Option<PathBuf>,
    pub(crate) acl_file: Option<PathBuf>,
    pub(crate) allow_anonymous: Option<bool>,
    pub(crate) clientid_prefixes: Option<OneOrMany>,
    pub(crate) clientid_equals_username: Option<bool>,
    /// Only in a `[[listener]]`: the top level's limit is `[broker] max_client_id_length`.
    pub(crate) max_client_id_length: Option<usize>,
}

/// The shortest `max_client_id_length` a listener may set: the server MUST accept client ids
/// of 1 to 23 bytes [MQTT-3.1.3-5].
const MIN_CLIENT_ID_LIMIT: usize = 23;

impl AuthKeys {
    fn is_empty(&self) -> bool {
        self.password_file.is_none()
            && self.acl_file.is_none()
            && self.allow_anonymous.is_none()
            && self.clientid_prefixes.is_none()
            && self.clientid_equals_username.is_none()
            && self.max_client_id_length.is_none()
    }

    /// These keys, each one unset taken from `fallback`.
    pub(crate) fn or(&self, fallback: &AuthKeys) -> AuthKeys {
        AuthKeys {
            password_file: self
                .password_file
                .clone()
                .or(fallback.password_file.clone()),
            acl_file: self.acl_file.clone().or(fallback.acl_file.clone()),
            allow_anonymous: self.allow_anonymous.or(fallback.allow_anonymous),
            clientid_prefixes: self
                .clientid_prefixes
                .clone()
                .or(fallback.clientid_prefixes.clone()),
            clientid_equals_username: self
                .clientid_equals_username
                .or(fallback.clientid_equals_username),
            max_client_id_length: self.max_client_id_length.or(fallback.max_client_id_length),
        }
    }

    /// The password and ACL files read (paths relative to `base_dir`), the client-id rules.
    /// Anonymous clients, as in Mosquitto 2: an explicit `allow_anonymous` decides; unset,
    /// they are refused once there is a password file and accepted without one
    /// (`check_anonymous` then keeps them to loopback). So `allow_anonymous = false` without a
    /// password file refuses every client without a user name.
    pub(crate) fn build(&self, base_dir: &Path) -> anyhow::Result<Auth> {
        let mut builder = Auth::builder();
        if let Some(path) = &self.password_file {
            builder = builder.password_file(PasswordFile::load(base_dir.join(path))?);
        }
        // Unset: the builder's default, which is Mosquitto 2's (see above).
        if let Some(allow) = self.allow_anonymous {
            builder = builder.allow_anonymous(allow);
        }
        if let Some(path) = &self.acl_file {
            builder = builder.acl(Acl::load(base_dir.join(path))?);
        }
        let mut rules = ClientIdRules::default();
        rules.prefixes = match self.clientid_prefixes.clone() {
            None => Vec::new(),
            Some(OneOrMany::One(prefix)) => vec![prefix],
            Some(OneOrMany::Many(prefixes)) => prefixes,
        };
        rules.equals_username = self.clientid_equals_username.unwrap_or(false);
        if let Some(max) = self.max_client_id_length {
            if max < MIN_CLIENT_ID_LIMIT {
                bail!(
                    "max_client_id_length = {max}: must be at least {MIN_CLIENT_ID_LIMIT}, \
                     as every server accepts client ids of 1 to 23 bytes [MQTT-3.1.3-5]"
                );
            }
            rules.max_length = Some(max);
        }
        Ok(builder.client_ids(rules).build())
    }
}

/// The abuse-limit keys shared by `[server]` (every listener) and `[[listener]]`. Each rate
/// is a pair, `..._per_second` and its burst (0 or unset: one second's worth); a listener
/// that sets either key of a pair sets the whole pair. A count or rate of 0, or unset: no
/// limit.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LimitKeys {
    pub(crate) max_connections_per_ip: Option<usize>,
    pub(crate) connects_per_second_per_ip: Option<u64>,
    pub(crate) connect_burst_per_ip: Option<u64>,
    pub(crate) inbound_messages_per_second: Option<u64>,
    pub(crate) inbound_message_burst: Option<u64>,
    pub(crate) inbound_bytes_per_second: Option<u64>,
    pub(crate) inbound_burst_bytes: Option<u64>,
}

/// A rate and its burst, or none of them.
type Pair = (Option<u64>, Option<u64>);

fn pair_or(own: Pair, fallback: Pair) -> Pair {
    if own.0.is_some() || own.1.is_some() {
        own
    } else {
        fallback
    }
}

fn rate((per_second, burst): Pair, name: &str) -> anyhow::Result<Option<Rate>> {
    match (per_second, burst) {
        (None | Some(0), Some(b)) if b > 0 => {
            bail!("a burst without a rate: set {name} too (0 or unset means no limit)")
        }
        // A burst of 0 or unset: one second's worth.
        (Some(rate), burst) => Ok(Rate::new(rate, burst.filter(|&b| b > 0).unwrap_or(rate))),
        _ => Ok(None),
    }
}

impl LimitKeys {
    fn is_empty(&self) -> bool {
        self.max_connections_per_ip.is_none()
            && self.connects_per_second_per_ip.is_none()
            && self.connect_burst_per_ip.is_none()
            && self.inbound_messages_per_second.is_none()
            && self.inbound_message_burst.is_none()
            && self.inbound_bytes_per_second.is_none()
            && self.inbound_burst_bytes.is_none()
    }

    /// These keys, each one (or rate pair) unset taken from `fallback`.
    pub(crate) fn or(&self, fallback: &LimitKeys) -> LimitKeys {
        let (connects, connect_burst) = pair_or(
            (self.connects_per_second_per_ip, self.connect_burst_per_ip),
            (
                fallback.connects_per_second_per_ip,
                fallback.connect_burst_per_ip,
            ),
        );
        let (messages, message_burst) = pair_or(
            (self.inbound_messages_per_second, self.inbound_message_burst),
            (
                fallback.inbound_messages_per_second,
                fallback.inbound_message_burst,
            ),
        );
        let (bytes, burst_bytes) = pair_or(
            (self.inbound_bytes_per_second, self.inbound_burst_bytes),
            (
                fallback.inbound_bytes_per_second,
                fallback.inbound_burst_bytes,
            ),
        );
        LimitKeys {
            max_connections_per_ip: self
                .max_connections_per_ip
                .or(fallback.max_connections_per_ip),
            connects_per_second_per_ip: connects,
            connect_burst_per_ip: connect_burst,
            inbound_messages_per_second: messages,
            inbound_message_burst: message_burst,
            inbound_bytes_per_second: bytes,
            inbound_burst_bytes: burst_bytes,
        }
    }

    /// The limits these keys set, with a listener's own `max_connections`.
    pub(crate) fn to_limits(
        self,
        max_connections: Option<usize>,
    ) -> anyhow::Result<ListenerLimits> {
        let mut limits = ListenerLimits::default();
        limits.max_connections = max_connections.filter(|&n| n > 0);
        limits.max_connections_per_ip = self.max_connections_per_ip.filter(|&n| n > 0);
        limits.connect_rate_per_ip = rate(
            (self.connects_per_second_per_ip, self.connect_burst_per_ip),
            "connects_per_second_per_ip",
        )?;
        limits.inbound_message_rate = rate(
            (self.inbound_messages_per_second, self.inbound_message_burst),
            "inbound_messages_per_second",
        )?;
        limits.inbound_byte_rate = rate(
            (self.inbound_bytes_per_second, self.inbound_burst_bytes),
            "inbound_bytes_per_second",
        )?;
        Ok(limits)
    }
}

/// `[[listener]]`: one listener and its own settings, with Mosquitto's option names.
/// Without `certfile` and `keyfile` it is plain TCP.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListenerSection {
    /// `host:port`.
    pub(crate) address: String,
    certfile: Option<PathBuf>,
    keyfile: Option<PathBuf>,
    cafile: Option<PathBuf>,
    require_certificate: Option<bool>,
    use_identity_as_username: Option<bool>,
    /// `cn` (default), `san_dns`, `san_email` or `san_uri`.
    identity_source: Option<String>,
    /// The minimum version: `tlsv1.2` (default) or `tlsv1.3`.
    tls_version: Option<String>,
    password_file: Option<PathBuf>,
    acl_file: Option<PathBuf>,
    allow_anonymous: Option<bool>,
    clientid_prefixes: Option<OneOrMany>,
    clientid_equals_username: Option<bool>,
    /// The longest client id accepted on this listener, in bytes (at least 23), on top of
    /// `[broker] max_client_id_length`.
    max_client_id_length: Option<usize>,
    /// Connections open on this listener at most (Mosquitto's listener option).
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    connects_per_second_per_ip: Option<u64>,
    connect_burst_per_ip: Option<u64>,
    inbound_messages_per_second: Option<u64>,
    inbound_message_burst: Option<u64>,
    inbound_bytes_per_second: Option<u64>,
    inbound_burst_bytes: Option<u64>,
}

impl ListenerSection {
    /// Whether clients of this listener must show a valid certificate, which then
    /// authenticates them.
    pub(crate) fn requires_certificate(&self) -> bool {
        self.require_certificate.unwrap_or(false)
    }

    /// The authentication keys this table sets.
    pub(crate) fn auth_keys(&self) -> AuthKeys {
        AuthKeys {
            password_file: self.password_file.clone(),
            acl_file: self.acl_file.clone(),
            allow_anonymous: self.allow_anonymous,
            clientid_prefixes: self.clientid_prefixes.clone(),
            clientid_equals_username: self.clientid_equals_username,
            max_client_id_length: self.max_client_id_length,
        }
    }

    fn limit_keys(&self) -> LimitKeys {
        LimitKeys {
            max_connections_per_ip: self.max_connections_per_ip,
            connects_per_second_per_ip: self.connects_per_second_per_ip,
            connect_burst_per_ip: self.connect_burst_per_ip,
            inbound_messages_per_second: self.inbound_messages_per_second,
            inbound_message_burst: self.inbound_message_burst,
            inbound_bytes_per_second: self.inbound_bytes_per_second,
            inbound_burst_bytes: self.inbound_burst_bytes,
        }
    }

    /// The listener's settings: its TLS, and its own authentication and limits where it
    /// sets any key of them (the unset keys from `global_auth` and `server_limits`);
    /// otherwise the server's (`None`). Paths are relative to `base_dir`.
    pub(crate) fn config(
        &self,
        base_dir: &Path,
        global_auth: &AuthKeys,
        server_limits: &LimitKeys,
    ) -> anyhow::Result<ListenerConfig> {
        let what = || format!("[[listener]] {}", self.address);
        let mut config = ListenerConfig::new();
        if let Some(tls) = self.tls(base_dir)? {
            config = config.tls(tls);
        }
        let auth = self.auth_keys();
        if !auth.is_empty() {
            config = config.auth(auth.or(global_auth).build(base_dir).with_context(what)?);
        }
        let limits = self.limit_keys();
        if !limits.is_empty() || self.max_connections.is_some() {
            let merged = limits.or(server_limits);
            config = config.limits(merged.to_limits(self.max_connections).with_context(what)?);
        }
        Ok(config)
    }

    /// The listener's TLS settings (file paths relative to `base_dir`), or `None` for plain
    /// TCP.
    pub(crate) fn tls(&self, base_dir: &Path) -> anyhow::Result<Option<TlsConfig>> {
        let what = || format!("[[listener]] {}", self.address);
        let (certfile, keyfile) = match (&self.certfile, &self.keyfile) {
            (Some(cert), Some(key)) => (base_dir.join(cert), base_dir.join(key)),
            (None, None) => {
                let tls_only = [
                    ("cafile", self.cafile.is_some()),
                    ("require_certificate", self.require_certificate.is_some()),
                    (
                        "use_identity_as_username",
                        self.use_identity_as_username.is_some(),
                    ),
                    ("identity_source", self.identity_source.is_some()),
                    ("tls_version", self.tls_version.is_some()),
                ];
                if let Some((key, _)) = tls_only.iter().find(|(_, set)| *set) {
                    bail!("{}: `{key}` needs TLS: set certfile and keyfile", what());
                }
                return Ok(None);
            }
            _ => bail!("{}: certfile and keyfile go together", what()),
        };
        let mut tls = TlsConfig::new(certfile, keyfile)
            .require_certificate(self.requires_certificate())
            .use_identity_as_username(self.use_identity_as_username.unwrap_or(false));
        if let Some(cafile) = &self.cafile {
            tls = tls.cafile(base_dir.join(cafile));
        }
        if let Some(source) = &self.identity_source {
            tls = tls.identity_source(source.parse().with_context(what)?);
        }
        if let Some(version) = &self.tls_version {
            tls = tls.min_version(version.parse().with_context(what)?);
        }
        Ok(Some(tls))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(allow_anonymous: Option<bool>) -> AuthKeys {
        AuthKeys {
            allow_anonymous,
            ..AuthKeys::default()
        }
    }

    /// Mosquitto 2: `allow_anonymous false` without a password file lets no client without a
    /// user name in; unset, they stay welcome (on loopback: `check_anonymous`).
    #[test]
    fn explicit_allow_anonymous_false_refuses_without_a_password_file() {
        let dir = Path::new("");
        let closed = Auth::builder().allow_anonymous(false).build();
        assert_eq!(keys(Some(false)).build(dir).unwrap(), closed);
        assert_eq!(keys(None).build(dir).unwrap(), Auth::default());
        assert_eq!(keys(Some(true)).build(dir).unwrap(), Auth::default());
        // A listener inherits the top level's `false` unless it says otherwise.
        let listener = AuthKeys {
            clientid_equals_username: Some(false),
            ..AuthKeys::default()
        };
        assert_eq!(listener.or(&keys(Some(false))).build(dir).unwrap(), closed);
        let own = keys(Some(true)).or(&keys(Some(false)));
        assert_eq!(own.build(dir).unwrap(), Auth::default());
    }

    fn section(text: &str) -> ListenerSection {
        toml::from_str(&format!("address = \"127.0.0.1:1\"\n{text}")).unwrap()
    }

    /// `max_client_id_length` in a `[[listener]]` gives it client-id rules of its own, the
    /// rest of its authentication from the top level; below 23 it is refused, as a server
    /// must accept 23-byte ids [MQTT-3.1.3-5].
    #[test]
    fn listener_max_client_id_length_sets_the_rule() {
        let dir = Path::new("");
        let (top, limits) = (keys(Some(false)), LimitKeys::default());
        let config = section("max_client_id_length = 30\n")
            .config(dir, &top, &limits)
            .unwrap();
        let mut rules = ClientIdRules::default();
        rules.max_length = Some(30);
        let expected = Auth::builder()
            .allow_anonymous(false)
            .client_ids(rules)
            .build();
        assert_eq!(config.auth, Some(expected));

        assert!(
            section("max_client_id_length = 23\n")
                .config(dir, &top, &limits)
                .is_ok()
        );
        let err = section("max_client_id_length = 22\n")
            .config(dir, &top, &limits)
            .unwrap_err();
        let err = format!("{err:#}");
        assert!(
            err.contains("127.0.0.1:1") && err.contains("[MQTT-3.1.3-5]"),
            "{err}"
        );
    }
}
