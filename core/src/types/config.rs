//! Broker limits and policies, with defaults that suit a small device.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// What a session does when a delivery finds its queue full (`max_queued_messages` or
/// `max_queued_bytes`). QoS 0 deliveries are always the first to go: a QoS 0 delivery that
/// finds the queue full is dropped whatever the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum OverflowPolicy {
    /// Drop the new delivery (Mosquitto's behaviour). The default.
    #[default]
    DropNewest,
    /// Drop the oldest queued delivery to make room for the new one.
    DropOldest,
    /// End the slow session's connection ([`crate::SessionError::SlowConsumer`]); its will is
    /// published. The delivery is dropped.
    Disconnect,
}

/// How a shared subscription picks the member that gets a message (MQTT 5.0 §4.8.2). Members
/// that are offline or whose queue is full are skipped whatever the strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SharedStrategy {
    /// Each member in turn. The default.
    #[default]
    RoundRobin,
    /// A pseudo-random member per message.
    Random,
    /// The longest-standing member while it can take messages; the next one otherwise.
    Sticky,
}

impl OverflowPolicy {
    /// Every policy, in the order the documentation lists them.
    const ALL: [Self; 3] = [Self::DropNewest, Self::DropOldest, Self::Disconnect];

    /// The configuration name, the one [`fmt::Display`] writes and [`FromStr`] reads.
    const fn name(self) -> &'static str {
        match self {
            Self::DropNewest => "drop_newest",
            Self::DropOldest => "drop_oldest",
            Self::Disconnect => "disconnect",
        }
    }
}

/// Writes the policy's configuration name: `drop_newest`, `drop_oldest` or `disconnect`.
impl fmt::Display for OverflowPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Reads a policy from its configuration name, the one [`fmt::Display`] writes
/// (case-sensitive).
///
/// ```
/// use mqlite::OverflowPolicy;
///
/// let policy: OverflowPolicy = "drop_oldest".parse()?;
/// assert_eq!(policy, OverflowPolicy::DropOldest);
/// assert_eq!(policy.to_string(), "drop_oldest");
/// let err = "drop_all".parse::<OverflowPolicy>().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "overflow policy `drop_all`: expected drop_newest, drop_oldest or disconnect"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl FromStr for OverflowPolicy {
    type Err = ParseNameError;

    fn from_str(name: &str) -> Result<Self, ParseNameError> {
        parse_name("overflow policy", name, Self::ALL, Self::name)
    }
}

impl SharedStrategy {
    /// Every strategy, in the order the documentation lists them.
    const ALL: [Self; 3] = [Self::RoundRobin, Self::Random, Self::Sticky];

    /// The configuration name, the one [`fmt::Display`] writes and [`FromStr`] reads.
    const fn name(self) -> &'static str {
        match self {
            Self::RoundRobin => "round_robin",
            Self::Random => "random",
            Self::Sticky => "sticky",
        }
    }
}

/// Writes the strategy's configuration name: `round_robin`, `random` or `sticky`.
impl fmt::Display for SharedStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Reads a strategy from its configuration name, the one [`fmt::Display`] writes
/// (case-sensitive).
///
/// ```
/// use mqlite::SharedStrategy;
///
/// assert_eq!("sticky".parse::<SharedStrategy>()?, SharedStrategy::Sticky);
/// assert_eq!(SharedStrategy::RoundRobin.to_string(), "round_robin");
/// let err = "Sticky".parse::<SharedStrategy>().unwrap_err();
/// assert_eq!(err.expected(), ["round_robin", "random", "sticky"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl FromStr for SharedStrategy {
    type Err = ParseNameError;

    fn from_str(name: &str) -> Result<Self, ParseNameError> {
        parse_name("shared subscription strategy", name, Self::ALL, Self::name)
    }
}

/// A name that is none of those an [`OverflowPolicy`] or a [`SharedStrategy`] is read from:
/// the error of their [`FromStr`] implementations. Its message lists the names accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} `{name}`: expected {}", ExpectedNames(.expected))]
pub struct ParseNameError {
    /// What was being read, e.g. `overflow policy`.
    what: &'static str,
    name: String,
    expected: Vec<&'static str>,
}

impl ParseNameError {
    /// The name that was given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The names accepted, in the order the documentation lists them.
    pub fn expected(&self) -> &[&'static str] {
        &self.expected
    }
}

/// Writes names as `a, b or c`.
struct ExpectedNames<'a>(&'a [&'static str]);

impl fmt::Display for ExpectedNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.0.len().saturating_sub(1);
        for (i, name) in self.0.iter().enumerate() {
            let separator = match i {
                0 => "",
                _ if i == last => " or ",
                _ => ", ",
            };
            write!(f, "{separator}{name}")?;
        }
        Ok(())
    }
}

/// The value of `all` whose `name` is `name`.
fn parse_name<T: Copy, const N: usize>(
    what: &'static str,
    name: &str,
    all: [T; N],
    name_of: fn(T) -> &'static str,
) -> Result<T, ParseNameError> {
    all.into_iter()
        .find(|value| name_of(*value) == name)
        .ok_or_else(|| ParseNameError {
            what,
            name: name.to_owned(),
            expected: all.map(name_of).to_vec(),
        })
}

/// Broker-wide limits and policies. Every queue, store and string has a bound here.
///
/// ```
/// let mut config = mqlite::Config::default();
/// config.max_queued_messages = 10_000;
/// let broker = mqlite::Broker::new(config);
/// # drop(broker);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Deliveries a session may hold waiting for its consumer (not counting the in-flight
    /// window). Default 1,000 (Mosquitto: 1,000).
    pub max_queued_messages: usize,
    /// Bytes (payload + topic) a session's queue may hold. Default 8 MiB.
    pub max_queued_bytes: usize,
    /// QoS 1 and 2 deliveries a session may have unacknowledged at once (its receive maximum).
    /// Default 100; at most 65,535.
    pub max_inflight_messages: u16,
    /// What a full queue does. Default [`OverflowPolicy::DropNewest`]; clients can choose their own.
    pub overflow_policy: OverflowPolicy,
    /// Queue QoS 0 messages for offline persistent sessions (Mosquitto's `queue_qos0_messages`).
    /// Default `false`: they are dropped and counted.
    pub queue_qos0_messages: bool,
    /// Largest payload accepted. Default 1 MiB.
    pub max_payload_size: usize,
    /// Longest topic name or filter, in bytes. Default 1,024 (the spec allows 65,535).
    pub max_topic_length: usize,
    /// Most levels in a topic name or filter. Default 32.
    pub max_topic_levels: usize,
    /// Most subscriptions one session may hold. Default 1,000.
    pub max_subscriptions_per_client: usize,
    /// Most retained messages stored. Default 10,000.
    pub max_retained_messages: usize,
    /// Most bytes (payload + topic) of retained messages stored. Default 16 MiB.
    pub max_retained_bytes: usize,
    /// Most sessions connected at once. Default 10,000.
    pub max_clients: usize,
    /// Longest client id, in bytes. Default 256 (the spec allows 65,535).
    pub max_client_id_length: usize,
    /// How shared subscriptions pick a member. Default [`SharedStrategy::RoundRobin`].
    pub shared_subscription_strategy: SharedStrategy,
    /// The longest a session may outlive its connection, whatever the client asks: caps
    /// MQTT 5 session expiry intervals and gives MQTT 3.1.1 persistent sessions (which never
    /// expire otherwise) an end, like Mosquitto's `persistent_client_expiration`. Default
    /// `None`: no cap.
    pub max_session_expiry: Option<Duration>,
    /// How often `$SYS/broker/...` statistics are published; `None` turns them off.
    /// Default 10 s (Mosquitto's `sys_interval`).
    pub sys_interval: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_queued_messages: 1_000,
            max_queued_bytes: 8 << 20,
            max_inflight_messages: 100,
            overflow_policy: OverflowPolicy::DropNewest,
            queue_qos0_messages: false,
            max_payload_size: 1 << 20,
            max_topic_length: 1_024,
            max_topic_levels: 32,
            max_subscriptions_per_client: 1_000,
            max_retained_messages: 10_000,
            max_retained_bytes: 16 << 20,
            max_clients: 10_000,
            max_client_id_length: 256,
            shared_subscription_strategy: SharedStrategy::RoundRobin,
            max_session_expiry: None,
            sys_interval: Some(Duration::from_secs(10)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant reads back from the name it writes, and only from that name.
    #[test]
    fn names_round_trip() {
        for policy in OverflowPolicy::ALL {
            assert_eq!(policy.to_string().parse::<OverflowPolicy>(), Ok(policy));
        }
        for strategy in SharedStrategy::ALL {
            assert_eq!(strategy.to_string().parse::<SharedStrategy>(), Ok(strategy));
        }
        let names: Vec<String> = OverflowPolicy::ALL.iter().map(|p| p.to_string()).collect();
        assert_eq!(names, ["drop_newest", "drop_oldest", "disconnect"]);
        let names: Vec<String> = SharedStrategy::ALL.iter().map(|s| s.to_string()).collect();
        assert_eq!(names, ["round_robin", "random", "sticky"]);
    }

    /// The defaults are the first names listed.
    #[test]
    fn defaults_are_listed_first() {
        assert_eq!(OverflowPolicy::default(), OverflowPolicy::ALL[0]);
        assert_eq!(SharedStrategy::default(), SharedStrategy::ALL[0]);
    }

    /// An unknown name (also a differently cased or padded one) is an error that names it and
    /// lists the names accepted.
    #[test]
    fn unknown_names_list_the_accepted_ones() {
        for bad in ["", "Drop_Newest", " drop_newest", "drop-newest", "drop_all"] {
            let err = bad.parse::<OverflowPolicy>().unwrap_err();
            assert_eq!(err.name(), bad);
            assert_eq!(err.expected(), ["drop_newest", "drop_oldest", "disconnect"]);
        }
        let err = "fair".parse::<SharedStrategy>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "shared subscription strategy `fair`: expected round_robin, random or sticky"
        );
    }
}
