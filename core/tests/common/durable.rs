//! Fixtures of the durable-mode tests: a broker over a store directory, and what `kill -9`
//! would leave of that directory.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mqlite::{Broker, Config, ManualClock};
use mqlite_store::{Persistence, SyncPolicy};

/// A durable broker over `dir` (sync `policy`, `config`) with a manual clock at `at` (the
/// time since the first start: a restart passes the downtime in it, as the Unix time of
/// manual clocks agrees).
pub(crate) fn durable_broker(
    dir: &Path,
    policy: SyncPolicy,
    config: Config,
    at: Duration,
) -> (Broker, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    clock.advance(at);
    let store = Persistence::open(dir, policy).unwrap();
    let broker = Broker::builder()
        .config(config)
        .clock(clock.clone())
        .store(store)
        .build();
    (broker, clock)
}

/// What `kill -9` would leave of the store in `dir` now: every append reached the kernel
/// when it returned, so a copy of the files is exactly the state after a crash (nothing
/// the running broker does later, such as releases at exit, is in it).
pub(crate) fn crash_copy(dir: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir, copy.path());
    copy
}

/// Copies directory `from` into `to` (created), recursively.
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}
