// The schema registry a potok broker serves (`new Broker({ schemaRegistry: true })`), used through the package's
// SchemaRegistry: register, evolve, refuse, encode/decode, Confluent-style serializers (auto-register,
// use.latest.version), a produce/consume round trip of the curriculum's Avro PosInvoice, and Confluent's errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import kafkajs from 'kafkajs';

import { TIMEOUT, collect, topicName } from './helpers.mjs';

const require = createRequire(import.meta.url);
const { Broker, Cluster, Kafka, SchemaRegistry, SchemaRegistryError, SchemaType, SerializationError } = require('..');

const testdata = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'core', 'src', 'serde', 'testdata');
const POS_AVRO_SCHEMA = JSON.parse(fs.readFileSync(path.join(testdata, 'pos-invoice.avsc'), 'utf8'));

const V1 = { type: 'record', name: 'Reading', namespace: 't', fields: [{ name: 'sensor', type: 'string' }] };
const V2 = { ...V1, fields: [...V1.fields, { name: 'celsius', type: ['null', 'double'], default: null }] };
const BAD = { ...V1, fields: [{ name: 'sensor', type: 'int' }] };

test('a broker with schemaRegistry serves Confluent\'s REST API', { timeout: TIMEOUT }, async (t) => {
  const broker = await new Broker({ schemaRegistry: true }).start();
  t.after(() => broker.stop());
  assert.match(broker.schemaRegistryUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  const registry = new SchemaRegistry({ host: broker.schemaRegistryUrl });
  const subject = `${topicName('readings')}-value`;

  const { id: id1 } = await registry.register({ type: SchemaType.AVRO, schema: V1 }, { subject });
  assert.deepEqual(await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(V1) }, { subject }), { id: id1 });
  const { id: id2 } = await registry.register({ type: SchemaType.AVRO, schema: V2 }, { subject });
  assert.notEqual(id2, id1);
  await assert.rejects(registry.register({ schema: BAD }, { subject }), (e) => {
    assert.ok(e instanceof SchemaRegistryError);
    assert.equal(e.status, 409);
    assert.equal(e.errorCode, 40901);
    return true;
  });
  assert.equal(await registry.getLatestSchemaId(subject), id2);
  assert.equal(await registry.getRegistryId(subject, 1), id1);
  assert.deepEqual(await registry.getSchema(id1), V1);

  const encoded = await registry.encode(id2, { sensor: 'a', celsius: 21.5 });
  assert.equal(encoded[0], 0);
  assert.equal(encoded.readInt32BE(1), id2);
  assert.deepEqual(await registry.decode(encoded), { sensor: 'a', celsius: 21.5 });

  await assert.rejects(registry.request('GET', '/subjects/nope/versions'), (e) => e instanceof SchemaRegistryError && e.errorCode === 40401);
  await assert.rejects(registry.register({ schema: '{not avro' }, { subject }), (e) => e instanceof SchemaRegistryError && e.errorCode === 42201);
  await assert.rejects(registry.encode(id1, { sensor: 5 }), (e) => e instanceof SerializationError && e.paths.includes('/sensor'));
});

test('Confluent-style serializers: auto-register, look up, use the latest version', { timeout: TIMEOUT }, async (t) => {
  const broker = await new Broker({ schemaRegistry: true }).start();
  t.after(() => broker.stop());
  const registry = new SchemaRegistry({ host: broker.schemaRegistryUrl });
  const topic = topicName('serde');
  const auto = registry.serializer(topic, { schema: V1 });
  const bytes = await auto.serialize({ sensor: 'x' });
  const id1 = await registry.getLatestSchemaId(`${topic}-value`);
  assert.equal(bytes.readInt32BE(1), id1);
  assert.equal(await auto.serialize(null), null);
  await registry.register({ schema: V2 }, { subject: `${topic}-value` });
  const latest = registry.serializer(topic, { useLatestVersion: true });
  const withLatest = await latest.serialize({ sensor: 'y', celsius: 1.5 });
  assert.equal(withLatest.readInt32BE(1), await registry.getLatestSchemaId(`${topic}-value`));
  const lookupOnly = registry.serializer(topic, { schema: BAD, autoRegisterSchemas: false });
  await assert.rejects(lookupOnly.serialize({ sensor: 1 }), (e) => e instanceof SchemaRegistryError && e.errorCode === 40403);
  const keys = registry.serializer(topic, { schema: V1, isKey: true });
  await keys.serialize({ sensor: 'k' });
  assert.ok(await registry.getLatestSchemaId(`${topic}-key`));
  const person = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] };
  const json = registry.serializer(topicName('json'), { type: SchemaType.JSON, schema: person });
  const framed = await json.serialize({ name: 'Ada' });
  assert.deepEqual(await registry.deserializer({ type: 'JSON' }).deserialize(framed), { name: 'Ada' });
  await assert.rejects(json.serialize({ name: 1 }), (e) => e instanceof SerializationError && e.paths.includes('/name'));
});

test('the curriculum\'s Avro PosInvoice through the broker and the registry', { timeout: TIMEOUT }, async (t) => {
  const broker = await new Broker({ schemaRegistry: true }).start();
  t.after(() => broker.stop());
  const registry = new SchemaRegistry({ host: broker.schemaRegistryUrl });
  const topic = topicName('pos');
  const toAvro = registry.serializer(topic, { schema: POS_AVRO_SCHEMA });
  const kafka = new Kafka({ clientId: 'pos', brokers: [broker.bootstrapServers] });
  const producer = kafka.producer();
  await producer.connect();
  const invoices = Array.from({ length: 5 }, (_, i) => ({
    InvoiceNumber: `${1000 + i}`, CreatedTime: 1595140882000 + i, StoreID: `STR${7000 + i}`, PosID: 'POS100', CashierID: 'OAS100',
    CustomerType: 'PRIME', CustomerCardNo: '4629185211', TotalAmount: 100.5, NumberOfItems: 1, PaymentMethod: 'CARD',
    TaxableAmount: 100.5, CGST: 2.5125, SGST: 2.5125, CESS: 0.1256, DeliveryType: 'TAKEAWAY', DeliveryAddress: null,
    InvoiceLineItems: [{ ItemCode: '1', ItemDescription: 'Mug', ItemPrice: 100.5, ItemQty: 1, TotalValue: 100.5 }],
  }));
  for (const inv of invoices) {
    await producer.send({ topic, messages: [{ key: inv.StoreID, value: await toAvro.serialize(inv) }] });
  }
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: topicName('g') });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const seen = await collect(consumer, 5);
  await consumer.disconnect();
  const read = await Promise.all(seen.map((m) => registry.decode(m.value)));
  assert.deepEqual(read.sort((a, b) => a.InvoiceNumber.localeCompare(b.InvoiceNumber)), invoices);
});

test('a cluster with schemaRegistry: the schemas outlive the broker leading _schemas', { timeout: 240_000 }, async (t) => {
  const cluster = await new Cluster({ brokers: 3, schemaRegistry: true }).start();
  t.after(() => cluster.stop());
  const urls = cluster.schemaRegistryUrl.split(',');
  assert.equal(urls.length, 3);
  const admin = new kafkajs.Kafka({ brokers: cluster.bootstrapServers.split(','), logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  const { topics } = await admin.fetchTopicMetadata({ topics: ['_schemas'] });
  await admin.disconnect();
  const { leader, replicas } = topics[0].partitions[0];
  assert.equal(replicas.length, 3, '_schemas is on every broker');
  const lostUrl = cluster.brokerSchemaRegistryUrl(leader);
  const { id: id1 } = await new SchemaRegistry({ host: lostUrl }).register({ schema: V1 }, { subject: 'pos-value' });

  await cluster.killBroker(leader);
  assert.equal(cluster.brokerSchemaRegistryUrl(leader), null);
  const [readerUrl, writerUrl] = cluster.schemaRegistryUrl.split(',');
  assert.deepEqual(await new SchemaRegistry({ host: readerUrl }).getSchema(id1), V1);
  // Writes go on once _schemas has a new leader (after the lost broker's session times out).
  const writer = new SchemaRegistry({ host: writerUrl });
  const deadline = Date.now() + 60_000;
  let id2;
  for (;;) {
    try {
      ({ id: id2 } = await writer.register({ schema: V2 }, { subject: 'pos-value' }));
      break;
    } catch (e) {
      if (!(e instanceof SchemaRegistryError) || Date.now() > deadline) {
        throw e;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  assert.notEqual(id2, id1);
  await assert.rejects(writer.register({ schema: BAD }, { subject: 'pos-value' }), (e) => e.status === 409);
  await cluster.startBroker(leader);
  assert.equal(cluster.brokerSchemaRegistryUrl(leader), lostUrl);
  assert.equal(await new SchemaRegistry({ host: lostUrl }).getLatestSchemaId('pos-value'), id2);
});
