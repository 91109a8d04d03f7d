"""``Producer``: potok's Kafka producer with confluent-kafka's Python API."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional

from . import _native
from ._types import Message, TopicPartition, header_list, kafka_config
from .errors import KafkaException

DeliveryCallback = Callable[[Optional[Any], Message], None]
ErrorCallback = Callable[[Any], None]


def _librdkafka_timeouts(conf: Dict[str, Any]) -> None:
    """``message.timeout.ms`` is librdkafka's name for ``delivery.timeout.ms``. The engine checks
    ``delivery.timeout.ms >= linger.ms + request.timeout.ms`` as Kafka's Java client does, so a short message
    timeout brings the request timeout (30 s unless set) down with it."""
    timeout = conf.pop("message.timeout.ms", None)
    if timeout is None:
        return
    conf.setdefault("delivery.timeout.ms", timeout)
    if "request.timeout.ms" not in conf:
        linger = int(conf.get("linger.ms", 5))
        conf["request.timeout.ms"] = max(1, min(30_000, int(conf["delivery.timeout.ms"]) - linger))


class Producer(_native.Producer):
    """A Kafka producer: ``Producer({"bootstrap.servers": ...})`` with Kafka's config keys.

    ``produce(topic, value=None, key=None, partition=-1, on_delivery=None, timestamp=0, headers=None)``
    queues a record and returns at once, as confluent-kafka's does, even before the topic's metadata is known or
    while no broker is reachable; it raises ``BufferError`` only when ``buffer.memory`` is full. It is the native
    engine's own method (this class subclasses it), so a call costs one crossing into native code, as
    confluent-kafka's C ``produce()`` does. A record that cannot be delivered within ``delivery.timeout.ms``
    (librdkafka's ``message.timeout.ms`` is accepted for it) fails in its delivery report, so ``flush(timeout)``
    bounds the wait. The engine batches, compresses, partitions (murmur2 like Kafka's Java client) and retries.
    Delivery callbacks (``on_delivery=`` per record, or ``"on_delivery"`` in the config) and ``error_cb``
    (called with a :class:`KafkaError` when a broker cannot be reached) run on the calling thread from
    :meth:`poll` and :meth:`flush`, as in confluent-kafka. ``len(producer)`` is the number of records not yet
    delivered.
    """

    _error_cb: Optional[ErrorCallback]

    def __new__(cls, conf: Mapping[str, Any], **kwargs: Any) -> "Producer":
        conf = dict(conf, **kwargs)
        default_callback: Optional[DeliveryCallback] = conf.pop("on_delivery", None) or conf.pop(
            "delivery.report.callback", None
        )
        error_cb: Optional[ErrorCallback] = conf.pop("error_cb", None)
        _librdkafka_timeouts(conf)
        self = super().__new__(cls, kafka_config(conf), default_callback)
        self._error_cb = error_cb
        return self

    def __init__(self, conf: Mapping[str, Any], **kwargs: Any) -> None:
        """Configured by ``__new__`` (the native producer is made there)."""

    def poll(self, timeout: Optional[float] = None) -> int:
        """Serves delivery callbacks (and ``error_cb``), waiting up to ``timeout`` seconds for one; returns how
        many delivery callbacks ran."""
        served = self._serve(self._reports(-1.0 if timeout is None else timeout))
        self._serve_errors()
        return served

    def _serve_errors(self) -> None:
        for error in self._connection_errors():
            if self._error_cb is not None:
                self._error_cb(error.args[0])

    @staticmethod
    def _serve(reports: List[_native._DeliveryReport]) -> int:
        for callback, key, value, headers, topic, partition, offset, timestamp, error in reports:
            kafka_error = error.args[0] if isinstance(error, KafkaException) else None
            message = Message(
                topic if error is None else None,
                partition if error is None else None,
                offset if error is None else None,
                key,
                value,
                header_list(headers),
                timestamp,
                1 if timestamp >= 0 else 0,
                kafka_error,
            )
            callback(kafka_error, message)
        return len(reports)

    def flush(self, timeout: Optional[float] = None) -> int:
        """Sends everything queued and waits up to ``timeout`` seconds (None: as long as it takes) for every
        record; serves their callbacks. Returns the number of records still in flight."""
        remaining = self._flush(timeout)
        while self._serve(self._reports(0.0)):
            pass
        self._serve_errors()
        return remaining

    def send_offsets_to_transaction(
        self, positions: List[TopicPartition], group_metadata: Any, timeout: Optional[float] = None
    ) -> None:
        """Adds a consumer's positions (the next offsets to read) to the transaction."""
        offsets = [(tp.topic, tp.partition, tp.offset, tp.metadata) for tp in positions]
        self._send_offsets_to_transaction(offsets, group_metadata, timeout)

    def commit_transaction(self, timeout: Optional[float] = None) -> None:
        self._commit_transaction(timeout)
        self.flush(0)

    def abort_transaction(self, timeout: Optional[float] = None) -> None:
        self._abort_transaction(timeout)
        self.flush(0)

    def close(self, timeout: Optional[float] = None) -> None:
        """Delivers what is queued (within ``timeout``) and releases the producer's connections."""
        self._close(timeout)
        while self._serve(self._reports(0.0)):
            pass

    def __enter__(self) -> "Producer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
