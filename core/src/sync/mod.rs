//! The only door to threads-and-memory primitives in core.
//!
//! Normal builds map to `parking_lot`, `std` atomics and `crossbeam-channel`; `cfg(loom)` builds
//! map to loom's types and to [`loom_channel`], a small channel on loom's primitives with the same
//! names and signatures as the crossbeam subset we use. Nothing outside this module names those
//! crates' sync types (`core/clippy.toml` enforces it).
//!
//! Not here: any protocol logic. Code that uses these types documents its own orderings.
//!
//! # Lock order
//!
//! A thread that holds more than one lock takes them in this order, and never the reverse:
//!
//! 1. `Broker::state` (the router `RwLock`: topic index, session table, client ids)
//! 2. `Retained::map` (the retained store)
//! 3. `Session::inner` (one session's in-flight window and state; at most one at a time)
//! 4. `Session::wake_slot` (the attached consumer's waker)
//! 5. `Connection::route_cache` (a publisher's memo of its last route; only ever `try_lock`ed)
//!
//! Taken alone, never with another lock held: an in-process client's task slot
//! (`api/client/doorbell.rs`, the waker of an async receive).
//!
//! Taken last, after any of the above, and nothing taken while it is held: a queue's
//! `room_waiters` (publishers waiting for room, `session/queue.rs`; a session that ends
//! takes them under its own lock, to wake them once every lock is released).
//!
//! No lock is held while blocking on a channel, calling an embedder hook ([`crate::Hooks`]) or
//! waking a consumer ([`crate::wire::Notify`]); those are collected and run after the locks are released.
#![allow(clippy::disallowed_types)]

#[cfg(not(loom))]
mod imp {
    pub(crate) use std::sync::Arc;
    pub(crate) use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    pub(crate) use parking_lot::MutexGuard;

    /// Channels: crossbeam's, re-exported.
    pub(crate) mod channel {
        pub(crate) use crossbeam_channel::{
            Receiver, RecvTimeoutError, Sender, bounded, unbounded,
        };
    }

    /// A mutual-exclusion lock (parking_lot's).
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(parking_lot::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> parking_lot::MutexGuard<'_, T> {
            self.0.lock()
        }
        pub(crate) fn try_lock(&self) -> Option<parking_lot::MutexGuard<'_, T>> {
            self.0.try_lock()
        }
    }

    /// A reader-writer lock (parking_lot's).
    #[derive(Debug, Default)]
    pub(crate) struct RwLock<T>(parking_lot::RwLock<T>);

    impl<T> RwLock<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(parking_lot::RwLock::new(value))
        }
        pub(crate) fn read(&self) -> parking_lot::RwLockReadGuard<'_, T> {
            self.0.read()
        }
        pub(crate) fn write(&self) -> parking_lot::RwLockWriteGuard<'_, T> {
            self.0.write()
        }
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::sync::Arc;
    pub(crate) use loom::sync::MutexGuard;
    pub(crate) use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    /// Channels: our own, on loom's primitives, with crossbeam's names.
    pub(crate) mod channel {
        pub(crate) use crate::sync::loom_channel::{
            Receiver, RecvTimeoutError, Sender, bounded, unbounded,
        };
    }

    /// A mutual-exclusion lock (loom's).
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
            // Poison means another thread already panicked, and the model has failed anyway.
            self.0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }
        pub(crate) fn try_lock(&self) -> Option<loom::sync::MutexGuard<'_, T>> {
            self.0.try_lock().ok()
        }
    }

    /// A reader-writer lock (loom's).
    #[derive(Debug)]
    pub(crate) struct RwLock<T>(loom::sync::RwLock<T>);

    impl<T> RwLock<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::RwLock::new(value))
        }
        pub(crate) fn read(&self) -> loom::sync::RwLockReadGuard<'_, T> {
            self.0
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }
        pub(crate) fn write(&self) -> loom::sync::RwLockWriteGuard<'_, T> {
            self.0
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }
    }
}

#[cfg(loom)]
mod loom_channel;

pub(crate) use imp::*;

/// Lets other threads run (loom's scheduler under `cfg(loom)`).
#[cfg(loom)]
pub(crate) use loom::thread::yield_now;
/// Lets other threads run (loom's scheduler under `cfg(loom)`).
#[cfg(not(loom))]
pub(crate) use std::thread::yield_now;

/// `Arc` for immutable values (topic strings, publications, hooks, wakers): their reference
/// counts take part in no protocol that loom checks, and `dyn` coercion needs the std type.
pub(crate) use std::sync::Arc as ValueArc;
/// The weak counterpart of [`ValueArc`].
pub(crate) use std::sync::Weak as ValueWeak;
