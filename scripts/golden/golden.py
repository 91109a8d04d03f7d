"""Golden record batches for potok's record codec: the record set, the librdkafka producer, and a
small batch-header reader used to describe what each generated segment file holds.

Run by scripts/gen-golden.sh (python from a venv with confluent-kafka):
    golden.py spec                                    print the record set (JSON) on stdout
    golden.py create-topics BOOTSTRAP TOPIC...        1 partition, compression.type=producer
    golden.py produce BOOTSTRAP TOPIC CODEC SPEC      produce SPEC's records with librdkafka
    golden.py describe SPEC DIR                       add each DIR/*.log file's batch layout to SPEC
    golden.py heads DIR                               print each batch briefly, with its first record bytes
"""

import base64
import json
import struct
import sys
from pathlib import Path

BASE_TIMESTAMP_MS = 1_700_000_000_000
# The producers flush after this many records, so every file holds two batches of the same shape.
FIRST_BATCH_RECORDS = 10
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
COMPRESSION_NAMES = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def b64(data):
    return None if data is None else base64.b64encode(data).decode()


def records():
    """The fixed record set: (key, value, headers) with bytes or None; timestamps are implied."""
    big = b"potok-" * 500  # 3000 bytes, compresses well
    recs = [
        (b"k0", b"v0", []),
        (b"k1", b"", [("h1", b"x")]),  # empty value, distinct from null
        (b"k2", big, []),
        (None, b"value with a null key", []),
        (b"k4", bytes(range(256)), []),  # every byte value
        (b"k5", None, []),  # tombstone
        (b"k6", "поток 🚀 utf-8".encode(), [("ключ", "значение".encode())]),  # non-ASCII header key
        (b"k7", b"two headers with one key", [("dup", b"a"), ("dup", b"b")]),
        (b"k8", b"null header value", [("nullh", None), ("empty", b"")]),
        (b"k9", b"x" * 100, []),
        (b"k10", b"second batch starts here", [("trace", b"00-0af7651916cd43dd-01")]),
        (None, b"another null key", []),
        (b"k12", b"0123456789abcdef" * 64, [("dup", b"a"), ("other", b"z"), ("dup", b"b")]),
        (b"k13", b"y" * 300, []),
        (b"k14", None, [("deleted-by", b"golden")]),  # tombstone with a header
        (b"k15", b"v15", []),
        (b"k16", b"z" * 127, []),  # 127/128: the varint length boundary
        (b"k17", b"z" * 128, []),
        (b"k18", b"v18", [("a", b"1"), ("b", b"2"), ("c", b"3")]),
        (b"k19", b"last record", []),
    ]
    return [
        {
            "key": b64(k),
            "value": b64(v),
            "timestamp": BASE_TIMESTAMP_MS + i,
            "headers": [{"key": hk, "value": b64(hv)} for hk, hv in hs],
        }
        for i, (k, v, hs) in enumerate(recs)
    ]


def txn_records():
    """The transactional producer's records: the first 3 are committed, the last 2 aborted."""
    out = []
    for i in range(5):
        kind = "committed" if i < 3 else "aborted"
        out.append({
            "key": b64(f"t{i}".encode()),
            "value": b64(f"{kind}-{i}".encode()),
            "timestamp": BASE_TIMESTAMP_MS + 1000 + i,
            "headers": [],
        })
    return out


def spec():
    return {
        "first_batch_records": FIRST_BATCH_RECORDS,
        "records": records(),
        "txn": {"committed": 3, "aborted": 2, "records": txn_records()},
    }


def dumps(v, depth=0):
    """JSON with one record or batch per line, so that a regenerated file diffs readably."""
    pad = " " * (depth + 1)
    if isinstance(v, dict) and any(isinstance(x, (dict, list)) for x in v.values()):
        body = ",\n".join(f"{pad}{json.dumps(k)}: {dumps(x, depth + 1)}" for k, x in v.items())
        return "{\n" + body + "\n" + " " * depth + "}"
    if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
        body = ",\n".join(pad + json.dumps(x, ensure_ascii=False) for x in v)
        return "[\n" + body + "\n" + " " * depth + "]"
    return json.dumps(v, ensure_ascii=False)


def decode(r):
    dec = lambda s: None if s is None else base64.b64decode(s)
    return dec(r["key"]), dec(r["value"]), [(h["key"], dec(h["value"])) for h in r["headers"]]


def create_topics(bootstrap, topics):
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    # A segment rolls once a batch's timestamp is segment.ms past the segment's first one; the
    # fixed 2023 timestamps next to a transaction marker's current time would roll at each marker.
    config = {"compression.type": "producer", "segment.ms": str(2**63 - 1)}
    new = [NewTopic(t, num_partitions=1, replication_factor=1, config=config) for t in topics]
    for topic, fut in admin.create_topics(new, operation_timeout=30, request_timeout=30).items():
        fut.result(timeout=60)


def produce(bootstrap, topic, codec, spec_path):
    import confluent_kafka

    recs = json.loads(Path(spec_path).read_text())["records"]
    producer = confluent_kafka.Producer({
        "bootstrap.servers": bootstrap,
        "compression.type": codec,
        "linger.ms": 1000,  # the flushes below, not linger, end each batch
        "acks": "all",
    })
    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err)

    for i, r in enumerate(recs):
        key, value, headers = decode(r)
        producer.produce(topic, value=value, key=key, partition=0, timestamp=r["timestamp"],
                         headers=headers, on_delivery=on_delivery)
        if i + 1 == FIRST_BATCH_RECORDS:
            if producer.flush(30) != 0:
                sys.exit(f"{topic}: flush timed out")
    if producer.flush(30) != 0 or errors:
        sys.exit(f"{topic}: delivery failed: {errors}")


def batches(data):
    """Yield the v2 batch headers in a segment file (enough to describe it, not a full decoder)."""
    pos = 0
    while pos + 61 <= len(data):
        base_offset, length, leader_epoch, magic = struct.unpack_from(">qiib", data, pos)
        if magic != 2:
            raise ValueError(f"magic {magic} at {pos}")
        (crc, attributes, last_offset_delta, base_ts, max_ts, producer_id, producer_epoch,
         base_sequence, count) = struct.unpack_from(">IhiqqqhiI", data, pos + 17)
        end = pos + 12 + length
        yield {
            "position": pos,
            "base_offset": base_offset,
            "last_offset_delta": last_offset_delta,
            "records_count": count,
            "compression": COMPRESSION_NAMES[attributes & 7],
            "transactional": bool(attributes & 0x10),
            "control": bool(attributes & 0x20),
            "producer_id": producer_id,
            "producer_epoch": producer_epoch,
            "base_sequence": base_sequence,
            "base_timestamp": base_ts,
            "max_timestamp": max_ts,
            "size": end - pos,
            "records_head_hex": data[pos + 61:pos + 77].hex(),
        }
        pos = end
    if pos != len(data):
        raise ValueError(f"{len(data) - pos} trailing bytes")


def describe(spec_path, golden_dir):
    doc = json.loads(Path(spec_path).read_text())
    doc["files"] = {
        p.name: {"batches": [{k: v for k, v in b.items() if k != "records_head_hex"}
                             for b in batches(p.read_bytes())]}
        for p in sorted(Path(golden_dir).glob("*.log"))
    }
    Path(spec_path).write_text(dumps(doc) + "\n")


def heads(golden_dir):
    """Print each file's batches briefly, with the first 16 bytes of their records section."""
    for p in sorted(Path(golden_dir).glob("*.log")):
        for b in batches(p.read_bytes()):
            print(f"{p.name:22} offset={b['base_offset']:<3} n={b['records_count']:<3} "
                  f"{b['compression']:6} txn={int(b['transactional'])} ctl={int(b['control'])} "
                  f"pid={b['producer_id']} seq={b['base_sequence']} records[0:16]={b['records_head_hex']}")


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "spec":
        print(dumps(spec()))
    elif cmd == "create-topics":
        create_topics(args[0], args[1:])
    elif cmd == "produce":
        produce(*args)
    elif cmd == "describe":
        describe(*args)
    elif cmd == "heads":
        heads(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
