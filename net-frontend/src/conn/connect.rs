//! CONNECT: from the packet to [`ConnectOptions`], the router's answer to CONNACK, and the
//! refusals of §3.2.2.2 (3.1.1 return codes 1–5 are the 5.0 codes with the same meaning).

use std::time::{Duration, Instant};

use mqlite::{ConnectError, ConnectOptions, DenyReason, Event, LimitError, NEVER_EXPIRE};

use super::enhanced_auth::Authenticated;
use super::{Closed, Conn, Flow, Live, Phase, inbound, outbound};
use crate::codec::{
    ConnAck, Connect, DecodeError, Packet, PacketType, Properties, ProtocolVersion, ReasonCode,
};
use crate::stats;

impl Conn {
    /// Handles the connection's CONNECT: connects a session of the router and answers
    /// CONNACK, or refuses and closes.
    pub(super) fn on_connect(&mut self, connect: Box<Connect>, now: Instant) -> Flow {
        let p = &connect.properties;
        if connect.protocol_version.is_v5()
            && (p.authentication_method.is_some() || p.authentication_data.is_some())
        {
            // Enhanced authentication (§4.12) first; the rest waits for its success.
            return self.start_enhanced_auth(connect, now);
        }
        self.admit_connect(connect, None, now)
    }

    /// The rest of a CONNECT, after its enhanced authentication if it had one (`enhanced`):
    /// the frontend's checks, the router's session, CONNACK.
    pub(super) fn admit_connect(
        &mut self,
        connect: Box<Connect>,
        mut enhanced: Option<Authenticated>,
        now: Instant,
    ) -> Flow {
        let c = &*connect;
        let v = c.protocol_version;
        if c.client_id.is_empty() && (v == ProtocolVersion::V31 || (!v.is_v5() && !c.clean_start)) {
            // 3.1 requires an id; 3.1.1 assigns one only with a clean session [MQTT-3.1.3-8].
            return Err(self.refuse(v, ReasonCode::CLIENT_IDENTIFIER_NOT_VALID));
        }
        // Password file, anonymous clients, client-id rules, will ACL (`crate::auth`); the
        // embedder's hooks run after, inside `Broker::connect`. Enhanced authentication
        // vouches for the user name like a certificate: no password file check.
        let identity_verified = self.transport_username.is_some() || enhanced.is_some();
        if let Err(refusal) = self.auth.check_connect(c, identity_verified) {
            self.report_connect_denied(c, refusal.deny_reason());
            return Err(self.refuse(v, refusal.reason_code(v)));
        }
        let mut options = match self.connect_options(c) {
            Ok(options) => options,
            Err(code) => return Err(self.refuse(v, code)),
        };
        if let Some(done) = &enhanced {
            options = options.enhanced_auth(done.exchange());
        }
        let client = match self.broker.connect_wire(options, self.wake.clone()) {
            Ok(client) => client,
            Err(e) => {
                tracing::debug!(client = %c.client_id, error = %e, "connection refused");
                return Err(self.refuse(v, connect_error_code(&e)));
            }
        };
        let auth = match self.auth.admit(c, client.client_id()) {
            Ok(auth) => auth,
            Err(refusal) => {
                // Only a will refused for an assigned id gets here: a fresh session, ended
                // without its will.
                let _ = client.set_session_expiry(Duration::ZERO);
                client.disconnect();
                self.report_connect_denied(c, refusal.deny_reason());
                return Err(self.refuse(v, refusal.reason_code(v)));
            }
        };
        let max = self.shared.config.max_keepalive;
        let asked = c.keep_alive;
        let granted = if v.is_v5() && (asked > max || (asked == 0 && max < u16::MAX)) {
            max
        } else {
            asked
        };
        let mut props = Properties::default();
        if v.is_v5() {
            props = self.connack_properties(c, client.client_id(), granted != asked, granted);
            if let Some(done) = &mut enhanced {
                done.fill_connack(&mut props);
            }
        }
        let session_present = client.session_present() && v != ProtocolVersion::V31;
        let ack = ConnAck {
            session_present,
            reason_code: ReasonCode::SUCCESS,
            properties: props,
        };
        tracing::debug!(client = client.client_id(), version = %v, session_present, "connected");
        let config = &self.shared.config;
        let live = Live {
            version: v,
            // [MQTT-3.1.2-22]: one and a half times the keep alive.
            keep_alive: (granted > 0).then(|| Duration::from_millis(u64::from(granted) * 1500)),
            aliases_in: if v.is_v5() {
                vec![None; usize::from(config.topic_alias_maximum)]
            } else {
                Vec::new()
            },
            aliases_out: outbound::Aliases::new(c.properties.topic_alias_maximum.unwrap_or(0)),
            max_packet_size: c
                .properties
                .maximum_packet_size
                .map_or(usize::MAX, |m| m as usize),
            zero_expiry: c.properties.session_expiry_interval.unwrap_or(0) == 0,
            auth,
            enhanced: enhanced.map(|done| done.into_enhanced(c.username.clone())),
            client,
        };
        self.phase = Phase::Live(Box::new(live));
        self.last_packet = now;
        stats::add(&self.shared.counters.connected, 1);
        self.encode(&Packet::ConnAck(ack), v);
        Ok(())
    }

    /// The router's options for this CONNECT.
    fn connect_options(&self, c: &Connect) -> Result<ConnectOptions, ReasonCode> {
        let v = c.protocol_version;
        let expiry = if v.is_v5() {
            Duration::from_secs(u64::from(c.properties.session_expiry_interval.unwrap_or(0)))
        } else if c.clean_start {
            Duration::ZERO
        } else {
            // 3.1.1 clean session = 0: the session lasts until a clean session ends it.
            NEVER_EXPIRE
        };
        let mut options = ConnectOptions::new(c.client_id.clone())
            .clean_start(c.clean_start)
            .session_expiry(expiry);
        if let Some(max) = c.properties.receive_maximum {
            options = options.receive_maximum(max);
        }
        if let Some(username) = &c.username {
            options = options.credentials(username.clone(), c.password.clone());
        }
        if let Some(will) = &c.will {
            let mut w = mqlite::Will::new(will.topic.as_str(), will.payload.clone())
                .map_err(|_| ReasonCode::TOPIC_NAME_INVALID)?
                .qos(will.qos)
                .retain(will.retain);
            if let Some(props) = inbound::publish_properties(&will.properties) {
                w = w.properties(props);
            }
            if let Some(delay) = will.properties.will_delay_interval {
                w = w.delay(Duration::from_secs(u64::from(delay)));
            }
            options = options.will(w);
        }
        Ok(options)
    }

    fn connack_properties(
        &self,
        c: &Connect,
        client_id: &str,
        keep_alive_changed: bool,
        keep_alive: u16,
    ) -> Properties {
        let config = &self.shared.config;
        let mut p = Properties::default();
        if c.client_id.is_empty() {
            p.assigned_client_identifier = Some(client_id.to_owned());
        }
        if keep_alive_changed {
            p.server_keep_alive = Some(keep_alive);
        }
        // A server that uses another session expiry than the client asked for says so in
        // CONNACK (§3.2.2.3.2): here when `max_session_expiry` caps it.
        let asked = c.properties.session_expiry_interval.unwrap_or(0);
        if let Some(cap) = self.broker.config().max_session_expiry {
            let cap = u32::try_from(cap.as_secs()).unwrap_or(u32::MAX);
            if asked > cap {
                p.session_expiry_interval = Some(cap);
            }
        }
        p.receive_maximum = Some(self.broker.config().max_inflight_messages.max(1));
        p.maximum_packet_size = u32::try_from(config.max_packet_size).ok();
        p.topic_alias_maximum =
            (config.topic_alias_maximum > 0).then_some(config.topic_alias_maximum);
        p.retain_available = Some(true);
        p.wildcard_subscription_available = Some(true);
        p.subscription_identifier_available = Some(true);
        p.shared_subscription_available = Some(true);
        if c.properties.request_response_information == Some(true)
            && let Some(prefix) = &config.response_information
        {
            p.response_information = Some(format!("{prefix}{client_id}"));
        }
        p
    }

    /// Reports a CONNECT refused by the frontend ([`Event::ConnectDenied`]); the router
    /// reports its hooks' refusals itself.
    pub(super) fn report_connect_denied(&self, c: &Connect, reason: DenyReason) {
        self.broker.emit_event(&Event::ConnectDenied {
            client_id: &c.client_id,
            username: c.username.as_deref(),
            reason,
        });
    }

    /// Answers CONNACK with a refusal (when the version has a code for it) and closes
    /// [MQTT-3.2.2-5].
    pub(super) fn refuse(&mut self, version: ProtocolVersion, code: ReasonCode) -> Closed {
        stats::add(&self.shared.counters.connect_refused, 1);
        let code = if version.is_v5() {
            Some(code)
        } else {
            v3_return_code(code)
        };
        if let Some(reason_code) = code {
            let ack = ConnAck {
                session_present: false,
                reason_code,
                properties: Properties::default(),
            };
            self.encode(&Packet::ConnAck(ack), version);
        }
        self.phase = Phase::Closed;
        Closed
    }

    /// A first packet that could not be decoded. An unknown protocol gets CONNACK 0x01
    /// (3.1.1 form) [MQTT-3.1.2-2]; a malformed 5.0 CONNECT gets its reason code
    /// [MQTT-4.13.1-1]; anything else is closed without an answer.
    pub(super) fn refuse_malformed_connect(&mut self, error: &DecodeError) -> Closed {
        tracing::debug!(error = %error, "bad CONNECT");
        let counters = &self.shared.counters;
        let code = error.reason_code();
        match error {
            DecodeError::InvalidProtocolName { .. }
            | DecodeError::UnsupportedProtocolLevel { .. } => {
                self.refuse(ProtocolVersion::V311, code)
            }
            DecodeError::FirstPacketNotConnect { .. } => {
                stats::add(&counters.protocol_errors, 1);
                self.phase = Phase::Closed;
                Closed
            }
            _ => {
                stats::add(&counters.malformed, 1);
                if peek_protocol_level(&self.read) == Some(ProtocolVersion::V5.level()) {
                    let code = if code.is_valid_for(PacketType::ConnAck) {
                        code
                    } else {
                        ReasonCode::MALFORMED_PACKET
                    };
                    self.refuse(ProtocolVersion::V5, code)
                } else {
                    self.phase = Phase::Closed;
                    Closed
                }
            }
        }
    }
}

/// The CONNACK reason code for a refusal of the router.
fn connect_error_code(error: &ConnectError) -> ReasonCode {
    match error {
        ConnectError::InvalidClientId { .. } => ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
        ConnectError::WillLimit(LimitError::PayloadTooLarge { .. }) => ReasonCode::PACKET_TOO_LARGE,
        ConnectError::WillLimit(_) => ReasonCode::TOPIC_NAME_INVALID,
        ConnectError::NotAuthorized { .. } => ReasonCode::NOT_AUTHORIZED,
        ConnectError::TooManyClients { .. } => ReasonCode::SERVER_BUSY,
        _ => ReasonCode::SERVER_UNAVAILABLE,
    }
}

/// The 3.1 / 3.1.1 return code with the meaning of a 5.0 refusal, if there is one.
fn v3_return_code(code: ReasonCode) -> Option<ReasonCode> {
    Some(match code {
        ReasonCode::UNSUPPORTED_PROTOCOL_VERSION
        | ReasonCode::CLIENT_IDENTIFIER_NOT_VALID
        | ReasonCode::BAD_USER_NAME_OR_PASSWORD
        | ReasonCode::NOT_AUTHORIZED
        | ReasonCode::SERVER_UNAVAILABLE => code,
        ReasonCode::SERVER_BUSY | ReasonCode::QUOTA_EXCEEDED | ReasonCode::SERVER_SHUTTING_DOWN => {
            ReasonCode::SERVER_UNAVAILABLE
        }
        ReasonCode::BAD_AUTHENTICATION_METHOD | ReasonCode::BANNED => ReasonCode::NOT_AUTHORIZED,
        _ => return None,
    })
}

/// The protocol level byte of a buffered CONNECT, if enough of it is there: fixed header,
/// remaining length, protocol name (two-byte length + name), level.
fn peek_protocol_level(buf: &[u8]) -> Option<u8> {
    let mut at = 1;
    while *buf.get(at)? & 0x80 != 0 {
        at += 1;
        if at > 4 {
            return None;
        }
    }
    at += 1;
    let name_len = usize::from(u16::from_be_bytes([*buf.get(at)?, *buf.get(at + 1)?]));
    buf.get(at + 2 + name_len).copied()
}
