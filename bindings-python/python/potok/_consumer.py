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

def _pairs(partitions: Sequence[TopicPartition]) -> List[Tuple[str, int]]:
    return [(tp.topic, tp.partition) for tp in partitions]


class Consumer(_native.Consumer):
    """A Kafka consumer: ``Consumer({"bootstrap.servers": ..., "group.id": ...})`` with Kafka's config keys.

    ``subscribe()`` joins the group (callbacks ``on_assign``/``on_revoke``/``on_lost`` run on the calling
    thread from inside :meth:`poll`); ``assign()`` reads partitions without group management. :meth:`poll`
    returns one :class:`Message` or None, :meth:`consume` a list. With ``enable.auto.commit`` (the default) the
    offsets of messages handed out are committed every ``auto.commit.interval.ms``, before a rebalance and on
    :meth:`close`. ``error_cb`` (in the config) is called with a :class:`KafkaError` from :meth:`poll` and
    :meth:`consume` when a broker cannot be reached, as in confluent-kafka. Blocking calls release the GIL.
    :meth:`poll` and :meth:`consume` are the native engine's own methods (this class subclasses it), so a call
    costs one crossing into native code, and each message is made there, as in confluent-kafka.
    """

    _callbacks: Dict[str, Optional[RebalanceCallback]]

    def __new__(cls, conf: Mapping[str, Any], **kwargs: Any) -> "Consumer":
        conf = dict(conf, **kwargs)
        for key in _IGNORED:
            conf.pop(key, None)
        error_cb: Optional[Callable[[Any], None]] = conf.pop("error_cb", None)
        reset = conf.get("auto.offset.reset")
        if isinstance(reset, str) and reset in _RESET_SYNONYMS:
            conf["auto.offset.reset"] = _RESET_SYNONYMS[reset]
        self = super().__new__(cls, kafka_config(conf), error_cb)
        self._callbacks = {}
        return self

    def __init__(self, conf: Mapping[str, Any], **kwargs: Any) -> None:
        """Configured by ``__new__`` (the native consumer is made there)."""

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
        self._subscribe(list(topics), self._dispatch)

    def assign(self, partitions: List[TopicPartition]) -> None:
        """Reads these partitions without group management; a partition's ``offset`` (if set) is where to
        start (``OFFSET_BEGINNING``, ``OFFSET_END`` or an offset)."""
        items = [
            (tp.topic, tp.partition, None if tp.offset == OFFSET_INVALID else tp.offset) for tp in partitions
        ]
        self._assign(items)

    def unassign(self) -> None:
        self._assign([])

    def assignment(self) -> List[TopicPartition]:
        return [TopicPartition(topic, partition) for topic, partition in self._assignment()]

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
        committed = self._commit(items, asynchronous)
        if asynchronous:
            return None
        return [TopicPartition(topic, partition, offset) for topic, partition, offset in committed]

    def committed(self, partitions: List[TopicPartition], timeout: Optional[float] = None) -> List[TopicPartition]:
        """The group's committed offsets (``OFFSET_INVALID`` where none)."""
        found = self._committed(_pairs(partitions), timeout)
        return [TopicPartition(t, p, offset, metadata or None) for t, p, offset, metadata in found]

    def position(self, partitions: List[TopicPartition]) -> List[TopicPartition]:
        """The offset of the next message :meth:`poll` returns per partition (``OFFSET_INVALID`` if unknown)."""
        return [TopicPartition(t, p, offset) for t, p, offset in self._position(_pairs(partitions))]

    def seek(self, partition: TopicPartition) -> None:
        """Makes the next message of ``partition`` be the one at ``partition.offset``."""
        self._seek(partition.topic, partition.partition, partition.offset)

    def pause(self, partitions: List[TopicPartition]) -> None:
        self._pause(_pairs(partitions))

    def resume(self, partitions: List[TopicPartition]) -> None:
        self._resume(_pairs(partitions))

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: Optional[float] = None, cached: bool = False
    ) -> Tuple[int, int]:
        """``(low, high)``: the log start offset and the offset after the last message (asked of the leader)."""
        return self._watermark_offsets(partition.topic, partition.partition, timeout)

    def offsets_for_times(
        self, partitions: List[TopicPartition], timeout: Optional[float] = None
    ) -> List[TopicPartition]:
        """For each partition whose ``offset`` holds a timestamp (ms), the first offset at or after it (-1: none)."""
        found = self._offsets_for_times([(tp.topic, tp.partition, tp.offset) for tp in partitions], timeout)
        return [TopicPartition(t, p, offset) for t, p, offset in found]

    def consumer_group_metadata(self) -> Any:
        """The group membership, for :meth:`potok.Producer.send_offsets_to_transaction`."""
        return self._group_metadata()

    def __enter__(self) -> "Consumer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
