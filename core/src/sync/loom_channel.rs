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

/// Model 9 of `loom-tests/README.md`: the channel itself, under loom (it exists only there):
/// FIFO, no lost wake-up, disconnect seen by both ends. Each model has 2 threads and
/// preemption bound 12 (`BOUND`), which explores every interleaving (3 to 933 of them, each
/// model well under 0.1 s in release); run with
/// `RUSTFLAGS="--cfg loom" cargo test -p mqlite --lib --release -- sync::loom_channel`.
///
/// Mutation that fails them: drop the `notify_all` in `Sender::drop`. Tried: loom reports a
/// deadlock in `last_sender_leaving_wakes_a_blocked_receiver` (the receiver blocked in
/// `recv_timeout` never learns that the last sender left). Dropping the one in `try_send`
/// fails `blocked_receiver_is_woken_by_a_send` the same way.
#[cfg(all(test, loom))]
mod tests {
    use std::time::Duration;

    use loom::thread;

    use super::*;

    const BOUND: usize = 12;
    const WAIT: Duration = Duration::from_secs(1);

    /// Runs `model` under loom with [`BOUND`] (`LOOM_MAX_PREEMPTIONS` overrides it) and
    /// reports the interleavings explored on stderr.
    fn check(model: impl Fn() + Send + Sync + 'static) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let mut builder = loom::model::Builder::new();
        let bound = *builder.preemption_bound.get_or_insert(BOUND);
        let runs = std::sync::Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        builder.check(move || {
            counted.fetch_add(1, Ordering::Relaxed);
            model();
        });
        let name = thread_name();
        let runs = runs.load(Ordering::Relaxed);
        eprintln!("loom model {name}: preemption bound {bound}, {runs} interleavings");
    }

    fn thread_name() -> String {
        std::thread::current().name().unwrap_or("?").to_owned()
    }

    /// FIFO: values sent by one thread arrive in send order, each once.
    #[test]
    fn values_arrive_in_send_order() {
        check(|| {
            let (tx, rx) = unbounded();
            let sending = thread::spawn(move || {
                for i in 0..3 {
                    tx.send(i).unwrap();
                }
            });
            let got: Vec<i32> = (0..3).map(|_| rx.recv_timeout(WAIT).unwrap()).collect();
            assert_eq!(got, [0, 1, 2]);
            sending.join().unwrap();
            assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        });
    }

    /// No lost wake-up: a receiver that blocks before the send is woken by it.
    #[test]
    fn blocked_receiver_is_woken_by_a_send() {
        check(|| {
            let (tx, rx) = bounded(1);
            let receiving = thread::spawn(move || rx.recv_timeout(WAIT));
            tx.try_send(7).unwrap();
            assert_eq!(receiving.join().unwrap(), Ok(7));
            drop(tx);
        });
    }

    /// Disconnect seen by the receiver: it gets what was sent, then `Disconnected`, also when
    /// it was blocked as the last sender (of two clones) left.
    #[test]
    fn last_sender_leaving_wakes_a_blocked_receiver() {
        check(|| {
            let (tx, rx) = unbounded();
            let other = tx.clone();
            let sending = thread::spawn(move || {
                other.send(1).unwrap();
                drop(other);
            });
            drop(tx);
            assert_eq!(rx.recv_timeout(WAIT), Ok(1));
            assert_eq!(rx.recv_timeout(WAIT), Err(RecvTimeoutError::Disconnected));
            sending.join().unwrap();
        });
    }

    /// Disconnect seen by the sender: once the receiver is gone, a send hands the value back;
    /// before, a full channel hands it back as `Full`.
    #[test]
    fn receiver_leaving_is_seen_by_the_sender() {
        check(|| {
            let (tx, rx) = bounded(1);
            let receiving = thread::spawn(move || {
                let first = rx.try_recv();
                drop(rx);
                first
            });
            let sent = tx.try_send(1);
            let second = tx.try_send(2);
            let first = receiving.join().unwrap();
            match (sent, first) {
                (Ok(()), Ok(1)) => assert!(matches!(
                    second,
                    Ok(()) | Err(TrySendError::Full(2) | TrySendError::Disconnected(2))
                )),
                (Ok(()), Err(TryRecvError::Empty)) => assert!(matches!(
                    second,
                    Err(TrySendError::Full(2) | TrySendError::Disconnected(2))
                )),
                (Err(TrySendError::Disconnected(1)), Err(TryRecvError::Empty)) => {
                    assert_eq!(second, Err(TrySendError::Disconnected(2)));
                }
                other => panic!("impossible outcome {other:?}"),
            }
            assert_eq!(tx.try_send(3), Err(TrySendError::Disconnected(3)));
        });
    }
}
