"""What every exercise of the course shares: the command line (``--bootstrap-servers``), the cluster it runs on
(an embedded potok cluster when no servers are named) and topic creation.

Each exercise is a script of its own in this directory; this module is imported by them, not run.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Tuple

import potok
from potok.admin import AdminClient, NewTopic, OffsetSpec


def parser(doc: Optional[str]) -> argparse.ArgumentParser:
    """An argument parser whose help is the script's docstring, with ``--bootstrap-servers``."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--bootstrap-servers",
        metavar="HOST:PORT,...",
        help="a running Kafka or potok cluster; without it the exercise starts an embedded potok cluster",
    )
    return p


def log(message: str) -> None:
    """Progress for the learner, on stderr (stdout holds the lines the exercise is about)."""
    print(message, file=sys.stderr, flush=True)


class Setup:
    """Where the exercise runs: ``bootstrap`` (for ``bootstrap.servers``) and, for an embedded cluster, the
    cluster itself (``cluster``: its ``log_dirs``, ``stop_broker``...)."""

    def __init__(self, bootstrap: str, cluster: Optional[potok.Cluster] = None) -> None:
        self.bootstrap = bootstrap
        self.cluster = cluster

    @property
    def embedded(self) -> bool:
        return self.cluster is not None


@contextlib.contextmanager
def cluster(args: argparse.Namespace, brokers: int = 3, **config: object) -> Iterator[Setup]:
    """The cluster named by ``--bootstrap-servers``, or an embedded potok cluster of ``brokers`` nodes in this
    process (stopped, its data removed, when the block ends). ``config`` is Kafka's broker keys with
    underscores for dots, for the embedded cluster only."""
    if args.bootstrap_servers:
        yield Setup(args.bootstrap_servers)
        return
    started = time.monotonic()
    # The course's brokers wait 3 s before a new group's first rebalance; an exercise has no one to wait for.
    settings: Dict[str, object] = {"group_initial_rebalance_delay_ms": 0}
    settings.update(config)
    with potok.Cluster(brokers=brokers, **settings) as embedded:  # type: ignore[arg-type]
        log(f"embedded potok cluster of {brokers} broker(s) at {embedded.bootstrap_servers} "
            f"(started in {time.monotonic() - started:.1f} s)")
        yield Setup(embedded.bootstrap_servers, embedded)


def create_topic(bootstrap: str, name: str, partitions: int, replication_factor: int,
                 config: Optional[Mapping[str, object]] = None, timeout: float = 30.0) -> None:
    """Creates the topic as ``kafka-topics --create`` does (an existing one is kept) and waits until every
    partition's leader answers, so that the first records do not meet a leader still being elected."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        topic = NewTopic(name, partitions, replication_factor, config={k: str(v) for k, v in (config or {}).items()})
        try:
            admin.create_topics([topic])[name].result(timeout)
            log(f"created topic {name}: {partitions} partition(s), replication factor {replication_factor}"
                + "".join(f", {k}={v}" for k, v in (config or {}).items()))
        except potok.TopicAlreadyExistsError:
            log(f"topic {name} exists already; kept as it is")
        deadline = time.monotonic() + timeout
        wanted = {potok.TopicPartition(name, p): OffsetSpec.latest() for p in range(partitions)}
        while True:
            try:
                for future in admin.list_offsets(wanted).values():
                    future.result(timeout)
                return
            except potok.KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        admin.close()


def produce_from_threads(producer: potok.Producer, topic: str, threads: int, count: Optional[int], pause_ms: int,
                         next_record: Callable[[], Tuple[object, object]], what: str = "invoices") -> List[str]:
    """Sends records to ``topic`` from ``threads`` threads sharing one ``producer``, as the course's POS
    simulators do: ``count`` records in all, or until Ctrl-C when it is None, each thread pausing ``pause_ms``
    between sends. ``next_record`` gives a (key, value) and is called under a lock, so a generator or a
    serializer that registers its schema once may keep state. Prints each thread's count, then flushes and
    closes the producer; returns the delivery errors."""
    failed: List[str] = []
    remaining = [count]  # records still to send in all (None: until stopped)
    lock = threading.Lock()
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def run(n: int) -> None:
        sent = 0
        while not stop.is_set():
            with lock:
                if remaining[0] is not None:
                    if remaining[0] == 0:
                        break
                    remaining[0] -= 1
                key, value = next_record()
            producer.produce(topic, value, key=key,
                             on_delivery=lambda err, msg: failed.append(str(err)) if err else None)
            sent += 1
            stop.wait(pause_ms / 1000)
        sys.stdout.write(f"producer thread {n}: sent {sent} {what}\n")
        sys.stdout.flush()

    workers = [threading.Thread(target=run, args=(n,)) for n in range(1, threads + 1)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    producer.flush(60)
    producer.close()
    return failed


def end_offsets(bootstrap: str, topic: str, partitions: int) -> List[int]:
    """The log end offset of each partition of ``topic``."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        wanted = {potok.TopicPartition(topic, p): OffsetSpec.latest() for p in range(partitions)}
        found = {tp.partition: f.result(30).offset for tp, f in admin.list_offsets(wanted).items()}
        return [found[p] for p in range(partitions)]
    finally:
        admin.close()


def describe(bootstrap: str, topic: str) -> List[str]:
    """``kafka-topics --describe``'s partition lines: leader, replicas and in-sync replicas of each partition."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        meta = admin.list_topics(topic, timeout=30).topics[topic]
        return [
            f"Topic: {topic}\tPartition: {p.id}\tLeader: {p.leader}\tReplicas: {','.join(map(str, p.replicas))}"
            f"\tIsr: {','.join(map(str, p.isrs))}"
            for p in sorted(meta.partitions.values(), key=lambda p: p.id)
        ]
    finally:
        admin.close()
