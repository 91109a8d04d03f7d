"""potok: a Kafka-compatible streaming engine for Python.

``potok.Broker()`` starts a Kafka-compatible broker inside this process in milliseconds, on a real TCP port
that any Kafka client (confluent-kafka, kafka-python, the Java client, ...) can use. ``potok.Producer``,
``potok.Consumer`` and ``potok.AdminClient`` are Kafka clients with confluent-kafka's API, run by the same
native engine; they work against the embedded broker and against Apache Kafka. The errors potok raises are
the typed exceptions in :mod:`potok.errors`, re-exported here. :mod:`potok.serialization` has the
serializers (string, integer, double, JSON with JSON Schema validation, Avro) as confluent-kafka's callables.
"""

from . import admin, errors, serialization
from ._broker import Broker
from . import _native
from ._native import version as _native_version
from ._consumer import Consumer
from ._producer import Producer
from ._types import (
    Message,
    TopicPartition,
    OFFSET_BEGINNING,
    OFFSET_END,
    OFFSET_STORED,
    OFFSET_INVALID,
    TIMESTAMP_NOT_AVAILABLE,
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
)
from .admin import AdminClient
from .errors import (
    ConcurrentTransactionsError,
    CoordinatorNotAvailableError,
    CorruptRecordError,
    GroupAuthorizationFailedError,
    GroupIdNotFoundError,
    IllegalGenerationError,
    InvalidArgumentError,
    InvalidConfigError,
    InvalidPartitionsError,
    InvalidProducerEpochError,
    InvalidReplicationFactorError,
    InvalidRequestError,
    InvalidTopicError,
    InvalidTxnStateError,
    KafkaClosedError,
    KafkaConfigError,
    KafkaConnectionError,
    KafkaError,
    KafkaException,
    KafkaProtocolError,
    KafkaStateError,
    KafkaTimeoutError,
    KafkaWakeupError,
    NonEmptyGroupError,
    NotCoordinatorError,
    NotLeaderOrFollowerError,
    OffsetOutOfRangeError,
    OutOfOrderSequenceError,
    ProducerFencedError,
    RebalanceInProgressError,
    RecordTooLargeError,
    RequestTimedOutError,
    SerializationError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    UnknownMemberIdError,
    UnknownTopicOrPartitionError,
    exception_for,
)

__version__: str = _native_version()


def set_log_level(level: "str | None") -> None:
    """Which of the engine's log records reach :mod:`logging` (loggers ``potok.*``, e.g. ``potok.net``):
    ``"DEBUG"``, ``"INFO"`` (the default), ``"WARNING"``, ``"ERROR"``, or ``None`` for none. The records then
    go through the logger's own level and handlers as any other record does."""
    _native.forward_logs(level)


# The engine logs through Python's `logging` from the start (records at INFO and above).
_native.forward_logs("INFO")

__all__ = [
    "AdminClient",
    "Broker",
    "Consumer",
    "Producer",
    "admin",
    "errors",
    "serialization",
    "__version__",
    "set_log_level",
    "Message",
    "TopicPartition",
    "OFFSET_BEGINNING",
    "OFFSET_END",
    "OFFSET_STORED",
    "OFFSET_INVALID",
    "TIMESTAMP_NOT_AVAILABLE",
    "TIMESTAMP_CREATE_TIME",
    "TIMESTAMP_LOG_APPEND_TIME",
    "ConcurrentTransactionsError",
    "CoordinatorNotAvailableError",
    "CorruptRecordError",
    "GroupAuthorizationFailedError",
    "GroupIdNotFoundError",
    "IllegalGenerationError",
    "InvalidArgumentError",
    "InvalidConfigError",
    "InvalidPartitionsError",
    "InvalidProducerEpochError",
    "InvalidReplicationFactorError",
    "InvalidRequestError",
    "InvalidTopicError",
    "InvalidTxnStateError",
    "KafkaClosedError",
    "KafkaConfigError",
    "KafkaConnectionError",
    "KafkaError",
    "KafkaException",
    "KafkaProtocolError",
    "KafkaStateError",
    "KafkaTimeoutError",
    "KafkaWakeupError",
    "NonEmptyGroupError",
    "NotCoordinatorError",
    "NotLeaderOrFollowerError",
    "OffsetOutOfRangeError",
    "OutOfOrderSequenceError",
    "ProducerFencedError",
    "RebalanceInProgressError",
    "RecordTooLargeError",
    "RequestTimedOutError",
    "SerializationError",
    "TopicAlreadyExistsError",
    "TopicAuthorizationFailedError",
    "UnknownMemberIdError",
    "UnknownTopicOrPartitionError",
    "exception_for",
]
