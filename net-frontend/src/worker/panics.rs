//! Containing panics on a worker thread. The embedder's [`mqlite::Hooks`] run on the worker
//! serving the client (`authenticate` at CONNECT, `authorize_*` on PUBLISH and SUBSCRIBE,
//! `on_event` when a session ends), so a panic there, like a bug of ours, must not take
//! down every connection of the worker with it.
//!
//! - A panic while one connection is served (its turn, its tick, its closing) closes that
//!   connection alone, as a lost connection: its session ends uncleanly and its will is
//!   published. The worker and its other connections carry on.
//! - A panic in the event loop itself, outside any one connection, stops the worker: it
//!   closes its connections as at shutdown and takes no more sockets, which the acceptor
//!   then deals to the other workers.
//!
//! Each panic is counted in `NetStats::panics` and logged at `error`. Not here: when
//! connections are served (`mod.rs`), their I/O (`socket.rs`).

use std::any::Any;
use std::net::Shutdown;
use std::panic::{self, AssertUnwindSafe};

use super::Worker;
use super::socket::Entry;
use crate::stats;

impl Worker {
    /// Runs `f`, which serves the connection in `slot`; if it panics, closes that
    /// connection.
    pub(super) fn guarded(&mut self, slot: usize, f: impl FnOnce(&mut Self)) {
        // AssertUnwindSafe: what a panic can leave half-done is the connection's own state,
        // which `abort` throws away. The worker's lists of slots to serve may keep the slot;
        // serving a closed or reused slot early or in vain is harmless (see `paused`).
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| f(self))) {
            self.abort(slot, payload.as_ref());
        }
    }

    /// Closes the connection in `slot` after a panic while it was served. Its state is no
    /// longer trusted: its unsent output is discarded (it may end in a half-encoded packet)
    /// and its socket closed at once. Dropping its `Conn` drops its `mqlite::Client`, which
    /// ends the session as a lost connection, so the will is published [MQTT-3.1.2-8].
    fn abort(&mut self, slot: usize, payload: &(dyn Any + Send)) {
        stats::add(&self.server.counters.panics, 1);
        let Some(Some(entry)) = self.slots.get_mut(slot) else {
            tracing::error!(
                panic = message(payload),
                "panic while serving a closed connection"
            );
            return;
        };
        let peer = entry.stream.peer_addr().ok();
        tracing::error!(
            ?peer,
            panic = message(payload),
            "panic while serving a connection; closing it"
        );
        entry.conn.write.clear();
        let _ = entry.stream.shutdown(Shutdown::Both);
        self.remove(slot);
    }

    /// Drops a connection taken out of its slot. Dropping a live `Conn` ends its session,
    /// which runs the embedder's `Hooks::on_event`: a panic there is contained too.
    pub(super) fn drop_entry(&self, entry: Entry) {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| drop(entry))) {
            stats::add(&self.server.counters.panics, 1);
            tracing::error!(
                panic = message(payload.as_ref()),
                "panic while closing a connection"
            );
        }
    }

    /// Records a panic in the event loop itself. The caller then closes every connection
    /// and stops, since the loop's state can no longer be trusted.
    pub(super) fn died(&mut self, payload: &(dyn Any + Send)) {
        stats::add(&self.server.counters.panics, 1);
        tracing::error!(
            panic = message(payload),
            "panic in a worker's event loop; closing its connections and stopping it"
        );
    }
}

/// The message of a panic: `panic!` with a literal or with format arguments makes a
/// `&str` or a `String`; anything else (`panic_any`) has none we can show.
fn message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(not a string)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_of_literal_and_formatted_panics() {
        let literal = panic::catch_unwind(|| panic!("boom")).expect_err("panics");
        assert_eq!(message(literal.as_ref()), "boom");
        let formatted = panic::catch_unwind(|| panic!("boom {}", 7)).expect_err("panics");
        assert_eq!(message(formatted.as_ref()), "boom 7");
        let other = panic::catch_unwind(|| panic::panic_any(7_u8)).expect_err("panics");
        assert_eq!(message(other.as_ref()), "(not a string)");
    }
}
