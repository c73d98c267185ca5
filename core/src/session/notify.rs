//! [`Notify`]: how a session wakes its consumer.

use std::fmt;

/// Wakes the consumer of a session: when a delivery arrives after the consumer found nothing
/// to take (so at most once per empty → non-empty change), when an acknowledgement reopens a
/// full in-flight window, and when its connection ends.
///
/// An in-process [`crate::Client`] has its own; a transport gives one to
/// [`crate::Broker::connect_wire`] (the network frontend's wakes its mio worker). `notify`
/// must not block; it is never called under a broker lock. Not to be confused with
/// [`std::task::Wake`]: an async receiver registers its task's waker with
/// [`crate::Client::poll_recv`] instead.
pub trait Notify: Send + Sync + fmt::Debug + 'static {
    /// Signals the consumer; spurious notifications are allowed.
    fn notify(&self);
}
