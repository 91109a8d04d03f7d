'use strict';
// Measures the page's own clients under Node: 100k records sent through broker.producer() (potok's producer:
// accumulator, linger, idempotence, Produce frames) and read back through broker.consumer() (potok's fetcher,
// Fetch frames, record decoding). Prints figures; asserts nothing about speed.
// Usage: node bench/clients.js [records] [value bytes] [producer config as JSON]
const { Broker } = require('../pkg/node/potok.js');

const total = Number(process.argv[2] || 100000);
const valueBytes = Number(process.argv[3] || 100);
const extra = JSON.parse(process.argv[4] || '{}');

async function main() {
  const broker = await Broker.start({});
  await broker.admin().createTopics([{ name: 'bench', numPartitions: 1 }]);
  const producer = broker.producer({ 'linger.ms': 5, 'batch.size': 65536, ...extra });
  const value = 'x'.repeat(valueBytes);
  const t0 = performance.now();
  const pending = new Array(total);
  for (let i = 0; i < total; i++) pending[i] = producer.send({ topic: 'bench', key: `k${i}`, value });
  await producer.flush();
  const sent = await Promise.all(pending);
  const produceMs = performance.now() - t0;
  if (sent[total - 1].offset !== total - 1) throw new Error(`last offset ${sent[total - 1].offset}`);

  const consumer = broker.consumer({ 'auto.offset.reset': 'earliest', 'max.poll.records': 10000 });
  consumer.assign([{ topic: 'bench', partition: 0 }]);
  const t1 = performance.now();
  let read = 0;
  while (read < total) read += (await consumer.poll(1000)).length;
  const consumeMs = performance.now() - t1;
  const p = broker.inspect({ batchesPerSegment: 0, indexEntriesPerSegment: 0 }).topics.find(t => t.name === 'bench').partitions[0];
  const batches = p.segments.reduce((n, s) => n + s.batchCount, 0);
  consumer.close();
  await producer.close();
  broker.stop();
  const rate = (n, ms) => Math.round(n / (ms / 1000)).toLocaleString('en-US');
  console.log(`produce ${total} records of ${valueBytes} B with producer.send (${JSON.stringify({ 'linger.ms': 5, 'batch.size': 65536, ...extra })}): ${produceMs.toFixed(0)} ms, ${rate(total, produceMs)} records/s, ${batches} batches`);
  console.log(`consume them with consumer.poll: ${consumeMs.toFixed(0)} ms, ${rate(total, consumeMs)} records/s`);
}

main().catch(e => {
  console.error(e);
  process.exit(1);
});
