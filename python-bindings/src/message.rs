//! `Message` (a received message), `Properties` (MQTT 5 publish properties) and `Will`.

use std::time::Duration;

use mqlite::{Bytes, PublishProperties, QoS};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::convert;
use crate::errors;

/// MQTT 5 properties of a publication: given to `Client.publish(..., properties=...)` and
/// `Will(..., properties=...)`, and read from `Message.properties`.
///
/// Every argument is keyword-only. `user_properties` is a list of `(name, value)` pairs; names
/// may repeat and order is kept. `message_expiry_interval` is in seconds: a queued message
/// past it is never delivered.
#[pyclass(frozen, module = "mqlite._mqlite")]
#[derive(Debug, Clone)]
pub(crate) struct Properties {
    pub(crate) inner: PublishProperties,
}

#[pymethods]
impl Properties {
    #[new]
    #[pyo3(signature = (*, payload_format_indicator=None, message_expiry_interval=None,
        content_type=None, response_topic=None, correlation_data=None, user_properties=None))]
    fn new(
        payload_format_indicator: Option<bool>,
        message_expiry_interval: Option<f64>,
        content_type: Option<String>,
        response_topic: Option<String>,
        correlation_data: Option<&Bound<'_, PyAny>>,
        user_properties: Option<Vec<(String, String)>>,
    ) -> PyResult<Self> {
        let mut inner = PublishProperties::new();
        inner.payload_format_indicator = payload_format_indicator;
        inner.message_expiry_interval =
            convert::seconds(message_expiry_interval, "message_expiry_interval")?;
        inner.content_type = content_type;
        inner.response_topic = response_topic;
        inner.correlation_data = correlation_data
            .map(|d| convert::payload(d, "correlation_data"))
            .transpose()?;
        inner.user_properties = user_properties.unwrap_or_default();
        Ok(Self { inner })
    }

    /// `True` if the payload is UTF-8 text, `False` if unspecified bytes, `None` if not set.
    #[getter]
    fn payload_format_indicator(&self) -> Option<bool> {
        self.inner.payload_format_indicator
    }

    /// The message expiry interval in seconds, as published, or `None`.
    #[getter]
    fn message_expiry_interval(&self) -> Option<f64> {
        self.inner.message_expiry_interval.map(|d| d.as_secs_f64())
    }

    /// The content type (a MIME type, by convention), or `None`.
    #[getter]
    fn content_type(&self) -> Option<&str> {
        self.inner.content_type.as_deref()
    }

    /// The response topic for request/response, or `None`.
    #[getter]
    fn response_topic(&self) -> Option<&str> {
        self.inner.response_topic.as_deref()
    }

    /// The correlation data for request/response, or `None`.
    #[getter]
    fn correlation_data<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.inner
            .correlation_data
            .as_ref()
            .map(|d| PyBytes::new(py, d))
    }

    /// The user properties as a list of `(name, value)` pairs, in order.
    #[getter]
    fn user_properties(&self) -> Vec<(String, String)> {
        self.inner.user_properties.clone()
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.inner == other.inner
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let p = &self.inner;
        let repr =
            |v: Bound<'_, PyAny>| -> PyResult<String> { Ok(v.repr()?.to_cow()?.into_owned()) };
        Ok(format!(
            "Properties(payload_format_indicator={}, message_expiry_interval={}, \
             content_type={}, response_topic={}, correlation_data={}, user_properties={})",
            repr(p.payload_format_indicator.into_pyobject(py)?.into_any())?,
            repr(self.message_expiry_interval().into_pyobject(py)?.into_any())?,
            repr(self.content_type().into_pyobject(py)?.into_any())?,
            repr(self.response_topic().into_pyobject(py)?.into_any())?,
            repr(self.correlation_data(py).into_pyobject(py)?.into_any())?,
            repr(self.user_properties().into_pyobject(py)?.into_any())?,
        ))
    }
}

/// A last will: the message the broker publishes when a client ends without a clean
/// disconnect (its handle is garbage-collected, its `with` block raises, it is taken over, or
/// the broker shuts down). Never published after `Client.disconnect()` [MQTT-3.1.2-10].
///
/// `delay` (seconds, MQTT 5) postpones the will, and a reconnect in time cancels it.
#[pyclass(frozen, module = "mqlite._mqlite")]
#[derive(Debug)]
pub(crate) struct Will {
    topic: String,
    payload: Bytes,
    qos: QoS,
    retain: bool,
    properties: Option<Properties>,
    delay: Duration,
}

impl Will {
    /// The core will. Its topic is validated here, at connect, so an invalid one refuses
    /// the connect (`InvalidTopic`) as it always did, not the `Will(...)` call.
    pub(crate) fn to_core(&self) -> PyResult<mqlite::Will> {
        let mut will = mqlite::Will::new(&self.topic, self.payload.clone())
            .map_err(|e| errors::will_topic(&e))?
            .qos(self.qos)
            .retain(self.retain)
            .delay(self.delay);
        if let Some(p) = &self.properties {
            will = will.properties(p.inner.clone());
        }
        Ok(will)
    }
}

#[pymethods]
impl Will {
    #[new]
    #[pyo3(signature = (topic, payload, *, qos=0, retain=false, properties=None, delay=0.0))]
    fn new(
        topic: String,
        payload: &Bound<'_, PyAny>,
        qos: i64,
        retain: bool,
        properties: Option<&Properties>,
        delay: f64,
    ) -> PyResult<Self> {
        Ok(Self {
            topic,
            payload: convert::payload(payload, "payload")?,
            qos: convert::qos(qos)?,
            retain,
            properties: properties.cloned(),
            delay: convert::finite_seconds(delay, "delay")?,
        })
    }

    /// The will topic (validated when the client connects).
    #[getter]
    fn topic(&self) -> &str {
        &self.topic
    }

    /// The will payload.
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.payload)
    }

    /// The QoS the will is published at (0, 1 or 2).
    #[getter]
    fn qos(&self) -> u8 {
        self.qos.as_u8()
    }

    /// Whether the will is published as a retained message.
    #[getter]
    fn retain(&self) -> bool {
        self.retain
    }

    /// The will delay interval in seconds.
    #[getter]
    fn delay(&self) -> f64 {
        self.delay.as_secs_f64()
    }

    /// The MQTT 5 properties forwarded with the will, or `None`.
    #[getter]
    fn properties(&self) -> Option<Properties> {
        self.properties.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "Will(topic={:?}, payload={:?}, qos={}, retain={})",
            self.topic,
            self.payload,
            self.qos.as_u8(),
            if self.retain { "True" } else { "False" }
        )
    }
}

/// A message received by a `Client`.
///
/// QoS 1 and 2 messages stay in the session's in-flight window until `ack()` is called (as a
/// network client's PUBACK / PUBCOMP would); an unacknowledged message is delivered again,
/// with `dup` set, when a persistent session resumes.
#[pyclass(frozen, module = "mqlite._mqlite")]
#[derive(Debug)]
pub(crate) struct Message {
    pub(crate) inner: mqlite::Message,
}

#[pymethods]
impl Message {
    /// The topic it was published to.
    #[getter]
    fn topic(&self) -> &str {
        self.inner.topic()
    }

    /// The payload.
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.payload())
    }

    /// The QoS of this delivery: min(publish QoS, granted QoS) [MQTT-3.8.4-8].
    #[getter]
    fn qos(&self) -> u8 {
        self.inner.qos().as_u8()
    }

    /// The RETAIN flag as delivered: set for retained messages sent at subscribe.
    #[getter]
    fn retain(&self) -> bool {
        self.inner.retain()
    }

    /// Set when this is a redelivery of a message that may have been received before.
    #[getter]
    fn dup(&self) -> bool {
        self.inner.dup()
    }

    /// The packet identifier of a QoS 1 or 2 delivery, or `None` for QoS 0.
    #[getter]
    fn packet_id(&self) -> Option<u16> {
        self.inner.packet_id()
    }

    /// The MQTT 5 properties as published, or `None` if none were set.
    #[getter]
    fn properties(&self) -> Option<Properties> {
        self.inner
            .properties()
            .map(|p| Properties { inner: p.clone() })
    }

    /// The seconds left before the message expires, or `None` if it has no expiry.
    #[getter]
    fn message_expiry_interval(&self) -> Option<f64> {
        self.inner
            .message_expiry_interval()
            .map(|d| d.as_secs_f64())
    }

    /// The identifiers of the subscriptions that matched (MQTT 5).
    #[getter]
    fn subscription_ids(&self) -> Vec<u32> {
        self.inner.subscription_ids().to_vec()
    }

    /// Acknowledges a QoS 1 or 2 message, freeing its in-flight slot. Does nothing for QoS 0,
    /// for a message already acknowledged, or after the session was taken over.
    fn ack(&self) {
        self.inner.ack();
    }

    fn __repr__(&self) -> String {
        format!(
            "Message(topic={:?}, payload=<{} bytes>, qos={}, retain={}, dup={})",
            self.inner.topic(),
            self.inner.payload().len(),
            self.inner.qos().as_u8(),
            if self.inner.retain() { "True" } else { "False" },
            if self.inner.dup() { "True" } else { "False" }
        )
    }
}
