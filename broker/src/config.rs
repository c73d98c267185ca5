//! The `mqlite` configuration file (TOML): every key optional, unknown keys refused. The
//! annotated example is `broker/mqlite.example.toml`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use mqlite::Config;
use mqlite_net::ServerConfig;
use mqlite_net::auth::Auth;
use serde::Deserialize;

use crate::listener::{AuthKeys, LimitKeys, ListenerSection, OneOrMany};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// Addresses to listen on; default `["127.0.0.1:1883"]`.
    pub(crate) listen: Option<Vec<String>>,
    /// Clients without a user name: `true` accepts them (also on non-loopback listeners),
    /// `false` refuses them (CONNACK 0x87 / 5), password file or not. Unset: refused with a
    /// password file; accepted without one, on loopback only (Mosquitto 2's rules).
    pub(crate) allow_anonymous: Option<bool>,
    /// Mosquitto 2 password file (`mqlite passwd`); relative to the config file's folder.
    pub(crate) password_file: Option<PathBuf>,
    /// Mosquitto ACL file; relative to the config file's folder.
    pub(crate) acl_file: Option<PathBuf>,
    /// Allowed client-id prefixes: one string (as in Mosquitto) or a list.
    pub(crate) clientid_prefixes: Option<OneOrMany>,
    /// The client id must equal the user name.
    pub(crate) clientid_equals_username: Option<bool>,
    /// Durable mode (`persistence.rs`): `true` keeps sessions, queues and retained messages
    /// in `persistence_location` across restarts. Default `false`: in memory.
    pub(crate) persistence: Option<bool>,
    /// The store's folder; relative to the config file's folder; default `mqlite-data`.
    pub(crate) persistence_location: Option<PathBuf>,
    /// When the store fsyncs: `commit` (default), `periodic` or `none`.
    pub(crate) persistence_sync: Option<String>,
    /// The fsync interval of `periodic`, in milliseconds; default 1000.
    pub(crate) persistence_sync_interval_ms: Option<u64>,
    /// The folder of the config file, for relative paths.
    #[serde(skip)]
    pub(crate) base_dir: PathBuf,
    /// `[[listener]]` tables: listeners with settings of their own (TLS, authentication,
    /// limits), beside `listen`.
    #[serde(default)]
    pub(crate) listener: Vec<ListenerSection>,
    #[serde(default)]
    pub(crate) server: ServerSection,
    #[serde(default)]
    pub(crate) broker: BrokerSection,
}

/// `[server]`: the network frontend ([`ServerConfig`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerSection {
    workers: Option<usize>,
    max_connections: Option<usize>,
    max_packet_size: Option<usize>,
    connect_timeout: Option<u64>,
    max_keepalive: Option<u16>,
    topic_alias_maximum: Option<u16>,
    max_write_buffer_bytes: Option<usize>,
    write_stall_timeout: Option<u64>,
    response_information: Option<String>,
    delivery_batch: Option<usize>,
    full_queue_backoff_ms: Option<u64>,
    max_tracked_ips: Option<usize>,
    // The abuse limits of every listener without its own (`LimitKeys`).
    max_connections_per_ip: Option<usize>,
    connects_per_second_per_ip: Option<u64>,
    connect_burst_per_ip: Option<u64>,
    inbound_messages_per_second: Option<u64>,
    inbound_message_burst: Option<u64>,
    inbound_bytes_per_second: Option<u64>,
    inbound_burst_bytes: Option<u64>,
}

impl ServerSection {
    /// The limits every listener has unless it sets its own.
    pub(crate) fn limit_keys(&self) -> LimitKeys {
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
}

/// `[broker]`: the router ([`mqlite::Config`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BrokerSection {
    max_queued_messages: Option<usize>,
    max_queued_bytes: Option<usize>,
    max_inflight_messages: Option<u16>,
    overflow_policy: Option<String>,
    queue_qos0_messages: Option<bool>,
    max_payload_size: Option<usize>,
    max_topic_length: Option<usize>,
    max_topic_levels: Option<usize>,
    max_subscriptions_per_client: Option<usize>,
    max_retained_messages: Option<usize>,
    max_retained_bytes: Option<usize>,
    max_clients: Option<usize>,
    max_client_id_length: Option<usize>,
    shared_subscription_strategy: Option<String>,
    max_session_expiry: Option<u64>,
    sys_interval: Option<u64>,
}

/// Sets `$target` from `$section.$field` when the file has it (`|f| expr` converts).
macro_rules! apply {
    ($target:ident, $section:expr, $($field:ident),*) => {$(
        if let Some(v) = $section.$field.clone() { $target.$field = v; }
    )*};
}

impl FileConfig {
    /// Reads and parses `path`.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let mut file: Self =
            toml::from_str(&text).with_context(|| format!("config file {}", path.display()))?;
        file.base_dir = path.parent().map(Path::to_owned).unwrap_or_default();
        Ok(file)
    }

    /// The top-level authentication keys: those of `listen` addresses, and of every
    /// `[[listener]]` for the keys it does not set.
    pub(crate) fn auth_keys(&self) -> AuthKeys {
        AuthKeys {
            password_file: self.password_file.clone(),
            acl_file: self.acl_file.clone(),
            allow_anonymous: self.allow_anonymous,
            clientid_prefixes: self.clientid_prefixes.clone(),
            clientid_equals_username: self.clientid_equals_username,
            max_client_id_length: None,
        }
    }

    /// The top-level authentication: password and ACL files read, client-id rules.
    pub(crate) fn auth(&self) -> anyhow::Result<Auth> {
        self.auth_keys().build(&self.base_dir)
    }

    /// The frontend's settings: defaults overridden by `[server]`.
    pub(crate) fn server_config(&self) -> anyhow::Result<ServerConfig> {
        let s = &self.server;
        let mut c = ServerConfig::default();
        apply!(
            c,
            s,
            workers,
            max_connections,
            max_packet_size,
            max_keepalive
        );
        apply!(
            c,
            s,
            topic_alias_maximum,
            max_write_buffer_bytes,
            delivery_batch
        );
        if let Some(secs) = s.connect_timeout {
            c.connect_timeout = Duration::from_secs(secs);
        }
        if let Some(secs) = s.write_stall_timeout {
            c.write_stall_timeout = Duration::from_secs(secs);
        }
        if let Some(ms) = s.full_queue_backoff_ms {
            c.full_queue_backoff = Duration::from_millis(ms);
        }
        if let Some(info) = &s.response_information {
            // An empty string turns Response Information off.
            c.response_information = (!info.is_empty()).then(|| info.clone());
        }
        if let Some(max) = s.max_tracked_ips {
            c.max_tracked_ips = max;
        }
        c.limits = s.limit_keys().to_limits(None).context("[server]")?;
        Ok(c)
    }

    /// The router's settings: the binary's defaults overridden by `[broker]`.
    pub(crate) fn broker_config(&self) -> anyhow::Result<Config> {
        let b = &self.broker;
        let mut c = Config::default();
        // A standalone broker serves more clients than an embedded router's default.
        c.max_clients = 100_000;
        apply!(
            c,
            b,
            max_queued_messages,
            max_queued_bytes,
            max_inflight_messages
        );
        apply!(
            c,
            b,
            queue_qos0_messages,
            max_payload_size,
            max_topic_length,
            max_topic_levels
        );
        apply!(
            c,
            b,
            max_subscriptions_per_client,
            max_retained_messages,
            max_retained_bytes
        );
        apply!(c, b, max_clients, max_client_id_length);
        if let Some(policy) = &b.overflow_policy {
            c.overflow_policy = policy.parse().context("broker.overflow_policy")?;
        }
        if let Some(strategy) = &b.shared_subscription_strategy {
            c.shared_subscription_strategy = strategy
                .parse()
                .context("broker.shared_subscription_strategy")?;
        }
        if let Some(secs) = b.max_session_expiry {
            c.max_session_expiry = Some(Duration::from_secs(secs));
        }
        if let Some(secs) = b.sys_interval {
            c.sys_interval = (secs > 0).then(|| Duration::from_secs(secs));
        }
        Ok(c)
    }
}

/// Refuses a listener off loopback when no authentication is configured and anonymous
/// clients are not explicitly allowed, as Mosquitto 2 does.
pub(crate) fn check_anonymous(
    addrs: &[SocketAddr],
    allow_anonymous: bool,
    has_password_file: bool,
) -> anyhow::Result<()> {
    if allow_anonymous || has_password_file {
        return Ok(());
    }
    if let Some(addr) = addrs.iter().find(|a| !a.ip().is_loopback()) {
        bail!(
            "listener {addr} is not on loopback and no authentication is configured: \
             set `password_file` (see docs/security.md), or `allow_anonymous = true` to \
             accept anonymous clients on it"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqlite_net::auth::ClientIdRules;

    #[test]
    fn the_example_file_parses_and_applies() {
        let text = include_str!("../mqlite.example.toml");
        let file: FileConfig = toml::from_str(text).unwrap();
        assert_eq!(
            file.listen.as_deref(),
            Some(&["127.0.0.1:1883".to_owned()][..])
        );
        let broker = file.broker_config().unwrap();
        assert_eq!(broker.max_queued_messages, 1000);
        let server = file.server_config().unwrap();
        assert_eq!(server.max_packet_size, 1 << 20);
        // Every limit at its documented default: off.
        assert_eq!(server.limits, mqlite_net::ListenerLimits::default());
        assert_eq!(server.max_tracked_ips, 100_000);
    }

    #[test]
    fn unknown_keys_and_values_are_refused() {
        assert!(toml::from_str::<FileConfig>("[server]\nmax_conections = 5\n").is_err());
        let file: FileConfig =
            toml::from_str("[broker]\noverflow_policy = \"drop_all\"\n").unwrap();
        let err = format!("{:#}", file.broker_config().unwrap_err());
        assert_eq!(
            err,
            "broker.overflow_policy: overflow policy `drop_all`: \
             expected drop_newest, drop_oldest or disconnect"
        );
        let file: FileConfig =
            toml::from_str("[broker]\nshared_subscription_strategy = \"fair\"\n").unwrap();
        let err = format!("{:#}", file.broker_config().unwrap_err());
        assert!(
            err.contains("`fair`: expected round_robin, random or sticky"),
            "{err}"
        );
    }

    #[test]
    fn non_loopback_listener_needs_allow_anonymous() {
        let public: SocketAddr = "0.0.0.0:1883".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:1883".parse().unwrap();
        assert!(check_anonymous(&[local], false, false).is_ok());
        let err = check_anonymous(&[local, public], false, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("allow_anonymous"), "{err}");
        assert!(err.contains("password_file"), "{err}");
        assert!(check_anonymous(&[public], true, false).is_ok());
        assert!(check_anonymous(&[public], false, true).is_ok());
    }

    #[test]
    fn auth_files_are_read_relative_to_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let hash = mqlite_net::auth::hash_password(b"pw", 101).unwrap();
        std::fs::write(dir.path().join("passwd"), format!("alice:{hash}\n")).unwrap();
        std::fs::write(dir.path().join("acl"), "user alice\ntopic alice/#\n").unwrap();
        let config = dir.path().join("mqlite.toml");
        std::fs::write(
            &config,
            "password_file = \"passwd\"\nacl_file = \"acl\"\nclientid_prefixes = \"dev-\"\n",
        )
        .unwrap();
        let auth = FileConfig::load(&config).unwrap().auth().unwrap();
        assert!(auth.has_password_file());
        assert!(auth.acl().is_some());

        std::fs::write(&config, "acl_file = \"missing\"\n").unwrap();
        let err = format!(
            "{:#}",
            FileConfig::load(&config).unwrap().auth().unwrap_err()
        );
        assert!(err.contains("missing"), "{err}");
        std::fs::write(dir.path().join("acl"), "topic read a\nbogus\n").unwrap();
        std::fs::write(&config, "acl_file = \"acl\"\n").unwrap();
        let err = format!(
            "{:#}",
            FileConfig::load(&config).unwrap().auth().unwrap_err()
        );
        assert!(err.contains("line 2"), "{err}");
    }

    /// The commented-out `[[listener]]` tables of the example file, uncommented, parse and
    /// make a TLS listener and a plain one.
    #[test]
    fn the_example_listener_tables_parse() {
        let text = include_str!("../mqlite.example.toml");
        let tables: String = text
            .lines()
            .skip_while(|line| *line != "# [[listener]]")
            .take_while(|line| !line.starts_with('['))
            .filter_map(|line| line.strip_prefix("# "))
            .filter(|line| !line.starts_with(' ')) // the indented explanations
            .map(|line| format!("{line}\n"))
            .collect();
        let file: FileConfig = toml::from_str(&tables).unwrap();
        let [tls, plain] = &file.listener[..] else {
            panic!("two [[listener]] tables expected in:\n{tables}");
        };
        let (no_auth, no_limits) = (AuthKeys::default(), LimitKeys::default());
        let remote = tls.config(Path::new(""), &no_auth, &no_limits).unwrap();
        let tls = remote.tls.unwrap();
        assert!(tls.require_certificate && tls.use_identity_as_username);
        assert!(tls.cafile.is_some());
        // Its own client-id limit, the rest of its authentication from the top level.
        let mut rules = ClientIdRules::default();
        rules.max_length = Some(64);
        assert_eq!(remote.auth, Some(Auth::builder().client_ids(rules).build()));
        let limits = remote.limits.unwrap();
        assert_eq!(limits.max_connections, Some(20_000));
        assert_eq!(limits.connect_rate_per_ip, mqlite_net::Rate::new(5, 20));
        assert_eq!(limits.inbound_message_rate, mqlite_net::Rate::new(500, 500));
        let local = plain.config(Path::new(""), &no_auth, &no_limits).unwrap();
        assert!(local.tls.is_none() && local.limits.is_none());
        assert!(local.auth.is_some(), "its own allow_anonymous");
    }

    #[test]
    fn listener_tables_make_tls_settings() {
        let file: FileConfig = toml::from_str(
            "[[listener]]\naddress = \"127.0.0.1:1883\"\n\
             [[listener]]\naddress = \"0.0.0.0:8883\"\ncertfile = \"s.pem\"\nkeyfile = \"/k.pem\"\n\
             cafile = \"ca.pem\"\nrequire_certificate = true\nuse_identity_as_username = true\n\
             identity_source = \"san_uri\"\ntls_version = \"tlsv1.3\"\n",
        )
        .unwrap();
        let base = Path::new("/etc/mqlite");
        assert!(file.listener[0].tls(base).unwrap().is_none());
        let tls = file.listener[1].tls(base).unwrap().unwrap();
        assert_eq!(tls.certfile, Path::new("/etc/mqlite/s.pem"));
        assert_eq!(tls.keyfile, Path::new("/k.pem"));
        assert_eq!(tls.cafile.as_deref(), Some(Path::new("/etc/mqlite/ca.pem")));
        assert!(tls.require_certificate && tls.use_identity_as_username);
        assert_eq!(tls.identity_source, mqlite_net::IdentitySource::SanUri);
        assert_eq!(tls.min_version, mqlite_net::TlsVersion::Tls13);
        assert!(file.listener[1].requires_certificate());
    }

    #[test]
    fn bad_listener_tables_are_refused() {
        let parse = |text: &str| -> String {
            let file: FileConfig = toml::from_str(text).unwrap();
            format!("{:#}", file.listener[0].tls(Path::new("")).unwrap_err())
        };
        let err = parse("[[listener]]\naddress = \"a:1\"\ncafile = \"ca.pem\"\n");
        assert!(err.contains("`cafile` needs TLS"), "{err}");
        let err = parse("[[listener]]\naddress = \"a:1\"\ncertfile = \"c.pem\"\n");
        assert!(err.contains("go together"), "{err}");
        let err = parse(
            "[[listener]]\naddress = \"a:1\"\ncertfile = \"c\"\nkeyfile = \"k\"\ntls_version = \"tlsv1.1\"\n",
        );
        assert!(err.contains("tlsv1.1") && err.contains("a:1"), "{err}");
        assert!(
            toml::from_str::<FileConfig>("[[listener]]\naddress = \"a:1\"\nport = 1\n").is_err()
        );
    }

    #[test]
    fn clientid_prefixes_take_a_string_or_a_list() {
        let one: FileConfig = toml::from_str("clientid_prefixes = \"a-\"\n").unwrap();
        let many: FileConfig = toml::from_str("clientid_prefixes = [\"a-\", \"b-\"]\n").unwrap();
        assert!(one.auth().is_ok() && many.auth().is_ok());
        assert!(matches!(many.clientid_prefixes, Some(OneOrMany::Many(ref v)) if v.len() == 2));
    }
}
