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
