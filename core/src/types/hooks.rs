//! Hooks an embedding application installs to authenticate, authorize and observe clients.
//! Network clients go through the same hooks as in-process ones.
//!
//! - [`Hooks`]: the callbacks; [`Event`] (with [`DenyReason`], [`DropReason`],
//!   [`DisconnectReason`]): what `on_event` observes.
//! - Enhanced authentication (MQTT 5.0 §4.12): [`Hooks::start_auth`] makes an
//!   [`Authenticator`] per exchange; [`AuthExchange`] is the broker's handle on one
//!   ([`crate::Broker::start_auth`]), and proves its success to
//!   [`crate::ConnectOptions::enhanced_auth`].

use std::fmt;

use crate::types::qos::QoS;
use crate::types::topic::{TopicFilter, TopicName};

/// Who is asking: passed to every hook.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ClientInfo<'a> {
    /// The client id.
    pub client_id: &'a str,
    /// The user name given at connect, if any.
    pub username: Option<&'a str>,
}

/// Why a message was dropped instead of delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// The session's queue was full (count or bytes).
    QueueFull,
    /// A QoS 0 message for an offline session (see `queue_qos0_messages`).
    Offline,
    /// Its message expiry interval ran out before delivery.
    Expired,
}

/// Why a session's connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// [`crate::Client::disconnect`]: a clean disconnect; no will.
    Normal,
    /// The handle was dropped without a disconnect; the will is published.
    Dropped,
    /// A new connection took the session over; the will is published.
    TakenOver,
    /// The broker shut down; the will is published.
    BrokerShutdown,
    /// The queue overflowed under [`crate::OverflowPolicy::Disconnect`]; the will is published.
    SlowConsumer,
}

/// Something that happened, for [`Hooks::on_event`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A client connected.
    ClientConnected {
        /// The client id.
        client_id: &'a str,
        /// Whether it resumed an existing session.
        session_present: bool,
    },
    /// A client's connection ended.
    ClientDisconnected {
        /// The client id.
        client_id: &'a str,
        /// How it ended.
        reason: DisconnectReason,
    },
    /// A message was dropped for one session.
    MessageDropped {
        /// The session's client id.
        client_id: &'a str,
        /// The message's topic.
        topic: &'a TopicName,
        /// Why it was dropped.
        reason: DropReason,
    },
    /// A connection was refused: nothing it sent is published, its will included.
    ConnectDenied {
        /// The client id it asked for (empty when the broker was to assign one).
        client_id: &'a str,
        /// The user name it gave, if any.
        username: Option<&'a str>,
        /// Who refused, and why.
        reason: DenyReason,
    },
    /// A connected client failed to re-authenticate (MQTT 5.0 §4.12.1); its connection ends.
    ReauthDenied {
        /// The client id.
        client_id: &'a str,
        /// The user name it connected with, if any.
        username: Option<&'a str>,
        /// Why.
        reason: DenyReason,
    },
    /// A publish was refused and dropped.
    PublishDenied {
        /// The publisher's client id.
        client_id: &'a str,
        /// The topic it published on.
        topic: &'a str,
        /// Who refused, and why.
        reason: DenyReason,
    },
    /// A subscription was refused; the client's other filters are unaffected.
    SubscribeDenied {
        /// The subscriber's client id.
        client_id: &'a str,
        /// The filter it asked for.
        filter: &'a str,
        /// Who refused, and why.
        reason: DenyReason,
    },
    /// A message was withheld from a subscriber that may not read its topic.
    DeliveryDenied {
        /// The subscriber's client id.
        client_id: &'a str,
        /// The message's topic.
        topic: &'a str,
        /// Who refused, and why.
        reason: DenyReason,
    },
}

/// Who refused a client or one of its actions, in the denial events of [`Event`]. The core
/// reports its hooks' refusals itself; a frontend with rules of its own reports theirs
/// through [`crate::Broker::emit_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DenyReason {
    /// The embedder's [`Hooks`]: `authenticate`, `authorize_publish` (a will's too) or
    /// `authorize_subscribe` returned `false`.
    Hooks,
    /// A frontend's password file: unknown user, wrong or missing password.
    BadCredentials,
    /// No user name, where anonymous clients are not allowed.
    Anonymous,
    /// A frontend's client-id rules.
    ClientId,
    /// A frontend's access control list (an `acl_file`), a will's topic included.
    Acl,
    /// Enhanced authentication with a method [`Hooks::start_auth`] does not support.
    BadAuthenticationMethod,
    /// An enhanced authentication exchange ended in [`AuthStep::Fail`].
    AuthenticationFailed,
}

/// What an [`Authenticator`] decided after reading the client's authentication data.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthStep {
    /// Not yet: send these bytes to the client as a challenge (an MQTT 5 AUTH packet, reason
    /// 0x18 Continue authentication) and call [`Authenticator::step`] with its answer.
    Continue(Vec<u8>),
    /// Authenticated. The bytes, if any, reach the client with the CONNACK (or with the AUTH
    /// 0x00 Success that ends a re-authentication).
    Success(Option<Vec<u8>>),
    /// Refused: CONNACK 0x87 Not authorized at connect, DISCONNECT 0x87 on
    /// re-authentication; the connection closes.
    Fail,
}

/// The server side of one enhanced authentication exchange (MQTT 5.0 §4.12), such as
/// SCRAM or a challenge signed with a device key. [`Hooks::start_auth`] makes one for each
/// exchange, at CONNECT and again at each re-authentication; it lives only as long as that
/// exchange and may keep whatever state the method needs (nonces, the expected proof).
///
/// A network frontend calls `step` on one of its worker threads: keep it quick (a SCRAM
/// server keeps each user's derived keys rather than running PBKDF2 per login), as a slow
/// step delays every connection of that worker.
pub trait Authenticator: Send + fmt::Debug {
    /// Reads the client's next Authentication Data: the CONNECT's (or the re-authenticating
    /// AUTH's) on the first call, then each answer to a [`AuthStep::Continue`] challenge;
    /// `None` when the packet carried none.
    fn step(&mut self, data: Option<&[u8]>) -> AuthStep;
}

/// One enhanced authentication exchange of the broker's hooks ([`crate::Broker::start_auth`]).
///
/// A frontend feeds it the client's data with [`AuthExchange::step`] and relays each
/// challenge; once it has returned [`AuthStep::Success`],
/// [`crate::ConnectOptions::enhanced_auth`] connects the client without
/// [`Hooks::authenticate`]: the exchange was its authentication. Only the broker makes one,
/// so the proof cannot be forged.
#[derive(Debug)]
pub struct AuthExchange {
    method: String,
    username: Option<String>,
    authenticator: Box<dyn Authenticator>,
    outcome: Option<bool>,
}

impl AuthExchange {
    pub(crate) fn new(
        method: &str,
        username: Option<&str>,
        authenticator: Box<dyn Authenticator>,
    ) -> Self {
        Self {
            method: method.to_owned(),
            username: username.map(str::to_owned),
            authenticator,
            outcome: None,
        }
    }

    /// The Authentication Method, as the client named it.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// Passes the client's next Authentication Data to the [`Authenticator`]. Once it has
    /// answered [`AuthStep::Success`] or [`AuthStep::Fail`] the exchange is over, and every
    /// later call answers [`AuthStep::Fail`].
    pub fn step(&mut self, data: Option<&[u8]>) -> AuthStep {
        if self.outcome.is_some() {
            return AuthStep::Fail;
        }
        let step = self.authenticator.step(data);
        match step {
            AuthStep::Continue(_) => {}
            AuthStep::Success(_) => self.outcome = Some(true),
            AuthStep::Fail => self.outcome = Some(false),
        }
        step
    }

    /// Whether the exchange ended in [`AuthStep::Success`].
    pub fn is_authenticated(&self) -> bool {
        self.outcome == Some(true)
    }

    /// What [`crate::ConnectOptions::enhanced_auth`] keeps of the exchange.
    pub(crate) fn proof(&self) -> AuthProof {
        AuthProof {
            authenticated: self.is_authenticated(),
            username: self.username.clone(),
        }
    }
}

/// A finished exchange, carried by [`crate::ConnectOptions`]: whether it succeeded, and for
/// which user name (the connect must use the same one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthProof {
    authenticated: bool,
    username: Option<String>,
}

impl AuthProof {
    /// Whether it lets a client with `username` connect.
    pub(crate) fn admits(&self, username: Option<&str>) -> bool {
        self.authenticated && self.username.as_deref() == username
    }
}

/// Callbacks of an embedding application. Every method has a permissive default, so an
/// implementation overrides only what it needs.
///
/// Hooks run on the calling client's thread, never while the broker holds a lock, and must
/// not block for long.
///
/// ```
/// use mqlite::{Broker, ClientInfo, ConnectOptions, Hooks, TopicName, QoS};
/// #[derive(Debug)]
/// struct ReadOnlySys;
/// impl Hooks for ReadOnlySys {
///     fn authorize_publish(&self, _: &ClientInfo<'_>, topic: &TopicName, _: QoS, _: bool) -> bool {
///         !topic.as_str().starts_with("control/")
///     }
/// }
/// let broker = Broker::builder().hooks(ReadOnlySys).build();
/// let c = broker.connect(ConnectOptions::new("c"))?;
/// assert!(c.publish("control/reboot", "now", QoS::AtMostOnce, false).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Hooks: Send + Sync + fmt::Debug + 'static {
    /// Accepts or refuses a connection. `password` is what the client sent, if anything.
    /// Not called for a client that passed enhanced authentication ([`Hooks::start_auth`]).
    fn authenticate(&self, client: &ClientInfo<'_>, password: Option<&[u8]>) -> bool {
        let _ = (client, password);
        true
    }

    /// Starts an enhanced authentication exchange (MQTT 5.0 §4.12) for a client that named
    /// the Authentication Method `method`, at CONNECT or when it re-authenticates: returns the
    /// [`Authenticator`] that conducts it, or `None` (the default) when `method` is not
    /// supported (the client gets CONNACK 0x8C Bad authentication method).
    ///
    /// At CONNECT, `client.client_id` is empty when the broker is to assign one, and
    /// `client.username` is the CONNECT's user name, which the authenticator should check
    /// against the identity it proves (the ACL and the other hooks know the client by it).
    /// A client admitted this way is not passed to [`Hooks::authenticate`].
    fn start_auth(&self, client: &ClientInfo<'_>, method: &str) -> Option<Box<dyn Authenticator>> {
        let _ = (client, method);
        None
    }

    /// Allows or refuses one publish (also called for a will, at connect).
    fn authorize_publish(
        &self,
        client: &ClientInfo<'_>,
        topic: &TopicName,
        qos: QoS,
        retain: bool,
    ) -> bool {
        let _ = (client, topic, qos, retain);
        true
    }

    /// Allows or refuses one subscription.
    fn authorize_subscribe(&self, client: &ClientInfo<'_>, filter: &TopicFilter, qos: QoS) -> bool {
        let _ = (client, filter, qos);
        true
    }

    /// Observes an event.
    fn on_event(&self, event: &Event<'_>) {
        let _ = event;
    }
}
