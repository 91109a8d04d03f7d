#!/usr/bin/env python3
"""The course's buffer.memory and max.block.ms (CURRICULUM.md §6): records the producer cannot send yet wait in
its buffer (buffer.memory, 32 MB by default). When the buffer is full, Kafka's Java producer blocks send() for
up to max.block.ms (60 s by default) and then throws; confluent-kafka's produce() raises BufferError at once,
and the program waits for room itself, up to max.block.ms, as the Java producer would.

    python examples/python/buffer_full.py [--buffer-memory 65536] [--max-block-ms 1000]

It stops its broker to make the buffer fill, so it always runs on an embedded potok cluster (one broker). Then it
starts the broker again, and the buffered records are delivered. Lines on stdout:
    broker 1 stopped
    buffer full after 60 records of 1000 bytes (buffer.memory=65536): BufferError
    no room within max.block.ms=1000: gave up after 1000 ms
    broker 1 started
    delivered 60 buffered records, failed 0
"""

from __future__ import annotations

import argparse
import time
from typing import List

import potok

import course

TOPIC = "buffer-topic"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--buffer-memory", type=int, default=65536, help="bytes (the course's 32 MB takes a while)")
    p.add_argument("--max-block-ms", type=int, default=1000)
    p.add_argument("--record-bytes", type=int, default=1000)
    args = p.parse_args()
    with potok.Cluster(brokers=1) as cluster:
        bootstrap = cluster.bootstrap_servers
        course.log(f"embedded potok cluster: broker 1 at {bootstrap}")
        course.create_topic(bootstrap, TOPIC, 1, 1)
        producer = potok.Producer({"bootstrap.servers": bootstrap, "buffer.memory": args.buffer_memory,
                                   "max.block.ms": args.max_block_ms, "linger.ms": 0})
        delivered: List[int] = []
        failed: List[str] = []

        def report(err, msg) -> None:  # type: ignore[no-untyped-def]
            if err is not None:
                failed.append(str(err))
            else:
                delivered.append(msg.offset())

        producer.produce(TOPIC, b"first", on_delivery=report)  # the producer learns the topic's leader
        producer.flush(30)
        delivered.clear()
        # Killed rather than shut down: the producer keeps the topic's metadata it has and cannot send.
        cluster.kill_broker(1)
        print("broker 1 stopped", flush=True)

        value = b"x" * args.record_bytes
        buffered = 0
        while True:
            try:
                producer.produce(TOPIC, value, on_delivery=report)
                buffered += 1
            except BufferError as e:
                print(f"buffer full after {buffered} records of {args.record_bytes} bytes "
                      f"(buffer.memory={args.buffer_memory}): BufferError", flush=True)
                course.log(f"  ({e})")
                break
        # What Java's send() does inside: wait for room, up to max.block.ms, then give up.
        started = time.monotonic()
        deadline = started + args.max_block_ms / 1000
        while True:
            producer.poll(0.05)
            try:
                producer.produce(TOPIC, value, on_delivery=report)
                print("room came within max.block.ms", flush=True)
                buffered += 1
                break
            except BufferError:
                if time.monotonic() >= deadline:
                    waited = round((time.monotonic() - started) * 1000, -2)
                    print(f"no room within max.block.ms={args.max_block_ms}: gave up after {waited:.0f} ms",
                          flush=True)
                    break

        cluster.start_broker(1)
        print("broker 1 started", flush=True)
        producer.flush(60)
        producer.close()
        print(f"delivered {len(delivered)} buffered records, failed {len(failed)}", flush=True)
        if buffered != len(delivered):
            course.log(f"{buffered} were buffered")


if __name__ == "__main__":
    main()
