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
