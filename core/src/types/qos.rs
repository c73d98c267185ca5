//! Quality of service levels and subscription options.

use std::fmt;

/// An MQTT quality of service level (MQTT 3.1.1 §4.3, MQTT 5.0 §4.3).
///
/// Levels are ordered: a delivery uses the minimum of the publish QoS and the granted
/// subscription QoS [MQTT-3.8.4-8].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(u8)]
pub enum QoS {
    /// QoS 0: fire and forget; never redelivered.
    #[default]
    AtMostOnce = 0,
    /// QoS 1: delivered at least once; stays in flight until acknowledged.
    AtLeastOnce = 1,
    /// QoS 2: delivered exactly once.
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS for a wire value, or `None` for 3 and above (a malformed packet [MQTT-3.3.1-4]).
    pub const fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(Self::AtMostOnce),
            1 => Some(Self::AtLeastOnce),
            2 => Some(Self::ExactlyOnce),
            _ => None,
        }
    }

    /// The wire value, 0 to 2.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for QoS {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QoS {}", self.as_u8())
    }
}

/// When retained messages are sent for a new subscription (MQTT 5.0 §3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum RetainHandling {
    /// 0: send retained messages at the time of the subscribe.
    #[default]
    SendAtSubscribe,
    /// 1: send them only if the subscription did not exist before.
    SendAtSubscribeIfNew,
    /// 2: do not send retained messages at subscribe.
    DoNotSend,
}

/// The options of one subscription: granted QoS plus the MQTT 5 subscription options.
///
/// ```
/// use mqlite::{QoS, SubOptions};
/// let opts = SubOptions::new(QoS::AtLeastOnce).no_local(true);
/// assert_eq!(opts.qos(), QoS::AtLeastOnce);
/// assert!(opts.is_no_local());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubOptions {
    pub(crate) qos: QoS,
    pub(crate) no_local: bool,
    pub(crate) retain_as_published: bool,
    pub(crate) retain_handling: RetainHandling,
    pub(crate) subscription_id: Option<u32>,
}

impl SubOptions {
    /// Options with maximum QoS `qos` and every MQTT 5 option at its default.
    pub const fn new(qos: QoS) -> Self {
        Self {
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::SendAtSubscribe,
            subscription_id: None,
        }
    }

    /// Do not deliver this client's own publications back to it (MQTT 5.0 [MQTT-3.8.3-3]).
    #[must_use]
    pub const fn no_local(mut self, on: bool) -> Self {
        self.no_local = on;
        self
    }

    /// Keep the RETAIN flag of forwarded publications (MQTT 5.0 §3.8.3.1).
    #[must_use]
    pub const fn retain_as_published(mut self, on: bool) -> Self {
        self.retain_as_published = on;
        self
    }

    /// When retained messages are sent for this subscription.
    #[must_use]
    pub const fn retain_handling(mut self, handling: RetainHandling) -> Self {
        self.retain_handling = handling;
        self
    }

    /// A subscription identifier (1 to 268,435,455) carried by every matching delivery.
    #[must_use]
    pub const fn subscription_id(mut self, id: Option<u32>) -> Self {
        self.subscription_id = id;
        self
    }

    /// The maximum QoS granted to this subscription.
    pub const fn qos(&self) -> QoS {
        self.qos
    }

    /// Whether no-local is set.
    pub const fn is_no_local(&self) -> bool {
        self.no_local
    }

    /// Whether retain-as-published is set.
    pub const fn is_retain_as_published(&self) -> bool {
        self.retain_as_published
    }

    /// The retain handling option.
    pub const fn get_retain_handling(&self) -> RetainHandling {
        self.retain_handling
    }

    /// The subscription identifier, if any.
    pub const fn get_subscription_id(&self) -> Option<u32> {
        self.subscription_id
    }
}

impl From<QoS> for SubOptions {
    fn from(qos: QoS) -> Self {
        Self::new(qos)
    }
}
