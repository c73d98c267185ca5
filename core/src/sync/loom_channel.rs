//! A channel built on loom's `Mutex` and `Condvar`, with exactly the crossbeam subset core uses.
//!
//! crossbeam-channel is invisible to loom, so under `cfg(loom)` the facade offers this instead.
//! Loom has no clock: `recv_timeout` waits as `recv` does, so a model that could time out
//! must make progress by other means (loom reports a deadlock otherwise).

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use loom::sync::{Arc, Condvar, Mutex};

pub(crate) use crossbeam_channel::{RecvTimeoutError, SendError, TryRecvError, TrySendError};

struct State<T> {
    queue: VecDeque<T>,
    capacity: usize,
    senders: usize,
    receivers: usize,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

/// The sending half.
pub(crate) struct Sender<T>(Arc<Shared<T>>);
/// The receiving half.
pub(crate) struct Receiver<T>(Arc<Shared<T>>);

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sender { .. }")
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Receiver { .. }")
    }
}

/// A channel holding at most `capacity` messages (`capacity` 0 is treated as 1).
pub(crate) fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            capacity: capacity.max(1),
            senders: 1,
            receivers: 1,
        }),
        ready: Condvar::new(),
    });
    (Sender(shared.clone()), Receiver(shared))
}

/// A channel without a bound (crossbeam's `unbounded`).
pub(crate) fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    bounded(usize::MAX)
}

fn lock<T>(shared: &Shared<T>) -> loom::sync::MutexGuard<'_, State<T>> {
    shared.state.lock().unwrap_or_else(|p| p.into_inner())
}

impl<T> Sender<T> {
    /// Sends without blocking; hands the value back when full or disconnected.
    pub(crate) fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut state = lock(&self.0);
        if state.receivers == 0 {
            return Err(TrySendError::Disconnected(value));
        }
        if state.queue.len() >= state.capacity {
            return Err(TrySendError::Full(value));
        }
        state.queue.push_back(value);
        drop(state);
        self.0.ready.notify_all();
        Ok(())
    }
}

impl<T> Sender<T> {
    /// Sends; never blocks on an unbounded channel (a full bounded one reports an error, as
    /// core never sends blocking to a bounded channel).
    pub(crate) fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.try_send(value).map_err(|e| SendError(e.into_inner()))
    }
}

impl<T> Receiver<T> {
    /// Takes a value without blocking.
    pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut state = lock(&self.0);
        match state.queue.pop_front() {
            Some(v) => Ok(v),
            None if state.senders == 0 => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Whether no value is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.0).queue.is_empty()
    }

    /// Blocks until a value arrives or every sender is gone (loom has no clock, see the module).
    pub(crate) fn recv_timeout(&self, _timeout: Duration) -> Result<T, RecvTimeoutError> {
        let mut state = lock(&self.0);
        loop {
            if let Some(v) = state.queue.pop_front() {
                return Ok(v);
            }
            if state.senders == 0 {
                return Err(RecvTimeoutError::Disconnected);
            }
            state = self.0.ready.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        lock(&self.0).senders += 1;
        Self(self.0.clone())
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        lock(&self.0).receivers += 1;
        Self(self.0.clone())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        lock(&self.0).senders -= 1;
        self.0.ready.notify_all();
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        lock(&self.0).receivers -= 1;
    }
}
