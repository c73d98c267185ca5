//! mqlite's own engine, store/ (crate mqlite-store), through its public API: a segmented
//! append-only log of opaque records with group commit (`Log::commit`) and `release` of dead
//! records. Queued messages are records released on ack; a keyed record (session, retained) is
//! a record whose previous version is released when it is replaced or cleared. The maps from
//! sequence / key to lsn are the broker's side, kept here in memory.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Result, bail};
use mqlite_store::{Log, LogOptions, Lsn, SyncPolicy};

use super::{Op, Recovered, Store, Table};

const MESSAGE: u8 = 1;
const KEYED: u8 = 2;

pub struct MqliteStore {
    log: Log,
    queue: HashMap<u64, Lsn>,
    keyed: [HashMap<Vec<u8>, Lsn>; 2],
}

fn table_index(table: Table) -> usize {
    match table {
        Table::Session => 0,
        Table::Retained => 1,
    }
}

impl MqliteStore {
    pub fn open(dir: &Path) -> Result<Self> {
        let (log, _recovery) = Log::open(LogOptions::new(dir).sync(SyncPolicy::Commit))?;
        Ok(MqliteStore { log, queue: HashMap::new(), keyed: [HashMap::new(), HashMap::new()] })
    }
}

impl Store for MqliteStore {
    fn commit(&mut self, ops: &[Op]) -> Result<()> {
        let mut last = None;
        let mut record = Vec::new();
        for op in ops {
            match op {
                Op::Append { seq, topic, payload } => {
                    record.clear();
                    record.extend_from_slice(&seq.to_le_bytes());
                    record.extend_from_slice(&(topic.len() as u16).to_le_bytes());
                    record.extend_from_slice(topic);
                    record.extend_from_slice(payload);
                    let lsn = self.log.append(MESSAGE, &record)?;
                    self.queue.insert(*seq, lsn);
                    last = Some(lsn);
                }
                Op::Ack { seq } => {
                    if let Some(lsn) = self.queue.remove(seq) {
                        self.log.release(lsn);
                    }
                }
                Op::Put { table, key, value } => {
                    record.clear();
                    record.push(table_index(*table) as u8);
                    record.extend_from_slice(&(key.len() as u16).to_le_bytes());
                    record.extend_from_slice(key);
                    record.extend_from_slice(value);
                    let lsn = self.log.append(KEYED, &record)?;
                    if let Some(old) = self.keyed[table_index(*table)].insert(key.clone(), lsn) {
                        self.log.release(old);
                    }
                    last = Some(lsn);
                }
                Op::Del { table, key } => {
                    if let Some(old) = self.keyed[table_index(*table)].remove(key) {
                        self.log.release(old);
                    }
                }
            }
        }
        // A release is written ahead of the next append and durable with the next commit.
        if let Some(lsn) = last {
            self.log.commit(lsn)?;
        }
        Ok(())
    }

    fn reclaim(&mut self) -> Result<Option<&'static str>> {
        let moved: HashMap<Lsn, Lsn> = self.log.compact(0.5)?.into_iter().collect();
        for lsn in self.queue.values_mut().chain(self.keyed.iter_mut().flat_map(|m| m.values_mut())) {
            if let Some(&new) = moved.get(lsn) {
                *lsn = new;
            }
        }
        Ok(Some("compact(0.5)"))
    }
}

pub fn recover(dir: &Path) -> Result<Recovered> {
    let (log, recovery) = Log::open(LogOptions::new(dir))?;
    if !recovery.is_clean() {
        bail!("damaged store: {recovery}");
    }
    let mut found = Recovered::default();
    let mut keyed: [HashMap<Vec<u8>, Lsn>; 2] = [HashMap::new(), HashMap::new()];
    for record in &recovery.records {
        match record.kind {
            MESSAGE => {
                let topic_len = u16::from_le_bytes([record.payload[8], record.payload[9]]) as usize;
                found.queued += 1;
                found.queued_payload_bytes += (record.payload.len() - 10 - topic_len) as u64;
            }
            KEYED => {
                let table = usize::from(record.payload[0]);
                let key_len = u16::from_le_bytes([record.payload[1], record.payload[2]]) as usize;
                keyed[table].insert(record.payload[3..3 + key_len].to_vec(), record.lsn);
            }
            other => bail!("unknown record kind {other}"),
        }
    }
    found.sessions = keyed[0].len() as u64;
    found.retained = keyed[1].len() as u64;
    drop(log);
    Ok(found)
}
