//! One connection's input budget: how many PUBLISH packets and bytes the worker may read
//! from it now ([`Inbound::budget`]), and when to read it again once a bucket is empty. A
//! budget is exact: the worker reads at most that many bytes and the connection handles at
//! most that many PUBLISH packets, leaving the rest unread, so over any window a client gets
//! at most `burst + rate × window` through.

use std::time::Instant;

use super::{ListenerLimits, TokenBucket};

/// The input rates of one connection.
#[derive(Debug)]
pub(crate) struct Inbound {
    messages: Option<TokenBucket>,
    bytes: Option<TokenBucket>,
}

/// What may be read from a connection now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    /// PUBLISH packets it may handle (`u64::MAX`: no limit).
    pub(crate) publishes: u64,
    /// Bytes that may be read from its socket (`usize::MAX`: no limit).
    pub(crate) bytes: usize,
}

/// Which rate paused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PauseCause {
    /// `inbound_message_rate`.
    Messages,
    /// `inbound_byte_rate`.
    Bytes,
}

/// A connection is not read until `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pause {
    pub(crate) until: Instant,
    pub(crate) cause: PauseCause,
}

impl Inbound {
    /// The budget of a connection accepted at `now` under `limits`; `None` if it has no
    /// input rate.
    pub(crate) fn new(limits: &ListenerLimits, now: Instant) -> Option<Self> {
        let messages = limits
            .inbound_message_rate
            .map(|r| TokenBucket::new(r, now));
        let bytes = limits.inbound_byte_rate.map(|r| TokenBucket::new(r, now));
        (messages.is_some() || bytes.is_some()).then_some(Self { messages, bytes })
    }

    /// What may be read at `now`, or the pause to take if a bucket is empty.
    pub(crate) fn budget(&mut self, now: Instant) -> Result<Budget, Pause> {
        let mut budget = Budget {
            publishes: u64::MAX,
            bytes: usize::MAX,
        };
        if let Some(bucket) = &mut self.messages {
            budget.publishes = bucket.available(now);
            if budget.publishes == 0 {
                let until = bucket.resume_at();
                return Err(Pause {
                    until,
                    cause: PauseCause::Messages,
                });
            }
        }
        if let Some(bucket) = &mut self.bytes {
            budget.bytes = usize::try_from(bucket.available(now)).unwrap_or(usize::MAX);
            if budget.bytes == 0 {
                let until = bucket.resume_at();
                return Err(Pause {
                    until,
                    cause: PauseCause::Bytes,
                });
            }
        }
        Ok(budget)
    }

    /// Takes what a turn used (at most its [`Budget`]); returns the pause to take if that
    /// emptied a bucket.
    pub(crate) fn spend(&mut self, publishes: u64, bytes: usize, now: Instant) -> Option<Pause> {
        if let Some(bucket) = &mut self.messages {
            bucket.take(publishes);
        }
        if let Some(bucket) = &mut self.bytes {
            bucket.take(bytes as u64);
        }
        self.budget(now).err()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::limits::Rate;

    #[test]
    fn no_rate_no_budget() {
        assert!(Inbound::new(&ListenerLimits::default(), Instant::now()).is_none());
    }

    #[test]
    fn the_budget_is_the_tokens_and_an_empty_bucket_pauses() {
        let t0 = Instant::now();
        let limits = ListenerLimits {
            inbound_message_rate: Rate::new(100, 10),
            inbound_byte_rate: Rate::new(1000, 500),
            ..ListenerLimits::default()
        };
        let mut inbound = Inbound::new(&limits, t0).unwrap();
        let budget = inbound.budget(t0).unwrap();
        assert_eq!((budget.publishes, budget.bytes), (10, 500));
        assert_eq!(inbound.spend(4, 100, t0), None);
        let pause = inbound.spend(6, 0, t0).unwrap();
        assert_eq!(pause.cause, PauseCause::Messages);
        assert_eq!(
            pause.until,
            t0 + Duration::from_millis(50),
            "5 messages at 100/s"
        );
        let later = t0 + Duration::from_millis(50);
        assert_eq!(inbound.budget(later).unwrap().publishes, 5);
        let pause = inbound.spend(0, 450, later).unwrap();
        assert_eq!(pause.cause, PauseCause::Bytes);
        assert!(pause.until > later);
    }
}
