//! The retained store: the last retained message of each topic, bounded in count and bytes.

use std::collections::HashMap;
use std::time::Duration;

use super::Engine;
use crate::journal::records::Record;
use crate::sync::ValueArc;
use crate::types::message::Publication;
use crate::types::store::Persisted;
use crate::types::topic::{TopicFilter, TopicName};

/// Retained messages by topic, each with its record in durable mode.
#[derive(Debug, Default)]
pub(crate) struct RetainedStore {
    map: HashMap<TopicName, (Publication, Option<ValueArc<Persisted>>)>,
    bytes: usize,
}

/// The store is at its count or byte bound and the message would add to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StoreFull {
    pub(crate) count: usize,
    pub(crate) bytes: usize,
}

impl RetainedStore {
    /// Stores `publication` as its topic's retained message, or clears that topic if the
    /// payload is empty [MQTT-3.3.1-10], [MQTT-3.3.1-11]. A replacement may not grow the
    /// store past `max_bytes`; a new topic may not pass `max_count`.
    pub(crate) fn set(
        &mut self,
        publication: &Publication,
        max_count: usize,
        max_bytes: usize,
        persist: impl FnOnce() -> Option<ValueArc<Persisted>>,
    ) -> Result<(), StoreFull> {
        let topic = &publication.topic;
        if publication.payload.is_empty() {
            // Dropping the old entry releases its record.
            if let Some((old, _)) = self.map.remove(topic) {
                self.bytes -= old.weight();
            }
            return Ok(());
        }
        let old_weight = self.map.get(topic).map(|(p, _)| p.weight());
        let new_bytes = self.bytes - old_weight.unwrap_or(0) + publication.weight();
        let new_count = self.map.len() + usize::from(old_weight.is_none());
        if new_count > max_count || new_bytes > max_bytes {
            return Err(StoreFull {
                count: self.map.len(),
                bytes: self.bytes,
            });
        }
        self.bytes = new_bytes;
        self.map
            .insert(topic.clone(), (publication.clone(), persist()));
        Ok(())
    }

    /// Puts back a retained message read from the store at start (a later one of the same
    /// topic replaces an earlier one, whose record is then released).
    pub(crate) fn restore(&mut self, publication: Publication, persisted: ValueArc<Persisted>) {
        let weight = publication.weight();
        if let Some((old, _)) = self
            .map
            .insert(publication.topic.clone(), (publication, Some(persisted)))
        {
            self.bytes -= old.weight();
        }
        self.bytes += weight;
    }

    /// The retained messages matching `filter` that have not expired at `now`.
    pub(crate) fn matching(&self, filter: &TopicFilter, now: Duration) -> Vec<Publication> {
        let live = |p: &&Publication| p.expires_at.get().is_none_or(|at| now < at);
        if !filter.has_wildcards() {
            return TopicName::new(filter.filter())
                .ok()
                .and_then(|name| self.map.get(&name))
                .map(|(p, _)| p)
                .filter(live)
                .into_iter()
                .cloned()
                .collect();
        }
        self.map
            .iter()
            .filter(|(topic, (p, _))| filter.matches(topic) && live(&p))
            .map(|(_, (p, _))| p.clone())
            .collect()
    }

    /// Number of retained messages.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Bytes of retained messages.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Engine {
    /// Stores or clears `publication` as its topic's retained message, within the configured
    /// bounds. Lock order: after the router lock.
    pub(crate) fn retain(&self, publication: &Publication) -> Result<(), StoreFull> {
        let c = &self.config;
        // `$SYS` figures are made again by the running broker: not worth a record.
        let persist = || {
            let journal = self
                .journal
                .as_ref()
                .filter(|_| !publication.topic.is_system())?;
            journal
                .persist(&Record::Retained(publication.clone()), 0)
                .ok()
        };
        if publication.payload.is_empty()
            && let Some(journal) = &self.journal
        {
            // A clear releases the record: its PUBACK waits until that is durable.
            journal.note_release();
        }
        self.retained.lock().set(
            publication,
            c.max_retained_messages,
            c.max_retained_bytes,
            persist,
        )
    }

    /// The retained messages matching `filter` that have not expired.
    pub(crate) fn retained_matching(&self, filter: &TopicFilter) -> Vec<Publication> {
        self.retained.lock().matching(filter, self.clock.now())
    }

    /// How many retained messages are stored, and their bytes.
    pub(crate) fn retained_size(&self) -> (usize, usize) {
        let store = self.retained.lock();
        (store.len(), store.bytes())
    }
}
