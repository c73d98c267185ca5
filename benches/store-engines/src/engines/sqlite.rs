//! SQLite through rusqlite (bundled), WAL mode, one transaction per batch.

use std::path::Path;

use anyhow::{Result, ensure};
use rusqlite::{Connection, params};

use super::{Op, Recovered, Store, Table};

const FILE: &str = "store.sqlite";

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS queue(
        seq INTEGER PRIMARY KEY, topic BLOB NOT NULL, payload BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS sessions(key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS retained(key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
";

/// `PRAGMA synchronous` in WAL mode.
#[derive(Clone, Copy, Debug)]
pub enum Sync {
    /// The WAL is synced at every commit: durable on return.
    Full,
    /// The WAL is synced only at checkpoints: a power loss can roll back recent commits.
    Normal,
}

pub struct Sqlite {
    conn: Connection,
}

fn connect(dir: &Path) -> Result<Connection> {
    let conn = Connection::open(dir.join(FILE))?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
    ensure!(mode == "wal", "journal_mode is {mode}, not wal");
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

impl Sqlite {
    pub fn open(dir: &Path, sync: Sync) -> Result<Self> {
        let conn = connect(dir)?;
        conn.execute_batch(match sync {
            Sync::Full => "PRAGMA synchronous=FULL",
            Sync::Normal => "PRAGMA synchronous=NORMAL",
        })?;
        Ok(Sqlite { conn })
    }
}

fn table_name(table: Table) -> &'static str {
    match table {
        Table::Session => "sessions",
        Table::Retained => "retained",
    }
}

impl Store for Sqlite {
    fn commit(&mut self, ops: &[Op]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for op in ops {
            match op {
                Op::Append { seq, topic, payload } => {
                    tx.prepare_cached("INSERT INTO queue(seq, topic, payload) VALUES (?1, ?2, ?3)")?
                        .execute(params![*seq as i64, topic, payload])?;
                }
                Op::Ack { seq } => {
                    tx.prepare_cached("DELETE FROM queue WHERE seq = ?1")?
                        .execute([*seq as i64])?;
                }
                Op::Put { table, key, value } => {
                    let sql = match table {
                        Table::Session => "INSERT OR REPLACE INTO sessions(key, value) VALUES (?1, ?2)",
                        Table::Retained => "INSERT OR REPLACE INTO retained(key, value) VALUES (?1, ?2)",
                    };
                    tx.prepare_cached(sql)?.execute(params![key, value])?;
                }
                Op::Del { table, key } => {
                    let sql = match table {
                        Table::Session => "DELETE FROM sessions WHERE key = ?1",
                        Table::Retained => "DELETE FROM retained WHERE key = ?1",
                    };
                    tx.prepare_cached(sql)?.execute([key])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn reclaim(&mut self) -> Result<Option<&'static str>> {
        // Freed pages are reused by later inserts but the main file never shrinks without
        // VACUUM; what a checkpoint can give back is the WAL.
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(Some("wal_checkpoint(TRUNCATE)"))
    }
}

pub fn recover(dir: &Path) -> Result<Recovered> {
    let conn = connect(dir)?;
    let mut found = Recovered::default();
    {
        let mut stmt = conn.prepare("SELECT seq, topic, payload FROM queue ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let _seq: i64 = row.get(0)?;
            let _topic = row.get_ref(1)?.as_blob()?;
            found.queued += 1;
            found.queued_payload_bytes += row.get_ref(2)?.as_blob()?.len() as u64;
        }
    }
    for table in [Table::Session, Table::Retained] {
        let mut stmt = conn.prepare(&format!("SELECT key, value FROM {}", table_name(table)))?;
        let mut rows = stmt.query([])?;
        let mut n = 0;
        while let Some(row) = rows.next()? {
            let _key = row.get_ref(0)?.as_blob()?;
            let _value = row.get_ref(1)?.as_blob()?;
            n += 1;
        }
        match table {
            Table::Session => found.sessions = n,
            Table::Retained => found.retained = n,
        }
    }
    Ok(found)
}
