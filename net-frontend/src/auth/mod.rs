//! Authentication and authorization of network clients, in Mosquitto's formats so its users
//! can bring their files: the password file (`password.rs`; `edit.rs` changes one for
//! `mqlite passwd`), the ACL file (`acl.rs`), the client-id rules (`clientid.rs`), and
//! [`Auth`], which a [`crate::ServerConfig`] carries and every connection consults.
//!
//! - At CONNECT, before the router sees the client: user name and password against the
//!   password file, anonymous clients against `allow_anonymous`, the client id against the
//!   rules, the will topic against the ACL. The embedder's [`mqlite::Hooks`] run afterwards
//!   inside [`mqlite::Broker::connect`], so both must accept.
//! - On PUBLISH and SUBSCRIBE: the ACL (`filter.rs` holds the topic filter relations).
//! - On delivery: [`Acl::may_read`] for every message, retained ones included
//!   (`client.rs`: one client's resolved rules).
//! - [`Auth::reload`] reads both files again (SIGHUP in the binary); `reload.rs`.
//!
//! Every refusal is counted ([`Auth::stats`]) and logged as a `tracing` event with target
//! `mqlite_net::auth`: refused logins at `info`, ACL denials at `debug`.
//!
//! Not here: TLS and certificates (the transport), rate limits.

mod acl;
mod client;
mod clientid;
mod edit;
mod filter;
mod password;
mod reload;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) use acl::ClientAcl;
pub use acl::{Acl, AclError};
pub(crate) use client::ClientAuth;
pub use clientid::{ClientIdError, ClientIdRules};
pub use edit::{Updated, check_username, update_file};
pub use password::{DEFAULT_ITERATIONS, PasswordError, PasswordFile, hash_password};
pub use reload::{ReloadError, Reloaded};

use reload::Slot;

use crate::codec::{Connect, ProtocolVersion, ReasonCode};

/// The security settings of a server: who may connect and what each client may do.
///
/// The default lets everyone in and allows everything (the embedder's [`mqlite::Hooks`]
/// still apply). Clones share one set of counters and one set of files, so an embedder can
/// keep a clone to read [`Auth::stats`] or to [`Auth::reload`] the files.
///
/// # Examples
///
/// ```
/// use mqlite_net::ServerConfig;
/// use mqlite_net::auth::{Acl, Auth, PasswordFile, hash_password};
///
/// let passwords = PasswordFile::parse(&format!("alice:{}\n", hash_password(b"s3cret", 101)?))?;
/// let acl = Acl::parse("user alice\ntopic readwrite alice/#\n")?;
/// let auth = Auth::builder().password_file(passwords).acl(acl).build();
/// let mut config = ServerConfig::default();
/// config.auth = auth.clone();
/// let broker = mqlite::Broker::new(mqlite::Config::default());
/// let server = mqlite_net::Server::builder(broker).config(config).listen("127.0.0.1:0").bind()?.spawn()?;
/// // ... clients must now log in as alice ...
/// assert_eq!(auth.stats().bad_credentials, 0);
/// server.shutdown();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct Auth {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    passwords: Option<Slot<PasswordFile>>,
    acl: Option<Slot<Acl>>,
    allow_anonymous: bool,
    client_ids: ClientIdRules,
    counters: Counters,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            passwords: None,
            acl: None,
            allow_anonymous: true,
            client_ids: ClientIdRules::default(),
            counters: Counters::default(),
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Auth")
            .field("passwords", &i.passwords.as_ref().map(Slot::get))
            .field("acl", &i.acl.as_ref().map(Slot::get))
            .field("allow_anonymous", &i.allow_anonymous)
            .field("client_ids", &i.client_ids)
            .finish()
    }
}

/// Equal when they enforce the same settings now (the counters are not compared).
impl PartialEq for Auth {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (&*self.inner, &*other.inner);
        self.is_same(other)
            || (a.passwords.as_ref().map(Slot::get) == b.passwords.as_ref().map(Slot::get)
                && a.acl.as_ref().map(Slot::get) == b.acl.as_ref().map(Slot::get)
                && a.allow_anonymous == b.allow_anonymous
                && a.client_ids == b.client_ids)
    }
}

impl Eq for Auth {}

/// Builds an [`Auth`].
#[derive(Debug, Default)]
pub struct AuthBuilder {
    passwords: Option<PasswordFile>,
    acl: Option<Acl>,
    allow_anonymous: Option<bool>,
    client_ids: ClientIdRules,
}

impl AuthBuilder {
    /// Clients with a user name must give its password from `file` (Mosquitto's
    /// `password_file`); a user not in the file is refused.
    #[must_use]
    pub fn password_file(mut self, file: PasswordFile) -> Self {
        self.passwords = Some(file);
        self
    }

    /// Every publish, subscribe and delivery is checked against `acl` (Mosquitto's
    /// `acl_file`); what it does not grant is denied.
    #[must_use]
    pub fn acl(mut self, acl: Acl) -> Self {
        self.acl = Some(acl);
        self
    }

    /// Whether clients without a user name may connect. Default: `false` once a password
    /// file is set (as in Mosquitto 2), `true` without one.
    #[must_use]
    pub fn allow_anonymous(mut self, allow: bool) -> Self {
        self.allow_anonymous = Some(allow);
        self
    }

    /// Which client ids may connect.
    #[must_use]
    pub fn client_ids(mut self, rules: ClientIdRules) -> Self {
        self.client_ids = rules;
        self
    }

    /// The settings.
    pub fn build(self) -> Auth {
        let allow_anonymous = self.allow_anonymous.unwrap_or(self.passwords.is_none());
        Auth {
            inner: Arc::new(Inner {
                passwords: self.passwords.map(Slot::new),
                acl: self.acl.map(Slot::new),
                allow_anonymous,
                client_ids: self.client_ids,
                counters: Counters::default(),
            }),
        }
    }
}

/// Live counters, relaxed atomics (each is independent).
#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    bad_credentials: AtomicU64,
    anonymous_refused: AtomicU64,
    client_id_refused: AtomicU64,
    will_denied: AtomicU64,
    publish_denied: AtomicU64,
    subscribe_denied: AtomicU64,
    delivery_denied: AtomicU64,
}

fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A snapshot of the authentication and authorization counters ([`Auth::stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct AuthStats {
    /// CONNECTs that passed these checks (the router may still refuse them).
    pub accepted: u64,
    /// CONNECTs refused for an unknown user or a wrong or missing password.
    pub bad_credentials: u64,
    /// CONNECTs refused for having no user name while `allow_anonymous` is off.
    pub anonymous_refused: u64,
    /// CONNECTs refused by the client-id rules.
    pub client_id_refused: u64,
    /// CONNECTs refused because the ACL does not let the client publish its will.
    pub will_denied: u64,
    /// PUBLISHes dropped by the ACL.
    pub publish_denied: u64,
    /// Subscription filters refused by the ACL.
    pub subscribe_denied: u64,
    /// Deliveries withheld because the subscriber may not read the topic.
    pub delivery_denied: u64,
}

impl AuthStats {
    /// Adds `other`'s counts to these (the totals of several listeners' settings).
    pub(crate) fn add(&mut self, other: &AuthStats) {
        self.accepted += other.accepted;
        self.bad_credentials += other.bad_credentials;
        self.anonymous_refused += other.anonymous_refused;
        self.client_id_refused += other.client_id_refused;
        self.will_denied += other.will_denied;
        self.publish_denied += other.publish_denied;
        self.subscribe_denied += other.subscribe_denied;
        self.delivery_denied += other.delivery_denied;
    }
}

impl Auth {
    /// A builder; see [`AuthBuilder`].
    pub fn builder() -> AuthBuilder {
        AuthBuilder::default()
    }

    /// The counters now.
    pub fn stats(&self) -> AuthStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        AuthStats {
            accepted: get(&c.accepted),
            bad_credentials: get(&c.bad_credentials),
            anonymous_refused: get(&c.anonymous_refused),
            client_id_refused: get(&c.client_id_refused),
            will_denied: get(&c.will_denied),
            publish_denied: get(&c.publish_denied),
            subscribe_denied: get(&c.subscribe_denied),
            delivery_denied: get(&c.delivery_denied),
        }
    }

    /// Whether a password file is set.
    pub fn has_password_file(&self) -> bool {
        self.inner.passwords.is_some()
    }

    /// The ACL in force now, if one is set.
    pub fn acl(&self) -> Option<Arc<Acl>> {
        self.inner.acl.as_ref().map(Slot::get)
    }

    /// Whether `other` is a clone of this `Auth` (the same files and counters).
    pub fn is_same(&self, other: &Auth) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Checks a CONNECT before the router sees it: credentials, client id, and the will
    /// (unless the id is to be assigned: see [`Auth::admit`]). `identity_verified`: the
    /// transport already proved the user name (a TLS client certificate with
    /// `use_identity_as_username`), so the password file is not consulted, as in Mosquitto.
    pub(crate) fn check_connect(
        &self,
        c: &Connect,
        identity_verified: bool,
    ) -> Result<(), Refusal> {
        let i = &*self.inner;
        let username = c.username.as_deref();
        let refused = |refusal: Refusal, counter: &AtomicU64| {
            count(counter);
            tracing::info!(
                client_id = %c.client_id, username, reason = refusal.describe(),
                "connection refused"
            );
            Err(refusal)
        };
        match (username, &i.passwords) {
            (None, _) if !i.allow_anonymous => {
                return refused(Refusal::Anonymous, &i.counters.anonymous_refused);
            }
            (Some(user), Some(slot)) if !identity_verified => {
                // The file of the moment; a reload during the hash does not wait for it.
                let file = slot.get();
                let password = c.password.as_deref();
                // A missing password still costs a hash: timing tells nothing.
                if !file.verify(user, password.unwrap_or_default()) || password.is_none() {
                    return refused(Refusal::BadCredentials, &i.counters.bad_credentials);
                }
            }
            _ => {}
        }
        if let Err(e) = i.client_ids.check(&c.client_id, username) {
            tracing::info!(username, error = %e, "connection refused");
            count(&i.counters.client_id_refused);
            return Err(Refusal::ClientId);
        }
        if !c.client_id.is_empty()
            && let Some(slot) = &i.acl
        {
            let acl = slot.get().for_client(username, &c.client_id);
            self.check_will(c, &acl, &c.client_id)?;
        }
        Ok(())
    }

    /// After the router accepted the client as `client_id` (assigned when the CONNECT had
    /// none): its ACL view, or a refusal of the will of a client whose id was assigned. The
    /// caller then ends that fresh session without its will and refuses.
    pub(crate) fn admit(&self, c: &Connect, client_id: &str) -> Result<ClientAuth, Refusal> {
        let client = ClientAuth::new(self.clone(), client_id, c.username.clone());
        if c.client_id.is_empty() {
            client
                .with_rules(|acl| self.check_will(c, acl, client_id))
                .unwrap_or(Ok(()))?;
        }
        count(&self.inner.counters.accepted);
        Ok(client)
    }

    fn check_will(&self, c: &Connect, acl: &ClientAcl, client_id: &str) -> Result<(), Refusal> {
        let Some(will) = &c.will else {
            return Ok(());
        };
        if acl.may_write(will.topic.as_str(), will.qos) {
            return Ok(());
        }
        count(&self.inner.counters.will_denied);
        tracing::info!(
            client_id,
            username = c.username.as_deref(),
            topic = will.topic.as_str(),
            reason = Refusal::Will.describe(),
            "connection refused"
        );
        Err(Refusal::Will)
    }
}

/// Why a CONNECT was refused here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Unknown user, wrong or missing password.
    BadCredentials,
    /// No user name, and anonymous clients are not allowed.
    Anonymous,
    /// The client-id rules.
    ClientId,
    /// The ACL does not grant the will topic.
    Will,
}

impl Refusal {
    /// The CONNACK code: 5.0 names the cause; 3.1.1 says "not authorized" (5) for every
    /// credential problem, as Mosquitto does, and "identifier rejected" (2) for the id.
    pub(crate) fn reason_code(self, version: ProtocolVersion) -> ReasonCode {
        match (self, version.is_v5()) {
            (Self::ClientId, _) => ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
            (Self::BadCredentials, true) => ReasonCode::BAD_USER_NAME_OR_PASSWORD,
            _ => ReasonCode::NOT_AUTHORIZED,
        }
    }

    /// The reason reported with [`mqlite::Event::ConnectDenied`].
    pub(crate) fn deny_reason(self) -> mqlite::DenyReason {
        match self {
            Self::BadCredentials => mqlite::DenyReason::BadCredentials,
            Self::Anonymous => mqlite::DenyReason::Anonymous,
            Self::ClientId => mqlite::DenyReason::ClientId,
            Self::Will => mqlite::DenyReason::Acl,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::BadCredentials => "bad user name or password",
            Self::Anonymous => "anonymous clients are not allowed",
            Self::ClientId => "client id not allowed",
            Self::Will => "the acl does not allow the will topic",
        }
    }
}

#[cfg(test)]
mod tests;
