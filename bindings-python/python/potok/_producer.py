"""``Producer``: potok's Kafka producer with confluent-kafka's Python API."""

from __future__ import annotations

import itertools
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from . import _native
from ._types import Headers, Message, TopicPartition, header_list, kafka_config
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


def _as_bytes(data: Any, what: str) -> Optional[bytes]:
    if data is None or isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"{what} must be bytes, str or None, not {type(data).__name__}")


class Producer:
    """A Kafka producer: ``Producer({"bootstrap.servers": ...})`` with Kafka's config keys.

    ``produce()`` queues a record and returns at once, as confluent-kafka's does, even before the topic's
    metadata is known or while no broker is reachable; it raises ``BufferError`` only when ``buffer.memory``
    is full. A record that cannot be delivered within ``delivery.timeout.ms`` (librdkafka's
    ``message.timeout.ms`` is accepted for it) fails in its delivery report, so ``flush(timeout)`` bounds the
    wait. The engine batches, compresses, partitions (murmur2 like Kafka's Java client) and retries. Delivery
    callbacks (``on_delivery=`` per record, or ``"on_delivery"`` in the config) and ``error_cb`` (called with
    a :class:`KafkaError` when a broker cannot be reached) run on the calling thread from :meth:`poll` and
    :meth:`flush`, as in confluent-kafka. ``len(producer)`` is the number of records not yet delivered.
    """

    def __init__(self, conf: Mapping[str, Any], **kwargs: Any) -> None:
        conf = dict(conf, **kwargs)
        self._default_callback: Optional[DeliveryCallback] = conf.pop("on_delivery", None) or conf.pop(
            "delivery.report.callback", None
        )
        self._error_cb: Optional[ErrorCallback] = conf.pop("error_cb", None)
        _librdkafka_timeouts(conf)
        self._native = _native.Producer(kafka_config(conf))
        self._callbacks: Dict[int, Tuple[DeliveryCallback, Optional[bytes], Optional[bytes], Any]] = {}
        self._tokens = itertools.count(1)

    def produce(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        partition: int = -1,
        on_delivery: Optional[DeliveryCallback] = None,
        timestamp: int = 0,
        headers: Optional[Headers] = None,
        callback: Optional[DeliveryCallback] = None,
    ) -> None:
        """Queues one record without blocking; ``partition=-1`` lets the partitioner choose, ``timestamp=0``
        means now. Raises ``BufferError`` when the producer's buffer is full (call :meth:`poll` and retry)."""
        value_bytes = _as_bytes(value, "value")
        key_bytes = _as_bytes(key, "key")
        report = on_delivery or callback or self._default_callback
        token = None
        if report is not None:
            token = next(self._tokens)
            self._callbacks[token] = (report, key_bytes, value_bytes, headers)
        try:
            self._native.send(
                topic,
                value_bytes,
                key_bytes,
                partition if partition >= 0 else None,
                timestamp if timestamp else None,
                header_list(headers),
                token,
            )
        except BaseException:
            if token is not None:
                del self._callbacks[token]
            raise

    def poll(self, timeout: Optional[float] = None) -> int:
        """Serves delivery callbacks (and ``error_cb``), waiting up to ``timeout`` seconds for one; returns how
        many delivery callbacks ran."""
        served = self._serve(self._native.poll(-1.0 if timeout is None else timeout))
        self._serve_errors()
        return served

    def _serve_errors(self) -> None:
        for error in self._native.connection_errors():
            if self._error_cb is not None:
                self._error_cb(error.args[0])

    def _serve(self, reports: List[Tuple[int, str, int, int, int, Optional[BaseException]]]) -> int:
        for token, topic, partition, offset, timestamp, error in reports:
            entry = self._callbacks.pop(token, None)
            if entry is None:
                continue
            callback, key, value, headers = entry
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
        remaining = self._native.flush(timeout)
        while self._serve(self._native.poll(0.0)):
            pass
        self._serve_errors()
        return remaining

    def partitions_for(self, topic: str) -> List[int]:
        return self._native.partitions_for(topic)

    def init_transactions(self, timeout: Optional[float] = None) -> None:
        self._native.init_transactions(timeout)

    def begin_transaction(self) -> None:
        self._native.begin_transaction()

    def send_offsets_to_transaction(
        self, positions: List[TopicPartition], group_metadata: Any, timeout: Optional[float] = None
    ) -> None:
        """Adds a consumer's positions (the next offsets to read) to the transaction."""
        offsets = [(tp.topic, tp.partition, tp.offset, tp.metadata) for tp in positions]
        self._native.send_offsets_to_transaction(offsets, group_metadata, timeout)

    def commit_transaction(self, timeout: Optional[float] = None) -> None:
        self._native.commit_transaction(timeout)
        self.flush(0)

    def abort_transaction(self, timeout: Optional[float] = None) -> None:
        self._native.abort_transaction(timeout)
        self.flush(0)

    def close(self, timeout: Optional[float] = None) -> None:
        """Delivers what is queued (within ``timeout``) and releases the producer's connections."""
        self._native.close(timeout)
        while self._serve(self._native.poll(0.0)):
            pass

    def __len__(self) -> int:
        return int(self._native.in_flight)

    def __enter__(self) -> "Producer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
