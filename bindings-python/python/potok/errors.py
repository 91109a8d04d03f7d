"""Typed exceptions mirroring Kafka's errors.

Every error potok raises is a :class:`KafkaException`. It carries ``code`` (Kafka's protocol error code, or one
of librdkafka's negative local codes such as ``-185`` ``_TIMED_OUT`` for errors that never crossed the wire),
``name`` (Kafka's upper-case name, e.g. ``UNKNOWN_TOPIC_OR_PARTITION``) and ``retriable``. The common errors
have their own subclasses, so ``except potok.UnknownTopicOrPartitionError`` works; the others arrive as a plain
:class:`KafkaException` with the right code and name.

As in confluent-kafka, ``exc.args[0]`` is a :class:`KafkaError` value with ``code()``, ``name()``, ``str()`` and
``retriable()`` methods, and :class:`KafkaError` has the code constants (``KafkaError.UNKNOWN_TOPIC_OR_PART``,
``KafkaError._TIMED_OUT``), so code written for confluent-kafka's exceptions keeps working.
"""

from __future__ import annotations

import builtins
from typing import Callable, Dict, Optional, Tuple, Type, TypeVar

from . import _native


class KafkaError:
    """One Kafka error: a code, its name, a human-readable message and whether retrying can help."""

    # librdkafka's local (negative) codes for errors that have no Kafka protocol code.
    _BAD_MSG = -199
    _FAIL = -196
    _TRANSPORT = -195
    _DESTROY = -197
    _PARTITION_EOF = -191
    _TIMED_OUT = -185
    _QUEUE_FULL = -184
    _INVALID_ARG = -186
    _STATE = -172
    _INTR = -141
    _VALUE_SERIALIZATION = -161
    _KEY_SERIALIZATION = -162
    _KEY_DESERIALIZATION = -160
    _VALUE_DESERIALIZATION = -159
    # Kafka's protocol codes, under confluent-kafka's names (which abbreviate a few of Kafka's).
    NO_ERROR = 0
    OFFSET_OUT_OF_RANGE = 1
    CORRUPT_MESSAGE = 2
    UNKNOWN_TOPIC_OR_PART = 3
    NOT_LEADER_FOR_PARTITION = 6
    REQUEST_TIMED_OUT = 7
    MSG_SIZE_TOO_LARGE = 10
    COORDINATOR_NOT_AVAILABLE = 15
    NOT_COORDINATOR = 16
    TOPIC_EXCEPTION = 17
    ILLEGAL_GENERATION = 22
    UNKNOWN_MEMBER_ID = 25
    REBALANCE_IN_PROGRESS = 27
    TOPIC_AUTHORIZATION_FAILED = 29
    GROUP_AUTHORIZATION_FAILED = 30
    TOPIC_ALREADY_EXISTS = 36
    INVALID_PARTITIONS = 37
    INVALID_REPLICATION_FACTOR = 38
    INVALID_CONFIG = 40
    INVALID_REQUEST = 42
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45
    INVALID_PRODUCER_EPOCH = 47
    INVALID_TXN_STATE = 48
    CONCURRENT_TRANSACTIONS = 51
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
    NON_EMPTY_GROUP = 68
    GROUP_ID_NOT_FOUND = 69
    PRODUCER_FENCED = 90

    __slots__ = ("_code", "_name", "_message", "_retriable", "_fatal")

    def __init__(
        self,
        code: int,
        name: Optional[str] = None,
        message: Optional[str] = None,
        retriable: bool = False,
        fatal: bool = False,
    ) -> None:
        self._code = int(code)
        self._name = name if name is not None else _NAMES.get(self._code, "UNKNOWN")
        self._message = message if message is not None else self._name
        self._retriable = bool(retriable)
        self._fatal = bool(fatal)

    def code(self) -> int:
        return self._code

    def name(self) -> str:
        return self._name

    def str(self) -> builtins.str:
        return self._message

    def retriable(self) -> bool:
        return self._retriable

    def fatal(self) -> bool:
        return self._fatal

    def __eq__(self, other: object) -> bool:
        # confluent-kafka compares errors with their codes (`err == KafkaError._PARTITION_EOF`).
        if isinstance(other, KafkaError):
            return self._code == other._code
        if isinstance(other, int):
            return self._code == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._code)

    def __repr__(self) -> builtins.str:
        return f"KafkaError{{code={self._name},val={self._code},str={self._message!r}}}"

    def __str__(self) -> builtins.str:
        return self._message


_NAMES: Dict[int, str] = {
    -199: "_BAD_MSG",
    -197: "_DESTROY",
    -196: "_FAIL",
    -195: "_TRANSPORT",
    -191: "_PARTITION_EOF",
    -186: "_INVALID_ARG",
    -185: "_TIMED_OUT",
    -184: "_QUEUE_FULL",
    -172: "_STATE",
    -141: "_INTR",
    -162: "_KEY_SERIALIZATION",
    -161: "_VALUE_SERIALIZATION",
    -160: "_KEY_DESERIALIZATION",
    -159: "_VALUE_DESERIALIZATION",
}


class KafkaException(Exception):
    """Base of every potok error; ``args[0]`` is the :class:`KafkaError`."""

    #: The code this class stands for (subclasses set it; the base takes the code it is given).
    default_code: int = KafkaError._FAIL
    default_name: str = "_FAIL"
    default_retriable: bool = False

    def __init__(self, error: "KafkaError | str | None" = None, *args: object) -> None:
        if not isinstance(error, KafkaError):
            cls = type(self)
            error = KafkaError(cls.default_code, cls.default_name, error, cls.default_retriable)
        super().__init__(error, *args)

    @property
    def error(self) -> KafkaError:
        error: KafkaError = self.args[0]
        return error

    @property
    def code(self) -> int:
        return self.error.code()

    @property
    def name(self) -> str:
        return self.error.name()

    @property
    def retriable(self) -> bool:
        return self.error.retriable()

    @property
    def message(self) -> str:
        return self.error.str()

    def __str__(self) -> str:
        error = self.error
        return f"{error.name()}: {error.str()}" if error.str() != error.name() else error.name()


_BY_CODE: Dict[int, Type[KafkaException]] = {}
_E = TypeVar("_E", bound=Type[KafkaException])


def _register(code: int, name: str, retriable: Optional[bool] = None) -> Callable[[_E], _E]:
    # A Kafka code's retriable flag comes from the engine's table (one table for every binding); only the
    # client-side classes, which have librdkafka's local codes, give theirs here.
    if retriable is None:
        retriable = code >= 0 and _native.kafka_error_info(code)[1]

    def wrap(cls: _E) -> _E:
        cls.default_code = code
        cls.default_name = name
        cls.default_retriable = retriable
        _BY_CODE[code] = cls
        _NAMES.setdefault(code, name)
        return cls

    return wrap


# Errors raised on the client side, before or without a broker's answer.
@_register(KafkaError._TIMED_OUT, "_TIMED_OUT", True)
class KafkaTimeoutError(KafkaException, TimeoutError):
    """An operation did not finish within its timeout."""


@_register(KafkaError._INVALID_ARG, "_INVALID_ARG")
class KafkaConfigError(KafkaException, ValueError):
    """A configuration key is unknown or its value is malformed; the message names the key."""


@_register(KafkaError._TRANSPORT, "_TRANSPORT", True)
class KafkaConnectionError(KafkaException, ConnectionError):
    """The connection to a broker failed or was closed."""


@_register(KafkaError._DESTROY, "_DESTROY")
class KafkaClosedError(KafkaException):
    """The client was closed."""


@_register(KafkaError._VALUE_SERIALIZATION, "_VALUE_SERIALIZATION")
class SerializationError(KafkaException, ValueError):
    """A value could not be serialized or deserialized (the message names the failing field).

    ``code`` tells the side: ``_KEY_SERIALIZATION``, ``_VALUE_SERIALIZATION``, ``_KEY_DESERIALIZATION`` or
    ``_VALUE_DESERIALIZATION``. ``field_paths`` holds the JSON Pointers of the failing fields (e.g.
    ``"/DeliveryAddress/PinCode"``; ``""`` is the whole value) when the failure is about fields.
    """

    field_paths: Tuple[str, ...] = ()


@_register(KafkaError._STATE, "_STATE")
class KafkaStateError(KafkaException):
    """The call is not allowed in the client's current state (e.g. commit outside a transaction)."""


@_register(KafkaError._BAD_MSG, "_BAD_MSG")
class KafkaProtocolError(KafkaException):
    """A broker sent something the client cannot parse, or supports no usable version of an API."""


@_register(KafkaError._INTR, "_INTR")
class KafkaWakeupError(KafkaException):
    """``Consumer.wakeup()`` interrupted a blocking call."""


class InvalidArgumentError(KafkaException, ValueError):
    """An argument is invalid (an empty topic name, a partition the topic does not have, ...)."""

    default_code = KafkaError._INVALID_ARG
    default_name = "_INVALID_ARG"


# Errors with Kafka protocol codes (names as in Kafka's `Errors` enum; retriable as the engine classifies them).
@_register(1, "OFFSET_OUT_OF_RANGE")
class OffsetOutOfRangeError(KafkaException):
    pass


@_register(2, "CORRUPT_MESSAGE")
class CorruptRecordError(KafkaException):
    pass


@_register(3, "UNKNOWN_TOPIC_OR_PARTITION")
class UnknownTopicOrPartitionError(KafkaException):
    pass


@_register(6, "NOT_LEADER_OR_FOLLOWER")
class NotLeaderOrFollowerError(KafkaException):
    pass


@_register(7, "REQUEST_TIMED_OUT")
class RequestTimedOutError(KafkaException):
    pass


@_register(10, "MESSAGE_TOO_LARGE")
class RecordTooLargeError(KafkaException):
    pass


@_register(15, "COORDINATOR_NOT_AVAILABLE")
class CoordinatorNotAvailableError(KafkaException):
    pass


@_register(16, "NOT_COORDINATOR")
class NotCoordinatorError(KafkaException):
    pass


@_register(17, "INVALID_TOPIC_EXCEPTION")
class InvalidTopicError(KafkaException):
    pass


@_register(22, "ILLEGAL_GENERATION")
class IllegalGenerationError(KafkaException):
    pass


@_register(25, "UNKNOWN_MEMBER_ID")
class UnknownMemberIdError(KafkaException):
    pass


@_register(27, "REBALANCE_IN_PROGRESS")
class RebalanceInProgressError(KafkaException):
    pass


@_register(29, "TOPIC_AUTHORIZATION_FAILED")
class TopicAuthorizationFailedError(KafkaException):
    pass


@_register(30, "GROUP_AUTHORIZATION_FAILED")
class GroupAuthorizationFailedError(KafkaException):
    pass


@_register(36, "TOPIC_ALREADY_EXISTS")
class TopicAlreadyExistsError(KafkaException):
    pass


@_register(37, "INVALID_PARTITIONS")
class InvalidPartitionsError(KafkaException):
    pass


@_register(38, "INVALID_REPLICATION_FACTOR")
class InvalidReplicationFactorError(KafkaException):
    pass


@_register(40, "INVALID_CONFIG")
class InvalidConfigError(KafkaException):
    pass


@_register(42, "INVALID_REQUEST")
class InvalidRequestError(KafkaException):
    pass


@_register(45, "OUT_OF_ORDER_SEQUENCE_NUMBER")
class OutOfOrderSequenceError(KafkaException):
    pass


@_register(47, "INVALID_PRODUCER_EPOCH")
class InvalidProducerEpochError(KafkaException):
    pass


@_register(48, "INVALID_TXN_STATE")
class InvalidTxnStateError(KafkaException):
    pass


@_register(51, "CONCURRENT_TRANSACTIONS")
class ConcurrentTransactionsError(KafkaException):
    pass


@_register(68, "NON_EMPTY_GROUP")
class NonEmptyGroupError(KafkaException):
    pass


@_register(69, "GROUP_ID_NOT_FOUND")
class GroupIdNotFoundError(KafkaException):
    pass


@_register(90, "PRODUCER_FENCED")
class ProducerFencedError(KafkaException):
    pass


def exception_for(error: KafkaError) -> KafkaException:
    """The exception for `error`: its registered subclass, else a plain :class:`KafkaException`."""
    return _BY_CODE.get(error.code(), KafkaException)(error)


# The classes of client-side errors, by the kind potok._native names (it decides by the engine's error variant).
_BY_KIND: Dict[str, Type[KafkaException]] = {
    "timeout": KafkaTimeoutError,
    "config": KafkaConfigError,
    "connection": KafkaConnectionError,
    "protocol": KafkaProtocolError,
    "closed": KafkaClosedError,
    "wakeup": KafkaWakeupError,
    "serialization": SerializationError,
    "invalid_argument": InvalidArgumentError,
    "state": KafkaStateError,
}


def _from_native(kind: str, code: int, name: str, message: str, retriable: bool) -> KafkaException:
    # Called by potok._native to build an engine error as the matching typed exception; an empty kind means
    # a Kafka error, classified by its protocol code.
    cls = _BY_KIND.get(kind) or _BY_CODE.get(code, KafkaException)
    return cls(KafkaError(code, name, message, retriable))


__all__ = [
    "KafkaError",
    "ConcurrentTransactionsError",
    "CoordinatorNotAvailableError",
    "CorruptRecordError",
    "GroupAuthorizationFailedError",
    "GroupIdNotFoundError",
    "IllegalGenerationError",
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
    "KafkaException",
    "KafkaProtocolError",
    "KafkaWakeupError",
    "InvalidArgumentError",
    "KafkaStateError",
    "KafkaTimeoutError",
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
