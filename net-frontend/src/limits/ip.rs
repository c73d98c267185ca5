//! The per-address table of one listener: connections open from each source address and
//! its connection-rate bucket. Memory stays bounded: an address with no open connection is
//! forgotten as soon as it holds no information (at once without a rate limit; once its
//! bucket has refilled with one), and the table never holds more than `cap` addresses. At
//! the cap, the idle address seen longest ago among a sample is evicted; when every
//! address has connections open, a new address is refused.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Instant;

use super::{ListenerLimits, Rate, TokenBucket};

/// Idle entries looked at to pick one to evict when the table is full.
const EVICTION_SAMPLE: usize = 32;

/// The key of a source address: an IPv4 address, or an IPv6 /64 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct IpKey(IpAddr);

impl IpKey {
    /// IPv4 (and IPv4-mapped IPv6) addresses as they are; IPv6 addresses by their /64
    /// network, the block a subscriber or host usually holds.
    pub(crate) fn of(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let network = u128::from(v6) & !(u128::from(u64::MAX));
                    Self(IpAddr::V6(Ipv6Addr::from(network)))
                }
            },
        }
    }
}

/// Why the table refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpRefusal {
    /// The address opened connections faster than `connect_rate_per_ip`.
    Rate,
    /// The address has `max_connections_per_ip` open.
    TooMany,
    /// The table holds `cap` addresses, each with connections open.
    Full,
}

#[derive(Debug)]
struct Entry {
    open: usize,
    bucket: Option<TokenBucket>,
    last_seen: Instant,
}

impl Entry {
    /// Whether forgetting it loses nothing: no connection open, and its bucket (if any)
    /// full again.
    fn is_forgettable(&mut self, now: Instant) -> bool {
        self.open == 0 && self.bucket.as_mut().is_none_or(|b| b.is_full(now))
    }
}

/// Open connections and connection rate per source address, for one listener.
#[derive(Debug)]
pub(crate) struct IpTable {
    entries: HashMap<IpKey, Entry>,
    cap: usize,
    max_per_ip: Option<usize>,
    rate: Option<Rate>,
}

impl IpTable {
    /// The table for `limits`, holding at most `cap` addresses; `None` if `limits` has no
    /// per-address limit.
    pub(crate) fn new(limits: &ListenerLimits, cap: usize) -> Option<Self> {
        limits.per_ip().then(|| Self {
            entries: HashMap::new(),
            cap: cap.max(1),
            max_per_ip: limits.max_connections_per_ip,
            rate: limits.connect_rate_per_ip,
        })
    }

    /// Counts a connection from `key` accepted at `now`, or refuses it. A refused
    /// connection still takes a token from the address's rate (every attempt counts).
    pub(crate) fn admit(&mut self, key: IpKey, now: Instant) -> Result<(), IpRefusal> {
        if !self.entries.contains_key(&key)
            && self.entries.len() >= self.cap
            && !self.evict_one(now)
        {
            return Err(IpRefusal::Full);
        }
        let rate = self.rate;
        let entry = self.entries.entry(key).or_insert_with(|| Entry {
            open: 0,
            bucket: rate.map(|rate| TokenBucket::new(rate, now)),
            last_seen: now,
        });
        entry.last_seen = now;
        if let Some(bucket) = &mut entry.bucket
            && !bucket.try_take(now)
        {
            return Err(IpRefusal::Rate);
        }
        if self.max_per_ip.is_some_and(|max| entry.open >= max) {
            return Err(IpRefusal::TooMany);
        }
        entry.open += 1;
        Ok(())
    }

    /// A connection from `key` closed at `now`.
    pub(crate) fn release(&mut self, key: IpKey, now: Instant) {
        if let Some(entry) = self.entries.get_mut(&key) {
            entry.open = entry.open.saturating_sub(1);
            entry.last_seen = now;
            if entry.is_forgettable(now) {
                self.entries.remove(&key);
            }
        }
    }

    /// Forgets every address that holds no information any more (see the module docs).
    pub(crate) fn sweep(&mut self, now: Instant) {
        self.entries.retain(|_, entry| !entry.is_forgettable(now));
    }

    /// The addresses tracked now.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Makes room for one address: forgets the idle address (no connection open) seen
    /// longest ago among the first [`EVICTION_SAMPLE`] idle ones. `false` if none is idle.
    fn evict_one(&mut self, now: Instant) -> bool {
        let victim = self
            .entries
            .iter_mut()
            .filter(|(_, e)| e.open == 0)
            .take(EVICTION_SAMPLE)
            .map(|(key, e)| (e.is_forgettable(now), e.last_seen, *key))
            // A forgettable entry first, then the oldest.
            .min_by_key(|&(forgettable, seen, _)| (!forgettable, seen))
            .map(|(_, _, key)| key);
        victim.is_some_and(|key| self.entries.remove(&key).is_some())
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::*;

    fn limits(max_per_ip: Option<usize>, rate: Option<Rate>) -> ListenerLimits {
        ListenerLimits {
            max_connections_per_ip: max_per_ip,
            connect_rate_per_ip: rate,
            ..ListenerLimits::default()
        }
    }

    fn v4(last: u32) -> IpKey {
        IpKey::of(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + last)))
    }

    #[test]
    fn ipv6_counts_by_its_64_network_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(IpKey::of(a), IpKey::of(b));
        assert_ne!(IpKey::of(a), IpKey::of(c));
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().unwrap();
        assert_eq!(IpKey::of(mapped), v4(7));
    }

    #[test]
    fn no_per_ip_limit_needs_no_table() {
        assert!(IpTable::new(&ListenerLimits::default(), 10).is_none());
    }

    #[test]
    fn caps_open_connections_per_address() {
        let now = Instant::now();
        let mut table = IpTable::new(&limits(Some(2), None), 100).unwrap();
        assert_eq!(table.admit(v4(1), now), Ok(()));
        assert_eq!(table.admit(v4(1), now), Ok(()));
        assert_eq!(table.admit(v4(1), now), Err(IpRefusal::TooMany));
        assert_eq!(table.admit(v4(2), now), Ok(()));
        table.release(v4(1), now);
        assert_eq!(table.admit(v4(1), now), Ok(()));
        for _ in 0..2 {
            table.release(v4(1), now);
        }
        table.release(v4(2), now);
        assert_eq!(
            table.len(),
            0,
            "idle addresses without a rate are forgotten at once"
        );
    }

    #[test]
    fn limits_the_connection_rate_per_address() {
        let t0 = Instant::now();
        let mut table = IpTable::new(&limits(None, Rate::new(1, 3)), 100).unwrap();
        for _ in 0..3 {
            assert_eq!(table.admit(v4(1), t0), Ok(()));
        }
        assert_eq!(table.admit(v4(1), t0), Err(IpRefusal::Rate));
        assert_eq!(
            table.admit(v4(2), t0),
            Ok(()),
            "other addresses are not affected"
        );
        assert_eq!(table.admit(v4(1), t0 + Duration::from_secs(1)), Ok(()));
    }

    #[test]
    fn idle_entries_are_swept_once_their_bucket_refilled() {
        let t0 = Instant::now();
        let mut table = IpTable::new(&limits(None, Rate::new(10, 10)), 100).unwrap();
        table.admit(v4(1), t0).unwrap();
        table.release(v4(1), t0);
        table.sweep(t0);
        assert_eq!(table.len(), 1, "its rate is still remembered");
        table.sweep(t0 + Duration::from_secs(1));
        assert_eq!(table.len(), 0);
    }

    /// Memory stays bounded whatever the number of addresses: at the cap the idle address
    /// seen longest ago goes; with every address busy, new ones are refused.
    #[test]
    fn the_table_never_exceeds_its_cap() {
        let t0 = Instant::now();
        let mut table = IpTable::new(&limits(Some(5), Rate::new(1, 100)), 64).unwrap();
        for i in 0..10_000 {
            let now = t0 + Duration::from_millis(u64::from(i));
            table.admit(v4(i), now).unwrap();
            table.release(v4(i), now);
            assert!(table.len() <= 64);
        }
        let mut busy = IpTable::new(&limits(Some(5), None), 4).unwrap();
        for i in 0..4 {
            busy.admit(v4(i), t0).unwrap();
        }
        assert_eq!(busy.admit(v4(99), t0), Err(IpRefusal::Full));
        busy.release(v4(0), t0);
        assert_eq!(busy.admit(v4(99), t0), Ok(()));
        assert_eq!(busy.len(), 4);
    }
}
