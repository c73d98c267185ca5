//! [`ClientAuth`]: what one connected client may do, the ACL resolved for its user name and
//! client id. It follows [`super::Auth::reload`]: each check first compares the ACL's
//! generation with the one its rules were resolved from, and resolves them again if the
//! file changed.

use std::cell::RefCell;

use mqlite::QoS;

use super::{Auth, ClientAcl, count};

/// What one connected client may do: the ACL resolved for its user name and client id.
#[derive(Debug, Clone)]
pub(crate) struct ClientAuth {
    auth: Auth,
    /// `None` when no ACL is set: everything is allowed. A `RefCell` because a check
    /// (`&self`) may find the ACL reloaded and resolve it again; the connection is only
    /// ever used by its worker thread.
    acl: Option<RefCell<Resolved>>,
    client_id: String,
    username: Option<String>,
}

/// The client's rules and the ACL generation they were resolved from.
#[derive(Debug, Clone)]
struct Resolved {
    generation: u64,
    rules: ClientAcl,
}

impl ClientAuth {
    /// `client_id`'s view of `auth`, resolved now.
    pub(super) fn new(auth: Auth, client_id: &str, username: Option<String>) -> Self {
        let acl = auth.inner.acl.as_ref().map(|slot| {
            let (acl, generation) = slot.get_with_generation();
            RefCell::new(Resolved {
                generation,
                rules: acl.for_client(username.as_deref(), client_id),
            })
        });
        Self {
            auth,
            acl,
            client_id: client_id.to_owned(),
            username,
        }
    }

    /// The client's rules as of the current ACL; `None` if no ACL is set.
    pub(super) fn with_rules<R>(&self, f: impl FnOnce(&ClientAcl) -> R) -> Option<R> {
        let (cell, slot) = (self.acl.as_ref()?, self.auth.inner.acl.as_ref()?);
        let mut resolved = cell.borrow_mut();
        if resolved.generation != slot.generation() {
            let (acl, generation) = slot.get_with_generation();
            *resolved = Resolved {
                generation,
                rules: acl.for_client(self.username.as_deref(), &self.client_id),
            };
        }
        Some(f(&resolved.rules))
    }

    /// Whether the client may publish on `topic` at `qos`; a denial is counted and logged.
    pub(crate) fn may_publish(&self, topic: &str, qos: QoS) -> bool {
        if self
            .with_rules(|acl| acl.may_write(topic, qos))
            .unwrap_or(true)
        {
            return true;
        }
        count(&self.auth.inner.counters.publish_denied);
        tracing::debug!(
            client_id = %self.client_id, username = self.username.as_deref(), topic,
            qos = qos.as_u8(), "publish denied by the acl"
        );
        false
    }

    /// The QoS to grant a subscription to `filter` asked at `qos`, or `None` to refuse it
    /// (SUBACK 0x87 on 5.0, 0x80 before); a refusal is counted and logged.
    pub(crate) fn subscribe_qos(&self, filter: &str, qos: QoS) -> Option<QoS> {
        let Some(granted) = self.with_rules(|acl| acl.subscribe_qos(filter, qos)) else {
            return Some(qos);
        };
        if granted.is_none() {
            count(&self.auth.inner.counters.subscribe_denied);
            tracing::debug!(
                client_id = %self.client_id, username = self.username.as_deref(), filter,
                "subscription denied by the acl"
            );
        }
        granted
    }

    /// Whether a message on `topic` may be delivered to this client. Call it for every
    /// delivery (retained messages included); a denial is counted and logged.
    pub(crate) fn may_read(&self, topic: &str) -> bool {
        if self.with_rules(|acl| acl.may_read(topic)).unwrap_or(true) {
            return true;
        }
        count(&self.auth.inner.counters.delivery_denied);
        tracing::debug!(
            client_id = %self.client_id, username = self.username.as_deref(), topic,
            "delivery withheld by the acl"
        );
        false
    }
}
