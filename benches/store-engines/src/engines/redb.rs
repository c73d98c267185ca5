//! redb: one write transaction per batch with `Durability::Immediate`.

use std::path::Path;

use anyhow::Result;
use redb::{
    CompactionMode, Database, Durability, ReadableDatabase, ReadableTable, TableDefinition,
};

use super::{Op, Recovered, Store, Table};

const FILE: &str = "store.redb";

const QUEUE: TableDefinition<u64, (&[u8], &[u8])> = TableDefinition::new("queue");
const SESSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sessions");
const RETAINED: TableDefinition<&[u8], &[u8]> = TableDefinition::new("retained");

pub struct Redb {
    db: Database,
}

impl Redb {
    pub fn open(dir: &Path) -> Result<Self> {
        let db = Database::create(dir.join(FILE))?;
        let tx = db.begin_write()?;
        {
            tx.open_table(QUEUE)?;
            tx.open_table(SESSIONS)?;
            tx.open_table(RETAINED)?;
        }
        tx.commit()?;
        Ok(Redb { db })
    }
}

impl Store for Redb {
    fn commit(&mut self, ops: &[Op]) -> Result<()> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::Immediate)?;
        {
            let mut queue = tx.open_table(QUEUE)?;
            let mut sessions = tx.open_table(SESSIONS)?;
            let mut retained = tx.open_table(RETAINED)?;
            for op in ops {
                match op {
                    Op::Append { seq, topic, payload } => {
                        queue.insert(*seq, (topic.as_slice(), payload.as_slice()))?;
                    }
                    Op::Ack { seq } => {
                        queue.remove(*seq)?;
                    }
                    Op::Put { table, key, value } => {
                        let table = match table {
                            Table::Session => &mut sessions,
                            Table::Retained => &mut retained,
                        };
                        table.insert(key.as_slice(), value.as_slice())?;
                    }
                    Op::Del { table, key } => {
                        let table = match table {
                            Table::Session => &mut sessions,
                            Table::Retained => &mut retained,
                        };
                        table.remove(key.as_slice())?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn reclaim(&mut self) -> Result<Option<&'static str>> {
        // The file shrinks only by compaction, which needs exclusive use of the database.
        let mut rounds = 0;
        while self.db.compact(CompactionMode::Balanced)? && rounds < 16 {
            rounds += 1;
        }
        Ok(Some("compact(Balanced)"))
    }
}

pub fn recover(dir: &Path) -> Result<Recovered> {
    let db = Database::open(dir.join(FILE))?;
    let tx = db.begin_read()?;
    let mut found = Recovered::default();
    for item in tx.open_table(QUEUE)?.iter()? {
        let (seq, value) = item?;
        let _seq = seq.value();
        let (_topic, payload) = value.value();
        found.queued += 1;
        found.queued_payload_bytes += payload.len() as u64;
    }
    for (def, count) in [(SESSIONS, &mut found.sessions), (RETAINED, &mut found.retained)] {
        for item in tx.open_table(def)?.iter()? {
            let (key, value) = item?;
            let (_key, _value) = (key.value(), value.value());
            *count += 1;
        }
    }
    Ok(found)
}
