// The course's JSON POS simulator (CURRICULUM.md §4): producers sharing one producer send random point-of-sale
// invoices to a topic, keyed by StoreID, as JSON validated against the PosInvoice JSON Schema
// (examples/data/pos-invoice.schema.json; potok's serializers.jsonSchema) before it is written.
//
//   node examples/node/pos_simulator.mjs [TOPIC NO_OF_PRODUCERS PRODUCE_SPEED_MS] [--bootstrap-servers ...] [--count N]
//
// The course's arguments: `pos 3 500`. The producers are concurrent async loops on the one producer (Node has one
// thread). `--count N` stops after N invoices in all (60 by default on the embedded cluster; otherwise until
// Ctrl-C, as the course's). Same stdout lines as pos_simulator.py.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createTopic, endOffsets, main, potok, readAll, sleep, withCluster } from './course.mjs';
import { InvoiceGenerator } from './pos_invoices.mjs';

const schemaPath = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'data', 'pos-invoice.schema.json');

main(async () => {
  const { values, positionals } = parseArgs({
    options: { 'bootstrap-servers': { type: 'string' }, count: { type: 'string' }, 'replication-factor': { type: 'string' } },
    allowPositionals: true,
  });
  const [topic = 'pos', producers = '3', speedMs = '500'] = positionals;
  const rf = Number(values['replication-factor'] ?? 3);
  const opts = { bootstrapServers: values['bootstrap-servers'] ?? null };
  const json = potok.serializers.jsonSchema(fs.readFileSync(schemaPath, 'utf8'));
  await withCluster(opts, 3, async ({ kafka, cluster }) => {
    await createTopic(kafka, topic, 3, rf, { 'min.insync.replicas': Math.min(2, rf) });
    let remaining = values.count !== undefined ? Number(values.count) : cluster ? 60 : Infinity;
    const count = remaining;
    const producer = kafka.producer();
    await producer.connect();
    const generator = new InvoiceGenerator(11);
    let failed = 0;
    let stopping = false;
    process.once('SIGINT', () => {
      stopping = true;
    });
    const run = async (n) => {
      let sent = 0;
      while (!stopping && remaining > 0) {
        remaining--;
        const invoice = generator.next();
        await producer.send({ topic, messages: [{ key: invoice.StoreID, value: json.serialize(invoice) }] }).catch(() => failed++);
        sent++;
        await sleep(Number(speedMs));
      }
      console.log(`producer thread ${n}: sent ${sent} invoices`);
    };
    await Promise.all(Array.from({ length: Number(producers) }, (_, i) => run(i + 1)));
    await producer.disconnect();
    const total = (await endOffsets(kafka, topic)).reduce((a, b) => a + b, 0);
    console.log(`sent ${Number.isFinite(count) ? count : total} invoices, failed ${failed}`);
    const got = await readAll(kafka, [topic], { expected: total, extraMs: 0 });
    // The deserializer validates each value against the schema again.
    const good = got.filter(({ message }) => message.key.toString() === json.deserialize(message.value).StoreID).length;
    console.log(`read ${got.length} invoices, every one keyed by its StoreID and valid: ${good === got.length ? 'yes' : 'no'}`);
  });
});
