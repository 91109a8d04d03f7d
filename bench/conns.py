#!/usr/bin/env python3
"""Many concurrent producer connections from one process, speaking Kafka's wire protocol directly.

usage: conns.py BOOTSTRAP TOPIC PARTITIONS CONNECTIONS TOTAL_BYTES RECORD_SIZE BATCH_RECORDS BROKER_PID

Opens CONNECTIONS TCP connections to BOOTSTRAP (a single broker: it leads every partition) and makes each a
Kafka session with one ApiVersions round trip. With all of them open and idle it waits 3 s and reads the
broker's RSS and CPU from /proc/BROKER_PID. Then every connection produces at once: Produce v7 requests,
acks=1, each carrying one uncompressed record batch (magic 2) of BATCH_RECORDS records of RECORD_SIZE bytes
(no key, no headers) to partition (connection number + request number) mod PARTITIONS, up to 5 requests in
flight per connection (the Java producer's max.in.flight default), until TOTAL_BYTES of record values have
been acknowledged in all. Every response's error code is checked. Prints key=value lines.

One process with asyncio rather than N client processes: a thousand producer processes (or a thousand
librdkafka instances, four threads each) would cost the one client core far more than the broker under test.
The batch is encoded once (its CRC-32C computed here) and resent; without a producer id the broker appends
every copy, as it would a non-idempotent producer's retries.
"""
import asyncio, os, struct, sys, time

bootstrap, topic = sys.argv[1], sys.argv[2]
partitions, conns, total_bytes, record_size, batch_records, broker_pid = map(int, sys.argv[3:9])
host, port = bootstrap.rsplit(":", 1)
port = int(port)
INFLIGHT = 5
CLK_TCK = os.sysconf("SC_CLK_TCK")

# CRC-32C (Castagnoli), reflected polynomial 0x82F63B78, table-driven.
_T = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    _T.append(c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def varint(n):  # zigzag varint
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        if z < 0x80:
            out.append(z)
            return bytes(out)
        out.append((z & 0x7F) | 0x80)
        z >>= 7


def record_batch(n, size, ts):
    value = (b"potok-bench-" * (size // 12 + 1))[:size]
    recs = bytearray()
    for i in range(n):
        body = b"\x00" + varint(0) + varint(i) + varint(-1) + varint(size) + value + varint(0)
        recs += varint(len(body)) + body
    # attributes .. records: covered by the CRC
    tail = struct.pack(">hiqqqhii", 0, n - 1, ts, ts, -1, -1, -1, n) + bytes(recs)
    crc = crc32c(tail)
    after_length = struct.pack(">ibI", -1, 2, crc) + tail  # partitionLeaderEpoch, magic, crc, ...
    return struct.pack(">qi", 0, len(after_length)) + after_length


def kstr(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


CLIENT = kstr("potok-bench-conns")
batch = record_batch(batch_records, record_size, int(time.time() * 1000))
bytes_per_request = batch_records * record_size
requests_total = max(1, -(-total_bytes // bytes_per_request))


def produce_request(partition, corr):
    body = (struct.pack(">h", -1) + struct.pack(">hi", 1, 30000) + struct.pack(">i", 1) + kstr(topic)
            + struct.pack(">ii", 1, partition) + struct.pack(">i", len(batch)) + batch)
    msg = struct.pack(">hhi", 0, 7, corr) + CLIENT + body
    return struct.pack(">i", len(msg)) + msg


REQ = [produce_request(p, 0) for p in range(partitions)]
API_VERSIONS = (lambda m: struct.pack(">i", len(m)) + m)(struct.pack(">hhi", 18, 0, 0) + CLIENT)


async def read_frame(r):
    (n,) = struct.unpack(">i", await r.readexactly(4))
    return await r.readexactly(n)


def produce_error(frame):
    # correlation_id, [responses: name, [partitions: index, error_code, ...]]
    (nlen,) = struct.unpack_from(">h", frame, 8)
    return struct.unpack_from(">h", frame, 10 + nlen + 4 + 4)[0]


state = {"left": requests_total, "acked": 0, "errors": 0, "first_error": None}


async def connect(i, sem):
    async with sem:
        for attempt in range(50):
            try:
                r, w = await asyncio.open_connection(host, port)
                break
            except OSError:
                await asyncio.sleep(0.1)
        else:
            raise RuntimeError(f"connection {i}: could not connect")
        w.write(API_VERSIONS)
        await w.drain()
        await read_frame(r)
        return r, w


async def produce(i, r, w):
    sent = 0
    inflight = 0
    while True:
        while inflight < INFLIGHT and state["left"] > 0:
            state["left"] -= 1
            w.write(REQ[(i + sent) % partitions])
            sent += 1
            inflight += 1
        if inflight == 0:
            return
        await w.drain()
        err = produce_error(await read_frame(r))
        inflight -= 1
        if err:
            state["errors"] += 1
            state["first_error"] = state["first_error"] or err
        else:
            state["acked"] += 1


def broker_cpu():
    with open(f"/proc/{broker_pid}/stat") as f:
        s = f.read().rsplit(")", 1)[1].split()
    return (int(s[11]) + int(s[12])) / CLK_TCK


def broker_rss_kib():
    with open(f"/proc/{broker_pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


async def main():
    rss0, t0 = broker_rss_kib(), time.monotonic()
    sem = asyncio.Semaphore(50)
    cs = await asyncio.gather(*(connect(i, sem) for i in range(conns)))
    print(f"connect_s={time.monotonic() - t0:.3f}")
    print(f"rss_before_kib={rss0}")
    c0 = broker_cpu()
    await asyncio.sleep(3)
    print(f"rss_conns_idle_kib={broker_rss_kib()}")
    print(f"cpu_idle_3s={broker_cpu() - c0:.2f}")
    c0, t0 = broker_cpu(), time.monotonic()
    await asyncio.gather(*(produce(i, r, w) for i, (r, w) in enumerate(cs)))
    el = time.monotonic() - t0
    cpu = broker_cpu() - c0
    b = state["acked"] * bytes_per_request
    print(f"produce_s={el:.3f}")
    print(f"bytes={b}")
    print(f"records_per_s={state['acked'] * batch_records / el:.0f}")
    print(f"MB_per_s={b / el / 1048576:.1f}")
    print(f"broker_cpu_s={cpu:.2f}")
    print(f"broker_cpu_per_GB={cpu / (b / 1e9) if b else 0:.2f}")
    print(f"rss_after_kib={broker_rss_kib()}")
    print(f"errors={state['errors']}")
    if state["errors"]:
        print(f"first_error_code={state['first_error']}")
    for _, w in cs:
        w.close()


asyncio.run(main())
sys.exit(1 if state["errors"] else 0)
