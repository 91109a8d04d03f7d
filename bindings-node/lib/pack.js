'use strict';
// Packs kafkajs-shaped messages for the native producer in core's flat record layout (potok::host::records):
// one Buffer with every key, value and header back to back, an Int32Array describing each record and a
// BigInt64Array of timestamps (-1: none). A batch then costs a few napi calls, not several per record; the
// native side slices the one Buffer without copying.
const { ArgumentError } = require('./errors');

function bytesOf(what, v) {
  if (v === null || v === undefined) {
    return null;
  }
  if (typeof v === 'string' || Buffer.isBuffer(v)) {
    return v;
  }
  if (v instanceof Uint8Array) {
    return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  }
  throw new ArgumentError(`${what} must be a Buffer, a string or null, got ${typeof v}`);
}

function byteLength(v) {
  return v === null ? -1 : typeof v === 'string' ? Buffer.byteLength(v) : v.length;
}

/** `topicMessages`: [{ topic, messages }]; returns the arguments of NativeProducer.send plus the record count. */
function pack(topicMessages) {
  const topics = [];
  let count = 0;
  let size = 0;
  let layoutLength = 0;
  const prepared = [];
  for (const { topic, messages } of topicMessages) {
    if (typeof topic !== 'string' || topic === '') {
      throw new ArgumentError('topic must be a non-empty string');
    }
    if (!Array.isArray(messages)) {
      throw new ArgumentError(`messages for ${topic} must be an array`);
    }
    const topicIndex = topics.push(topic) - 1;
    for (const m of messages) {
      if (m === null || typeof m !== 'object') {
        throw new ArgumentError('each message must be an object');
      }
      const key = bytesOf('key', m.key);
      const value = bytesOf('value', m.value);
      const headers = [];
      if (m.headers) {
        for (const [name, raw] of Object.entries(m.headers)) {
          // kafkajs: a header may repeat, given as an array of values.
          for (const v of Array.isArray(raw) ? raw : [raw]) {
            headers.push([name, bytesOf(`header ${name}`, v)]);
          }
        }
      }
      const keyLength = byteLength(key);
      const valueLength = byteLength(value);
      size += Math.max(keyLength, 0) + Math.max(valueLength, 0);
      for (const [name, v] of headers) {
        size += Buffer.byteLength(name) + Math.max(byteLength(v), 0);
      }
      layoutLength += 5 + 2 * headers.length;
      // -1 (core's NO_TIMESTAMP): the producer stamps the record. Kafka refuses negative timestamps.
      let timestamp = -1n;
      if (m.timestamp !== undefined && m.timestamp !== null) {
        const ms = Number(m.timestamp);
        if (!Number.isSafeInteger(ms) || ms < 0) {
          throw new ArgumentError(`timestamp must be milliseconds since the epoch, got ${m.timestamp}`);
        }
        timestamp = BigInt(ms);
      }
      let partition = -1;
      if (m.partition !== undefined && m.partition !== null) {
        partition = Number(m.partition);
        if (!Number.isInteger(partition) || partition < 0 || partition > 0x7fffffff) {
          throw new ArgumentError(`partition must be a non-negative integer, got ${m.partition}`);
        }
      }
      prepared.push({ topicIndex, partition, key, keyLength, value, valueLength, headers, timestamp });
      count++;
    }
  }
  const data = Buffer.allocUnsafe(size);
  const layout = new Int32Array(layoutLength);
  const timestamps = new BigInt64Array(count);
  let at = 0;
  let l = 0;
  const put = (v) => {
    if (v !== null) {
      at += typeof v === 'string' ? data.write(v, at) : v.copy(data, at);
    }
  };
  prepared.forEach((r, i) => {
    layout[l++] = r.topicIndex;
    layout[l++] = r.partition;
    layout[l++] = r.keyLength;
    layout[l++] = r.valueLength;
    layout[l++] = r.headers.length;
    put(r.key);
    put(r.value);
    for (const [name, v] of r.headers) {
      layout[l++] = Buffer.byteLength(name);
      layout[l++] = byteLength(v);
      put(name);
      put(v);
    }
    timestamps[i] = r.timestamp;
  });
  return { topics, layout, timestamps, data, count };
}

module.exports = { pack };
