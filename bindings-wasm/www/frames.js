// A small writer of the few Kafka request frames the lessons send (CreateTopics v2, Produce v3 with a
// record batch v2 and its CRC32C) and readers of their answers. The page has no Kafka client yet (potok's
// client comes to the browser later); these are the real bytes a client would put on a socket.

const encoder = new TextEncoder();

class Writer {
  constructor() { this.bytes = []; }
  i8(v) { this.bytes.push(v & 0xff); return this; }
  i16(v) { return this.i8(v >> 8).i8(v); }
  i32(v) { return this.i16(v >> 16).i16(v); }
  i64(v) { const b = BigInt.asUintN(64, BigInt(v)); return this.i32(Number(b >> 32n)).i32(Number(b & 0xffffffffn)); }
  raw(bytes) { for (const b of bytes) this.bytes.push(b); return this; }
  string(s) { if (s === null) return this.i16(-1); const b = encoder.encode(s); return this.i16(b.length).raw(b); }
  array(items, write) { this.i32(items.length); for (const item of items) write(this, item); return this; }
  // Zigzag varints, as record fields use them.
  varint(v) { let z = BigInt.asUintN(64, (BigInt(v) << 1n) ^ (BigInt(v) >> 63n)); while (z >= 0x80n) { this.i8(Number(z & 0x7fn) | 0x80); z >>= 7n; } return this.i8(Number(z)); }
  varbytes(b) { if (b === null) return this.varint(-1); return this.varint(b.length).raw(b); }
  done() { return Uint8Array.from(this.bytes); }
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32c(bytes) {
  let crc = 0xffffffff;
  for (const b of bytes) crc = CRC32C_TABLE[(crc ^ b) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * A record batch v2 (magic 2, no compression) holding `records` ({key, value} strings); `producer` gives an
 * idempotent producer's {producerId, producerEpoch, baseSequence} (none by default).
 */
export function recordBatch(records, timestampMs, producer = { producerId: -1, producerEpoch: -1, baseSequence: -1 }) {
  const body = new Writer();
  records.forEach((r, i) => {
    const rec = new Writer()
      .i8(0) // attributes
      .varint(0) // timestampDelta
      .varint(i) // offsetDelta
      .varbytes(r.key == null ? null : encoder.encode(r.key))
      .varbytes(r.value == null ? null : encoder.encode(r.value))
      .varint(0) // headers
      .done();
    body.varint(rec.length).raw(rec);
  });
  // What the CRC covers: attributes to the end.
  const covered = new Writer()
    .i16(0) // attributes: no compression, CreateTime
    .i32(records.length - 1) // lastOffsetDelta
    .i64(timestampMs) // baseTimestamp
    .i64(timestampMs) // maxTimestamp
    .i64(producer.producerId)
    .i16(producer.producerEpoch)
    .i32(producer.baseSequence)
    .i32(records.length)
    .raw(body.done())
    .done();
  return new Writer()
    .i64(0) // baseOffset: the broker assigns it
    .i32(covered.length + 9) // batchLength: from partitionLeaderEpoch on
    .i32(-1) // partitionLeaderEpoch
    .i8(2) // magic
    .i32(crc32c(covered))
    .raw(covered)
    .done();
}

let nextCorrelationId = 1;

function frame(apiKey, apiVersion, body) {
  const correlationId = nextCorrelationId++;
  const payload = new Writer().i16(apiKey).i16(apiVersion).i32(correlationId).string('potok-playground').raw(body).done();
  return { correlationId, bytes: new Writer().i32(payload.length).raw(payload).done() };
}

export function createTopicsFrame(topic, numPartitions, configs, replicationFactor = 1) {
  const body = new Writer()
    .array([topic], (w) => {
      w.string(topic).i32(numPartitions).i16(replicationFactor).array([], () => {});
      w.array(Object.entries(configs), (w2, [k, v]) => w2.string(k).string(String(v)));
    })
    .i32(5000)
    .i8(0)
    .done();
  return frame(19, 2, body);
}

export function produceFrame(topic, partition, batch) {
  const body = new Writer()
    .string(null)
    .i16(-1)
    .i32(5000)
    .array([topic], (w) => w.string(topic).array([partition], (w2) => w2.i32(partition).i32(batch.length).raw(batch)))
    .done();
  return frame(0, 3, body);
}

class Reader {
  constructor(bytes) { this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength); this.at = 0; }
  i16() { const v = this.view.getInt16(this.at); this.at += 2; return v; }
  i32() { const v = this.view.getInt32(this.at); this.at += 4; return v; }
  i64() { const v = this.view.getBigInt64(this.at); this.at += 8; return Number(v); }
  string() { const n = this.i16(); if (n < 0) return null; const s = new TextDecoder().decode(new Uint8Array(this.view.buffer, this.view.byteOffset + this.at, n)); this.at += n; return s; }
}

function header(bytes, expected) {
  const r = new Reader(bytes);
  if (r.i32() !== bytes.length - 4) throw new Error('bad response size');
  if (r.i32() !== expected.correlationId) throw new Error('bad correlation id');
  return r;
}

/** CreateTopics v2's answer: [{name, errorCode, errorMessage}]. */
export function readCreateTopics(bytes, expected) {
  const r = header(bytes, expected);
  r.i32(); // throttle_time_ms
  const topics = [];
  for (let n = r.i32(); n > 0; n--) topics.push({ name: r.string(), errorCode: r.i16(), errorMessage: r.string() });
  return topics;
}

/** Produce v3's answer for one partition: {errorCode, baseOffset}. */
export function readProduce(bytes, expected) {
  const r = header(bytes, expected);
  r.i32(); // topics
  r.string();
  r.i32(); // partitions
  r.i32(); // index
  return { errorCode: r.i16(), baseOffset: r.i64() };
}
