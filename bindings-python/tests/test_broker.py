"""The embedded broker: start, stop, ports, data directories, config, errors."""

from __future__ import annotations

import os
import socket

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from conftest import OP_TIMEOUT, fresh

import potok


def produce(bootstrap: str, topic: str, values, partition: int = 0) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for value in values:
        producer.produce(topic, value, partition=partition)
    assert producer.flush(OP_TIMEOUT) == 0


def read_all(bootstrap: str, topic: str, count: int, partition: int = 0):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": fresh("g"), "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, partition, 0)])
        out = []
        for message in consumer.consume(count, timeout=OP_TIMEOUT):
            assert message.error() is None, message.error()
            out.append(message.value())
        return out
    finally:
        consumer.close()


def test_starts_on_a_free_port_and_serves_kafka_clients():
    with potok.Broker() as broker:
        assert broker.running
        assert broker.host == "127.0.0.1"
        assert broker.port > 0
        assert broker.bootstrap_servers == f"127.0.0.1:{broker.port}"
        # A real TCP listener: a plain socket connects.
        with socket.create_connection((broker.host, broker.port), timeout=5):
            pass
        topic = fresh("hello")
        produce(broker.bootstrap_servers, topic, [b"a", b"b"])
        assert read_all(broker.bootstrap_servers, topic, 2) == [b"a", b"b"]
    assert not broker.running


def test_two_brokers_at_once_get_different_ports_and_directories():
    with potok.Broker() as a, potok.Broker() as b:
        assert a.port != b.port
        assert a.log_dir != b.log_dir


def test_ephemeral_directory_is_removed_on_stop_and_stop_is_idempotent():
    broker = potok.Broker()
    log_dir = broker.log_dir
    assert os.path.isdir(log_dir)
    broker.stop()
    assert not os.path.exists(log_dir)
    broker.stop()
    assert "stopped" in repr(broker)


def test_log_dirs_keeps_records_across_restarts(tmp_path):
    data = tmp_path / "data"
    topic = fresh("durable")
    with potok.Broker(log_dirs=str(data)) as broker:
        assert broker.log_dir == str(data)
        produce(broker.bootstrap_servers, topic, [b"kept-1", b"kept-2"])
    # Kafka's on-disk layout, and the clean-shutdown marker of a clean stop.
    assert (data / f"{topic}-0" / "00000000000000000000.log").is_file()
    assert (data / ".kafka_cleanshutdown").exists()
    with potok.Broker(log_dirs=str(data)) as broker:
        assert read_all(broker.bootstrap_servers, topic, 2) == [b"kept-1", b"kept-2"]


def test_config_dict_and_keyword_overrides():
    # Keyword arguments are Kafka keys with underscores for dots, and win over the dict.
    with potok.Broker({"num.partitions": 2, "auto.create.topics.enable": True}, num_partitions=3) as broker:
        assert broker.config["num.partitions"] == "3"
        assert broker.config["auto.create.topics.enable"] == "true"
        topic = fresh("auto")
        produce(broker.bootstrap_servers, topic, [b"x"])
        metadata = AdminClient({"bootstrap.servers": broker.bootstrap_servers}).list_topics(topic, timeout=OP_TIMEOUT)
        assert len(metadata.topics[topic].partitions) == 3


def test_auto_create_disabled_is_honoured():
    with potok.Broker(auto_create_topics_enable=False) as broker:
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "message.timeout.ms": 2000})
        errors = []
        producer.produce(fresh("absent"), b"x", on_delivery=lambda err, msg: errors.append(err))
        producer.flush(OP_TIMEOUT)
        assert len(errors) == 1 and errors[0] is not None
        assert errors[0].name() in ("UNKNOWN_TOPIC_OR_PART", "_MSG_TIMED_OUT", "_UNKNOWN_TOPIC")


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"no_such_key": 1}, "no.such.key"),
        ({"num_partitions": "many"}, "num.partitions"),
        ({"num_partitions": 0}, "num.partitions"),
        ({"config": {"listeners": "nonsense"}}, "listeners"),
    ],
)
def test_bad_config_raises_a_config_error_naming_the_key(kwargs, key):
    with pytest.raises(potok.KafkaConfigError) as info:
        potok.Broker(**kwargs)
    assert key in str(info.value)
    assert info.value.code == potok.KafkaError._INVALID_ARG
    assert info.value.name == "_INVALID_ARG"
    assert not info.value.retriable
    assert isinstance(info.value, ValueError)


def test_port_in_use_raises_os_error():
    with potok.Broker() as broker:
        with pytest.raises(OSError) as info:
            potok.Broker(port=broker.port)
        assert info.value.errno is not None
        assert str(broker.port) in str(info.value)


def test_explicit_port(tmp_path):
    # Pick a free port, release it, and ask the broker for it by number.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with potok.Broker(port=port) as broker:
        assert broker.port == port


def test_client_config_helper():
    with potok.Broker() as broker:
        conf = broker.client_config(group_id="g1", enable_auto_commit=False)
        assert conf == {"bootstrap.servers": broker.bootstrap_servers, "group.id": "g1", "enable.auto.commit": False}


def test_version():
    assert potok.__version__.count(".") == 2
