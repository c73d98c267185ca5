//! The alarm: wakes async tasks at a deadline, for waits that no other event may end in
//! time (an async publish waiting for room up to its `wait_if_full` deadline). Core has no
//! runtime, so one small thread per broker keeps the deadlines; it starts with the first
//! deadline and ends with the broker.

use std::task::Waker;
use std::time::Instant;

use crate::sync::{Mutex, channel};

/// Deadlines and the wakers to wake at them.
#[derive(Debug)]
pub(crate) struct Alarm {
    /// The alarm thread's inbox, once it runs. Dropping it (with the broker) ends the thread.
    #[cfg_attr(loom, allow(dead_code))]
    tx: Mutex<Option<channel::Sender<(Instant, Waker)>>>,
}

impl Alarm {
    /// An alarm with no thread yet.
    pub(crate) fn new() -> Self {
        Self {
            tx: Mutex::new(None),
        }
    }

    /// Wakes `waker` at `at` (or a little after). Spurious wake-ups are the caller's to
    /// tolerate: a deadline that is no longer needed still fires once.
    #[cfg(not(loom))]
    pub(crate) fn wake_at(&self, at: Instant, waker: &Waker) {
        let tx = {
            let mut slot = self.tx.lock();
            if slot.is_none() {
                *slot = spawn();
            }
            slot.clone()
        };
        if let Some(tx) = tx {
            // Unbounded: never blocks. The thread only ends once `tx` is dropped.
            let _ = tx.send((at, waker.clone()));
        } else {
            // No thread could be started: wake now, so the waiter looks at its deadline
            // itself instead of waiting for ever.
            waker.wake_by_ref();
        }
    }

    /// Under loom no thread is started and nothing is woken: the models' deadlines never
    /// pass, and a wake-up from here would hide a lost one of the protocol they check.
    #[cfg(loom)]
    pub(crate) fn wake_at(&self, _at: Instant, _waker: &Waker) {}
}

/// Starts the alarm thread; `None` if the system refuses a thread.
#[cfg(not(loom))]
fn spawn() -> Option<channel::Sender<(Instant, Waker)>> {
    let (tx, rx) = channel::unbounded();
    std::thread::Builder::new()
        .name("mqlite-alarm".into())
        .spawn(move || run(&rx))
        .ok()?;
    Some(tx)
}

/// The alarm thread: sleeps until the earliest deadline or a new one, wakes what is due.
#[cfg(not(loom))]
fn run(rx: &channel::Receiver<(Instant, Waker)>) {
    let mut pending: Vec<(Instant, Waker)> = Vec::new();
    loop {
        let now = Instant::now();
        pending.retain(|(at, waker)| {
            let due = *at <= now;
            if due {
                waker.wake_by_ref();
            }
            !due
        });
        let next = pending.iter().map(|(at, _)| *at).min();
        let received = match next {
            Some(at) => rx.recv_timeout(at.saturating_duration_since(now)),
            None => rx
                .recv()
                .map_err(|_| channel::RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(entry) => pending.push(entry),
            Err(channel::RecvTimeoutError::Timeout) => {}
            Err(channel::RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;
    use std::time::Duration;

    struct Count(AtomicUsize, std::thread::Thread);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
            self.1.unpark();
        }
    }

    #[test]
    fn wakes_at_the_deadline_in_order_of_deadlines() {
        let alarm = Alarm::new();
        let late = Arc::new(Count(AtomicUsize::new(0), std::thread::current()));
        let soon = Arc::new(Count(AtomicUsize::new(0), std::thread::current()));
        let start = Instant::now();
        alarm.wake_at(start + Duration::from_secs(60), &Waker::from(late.clone()));
        alarm.wake_at(
            start + Duration::from_millis(20),
            &Waker::from(soon.clone()),
        );
        // Bounded: the 20 ms alarm must fire well within 5 s.
        while soon.0.load(Ordering::SeqCst) == 0 && start.elapsed() < Duration::from_secs(5) {
            std::thread::park_timeout(Duration::from_millis(50));
        }
        assert_eq!(soon.0.load(Ordering::SeqCst), 1);
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert_eq!(late.0.load(Ordering::SeqCst), 0, "not due yet");
    }
}
