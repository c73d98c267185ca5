//! The in-process client's wake-up: a token on a one-slot channel for the blocking receives,
//! and the task waker an async receive registered.
//!
//! # The async protocol
//!
//! The task slot has a state word, `IDLE`, `WAITING` (a waker is registered) or `NOTIFIED`
//! (a notification came while none was), changed only by swaps:
//! - a poll starts by swapping in `IDLE` ([`Doorbell::begin_poll`]), then looks for a
//!   message; finding none, it stores its waker and swaps in `WAITING`
//!   ([`Doorbell::register`]); if that swap returns `NOTIFIED`, something happened since the
//!   poll began, and it looks again;
//! - a notification swaps in `NOTIFIED`; if that returns `WAITING`, it takes the waker and
//!   wakes it.
//!
//! The swaps are totally ordered: a notification before the poll's first swap is seen by
//! the poll's look (the swap synchronizes with it), one between the two swaps by the second
//! swap, and one after both finds `WAITING` and the waker. A client that is never polled
//! async pays one uncontended swap per notification. (Loom model: `async_recv`.)

use std::task::Waker;

use crate::session::Notify;
use crate::sync::{Arc, AtomicUsize, Mutex, Ordering, channel};

const IDLE: usize = 0;
const WAITING: usize = 1;
const NOTIFIED: usize = 2;

/// The session's end of the doorbell: its [`Notify`]. The session drops it when the
/// connection ends, which disconnects the channel and so tells a blocked receive.
#[derive(Debug)]
pub(crate) struct Bell {
    tx: channel::Sender<()>,
    task: Arc<TaskSlot>,
}

/// The client's end: what its receives wait on.
#[derive(Debug)]
pub(crate) struct Doorbell {
    pub(crate) rx: channel::Receiver<()>,
    task: Arc<TaskSlot>,
}

/// The waker of the task that last polled a receive and found nothing, and the state word
/// of the protocol above. The lock is always taken alone (see `sync/mod.rs`).
#[derive(Debug)]
struct TaskSlot {
    state: AtomicUsize,
    waker: Mutex<Option<Waker>>,
}

impl Bell {
    /// A connected bell and doorbell.
    pub(crate) fn new() -> (Bell, Doorbell) {
        let (tx, rx) = channel::bounded(1);
        let task = Arc::new(TaskSlot {
            state: AtomicUsize::new(IDLE),
            waker: Mutex::new(None),
        });
        let bell = Bell {
            tx,
            task: task.clone(),
        };
        (bell, Doorbell { rx, task })
    }
}

impl Notify for Bell {
    fn notify(&self) {
        // Full means a token is already waiting; disconnected means nobody is listening.
        let _ = self.tx.try_send(());
        // AcqRel: pairs with the swaps of `begin_poll` and `register`.
        if self.task.state.swap(NOTIFIED, Ordering::AcqRel) == WAITING {
            // Taken out first: the task is woken with no lock held.
            let waker = self.task.waker.lock().take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

impl Doorbell {
    /// An async poll begins: notifications before this are for what it is about to look
    /// at, and are forgotten.
    pub(crate) fn begin_poll(&self) {
        // AcqRel: pairs with the swap in `Bell::notify`, so the poll sees what it announced.
        self.task.state.swap(IDLE, Ordering::AcqRel);
    }

    /// Registers the waker of a task that found nothing; the next notification wakes it.
    /// Returns `false` if a notification came since [`Doorbell::begin_poll`]: look again
    /// instead of waiting.
    #[must_use]
    pub(crate) fn register(&self, waker: &Waker) -> bool {
        {
            let mut slot = self.task.waker.lock();
            match &*slot {
                Some(current) if current.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
        // AcqRel: pairs with the swap in `Bell::notify`.
        self.task.state.swap(WAITING, Ordering::AcqRel) != NOTIFIED
    }
}
