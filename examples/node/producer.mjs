// Curriculum, section 7: a Node producer sending one record a second to topic `numbers` (kafkajs style).
//   node examples/node/producer.mjs [bootstrap] [count]   (defaults: localhost:9092, forever)
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Kafka } = require('../../bindings-node');

const bootstrap = process.argv[2] ?? 'localhost:9092';
const count = Number(process.argv[3] ?? Infinity);
const kafka = new Kafka({ clientId: 'numbers-producer', brokers: [bootstrap] });
const producer = kafka.producer();
await producer.connect();
for (let i = 0; i < count; i++) {
  const [meta] = await producer.send({ topic: 'numbers', messages: [{ key: String(i), value: `message ${i}` }] });
  console.log(`sent message ${i} to partition ${meta.partition} at offset ${meta.baseOffset}`);
  await new Promise((r) => setTimeout(r, 1_000));
}
await producer.disconnect();
