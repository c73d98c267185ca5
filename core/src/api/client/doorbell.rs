//! The in-process client's wake-up: a token on a one-slot channel for the blocking receives,
//! and the task waker an async receive registered.
//!
//! # The async protocol
//!
//! A poll that found nothing stores its task's waker and marks the slot armed, then parks
//! (`Session::park`: under the session lock, then the queue word's RMW). Every event that
//! notifies (a delivery's reservation of the word, an acknowledgement or an end under the
//! session lock) is ordered with that park: if it comes first the park reports it and the
//! poll looks again; if it comes after, it happens after the arming, sees it, and wakes
//! the waker. A client never polled async stays unarmed and pays one load per
//! notification. (Loom model: `async_recv`.)

use std::task::Waker;

use crate::session::Notify;
use crate::sync::{Arc, AtomicUsize, Mutex, Ordering, channel};

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

/// The waker of the task that last polled a receive and found nothing. The lock is always
/// taken alone (see `sync/mod.rs`).
#[derive(Debug)]
struct TaskSlot {
    /// Non-zero once a poll registered a waker: from then on notifications look here.
    armed: AtomicUsize,
    waker: Mutex<Option<Waker>>,
}

impl Bell {
    /// A connected bell and doorbell.
    pub(crate) fn new() -> (Bell, Doorbell) {
        let (tx, rx) = channel::bounded(1);
        let task = Arc::new(TaskSlot {
            armed: AtomicUsize::new(0),
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
        // Acquire: pairs with the Release in `register` (ordered before the notifying event
        // by the park, see the module docs).
        if self.task.armed.load(Ordering::Acquire) != 0 {
            // Taken out first: the task is woken with no lock held.
            let waker = self.task.waker.lock().take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

impl Doorbell {
    /// Registers the waker of a task that found nothing; the next notification wakes it.
    /// Call it before the consumer parks.
    pub(crate) fn register(&self, waker: &Waker) {
        {
            let mut slot = self.task.waker.lock();
            match &*slot {
                Some(current) if current.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
        // Release: pairs with the Acquire in `Bell::notify`.
        self.task.armed.store(1, Ordering::Release);
    }
}
