// One run of 1M (by default) 100-byte records through potok's Node producer and through kafkajs, to the same
// broker: an embedded potok Broker in a child process (so the broker does not share the producers' event
// loop). Not part of CI; build the release addon first (`cd bindings-node && npm run build`).
//
//   node bench/node-producer.mjs [--records N] [--size BYTES] [--batch N] [--in-flight N]
//
// Both clients get the same work: sends of --batch messages, at most --in-flight sends outstanding,
// acks=-1, no compression, each to a fresh one-partition topic. Prints one line per client.
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const potok = require('../bindings-node');
const kafkajs = require('../bindings-node/node_modules/kafkajs');

if (process.argv[2] === '--serve') {
  const broker = await new potok.Broker({ 'num.partitions': 1 }).start();
  process.send(broker.bootstrapServers);
  process.on('disconnect', async () => {
    await broker.stop();
    process.exit(0);
  });
} else {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: '1000000' },
      size: { type: 'string', default: '100' },
      batch: { type: 'string', default: '1000' },
      'in-flight': { type: 'string', default: '4' },
    },
  });
  const records = Number(values.records);
  const size = Number(values.size);
  const batch = Number(values.batch);
  const inFlight = Number(values['in-flight']);

  const server = fork(fileURLToPath(import.meta.url), ['--serve']);
  const bootstrap = await new Promise((resolve) => server.once('message', resolve));
  const value = Buffer.alloc(size, 'x');
  const messages = Array.from({ length: batch }, () => ({ value }));

  async function drive(send) {
    const started = process.hrtime.bigint();
    let sent = 0;
    const lane = async () => {
      while (sent < records) {
        const n = Math.min(batch, records - sent);
        sent += n;
        await send(n === batch ? messages : messages.slice(0, n));
      }
    };
    await Promise.all(Array.from({ length: inFlight }, lane));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { seconds, perSecond: records / seconds, mbPerSecond: (records * size) / seconds / 1e6 };
  }

  function report(name, r) {
    console.log(`${name}: ${records} records of ${size} B in ${r.seconds.toFixed(2)} s = ${Math.round(r.perSecond)} records/s, ${r.mbPerSecond.toFixed(1)} MB/s`);
  }

  try {
    const client = new potok.Kafka({ clientId: 'bench-potok', brokers: [bootstrap] });
    const producer = client.producer({ acks: -1 });
    await producer.connect();
    report('potok', await drive((m) => producer.send({ topic: 'bench-potok', messages: m })));
    await producer.disconnect();

    const kjs = new kafkajs.Kafka({ clientId: 'bench-kafkajs', brokers: [bootstrap], logLevel: kafkajs.logLevel.NOTHING });
    const kproducer = kjs.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
    await kproducer.connect();
    report('kafkajs 2.2.4', await drive((m) => kproducer.send({ topic: 'bench-kafkajs', acks: -1, messages: m })));
    await kproducer.disconnect();
  } finally {
    server.disconnect();
  }
}
