//! [`ConnectOptions`]: how a client connects (session, will, credentials, flow control).

use std::time::Duration;

use bytes::Bytes;

use crate::types::config::OverflowPolicy;
use crate::types::hooks::{AuthExchange, AuthProof};
use crate::types::will::Will;

/// Session expiry meaning "never" (MQTT 5.0: 0xFFFFFFFF seconds; 3.1.1 clean session = 0).
pub const NEVER_EXPIRE: Duration = Duration::from_secs(u32::MAX as u64);

/// How a client connects. Built with [`ConnectOptions::new`] and chained setters.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub(crate) client_id: String,
    pub(crate) clean_start: bool,
    pub(crate) session_expiry: Duration,
    pub(crate) will: Option<Will>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Bytes>,
    pub(crate) receive_maximum: Option<u16>,
    pub(crate) overflow_policy: Option<OverflowPolicy>,
    pub(crate) max_queued_messages: Option<usize>,
    pub(crate) auto_ack: bool,
    /// A finished enhanced authentication exchange: replaces `Hooks::authenticate`.
    pub(crate) enhanced_auth: Option<AuthProof>,
}

impl ConnectOptions {
    /// Options for client id `client_id`: clean start, session ends at disconnect, no will.
    /// An empty id gets a unique one assigned (see [`Client::client_id`](crate::Client::client_id)).
    pub fn new(client_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            clean_start: true,
            session_expiry: Duration::ZERO,
            will: None,
            username: None,
            password: None,
            receive_maximum: None,
            overflow_policy: None,
            max_queued_messages: None,
            auto_ack: false,
            enhanced_auth: None,
        }
    }

    /// Start a new session (`true`, the default) or resume an existing one (`false`).
    #[must_use]
    pub fn clean_start(mut self, clean_start: bool) -> Self {
        self.clean_start = clean_start;
        self
    }

    /// How long the session outlives its connection (MQTT 5.0 §3.1.2.11). Zero (the default)
    /// ends it at disconnect; [`NEVER_EXPIRE`](crate::NEVER_EXPIRE) keeps it until a clean start discards it, like
    /// MQTT 3.1.1's clean session = 0.
    #[must_use]
    pub fn session_expiry(mut self, expiry: Duration) -> Self {
        self.session_expiry = expiry;
        self
    }

    /// The last will, published if the client ends without [`Client::disconnect`](crate::Client::disconnect).
    #[must_use]
    pub fn will(mut self, will: Will) -> Self {
        self.will = Some(will);
        self
    }

    /// A user name and password, checked by [`Hooks::authenticate`](crate::Hooks::authenticate).
    #[must_use]
    pub fn credentials(mut self, username: impl Into<String>, password: Option<Bytes>) -> Self {
        self.username = Some(username.into());
        self.password = password;
        self
    }

    /// The client passed enhanced authentication: `exchange` ([`Broker::start_auth`]) ended in
    /// [`AuthStep::Success`], for the user name given to [`ConnectOptions::credentials`] (or
    /// none). [`Hooks::authenticate`] is then not called; the will and everything the client
    /// does later are still authorized by the hooks as usual.
    ///
    /// [`Broker::connect`] fails with [`ConnectError::NotAuthorized`] if the exchange did not
    /// succeed or was started for another user name.
    ///
    /// [`Broker::start_auth`]: crate::Broker::start_auth
    /// [`Broker::connect`]: crate::Broker::connect
    /// [`AuthStep::Success`]: crate::AuthStep::Success
    /// [`Hooks::authenticate`]: crate::Hooks::authenticate
    /// [`ConnectError::NotAuthorized`]: crate::ConnectError::NotAuthorized
    #[must_use]
    pub fn enhanced_auth(mut self, exchange: &AuthExchange) -> Self {
        self.enhanced_auth = Some(exchange.proof());
        self
    }

    /// This client's in-flight window (receive maximum), at most the broker's
    /// `max_inflight_messages`. Zero is treated as one.
    #[must_use]
    pub fn receive_maximum(mut self, max: u16) -> Self {
        self.receive_maximum = Some(max);
        self
    }

    /// This client's overflow policy instead of the broker's.
    #[must_use]
    pub fn overflow_policy(mut self, policy: OverflowPolicy) -> Self {
        self.overflow_policy = Some(policy);
        self
    }

    /// This client's queue bound instead of the broker's `max_queued_messages` (never above it).
    #[must_use]
    pub fn max_queued_messages(mut self, max: usize) -> Self {
        self.max_queued_messages = Some(max);
        self
    }

    /// Acknowledge QoS 1 and 2 messages as they are received, so [`crate::Message::ack`] is
    /// not needed and nothing is redelivered. Default `false`, as on the wire.
    #[must_use]
    pub fn auto_ack(mut self, on: bool) -> Self {
        self.auto_ack = on;
        self
    }
}
