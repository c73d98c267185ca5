"""Type stubs of the extension module ``mqlite._mqlite`` (re-exported by ``mqlite``)."""

import asyncio
import os
import pathlib
from collections.abc import Iterable
from typing import final, overload

from typing_extensions import Self, TypeAlias

__all__ = [
    "Broker",
    "BrokerClosed",
    "Client",
    "ClientDisconnected",
    "Config",
    "InvalidClientId",
    "InvalidTopic",
    "LimitExceeded",
    "Message",
    "MessageIterator",
    "MqliteError",
    "NotAuthorized",
    "NotDurable",
    "PayloadTooLarge",
    "Properties",
    "QueueFull",
    "RetainedStoreFull",
    "Server",
    "SessionEnded",
    "SlowConsumer",
    "StoreError",
    "StoreLocked",
    "TakenOver",
    "Timeout",
    "TooManyClients",
    "TooManySubscriptions",
    "Will",
]

_Payload: TypeAlias = bytes | bytearray | memoryview | str

@final
class Broker:
    """An MQTT broker, in memory or durable. Clients of the same process connect with
    ``connect()``; network clients reach the same router through ``listen()``.

    ``Broker(config=Config(...))`` sets limits. ``persistence='DIR'`` makes it durable:
    retained messages, persistent sessions and their queued messages are kept in the store in
    ``DIR`` and survive a restart (or a crash) of the process. ``persistence_sync`` says when
    they reach the disk: ``'commit'`` (the default: before a QoS 1/2 publish, a subscribe or
    the connect of a new persistent session returns; concurrent threads share one fsync),
    ``'periodic'`` (every ``persistence_sync_interval_ms``, default 1000: a power loss loses at
    most that much, a process crash nothing) or ``'none'`` (left to the operating system: a
    process crash loses nothing, a power loss may). Opening raises ``StoreError`` if another
    broker holds ``DIR`` (until it and every client of it are gone) or it was
    written by a newer mqlite (``StoreLocked`` for the first); a damaged store never stops it
    (see ``recovery_summary``).

    Use it as a context manager (or call ``shutdown()``) to close its network listeners, end
    every connection, publishing wills, and wake blocked receivers, which then raise
    ``BrokerClosed``.
    """

    def __new__(
        cls,
        config: Config | None = None,
        *,
        persistence: str | os.PathLike[str] | None = None,
        persistence_sync: str = "commit",
        persistence_sync_interval_ms: int = 1000,
    ) -> Self: ...
    def connect(
        self,
        client_id: str,
        *,
        clean_start: bool = True,
        session_expiry: float | None = 0.0,
        will: Will | None = None,
        username: str | None = None,
        password: _Payload | None = None,
        receive_maximum: int | None = None,
        overflow_policy: str | None = None,
        max_queued_messages: int | None = None,
        auto_ack: bool = False,
    ) -> Client:
        """Connects a client: a new session, or the existing one of that client id.

        ``session_expiry`` is in seconds (``None``: never; default 0: ends at disconnect).
        """
    def listen(
        self,
        address: str | tuple[str, int] = "127.0.0.1:0",
        *,
        workers: int | None = None,
    ) -> Server:
        """Starts the network frontend (MQTT 3.1, 3.1.1 and 5.0 over TCP) on this router.

        ``address`` is ``'host:port'`` or ``(host, port)``; port 0 picks a free port. Raises
        ``ValueError`` for a bad address, ``OSError`` if it cannot be bound (in use...) and
        ``BrokerClosed`` after ``shutdown()``. The server runs until ``Server.close()`` or
        ``shutdown()``.
        """
    def shutdown(self) -> None:
        """Closes the listeners, ends every connection (publishing wills), wakes receivers."""
    def sync(self) -> None:
        """Blocks until everything recorded so far is on disk (an fsync now with
        ``'periodic'`` or ``'none'``); does nothing in memory mode. Raises ``NotDurable`` if
        the store failed.
        """
    @property
    def persistence(self) -> pathlib.Path | None:
        """The store's directory, or ``None`` in memory mode."""
    @property
    def recovery_summary(self) -> str | None:
        """What opening the store found (records recovered, time, damage moved aside to
        ``DIR/damaged-*``), as one line; ``None`` in memory mode.
        """
    @property
    def is_closed(self) -> bool:
        """Whether ``shutdown()`` was called."""
    def stats(self) -> dict[str, int]:
        """A snapshot of the broker's counters, as a dict of ints.

        A durable broker adds its store's figures: ``store_bytes_on_disk``,
        ``store_live_records``, ``store_records_written``, ``store_bytes_written``,
        ``store_fsyncs``, ``store_errors``, ``store_fsync_mean_us``, ``store_fsync_max_us``
        and, from opening the store, ``store_recovery_us``, ``store_records_recovered``,
        ``store_records_discarded`` and ``store_bytes_discarded`` (durations in
        microseconds). In memory mode these keys are absent.
        """
    def __enter__(self) -> Self:
        """Returns the broker itself."""
    def __exit__(self, *_args: object) -> bool:
        """Shuts the broker down; exceptions propagate."""

@final
class Client:
    """A connected client of a ``Broker``: publishes, subscribes and receives.

    Leaving a ``with`` block normally disconnects cleanly; leaving it by an exception
    publishes the will, as does garbage collection without ``disconnect()``.
    """

    @property
    def client_id(self) -> str:
        """The client id (the assigned one if connected with an empty id)."""
    @property
    def session_present(self) -> bool:
        """Whether connect resumed an existing session."""
    @property
    def is_disconnected(self) -> bool:
        """Whether the client was disconnected."""
    def publish(
        self,
        topic: str,
        payload: _Payload,
        *,
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
        fail_if_full: bool = False,
        wait_if_full: float | None = None,
    ) -> None:
        """Publishes ``payload`` to ``topic``.

        On a durable broker a QoS 1 or 2 publish returns once the message is durable (the
        GIL is released meanwhile); ``NotDurable`` is raised if the store failed.
        """
    @overload
    def publish_many(
        self,
        messages: Iterable[tuple[str, _Payload]],
        *,
        topic: None = None,
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
        fail_if_full: bool = False,
        wait_if_full: float | None = None,
    ) -> None:
        """Publishes each ``(topic, payload)`` pair in order, with one GIL release.

        Every item is converted and every topic checked before anything is published. On a
        durable broker a QoS 1 or 2 batch waits for durability once, after the last message
        (one fsync for the batch under ``"commit"``).
        """
    @overload
    def publish_many(
        self,
        messages: Iterable[_Payload],
        *,
        topic: str,
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
        fail_if_full: bool = False,
        wait_if_full: float | None = None,
    ) -> None:
        """Publishes each payload to ``topic`` in order, with one GIL release (and, on a
        durable broker, one durability wait for the batch)."""
    def subscribe(
        self,
        filter: str,
        *,
        qos: int = 0,
        no_local: bool = False,
        retain_as_published: bool = False,
        retain_handling: int = 0,
        subscription_id: int | None = None,
    ) -> int:
        """Subscribes to ``filter``; returns the granted QoS."""
    def unsubscribe(self, filter: str) -> bool:
        """Unsubscribes from ``filter``; returns whether it was subscribed."""
    def recv(self, timeout: float | None = None) -> Message:
        """Waits for the next message; raises ``Timeout`` if none arrived in time."""
    def try_recv(self) -> Message | None:
        """Takes the next message if one is ready; ``None`` otherwise."""
    def recv_many(self, max: int, timeout: float | None = None) -> list[Message]:
        """Waits for a first message, then takes up to ``max`` that are ready."""
    def messages(self, timeout: float | None = None) -> MessageIterator:
        """An iterator over messages that ends when none arrives within ``timeout``."""
    def recv_async(self) -> asyncio.Future[Message]:
        """Awaits the next message on the running asyncio loop."""
    def disconnect(self) -> None:
        """Ends the connection cleanly: the will is discarded. Idempotent."""
    def stats(self) -> dict[str, int]:
        """A snapshot of this client's session, as a dict."""
    def __enter__(self) -> Self:
        """Returns the client itself."""
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        *_rest: object,
    ) -> bool:
        """Disconnects cleanly on a normal exit; publishes the will on an exception."""

@final
class MessageIterator:
    """An iterator over a client's messages (see ``Client.messages``)."""

    def __iter__(self) -> Self:
        """Returns the iterator itself."""
    def __next__(self) -> Message:
        """The next message; stops when none arrives within the timeout."""

@final
class Config:
    """Broker-wide limits and policies, given to ``Broker(config=...)``."""

    def __new__(
        cls,
        *,
        max_queued_messages: int | None = None,
        max_queued_bytes: int | None = None,
        max_inflight_messages: int | None = None,
        overflow_policy: str | None = None,
        queue_qos0_messages: bool | None = None,
        max_payload_size: int | None = None,
        max_topic_length: int | None = None,
        max_topic_levels: int | None = None,
        max_subscriptions_per_client: int | None = None,
        max_retained_messages: int | None = None,
        max_retained_bytes: int | None = None,
        max_clients: int | None = None,
        max_client_id_length: int | None = None,
        shared_subscription_strategy: str | None = None,
        max_session_expiry: float | None = None,
        sys_interval: float | None = None,
    ) -> Self: ...
    @property
    def max_queued_messages(self) -> int:
        """Deliveries a session may hold waiting for its consumer."""
    @property
    def max_payload_size(self) -> int:
        """Largest payload accepted, in bytes."""
    @property
    def max_inflight_messages(self) -> int:
        """QoS 1 and 2 deliveries a session may have unacknowledged at once."""
    @property
    def max_clients(self) -> int:
        """Most sessions connected at once."""
    @property
    def max_queued_bytes(self) -> int:
        """Bytes (payload + topic) a session's queue may hold."""
    @property
    def overflow_policy(self) -> str:
        """What a full queue does: 'drop_newest', 'drop_oldest' or 'disconnect'."""
    @property
    def queue_qos0_messages(self) -> bool:
        """Whether QoS 0 messages are queued for offline persistent sessions."""
    @property
    def max_topic_length(self) -> int:
        """Longest topic name or filter, in bytes."""
    @property
    def max_topic_levels(self) -> int:
        """Most levels in a topic name or filter."""
    @property
    def max_subscriptions_per_client(self) -> int:
        """Most subscriptions one session may hold."""
    @property
    def max_retained_messages(self) -> int:
        """Most retained messages stored."""
    @property
    def max_retained_bytes(self) -> int:
        """Most bytes of retained messages stored."""
    @property
    def max_client_id_length(self) -> int:
        """Longest client id, in bytes."""
    @property
    def shared_subscription_strategy(self) -> str:
        """How shared subscriptions pick a member: 'round_robin', 'random' or 'sticky'."""
    @property
    def max_session_expiry(self) -> float | None:
        """The cap on session expiry, in seconds, or None for no cap."""
    @property
    def sys_interval(self) -> float | None:
        """Seconds between $SYS publications, or None when they are off."""

@final
class Message:
    """A message received by a ``Client``; QoS 1 and 2 messages need ``ack()``."""

    @property
    def topic(self) -> str:
        """The topic it was published to."""
    @property
    def payload(self) -> bytes:
        """The payload."""
    @property
    def qos(self) -> int:
        """The QoS of this delivery."""
    @property
    def retain(self) -> bool:
        """The RETAIN flag as delivered."""
    @property
    def dup(self) -> bool:
        """Set on a redelivery."""
    @property
    def packet_id(self) -> int | None:
        """The packet identifier of a QoS 1 or 2 delivery."""
    @property
    def properties(self) -> Properties | None:
        """The MQTT 5 properties as published, if any."""
    @property
    def message_expiry_interval(self) -> float | None:
        """The seconds left before the message expires, if it has an expiry."""
    @property
    def subscription_ids(self) -> list[int]:
        """The identifiers of the subscriptions that matched."""
    def ack(self) -> None:
        """Acknowledges a QoS 1 or 2 message, freeing its in-flight slot."""

@final
class Properties:
    """MQTT 5 properties of a publication."""

    def __new__(
        cls,
        *,
        payload_format_indicator: bool | None = None,
        message_expiry_interval: float | None = None,
        content_type: str | None = None,
        response_topic: str | None = None,
        correlation_data: _Payload | None = None,
        user_properties: list[tuple[str, str]] | None = None,
    ) -> Self: ...
    @property
    def payload_format_indicator(self) -> bool | None:
        """``True`` if the payload is UTF-8 text."""
    @property
    def message_expiry_interval(self) -> float | None:
        """The message expiry interval in seconds, as published."""
    @property
    def content_type(self) -> str | None:
        """The content type."""
    @property
    def response_topic(self) -> str | None:
        """The response topic."""
    @property
    def correlation_data(self) -> bytes | None:
        """The correlation data."""
    @property
    def user_properties(self) -> list[tuple[str, str]]:
        """The user properties, in order."""
    def __eq__(self, value: object, /) -> bool: ...

@final
class Will:
    """A last will, published when its client ends without a clean disconnect."""

    def __new__(
        cls,
        topic: str,
        payload: _Payload,
        *,
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
        delay: float = 0.0,
    ) -> Self: ...
    @property
    def topic(self) -> str:
        """The will topic."""
    @property
    def payload(self) -> bytes:
        """The will payload."""
    @property
    def qos(self) -> int:
        """The will QoS."""
    @property
    def retain(self) -> bool:
        """Whether the will is retained."""
    @property
    def delay(self) -> float:
        """The will delay interval in seconds."""
    @property
    def properties(self) -> Properties | None:
        """The MQTT 5 properties of the will."""

@final
class Server:
    """A network frontend serving a ``Broker`` over TCP, made by ``Broker.listen()``.

    It runs until ``close()`` (or its ``with`` block ends), the broker's ``shutdown()`` or
    the broker being garbage-collected; dropping this object alone does not stop it.
    """

    @property
    def host(self) -> str:
        """The IP address the first listener is bound to."""
    @property
    def port(self) -> int:
        """The TCP port of the first listener (the one picked for port 0)."""
    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` of the first listener."""
    @property
    def addresses(self) -> list[tuple[str, int]]:
        """``(host, port)`` of every listener."""
    @property
    def url(self) -> str:
        """``'mqtt://host:port'`` of the first listener."""
    @property
    def is_closed(self) -> bool:
        """Whether the server was closed (by ``close()`` or the broker's ``shutdown()``)."""
    def stats(self) -> dict[str, int]:
        """A snapshot of the frontend's counters, as a dict."""
    def close(self) -> None:
        """Closes every network connection and joins the threads. Idempotent."""
    def __enter__(self) -> Self:
        """Returns the server itself."""
    def __exit__(self, *_args: object) -> bool:
        """Closes the server; exceptions propagate."""

class MqliteError(Exception):
    """Base class of every error raised by mqlite."""

class InvalidTopic(MqliteError):
    """A topic name or filter is not valid MQTT."""

class InvalidClientId(MqliteError):
    """The client id is unusable."""

class NotAuthorized(MqliteError):
    """The broker's hooks refused the operation."""

class LimitExceeded(MqliteError):
    """A configured limit was exceeded."""

class PayloadTooLarge(LimitExceeded):
    """The payload is larger than ``max_payload_size``."""

class QueueFull(LimitExceeded):
    """A subscriber's queue was full."""

class RetainedStoreFull(LimitExceeded):
    """The retained store is full."""

class TooManySubscriptions(LimitExceeded):
    """The client holds ``max_subscriptions_per_client`` subscriptions."""

class TooManyClients(LimitExceeded):
    """``max_clients`` clients are already connected."""

class StoreError(MqliteError):
    """The store of a durable broker could not be opened or written."""

class StoreLocked(StoreError):
    """Another broker (of this process or another) holds the store's directory."""

class NotDurable(StoreError):
    """A QoS 1 or 2 message could not be made durable; it was not acknowledged."""

class SessionEnded(MqliteError):
    """The client handle can no longer be used."""

class TakenOver(SessionEnded):
    """Another connection with the same client id took the session over."""

class BrokerClosed(SessionEnded):
    """The broker was shut down."""

class SlowConsumer(SessionEnded):
    """The session ended because its queue overflowed."""

class ClientDisconnected(SessionEnded):
    """The client was disconnected."""

class Timeout(MqliteError, TimeoutError):
    """No message arrived before the timeout (also a built-in TimeoutError)."""
