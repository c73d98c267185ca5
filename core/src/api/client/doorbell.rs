//! The in-process client's wake-up: a token on a one-slot channel for the blocking receives,
//! and the task waker an async receive registered.

use std::task::Waker;

use crate::session::Notify;
use crate::sync::{Arc, Mutex, channel};

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

/// The waker of the task that last polled a receive and found nothing. A lock of its own,
/// always taken alone (see the lock order in `sync/mod.rs`).
#[derive(Debug)]
struct TaskSlot(Mutex<Option<Waker>>);

impl Bell {
    /// A connected bell and doorbell.
    pub(crate) fn new() -> (Bell, Doorbell) {
        let (tx, rx) = channel::bounded(1);
        let task = Arc::new(TaskSlot(Mutex::new(None)));
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
        // Taken out first: the task is woken with no lock held.
        let task = self.task.0.lock().take();
        if let Some(waker) = task {
            waker.wake();
        }
    }
}

impl Doorbell {
    /// Registers the waker of a task about to wait for a delivery; the next notification
    /// wakes it (once). Must be called before the consumer parks, so that a delivery that
    /// arrives after the park finds it.
    pub(crate) fn register(&self, waker: &Waker) {
        let mut slot = self.task.0.lock();
        match &*slot {
            Some(current) if current.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }
}
