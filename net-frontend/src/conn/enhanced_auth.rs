//! MQTT 5.0 enhanced authentication (§4.12): a CONNECT that names an Authentication Method
//! starts an AUTH exchange run by the embedder's [`mqlite::Hooks::start_auth`] (through
//! [`mqlite::Broker::start_auth`]) before any session exists; a connected client that
//! authenticated this way may re-authenticate with AUTH 0x19 while its other traffic goes on.
//!
//! The wire rules kept here: every AUTH and a successful CONNACK carry the CONNECT's method
//! [MQTT-4.12.0-5]; before CONNACK a client may send only AUTH or DISCONNECT
//! [MQTT-3.1.2-30]; a client that named no method may send no AUTH [MQTT-4.12.0-7], and the
//! server then sends none [MQTT-4.12.0-6].
//!
//! Not here: the methods themselves (the embedder's [`mqlite::Authenticator`]), the rest of
//! CONNECT (`connect.rs`), the CONNECT timeout that bounds the exchange (`mod.rs`).

use std::time::Instant;

use bytes::Bytes;
use mqlite::{AuthExchange, AuthStep, DenyReason, Event};

use super::{Closed, Conn, Flow, Phase};
use crate::codec::{
    Auth, Connect, DecodeError, Packet, PacketType, Properties, ProtocolVersion, ReasonCode,
};
use crate::stats;

const V5: ProtocolVersion = ProtocolVersion::V5;

/// A CONNECT waiting for its enhanced authentication exchange to end.
#[derive(Debug)]
pub(super) struct Pending {
    connect: Box<Connect>,
    exchange: AuthExchange,
}

impl Pending {
    pub(super) fn client_id(&self) -> &str {
        &self.connect.client_id
    }
}

/// An exchange that ended in success at CONNECT, for [`Conn::admit_connect`].
#[derive(Debug)]
pub(super) struct Authenticated {
    exchange: AuthExchange,
    /// The authenticator's final data, sent with the CONNACK.
    data: Option<Vec<u8>>,
}

impl Authenticated {
    /// The finished exchange, the proof [`mqlite::ConnectOptions::enhanced_auth`] takes.
    pub(super) fn exchange(&self) -> &AuthExchange {
        &self.exchange
    }

    /// Adds the method (and the final data) to a successful CONNACK [MQTT-4.12.0-5].
    pub(super) fn fill_connack(&mut self, props: &mut Properties) {
        props.authentication_method = Some(self.exchange.method().to_owned());
        props.authentication_data = self.data.take().map(Bytes::from);
    }

    /// What the connected client keeps: the method, to re-authenticate with.
    pub(super) fn into_enhanced(self, username: Option<String>) -> Box<Enhanced> {
        Box::new(Enhanced {
            method: self.exchange.method().to_owned(),
            username,
            reauth: None,
        })
    }
}

/// A connected client that used enhanced authentication.
#[derive(Debug)]
pub(super) struct Enhanced {
    /// The CONNECT's Authentication Method: re-authentication must use it [MQTT-4.12.1-1].
    method: String,
    /// The CONNECT's user name, which the hooks see again at re-authentication.
    username: Option<String>,
    /// A re-authentication in progress.
    reauth: Option<AuthExchange>,
}

impl Conn {
    /// A 5.0 CONNECT with an Authentication Method (or Authentication Data): starts the
    /// exchange with the CONNECT's data.
    pub(super) fn start_enhanced_auth(&mut self, connect: Box<Connect>, now: Instant) -> Flow {
        let props = &connect.properties;
        let Some(method) = props.authentication_method.as_deref() else {
            // §3.1.2.11.10: Authentication Data without a method is a Protocol Error.
            stats::add(&self.shared.counters.protocol_errors, 1);
            return Err(self.refuse(V5, ReasonCode::PROTOCOL_ERROR));
        };
        let exchange =
            self.broker
                .start_auth(&connect.client_id, connect.username.as_deref(), method);
        let Some(exchange) = exchange else {
            // [MQTT-4.12.0-1]: a method the hooks do not support.
            tracing::debug!(client = %connect.client_id, method, "unsupported authentication method");
            self.report_connect_denied(&connect, DenyReason::BadAuthenticationMethod);
            return Err(self.refuse(V5, ReasonCode::BAD_AUTHENTICATION_METHOD));
        };
        let data = props.authentication_data.clone();
        let pending = Box::new(Pending { connect, exchange });
        self.connect_auth_step(pending, data.as_deref(), now)
    }

    /// One packet of a client whose CONNECT is authenticating.
    pub(super) fn on_authenticating(&mut self, packet: Packet, now: Instant) -> Flow {
        let Phase::Authenticating(pending) = std::mem::replace(&mut self.phase, Phase::Closed)
        else {
            return Err(Closed);
        };
        match packet {
            // [MQTT-4.12.0-3]: the client answers with 0x18, in the same method
            // [MQTT-4.12.0-5].
            Packet::Auth(auth)
                if auth.reason_code == ReasonCode::CONTINUE_AUTHENTICATION
                    && auth.properties.authentication_method.as_deref()
                        == Some(pending.exchange.method()) =>
            {
                let data = auth.properties.authentication_data;
                self.connect_auth_step(pending, data.as_deref(), now)
            }
            // The client gave up. There is no session yet, so no will.
            Packet::Disconnect(_) => Err(Closed),
            other => {
                // [MQTT-3.1.2-30]: only AUTH or DISCONNECT before CONNACK.
                tracing::debug!(
                    client = %pending.connect.client_id, packet = ?other.packet_type(),
                    "protocol error during enhanced authentication"
                );
                stats::add(&self.shared.counters.protocol_errors, 1);
                Err(self.refuse(V5, ReasonCode::PROTOCOL_ERROR))
            }
        }
    }

    /// A packet that could not be decoded during the exchange: CONNACK with its reason code
    /// where CONNACK has it [MQTT-4.13.1-1], then close.
    pub(super) fn refuse_malformed_auth(&mut self, error: &DecodeError) -> Closed {
        tracing::debug!(client = self.client_id(), error = %error, "malformed packet during enhanced authentication");
        let counters = &self.shared.counters;
        let code = error.reason_code();
        if code == ReasonCode::PROTOCOL_ERROR {
            stats::add(&counters.protocol_errors, 1);
        } else {
            stats::add(&counters.malformed, 1);
        }
        let code = if code.is_valid_for(PacketType::ConnAck) {
            code
        } else {
            ReasonCode::MALFORMED_PACKET
        };
        self.refuse(V5, code)
    }

    /// Feeds the client's data to the exchange of a pending CONNECT and acts on the answer.
    fn connect_auth_step(
        &mut self,
        mut pending: Box<Pending>,
        data: Option<&[u8]>,
        now: Instant,
    ) -> Flow {
        match pending.exchange.step(data) {
            AuthStep::Continue(challenge) => {
                // [MQTT-4.12.0-2]: more is needed: AUTH 0x18.
                let packet = auth_packet(
                    ReasonCode::CONTINUE_AUTHENTICATION,
                    pending.exchange.method(),
                    Some(challenge),
                );
                self.encode(&packet, V5);
                self.phase = Phase::Authenticating(pending);
                Ok(())
            }
            AuthStep::Success(data) => {
                let Pending { connect, exchange } = *pending;
                self.admit_connect(connect, Some(Authenticated { exchange, data }), now)
            }
            _ => {
                // [MQTT-4.12.0-4]: refused: CONNACK 0x87, then close. Nothing the client
                // sent took effect; it has no session and no will.
                let c = &pending.connect;
                tracing::info!(
                    target: "mqlite_net::auth",
                    client_id = %c.client_id, username = c.username.as_deref(),
                    method = pending.exchange.method(), "enhanced authentication failed"
                );
                self.report_connect_denied(c, DenyReason::AuthenticationFailed);
                Err(self.refuse(V5, ReasonCode::NOT_AUTHORIZED))
            }
        }
    }

    /// AUTH from a connected client: a re-authentication (§4.12.1), started with 0x19 and
    /// continued with 0x18. Its other packets keep flowing meanwhile, under the
    /// authentication it has.
    pub(super) fn on_auth(&mut self, auth: Auth) -> Flow {
        let Phase::Live(live) = &mut self.phase else {
            return Err(Closed);
        };
        let Some(enhanced) = live.enhanced.as_mut() else {
            // [MQTT-4.12.0-7]: a client that named no method at CONNECT sends no AUTH.
            return Err(self.protocol_error());
        };
        let same_method =
            auth.properties.authentication_method.as_deref() == Some(enhanced.method.as_str());
        let exchange = match (auth.reason_code, enhanced.reauth.take()) {
            // [MQTT-4.12.1-1]: the method of the CONNECT, always.
            _ if !same_method => None,
            (ReasonCode::RE_AUTHENTICATE, None) => {
                let client_id = live.client.client_id();
                let username = enhanced.username.as_deref();
                match self
                    .broker
                    .start_auth(client_id, username, &enhanced.method)
                {
                    Some(exchange) => Some(exchange),
                    None => {
                        return Err(self.reauth_failed(
                            DenyReason::BadAuthenticationMethod,
                            ReasonCode::BAD_AUTHENTICATION_METHOD,
                        ));
                    }
                }
            }
            (ReasonCode::CONTINUE_AUTHENTICATION, Some(exchange)) => Some(exchange),
            // 0x18 with no exchange running, 0x19 during one, or 0x00 (only a server sends
            // Success).
            _ => None,
        };
        let Some(mut exchange) = exchange else {
            tracing::debug!(client = self.client_id(), code = %auth.reason_code, "unexpected AUTH");
            return Err(self.protocol_error());
        };
        match exchange.step(auth.properties.authentication_data.as_deref()) {
            AuthStep::Continue(challenge) => {
                let packet = auth_packet(
                    ReasonCode::CONTINUE_AUTHENTICATION,
                    exchange.method(),
                    Some(challenge),
                );
                enhanced.reauth = Some(exchange);
                self.encode(&packet, V5);
                Ok(())
            }
            AuthStep::Success(data) => {
                tracing::debug!(client = self.client_id(), "re-authenticated");
                self.encode(
                    &auth_packet(ReasonCode::SUCCESS, exchange.method(), data),
                    V5,
                );
                Ok(())
            }
            _ => {
                Err(self
                    .reauth_failed(DenyReason::AuthenticationFailed, ReasonCode::NOT_AUTHORIZED))
            }
        }
    }

    /// A failed re-authentication: reported, then DISCONNECT `code` and close
    /// [MQTT-4.12.1-2]. The connection ends without a clean DISCONNECT, so the will is
    /// published.
    fn reauth_failed(&mut self, reason: DenyReason, code: ReasonCode) -> Closed {
        if let Phase::Live(live) = &self.phase {
            let username = live.enhanced.as_ref().and_then(|e| e.username.as_deref());
            let client_id = live.client.client_id();
            tracing::info!(
                target: "mqlite_net::auth",
                client_id, username, ?reason, "re-authentication failed"
            );
            self.broker.emit_event(&Event::ReauthDenied {
                client_id,
                username,
                reason,
            });
        }
        self.close_with(code)
    }
}

/// An AUTH packet with `code`, the method [MQTT-4.12.0-5] and `data`.
fn auth_packet(code: ReasonCode, method: &str, data: Option<Vec<u8>>) -> Packet {
    let properties = Properties {
        authentication_method: Some(method.to_owned()),
        authentication_data: data.map(Bytes::from),
        ..Properties::default()
    };
    Packet::Auth(Auth {
        reason_code: code,
        properties,
    })
}
