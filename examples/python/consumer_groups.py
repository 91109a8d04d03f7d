#!/usr/bin/env python3
"""The course's consumer groups (CURRICULUM.md §5): PosValidator instances join the group `PosValidatorGroup`
one after another and the group reassigns `pos`'s 3 partitions among them; then one instance leaves and its
partition moves to another. The group's offsets and lag are shown as `kafka-consumer-groups --describe` shows
them (CURRENT-OFFSET is the committed offset, the position the group resumes from).

    python examples/python/consumer_groups.py [--bootstrap-servers HOST:PORT,...] [--instances 3] [--produce 300]

Each instance is a consumer in a thread of this process (the course starts one program per instance: the
broker cannot tell the difference). Lines on stdout:
    1 instance(s): validator-1=pos-0,pos-1,pos-2
    2 instance(s): validator-1=pos-0,pos-1 validator-2=pos-2
    3 instance(s): validator-1=pos-0 validator-2=pos-1 validator-3=pos-2
    validated 300 invoices
    PosValidatorGroup pos 0 CURRENT-OFFSET 104 LOG-END-OFFSET 104 LAG 0 CONSUMER-ID validator-1-...
    after validator-3 left: validator-1=pos-0,pos-2 validator-2=pos-1
With $POTOK_BIN (or potok on PATH) it also prints `potok consumer-groups --describe --group PosValidatorGroup`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from typing import List, Optional

import potok
from potok.admin import AdminClient
from potok.serialization import JSONDeserializer

import course
from pos_validator import is_invalid, produce_invoices


class Instance(threading.Thread):
    """One PosValidator: polls, validates, forwards and commits until told to stop."""

    def __init__(self, name: str, bootstrap: str, args: "object") -> None:
        super().__init__(name=name, daemon=True)
        self.bootstrap = bootstrap
        self.args = args
        self.assigned: List[int] = []
        self.validated = 0
        self.stop_now = threading.Event()
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        a = self.args
        try:
            consumer = potok.Consumer({"bootstrap.servers": self.bootstrap, "group.id": a.group,  # type: ignore
                                       "client.id": self.name, "auto.offset.reset": "earliest",
                                       "enable.auto.commit": False,
                                       "heartbeat.interval.ms": a.heartbeat_interval_ms})  # type: ignore
            producer = potok.Producer({"bootstrap.servers": self.bootstrap, "client.id": self.name})

            def assigned(_c: potok.Consumer, tps: List[potok.TopicPartition]) -> None:
                self.assigned = sorted(set(self.assigned) | {tp.partition for tp in tps})

            def revoked(_c: potok.Consumer, tps: List[potok.TopicPartition]) -> None:
                self.assigned = sorted(set(self.assigned) - {tp.partition for tp in tps})

            consumer.subscribe([a.source], on_assign=assigned, on_revoke=revoked)  # type: ignore
            from_json = JSONDeserializer()
            while not self.stop_now.is_set():
                batch = consumer.consume(200, 0.2)
                for msg in batch:
                    invoice = from_json(msg.value())
                    topic = a.invalid_topic if is_invalid(invoice) else a.valid_topic  # type: ignore
                    producer.produce(topic, msg.value(), key=invoice["StoreID"])
                if batch:
                    # At least once: what was read is forwarded before its offsets are committed.
                    producer.flush(30)
                    consumer.commit(asynchronous=False)
                    self.validated += len(batch)
            producer.close()
            consumer.close()
        except BaseException as e:  # reported by the main thread
            self.error = e


def wait_balanced(instances: List[Instance], partitions: int, timeout: float = 30.0) -> str:
    """Waits until every partition is assigned once and each instance has a share; returns the assignment."""
    deadline = time.monotonic() + timeout
    while True:
        for i in instances:
            if i.error is not None:
                raise SystemExit(f"{i.name} failed: {i.error!r}")
        owned = [p for i in instances for p in i.assigned]
        fair = all(i.assigned for i in instances[:partitions])
        if sorted(owned) == list(range(partitions)) and fair:
            return " ".join(f"{i.name}=" + ",".join(f"pos-{p}" for p in i.assigned) for i in instances)
        if time.monotonic() > deadline:
            raise SystemExit(f"no balanced assignment within {timeout} s: "
                             + " ".join(f"{i.name}={i.assigned}" for i in instances))
        time.sleep(0.1)


def describe(bootstrap: str, group: str, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        description = admin.describe_consumer_groups([group])[group].result(30)
        owner = {tp.partition: m.member_id for m in description.members for tp in m.assignment}
    finally:
        admin.close()
    ends = course.end_offsets(bootstrap, topic, partitions)
    # The group's committed offsets, asked by a consumer that does not join it.
    reader = potok.Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    offsets = reader.committed([potok.TopicPartition(topic, p) for p in range(partitions)], 30)
    reader.close()
    for tp in sorted(offsets, key=lambda tp: tp.partition):
        current = tp.offset if tp.offset >= 0 else 0
        end = ends[tp.partition]
        print(f"{group} {topic} {tp.partition} CURRENT-OFFSET {current} LOG-END-OFFSET {end} LAG {end - current} "
              f"CONSUMER-ID {owner.get(tp.partition, '-')}", flush=True)


def main() -> None:
    p = course.parser(__doc__)
    p.add_argument("--source", default="pos")
    p.add_argument("--valid-topic", default="valid-pos")
    p.add_argument("--invalid-topic", default="invalid-pos")
    p.add_argument("--group", default="PosValidatorGroup")
    p.add_argument("--instances", type=int, default=3)
    p.add_argument("--produce", type=int, default=300, help="invoices sent to the source topic first")
    p.add_argument("--heartbeat-interval-ms", type=int, default=3000,
                   help="how soon a member hears of a rebalance (Kafka's default 3000)")
    p.add_argument("--replication-factor", type=int, default=3)
    args = p.parse_args()
    with course.cluster(args, brokers=3) as setup:
        for topic in (args.source, args.valid_topic, args.invalid_topic):
            course.create_topic(setup.bootstrap, topic, 3, args.replication_factor)
        if args.produce:
            produce_invoices(setup.bootstrap, args.source, args.produce)
        instances: List[Instance] = []
        for n in range(1, args.instances + 1):
            instance = Instance(f"validator-{n}", setup.bootstrap, args)
            instance.start()
            instances.append(instance)
            print(f"{n} instance(s): {wait_balanced(instances, 3)}", flush=True)

        deadline = time.monotonic() + 60
        while sum(i.validated for i in instances) < args.produce and time.monotonic() < deadline:
            time.sleep(0.1)
        print(f"validated {sum(i.validated for i in instances)} invoices", flush=True)
        describe(setup.bootstrap, args.group, args.source, 3)
        potok_bin = os.environ.get("POTOK_BIN") or shutil.which("potok")
        if potok_bin:
            out = subprocess.run([potok_bin, "consumer-groups", "--bootstrap-server", setup.bootstrap, "--describe",
                                  "--group", args.group], capture_output=True, text=True, timeout=60)
            print(out.stdout, end="", flush=True)

        if len(instances) > 1:
            leaving = instances.pop()
            leaving.stop_now.set()
            leaving.join(30)
            print(f"after {leaving.name} left: {wait_balanced(instances, 3)}", flush=True)
        for i in instances:
            i.stop_now.set()
        for i in instances:
            i.join(30)


if __name__ == "__main__":
    main()
