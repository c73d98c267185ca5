//! Connect (client id rules, authentication, the will, limits), detach and shutdown.

use std::time::Duration;

use super::{Connection, Consumer, Engine};
use crate::router::{AttachRequest, Effects};
use crate::session::{Attachment, Session, SessionLimits};
use crate::sync::{Arc, Ordering, ValueArc};
use crate::types::connect_options::ConnectOptions;
use crate::types::error::ConnectError;
use crate::types::hooks::{AuthExchange, ClientInfo, DenyReason, DisconnectReason, Event};

impl Engine {
    /// Connects a client: validates and authenticates it, then attaches it to a new session
    /// or the existing one of its client id (taking over a connected one).
    pub(crate) fn connect(
        this: &Arc<Self>,
        mut options: ConnectOptions,
        consumer: Consumer,
    ) -> Result<Connection, ConnectError> {
        this.validate_connect(&mut options)?;
        let limits = this.limits_for(&options);
        if let Some(cap) = this.config.max_session_expiry {
            options.session_expiry = options.session_expiry.min(cap);
        }
        let client_id: ValueArc<str> = ValueArc::from(options.client_id.as_str());
        let auto_ack = consumer.auto_ack;
        let request = AttachRequest {
            client_id: client_id.clone(),
            clean_start: options.clean_start,
            limits,
            attachment: Attachment {
                limits,
                will: options.will.take(),
                expiry: options.session_expiry,
                notify: consumer.notify,
                in_process: consumer.in_process,
            },
        };
        let mut effects = this.effects();
        let attached = {
            let mut router = this.router.write();
            let attached = router.attach(request, || this.admit(), &mut effects)?;
            this.connected.fetch_add(1, Ordering::Relaxed);
            attached
        };
        // A new connection to the session cancels a delayed will [MQTT-3.1.3-9].
        this.pending_wills
            .lock()
            .retain(|w| w.client_id != client_id);
        this.run_effects(effects);
        // The handle exists before the embedder's hook runs: if the hook panics, unwinding
        // drops it and the session ends as lost, instead of staying attached to nobody.
        let session_present = attached.session_present;
        let connection = Connection::new(this.clone(), attached, options.username, auto_ack);
        this.emit(&Event::ClientConnected {
            client_id: &client_id,
            session_present,
        });
        Ok(connection)
    }

    /// Whether one more connection may attach (`max_clients`).
    fn admit(&self) -> Result<(), ConnectError> {
        let max = self.config.max_clients;
        if self.connected.load(Ordering::Relaxed) >= max {
            return Err(ConnectError::TooManyClients { max });
        }
        Ok(())
    }

    /// Checks the client id (assigning one if empty), the credentials and the will.
    fn validate_connect(&self, options: &mut ConnectOptions) -> Result<(), ConnectError> {
        self.check_client_id(&mut options.client_id)?;
        let info = Self::client_info(&options.client_id, options.username.as_deref());
        // A finished enhanced authentication exchange replaces `authenticate`.
        let refused = match &options.enhanced_auth {
            Some(proof) => {
                (!proof.admits(info.username)).then_some(DenyReason::AuthenticationFailed)
            }
            None => self
                .hooks
                .as_ref()
                .is_some_and(|hooks| !hooks.authenticate(&info, options.password.as_deref()))
                .then_some(DenyReason::Hooks),
        };
        if let Some(reason) = refused {
            return Err(self.connect_denied(&info, reason));
        }
        if let Some(will) = &options.will {
            self.check_limits(&will.topic, will.payload.len())
                .map_err(ConnectError::WillLimit)?;
            if let Some(hooks) = &self.hooks
                && !hooks.authorize_publish(&info, &will.topic, will.qos, will.retain)
            {
                return Err(self.connect_denied(&info, DenyReason::Hooks));
            }
        }
        Ok(())
    }

    /// Client id rules; an empty id gets a unique one.
    fn check_client_id(&self, client_id: &mut String) -> Result<(), ConnectError> {
        let invalid = |reason| ConnectError::InvalidClientId {
            client_id: client_id.chars().take(64).collect(),
            reason,
        };
        if client_id.len() > self.config.max_client_id_length {
            return Err(invalid("longer than max_client_id_length"));
        }
        if client_id.contains('\0') {
            return Err(invalid("contains U+0000 [MQTT-1.5.4-2]"));
        }
        if client_id.is_empty() {
            let n = self.next_auto_id.fetch_add(1, Ordering::Relaxed);
            *client_id = format!("mqlite-auto-{n}");
        }
        Ok(())
    }

    /// Reports a refused connect ([`Event::ConnectDenied`]) and returns its error.
    fn connect_denied(&self, info: &ClientInfo<'_>, reason: DenyReason) -> ConnectError {
        self.emit(&Event::ConnectDenied {
            client_id: info.client_id,
            username: info.username,
            reason,
        });
        ConnectError::NotAuthorized {
            client_id: info.client_id.to_owned(),
        }
    }

    /// The session limits of a connection: the broker's, narrowed by the client's.
    pub(super) fn limits_for(&self, options: &ConnectOptions) -> SessionLimits {
        let c = &self.config;
        SessionLimits {
            max_queued_messages: options
                .max_queued_messages
                .map_or(c.max_queued_messages, |m| m.min(c.max_queued_messages)),
            max_queued_bytes: c.max_queued_bytes,
            receive_maximum: options
                .receive_maximum
                .map_or(c.max_inflight_messages, |m| m.min(c.max_inflight_messages))
                .max(1),
            overflow: options.overflow_policy.unwrap_or(c.overflow_policy),
            queue_qos0: c.queue_qos0_messages,
        }
    }

    /// Starts an enhanced authentication exchange through the hooks (MQTT 5.0 §4.12).
    pub(crate) fn start_auth(
        &self,
        client_id: &str,
        username: Option<&str>,
        method: &str,
    ) -> Option<AuthExchange> {
        let hooks = self.hooks.as_ref()?;
        let info = Self::client_info(client_id, username);
        let authenticator = hooks.start_auth(&info, method)?;
        Some(AuthExchange::new(method, username, authenticator))
    }

    /// Ends connection `generation` of `session`: publishes the will unless `reason` is a
    /// normal disconnect, and discards the session if it does not outlive its connection.
    pub(crate) fn detach(&self, session: &Arc<Session>, generation: u64, reason: DisconnectReason) {
        let mut effects = self.effects();
        let now = self.clock.now();
        self.router
            .write()
            .detach(session, generation, reason, now, &mut effects);
        self.run_effects(effects);
    }

    /// Ends every connection (publishing wills, delayed ones now) and refuses new ones.
    pub(crate) fn shutdown(&self) {
        // Sessions ended from here on stay on disk, persistent or not at this moment.
        self.close_journal();
        let mut effects = self.effects();
        if !self.router.write().close(&mut effects) {
            return;
        }
        self.flush_wills(&mut effects);
        self.run_effects(effects);
        self.record_shutdown();
        drop(self.timer_stop.lock().take());
        // What the wills recorded; a failure is counted, and nothing waits on it. Then the
        // store goes, so its directory can be opened again at once.
        let _ = self.sync();
        self.drop_store();
    }

    /// Makes every will due now: those of the connections just ended and those delayed.
    fn flush_wills(&self, effects: &mut Effects) {
        let pending = std::mem::take(&mut *self.pending_wills.lock());
        let wills = &mut effects.rare().wills;
        wills.extend(pending.into_iter().map(|p| (p.client_id, p.origin, p.will)));
        for will in wills.iter_mut() {
            will.2.delay = Duration::ZERO;
        }
    }
}
