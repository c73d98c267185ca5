//! `recv_async`: asyncio receives without a thread per call. A pending receive parks the
//! session and hands a clone of the client's doorbell to one process-wide waiter thread,
//! which selects over every pending doorbell and, when one rings, schedules the receive
//! again on its event loop with `call_soon_threadsafe`.

use std::sync::{OnceLock, Weak};
use std::task::{Context, Poll, Waker};

use crossbeam_channel::{Receiver, Select, Sender};
use pyo3::prelude::*;

use crate::client::Client;
use crate::errors;
use crate::message::Message;

/// One pending receive: the doorbell to watch and the receive to schedule.
struct Pending {
    doorbell: Receiver<()>,
    wait: Py<AsyncRecv>,
    event_loop: Py<PyAny>,
}

static WAITER: OnceLock<Sender<Pending>> = OnceLock::new();

fn waiter() -> &'static Sender<Pending> {
    WAITER.get_or_init(|| {
        let (tx, rx) = crossbeam_channel::unbounded();
        std::thread::Builder::new()
            .name("mqlite-async-waiter".into())
            .spawn(move || run(&rx))
            .expect("spawning the asyncio waiter thread");
        tx
    })
}

/// The waiter thread: waits for a new pending receive or a doorbell, forever.
fn run(new: &Receiver<Pending>) {
    let mut pending: Vec<Pending> = Vec::new();
    loop {
        let mut select = Select::new();
        select.recv(new);
        for p in &pending {
            select.recv(&p.doorbell);
        }
        let op = select.select();
        let index = op.index();
        if index == 0 {
            match op.recv(new) {
                Ok(p) => pending.push(p),
                Err(_) => return,
            }
            continue;
        }
        // A token, or a disconnected doorbell (the connection ended): either way the receive
        // must look again.
        let _ = op.recv(&pending[index - 1].doorbell);
        // Every receive registered on this doorbell looks again, not only the one whose entry
        // was picked: the one token may have been meant for another (a receive cancelled by
        // `wait_for` leaves its entry behind, and two receives may wait on one client). Those
        // already done return at once; those that find nothing park and register again.
        let rung_bell = pending[index - 1].doorbell.clone();
        let mut rung: Vec<Pending> = pending
            .extract_if(.., |p| p.doorbell.same_channel(&rung_bell))
            .collect();
        // `None`: the interpreter is shutting down (sessions end then, ringing doorbells) and
        // nobody can await anything any more, so the thread stops.
        let attached = Python::try_attach(|py| {
            for p in rung.drain(..) {
                // A closed loop refuses: nobody awaits the future any more.
                let _ =
                    p.event_loop
                        .call_method1(py, "call_soon_threadsafe", (p.wait.clone_ref(py),));
            }
        });
        if attached.is_none() {
            // Python references cannot be released without an interpreter.
            std::mem::forget(pending);
            std::mem::forget(rung);
            return;
        }
    }
}

/// A pending `recv_async`: called on its event loop to try again.
#[pyclass(frozen, module = "mqlite._mqlite")]
#[derive(Debug)]
pub(crate) struct AsyncRecv {
    /// Weak, so that a pending receive keeps no connection alive: a client dropped meanwhile
    /// still publishes its will, and its doorbell disconnects.
    handle: Weak<mqlite::Client>,
    future: Py<PyAny>,
    event_loop: Py<PyAny>,
}

impl AsyncRecv {
    /// Creates the future of a `recv_async` on the running loop and makes a first attempt.
    pub(crate) fn start<'py>(client: &Bound<'py, Client>) -> PyResult<Bound<'py, PyAny>> {
        let py = client.py();
        let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
        let future = event_loop.call_method0("create_future")?;
        let handle = client.get().handle()?;
        let wait = Bound::new(
            py,
            Self {
                handle: std::sync::Arc::downgrade(&handle),
                future: future.clone().unbind(),
                event_loop: event_loop.unbind(),
            },
        )?;
        drop(handle);
        Self::poll(&wait)?;
        Ok(future)
    }

    /// Completes the future if a message is ready or the session ended; otherwise parks and
    /// registers with the waiter thread.
    fn poll(this: &Bound<'_, Self>) -> PyResult<()> {
        let py = this.py();
        let me = this.get();
        let future = me.future.bind(py);
        if future.call_method0("done")?.is_truthy()? {
            return Ok(());
        }
        let Some(handle) = me.handle.upgrade() else {
            let e = errors::disconnected();
            future.call_method1("set_exception", (e.value(py),))?;
            return Ok(());
        };
        // `poll_recv` looks, parks the session, and looks again if something arrived between
        // the two. The task waker it registers is a no-op: the waiter thread watches the
        // doorbell instead, which the session rings as well.
        match handle.poll_recv(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(inner)) => {
                future.call_method1("set_result", (Message { inner },))?;
                return Ok(());
            }
            Poll::Ready(Err(e)) => {
                let e = errors::session(e);
                future.call_method1("set_exception", (e.value(py),))?;
                return Ok(());
            }
            Poll::Pending => {}
        }
        let pending = Pending {
            doorbell: handle.wakeups().clone(),
            wait: this.clone().unbind(),
            event_loop: me.event_loop.clone_ref(py),
        };
        // The waiter thread only stops with the process.
        let _ = waiter().send(pending);
        Ok(())
    }
}

#[pymethods]
impl AsyncRecv {
    /// Tries the receive again (scheduled on the event loop by the waiter thread).
    fn __call__(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::poll(slf)
    }
}
