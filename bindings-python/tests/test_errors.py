"""The exception tree: codes, names, retriability, subclasses, and confluent-kafka's KafkaError shape."""

from __future__ import annotations

import pickle

import pytest

import potok
from potok import errors


def test_every_registered_subclass_round_trips_through_its_code():
    for cls in set(errors._BY_CODE.values()):
        exc = errors._from_native("", cls.default_code, cls.default_name, "why", cls.default_retriable)
        assert type(exc) is cls
        assert exc.code == cls.default_code
        assert exc.name == cls.default_name
        assert exc.retriable == cls.default_retriable
        assert exc.message == "why"
        assert isinstance(exc, potok.KafkaException)
        assert getattr(potok, cls.__name__) is cls


def test_protocol_error_classes_take_names_and_retriable_from_the_engine():
    # One table in the engine (potok::host::error): the Python classes' names and retriable defaults match it.
    for code, cls in errors._BY_CODE.items():
        if code > 0:
            assert (cls.default_name, cls.default_retriable) == potok._native.kafka_error_info(code), cls
    assert potok.UnknownTopicOrPartitionError.default_retriable
    assert potok.NotCoordinatorError.default_retriable
    assert not potok.TopicAlreadyExistsError.default_retriable
    assert not potok.ProducerFencedError.default_retriable


def test_unregistered_codes_are_plain_kafka_exceptions_with_their_code():
    exc = errors._from_native("", 87, "INVALID_RECORD", "bad record", False)
    assert type(exc) is potok.KafkaException
    assert (exc.code, exc.name, exc.retriable) == (87, "INVALID_RECORD", False)
    assert str(exc) == "INVALID_RECORD: bad record"


def test_confluent_kafka_shape():
    exc = errors._from_native("", 3, "UNKNOWN_TOPIC_OR_PARTITION", "no such topic", True)
    assert isinstance(exc, potok.UnknownTopicOrPartitionError)
    err = exc.args[0]
    assert isinstance(err, potok.KafkaError)
    assert err.code() == potok.KafkaError.UNKNOWN_TOPIC_OR_PART
    assert err == potok.KafkaError.UNKNOWN_TOPIC_OR_PART
    assert err.name() == "UNKNOWN_TOPIC_OR_PARTITION"
    assert err.str() == "no such topic"
    assert err.retriable() and not err.fatal()


def test_builtin_bases_for_idiomatic_catching():
    assert issubclass(potok.KafkaTimeoutError, TimeoutError)
    assert issubclass(potok.KafkaConfigError, ValueError)
    assert issubclass(potok.KafkaConnectionError, ConnectionError)
    assert issubclass(potok.SerializationError, ValueError)
    with pytest.raises(TimeoutError):
        raise potok.KafkaTimeoutError("took too long")


def test_raising_a_subclass_with_a_message_fills_its_code():
    exc = potok.TopicAlreadyExistsError("topic t exists")
    assert (exc.code, exc.name, exc.message) == (36, "TOPIC_ALREADY_EXISTS", "topic t exists")


def test_exceptions_pickle():
    exc = errors._from_native("", 36, "TOPIC_ALREADY_EXISTS", "exists", False)
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is type(exc) and again.code == 36 and again.message == "exists"


def test_client_side_kinds_pick_their_classes():
    for kind, cls in errors._BY_KIND.items():
        exc = errors._from_native(kind, cls.default_code, cls.default_name, "m", False)
        assert type(exc) is cls
