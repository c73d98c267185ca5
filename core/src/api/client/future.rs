//! Async receiving and publishing with no runtime: [`Client::poll_recv`],
//! [`Client::recv_async`] (a [`Recv`] future), [`Client::stream`] (a [`MessageStream`], a
//! `futures_core::Stream` with the `futures-core` feature), and [`Client::publish_async`]
//! (a [`Publish`] future, which waits for room without blocking a thread). Any executor
//! drives them: the session wakes a receiving task through the client's doorbell
//! (`doorbell.rs`) exactly as it wakes a blocked receive, and a publishing task through
//! the full queue's room waiters (`session/queue.rs`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

use super::Client;
use crate::api::message::Message;
use crate::engine::{Connection, RoomWait, publish_result};
use crate::sync::{Mutex, ValueArc};
use crate::types::error::{PublishError, SessionError, TryRecvError};
use crate::types::publish_options::PublishOptions;
use crate::types::topic::{TopicError, TopicName};

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
            // Registered before the park: a delivery, an acknowledgement or an end either
            // comes before the park (which reports it) or finds the waker (`doorbell.rs`).
            self.doorbell.register(cx.waker());
            if self.conn.park() {
                // Something to look at, or a push in flight (reserved, not yet in the
                // channel): let it land, then look again.
                crate::sync::yield_now();
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

    /// Publishes as [`Client::publish_with`] does, but where that would block the thread
    /// waiting for room in a full subscriber queue ([`PublishOptions::wait_if_full`]), this
    /// future is pending instead, and its task is woken when the subscriber releases room
    /// or the wait's deadline passes. Without `wait_if_full` it completes at its first poll.
    /// Nothing happens until it is polled. Dropped while it waits, it places what is left
    /// under each subscriber's overflow policy at once, as a passed deadline does.
    /// ([`PublishOptions::interrupt`] is for blocking waits and is not asked here.)
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::Future;
    /// use std::pin::pin;
    /// use std::task::{Context, Waker};
    /// use std::time::Duration;
    /// use mqlite::{Broker, Config, ConnectOptions, PublishOptions, QoS};
    /// let broker = Broker::new(Config::default());
    /// let slow = broker.connect(ConnectOptions::new("slow").max_queued_messages(1))?;
    /// slow.subscribe("t", QoS::AtLeastOnce)?;
    /// let publisher = broker.connect(ConnectOptions::new("pub"))?;
    /// let wait = PublishOptions::new(QoS::AtLeastOnce).wait_if_full(Some(Duration::from_secs(5)));
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(pin!(publisher.publish_async("t", "1", &wait)).poll(&mut cx).is_ready());
    /// let mut second = pin!(publisher.publish_async("t", "2", &wait));
    /// assert!(second.as_mut().poll(&mut cx).is_pending(), "the queue holds one");
    /// slow.recv_timeout(Duration::from_secs(1))?.ack(); // room again
    /// assert!(second.poll(&mut cx).is_ready());
    /// assert_eq!(slow.recv_timeout(Duration::from_secs(1))?.payload().as_ref(), b"2");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn publish_async(
        &self,
        topic: &str,
        payload: impl Into<Bytes>,
        options: &PublishOptions,
    ) -> Publish<'_> {
        Publish {
            conn: &self.conn,
            options: options.clone(),
            state: PublishState::Start {
                topic: TopicName::new(topic),
                payload: payload.into(),
            },
            durable: None,
        }
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

/// The future of [`Client::publish_async`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Publish<'a> {
    conn: &'a Connection,
    options: PublishOptions,
    state: PublishState<'a>,
    /// Durable mode: routed, waiting until the store made it durable.
    durable: Option<DurableWait>,
}

/// Waiting, without blocking, for the store to make a ticket durable: the store's callback
/// fills the slot and wakes the task.
#[derive(Debug, Clone)]
struct DurableWait {
    slot: ValueArc<Mutex<DurableSlot>>,
}

#[derive(Debug, Default)]
struct DurableSlot {
    result: Option<Result<(), crate::types::store::StoreError>>,
    waker: Option<Waker>,
}

impl DurableWait {
    /// Asks `engine` to call back once `ticket` is durable.
    fn start(engine: &crate::engine::Engine, ticket: crate::types::store::Ticket) -> Self {
        let wait = Self {
            slot: ValueArc::new(Mutex::new(DurableSlot::default())),
        };
        let slot = wait.slot.clone();
        engine.when_durable(
            ticket,
            Box::new(move |result| {
                let waker = {
                    let mut slot = slot.lock();
                    slot.result = Some(result);
                    slot.waker.take()
                };
                // Woken with no lock held.
                if let Some(waker) = waker {
                    waker.wake();
                }
            }),
        );
        wait
    }

    fn poll(&self, cx: &Context<'_>) -> Poll<Result<(), PublishError>> {
        let mut slot = self.slot.lock();
        match slot.result.take() {
            Some(result) => Poll::Ready(result.map_err(super::not_durable)),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[derive(Debug)]
enum PublishState<'a> {
    /// Not polled yet.
    Start {
        topic: Result<TopicName, TopicError>,
        payload: Bytes,
    },
    /// Routed; some subscribers' queues were full and it waits for room in them.
    Waiting {
        room: RoomWait<'a>,
        /// The first session whose full queue dropped the message at routing.
        full: Option<ValueArc<str>>,
        /// The waker the alarm holds for the deadline, if it was given one.
        alarm: Option<Waker>,
    },
    /// Complete.
    Done,
}

impl Future for Publish<'_> {
    type Output = Result<(), PublishError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(wait) = &this.durable {
            return wait.poll(cx);
        }
        let result = std::task::ready!(this.poll_publish(cx));
        if result.is_ok() && this.options.qos() != crate::types::qos::QoS::AtMostOnce {
            // Durable mode: complete once the store made it durable (the task sleeps; the
            // store's sync is shared with everything else waiting); nothing in memory mode.
            match this.conn.engine().durable_point() {
                None => {}
                Some(Err(e)) => return Poll::Ready(Err(super::not_durable(e))),
                Some(Ok(ticket)) => {
                    let wait = DurableWait::start(this.conn.engine(), ticket);
                    let poll = wait.poll(cx);
                    this.durable = Some(wait);
                    return poll;
                }
            }
        }
        Poll::Ready(result)
    }
}

impl Publish<'_> {
    fn poll_publish(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), PublishError>> {
        let this = self;
        loop {
            match std::mem::replace(&mut this.state, PublishState::Done) {
                PublishState::Start { topic, payload } => {
                    let started = this.conn.publish_start(topic?, payload, &this.options)?;
                    match this.options.wait_if_full {
                        Some(wait) if !started.blocked.is_empty() => {
                            let room = RoomWait::new(this.conn.engine(), started.blocked, wait);
                            this.state = PublishState::Waiting {
                                room,
                                full: started.full,
                                alarm: None,
                            };
                        }
                        _ => return Poll::Ready(publish_result(started.full, &this.options)),
                    }
                }
                PublishState::Waiting {
                    mut room,
                    full,
                    mut alarm,
                } => {
                    if let Poll::Ready(still) = room.poll(cx, false) {
                        return Poll::Ready(publish_result(full.or(still), &this.options));
                    }
                    // The deadline must end the wait even if no room is ever released.
                    if let Some(deadline) = room.deadline()
                        && !alarm.as_ref().is_some_and(|w| w.will_wake(cx.waker()))
                    {
                        this.conn.engine().wake_at(deadline, cx.waker());
                        alarm = Some(cx.waker().clone());
                    }
                    this.state = PublishState::Waiting { room, full, alarm };
                    return Poll::Pending;
                }
                PublishState::Done => return Poll::Ready(Ok(())),
            }
        }
    }
}
