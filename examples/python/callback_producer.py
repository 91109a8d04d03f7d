#!/usr/bin/env python3
"""The course's callback and synchronous producers (CURRICULUM.md §2): records into `hello-producer`
(1 partition), each acknowledgement printed as "Message i persisted with offset X and timestamp T".

    python examples/python/callback_producer.py [--bootstrap-servers HOST:PORT,...] [--count 10] [--sync]

By default every record is sent at once and its delivery callback prints the line when the broker
acknowledges it (Java: send(record, callback)). With --sync each send waits for its acknowledgement before the
next one (Java: send(record).get(); here flush() after each produce()). Either way the offsets are consecutive
and in the order sent.
"""

from __future__ import annotations


import potok
from potok.serialization import IntegerSerializer

import course


def main() -> None:
    p = course.parser(__doc__)
    p.add_argument("--topic", default="hello-producer")
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--replication-factor", type=int, default=3)
    p.add_argument("--sync", action="store_true", help="wait for each record's acknowledgement before the next")
    args = p.parse_args()
    with course.cluster(args, brokers=3) as setup:
        course.create_topic(setup.bootstrap, args.topic, 1, args.replication_factor)
        producer = potok.Producer({"bootstrap.servers": setup.bootstrap, "client.id": "CallbackProducer"})
        to_int = IntegerSerializer()
        for i in range(1, args.count + 1):

            def persisted(err, msg, i=i) -> None:  # type: ignore[no-untyped-def]
                if err is not None:
                    print(f"Message {i} failed: {err}", flush=True)
                else:
                    print(f"Message {i} persisted with offset {msg.offset()} and timestamp {msg.timestamp()[1]}",
                          flush=True)

            producer.produce(args.topic, f"Simple Message-{i}", key=to_int(i), on_delivery=persisted)
            if args.sync:
                if producer.flush(30) != 0:
                    raise SystemExit(f"message {i} was not acknowledged within 30 s")
        if producer.flush(30) != 0:
            raise SystemExit("not every record was acknowledged")
        producer.close()


if __name__ == "__main__":
    main()
