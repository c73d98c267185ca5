//! `Config`: the broker's limits and policies, with core's defaults.

use std::fmt;
use std::str::FromStr;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::convert;

/// `value` read by core's `FromStr` (an overflow policy or a shared subscription strategy, by
/// the name its `Display` writes), or a `ValueError` naming the argument `arg` and the names
/// accepted.
pub(crate) fn from_name<T>(arg: &str, value: &str) -> PyResult<T>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    value
        .parse()
        .map_err(|e| PyValueError::new_err(format!("{arg}: {e}")))
}

/// Broker-wide limits and policies, given to `Broker(config=...)`. Every argument is
/// keyword-only; one left out (or `None`) keeps the default.
///
/// Sizes are in bytes, durations in seconds. `overflow_policy` is `'drop_newest'` (the
/// default), `'drop_oldest'` or `'disconnect'`; `shared_subscription_strategy` is
/// `'round_robin'` (the default), `'random'` or `'sticky'`. `sys_interval=0` turns the
/// `$SYS` statistics off.
#[pyclass(frozen, module = "mqlite._mqlite")]
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) inner: mqlite::Config,
}

#[pymethods]
impl Config {
    #[new]
    #[pyo3(signature = (*, max_queued_messages=None, max_queued_bytes=None,
        max_inflight_messages=None, overflow_policy=None, queue_qos0_messages=None,
        max_payload_size=None, max_topic_length=None, max_topic_levels=None,
        max_subscriptions_per_client=None, max_retained_messages=None, max_retained_bytes=None,
        max_clients=None, max_client_id_length=None, shared_subscription_strategy=None,
        max_session_expiry=None, sys_interval=None))]
    #[allow(clippy::too_many_arguments)] // one keyword argument per field of core's Config
    fn new(
        max_queued_messages: Option<usize>,
        max_queued_bytes: Option<usize>,
        max_inflight_messages: Option<u16>,
        overflow_policy: Option<&str>,
        queue_qos0_messages: Option<bool>,
        max_payload_size: Option<usize>,
        max_topic_length: Option<usize>,
        max_topic_levels: Option<usize>,
        max_subscriptions_per_client: Option<usize>,
        max_retained_messages: Option<usize>,
        max_retained_bytes: Option<usize>,
        max_clients: Option<usize>,
        max_client_id_length: Option<usize>,
        shared_subscription_strategy: Option<&str>,
        max_session_expiry: Option<f64>,
        sys_interval: Option<f64>,
    ) -> PyResult<Self> {
        let mut c = mqlite::Config::default();
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = $field { c.$field = v; } )* };
        }
        set!(
            max_queued_messages,
            max_queued_bytes,
            max_inflight_messages,
            queue_qos0_messages,
            max_payload_size,
            max_topic_length,
            max_topic_levels,
            max_subscriptions_per_client,
            max_retained_messages,
            max_retained_bytes,
            max_clients,
            max_client_id_length
        );
        if let Some(p) = overflow_policy {
            c.overflow_policy = from_name("overflow_policy", p)?;
        }
        if let Some(s) = shared_subscription_strategy {
            c.shared_subscription_strategy = from_name("shared_subscription_strategy", s)?;
        }
        if max_session_expiry.is_some() {
            c.max_session_expiry = convert::seconds(max_session_expiry, "max_session_expiry")?;
        }
        if let Some(secs) = sys_interval {
            let d = convert::finite_seconds(secs, "sys_interval")?;
            c.sys_interval = (!d.is_zero()).then_some(d);
        }
        Ok(Self { inner: c })
    }

    /// Deliveries a session may hold waiting for its consumer (default 1000).
    #[getter]
    fn max_queued_messages(&self) -> usize {
        self.inner.max_queued_messages
    }

    /// Largest payload accepted, in bytes (default 1 MiB).
    #[getter]
    fn max_payload_size(&self) -> usize {
        self.inner.max_payload_size
    }

    /// QoS 1 and 2 deliveries a session may have unacknowledged at once (default 100).
    #[getter]
    fn max_inflight_messages(&self) -> u16 {
        self.inner.max_inflight_messages
    }

    /// Most sessions connected at once (default 10000).
    #[getter]
    fn max_clients(&self) -> usize {
        self.inner.max_clients
    }

    /// Bytes (payload + topic) a session's queue may hold (default 8 MiB).
    #[getter]
    fn max_queued_bytes(&self) -> usize {
        self.inner.max_queued_bytes
    }

    /// What a full queue does: `'drop_newest'`, `'drop_oldest'` or `'disconnect'`.
    #[getter]
    fn overflow_policy(&self) -> String {
        self.inner.overflow_policy.to_string()
    }

    /// Whether QoS 0 messages are queued for offline persistent sessions (default false).
    #[getter]
    fn queue_qos0_messages(&self) -> bool {
        self.inner.queue_qos0_messages
    }

    /// Longest topic name or filter, in bytes (default 1024).
    #[getter]
    fn max_topic_length(&self) -> usize {
        self.inner.max_topic_length
    }

    /// Most levels in a topic name or filter (default 32).
    #[getter]
    fn max_topic_levels(&self) -> usize {
        self.inner.max_topic_levels
    }

    /// Most subscriptions one session may hold (default 1000).
    #[getter]
    fn max_subscriptions_per_client(&self) -> usize {
        self.inner.max_subscriptions_per_client
    }

    /// Most retained messages stored (default 10000).
    #[getter]
    fn max_retained_messages(&self) -> usize {
        self.inner.max_retained_messages
    }

    /// Most bytes of retained messages stored (default 16 MiB).
    #[getter]
    fn max_retained_bytes(&self) -> usize {
        self.inner.max_retained_bytes
    }

    /// Longest client id, in bytes (default 256).
    #[getter]
    fn max_client_id_length(&self) -> usize {
        self.inner.max_client_id_length
    }

    /// How shared subscriptions pick a member: `'round_robin'`, `'random'` or `'sticky'`.
    #[getter]
    fn shared_subscription_strategy(&self) -> String {
        self.inner.shared_subscription_strategy.to_string()
    }

    /// The cap on session expiry, in seconds, or `None` for no cap.
    #[getter]
    fn max_session_expiry(&self) -> Option<f64> {
        self.inner.max_session_expiry.map(|d| d.as_secs_f64())
    }

    /// Seconds between `$SYS` publications, or `None` when they are off.
    #[getter]
    fn sys_interval(&self) -> Option<f64> {
        self.inner.sys_interval.map(|d| d.as_secs_f64())
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.inner)
    }
}
