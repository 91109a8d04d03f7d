#!/usr/bin/env python3
"""The course's PosValidator (CURRICULUM.md §5), consume-transform-produce: a consumer in the group
`PosValidatorGroup` (auto.offset.reset=earliest) reads JSON invoices from `pos`; a HOME-DELIVERY invoice whose
DeliveryAddress has an empty ContactNumber goes to `invalid-pos`, every other one to `valid-pos`, keyed by
StoreID.

    python examples/python/pos_validator.py [--bootstrap-servers HOST:PORT,...] [--produce 500] [--idle 5]

--produce N first sends N random invoices to `pos` (3 partitions, replication factor 3, min.insync.replicas=2)
as the course's JSON POS simulator does; on the embedded cluster it defaults to 500, since `pos` starts empty.
The validator stops once no invoice came for --idle seconds (0: run until Ctrl-C, as the course's does) and
commits what it read. Then it reads both output topics back. Lines on stdout:
    produced 500 invoices (invalid: 21)
    validated 500 invoices: valid 479, invalid 21
    valid-pos: 479 records, every one passes the rule: yes
    invalid-pos: 21 records, every one HOME-DELIVERY without ContactNumber: yes
"""

from __future__ import annotations

import json
import signal
import time
from typing import Any, Dict, List

import potok
from potok.serialization import JSONDeserializer, JSONSerializer, StringSerializer

import course
from avro_pos_simulator import InvoiceGenerator


def is_invalid(invoice: Dict[str, Any]) -> bool:
    """The course's rule: a home delivery needs a contact number."""
    address = invoice.get("DeliveryAddress") or {}
    return invoice.get("DeliveryType") == "HOME-DELIVERY" and address.get("ContactNumber", "") == ""


def produce_invoices(bootstrap: str, topic: str, count: int) -> None:
    generator = InvoiceGenerator(seed=7)
    producer = potok.Producer({"bootstrap.servers": bootstrap, "client.id": "PosSimulator"})
    to_json, to_str = JSONSerializer(), StringSerializer()
    invalid = 0
    for _ in range(count):
        invoice = generator.next_invoice()
        invalid += is_invalid(invoice)
        producer.produce(topic, to_json(invoice), key=to_str(invoice["StoreID"]))
    if producer.flush(60) != 0:
        raise SystemExit("not every invoice was acknowledged")
    producer.close()
    print(f"produced {count} invoices (invalid: {invalid})", flush=True)


def validate(bootstrap: str, source: str, valid_topic: str, invalid_topic: str, group: str, idle: float) -> None:
    consumer = potok.Consumer({"bootstrap.servers": bootstrap, "group.id": group, "client.id": "PosValidator",
                               "auto.offset.reset": "earliest"})
    producer = potok.Producer({"bootstrap.servers": bootstrap, "client.id": "PosValidator"})
    consumer.subscribe([source])
    from_json = JSONDeserializer()
    stopping = []
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    valid = invalid = 0
    last = time.monotonic()
    course.log(f"PosValidator reading {source} in group {group}...")
    while not stopping and (idle <= 0 or time.monotonic() - last < idle):
        batch = consumer.consume(500, 0.5)
        if not batch and not consumer.assignment():
            last = time.monotonic()  # the idle clock starts once the group has given this member partitions
        for msg in batch:
            last = time.monotonic()
            invoice = from_json(msg.value())
            if is_invalid(invoice):
                invalid += 1
                producer.produce(invalid_topic, msg.value(), key=invoice["StoreID"])
            else:
                valid += 1
                producer.produce(valid_topic, msg.value(), key=invoice["StoreID"])
        producer.poll(0)
    if producer.flush(60) != 0:
        raise SystemExit("not every validated invoice was acknowledged")
    producer.close()
    if valid + invalid:
        consumer.commit(asynchronous=False)
    consumer.close()
    print(f"validated {valid + invalid} invoices: valid {valid}, invalid {invalid}", flush=True)


def read_back(bootstrap: str, topic: str) -> List[Dict[str, Any]]:
    ends = course.end_offsets(bootstrap, topic, 3)
    consumer = potok.Consumer({"bootstrap.servers": bootstrap, "group.id": "pos-checker",
                               "enable.auto.commit": False})
    consumer.assign([potok.TopicPartition(topic, p, potok.OFFSET_BEGINNING) for p in range(3)])
    got: List[Dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while len(got) < sum(ends) and time.monotonic() < deadline:
        for msg in consumer.consume(500, 0.5):
            invoice = json.loads(msg.value())
            if msg.key().decode() != invoice["StoreID"]:
                raise SystemExit(f"{topic}: key {msg.key()!r} is not the StoreID {invoice['StoreID']}")
            got.append(invoice)
    consumer.close()
    return got


def main() -> None:
    p = course.parser(__doc__)
    p.add_argument("--source", default="pos")
    p.add_argument("--valid-topic", default="valid-pos")
    p.add_argument("--invalid-topic", default="invalid-pos")
    p.add_argument("--group", default="PosValidatorGroup")
    p.add_argument("--produce", type=int, help="first send N invoices to the source topic")
    p.add_argument("--idle", type=float, default=5.0, help="stop after this many seconds without an invoice")
    p.add_argument("--replication-factor", type=int, default=3)
    args = p.parse_args()
    with course.cluster(args, brokers=3) as setup:
        for topic in (args.source, args.valid_topic, args.invalid_topic):
            course.create_topic(setup.bootstrap, topic, 3, args.replication_factor,
                                {"min.insync.replicas": min(2, args.replication_factor)})
        count = args.produce if args.produce is not None else (500 if setup.embedded else 0)
        if count:
            produce_invoices(setup.bootstrap, args.source, count)
        validate(setup.bootstrap, args.source, args.valid_topic, args.invalid_topic, args.group, args.idle)
        valid = read_back(setup.bootstrap, args.valid_topic)
        invalid = read_back(setup.bootstrap, args.invalid_topic)
        print(f"{args.valid_topic}: {len(valid)} records, every one passes the rule: "
              f"{'yes' if not any(map(is_invalid, valid)) else 'no'}")
        print(f"{args.invalid_topic}: {len(invalid)} records, every one HOME-DELIVERY without ContactNumber: "
              f"{'yes' if all(map(is_invalid, invalid)) else 'no'}")


if __name__ == "__main__":
    main()
