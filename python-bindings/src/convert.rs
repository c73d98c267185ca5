//! Argument conversions shared by the classes: QoS, payloads and durations. Bad arguments
//! raise `TypeError` / `ValueError` here, never an mqlite exception.

use std::time::Duration;

use mqlite::{Bytes, QoS};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString};

/// The QoS for 0, 1 or 2. Taken as any integer, so that `-1` or `300` is a `ValueError`
/// like `3`, not an `OverflowError` from the conversion.
pub(crate) fn qos(value: i64) -> PyResult<QoS> {
    u8::try_from(value)
        .ok()
        .and_then(QoS::from_u8)
        .ok_or_else(|| PyValueError::new_err(format!("qos must be 0, 1 or 2, not {value}")))
}

/// A payload from `bytes`, `bytearray`, `memoryview` or `str` (encoded as UTF-8).
pub(crate) fn payload(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Bytes> {
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(Bytes::copy_from_slice(b.as_bytes()));
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Bytes::copy_from_slice(s.to_cow()?.as_bytes()));
    }
    if let Ok(b) = value.cast::<PyByteArray>() {
        return Ok(Bytes::from(b.to_vec()));
    }
    if value.hasattr("__buffer__")? || value.get_type().name()? == "memoryview" {
        let bytes = value.py().get_type::<PyBytes>().call1((value,))?;
        let bytes = bytes.cast::<PyBytes>()?;
        return Ok(Bytes::copy_from_slice(bytes.as_bytes()));
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be bytes, bytearray, memoryview or str, not {}",
        value.get_type().name()?
    )))
}

/// A duration from seconds; `None` and infinity mean none.
pub(crate) fn seconds(value: Option<f64>, what: &str) -> PyResult<Option<Duration>> {
    let Some(secs) = value else { return Ok(None) };
    if secs.is_nan() || secs < 0.0 {
        return Err(PyValueError::new_err(format!(
            "{what} must be a non-negative number of seconds, not {secs}"
        )));
    }
    Ok(Duration::try_from_secs_f64(secs).ok())
}

/// A duration that must be finite.
pub(crate) fn finite_seconds(value: f64, what: &str) -> PyResult<Duration> {
    seconds(Some(value), what)?
        .ok_or_else(|| PyValueError::new_err(format!("{what} must be finite, not {value}")))
}
