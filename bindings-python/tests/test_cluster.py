"""The embedded cluster: three nodes in this process, seen through confluent-kafka's admin client."""

from __future__ import annotations

import os
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import potok


def wait_for(what, check, timeout=30.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except KafkaException as e:  # a cluster still electing or registering answers partially
            last = e
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last error: {last})")


def brokers(bootstrap: str):
    return sorted(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).brokers)


def test_three_nodes_replicate_and_survive_a_killed_node():
    with potok.Cluster(brokers=3) as cluster:
        assert len(cluster.bootstrap_servers.split(",")) == 3
        assert cluster.running == [1, 2, 3]
        assert sorted(cluster.log_dirs) == [1, 2, 3] and len(set(cluster.log_dirs.values())) == 3
        assert all(os.path.isdir(d) for d in cluster.log_dirs.values())
        # Started once every broker was registered and unfenced: no waiting for them.
        assert brokers(cluster.bootstrap_servers) == [1, 2, 3]
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
        admin.create_topics([NewTopic("invoice", 3, 3)])["invoice"].result(30)
        topic = wait_for("invoice", lambda: admin.list_topics("invoice", timeout=10).topics["invoice"].partitions)
        assert sorted(p.leader for p in topic.values()) == [1, 2, 3], "one partition led by each broker"
        assert all(sorted(p.replicas) == [1, 2, 3] for p in topic.values())

        # acks=all: confluent-kafka's delivery reports come once every in-sync replica has the record.
        producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "all"})
        acked = []
        for i in range(60):
            producer.produce("invoice", f"v{i}".encode(), partition=i % 3, on_delivery=lambda e, m: acked.append((e, m)))
        assert producer.flush(30) == 0
        assert all(e is None for e, _ in acked) and len(acked) == 60

        cluster.kill_broker(2)
        assert cluster.running == [1, 3]
        wait_for("broker 2 fenced", lambda: brokers(cluster.bootstrap_servers) == [1, 3])
        wait_for(
            "leaders off broker 2",
            lambda: all(p.leader in (1, 3) for p in admin.list_topics("invoice", timeout=10).topics["invoice"].partitions.values()),
        )
        # Broker 2's partitions lost a replica from their ISR, and nothing acknowledged was lost with it.
        isrs = {p.id: sorted(p.isrs) for p in admin.list_topics("invoice", timeout=10).topics["invoice"].partitions.values()}
        assert all(2 not in isr for isr in isrs.values()), isrs
        consumer = Consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": "check", "auto.offset.reset": "earliest"})
        consumer.assign([TopicPartition("invoice", p, OFFSET_BEGINNING) for p in range(3)])
        values = set()
        deadline = time.monotonic() + 60
        while len(values) < 60 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                values.add(msg.value().decode())
        consumer.close()
        assert values == {f"v{i}" for i in range(60)}

        cluster.start_broker(2)
        assert brokers(cluster.bootstrap_servers) == [1, 2, 3], "start_broker returns once it is unfenced"
        wait_for(
            "broker 2 back in every ISR",
            lambda: all(len(p.isrs) == 3 for p in admin.list_topics("invoice", timeout=10).topics["invoice"].partitions.values()),
            timeout=60,
        )
        cluster.stop_broker(3)
        wait_for("broker 3 stopped", lambda: brokers(cluster.bootstrap_servers) == [1, 2])


def test_bad_node_ids_and_sizes_are_refused():
    with pytest.raises(potok.errors.InvalidArgumentError):
        potok.Cluster(brokers=0)
    with pytest.raises(potok.errors.InvalidArgumentError):
        potok.Cluster(brokers=3, controllers=7)  # at most 9 nodes in all
    with potok.Cluster(brokers=1) as cluster:
        with pytest.raises(potok.errors.InvalidArgumentError):
            cluster.stop_broker(5)
        cluster.stop_broker(1)
        with pytest.raises(potok.errors.KafkaStateError):
            cluster.kill_broker(1)


def test_dedicated_controller_min_isr_refuses_acks_all_with_two_brokers_down():
    # The course's min-ISR exercise: RF 3, min.insync.replicas=2, two of three brokers stopped. With the
    # controller quorum on a node of its own (node 4), the ISR shrinks and acks=all gets NOT_ENOUGH_REPLICAS.
    with potok.Cluster(brokers=3, controllers=1) as cluster:
        assert cluster.running == [1, 2, 3, 4]
        assert len(cluster.bootstrap_servers.split(",")) == 3
        assert brokers(cluster.bootstrap_servers) == [1, 2, 3]
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
        admin.create_topics([NewTopic("min-isr", 1, 3, config={"min.insync.replicas": "2"})])["min-isr"].result(30)
        part = lambda: admin.list_topics("min-isr", timeout=10).topics["min-isr"].partitions[0]  # noqa: E731
        leader = wait_for("a leader with three in sync", lambda: len(part().isrs) == 3 and part().leader)
        for other in (b for b in (1, 2, 3) if b != leader):
            cluster.stop_broker(other)
        wait_for("the ISR down to the leader", lambda: part().isrs == [leader])

        errors = []
        producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "all", "retries": 0})
        producer.produce("min-isr", b"refused", on_delivery=lambda e, m: errors.append(e))
        producer.flush(30)
        assert len(errors) == 1 and errors[0] is not None, errors
        assert errors[0].name() == "NOT_ENOUGH_REPLICAS", errors[0]

        for other in (b for b in (1, 2, 3) if b != leader):
            cluster.start_broker(other)
        wait_for("three in sync again", lambda: len(part().isrs) == 3, timeout=60)
        errors.clear()
        producer.produce("min-isr", b"accepted", on_delivery=lambda e, m: errors.append(e))
        producer.flush(30)
        assert errors == [None]
