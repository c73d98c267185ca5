//! Async receiving with no runtime: [`Client::poll_recv`], [`Client::recv_async`] (a
//! [`Recv`] future) and [`Client::stream`] (a [`MessageStream`], a `futures_core::Stream`
//! with the `futures-core` feature). Any executor drives them: the session wakes the task
//! through the client's doorbell (`doorbell.rs`) exactly as it wakes a blocked receive.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::Client;
use crate::api::message::Message;
use crate::types::error::{SessionError, TryRecvError};

impl Client {
    /// Polls for the next message: `Ready` with one, or with the reason the handle became
    /// unusable (taken over, or its broker shut down and the queue drained); `Pending` with
    /// the task's waker registered, to be woken when a message may be ready.
    ///
    /// One task at a time should wait on a client: a second task's waker replaces the
    /// first's. A blocking receive on another thread may wait beside it.
    pub fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Result<Message, SessionError>> {
        loop {
            match self.try_recv() {
                Ok(message) => return Poll::Ready(Ok(message)),
                Err(TryRecvError::Session(e)) => return Poll::Ready(Err(e)),
                Err(TryRecvError::Empty) => {}
            }
            // Registered before the park and the liveness check: a delivery or an end that
            // comes after them finds the waker (see `queue.rs` for the park protocol).
            self.doorbell.register(cx.waker());
            if self.conn.check().is_err() {
                return Poll::Ready(match self.try_recv() {
                    Ok(message) => Ok(message),
                    Err(TryRecvError::Session(e)) => Err(e),
                    Err(TryRecvError::Empty) => Err(self.ended()),
                });
            }
            if self.conn.park() {
                continue;
            }
            return Poll::Pending;
        }
    }

    /// Waits for the next message without blocking a thread: `client.recv_async().await`
    /// on any executor (tokio, async-std, smol, a hand-written one). Cancel-safe: a dropped
    /// future loses no message.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::Future;
    /// use std::pin::pin;
    /// use std::task::{Context, Poll, Waker};
    /// use mqlite::{Broker, Config, ConnectOptions, QoS};
    /// let broker = Broker::new(Config::default());
    /// let client = broker.connect(ConnectOptions::new("c"))?;
    /// client.subscribe("t", QoS::AtMostOnce)?;
    /// let mut cx = Context::from_waker(Waker::noop());
    /// let mut recv = pin!(client.recv_async());
    /// assert!(recv.as_mut().poll(&mut cx).is_pending(), "nothing published yet");
    /// client.publish("t", "hi", QoS::AtMostOnce, false)?;
    /// let Poll::Ready(message) = recv.poll(&mut cx) else { panic!("woken, so ready") };
    /// assert_eq!(message?.payload().as_ref(), b"hi");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_async(&self) -> Recv<'_> {
        Recv { client: self }
    }

    /// The messages of this client as a stream; it ends when the handle becomes unusable.
    /// With the `futures-core` feature it is a `futures_core::Stream`; without, call
    /// [`MessageStream::next`].
    pub fn stream(&self) -> MessageStream<'_> {
        MessageStream { client: self }
    }
}

/// The future of [`Client::recv_async`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Recv<'a> {
    client: &'a Client,
}

impl Future for Recv<'_> {
    type Output = Result<Message, SessionError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.client.poll_recv(cx)
    }
}

/// The messages of a client as a stream ([`Client::stream`]).
#[derive(Debug)]
pub struct MessageStream<'a> {
    client: &'a Client,
}

impl MessageStream<'_> {
    /// The next message, or `None` once the handle is unusable.
    pub async fn next(&mut self) -> Option<Message> {
        self.client.recv_async().await.ok()
    }

    /// Polls for the next message, as `futures_core::Stream::poll_next` does.
    pub fn poll_next_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.client.poll_recv(cx).map(Result::ok)
    }
}

#[cfg(feature = "futures-core")]
impl futures_core::Stream for MessageStream<'_> {
    type Item = Message;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.get_mut().poll_next_message(cx)
    }
}
