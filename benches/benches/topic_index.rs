//! Topic index at scale, through the public API.
//!
//! - `topic_index/publish_match`: a QoS 0 publish that matches one of N subscriptions (1k,
//!   100k, 1M, over up to 10,000 offline sessions), for each filter mix (exact, `+`, `#`,
//!   shared, mixed). Reference in the same group: a bare `HashMap<String, Vec<u32>>` lookup
//!   of the exact topic (the floor for exact matching).
//! - `topic_index/churn_1m`: the cost of a subscribe and of an unsubscribe on the 1M mixed
//!   index, per filter mix, beside a `HashMap` insert and remove of the same filter.
//! - Memory per subscription: live bytes counted by this binary's global allocator while the
//!   brokers above are built, printed to stderr as `topic_index/memory ...` lines.
#![allow(clippy::unwrap_used, missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mqlite::{Broker, ConnectOptions, QoS};
use mqlite_benches::{Mix, broker_with_mix, broker_with_subscriptions};

/// The system allocator, counting live bytes while [`COUNTING`] is on. Allocations and frees
/// are both counted inside the window, so the count is the change of live heap bytes
/// (requested sizes: malloc's own headers and slack are not included).
struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

fn count(delta: isize) {
    if COUNTING.load(Ordering::Relaxed) {
        LIVE.fetch_add(delta, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `System`; only a counter is updated beside.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation goes there).
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as `dealloc`, and the caller upholds `realloc`'s contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Runs `f` and returns its result with the change of live heap bytes it caused. Run only
/// while no other thread allocates (criterion runs benchmarks one at a time).
fn live_bytes_of<T>(f: impl FnOnce() -> T) -> (T, isize) {
    LIVE.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::SeqCst);
    let out = f();
    COUNTING.store(false, Ordering::SeqCst);
    (out, LIVE.load(Ordering::Relaxed))
}

/// The scenario's sessions: 10,000 (fewer for a small index, one subscription each).
fn sessions(total: usize) -> usize {
    10_000.min(total)
}

/// Topics that hit the scenario's filters (a pseudo-random walk, no RNG dependency).
fn topics(n: usize, total: usize) -> Vec<String> {
    let devs = (total / 1000).max(1);
    (0..n)
        .map(|i| {
            let k = i.wrapping_mul(2_654_435_761) % (1000 * devs);
            format!("site/{}/dev/{}/temp", k % 1000, k / 1000)
        })
        .collect()
}

/// Drops `broker` and waits (up to 3 s) until the `bytes` it held are freed: the broker's
/// timer thread may hold it for a moment and free it on its own thread, which would
/// otherwise land in the next measurement.
fn drop_settled(broker: Broker, bytes: isize) {
    let ((), _) = live_bytes_of(|| {
        drop(broker);
        let deadline = Instant::now() + Duration::from_secs(3);
        while LIVE.load(Ordering::Relaxed) > -(bytes / 10 * 9) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// Builds the broker of `mix` at `total` subscriptions and reports its heap bytes per
/// subscription: all-in, and above the same sessions without subscriptions. Returns the
/// broker and its bytes (for [`drop_settled`]).
fn measured_broker(mix: Mix, total: usize) -> (Broker, isize) {
    let clients = sessions(total);
    let (bare, sessions_only) = live_bytes_of(|| broker_with_mix(mix, 0, clients));
    drop_settled(bare, sessions_only);
    let (broker, all_in) = live_bytes_of(|| broker_with_mix(mix, total, clients));
    eprintln!(
        "topic_index/memory mix={} subscriptions={total} sessions={clients}: \
         {all_in} B live, {:.1} B/subscription all-in, {:.1} B/subscription above \
         {sessions_only} B of bare sessions",
        mix.name(),
        all_in as f64 / total as f64,
        (all_in - sessions_only) as f64 / total as f64,
    );
    (broker, all_in)
}

fn publish_match(c: &mut Criterion) {
    let mut group = c.benchmark_group("topic_index/publish_match");
    group.throughput(Throughput::Elements(1));
    for total in [1_000usize, 100_000, 1_000_000] {
        let topics = topics(4096, total);
        let mut i = 0;
        for mix in Mix::ALL {
            let (broker, bytes) = measured_broker(mix, total);
            let publisher = broker.connect(ConnectOptions::new("publisher")).unwrap();
            group.bench_function(
                BenchmarkId::new(format!("mqlite_{}", mix.name()), total),
                |b| {
                    b.iter(|| {
                        i = (i + 1) % topics.len();
                        publisher
                            .publish(&topics[i], "x", QoS::AtMostOnce, false)
                            .unwrap();
                    })
                },
            );
            publisher.disconnect();
            drop_settled(broker, bytes);
        }
        let mut map: HashMap<String, Vec<u32>> = HashMap::new();
        for (n, f) in Mix::Exact.filters(total).into_iter().enumerate() {
            map.entry(f).or_default().push(n as u32);
        }
        group.bench_function(BenchmarkId::new("hashmap_lookup", total), |b| {
            b.iter(|| {
                i = (i + 1) % topics.len();
                black_box(map.get(topics[i].as_str()).map(Vec::len))
            })
        });
    }
    group.finish();
}

/// Times `op` over `iters` fresh filters of `mix` (`setup` and `undo` run untimed).
fn churn(
    mix: Mix,
    next: &mut usize,
    iters: u64,
    mut setup: impl FnMut(&str),
    mut op: impl FnMut(&str),
    mut undo: impl FnMut(&str),
) -> Duration {
    let filters: Vec<String> = (0..iters as usize)
        .map(|k| mix.filter(*next + k, &format!("new{}", *next + k)))
        .collect();
    *next += filters.len();
    filters.iter().for_each(|f| setup(f));
    let start = Instant::now();
    filters.iter().for_each(|f| op(f));
    let took = start.elapsed();
    filters.iter().for_each(|f| undo(f));
    took
}

fn subscribe_unsubscribe(c: &mut Criterion) {
    let mut group = c.benchmark_group("topic_index/churn_1m");
    group.throughput(Throughput::Elements(1));
    let broker = broker_with_subscriptions(1_000_000, 10_000);
    let client = broker.connect(ConnectOptions::new("churn")).unwrap();
    let sub = |f: &str| {
        client.subscribe(f, QoS::AtMostOnce).unwrap();
    };
    let unsub = |f: &str| {
        client.unsubscribe(f).unwrap();
    };
    let mut next = 0usize;
    for mix in [Mix::Exact, Mix::Plus, Mix::Hash, Mix::Shared] {
        group.bench_function(BenchmarkId::new("mqlite_subscribe", mix.name()), |b| {
            b.iter_custom(|iters| churn(mix, &mut next, iters, |_| {}, sub, unsub))
        });
        group.bench_function(BenchmarkId::new("mqlite_unsubscribe", mix.name()), |b| {
            b.iter_custom(|iters| churn(mix, &mut next, iters, sub, unsub, |_| {}))
        });
    }
    // The reference: the same filters into and out of a 1M-entry map.
    let map = std::cell::RefCell::new(HashMap::<String, Vec<u32>>::new());
    for (n, f) in Mix::Mixed.filters(1_000_000).into_iter().enumerate() {
        map.borrow_mut().entry(f).or_default().push(n as u32);
    }
    let insert = |f: &str| {
        map.borrow_mut().entry(f.to_owned()).or_default().push(0);
    };
    let remove = |f: &str| {
        black_box(map.borrow_mut().remove(f));
    };
    group.bench_function(BenchmarkId::new("hashmap_insert", "exact"), |b| {
        b.iter_custom(|iters| churn(Mix::Exact, &mut next, iters, |_| {}, insert, remove))
    });
    group.bench_function(BenchmarkId::new("hashmap_remove", "exact"), |b| {
        b.iter_custom(|iters| churn(Mix::Exact, &mut next, iters, insert, remove, |_| {}))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30);
    targets = publish_match, subscribe_unsubscribe
}
criterion_main!(benches);
