"""``Consumer``: potok's Kafka consumer with confluent-kafka's Python API."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from . import _native
from ._types import OFFSET_INVALID, Message, TopicPartition, kafka_config

RebalanceCallback = Callable[["Consumer", List[TopicPartition]], None]

# librdkafka's names for auto.offset.reset values, accepted as confluent-kafka users write them.
_RESET_SYNONYMS = {"smallest": "earliest", "beginning": "earliest", "largest": "latest", "end": "latest"}
# librdkafka settings with no meaning for potok's engine: offsets are stored as messages are handed out (its
# default behaviour), and logging/statistics callbacks have no engine counterpart.
_IGNORED = {"enable.auto.offset.store", "stats_cb", "throttle_cb", "logger", "on_commit"}

_Record = Tuple[str, int, int, int, int, Optional[bytes], Optional[bytes], List[Tuple[str, Optional[bytes]]], Optional[int]]


def _message(record: _Record) -> Message:
    topic, partition, offset, timestamp, timestamp_type, key, value, headers, leader_epoch = record
    return Message(topic, partition, offset, key, value, headers or None, timestamp, timestamp_type, None, leader_epoch)


def _pairs(partitions: Sequence[TopicPartition]) -> List[Tuple[str, int]]:
    return [(tp.topic, tp.partition) for tp in partitions]


class Consumer:
    """A Kafka consumer: ``Consumer({"bootstrap.servers": ..., "group.id": ...})`` with Kafka's config keys.

    ``subscribe()`` joins the group (callbacks ``on_assign``/``on_revoke``/``on_lost`` run on the calling
    thread from inside :meth:`poll`); ``assign()`` reads partitions without group management. :meth:`poll`
    returns one :class:`Message` or None, :meth:`consume` a list. With ``enable.auto.commit`` (the default) the
    offsets of messages handed out are committed every ``auto.commit.interval.ms``, before a rebalance and on
    :meth:`close`. ``error_cb`` (in the config) is called with a :class:`KafkaError` from :meth:`poll` and
    :meth:`consume` when a broker cannot be reached, as in confluent-kafka. Blocking calls release the GIL.
    """

    def __init__(self, conf: Mapping[str, Any], **kwargs: Any) -> None:
        conf = dict(conf, **kwargs)
        for key in _IGNORED:
            conf.pop(key, None)
        self._error_cb: Optional[Callable[[Any], None]] = conf.pop("error_cb", None)
        reset = conf.get("auto.offset.reset")
        if isinstance(reset, str) and reset in _RESET_SYNONYMS:
            conf["auto.offset.reset"] = _RESET_SYNONYMS[reset]
        self._native = _native.Consumer(kafka_config(conf))
        self._callbacks: Dict[str, Optional[RebalanceCallback]] = {}

    def _dispatch(self, kind: str, partitions: List[Tuple[str, int]]) -> None:
        tps = [TopicPartition(topic, partition) for topic, partition in partitions]
        callback = self._callbacks.get(kind)
        if callback is None and kind == "lost":
            # confluent-kafka calls on_revoke for lost partitions when no on_lost is given.
            callback = self._callbacks.get("revoke")
        if callback is not None:
            callback(self, tps)

    def subscribe(
        self,
        topics: List[str],
        on_assign: Optional[RebalanceCallback] = None,
        on_revoke: Optional[RebalanceCallback] = None,
        on_lost: Optional[RebalanceCallback] = None,
    ) -> None:
        """Subscribes to topics (a name starting with ``^`` is a regular expression), replacing the last
        subscription."""
        if isinstance(topics, str):
            raise TypeError("topics must be a list of topic names")
        self._callbacks = {"assign": on_assign, "revoke": on_revoke, "lost": on_lost}
        self._native.subscribe(list(topics), self._dispatch)

    def unsubscribe(self) -> None:
        self._native.unsubscribe()

    def assign(self, partitions: List[TopicPartition]) -> None:
        """Reads these partitions without group management; a partition's ``offset`` (if set) is where to
        start (``OFFSET_BEGINNING``, ``OFFSET_END`` or an offset)."""
        items = [
            (tp.topic, tp.partition, None if tp.offset == OFFSET_INVALID else tp.offset) for tp in partitions
        ]
        self._native.assign(items)

    def unassign(self) -> None:
        self._native.assign([])

    def assignment(self) -> List[TopicPartition]:
        return [TopicPartition(topic, partition) for topic, partition in self._native.assignment()]

    def poll(self, timeout: Optional[float] = None) -> Optional[Message]:
        """One message, or None if none arrived within ``timeout`` seconds (None or -1: wait as long as it
        takes)."""
        records = self._native.poll(1, None if timeout is None or timeout < 0 else timeout)
        self._serve_errors()
        return _message(records[0]) if records else None

    def _serve_errors(self) -> None:
        for error in self._native.connection_errors():
            if self._error_cb is not None:
                self._error_cb(error.args[0])

    def consume(self, num_messages: int = 1, timeout: Optional[float] = None) -> List[Message]:
        """Up to ``num_messages`` messages: what is available once the first arrives, or [] after ``timeout``."""
        records = self._native.poll(num_messages, None if timeout is None or timeout < 0 else timeout)
        self._serve_errors()
        return [_message(r) for r in records]

    def commit(
        self,
        message: Optional[Message] = None,
        offsets: Optional[List[TopicPartition]] = None,
        asynchronous: bool = True,
    ) -> Optional[List[TopicPartition]]:
        """Commits a message's offset (the next one to read), explicit ``offsets``, or everything handed out so
        far. The synchronous form returns the committed partitions; the asynchronous one returns None."""
        if message is not None and offsets is not None:
            raise ValueError("commit() takes message or offsets, not both")
        items: Optional[List[Tuple[str, int, int, Optional[str]]]] = None
        if message is not None:
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            if topic is None or partition is None or offset is None:
                raise ValueError("commit() needs a consumed message (with a topic, partition and offset)")
            items = [(topic, partition, offset + 1, None)]
        elif offsets is not None:
            items = [(tp.topic, tp.partition, tp.offset, tp.metadata) for tp in offsets]
        committed = self._native.commit(items, asynchronous)
        if asynchronous:
            return None
        return [TopicPartition(topic, partition, offset) for topic, partition, offset in committed]

    def committed(self, partitions: List[TopicPartition], timeout: Optional[float] = None) -> List[TopicPartition]:
        """The group's committed offsets (``OFFSET_INVALID`` where none)."""
        found = self._native.committed(_pairs(partitions), timeout)
        return [TopicPartition(t, p, offset, metadata or None) for t, p, offset, metadata in found]

    def position(self, partitions: List[TopicPartition]) -> List[TopicPartition]:
        """The offset of the next message :meth:`poll` returns per partition (``OFFSET_INVALID`` if unknown)."""
        return [TopicPartition(t, p, offset) for t, p, offset in self._native.position(_pairs(partitions))]

    def seek(self, partition: TopicPartition) -> None:
        """Makes the next message of ``partition`` be the one at ``partition.offset``."""
        self._native.seek(partition.topic, partition.partition, partition.offset)

    def pause(self, partitions: List[TopicPartition]) -> None:
        self._native.pause(_pairs(partitions))

    def resume(self, partitions: List[TopicPartition]) -> None:
        self._native.resume(_pairs(partitions))

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: Optional[float] = None, cached: bool = False
    ) -> Tuple[int, int]:
        """``(low, high)``: the log start offset and the offset after the last message (asked of the leader)."""
        return self._native.watermark_offsets(partition.topic, partition.partition, timeout)

    def offsets_for_times(
        self, partitions: List[TopicPartition], timeout: Optional[float] = None
    ) -> List[TopicPartition]:
        """For each partition whose ``offset`` holds a timestamp (ms), the first offset at or after it (-1: none)."""
        found = self._native.offsets_for_times([(tp.topic, tp.partition, tp.offset) for tp in partitions], timeout)
        return [TopicPartition(t, p, offset) for t, p, offset in found]

    def consumer_group_metadata(self) -> Any:
        """The group membership, for :meth:`potok.Producer.send_offsets_to_transaction`."""
        return self._native.group_metadata()

    def close(self) -> None:
        """Commits (with auto commit), leaves the group and closes the connections."""
        self._native.close()

    def __enter__(self) -> "Consumer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
