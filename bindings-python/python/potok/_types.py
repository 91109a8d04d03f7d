"""Value types shared by the clients, shaped like confluent-kafka's (``TopicPartition``, ``Message``) so code
written for confluent-kafka reads the same."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from . import _native
from .errors import KafkaError

#: Offsets with a meaning, as confluent-kafka names them.
OFFSET_BEGINNING = -2
OFFSET_END = -1
OFFSET_STORED = -1000
OFFSET_INVALID = -1001

#: ``Message.timestamp()`` types.
TIMESTAMP_NOT_AVAILABLE = 0
TIMESTAMP_CREATE_TIME = 1
TIMESTAMP_LOG_APPEND_TIME = 2

Headers = Union[Mapping[str, Optional[bytes]], List[Tuple[str, Optional[bytes]]]]
ConfigValue = Union[str, int, float, bool]


def kafka_config(conf: Mapping[str, Any]) -> List[Tuple[str, str]]:
    """Kafka config pairs from a dict: booleans as Kafka's ``true``/``false``, everything else as ``str``."""
    pairs = []
    for key, value in conf.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        pairs.append((str(key), str(value)))
    return pairs


class TopicPartition:
    """A topic, a partition and optionally an offset (and, in results, an error)."""

    __slots__ = ("topic", "partition", "offset", "metadata", "leader_epoch", "error")

    def __init__(
        self,
        topic: str,
        partition: int = -1,
        offset: int = OFFSET_INVALID,
        metadata: Optional[str] = None,
        leader_epoch: Optional[int] = None,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.metadata = metadata
        self.leader_epoch = leader_epoch
        self.error: Optional[KafkaError] = None

    def _key(self) -> Tuple[str, int]:
        return (self.topic, self.partition)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TopicPartition):
            return NotImplemented
        return (self.topic, self.partition, self.offset) == (other.topic, other.partition, other.offset)

    def __lt__(self, other: "TopicPartition") -> bool:
        return (self.topic, self.partition) < (other.topic, other.partition)

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        error = f",error={self.error!r}" if self.error is not None else ""
        return f"TopicPartition{{topic={self.topic},partition={self.partition},offset={self.offset}{error}}}"


#: One record, as a consumer returns it or a delivery report describes it: ``topic()``, ``partition()``,
#: ``offset()``, ``key()``, ``value()``, ``headers()``, ``timestamp()`` (type, ms), ``error()``,
#: ``leader_epoch()``, ``set_key()``, ``set_value()``, ``set_headers()`` and ``len()`` (of the value), as
#: confluent-kafka's. A native class, so that consumers hand records out without running Python code.
Message = _native.Message


def header_list(headers: Optional[Headers]) -> Optional[List[Tuple[str, Optional[bytes]]]]:
    """Headers as a list of ``(str, bytes|None)``; ``str`` values are encoded as UTF-8, as confluent-kafka does."""
    if headers is None:
        return None
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = []
    for key, value in items:
        if isinstance(value, str):
            value = value.encode()
        out.append((str(key), value))
    return out


def as_dict(pairs: List[Tuple[str, str]]) -> Dict[str, str]:
    return dict(pairs)
