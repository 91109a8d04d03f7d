'use strict';
// Measures the broker in WebAssembly under Node: module load, Broker.start, and producing 100k records through
// request() (frames encoded beforehand with kafkajs's encoders, so only the broker's work is timed), then
// fetching them back. Prints figures; asserts nothing about speed. Usage: node bench/produce.js [records] [per batch]
const t0 = performance.now();
const { Broker } = require('../pkg/node/potok.js');
const loadedMs = performance.now() - t0;
const { frame, decode } = require('../test/kafka');

const total = Number(process.argv[2] || 100000);
const perBatch = Number(process.argv[3] || 1000);

async function main() {
  const t1 = performance.now();
  const broker = await Broker.start({});
  const startedMs = performance.now() - t1;
  const conn = broker.connect();
  const created = await frame('CreateTopics', 3, {
    topics: [{ topic: 'bench', numPartitions: 1, replicationFactor: 1 }],
    timeout: 5000,
  });
  await decode(await conn.request(created.bytes), created);
  const value = 'x'.repeat(100);
  const frames = [];
  for (let sent = 0; sent < total; sent += perBatch) {
    const messages = Array.from({ length: Math.min(perBatch, total - sent) }, (_, i) => ({ key: `k${sent + i}`, value }));
    frames.push(await frame('Produce', 7, { acks: -1, timeout: 5000, topicData: [{ topic: 'bench', partitions: [{ partition: 0, messages }] }] }));
  }
  const bytes = frames.reduce((n, f) => n + f.bytes.length, 0);
  const t2 = performance.now();
  for (const f of frames) {
    const r = await decode(await conn.request(f.bytes), f);
    if (r.topics[0].partitions[0].errorCode !== 0) throw new Error(`produce failed: ${JSON.stringify(r)}`);
  }
  const produceMs = performance.now() - t2;
  const t3 = performance.now();
  let offset = 0;
  let fetchedBytes = 0;
  while (offset < total) {
    const f = await frame('Fetch', 11, {
      replicaId: -1, isolationLevel: 0, maxWaitTime: 0, minBytes: 1, maxBytes: 4 << 20,
      topics: [{ topic: 'bench', partitions: [{ partition: 0, fetchOffset: String(offset), maxBytes: 4 << 20 }] }],
    });
    const answer = await conn.request(f.bytes);
    fetchedBytes += answer.length;
    // The last offset in the answer's batches, read from the frame without decoding every record: the broker's
    // work is what is timed. The high watermark bounds the loop.
    const r = await decode(answer, f);
    const messages = r.responses[0].partitions[0].messages;
    if (messages.length === 0) throw new Error('fetch returned nothing');
    offset = Number(messages[messages.length - 1].offset) + 1;
  }
  const fetchMs = performance.now() - t3;
  const p = broker.inspect({ batchesPerSegment: 0, indexEntriesPerSegment: 0 }).topics.find(t => t.name === 'bench').partitions[0];
  broker.stop();
  const rate = (n, ms) => Math.round(n / (ms / 1000)).toLocaleString('en-US');
  console.log(`module load: ${loadedMs.toFixed(1)} ms; Broker.start: ${startedMs.toFixed(1)} ms`);
  console.log(`produce ${total} records of 100 B in batches of ${perBatch}: ${produceMs.toFixed(0)} ms, ${rate(total, produceMs)} records/s, ${(bytes / 1048576 / (produceMs / 1000)).toFixed(1)} MiB/s of request frames`);
  console.log(`fetch them back (decoded by kafkajs): ${fetchMs.toFixed(0)} ms, ${rate(total, fetchMs)} records/s, ${(fetchedBytes / 1048576).toFixed(1)} MiB of response frames`);
  console.log(`log: high watermark ${p.highWatermark}, ${p.segments.length} segment(s), ${p.sizeBytes} bytes`);
}

main().catch(e => { console.error(e); process.exit(1); });
