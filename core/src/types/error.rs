//! Error types of the public API. Each says exactly what went wrong so callers can `match`.

use crate::types::topic::TopicError;

/// Why a client handle can no longer be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// Another connection with the same client id took the session over [MQTT-3.1.4-3].
    #[error("session taken over by a new connection with the same client id [MQTT-3.1.4-3]")]
    TakenOver,
    /// The broker was shut down.
    #[error("broker is shut down")]
    BrokerClosed,
    /// The broker ended the session because its queue overflowed (overflow policy `Disconnect`).
    #[error("session disconnected: its queue overflowed (overflow policy `Disconnect`)")]
    SlowConsumer,
}

/// Why [`crate::Broker::connect`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The client id is unusable.
    #[error("client id `{client_id}`: {reason}")]
    InvalidClientId {
        /// The id as given (truncated for display).
        client_id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The will's topic or payload breaks a configured limit.
    #[error("will: {0}")]
    WillLimit(#[source] LimitError),
    /// The authenticate hook refused the connection, or the authorize hook refused the will.
    #[error("client `{client_id}` not authorized")]
    NotAuthorized {
        /// The client id that was refused.
        client_id: String,
    },
    /// `max_clients` connections are already attached.
    #[error("{max} clients already connected (max_clients)")]
    TooManyClients {
        /// The configured limit.
        max: usize,
    },
    /// The broker was shut down.
    #[error("broker is shut down")]
    BrokerClosed,
}

/// A configured limit that a topic, filter or payload exceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// The topic or filter is longer than `max_topic_length`.
    #[error("topic of {len} bytes exceeds max_topic_length ({max})")]
    TopicTooLong {
        /// Its length in bytes.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// The topic or filter has more levels than `max_topic_levels`.
    #[error("topic of {levels} levels exceeds max_topic_levels ({max})")]
    TooManyLevels {
        /// Its number of levels.
        levels: usize,
        /// The configured limit.
        max: usize,
    },
    /// The payload is larger than `max_payload_size`.
    #[error("payload of {size} bytes exceeds max_payload_size ({max})")]
    PayloadTooLarge {
        /// The payload size in bytes.
        size: usize,
        /// The configured limit.
        max: usize,
    },
}

/// Why a publish was refused. A refused publish reached no subscriber and changed no retained
/// message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The topic is not a valid topic name.
    #[error(transparent)]
    InvalidTopic(#[from] TopicError),
    /// The topic or payload breaks a configured limit.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// The authorize hook refused this publish.
    #[error("not authorized to publish to `{topic}`")]
    NotAuthorized {
        /// The topic refused.
        topic: String,
    },
    /// A retained publish to a new topic while the retained store is at `max_retained_messages`
    /// or `max_retained_bytes`.
    #[error("retained store is full ({count} messages, {bytes} bytes)")]
    RetainedStoreFull {
        /// Messages stored now.
        count: usize,
        /// Bytes stored now.
        bytes: usize,
    },
    /// A subscriber's queue was full and the publish asked to fail rather than drop
    /// ([`crate::PublishOptions::fail_if_full`]). Subscribers with room did receive it.
    #[error("queue of client `{client_id}` is full")]
    QueueFull {
        /// The first client whose queue was full.
        client_id: String,
    },
    /// A network sender has more unreleased QoS 2 messages than the receive maximum
    /// (MQTT 5.0 reason code 0x93).
    #[error("more than {max} unreleased QoS 2 messages (receive maximum exceeded)")]
    ReceiveMaximumExceeded {
        /// The receive maximum (`max_inflight_messages`).
        max: usize,
    },
    /// The message could not be made durable (durable mode: the disk is full or failing).
    /// It was not acknowledged; a network publisher gets reason 0x97 (MQTT 5) or its
    /// connection closed (3.1.1), and may send it again.
    #[error("message not durable: {reason}")]
    NotDurable {
        /// What failed.
        reason: String,
    },
    /// The publishing handle can no longer be used.
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// Why one filter of a subscribe was refused. Other filters of the same call are unaffected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The filter is not a valid topic filter.
    #[error(transparent)]
    InvalidFilter(#[from] TopicError),
    /// The filter breaks a configured limit.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// The authorize hook refused this subscription.
    #[error("not authorized to subscribe to `{filter}`")]
    NotAuthorized {
        /// The filter refused.
        filter: String,
    },
    /// The client already holds `max_subscriptions_per_client` subscriptions.
    #[error("client already has {max} subscriptions (max_subscriptions_per_client)")]
    TooManySubscriptions {
        /// The configured limit.
        max: usize,
    },
    /// The handle can no longer be used.
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// Why [`crate::Client::try_recv`] returned no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TryRecvError {
    /// Nothing is deliverable now (the queue is empty, or the in-flight window is full).
    #[error("no message is ready")]
    Empty,
    /// The handle can no longer be used.
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// Why [`crate::Client::recv_timeout`] or [`crate::Client::recv`] returned no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// No message arrived before the deadline.
    #[error("no message arrived before the timeout")]
    Timeout,
    /// The handle can no longer be used.
    #[error(transparent)]
    Session(#[from] SessionError),
}
