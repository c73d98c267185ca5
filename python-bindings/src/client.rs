//! `Client`: publish, subscribe and the receives. Blocking receives release the GIL and wait
//! in slices of at most [`SLICE`], checking for signals between them so Ctrl-C works.
//! Not here: the asyncio receive (`waiter.rs`).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mqlite::{
    Bytes, PublishOptions, QoS, RecvError, RetainHandling, SubOptions, TopicName, TryRecvError,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use crate::convert;
use crate::errors;
use crate::message::{Message, Properties};
use crate::waiter::AsyncRecv;

/// The longest a blocking call waits without the GIL before it checks for signals: the
/// bound on how late a KeyboardInterrupt can arrive.
const SLICE: Duration = Duration::from_millis(100);

/// A connected client of a `Broker`: publishes, subscribes and receives.
///
/// Leaving a `with` block normally disconnects cleanly (the will is discarded); leaving it by
/// an exception ends the connection without a clean disconnect, so the will is published. A
/// client that is garbage-collected without `disconnect()` also publishes its will. Several
/// threads may use one client; a blocking receive releases the GIL.
#[pyclass(frozen, module = "mqlite._mqlite")]
#[derive(Debug)]
pub(crate) struct Client {
    /// `None` once disconnected. Calls clone the `Arc` and release the lock at once, so a
    /// blocked receive never holds it.
    inner: Mutex<Option<Arc<mqlite::Client>>>,
    client_id: String,
    session_present: bool,
    /// Its broker is durable: a QoS 1/2 publish and a subscribe wait for an fsync (shared
    /// with other threads), so they release the GIL. In memory they do not: a release costs
    /// more than the call.
    durable: bool,
}

impl Client {
    pub(crate) fn new(client: mqlite::Client, durable: bool) -> Self {
        Self {
            client_id: client.client_id().to_owned(),
            session_present: client.session_present(),
            inner: Mutex::new(Some(Arc::new(client))),
            durable,
        }
    }

    /// The live handle, or `ClientDisconnected`.
    pub(crate) fn handle(&self) -> PyResult<Arc<mqlite::Client>> {
        self.lock().clone().ok_or_else(errors::disconnected)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Arc<mqlite::Client>>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits up to `timeout` (`None`: forever) for a message; `None` if none came.
    pub(crate) fn recv_blocking(
        &self,
        py: Python<'_>,
        timeout: Option<Duration>,
    ) -> PyResult<Option<mqlite::Message>> {
        match self.handle()?.try_recv() {
            Ok(m) => return Ok(Some(m)),
            Err(TryRecvError::Empty) => {}
            Err(e) => return Err(errors::try_recv(e)),
        }
        // `None` inside: a deadline too far away to represent, i.e. forever.
        let deadline = timeout.map(|t| Instant::now().checked_add(t));
        loop {
            let left = match deadline {
                Some(Some(d)) => Some(d.saturating_duration_since(Instant::now())),
                _ => None,
            };
            let slice = left.map_or(SLICE, |l| l.min(SLICE));
            // Fetched per slice so that `disconnect()` from another thread is seen, and so
            // this thread holds no handle while it checks for signals.
            let handle = self.handle()?;
            match py.detach(|| handle.recv_timeout(slice)) {
                Ok(m) => return Ok(Some(m)),
                Err(RecvError::Timeout) => {}
                Err(e) => return Err(errors::recv(e)),
            }
            drop(handle);
            if left.is_some_and(|l| l <= slice) {
                return Ok(None);
            }
            py.check_signals()?;
        }
    }

    /// Ends the connection: cleanly (`disconnect`), or as if dropped, publishing the will.
    fn end(&self, py: Python<'_>, clean: bool) {
        let Some(mut handle) = self.lock().take() else {
            return;
        };
        if !clean {
            // The last clone to go (a receive finishing its slice) ends the connection.
            drop(handle);
            return;
        }
        // Other threads may be inside a call with a clone; each gives it back within one
        // slice, and none can take a new one now.
        py.detach(|| {
            loop {
                match Arc::try_unwrap(handle) {
                    Ok(client) => return client.disconnect(),
                    Err(shared) => handle = shared,
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
    }
}

#[pymethods]
impl Client {
    /// The client id (the assigned one if connected with an empty id).
    #[getter]
    fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Whether connect resumed an existing session [MQTT-3.2.2-2].
    #[getter]
    fn session_present(&self) -> bool {
        self.session_present
    }

    /// Whether the client was disconnected (by `disconnect()` or its `with` block).
    #[getter]
    fn is_disconnected(&self) -> bool {
        self.lock().is_none()
    }

    /// Publishes `payload` (bytes, bytearray, memoryview or str) to `topic`.
    ///
    /// Returns once the message is in every matching subscriber's queue. A full queue drops
    /// per its overflow policy unless `fail_if_full=True` (then `QueueFull` is raised, after
    /// subscribers with room got it) or `wait_if_full` gives seconds to wait for room (the
    /// GIL is released while waiting). On a durable broker a QoS 1 or 2 publish returns once
    /// the message is durable (per the broker's `persistence_sync`), with the GIL released;
    /// `NotDurable` is raised if the store failed (the message may be published again).
    #[pyo3(signature = (topic, payload, *, qos=0, retain=false, properties=None,
        fail_if_full=false, wait_if_full=None))]
    #[allow(clippy::too_many_arguments)] // keyword arguments, one per publish option
    fn publish(
        &self,
        py: Python<'_>,
        topic: &str,
        payload: &Bound<'_, PyAny>,
        qos: i64,
        retain: bool,
        properties: Option<&Properties>,
        fail_if_full: bool,
        wait_if_full: Option<f64>,
    ) -> PyResult<()> {
        let payload = convert::payload(payload, "payload")?;
        let wait = convert::seconds(wait_if_full, "wait_if_full")?;
        let signal = SignalCatch::default();
        let options = publish_options(qos, retain, properties, fail_if_full, wait, &signal)?;
        let handle = self.handle()?;
        let waits_for_disk = self.durable && options.qos() != QoS::AtMostOnce;
        let result = if wait.is_some() || waits_for_disk {
            py.detach(|| handle.publish_with(topic, payload, &options))
        } else {
            handle.publish_with(topic, payload, &options)
        };
        signal.raise()?;
        result.map_err(errors::publish)
    }

    /// Publishes many messages in one call, in order, with the same options: each item of
    /// `messages` is a `(topic, payload)` pair, or, with `topic=` given, a payload for that
    /// topic.
    ///
    /// Every item is converted and every topic checked first, so a bad item raises
    /// (`TypeError`, `InvalidTopic`) before anything is published; then the whole batch is
    /// published with the GIL released once. An error while publishing (a limit, `QueueFull`,
    /// the session ended) stops the batch and is raised: the messages before it were
    /// published. The options mean what they mean for `publish()`. On a durable broker a
    /// QoS 1/2 batch waits for durability once, after its last message.
    #[pyo3(signature = (messages, *, topic=None, qos=0, retain=false, properties=None,
        fail_if_full=false, wait_if_full=None))]
    #[allow(clippy::too_many_arguments)] // keyword arguments, one per publish option
    fn publish_many(
        &self,
        py: Python<'_>,
        messages: &Bound<'_, PyAny>,
        topic: Option<&str>,
        qos: i64,
        retain: bool,
        properties: Option<&Properties>,
        fail_if_full: bool,
        wait_if_full: Option<f64>,
    ) -> PyResult<()> {
        let wait = convert::seconds(wait_if_full, "wait_if_full")?;
        let signal = SignalCatch::default();
        let options = publish_options(qos, retain, properties, fail_if_full, wait, &signal)?;
        let batch = batch(messages, topic)?;
        let handle = self.handle()?;
        // One durability wait for the whole batch (durable mode, QoS 1/2).
        let result = py.detach(|| {
            // A Ctrl-C during one message's wait stops the batch there.
            let messages = batch.into_iter().take_while(|_| !signal.caught());
            handle.publish_many(messages, &options)
        });
        signal.raise()?;
        result.map_err(errors::publish)
    }

    /// Subscribes to `filter` (wildcards `+` and `#` allowed); returns the granted QoS.
    ///
    /// Retained messages matching it are queued first. MQTT 5 options: `no_local` (do not
    /// receive this client's own publications), `retain_as_published`, `retain_handling`
    /// (0: send retained at subscribe, 1: only if the subscription is new, 2: never) and
    /// `subscription_id`.
    #[pyo3(signature = (filter, *, qos=0, no_local=false, retain_as_published=false,
        retain_handling=0, subscription_id=None))]
    #[allow(clippy::too_many_arguments)] // keyword arguments, one per subscription option
    fn subscribe(
        &self,
        py: Python<'_>,
        filter: &str,
        qos: i64,
        no_local: bool,
        retain_as_published: bool,
        retain_handling: i64,
        subscription_id: Option<u32>,
    ) -> PyResult<u8> {
        let handling = match retain_handling {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendAtSubscribeIfNew,
            2 => RetainHandling::DoNotSend,
            other => {
                return Err(PyValueError::new_err(format!(
                    "retain_handling must be 0, 1 or 2, not {other}"
                )));
            }
        };
        let options = SubOptions::new(convert::qos(qos)?)
            .no_local(no_local)
            .retain_as_published(retain_as_published)
            .retain_handling(handling)
            .subscription_id(subscription_id);
        let handle = self.handle()?;
        let granted = if self.durable {
            // The subscription is on disk before this returns.
            py.detach(|| handle.subscribe(filter, options))
        } else {
            handle.subscribe(filter, options)
        }
        .map_err(errors::subscribe)?;
        Ok(granted.as_u8())
    }

    /// Unsubscribes from `filter`; returns whether it was subscribed.
    fn unsubscribe(&self, filter: &str) -> PyResult<bool> {
        self.handle()?
            .unsubscribe(filter)
            .map_err(errors::subscribe)
    }

    /// Waits for the next message, up to `timeout` seconds (`None`: forever).
    ///
    /// Releases the GIL while waiting; Ctrl-C raises KeyboardInterrupt within 100 ms. Raises
    /// `Timeout` if no message arrived in time, `TakenOver` / `BrokerClosed` if the session
    /// ended.
    #[pyo3(signature = (timeout=None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Message> {
        let timeout = convert::seconds(timeout, "timeout")?;
        match self.recv_blocking(py, timeout)? {
            Some(inner) => Ok(Message { inner }),
            None => Err(errors::timeout()),
        }
    }

    /// Takes the next message if one is ready, without blocking; `None` otherwise.
    fn try_recv(&self) -> PyResult<Option<Message>> {
        match self.handle()?.try_recv() {
            Ok(inner) => Ok(Some(Message { inner })),
            Err(TryRecvError::Empty) => Ok(None),
            Err(e) => Err(errors::try_recv(e)),
        }
    }

    /// Waits up to `timeout` seconds for a first message, then takes up to `max` messages
    /// that are ready, in order. An empty list means the timeout passed.
    #[pyo3(signature = (max, timeout=None))]
    fn recv_many(
        &self,
        py: Python<'_>,
        max: usize,
        timeout: Option<f64>,
    ) -> PyResult<Vec<Message>> {
        let timeout = convert::seconds(timeout, "timeout")?;
        let mut out = Vec::new();
        if max == 0 {
            return Ok(out);
        }
        let Some(first) = self.recv_blocking(py, timeout)? else {
            return Ok(out);
        };
        out.push(Message { inner: first });
        let handle = self.handle()?;
        while out.len() < max {
            match handle.try_recv() {
                Ok(inner) => out.push(Message { inner }),
                Err(_) => break,
            }
        }
        Ok(out)
    }

    /// An iterator over messages that ends when no message arrives within `timeout` seconds
    /// (`None`: never ends by itself). Session errors are raised from it.
    #[pyo3(signature = (timeout=None))]
    fn messages(slf: Py<Self>, timeout: Option<f64>) -> PyResult<MessageIterator> {
        Ok(MessageIterator {
            client: slf,
            timeout: convert::seconds(timeout, "timeout")?,
        })
    }

    /// Awaits the next message on the running asyncio loop, without a thread per call: the
    /// client's wake-up is watched by one shared thread, which schedules the result on the
    /// loop. Use `asyncio.wait_for` for a timeout. Do not mix it with a concurrent blocking
    /// receive on the same client.
    fn recv_async<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        AsyncRecv::start(slf)
    }

    /// Ends the connection cleanly: the will is discarded [MQTT-3.1.2-10]. A persistent
    /// session keeps its subscriptions and queues messages. Idempotent.
    fn disconnect(&self, py: Python<'_>) {
        self.end(py, true);
    }

    /// A snapshot of this client's session (queued, inflight, sent, dropped), as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.handle()?.stats();
        let d = PyDict::new(py);
        d.set_item("online", s.online)?;
        d.set_item("queued", s.queued)?;
        d.set_item("inflight", s.inflight)?;
        d.set_item("sent", s.sent)?;
        d.set_item("dropped_queue_full", s.dropped_queue_full)?;
        d.set_item("dropped_offline", s.dropped_offline)?;
        d.set_item("dropped_expired", s.dropped_expired)?;
        Ok(d)
    }

    /// Returns the client itself.
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Disconnects cleanly on a normal exit; on an exception, ends the connection without a
    /// clean disconnect so the will is published. Never suppresses the exception.
    #[pyo3(signature = (exc_type, *_rest))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        _rest: &Bound<'_, PyTuple>,
    ) -> bool {
        self.end(py, exc_type.is_none_or(|t| t.is_none()));
        false
    }

    fn __repr__(&self) -> String {
        format!("Client(client_id={:?})", self.client_id)
    }
}

/// An iterator over a client's messages (see `Client.messages`).
#[pyclass(frozen, module = "mqlite._mqlite")]
#[derive(Debug)]
pub(crate) struct MessageIterator {
    client: Py<Client>,
    timeout: Option<Duration>,
}

#[pymethods]
impl MessageIterator {
    /// Returns the iterator itself.
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// The next message; stops when none arrives within the timeout.
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Message>> {
        let client = self.client.get();
        Ok(client
            .recv_blocking(py, self.timeout)?
            .map(|inner| Message { inner }))
    }
}

/// Lets Ctrl-C through a publish waiting for room (`wait_if_full`): the core asks every
/// 50 ms, this takes the GIL and runs Python's signal handlers, and keeps the exception
/// (KeyboardInterrupt, say) to raise once the publish returns.
#[derive(Debug, Default, Clone)]
struct SignalCatch(Arc<Mutex<Option<PyErr>>>);

impl SignalCatch {
    /// Runs the signal handlers; `true` once one raised.
    fn check(&self) -> bool {
        let mut caught = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if caught.is_none()
            && let Some(Err(e)) = Python::try_attach(|py| py.check_signals())
        {
            *caught = Some(e);
        }
        caught.is_some()
    }

    /// Whether a handler raised.
    fn caught(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Raises what a handler raised, if anything.
    fn raise(&self) -> PyResult<()> {
        match self.0.lock().unwrap_or_else(PoisonError::into_inner).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The options of `publish()` and `publish_many()`.
fn publish_options(
    qos: i64,
    retain: bool,
    properties: Option<&Properties>,
    fail_if_full: bool,
    wait_if_full: Option<Duration>,
    signal: &SignalCatch,
) -> PyResult<PublishOptions> {
    let mut options = PublishOptions::new(convert::qos(qos)?)
        .retain(retain)
        .fail_if_full(fail_if_full);
    if let Some(p) = properties {
        options = options.properties(p.inner.clone());
    }
    if wait_if_full.is_some() {
        let signal = signal.clone();
        options = options
            .wait_if_full(wait_if_full)
            .interrupt(move || signal.check());
    }
    Ok(options)
}

/// The items of `publish_many()`, converted and their topics checked: `(topic, payload)`
/// pairs, or payloads for `topic`.
fn batch(messages: &Bound<'_, PyAny>, topic: Option<&str>) -> PyResult<Vec<(TopicName, Bytes)>> {
    let mut out = Vec::with_capacity(messages.len().unwrap_or(0));
    if let Some(topic) = topic {
        let topic = topic_name(topic)?;
        for item in messages.try_iter()? {
            out.push((topic.clone(), convert::payload(&item?, "payload")?));
        }
        return Ok(out);
    }
    for item in messages.try_iter()? {
        let item = item?;
        let Ok((topic, payload)) = item.extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>() else {
            return Err(PyTypeError::new_err(format!(
                "each message must be a (topic, payload) pair (or pass topic=), not {}",
                item.get_type().name()?
            )));
        };
        let topic = topic.cast_into::<PyString>()?;
        out.push((
            topic_name(&topic.to_cow()?)?,
            convert::payload(&payload, "payload")?,
        ));
    }
    Ok(out)
}

fn topic_name(topic: &str) -> PyResult<TopicName> {
    TopicName::new(topic).map_err(|e| errors::publish(e.into()))
}
