//! Durable mode in the engine: rebuilding the broker from the journal at start, and the
//! points where an operation waits until what it recorded is durable (group commit).

use std::time::Duration;

use super::Engine;
use super::timers::PendingWill;
use crate::journal::{Journal, Recovered};
use crate::sync::ValueArc;
use crate::types::connect_options::NEVER_EXPIRE;
use crate::types::error::PublishError;
use crate::types::store::{StoreError, StoreStats, Ticket};
use crate::types::will::Will;

impl Engine {
    /// Rebuilds retained messages and persistent sessions (queues, windows, incoming QoS 2
    /// ids, subscriptions) from the journal. Time counts the downtime: a session whose expiry
    /// passed while the broker was down is discarded at once, a delayed will that fell due is
    /// published now.
    pub(super) fn restore(&self, recovered: Recovered) {
        {
            let mut store = self.retained.lock();
            for (publication, persisted) in recovered.retained {
                store.restore(publication, persisted);
            }
        }
        let Some(journal) = &self.journal else {
            return;
        };
        let now = self.clock.now();
        let unix_now = journal.time().to_unix_ms(now);
        // Clock time of Unix ms `at`: now if it is past (time before this run's clock
        // started cannot be expressed, and need not be: it is due).
        let clock_at =
            |at: u64| now.saturating_add(Duration::from_millis(at.saturating_sub(unix_now)));
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let limits = self.limits_for(&crate::types::connect_options::ConnectOptions::new(""));
        let mut wills: Vec<(ValueArc<str>, u32, Will, Duration)> = Vec::new();
        let mut lone_wills = Vec::new();
        {
            let mut router = self.router.write();
            for s in recovered.sessions {
                // A session connected at the crash ended then: its expiry and its will's delay
                // count from this start.
                let offline = s.record.offline_since.unwrap_or(unix_now);
                let expiry = s.record.expiry;
                let will = s.record.will.clone();
                if expiry.is_zero() {
                    // Kept for its will only (a session that ends with its connection).
                    lone_wills.extend(will);
                    continue;
                }
                let expires_at =
                    (expiry != NEVER_EXPIRE).then(|| clock_at(offline.saturating_add(ms(expiry))));
                let session = router.restore(s, limits, expires_at, offline);
                if let Some(will) = will {
                    let delay = ms(will.delay.min(expiry));
                    let due = clock_at(offline.saturating_add(delay));
                    wills.push((session.client_id.clone(), session.key, will, due));
                }
            }
        }
        // The connections of sessions that ended with them were lost at the crash.
        for will in lone_wills {
            self.publish_will_from(None, will);
        }
        for (client_id, origin, will, due) in wills {
            if due <= now {
                self.publish_will(origin, will);
                self.forget_will(origin);
            } else {
                self.pending_wills.lock().push(PendingWill {
                    client_id,
                    origin,
                    will,
                    due,
                });
            }
        }
        self.expire_sessions(now);
    }

    /// Changes the calling thread made to the store so far (0 in memory mode).
    pub(crate) fn records_appended(&self) -> u64 {
        self.journal
            .as_ref()
            .map_or(0, |_| crate::types::store::changes_here())
    }

    /// Failed appends so far (0 in memory mode): compared before and after an operation.
    pub(crate) fn store_failures(&self) -> u64 {
        self.journal.as_ref().map_or(0, |j| j.failures())
    }

    /// An operation that began when failures were at `before` recorded everything it had to,
    /// or the error to answer it with (never acknowledged).
    pub(crate) fn check_recorded(&self, before: u64) -> Result<(), PublishError> {
        if self.store_failures() == before {
            return Ok(());
        }
        Err(PublishError::NotDurable {
            reason: "writing to the store failed".into(),
        })
    }

    /// Blocks until everything recorded so far is durable (no-op in memory mode). Threads
    /// that wait together share one sync.
    pub(crate) fn sync(&self) -> Result<(), StoreError> {
        match &self.journal {
            Some(journal) => journal.sync(),
            None => Ok(()),
        }
    }

    /// The ticket that, once durable, makes everything recorded so far durable; `None` in
    /// memory mode.
    pub(crate) fn durable_point(&self) -> Option<Result<Ticket, StoreError>> {
        self.journal.as_ref().map(|j| j.sync_point())
    }

    /// Calls `done` once `ticket` is durable (at once in memory mode).
    pub(crate) fn when_durable(
        &self,
        ticket: Ticket,
        done: Box<dyn FnOnce(Result<(), StoreError>) + Send>,
    ) {
        match &self.journal {
            Some(journal) => journal.when_durable(ticket, done),
            None => done(Ok(())),
        }
    }

    /// The store's figures, in durable mode.
    pub(crate) fn store_stats(&self) -> Option<StoreStats> {
        self.journal.as_ref().map(|j| j.stats())
    }

    /// The broker shuts down: nothing is released from now on.
    pub(super) fn close_journal(&self) {
        if let Some(journal) = &self.journal {
            journal.close();
        }
    }

    /// Shutdown ended every connection and published the wills: each session's record says
    /// so (offline from now, no will left).
    pub(super) fn record_shutdown(&self) {
        if self.journal.is_none() {
            return;
        }
        let now = self.clock.now();
        let sessions: Vec<_> = self.router.read().sessions().cloned().collect();
        for session in sessions {
            session.record_shutdown(now);
        }
    }

    /// After shutdown: the store is closed and dropped.
    pub(super) fn drop_store(&self) {
        if let Some(journal) = &self.journal {
            journal.drop_store();
        }
    }

    /// A delayed will of session `origin` was published: its record drops it.
    pub(super) fn forget_will(&self, origin: u32) {
        if self.journal.is_some()
            && let Some(session) = self.router.read().session(origin).cloned()
        {
            session.forget_will();
        }
    }
}

/// Held by every [`crate::Broker`] and connection handle: when the last of them is gone,
/// the store is closed and dropped at once, in that thread (the timer thread may keep the
/// engine itself a moment longer), so the directory can be opened again right away.
#[derive(Debug)]
pub(crate) struct StoreGuard(pub(super) ValueArc<Journal>);

impl Drop for StoreGuard {
    fn drop(&mut self) {
        self.0.close();
        self.0.drop_store();
    }
}

impl Engine {
    /// The guard of the store, while a handle holds it (`None` in memory mode).
    pub(crate) fn store_guard(&self) -> Option<ValueArc<StoreGuard>> {
        self.store_guard.upgrade()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Before the sessions and retained messages drop: they stay on disk.
        self.close_journal();
        self.drop_store();
    }
}
