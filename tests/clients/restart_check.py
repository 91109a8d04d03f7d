#!/usr/bin/env python3
"""Consumer group state across a broker restart (confluent-kafka, classic group protocol).

    restart_check.py phase1 BOOTSTRAP [STATE_FILE]
        creates a 3-partition topic with 30 records in each partition; a group member reads them
        all and commits explicit offsets with metadata (one partition twice: the later commit must
        win); a second group commits and is then deleted. Writes the names and the expected
        offsets to STATE_FILE.
    (restart the broker on the same data directory)
    restart_check.py phase2 BOOTSTRAP [STATE_FILE]
        the records are all there; committed() returns the same offsets and metadata; the group is
        listed (Empty) and the deleted one is not, nor are its offsets; a new member of the group
        resumes from the committed offsets and reads exactly the records after them.

STATE_FILE defaults to $TMPDIR/potok-restart-check-HOST-PORT.json. Prints
"restart-check: 1 passed, 0 failed" (exit 0) or "restart-check: 0 passed, 1 failed" (exit 1,
after the reason). Not a pytest module (scripts/client-tests.sh does not run it): it needs the
restart in the middle. Needs the client-test venv's confluent-kafka (scripts/install-test-deps.sh).
"""

import json
import os
import signal
import sys
import tempfile
import time
import traceback
import uuid

from confluent_kafka import (
    Consumer,
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

PARTITIONS = 3
PER_PARTITION = 30
# Offsets the group commits in phase 1, after reading (and committing) every record: partition ->
# (offset, metadata). Partition 0 is committed at 3 ("stale") just before.
COMMITS = {0: (10, "restart-p0"), 1: (25, "restart-p1 é"), 2: (PER_PARTITION, "restart-p2-end")}
OP_TIMEOUT = 30.0
OVERALL_TIMEOUT_S = 100  # under the 120 s that scripts/restart-check.sh allows a phase


class Timeout(Exception):
    pass


def on_alarm(signum, frame):
    raise Timeout(f"restart check did not finish in {OVERALL_TIMEOUT_S}s")


def admin_client(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap, "client.id": "potok-restart-check-admin", "socket.timeout.ms": 10000})


def consumer(bootstrap, group):
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "group.protocol": "classic",
            "client.id": "potok-restart-check",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "heartbeat.interval.ms": 500,
            "session.timeout.ms": 10000,
            "socket.timeout.ms": 10000,
        }
    )


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def wait_topic(admin, topic, timeout=OP_TIMEOUT):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            t = admin.list_topics(timeout=10).topics.get(topic)
        except KafkaException as e:
            t = e
        if t is not None and not isinstance(t, KafkaException) and t.error is None and len(t.partitions) == PARTITIONS:
            if all(p.leader >= 0 and p.error is None for p in t.partitions.values()):
                return
        last = t
        time.sleep(0.2)
    raise AssertionError(f"topic {topic} not ready with {PARTITIONS} partitions: {last}")


def watermarks(c, topic):
    return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=OP_TIMEOUT) for p in range(PARTITIONS)}


def wait_watermarks(c, topic, want, timeout=OP_TIMEOUT):
    """Just after a restart a partition may not serve ListOffsets yet: retry until `want`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = watermarks(c, topic)
        except KafkaException as e:
            got = e
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def consume(c, want, timeout=OP_TIMEOUT):
    """Polls until `want` records arrived (then a little longer, to catch extra ones); commits each
    synchronously. Returns {(partition, offset): (key, value)}."""
    got = {}
    deadline = time.monotonic() + timeout
    extra_until = None
    while time.monotonic() < deadline:
        m = c.poll(0.1)
        if m is not None:
            check(m.error() is None, f"consume error: {m.error()}")
            rec = (m.partition(), m.offset())
            check(rec not in got, f"{rec} delivered twice")
            got[rec] = (m.key().decode(), m.value().decode())
            c.commit(message=m, asynchronous=False)
        if len(got) >= want:
            extra_until = extra_until or time.monotonic() + 1.0
            if time.monotonic() > extra_until:
                break
    return got


def record(p, i):
    return (f"k{p}-{i}", f"v{p}-{i}")


def committed(c, topic):
    tps = retrying(lambda: c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=OP_TIMEOUT), "committed()")
    for tp in tps:
        check(tp.error is None, f"committed(): {tp}")
    return {tp.partition: (tp.offset, tp.metadata) for tp in tps}


def retrying(fn, what, timeout=OP_TIMEOUT):
    """fn() until it does not fail with COORDINATOR_LOAD_IN_PROGRESS / NOT_COORDINATOR /
    COORDINATOR_NOT_AVAILABLE: right after a restart the group coordinator may still be loading."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except KafkaException as e:
            err = e.args[0]
            if err.code() not in RETRY_CODES or time.monotonic() > deadline:
                raise AssertionError(f"{what}: {err}") from e
        time.sleep(0.2)


RETRY_CODES = {KafkaError._TIMED_OUT, KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE}


def group_offsets(admin, group):
    def once():
        fut = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=OP_TIMEOUT)[group]
        return {(tp.topic, tp.partition): (tp.offset, tp.metadata) for tp in fut.result(timeout=OP_TIMEOUT).topic_partitions}

    return retrying(once, f"list_consumer_group_offsets({group})")


def listed_groups(admin):
    def once():
        res = admin.list_consumer_groups(request_timeout=OP_TIMEOUT).result(timeout=OP_TIMEOUT)
        if res.errors:  # e.g. the coordinator still loading: retried
            raise KafkaException(res.errors[0])
        return {g.group_id: g.state for g in res.valid}

    return retrying(once, "list_consumer_groups")


def phase1(bootstrap, state_file):
    run = uuid.uuid4().hex[:12]
    topic, group, deleted_group = f"potok-restart-{run}", f"potok-grp-restart-{run}", f"potok-grp-restart-deleted-{run}"
    admin = admin_client(bootstrap)
    futs = admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)], request_timeout=OP_TIMEOUT)
    futs[topic].result(timeout=OP_TIMEOUT)
    wait_topic(admin, topic)

    producer = Producer({"bootstrap.servers": bootstrap, "client.id": "potok-restart-check-producer", "acks": "all", "message.timeout.ms": int(OP_TIMEOUT * 1000)})
    errors = []
    for p in range(PARTITIONS):
        for i in range(PER_PARTITION):
            k, v = record(p, i)
            producer.produce(topic, key=k, value=v, partition=p, on_delivery=lambda err, msg: err and errors.append(err))
    check(producer.flush(OP_TIMEOUT) == 0, "undelivered records")
    check(not errors, f"produce errors: {errors[:3]}")

    c = consumer(bootstrap, group)
    try:
        c.subscribe([topic])
        got = consume(c, PARTITIONS * PER_PARTITION)
        want = {(p, i): record(p, i) for p in range(PARTITIONS) for i in range(PER_PARTITION)}
        check(got == want, f"phase 1 read {len(got)} records, want {len(want)}")
        # Move the committed offsets back to explicit positions (the member is still in its
        # generation); partition 0 twice, the later commit wins.
        c.commit(offsets=[TopicPartition(topic, 0, 3, metadata="stale")], asynchronous=False)
        c.commit(offsets=[TopicPartition(topic, p, o, metadata=md) for p, (o, md) in COMMITS.items()], asynchronous=False)
        got = committed(c, topic)
        check(got == {p: (o, md) for p, (o, md) in COMMITS.items()}, f"committed() before the restart: {got}")
    finally:
        c.close()

    d = consumer(bootstrap, deleted_group)
    try:
        d.commit(offsets=[TopicPartition(topic, p, 1) for p in range(PARTITIONS)], asynchronous=False)
    finally:
        d.close()
    [fut] = admin.delete_consumer_groups([deleted_group], request_timeout=OP_TIMEOUT).values()
    fut.result(timeout=OP_TIMEOUT)
    check(deleted_group not in listed_groups(admin), "deleted group still listed")

    with open(state_file, "w") as f:
        json.dump({"topic": topic, "group": group, "deleted_group": deleted_group}, f)
    print(f"restart-check phase1: topic {topic}, group {group}, state in {state_file}")


def phase2(bootstrap, state_file):
    with open(state_file) as f:
        state = json.load(f)
    topic, group, deleted_group = state["topic"], state["group"], state["deleted_group"]
    admin = admin_client(bootstrap)
    wait_topic(admin, topic)

    c = consumer(bootstrap, group)
    try:
        want_marks = {p: (0, PER_PARTITION) for p in range(PARTITIONS)}
        got = wait_watermarks(c, topic, want_marks)
        check(got == want_marks, f"watermarks after the restart: {got}, want {want_marks}")
        got = committed(c, topic)
        check(got == {p: (o, md) for p, (o, md) in COMMITS.items()}, f"committed() after the restart: {got}")
    finally:
        c.close()

    groups = listed_groups(admin)
    check(groups.get(group) == ConsumerGroupState.EMPTY, f"group {group} after the restart: {groups.get(group)}")
    check(deleted_group not in groups, f"deleted group {deleted_group} is back after the restart: {groups.get(deleted_group)}")
    got = group_offsets(admin, deleted_group)
    check(got == {}, f"deleted group's offsets are back after the restart: {got}")
    got = group_offsets(admin, group)
    check(got == {(topic, p): (o, md) for p, (o, md) in COMMITS.items()}, f"list_consumer_group_offsets after the restart: {got}")

    # A new member resumes from the committed offsets.
    c = consumer(bootstrap, group)
    try:
        c.subscribe([topic])
        want = {(p, i): record(p, i) for p, (o, _) in COMMITS.items() for i in range(o, PER_PARTITION)}
        got = consume(c, len(want))
        check(got == want, f"resumed member read {sorted(got)}, want {sorted(want)}")
        got = committed(c, topic)
        check({p: o for p, (o, _) in got.items()} == {p: PER_PARTITION for p in range(PARTITIONS)}, f"final committed offsets: {got}")
    finally:
        c.close()
    print(f"restart-check phase2: group {group} resumed from its committed offsets ({len(want)} records)")


def main(argv):
    if len(argv) not in (3, 4) or argv[1] not in ("phase1", "phase2") or ":" not in argv[2]:
        print(f"usage: {argv[0]} phase1|phase2 HOST:PORT [STATE_FILE]", file=sys.stderr)
        return 2
    phase, bootstrap = argv[1], argv[2]
    host, port = bootstrap.rsplit(":", 1)
    state_file = argv[3] if len(argv) == 4 else os.path.join(tempfile.gettempdir(), f"potok-restart-check-{host}-{port}.json")
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(OVERALL_TIMEOUT_S)
    try:
        (phase1 if phase == "phase1" else phase2)(bootstrap, state_file)
    except BaseException as e:  # noqa: BLE001 - every failure is reported the same way
        signal.alarm(0)
        traceback.print_exc(file=sys.stdout)
        print(f"restart-check {phase} FAILED: {e}")
        print("restart-check: 0 passed, 1 failed")
        return 1
    signal.alarm(0)
    print("restart-check: 1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
