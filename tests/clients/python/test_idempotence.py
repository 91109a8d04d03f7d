"""Idempotent producers: librdkafka with enable.idempotence=true gets a producer id (InitProducerId) and its
records land exactly once and in order."""

import uuid

from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import BOOTSTRAP, OP_TIMEOUT


def test_idempotent_producer_writes_each_record_once_in_order(topic_factory):
    topic = topic_factory(partitions=1)
    p = Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True, "linger.ms": 5, "batch.num.messages": 100})
    errors = []
    for i in range(3000):
        p.produce(topic, value=str(i).encode(), on_delivery=lambda err, _m: errors.append(err) if err else None)
    assert p.flush(OP_TIMEOUT) == 0
    assert errors == []
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"idem-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False})
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=OP_TIMEOUT)
        assert (low, high) == (0, 3000)
        c.assign([TopicPartition(topic, 0, 0)])
        values = []
        while len(values) < 3000:
            batch = c.consume(1000, timeout=OP_TIMEOUT)
            assert batch, "no records"
            for m in batch:
                assert m.error() is None, m.error()
                values.append(int(m.value()))
        assert values == list(range(3000))
    finally:
        c.close()


def test_retried_batches_after_lost_responses_are_written_once(topic_factory):
    """A proxy drops the responses to two Produce requests after the broker wrote their batches (and cuts the
    connection), so librdkafka sends those batches again with the same sequence numbers: the broker must
    acknowledge the retries with the original offsets and write nothing twice."""
    from dropping_proxy import DroppingProxy

    topic = topic_factory(partitions=1)
    proxy = DroppingProxy(BOOTSTRAP, drop_produce={2, 4})
    try:
        p = Producer(
            {
                "bootstrap.servers": proxy.address,
                "enable.idempotence": True,
                "linger.ms": 0,
                "retry.backoff.ms": 50,
                "reconnect.backoff.ms": 50,
            }
        )
        delivered = []
        for round_ in range(6):
            for i in range(20):
                n = round_ * 20 + i
                p.produce(topic, value=str(n).encode(), on_delivery=lambda err, m: delivered.append((err, m.offset())))
            assert p.flush(OP_TIMEOUT) == 0
        # The broker wrote both batches whose responses were lost; every record was still delivered, so the
        # producer must have sent them again.
        assert proxy.dropped == 2, "the proxy dropped two responses"
    finally:
        proxy.close()
    assert [err for err, _ in delivered if err is not None] == []
    assert sorted(offset for _, offset in delivered) == list(range(120)), "each record acknowledged at its own offset"
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"idem-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False})
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=OP_TIMEOUT)
        assert (low, high) == (0, 120), "no batch was written twice"
        c.assign([TopicPartition(topic, 0, 0)])
        values = []
        while len(values) < 120:
            batch = c.consume(120, timeout=OP_TIMEOUT)
            assert batch, "no records"
            values += [int(m.value()) for m in batch if m.error() is None]
        assert values == list(range(120))
    finally:
        c.close()
