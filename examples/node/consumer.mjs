// Curriculum, section 7: a group consumer (group `nums`) printing each record's partition, offset and value.
//   node examples/node/consumer.mjs [bootstrap]   (default: localhost:9092; Ctrl-C to stop)
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Kafka } = require('../../bindings-node');

const bootstrap = process.argv[2] ?? 'localhost:9092';
const kafka = new Kafka({ clientId: 'numbers-consumer', brokers: [bootstrap] });
const consumer = kafka.consumer({ groupId: 'nums' });
await consumer.connect();
await consumer.subscribe({ topics: ['numbers'], fromBeginning: true });
await consumer.run({
  eachMessage: async ({ partition, message }) => {
    console.log(`partition ${partition} offset ${message.offset} value ${message.value.toString()}`);
  },
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    await consumer.disconnect();
    process.exit(0);
  });
}
