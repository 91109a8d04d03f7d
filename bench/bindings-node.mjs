// One measurement of a Node.js Kafka client against a running broker, printed as one JSON line
// (bench/bindings.sh runs these alternately for potok and kafkajs and writes the report).
//
//   node bench/bindings-node.mjs produce|consume --client potok|kafkajs --bootstrap HOST:PORT --topic T
//        [--records N] [--size BYTES] [--batch N] [--in-flight N] [--mode eachMessage|eachBatch]
//
// produce: N records of BYTES bytes as sends of --batch messages (kafkajs's send({ topic, messages })), at most
//   --in-flight sends outstanding, acks=1, no compression, one-partition topic; the same calls for both clients.
//   Records/s from the first send to the last acknowledgement, and the process's CPU per record (user + system,
//   the addon's native threads included).
// consume: reads N records of TOPIC (one partition) from the beginning with a consumer group and
//   run({ eachMessage }) (or eachBatch), touching each value; records/s and CPU per record from the first
//   message to the N-th (connection and group join left out).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const kafkajs = require('../bindings-node/node_modules/kafkajs');

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    client: { type: 'string' },
    bootstrap: { type: 'string' },
    topic: { type: 'string' },
    records: { type: 'string', default: '1000000' },
    size: { type: 'string', default: '100' },
    batch: { type: 'string', default: '1000' },
    'in-flight': { type: 'string', default: '4' },
    mode: { type: 'string', default: 'eachMessage' },
    'broker-pid': { type: 'string' },
  },
});
const test = positionals[0];
const client = values.client;
const records = Number(values.records);
const size = Number(values.size);
const batch = Number(values.batch);
const inFlight = Number(values['in-flight']);

function cpuSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function brokerCpu() {
  const pid = values['broker-pid'];
  if (!pid) {
    return 0;
  }
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(')').pop().trim().split(/\s+/);
  // utime and stime are fields 14 and 15 of stat; clock ticks are 100 per second on Linux.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function kafka() {
  if (client === 'potok') {
    // Loaded only for potok's runs, so kafkajs's runs do not load the addon.
    const potok = require('../bindings-node');
    return new potok.Kafka({ clientId: 'bench-potok', brokers: [values.bootstrap] });
  }
  return new kafkajs.Kafka({ clientId: 'bench-kafkajs', brokers: [values.bootstrap], logLevel: kafkajs.logLevel.NOTHING });
}

async function produce() {
  const producer =
    client === 'potok'
      ? kafka().producer()
      : kafka().producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
  await producer.connect();
  const value = Buffer.alloc(size, 'v');
  const messages = Array.from({ length: batch }, () => ({ value }));
  const topic = values.topic;
  await producer.send({ topic, acks: 1, messages: [{ value }] });
  const cpu0 = cpuSeconds();
  const broker0 = brokerCpu();
  const t0 = process.hrtime.bigint();
  let sent = 0;
  const lane = async () => {
    while (sent < records) {
      const n = Math.min(batch, records - sent);
      sent += n;
      await producer.send({ topic, acks: 1, messages: n === batch ? messages : messages.slice(0, n) });
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSeconds() - cpu0;
  const broker = brokerCpu() - broker0;
  await producer.disconnect();
  return {
    records_per_s: records / seconds,
    cpu_us_per_record: (cpu / records) * 1e6,
    broker_cpu_us_per_record: (broker / records) * 1e6,
  };
}

async function consume() {
  const consumer = kafka().consumer({ groupId: `bench-${process.pid}` });
  await consumer.connect();
  await consumer.subscribe({ topic: values.topic, fromBeginning: true });
  let seen = 0;
  let bytes = 0;
  let t0;
  let cpu0;
  let broker0;
  let finish;
  const done = new Promise((resolve) => {
    finish = resolve;
  });
  const first = () => {
    t0 = process.hrtime.bigint();
    cpu0 = cpuSeconds();
    broker0 = brokerCpu();
  };
  const end = () => {
    if (seen === records) {
      finish({
        seconds: Number(process.hrtime.bigint() - t0) / 1e9,
        cpu: cpuSeconds() - cpu0,
        broker: brokerCpu() - broker0,
      });
    }
  };
  const timer = setTimeout(() => finish(null), 300_000);
  if (values.mode === 'eachBatch') {
    await consumer.run({
      eachBatch: async ({ batch: b }) => {
        for (const m of b.messages) {
          if (seen === 0) {
            first();
          }
          bytes += m.value.length;
          seen++;
        }
        end();
      },
    });
  } else {
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (seen === 0) {
          first();
        }
        bytes += message.value.length;
        seen++;
        end();
      },
    });
  }
  const r = await done;
  clearTimeout(timer);
  await consumer.disconnect();
  if (r === null || seen < records) {
    throw new Error(`read ${seen} of ${records} records`);
  }
  if (bytes < records * size) {
    throw new Error(`read ${bytes} bytes, expected ${records * size}`);
  }
  const n = records - 1;
  return {
    records_per_s: n / r.seconds,
    cpu_us_per_record: (r.cpu / n) * 1e6,
    broker_cpu_us_per_record: (r.broker / n) * 1e6,
  };
}

const result = test === 'produce' ? await produce() : await consume();
console.log(JSON.stringify({ client, test, mode: test === 'consume' ? values.mode : 'send', ...result }));
process.exit(0);
