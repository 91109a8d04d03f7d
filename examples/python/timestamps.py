#!/usr/bin/env python3
"""The course's record timestamps (CURRICULUM.md §2): a topic with message.timestamp.type=CreateTime keeps the
timestamp the producer set on each record; one with LogAppendTime replaces it with the broker's clock when the
record is appended.

    python examples/python/timestamps.py [--bootstrap-servers HOST:PORT,...] [--count 3]

The producer sends the same records, each stamped with a fixed time in the past (2020-09-13T12:26:40Z,
1600000000000 ms), to `timestamps-create-time` and to `timestamps-log-append-time`; a consumer reads both
back. Lines on stdout, one per record read:
    timestamps-create-time offset 0: CreateTime 1600000000000
    timestamps-log-append-time offset 0: LogAppendTime 1796...   (the broker's time of the append)
and `log append times within the run: yes` when every LogAppendTime lies between the program's start and end.
"""

from __future__ import annotations

import time

import potok

import course

STAMP = 1_600_000_000_000
KINDS = {potok.TIMESTAMP_CREATE_TIME: "CreateTime", potok.TIMESTAMP_LOG_APPEND_TIME: "LogAppendTime",
         potok.TIMESTAMP_NOT_AVAILABLE: "NoTimestampType"}


def main() -> None:
    p = course.parser(__doc__)
    p.add_argument("--topic-prefix", default="timestamps")
    p.add_argument("--count", type=int, default=3)
    p.add_argument("--replication-factor", type=int, default=3)
    args = p.parse_args()
    started = int(time.time() * 1000)
    with course.cluster(args, brokers=3) as setup:
        topics = {f"{args.topic_prefix}-create-time": "CreateTime",
                  f"{args.topic_prefix}-log-append-time": "LogAppendTime"}
        for topic, kind in topics.items():
            course.create_topic(setup.bootstrap, topic, 1, args.replication_factor,
                                {"message.timestamp.type": kind})
        producer = potok.Producer({"bootstrap.servers": setup.bootstrap})
        for topic in topics:
            for i in range(args.count):
                producer.produce(topic, f"record {i}", timestamp=STAMP)
        if producer.flush(30) != 0:
            raise SystemExit("not every record was acknowledged")
        producer.close()

        consumer = potok.Consumer({"bootstrap.servers": setup.bootstrap, "group.id": "timestamps-reader",
                                   "enable.auto.commit": False})
        consumer.assign([potok.TopicPartition(t, 0, potok.OFFSET_BEGINNING) for t in topics])
        read = []
        deadline = time.monotonic() + 30
        while len(read) < 2 * args.count and time.monotonic() < deadline:
            read.extend(consumer.consume(100, 1.0))
        consumer.close()
        finished = int(time.time() * 1000)
        appended = []
        for msg in sorted(read, key=lambda m: (m.topic(), m.offset())):
            kind, stamp = msg.timestamp()
            print(f"{msg.topic()} offset {msg.offset()}: {KINDS[kind]} {stamp}")
            if kind == potok.TIMESTAMP_LOG_APPEND_TIME:
                appended.append(stamp)
        within = bool(appended) and all(started <= t <= finished for t in appended)
        print(f"log append times within the run: {'yes' if within else 'no'}")


if __name__ == "__main__":
    main()
