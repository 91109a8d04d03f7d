#!/usr/bin/env python3
"""The course's Avro POS simulator (CURRICULUM.md §4): producer threads share one producer and send random
point-of-sale invoices to a topic, keyed by StoreID, with an Avro serializer that registers the `PosInvoice`
schema in a schema registry (subject `<topic>-value`) and writes the Confluent wire format.

    python examples/python/avro_pos_simulator.py [TOPIC NO_OF_PRODUCERS PRODUCE_SPEED_MS]
        [--bootstrap-servers HOST:PORT,... --schema-registry http://HOST:PORT] [--count N]

Without --bootstrap-servers it starts an embedded potok cluster of one broker that also serves the schema
registry (`potok broker --override schema.registry.listeners=http://127.0.0.1:8081` does the same; Confluent's
Schema Registry and Apache Kafka work as well), and stops after 60 invoices unless --count says otherwise. Read
them back as JSON with an Avro console consumer:

    potok console-consumer --bootstrap-server localhost:9092 --topic pos --from-beginning \\
        --value-deserializer avro --property schema.registry.url=http://localhost:8081

Same stdout lines as pos_simulator.py, plus the subject's schema id and versions in the registry and a check
that every value carries that id in the Confluent wire format. Uses potok's own clients (`pip install potok`);
`run()` is what the package's test suite calls.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import potok
from potok.schema_registry import SchemaRegistryClient
from potok.schema_registry.avro import AvroDeserializer, AvroSerializer
from potok.serialization import MessageField, SerializationContext, StringSerializer


def _nullable(t: Any) -> List[Any]:
    return ["null", t]


_ADDRESS = {
    "type": "record",
    "name": "DeliveryAddress",
    "fields": [{"name": n, "type": _nullable("string")} for n in ("AddressLine", "City", "State", "PinCode", "ContactNumber")],
}
_LINE_ITEM = {
    "type": "record",
    "name": "LineItem",
    "fields": [
        {"name": "ItemCode", "type": _nullable("string")},
        {"name": "ItemDescription", "type": _nullable("string")},
        {"name": "ItemPrice", "type": _nullable("double")},
        {"name": "ItemQty", "type": _nullable("int")},
        {"name": "TotalValue", "type": _nullable("double")},
    ],
}
# The course's PosInvoice: the JSON POS simulator's fields, every one ["null", T], LineItem and DeliveryAddress as
# named records.
POS_INVOICE_SCHEMA: Dict[str, Any] = {
    "namespace": "guru.learningjournal.kafka.examples.types",
    "type": "record",
    "name": "PosInvoice",
    "fields": [
        {"name": "InvoiceNumber", "type": _nullable("string")},
        {"name": "CreatedTime", "type": _nullable({"type": "long", "logicalType": "timestamp-millis"})},
        {"name": "StoreID", "type": _nullable("string")},
        {"name": "PosID", "type": _nullable("string")},
        {"name": "CashierID", "type": _nullable("string")},
        {"name": "CustomerType", "type": _nullable("string")},
        {"name": "CustomerCardNo", "type": _nullable("string")},
        {"name": "TotalAmount", "type": _nullable("double")},
        {"name": "NumberOfItems", "type": _nullable("int")},
        {"name": "PaymentMethod", "type": _nullable("string")},
        {"name": "TaxableAmount", "type": _nullable("double")},
        {"name": "CGST", "type": _nullable("double")},
        {"name": "SGST", "type": _nullable("double")},
        {"name": "CESS", "type": _nullable("double")},
        {"name": "DeliveryType", "type": _nullable("string")},
        {"name": "DeliveryAddress", "type": _nullable(_ADDRESS)},
        {"name": "InvoiceLineItems", "type": _nullable({"type": "array", "items": _LINE_ITEM})},
    ],
}

_CITIES = [("Pune", "Maharashtra", "411001"), ("Mumbai", "Maharashtra", "400001"), ("Chennai", "Tamil Nadu", "600001"),
           ("Kolkata", "West Bengal", "700001"), ("Bengaluru", "Karnataka", "560001")]
_PRODUCTS = [("458", "Wine glass", 1644.0), ("283", "Sauce Pan", 1913.0), ("147", "Coffee Mug", 499.0),
             ("602", "Table Lamp", 2250.0), ("915", "Bath Towel", 349.0), ("371", "Cutlery Set", 1299.0)]


class InvoiceGenerator:
    """Random invoices as the course generates them: 20 stores with 5 tills each, PRIME/NONPRIME customers,
    CASH/CARD, HOME-DELIVERY/TAKEAWAY (some addresses without a ContactNumber), 1-4 items of quantity 1-2,
    CGST = SGST = 2.5% and CESS = 0.125% of the taxable amount."""

    def __init__(self, seed: Optional[int] = None) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def next_invoice(self) -> Dict[str, Any]:
        with self._lock:
            rng = self._rng
            items: List[Dict[str, Any]] = []
            for _ in range(rng.randint(1, 4)):
                code, description, price = rng.choice(_PRODUCTS)
                qty = rng.randint(1, 2)
                items.append({"ItemCode": code, "ItemDescription": description, "ItemPrice": price, "ItemQty": qty,
                              "TotalValue": price * qty})
            total = sum(float(i["TotalValue"]) for i in items)
            delivery = rng.choice(["HOME-DELIVERY", "TAKEAWAY"])
            address = None
            if delivery == "HOME-DELIVERY":
                city, state, pin = rng.choice(_CITIES)
                contact = "" if rng.random() < 0.1 else str(rng.randint(7_000_000_000, 9_999_999_999))
                address = {"AddressLine": f"{rng.randint(1, 9999)} Main Road", "City": city, "State": state,
                           "PinCode": pin, "ContactNumber": contact}
            prime = rng.random() < 0.5
            return {
                "InvoiceNumber": str(rng.randint(10_000_000, 99_999_999)),
                "CreatedTime": int(time.time() * 1000),
                "StoreID": f"STR{rng.randint(0, 19) + 7000}",
                "PosID": f"POS{rng.randint(100, 104)}",
                "CashierID": f"OAS{rng.randint(100, 999)}",
                "CustomerType": "PRIME" if prime else "NONPRIME",
                "CustomerCardNo": str(rng.randint(1_000_000_000, 9_999_999_999)) if prime else None,
                "TotalAmount": total,
                "NumberOfItems": len(items),
                "PaymentMethod": rng.choice(["CASH", "CARD"]),
                "TaxableAmount": total,
                "CGST": round(total * 0.025, 4),
                "SGST": round(total * 0.025, 4),
                "CESS": round(total * 0.00125, 4),
                "DeliveryType": delivery,
                "DeliveryAddress": address,
                "InvoiceLineItems": items,
            }


def run(bootstrap: str, registry_url: str, topic: str = "pos", producers: int = 1, speed_ms: int = 0,
        count: Optional[int] = 100, quiet: bool = False) -> List[Dict[str, Any]]:
    """Sends `count` invoices (None: until interrupted) from `producers` threads; returns the invoices sent."""
    import json

    registry = SchemaRegistryClient({"url": registry_url})
    to_avro = AvroSerializer(registry, json.dumps(POS_INVOICE_SCHEMA))
    to_key = StringSerializer()
    producer = potok.Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    generator = InvoiceGenerator()
    sent: List[Dict[str, Any]] = []
    remaining = [count]
    lock = threading.Lock()

    def produce_loop(worker: int) -> None:
        while True:
            with lock:
                if remaining[0] is not None:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
            invoice = generator.next_invoice()
            value = to_avro(invoice, SerializationContext(topic, MessageField.VALUE))
            producer.produce(topic, value, key=to_key(invoice["StoreID"]))
            with lock:
                sent.append(invoice)
            if not quiet:
                print(f"producer {worker}: invoice {invoice['InvoiceNumber']} of store {invoice['StoreID']}")
            if speed_ms:
                time.sleep(speed_ms / 1000)

    threads = [threading.Thread(target=produce_loop, args=(i,), daemon=True) for i in range(producers)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    finally:
        producer.flush(30)
    return sent


def main() -> None:
    import json

    import course  # beside this file; imported here so that the package's tests can load `run` alone

    p = course.parser(__doc__)
    p.add_argument("topic", nargs="?", default="pos")
    p.add_argument("producers", nargs="?", type=int, default=2)
    p.add_argument("speed_ms", nargs="?", type=int, default=500)
    p.add_argument("--schema-registry", metavar="URL", help="the registry of the cluster named by --bootstrap-servers")
    p.add_argument("--count", type=int, help="stop after this many invoices in all")
    p.add_argument("--replication-factor", type=int, default=1)
    args = p.parse_args()
    if args.bootstrap_servers and not args.schema_registry:
        p.error("--bootstrap-servers needs --schema-registry http://HOST:PORT")
    with course.cluster(args, brokers=1, schema_registry=True) as setup:
        registry_url = args.schema_registry or (setup.cluster.schema_registry_url if setup.cluster else None)
        assert registry_url is not None
        course.create_topic(setup.bootstrap, args.topic, 3, args.replication_factor)
        registry = SchemaRegistryClient({"url": registry_url})
        to_avro = AvroSerializer(registry, json.dumps(POS_INVOICE_SCHEMA))
        count = args.count if args.count is not None else (60 if setup.embedded else None)
        producer = potok.Producer({"bootstrap.servers": setup.bootstrap, "client.id": "AvroPosSimulator",
                                   "enable.idempotence": True})
        generator = InvoiceGenerator(seed=13)

        def next_record() -> Tuple[str, Optional[bytes]]:
            # One serializer, registering the schema once, shared by the threads.
            invoice = generator.next_invoice()
            return invoice["StoreID"], to_avro(invoice, SerializationContext(args.topic, MessageField.VALUE))

        failed = course.produce_from_threads(producer, args.topic, args.producers, count, args.speed_ms, next_record)
        total = sum(course.end_offsets(setup.bootstrap, args.topic, 3))
        print(f"sent {total if count is None else count} invoices, failed {len(failed)}", flush=True)
        # The registry's side: the subject the serializer registered, its versions and the latest one's id.
        subject = f"{args.topic}-value"
        schema_id = registry.get_latest_version(subject).schema_id
        print(f"subject {subject}: schema id {schema_id}")
        print(f"subject {subject}: versions {json.dumps(registry.get_versions(subject))}")
        # Each value names its schema id after the magic byte; the deserializer fetches that schema and decodes.
        from_avro = AvroDeserializer(registry)
        consumer = potok.Consumer({"bootstrap.servers": setup.bootstrap, "group.id": "avro-pos-simulator-reader",
                                   "enable.auto.commit": False})
        consumer.assign([potok.TopicPartition(args.topic, p, potok.OFFSET_BEGINNING) for p in range(3)])
        good = framed = read = 0
        deadline = time.monotonic() + 30
        while read < total and time.monotonic() < deadline:
            for msg in consumer.consume(500, 1.0):
                read += 1
                value = msg.value()
                framed += value[0] == 0 and int.from_bytes(value[1:5], "big") == schema_id
                invoice = from_avro(value, SerializationContext(args.topic, MessageField.VALUE))
                good += msg.key().decode() == invoice["StoreID"] and isinstance(invoice["InvoiceLineItems"], list)
        consumer.close()
        print(f"read {read} invoices, every one keyed by its StoreID and valid: {'yes' if good == read else 'no'}")
        print(f"every value in the Confluent wire format with schema id {schema_id}: {'yes' if framed == read else 'no'}")


if __name__ == "__main__":
    main()
