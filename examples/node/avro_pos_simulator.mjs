// The course's Avro POS simulator (CURRICULUM.md §4): concurrent producers share one producer and send random
// point-of-sale invoices to a topic, keyed by StoreID, with an Avro serializer that registers the PosInvoice
// schema (examples/data/pos-invoice.avsc: every field ["null", T], LineItem and DeliveryAddress as named records)
// in a schema registry under the subject `<topic>-value` and writes the Confluent wire format.
//
//   node examples/node/avro_pos_simulator.mjs [TOPIC NO_OF_PRODUCERS PRODUCE_SPEED_MS] [--count N]
//       [--bootstrap-servers HOST:PORT,... --schema-registry http://HOST:PORT]
//
// Without --bootstrap-servers it starts one embedded potok broker that also serves the schema registry (the
// course ran this exercise on one broker); --count defaults to 60 there. Read the topic back as JSON with
//   potok console-consumer --bootstrap-server localhost:9092 --topic pos --from-beginning \
//       --value-deserializer avro --property schema.registry.url=http://localhost:8081
// Same stdout lines as pos_simulator.py, plus the subject's schema id and versions in the registry and a check of
// the values' framing (`subject pos-value: schema id N`, `subject pos-value: versions [1]`, `every value in the
// Confluent wire format with schema id N: yes`).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createTopic, endOffsets, log, main, potok, readAll, sleep } from './course.mjs';
import { InvoiceGenerator } from './pos_invoices.mjs';

const schemaPath = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'data', 'pos-invoice.avsc');

main(async () => {
  const { values, positionals } = parseArgs({
    options: {
      'bootstrap-servers': { type: 'string' },
      'schema-registry': { type: 'string' },
      count: { type: 'string' },
      'replication-factor': { type: 'string' },
    },
    allowPositionals: true,
  });
  const [topic = 'pos', producers = '2', speedMs = '500'] = positionals;
  let broker = null;
  let bootstrap = values['bootstrap-servers'];
  let registryUrl = values['schema-registry'];
  if (!bootstrap) {
    broker = await new potok.Broker({ schemaRegistry: true }).start();
    bootstrap = broker.bootstrapServers;
    registryUrl = broker.schemaRegistryUrl;
    log(`embedded potok broker at ${bootstrap}, schema registry at ${registryUrl}`);
  } else if (!registryUrl) {
    throw new Error('--bootstrap-servers needs --schema-registry http://HOST:PORT');
  }
  try {
    const kafka = new potok.Kafka({ clientId: 'avro-pos-simulator', brokers: bootstrap.split(','), logLevel: potok.logLevel.ERROR });
    const rf = Number(values['replication-factor'] ?? 1);
    await createTopic(kafka, topic, 3, rf);
    const registry = new potok.SchemaRegistry({ host: registryUrl });
    const toAvro = registry.serializer(topic, { type: 'AVRO', schema: fs.readFileSync(schemaPath, 'utf8') });
    let remaining = values.count !== undefined ? Number(values.count) : broker ? 60 : Infinity;
    const count = remaining;
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    const generator = new InvoiceGenerator(13);
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
        const value = await toAvro.serialize(invoice);
        await producer.send({ topic, acks: -1, messages: [{ key: invoice.StoreID, value }] }).catch((e) => {
          log(`failed: ${e.message}`);
          failed++;
        });
        sent++;
        await sleep(Number(speedMs));
      }
      console.log(`producer thread ${n}: sent ${sent} invoices`);
    };
    await Promise.all(Array.from({ length: Number(producers) }, (_, i) => run(i + 1)));
    await producer.disconnect();
    const total = (await endOffsets(kafka, topic)).reduce((a, b) => a + b, 0);
    console.log(`sent ${Number.isFinite(count) ? count : total} invoices, failed ${failed}`);
    // The registry's side: the subject the serializer registered, its versions and the latest one's id.
    const subject = `${topic}-value`;
    const schemaId = await registry.getLatestSchemaId(subject);
    console.log(`subject ${subject}: schema id ${schemaId}`);
    console.log(`subject ${subject}: versions ${JSON.stringify(await registry.request('GET', `/subjects/${subject}/versions`))}`);

    // Each value names its schema id after the magic byte (the Confluent wire format); the deserializer fetches
    // that schema from the registry and decodes.
    const fromAvro = registry.deserializer();
    const got = await readAll(kafka, [topic], { expected: total, extraMs: 0 });
    let good = 0;
    let framed = 0;
    for (const { message } of got) {
      framed += message.value[0] === 0 && message.value.readInt32BE(1) === schemaId ? 1 : 0;
      const invoice = await fromAvro.deserialize(message.value);
      good += message.key.toString() === invoice.StoreID && Array.isArray(invoice.InvoiceLineItems) ? 1 : 0;
    }
    console.log(`read ${got.length} invoices, every one keyed by its StoreID and valid: ${good === got.length ? 'yes' : 'no'}`);
    console.log(`every value in the Confluent wire format with schema id ${schemaId}: ${framed === got.length ? 'yes' : 'no'}`);
  } finally {
    if (broker) {
      await broker.stop();
    }
  }
});
