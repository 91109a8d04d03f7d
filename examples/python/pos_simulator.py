#!/usr/bin/env python3
"""The course's JSON POS simulator (CURRICULUM.md §4): a pool of producer threads shares one producer and sends
random point-of-sale invoices to a topic, keyed by StoreID, as JSON validated against the PosInvoice JSON Schema
(examples/data/pos-invoice.schema.json) before it is written.

    python examples/python/pos_simulator.py [TOPIC NO_OF_PRODUCERS PRODUCE_SPEED_MS]
        [--bootstrap-servers HOST:PORT,...] [--count N]

The course's arguments: `pos 3 500` (the topic, producer threads, ms between an invoice and the next one of a
thread). `pos` is created with 3 partitions, replication factor 3 and min.insync.replicas=2. The course's
simulator runs until Ctrl-C; `--count N` stops after N invoices in all (the default with the embedded cluster:
60, which would otherwise vanish with the program). Lines on stdout:
    producer thread 1: sent 20 invoices
    ...
    sent 60 invoices, failed 0
    read 60 invoices, every one keyed by its StoreID and valid: yes
"""

from __future__ import annotations

import os
import time
from typing import Optional, Tuple

import potok
from potok.serialization import JSONDeserializer, JSONSerializer, MessageField, SerializationContext

import course
from avro_pos_simulator import InvoiceGenerator

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "pos-invoice.schema.json")


def main() -> None:
    p = course.parser(__doc__)
    p.add_argument("topic", nargs="?", default="pos")
    p.add_argument("producers", nargs="?", type=int, default=3)
    p.add_argument("speed_ms", nargs="?", type=int, default=500)
    p.add_argument("--count", type=int, help="stop after this many invoices in all")
    p.add_argument("--replication-factor", type=int, default=3)
    args = p.parse_args()
    with open(SCHEMA) as f:
        schema = f.read()
    with course.cluster(args, brokers=3) as setup:
        course.create_topic(setup.bootstrap, args.topic, 3, args.replication_factor,
                            {"min.insync.replicas": min(2, args.replication_factor)})
        count = args.count if args.count is not None else (60 if setup.embedded else None)
        producer = potok.Producer({"bootstrap.servers": setup.bootstrap, "client.id": "PosSimulator"})
        to_json = JSONSerializer(schema)
        generator = InvoiceGenerator(seed=11)

        def next_record() -> Tuple[str, Optional[bytes]]:
            invoice = generator.next_invoice()
            return invoice["StoreID"], to_json(invoice, SerializationContext(args.topic, MessageField.VALUE))

        failed = course.produce_from_threads(producer, args.topic, args.producers, count, args.speed_ms, next_record)
        total = sum(course.end_offsets(setup.bootstrap, args.topic, 3))
        print(f"sent {total if count is None else count} invoices, failed {len(failed)}", flush=True)

        # Read back with the same schema: the deserializer validates each value again.
        from_json = JSONDeserializer(schema)
        consumer = potok.Consumer({"bootstrap.servers": setup.bootstrap, "group.id": "pos-simulator-reader",
                                   "enable.auto.commit": False})
        consumer.assign([potok.TopicPartition(args.topic, p, potok.OFFSET_BEGINNING) for p in range(3)])
        good = read = 0
        deadline = time.monotonic() + 30
        while read < total and time.monotonic() < deadline:
            for msg in consumer.consume(500, 1.0):
                read += 1
                invoice = from_json(msg.value(), SerializationContext(args.topic, MessageField.VALUE))
                assert invoice is not None
                good += msg.key().decode() == invoice["StoreID"]
        consumer.close()
        print(f"read {read} invoices, every one keyed by its StoreID and valid: {'yes' if good == read else 'no'}")


if __name__ == "__main__":
    main()
