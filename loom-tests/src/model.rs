//! Running one loom model with its preemption bound, and reporting what it cost.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Explores `model` with loom, at most `bound` preemptions per execution, and prints (to
/// stderr, shown with `--nocapture`) the number of interleavings explored and the time taken.
///
/// `LOOM_MAX_PREEMPTIONS` in the environment overrides `bound`, for a deeper run by hand;
/// CI leaves it unset, so the bound in the model's code is the one that runs.
///
/// # Panics
///
/// When an interleaving breaks one of the model's assertions, or loom finds a deadlock, a
/// leak or an unbounded loop.
pub fn check(name: &str, bound: usize, model: impl Fn() + Send + Sync + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(bound);
    }
    let bound = builder.preemption_bound;
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let start = Instant::now();
    builder.check(move || {
        counted.fetch_add(1, Ordering::Relaxed);
        model();
    });
    eprintln!(
        "loom model {name}: preemption bound {bound:?}, {} interleavings, {:.2?}",
        runs.load(Ordering::Relaxed),
        start.elapsed()
    );
}

/// The waker of [`block_on`]: raises a flag and signals the waiting thread.
#[derive(Default)]
struct Signal {
    woken: loom::sync::Mutex<bool>,
    cv: loom::sync::Condvar,
}

impl std::task::Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        *self.woken.lock().expect("not poisoned") = true;
        self.cv.notify_one();
    }
}

/// A minimal executor for models: polls `future`, and while it is `Pending` sleeps until
/// its waker is called. Loom's condvar sleeps for real, so a wake-up that never comes is a
/// deadlock, which loom reports. (`loom::future::block_on` would need loom's `futures`
/// feature to be used the same way; this one is a loom `Mutex<bool>` + `Condvar`.)
///
/// # Panics
///
/// If a thread panicked holding the flag's lock (the model has failed anyway).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let signal = Arc::new(Signal::default());
    let waker = std::task::Waker::from(signal.clone());
    let mut cx = std::task::Context::from_waker(&waker);
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        let mut woken = signal.woken.lock().expect("not poisoned");
        while !*woken {
            woken = signal.cv.wait(woken).expect("not poisoned");
        }
        *woken = false;
    }
}
