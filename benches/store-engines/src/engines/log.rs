//! A minimal segmented append-only log, written only for this comparison (mqlite's real engine is
//! `store/`, crate mqlite-store). What it does is what the measurement needs and no more:
//!
//! - one file per segment, `NNNNNNNNNNNNNNNNNNNN.seg`, a new one begun (between two batches) once
//!   the active one holds 64 MiB;
//! - records `[len: u32 LE][crc32c(body): u32 LE][body]`, body `[kind: u8][fields]`;
//! - a batch is encoded into one buffer, written with one `write`, made durable with one
//!   `fdatasync` (a new segment also syncs the directory);
//! - an ack is a 17-byte tombstone record naming the acknowledged message;
//! - a segment is deleted when all the messages it holds are acknowledged, oldest segments first:
//!   a tombstone always lies after its message, so deleting in order never drops a tombstone
//!   whose message is still on disk (which would resurrect it at recovery);
//! - keyed records (sessions, retained) are appended too and pin their segment: there is no
//!   compaction or snapshot here, so under upserts this log only grows;
//! - recovery reads every segment, checks every CRC, stops a segment at its first torn or corrupt
//!   record, and rebuilds the index of live messages (sequence -> segment, length) and the keyed
//!   tables in memory.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::{Op, Recovered, Store, Table};

const SEGMENT_BYTES: u64 = 64 << 20;
const HEADER: usize = 8;

const APPEND: u8 = 1;
const ACK: u8 = 2;
const PUT: u8 = 3;
const DEL: u8 = 4;

struct Segment {
    id: u64,
    /// Sequence numbers of the first and last message appended to it, if any.
    seqs: Option<(u64, u64)>,
    /// Messages in it not yet acknowledged.
    live: u64,
    /// Holds keyed records: never deleted (no compaction in this minimal log).
    pinned: bool,
}

pub struct Log {
    dir: PathBuf,
    segments: VecDeque<Segment>,
    active: File,
    active_len: u64,
    buf: Vec<u8>,
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

fn table_byte(table: Table) -> u8 {
    match table {
        Table::Session => 0,
        Table::Retained => 1,
    }
}

/// Appends one record whose body is the concatenation of `parts`.
fn encode(buf: &mut Vec<u8>, parts: &[&[u8]]) {
    let start = buf.len();
    buf.extend_from_slice(&[0; HEADER]);
    for part in parts {
        buf.extend_from_slice(part);
    }
    let body = &buf[start + HEADER..];
    let len = body.len() as u32;
    let crc = crc32c::crc32c(body);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn encode_op(buf: &mut Vec<u8>, op: &Op) {
    match op {
        Op::Append { seq, topic, payload } => encode(
            buf,
            &[&[APPEND], &seq.to_le_bytes(), &(topic.len() as u16).to_le_bytes(), topic, payload],
        ),
        Op::Ack { seq } => encode(buf, &[&[ACK], &seq.to_le_bytes()]),
        Op::Put { table, key, value } => encode(
            buf,
            &[&[PUT, table_byte(*table)], &(key.len() as u16).to_le_bytes(), key, value],
        ),
        Op::Del { table, key } => encode(
            buf,
            &[&[DEL, table_byte(*table)], &(key.len() as u16).to_le_bytes(), key],
        ),
    }
}

impl Log {
    pub fn open(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir)?;
        // Rebuild the segment table from what is on disk, then write into a fresh segment.
        let scan = Scan::run(dir)?;
        let next_id = scan.segments.last().map_or(0, |s| s.id + 1);
        let mut segments: VecDeque<Segment> = scan.segments.into();
        let active = Self::create_segment(dir, next_id)?;
        segments.push_back(Segment { id: next_id, seqs: None, live: 0, pinned: false });
        Ok(Log { dir: dir.to_owned(), segments, active, active_len: 0, buf: Vec::new() })
    }

    fn create_segment(dir: &Path, id: u64) -> Result<File> {
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(segment_path(dir, id))
            .with_context(|| format!("creating segment {id}"))?;
        sync_dir(dir)?;
        Ok(file)
    }

    fn roll(&mut self) -> Result<()> {
        let id = self.segments.back().map_or(0, |s| s.id + 1);
        self.active = Self::create_segment(&self.dir, id)?;
        self.active_len = 0;
        self.segments.push_back(Segment { id, seqs: None, live: 0, pinned: false });
        Ok(())
    }

    fn acknowledge(&mut self, seq: u64) {
        // Acks land near the front (FIFO), so a scan from the oldest segment is short.
        if let Some(segment) = self
            .segments
            .iter_mut()
            .find(|s| s.seqs.is_some_and(|(first, last)| first <= seq && seq <= last))
        {
            segment.live = segment.live.saturating_sub(1);
        }
    }
}

impl Store for Log {
    fn commit(&mut self, ops: &[Op]) -> Result<()> {
        self.buf.clear();
        for op in ops {
            encode_op(&mut self.buf, op);
        }
        if self.active_len > 0 && self.active_len + self.buf.len() as u64 > SEGMENT_BYTES {
            self.roll()?;
        }
        let active = self.segments.back_mut().context("no active segment")?;
        for op in ops {
            match op {
                Op::Append { seq, .. } => {
                    active.seqs = Some(active.seqs.map_or((*seq, *seq), |(first, _)| (first, *seq)));
                    active.live += 1;
                }
                Op::Put { .. } | Op::Del { .. } => active.pinned = true,
                Op::Ack { .. } => {}
            }
        }
        self.active.write_all(&self.buf)?;
        self.active.sync_data()?;
        self.active_len += self.buf.len() as u64;
        // The tombstones are durable: the messages they name are dead.
        for op in ops {
            if let Op::Ack { seq } = op {
                self.acknowledge(*seq);
            }
        }
        while self.segments.len() > 1 && self.segments[0].live == 0 && !self.segments[0].pinned {
            let dead = self.segments.pop_front().context("no segment")?;
            fs::remove_file(segment_path(&self.dir, dead.id))?;
        }
        Ok(())
    }

    fn reclaim(&mut self) -> Result<Option<&'static str>> {
        // Reclamation is continuous (segment deletion in `commit`).
        Ok(None)
    }
}

/// The result of reading a log directory.
struct Scan {
    segments: Vec<Segment>,
    /// Live messages: sequence -> (index in `segments`, payload length).
    queue: BTreeMap<u64, (u32, u32)>,
    keyed: [HashMap<Vec<u8>, Vec<u8>>; 2],
    /// Segments cut short by a torn or corrupt record.
    damaged: u64,
}

fn take<'a>(body: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
    if body.len() < n {
        bail!("record too short");
    }
    let (head, tail) = body.split_at(n);
    *body = tail;
    Ok(head)
}

fn take_u64(body: &mut &[u8]) -> Result<u64> {
    Ok(u64::from_le_bytes(take(body, 8)?.try_into()?))
}

fn take_u16(body: &mut &[u8]) -> Result<u16> {
    Ok(u16::from_le_bytes(take(body, 2)?.try_into()?))
}

impl Scan {
    fn run(dir: &Path) -> Result<Scan> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(id) = name.strip_suffix(".seg").and_then(|s| s.parse::<u64>().ok()) {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        let mut scan = Scan {
            segments: Vec::with_capacity(ids.len()),
            queue: BTreeMap::new(),
            keyed: [HashMap::new(), HashMap::new()],
            damaged: 0,
        };
        for id in ids {
            let data = fs::read(segment_path(dir, id))?;
            scan.segments.push(Segment { id, seqs: None, live: 0, pinned: false });
            let index = scan.segments.len() - 1;
            let mut pos = 0;
            while pos < data.len() {
                let Some(header) = data.get(pos..pos + HEADER) else { break };
                let len = u32::from_le_bytes(header[..4].try_into()?) as usize;
                let crc = u32::from_le_bytes(header[4..].try_into()?);
                let Some(body) = data.get(pos + HEADER..pos + HEADER + len) else { break };
                if crc32c::crc32c(body) != crc || scan.apply(index, body).is_err() {
                    break;
                }
                pos += HEADER + len;
            }
            if pos < data.len() {
                scan.damaged += 1;
            }
        }
        Ok(scan)
    }

    fn apply(&mut self, index: usize, mut body: &[u8]) -> Result<()> {
        let body = &mut body;
        match take(body, 1)?[0] {
            APPEND => {
                let seq = take_u64(body)?;
                let topic_len = take_u16(body)? as usize;
                let _topic = take(body, topic_len)?;
                let payload_len = body.len() as u32;
                self.queue.insert(seq, (index as u32, payload_len));
                let segment = &mut self.segments[index];
                segment.seqs = Some(segment.seqs.map_or((seq, seq), |(first, _)| (first, seq)));
                segment.live += 1;
            }
            ACK => {
                let seq = take_u64(body)?;
                if let Some((at, _)) = self.queue.remove(&seq) {
                    self.segments[at as usize].live -= 1;
                }
            }
            kind @ (PUT | DEL) => {
                let table = take(body, 1)?[0] as usize;
                let key_len = take_u16(body)? as usize;
                let key = take(body, key_len)?.to_vec();
                let map = self.keyed.get_mut(table).context("bad table")?;
                if kind == PUT {
                    map.insert(key, body.to_vec());
                } else {
                    map.remove(&key);
                }
                self.segments[index].pinned = true;
            }
            other => bail!("unknown record kind {other}"),
        }
        Ok(())
    }
}

pub fn recover(dir: &Path) -> Result<Recovered> {
    let scan = Scan::run(dir)?;
    if scan.damaged > 0 {
        bail!("{} damaged segments", scan.damaged);
    }
    Ok(Recovered {
        queued: scan.queue.len() as u64,
        queued_payload_bytes: scan.queue.values().map(|&(_, len)| u64::from(len)).sum(),
        sessions: scan.keyed[0].len() as u64,
        retained: scan.keyed[1].len() as u64,
    })
}
