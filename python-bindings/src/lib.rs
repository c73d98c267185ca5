//! `mqlite._mqlite`: the Python extension module of mqlite, an embeddable MQTT broker, in
//! memory or durable. The bindings convert types and handle the GIL; MQTT semantics live in
//! the core crate `mqlite`, the store in `mqlite-store`. The public Python API is
//! re-exported by `python/mqlite/__init__.py`.
//!
//! | module | what lives there |
//! | --- | --- |
//! | `broker`, `config` | `Broker` (durable with `persistence=`), `Config` |
//! | `server` | `Broker.listen()` and `Server`: the network frontend `mqlite-net` |
//! | `client` | `Client` and its blocking receives (GIL released, 100 ms slices) |
//! | `waiter` | `Client.recv_async`: one thread watches every pending asyncio receive |
//! | `message` | `Message`, `Properties`, `Will` |
//! | `errors` | the exception hierarchy and the mapping of core errors |
//! | `convert` | argument conversions (QoS, payloads, seconds) |

mod broker;
mod client;
mod config;
mod convert;
mod errors;
mod message;
mod server;
mod waiter;

use pyo3::prelude::*;

/// Registers the classes, the exceptions and `NEVER_EXPIRE`.
#[pymodule]
fn _mqlite(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<broker::Broker>()?;
    m.add_class::<client::Client>()?;
    m.add_class::<client::MessageIterator>()?;
    m.add_class::<config::Config>()?;
    m.add_class::<message::Message>()?;
    m.add_class::<message::Properties>()?;
    m.add_class::<message::Will>()?;
    m.add_class::<server::Server>()?;
    errors::register(m)?;
    Ok(())
}
