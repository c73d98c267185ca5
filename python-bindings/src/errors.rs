//! The exception hierarchy and the one place where core errors become Python exceptions.
//! Not here: argument checks (`TypeError` / `ValueError`), which live beside the arguments.

use std::io;

use mqlite::{
    ConnectError, LimitError, PublishError, RecvError, SessionError, SubscribeError, TopicError,
    TryRecvError,
};
use mqlite_store::OpenError;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyOSError, PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

create_exception!(
    mqlite,
    MqliteError,
    PyException,
    "Base class of every error raised by mqlite."
);
create_exception!(
    mqlite,
    InvalidTopic,
    MqliteError,
    "A topic name or filter is not valid MQTT (empty, a wildcard in a name, a misplaced `#`...)."
);
create_exception!(
    mqlite,
    InvalidClientId,
    MqliteError,
    "The client id is unusable (too long, or not valid)."
);
create_exception!(
    mqlite,
    NotAuthorized,
    MqliteError,
    "The broker's hooks refused the connection, publish or subscription."
);
create_exception!(
    mqlite,
    LimitExceeded,
    MqliteError,
    "A configured limit (see `Config`) was exceeded."
);
create_exception!(
    mqlite,
    PayloadTooLarge,
    LimitExceeded,
    "The payload is larger than `max_payload_size`."
);
create_exception!(
    mqlite,
    QueueFull,
    LimitExceeded,
    "A subscriber's queue was full (`publish(..., fail_if_full=True)`)."
);
create_exception!(
    mqlite,
    RetainedStoreFull,
    LimitExceeded,
    "The retained store is at `max_retained_messages` or `max_retained_bytes`."
);
create_exception!(
    mqlite,
    TooManySubscriptions,
    LimitExceeded,
    "The client already holds `max_subscriptions_per_client` subscriptions."
);
create_exception!(
    mqlite,
    TooManyClients,
    LimitExceeded,
    "`max_clients` clients are already connected."
);
create_exception!(
    mqlite,
    StoreError,
    MqliteError,
    "The store of a durable broker (`Broker(persistence=...)`) could not be opened or written."
);
create_exception!(
    mqlite,
    StoreLocked,
    StoreError,
    "Another broker (of this process or another) holds the store's directory."
);
create_exception!(
    mqlite,
    NotDurable,
    StoreError,
    "A QoS 1 or 2 message could not be made durable (the disk is full or failing): it was not \
     acknowledged, and may be published again."
);
create_exception!(
    mqlite,
    SessionEnded,
    MqliteError,
    "The client handle can no longer be used."
);
create_exception!(
    mqlite,
    TakenOver,
    SessionEnded,
    "Another connection with the same client id took the session over [MQTT-3.1.4-3]."
);
create_exception!(
    mqlite,
    BrokerClosed,
    SessionEnded,
    "The broker was shut down."
);
create_exception!(
    mqlite,
    SlowConsumer,
    SessionEnded,
    "The broker ended the session because its queue overflowed (overflow policy `disconnect`)."
);
create_exception!(
    mqlite,
    ClientDisconnected,
    SessionEnded,
    "The client was disconnected (by `disconnect()` or by leaving its `with` block)."
);
/// `Timeout` derives from both `MqliteError` and the built-in `TimeoutError`, which
/// `create_exception!` (one base) cannot express, so it is made with `type()` once.
static TIMEOUT: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn timeout_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    TIMEOUT
        .get_or_try_init(py, || {
            let bases = (
                py.get_type::<MqliteError>(),
                py.get_type::<PyTimeoutError>(),
            );
            let namespace = PyDict::new(py);
            namespace.set_item("__module__", "mqlite")?;
            namespace.set_item(
                "__doc__",
                "No message arrived before the timeout (also a built-in TimeoutError).",
            )?;
            let ty = py
                .get_type::<PyType>()
                .call1(("Timeout", bases, namespace))?
                .cast_into::<PyType>()?;
            Ok::<_, PyErr>(ty.unbind())
        })
        .map(|ty| ty.bind(py))
}

/// Adds every exception class to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("MqliteError", py.get_type::<MqliteError>())?;
    m.add("InvalidTopic", py.get_type::<InvalidTopic>())?;
    m.add("InvalidClientId", py.get_type::<InvalidClientId>())?;
    m.add("NotAuthorized", py.get_type::<NotAuthorized>())?;
    m.add("LimitExceeded", py.get_type::<LimitExceeded>())?;
    m.add("PayloadTooLarge", py.get_type::<PayloadTooLarge>())?;
    m.add("QueueFull", py.get_type::<QueueFull>())?;
    m.add("RetainedStoreFull", py.get_type::<RetainedStoreFull>())?;
    m.add(
        "TooManySubscriptions",
        py.get_type::<TooManySubscriptions>(),
    )?;
    m.add("TooManyClients", py.get_type::<TooManyClients>())?;
    m.add("StoreError", py.get_type::<StoreError>())?;
    m.add("StoreLocked", py.get_type::<StoreLocked>())?;
    m.add("NotDurable", py.get_type::<NotDurable>())?;
    m.add("SessionEnded", py.get_type::<SessionEnded>())?;
    m.add("TakenOver", py.get_type::<TakenOver>())?;
    m.add("BrokerClosed", py.get_type::<BrokerClosed>())?;
    m.add("SlowConsumer", py.get_type::<SlowConsumer>())?;
    m.add("ClientDisconnected", py.get_type::<ClientDisconnected>())?;
    m.add("Timeout", timeout_type(py)?)?;
    Ok(())
}

/// The exception for a handle that can no longer be used.
pub(crate) fn session(e: SessionError) -> PyErr {
    let msg = e.to_string();
    match e {
        SessionError::TakenOver => TakenOver::new_err(msg),
        SessionError::BrokerClosed => BrokerClosed::new_err(msg),
        SessionError::SlowConsumer => SlowConsumer::new_err(msg),
        _ => SessionEnded::new_err(msg),
    }
}

/// The exception for a handle used after `disconnect()`.
pub(crate) fn disconnected() -> PyErr {
    ClientDisconnected::new_err("client was disconnected")
}

fn limit(e: LimitError, msg: String) -> PyErr {
    match e {
        LimitError::PayloadTooLarge { .. } => PayloadTooLarge::new_err(msg),
        _ => LimitExceeded::new_err(msg),
    }
}

/// The exception for a refused connect.
pub(crate) fn connect(e: ConnectError) -> PyErr {
    let msg = e.to_string();
    match e {
        ConnectError::InvalidClientId { .. } => InvalidClientId::new_err(msg),
        ConnectError::WillLimit(l) => limit(l, msg),
        ConnectError::NotAuthorized { .. } => NotAuthorized::new_err(msg),
        ConnectError::TooManyClients { .. } => TooManyClients::new_err(msg),
        ConnectError::BrokerClosed => BrokerClosed::new_err(msg),
        _ => MqliteError::new_err(msg),
    }
}

/// The exception for a will whose topic is not a valid topic name, raised when the client
/// connects with it (as a refused connect: `InvalidTopic`).
pub(crate) fn will_topic(e: &TopicError) -> PyErr {
    InvalidTopic::new_err(format!("will topic: {e}"))
}

/// The exception for a refused publish.
pub(crate) fn publish(e: PublishError) -> PyErr {
    let msg = e.to_string();
    match e {
        PublishError::InvalidTopic(_) => InvalidTopic::new_err(msg),
        PublishError::Limit(l) => limit(l, msg),
        PublishError::NotAuthorized { .. } => NotAuthorized::new_err(msg),
        PublishError::RetainedStoreFull { .. } => RetainedStoreFull::new_err(msg),
        PublishError::QueueFull { .. } => QueueFull::new_err(msg),
        PublishError::ReceiveMaximumExceeded { .. } => LimitExceeded::new_err(msg),
        PublishError::Session(s) => session(s),
        PublishError::NotDurable { .. } => NotDurable::new_err(msg),
        _ => MqliteError::new_err(msg),
    }
}

/// The exception for a store that could not be opened: `StoreLocked` when another broker
/// holds the directory, `ValueError` for an option out of range, `StoreError` with the
/// store's message otherwise (written by a newer version, cannot be created or read).
pub(crate) fn open_store(e: OpenError) -> PyErr {
    let msg = e.to_string();
    match e {
        OpenError::Locked { .. } => StoreLocked::new_err(msg),
        OpenError::InvalidOption(_) => PyValueError::new_err(msg),
        _ => StoreError::new_err(msg),
    }
}

/// The exception for a failed `Broker.sync()`.
pub(crate) fn sync(e: mqlite::StoreError) -> PyErr {
    NotDurable::new_err(format!("not durable: {e}"))
}

/// The exception for a refused subscribe or unsubscribe.
pub(crate) fn subscribe(e: SubscribeError) -> PyErr {
    let msg = e.to_string();
    match e {
        SubscribeError::InvalidFilter(_) => InvalidTopic::new_err(msg),
        SubscribeError::Limit(l) => limit(l, msg),
        SubscribeError::NotAuthorized { .. } => NotAuthorized::new_err(msg),
        SubscribeError::TooManySubscriptions { .. } => TooManySubscriptions::new_err(msg),
        SubscribeError::Session(s) => session(s),
        _ => MqliteError::new_err(msg),
    }
}

/// The exception for a receive that ended without a message.
pub(crate) fn recv(e: RecvError) -> PyErr {
    match e {
        RecvError::Session(s) => session(s),
        other => timeout_with(other.to_string()),
    }
}

/// The exception for a non-blocking receive that ended without a message.
pub(crate) fn try_recv(e: TryRecvError) -> PyErr {
    match e {
        TryRecvError::Session(s) => session(s),
        other => MqliteError::new_err(other.to_string()),
    }
}

/// The exception for an expired receive timeout.
pub(crate) fn timeout() -> PyErr {
    timeout_with("no message arrived before the timeout".to_owned())
}

fn timeout_with(msg: String) -> PyErr {
    Python::attach(|py| match timeout_type(py) {
        Ok(ty) => PyErr::from_type(ty.clone(), msg),
        Err(e) => e,
    })
}

/// The exception for a network frontend that could not bind or start: `OSError` with the
/// errno of the kind of failure where Python has one (so `e.errno == errno.EADDRINUSE` for an
/// address in use, and `PermissionError` for a privileged port); the message names the
/// address.
pub(crate) fn listen(e: io::Error) -> PyErr {
    let name = match e.kind() {
        io::ErrorKind::AddrInUse => "EADDRINUSE",
        io::ErrorKind::AddrNotAvailable => "EADDRNOTAVAIL",
        io::ErrorKind::PermissionDenied => "EACCES",
        _ => return PyErr::from(e),
    };
    Python::attach(|py| {
        let errno = match py.import("errno").and_then(|m| m.getattr(name)) {
            Ok(errno) => errno,
            Err(_) => return PyErr::from(e),
        };
        // OSError(errno, strerror) picks the subclass for the errno (PermissionError...).
        PyOSError::new_err((errno.unbind(), e.to_string()))
    })
}
