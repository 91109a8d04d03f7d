"""potok.Consumer end to end against the embedded broker: confluent-kafka's API (poll one message, consume a
list, commits, positions, seeks, pauses, offsets, rebalance callbacks on the calling thread) and a
consume-transform-produce transaction with consumer_group_metadata()."""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path

import pytest
from conftest import OP_TIMEOUT, fresh, wait_until

import potok

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python" / "names.py"


def produce(bootstrap, topic, count, partition=-1, prefix="v", timestamp=0):
    producer = potok.Producer({"bootstrap.servers": bootstrap, "linger.ms": 2})
    for i in range(count):
        producer.produce(topic, f"{prefix}{i}", key=f"k{i}", partition=partition, timestamp=timestamp,
                         headers=[("h", b"x")])
    assert producer.flush(OP_TIMEOUT) == 0
    producer.close()


def consumer_for(bootstrap, **conf):
    return potok.Consumer({"bootstrap.servers": bootstrap, "auto.offset.reset": "earliest", **conf})


def drain(consumer, count, timeout=OP_TIMEOUT):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < count and time.monotonic() < deadline:
        out.extend(consumer.consume(count - len(out), timeout=1.0))
    return out


def test_poll_returns_one_message_with_every_field(potok_broker, potok_new_topic):
    topic = potok_new_topic("poll")
    produce(potok_broker.bootstrap_servers, topic, 5, timestamp=1_700_000_000_000)
    consumer = consumer_for(potok_broker.bootstrap_servers, **{"group.id": fresh("g")})
    consumer.assign([potok.TopicPartition(topic, 0, potok.OFFSET_BEGINNING)])
    message = wait_until(lambda: consumer.poll(0.5), what="a message")
    assert isinstance(message, potok.Message) and message.error() is None
    assert (message.topic(), message.partition(), message.offset()) == (topic, 0, 0)
    assert (message.key(), message.value()) == (b"k0", b"v0")
    assert message.headers() == [("h", b"x")]
    assert message.timestamp() == (potok.TIMESTAMP_CREATE_TIME, 1_700_000_000_000)
    # The other four were fetched with the first but are handed out one per poll, in order.
    assert [consumer.poll(OP_TIMEOUT).offset() for _ in range(4)] == [1, 2, 3, 4]
    assert consumer.poll(0.2) is None
    assert consumer.position([potok.TopicPartition(topic, 0)])[0].offset == 5
    consumer.close()


def test_commits_count_only_messages_handed_out(potok_broker, potok_new_topic):
    topic = potok_new_topic("commit")
    group = fresh("g")
    produce(potok_broker.bootstrap_servers, topic, 20)
    consumer = consumer_for(potok_broker.bootstrap_servers, **{"group.id": group, "enable.auto.commit": False})
    tp = potok.TopicPartition(topic, 0)
    consumer.assign([potok.TopicPartition(topic, 0, 0)])
    first = wait_until(lambda: consumer.consume(3, 1.0), what="messages")
    assert [m.offset() for m in first] == [0, 1, 2]
    # Seventeen more sit in the buffer: the position and a plain commit still say 3.
    assert consumer.position([tp])[0].offset == 3
    committed = consumer.commit(asynchronous=False)
    assert [(c.topic, c.partition, c.offset) for c in committed] == [(topic, 0, 3)]
    assert consumer.committed([tp], timeout=OP_TIMEOUT)[0].offset == 3
    consumer.commit(message=first[0], asynchronous=False)
    assert consumer.committed([tp], timeout=OP_TIMEOUT)[0].offset == 1
    consumer.commit(offsets=[potok.TopicPartition(topic, 0, 7, metadata="note")], asynchronous=False)
    got = consumer.committed([tp], timeout=OP_TIMEOUT)[0]
    assert (got.offset, got.metadata) == (7, "note")
    consumer.commit(offsets=[potok.TopicPartition(topic, 0, 9)])
    wait_until(lambda: consumer.committed([tp], timeout=OP_TIMEOUT)[0].offset == 9, what="async commit")
    consumer.close()

    # A new member of the group starts where the last commit left off.
    again = consumer_for(potok_broker.bootstrap_servers, **{"group.id": group, "enable.auto.commit": False})
    again.assign([tp])
    assert wait_until(lambda: again.poll(0.5), what="a message").offset() == 9
    assert again.committed([potok.TopicPartition(topic, 0)])[0].offset == 9
    unknown = again.committed([potok.TopicPartition(fresh("none"), 0)], timeout=OP_TIMEOUT)[0]
    assert unknown.offset == potok.OFFSET_INVALID
    again.close()


def test_seek_pause_resume_watermarks_and_times(potok_broker, potok_new_topic):
    topic = potok_new_topic("seek")
    bootstrap = potok_broker.bootstrap_servers
    produce(bootstrap, topic, 10, timestamp=1_000_000)
    produce(bootstrap, topic, 10, prefix="w", timestamp=2_000_000)
    consumer = consumer_for(bootstrap, **{"group.id": fresh("g")})
    tp = potok.TopicPartition(topic, 0)
    consumer.assign([potok.TopicPartition(topic, 0, 0)])
    assert consumer.assignment() == [tp]
    assert consumer.get_watermark_offsets(tp, timeout=OP_TIMEOUT) == (0, 20)
    found = consumer.offsets_for_times([potok.TopicPartition(topic, 0, 1_500_000)], timeout=OP_TIMEOUT)
    assert found[0].offset == 10
    assert consumer.offsets_for_times([potok.TopicPartition(topic, 0, 9_000_000)], OP_TIMEOUT)[0].offset == -1

    assert wait_until(lambda: consumer.poll(0.5), what="a message").offset() == 0
    consumer.seek(potok.TopicPartition(topic, 0, 15))
    assert consumer.poll(OP_TIMEOUT).value() == b"w5"

    # Paused: nothing comes back, not even what was already fetched; resumed: it continues where it stopped.
    consumer.pause([tp])
    assert consumer.poll(0.5) is None
    assert consumer.position([tp])[0].offset == 16
    consumer.resume([tp])
    assert [m.offset() for m in drain(consumer, 4)] == [16, 17, 18, 19]
    consumer.seek(potok.TopicPartition(topic, 0, potok.OFFSET_BEGINNING))
    assert consumer.poll(OP_TIMEOUT).offset() == 0

    with pytest.raises(potok.KafkaException):
        consumer.seek(potok.TopicPartition(fresh("unassigned"), 0, 0))
    consumer.unassign()
    assert consumer.assignment() == []
    consumer.close()


def test_subscribe_with_rebalance_callbacks_on_the_calling_thread(potok_broker, potok_new_topic):
    topic = potok_new_topic("group", partitions=4)
    bootstrap = potok_broker.bootstrap_servers
    produce(bootstrap, topic, 40)
    group = fresh("g")
    caller = threading.get_ident()
    events = []

    def on_assign(consumer, partitions):
        assert threading.get_ident() == caller
        events.append(("assign", sorted(tp.partition for tp in partitions)))

    def on_revoke(consumer, partitions):
        assert threading.get_ident() == caller
        events.append(("revoke", sorted(tp.partition for tp in partitions)))

    first = consumer_for(bootstrap, **{"group.id": group, "session.timeout.ms": 10000})
    first.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    read = drain(first, 40)
    assert sorted(m.value() for m in read) == sorted(f"v{i}".encode() for i in range(40))
    assert events == [("assign", [0, 1, 2, 3])]
    assert sorted(tp.partition for tp in first.assignment()) == [0, 1, 2, 3]

    # A second member joins: the first gives up partitions inside its own poll, committing what it consumed.
    second = consumer_for(bootstrap, **{"group.id": group, "session.timeout.ms": 10000})
    second.subscribe([topic])
    stop = threading.Event()

    def keep_second_polling():
        while not stop.is_set():
            second.poll(0.1)

    poller = threading.Thread(target=keep_second_polling)
    poller.start()
    try:
        wait_until(lambda: first.poll(0.1) is None and len(first.assignment()) == 2, what="the rebalance")
    finally:
        stop.set()
        poller.join(OP_TIMEOUT)
    assert ("revoke", [0, 1, 2, 3]) in events
    assert events[-1][0] == "assign" and len(events[-1][1]) == 2
    committed = first.committed([potok.TopicPartition(topic, p) for p in range(4)], timeout=OP_TIMEOUT)
    assert sum(tp.offset for tp in committed) == 40
    metadata = first.consumer_group_metadata()
    assert metadata is not None
    second.close()
    first.close()


def test_callback_exceptions_surface_from_poll(potok_broker, potok_new_topic):
    topic = potok_new_topic("cberr")
    consumer = consumer_for(potok_broker.bootstrap_servers, **{"group.id": fresh("g")})

    def on_assign(consumer, partitions):
        raise RuntimeError("from on_assign")

    consumer.subscribe([topic], on_assign=on_assign)
    with pytest.raises(RuntimeError, match="from on_assign"):
        deadline = time.monotonic() + OP_TIMEOUT
        while time.monotonic() < deadline:
            consumer.poll(0.2)
    consumer.close()


def test_poll_releases_the_gil(potok_broker, potok_new_topic):
    topic = potok_new_topic("gil")
    consumer = consumer_for(potok_broker.bootstrap_servers, **{"group.id": fresh("g")})
    consumer.assign([potok.TopicPartition(topic, 0, 0)])
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.01)

    thread = threading.Thread(target=ticker)
    thread.start()
    try:
        assert consumer.poll(1.0) is None
    finally:
        stop.set()
        thread.join(OP_TIMEOUT)
    assert len(ticks) >= 20
    consumer.close()


def test_errors_are_typed(potok_broker):
    with pytest.raises(potok.KafkaConfigError):
        potok.Consumer({"bootstrap.servers": potok_broker.bootstrap_servers, "no.such.key": "1"})
    with pytest.raises(potok.KafkaConfigError):
        potok.Consumer({"bootstrap.servers": potok_broker.bootstrap_servers, "enable.auto.commit": "maybe"})
    consumer = potok.Consumer({"bootstrap.servers": potok_broker.bootstrap_servers})
    with pytest.raises(potok.KafkaException):
        consumer.subscribe(["t"])  # no group.id
    with pytest.raises(potok.KafkaException):
        consumer.poll(0.1)  # neither subscribed nor assigned
    with pytest.raises(potok.KafkaException):
        consumer.consume(0, 0.1)
    consumer.close()


def test_consume_transform_produce_in_a_transaction(potok_broker, potok_new_topic):
    bootstrap = potok_broker.bootstrap_servers
    source, sink = potok_new_topic("src"), potok_new_topic("sink")
    produce(bootstrap, source, 10)
    group = fresh("g")
    consumer = consumer_for(bootstrap, **{"group.id": group, "enable.auto.commit": False,
                                          "isolation.level": "read_committed"})
    consumer.subscribe([source])
    producer = potok.Producer({"bootstrap.servers": bootstrap, "transactional.id": fresh("tx")})
    producer.init_transactions(OP_TIMEOUT)
    messages = drain(consumer, 10)
    assert len(messages) == 10
    producer.begin_transaction()
    for m in messages:
        producer.produce(sink, m.value().upper())
    positions = consumer.position(consumer.assignment())
    producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), OP_TIMEOUT)
    producer.commit_transaction(OP_TIMEOUT)
    assert consumer.committed([potok.TopicPartition(source, 0)], timeout=OP_TIMEOUT)[0].offset == 10
    consumer.close()

    reader = consumer_for(bootstrap, **{"group.id": fresh("g"), "isolation.level": "read_committed"})
    reader.assign([potok.TopicPartition(sink, 0, 0)])
    assert sorted(m.value() for m in drain(reader, 10)) == sorted(f"V{i}".encode() for i in range(10))
    reader.close()
    producer.close()


def load_names_example():
    spec = importlib.util.spec_from_file_location("names_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_course_names_exercise(potok_broker):
    # CURRICULUM.md §7: 100 fake names to `names`, read back in `names-consumer-group` (fresh names here so the
    # session's shared broker stays clean for other tests).
    names = load_names_example()
    topic, group = fresh("names"), fresh("names-consumer-group")
    read = names.run(potok_broker.bootstrap_servers, topic=topic, group=group, quiet=True)
    assert len(read) == 100 and all(" " in n for n in read)
    admin = potok.AdminClient({"bootstrap.servers": potok_broker.bootstrap_servers})
    offsets = admin.list_consumer_group_offsets(group).result(OP_TIMEOUT)
    assert sum(tp.offset for tp in offsets) == 100
    admin.close()
