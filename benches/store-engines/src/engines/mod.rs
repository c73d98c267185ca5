//! The engines under test, behind one small trait: a batch of operations is applied and made
//! durable (per the engine's sync setting) by one `commit`, which is how mqlite's group commit
//! would drive any of them.

mod log;
#[cfg(feature = "mqlite-store")]
mod mqlite_store;
mod redb;
mod sqlite;

use std::path::Path;

use anyhow::Result;

/// The keyed tables of the workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// Persistent sessions (client id -> encoded session, ~200 bytes).
    Session,
    /// Retained messages (topic -> message).
    Retained,
}

/// One operation of a batch.
#[derive(Clone, Debug)]
pub enum Op {
    /// Queue a message for a session (append).
    Append { seq: u64, topic: Vec<u8>, payload: Vec<u8> },
    /// The message `seq` was acknowledged (delete).
    Ack { seq: u64 },
    /// Set a keyed record (upsert).
    Put { table: Table, key: Vec<u8>, value: Vec<u8> },
    /// Clear a keyed record.
    Del { table: Table, key: Vec<u8> },
}

/// An open store.
pub trait Store {
    /// Applies `ops` as one transaction and returns once it is as durable as the engine's sync
    /// setting makes it (one durable sync per call for the durable engines).
    fn commit(&mut self, ops: &[Op]) -> Result<()>;

    /// The engine's own space reclamation, if it needs one to shrink its files (redb's
    /// `compact`, SQLite's WAL checkpoint). Returns what it did.
    fn reclaim(&mut self) -> Result<Option<&'static str>>;
}

/// What a recovery found: everything is read back (values touched), not just counted.
#[derive(Clone, Copy, Debug, Default)]
pub struct Recovered {
    pub queued: u64,
    pub queued_payload_bytes: u64,
    pub sessions: u64,
    pub retained: u64,
}

/// The engines and settings compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// SQLite, WAL mode, `synchronous=FULL`: the WAL is fsynced at every commit.
    SqliteFull,
    /// SQLite, WAL mode, `synchronous=NORMAL` (Mosquitto 2.1's persist-sqlite): the WAL is
    /// synced only at checkpoints, so commits are not durable against power loss.
    SqliteNormal,
    /// redb, one write transaction per batch with `Durability::Immediate`.
    Redb,
    /// The minimal segmented append-only log of this crate (`engines/log.rs`).
    Log,
    /// mqlite's own engine, store/ (crate mqlite-store), `SyncPolicy::Commit`.
    #[cfg(feature = "mqlite-store")]
    MqliteStore,
}

impl Kind {
    pub const ALL: &[Kind] = &[
        Kind::SqliteFull,
        Kind::SqliteNormal,
        Kind::Redb,
        Kind::Log,
        #[cfg(feature = "mqlite-store")]
        Kind::MqliteStore,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::SqliteFull => "sqlite-wal-full",
            Kind::SqliteNormal => "sqlite-wal-normal",
            Kind::Redb => "redb",
            Kind::Log => "minimal-log",
            #[cfg(feature = "mqlite-store")]
            Kind::MqliteStore => "mqlite-store",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// Opens (creating if needed) a store in `dir`.
    pub fn open(self, dir: &Path) -> Result<Box<dyn Store>> {
        Ok(match self {
            Kind::SqliteFull => Box::new(sqlite::Sqlite::open(dir, sqlite::Sync::Full)?),
            Kind::SqliteNormal => Box::new(sqlite::Sqlite::open(dir, sqlite::Sync::Normal)?),
            Kind::Redb => Box::new(redb::Redb::open(dir)?),
            Kind::Log => Box::new(log::Log::open(dir)?),
            #[cfg(feature = "mqlite-store")]
            Kind::MqliteStore => Box::new(mqlite_store::MqliteStore::open(dir)?),
        })
    }

    /// Opens the store in `dir` and reads everything back, as a broker does at start.
    pub fn recover(self, dir: &Path) -> Result<Recovered> {
        match self {
            Kind::SqliteFull | Kind::SqliteNormal => sqlite::recover(dir),
            Kind::Redb => redb::recover(dir),
            Kind::Log => log::recover(dir),
            #[cfg(feature = "mqlite-store")]
            Kind::MqliteStore => mqlite_store::recover(dir),
        }
    }
}
