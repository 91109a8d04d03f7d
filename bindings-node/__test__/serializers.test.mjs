// The serializers (`serializers` export, core's potok::serde underneath): round trips, the bytes Kafka's Java
// serializers and Apache Avro write, the curriculum's PosInvoice under JSON Schema and Avro with an invalid invoice
// whose error names its fields, and a produce/consume round trip through the package's own Producer/Consumer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { TIMEOUT, collect, topicName } from './helpers.mjs';

const require = createRequire(import.meta.url);
const { Broker, Kafka, PotokError, SerializationError, serializers } = require('..');

const testdata = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'core', 'src', 'serde', 'testdata');
const POS_JSON_SCHEMA = fs.readFileSync(path.join(testdata, 'pos-invoice.schema.json'), 'utf8');
const POS_AVRO_SCHEMA = JSON.parse(fs.readFileSync(path.join(testdata, 'pos-invoice.avsc'), 'utf8'));
/** Bytes written by Apache Avro's reference implementation (scripts/golden/avro_vectors.py). */
const AVRO_VECTORS = JSON.parse(fs.readFileSync(path.join(testdata, 'avro-vectors.json'), 'utf8'));

/** A PosInvoice as the curriculum's generator writes them (CURRICULUM.md §4). */
function invoice(overrides = {}) {
  return {
    InvoiceNumber: '51058379',
    CreatedTime: 1595140882000,
    StoreID: 'STR7188',
    PosID: 'POS956',
    CashierID: 'OAS134',
    CustomerType: 'PRIME',
    CustomerCardNo: '4629185211',
    TotalAmount: 11114.5,
    NumberOfItems: 2,
    PaymentMethod: 'CARD',
    TaxableAmount: 11114.5,
    CGST: 277.85,
    SGST: 277.85,
    CESS: 13.8925,
    DeliveryType: 'HOME-DELIVERY',
    DeliveryAddress: { AddressLine: '13436 Sundance Lane', City: 'Pune', State: 'Maharashtra', PinCode: '411001', ContactNumber: '2306117245' },
    InvoiceLineItems: [
      { ItemCode: '458', ItemDescription: 'Wine glass', ItemPrice: 1644.0, ItemQty: 2, TotalValue: 3288.0 },
      { ItemCode: '283', ItemDescription: 'Sauce Pan', ItemPrice: 1913.5, ItemQty: 1, TotalValue: 1913.5 },
    ],
    ...overrides,
  };
}

/** Asserts `fn` throws a SerializationError and returns it. */
function serializationError(fn) {
  let caught;
  assert.throws(fn, (e) => {
    caught = e;
    return e instanceof SerializationError;
  });
  assert.ok(caught instanceof PotokError);
  assert.equal(caught.type, 'SERIALIZATION_ERROR');
  assert.equal(caught.code, null);
  assert.equal(caught.retriable, false);
  return caught;
}

test('string: UTF-8 as Kafka StringSerializer writes it, malformed UTF-8 read as U+FFFD, null stays null', () => {
  const { string } = serializers;
  assert.deepEqual(string.serialize('héllo'), Buffer.from([0x68, 0xc3, 0xa9, 0x6c, 0x6c, 0x6f]));
  assert.equal(string.deserialize(string.serialize('héllo')), 'héllo');
  assert.deepEqual(string.serialize(''), Buffer.alloc(0));
  assert.equal(string.deserialize(Buffer.from([0x61, 0xff, 0x62])), 'a\ufffdb');
  assert.equal(string.deserialize(new Uint8Array([0x6f, 0x6b])), 'ok');
  assert.equal(string.serialize(null), null);
  assert.equal(string.deserialize(null), null);
  assert.match(serializationError(() => string.serialize(42)).message, /takes a string, got number/);
});

test('integer: four big-endian bytes (1 is 00 00 00 01), Kafka’s size message, and no silent rounding', () => {
  const { integer } = serializers;
  assert.deepEqual(integer.serialize(1), Buffer.from([0, 0, 0, 1]));
  assert.deepEqual(integer.serialize(-2), Buffer.from([0xff, 0xff, 0xff, 0xfe]));
  assert.deepEqual(integer.serialize(256), Buffer.from([0, 0, 1, 0]));
  for (const n of [0, 1, -1, 2147483647, -2147483648, 123456789]) {
    assert.equal(integer.deserialize(integer.serialize(n)), n);
  }
  assert.equal(
    serializationError(() => integer.deserialize(Buffer.from([1, 2, 3]))).message,
    'Size of data received by IntegerDeserializer is not 4',
  );
  for (const bad of [1.5, 2147483648, -2147483649, Number.NaN, Infinity]) {
    assert.match(serializationError(() => integer.serialize(bad)).message, /IntegerSerializer takes an integer/);
  }
  assert.match(serializationError(() => integer.serialize('1')).message, /takes a number, got string/);
  assert.equal(integer.serialize(undefined), null);
});

test('json: compact JSON text, values without a JSON form and malformed bytes are SerializationErrors', () => {
  const { json } = serializers;
  const value = { b: [1, 2.5, null, 'x'], a: { nested: true } };
  const bytes = json.serialize(value);
  assert.equal(bytes.toString('utf8'), '{"a":{"nested":true},"b":[1,2.5,null,"x"]}');
  assert.deepEqual(json.deserialize(bytes), value);
  assert.deepEqual(json.serialize('text'), Buffer.from('"text"'));
  assert.equal(json.deserialize(Buffer.from('7')), 7);
  assert.match(serializationError(() => json.deserialize(Buffer.from('{'))).message, /^Error deserializing JSON/);
  const cycle = {};
  cycle.self = cycle;
  assert.match(serializationError(() => json.serialize(cycle)).message, /no JSON form/);
  assert.match(serializationError(() => json.serialize(10n)).message, /no JSON form/);
  assert.match(serializationError(() => json.serialize(() => 1)).message, /function has no JSON form/);
  // Nesting beyond serde_json's limit is refused instead of exhausting the stack.
  assert.ok(serializationError(() => json.deserialize(Buffer.from('['.repeat(100_000)))));
  assert.ok(serializationError(() => json.serialize(JSON.parse('['.repeat(1000) + ']'.repeat(1000)))));
});

test('jsonSchema: a PosInvoice round trip, Confluent framing, and an invalid invoice naming its fields', () => {
  const pos = serializers.jsonSchema(POS_JSON_SCHEMA);
  const bytes = pos.serialize(invoice());
  assert.deepEqual(JSON.parse(bytes.toString('utf8')), invoice());
  assert.ok(!bytes.toString('utf8').includes(' '.repeat(2)), 'compact JSON');
  assert.deepEqual(pos.deserialize(bytes), invoice());
  const takeaway = invoice({ DeliveryType: 'TAKEAWAY', DeliveryAddress: null });
  assert.deepEqual(pos.deserialize(pos.serialize(takeaway)), takeaway);

  const bad = invoice({ CustomerType: 'VIP' });
  delete bad.StoreID;
  bad.InvoiceLineItems[1].ItemQty = 0;
  const error = serializationError(() => pos.serialize(bad));
  assert.ok(error.paths.includes('/InvoiceLineItems/1/ItemQty'), JSON.stringify(error.paths));
  assert.ok(error.paths.includes('/CustomerType'), JSON.stringify(error.paths));
  assert.ok(error.paths.includes('/StoreID'), JSON.stringify(error.paths));
  assert.match(error.message, /^JSON Schema validation failed: /);
  assert.match(error.message, /\/InvoiceLineItems\/1\/ItemQty: /);
  // Reading validates too: bytes a schema-less producer wrote are refused the same way.
  const read = serializationError(() => pos.deserialize(serializers.json.serialize(bad)));
  assert.ok(read.paths.includes('/InvoiceLineItems/1/ItemQty'));

  const framed = serializers.jsonSchema(JSON.parse(POS_JSON_SCHEMA), { schemaId: 7 });
  const framedBytes = framed.serialize(invoice());
  assert.deepEqual(framedBytes.subarray(0, 5), Buffer.from([0, 0, 0, 0, 7]));
  assert.deepEqual(framedBytes.subarray(5), bytes);
  assert.deepEqual(framed.deserialize(framedBytes), invoice());
  assert.equal(serializationError(() => framed.deserialize(Buffer.from([1, 0, 0, 0, 7, 0x7b]))).message, 'Unknown magic byte!');

  assert.match(serializationError(() => serializers.jsonSchema({ properties: { a: { pattern: '(' } } })).message, /invalid pattern/);
  assert.match(serializationError(() => serializers.jsonSchema('{nope')).message, /schema is not valid JSON/);
  assert.match(serializationError(() => serializers.jsonSchema(42)).message, /got number/);
  assert.match(serializationError(() => serializers.jsonSchema({}, { schemaId: 1.5 })).message, /schemaId must be an integer/);
});

/** Whether every number in `v` survives JSON.parse (Apache Avro's vectors include longs past 2^53). */
function exactInJavaScript(v) {
  if (typeof v === 'number') {
    return !Number.isInteger(v) || Number.isSafeInteger(v);
  }
  if (v !== null && typeof v === 'object') {
    return Object.values(v).every(exactInJavaScript);
  }
  return true;
}

test('avro: the bytes Apache Avro writes, a PosInvoice round trip, framing, and errors naming the field', () => {
  let checked = 0;
  for (const vector of AVRO_VECTORS) {
    // A null value is a null record value (Kafka's rule), not the empty Avro encoding of the null schema.
    if (vector.value === null || !exactInJavaScript(vector.value)) {
      continue;
    }
    // Schemas are given as objects or, for a primitive type, as its JSON text; two vectors name the PosInvoice file.
    const schema = vector.schema === 'pos-invoice.avsc' ? POS_AVRO_SCHEMA : vector.schema;
    const serde = serializers.avro(typeof schema === 'string' ? JSON.stringify(schema) : schema);
    const bytes = serde.serialize(vector.value);
    assert.equal(bytes.toString('hex'), vector.hex, JSON.stringify(vector));
    assert.equal(serde.serialize(serde.deserialize(bytes)).toString('hex'), vector.hex, JSON.stringify(vector));
    checked += 1;
  }
  assert.ok(checked >= 22, `${checked} of ${AVRO_VECTORS.length} vectors checked`);
  assert.ok(AVRO_VECTORS.some((v) => v.schema === 'pos-invoice.avsc'), 'the reference vectors include PosInvoices');

  const pos = serializers.avro(POS_AVRO_SCHEMA);
  const bytes = pos.serialize(invoice());
  // Union branch 1 (02), the 8-byte string "51058379", then branch 1 and the long 1595140882000 (Avro's zigzag
  // varint, as in the reference vectors).
  assert.equal(bytes.subarray(0, 10).toString('hex'), '0210' + Buffer.from('51058379').toString('hex'));
  assert.equal(bytes.subarray(10, 17).toString('hex'), '02a0f9f1dcec5c');
  assert.deepEqual(pos.deserialize(bytes), invoice());
  const sparse = { ...Object.fromEntries(Object.keys(invoice()).map((k) => [k, null])), InvoiceNumber: 'X1' };
  assert.deepEqual(pos.deserialize(pos.serialize(sparse)), sparse);

  const bad = invoice();
  bad.InvoiceLineItems[1].ItemQty = 'two';
  const error = serializationError(() => pos.serialize(bad));
  assert.deepEqual(error.paths, ['/InvoiceLineItems/1/ItemQty']);
  assert.match(error.message, /^\/InvoiceLineItems\/1\/ItemQty: /);
  assert.match(serializationError(() => pos.deserialize(bytes.subarray(0, bytes.length - 3))).message, /malformed Avro data/);

  const framed = serializers.avro(JSON.stringify(POS_AVRO_SCHEMA), { schemaId: 42 });
  const framedBytes = framed.serialize(invoice());
  assert.deepEqual(framedBytes.subarray(0, 5), Buffer.from([0, 0, 0, 0, 42]));
  assert.deepEqual(framedBytes.subarray(5), bytes);
  assert.deepEqual(framed.deserialize(framedBytes), invoice());
  const other = serializers.avro(POS_AVRO_SCHEMA, { schemaId: 43 });
  assert.match(serializationError(() => other.deserialize(framedBytes)).message, /schema id 42, expected 43/);

  // Bytes fields take Buffers and read back as Avro's JSON strings of code points U+0000..U+00FF.
  const blob = serializers.avro({ type: 'record', name: 'Blob', fields: [{ name: 'data', type: 'bytes' }] });
  const blobBytes = blob.serialize({ data: Buffer.from([0, 0xff, 0x41]) });
  assert.equal(blobBytes.toString('hex'), '0600ff41');
  assert.deepEqual(blob.deserialize(blobBytes), { data: '\u0000\u00ffA' });

  assert.match(serializationError(() => serializers.avro({ type: 'record', name: 'R' })).message, /invalid Avro schema/);
  assert.match(serializationError(() => serializers.avro('"nosuchtype"')).message, /invalid Avro schema/);
});

test('produce and consume PosInvoices through the package’s own Producer and Consumer with the serializers', { timeout: TIMEOUT }, async () => {
  const broker = await new Broker({ 'num.partitions': 1 }).start();
  const kafka = new Kafka({ clientId: 'potok-node-serializers', brokers: [broker.bootstrapServers] });
  const producer = kafka.producer();
  const consumer = kafka.consumer({ groupId: 'pos-serializers' });
  try {
    const topic = topicName('pos');
    const avro = serializers.avro(POS_AVRO_SCHEMA, { schemaId: 1 });
    const jsonSchema = serializers.jsonSchema(POS_JSON_SCHEMA);
    const invoices = [invoice(), invoice({ InvoiceNumber: '2', StoreID: 'STR1534', DeliveryType: 'TAKEAWAY', DeliveryAddress: null })];
    await producer.connect();
    await producer.send({
      topic,
      messages: [
        ...invoices.map((i) => ({ key: serializers.string.serialize(i.StoreID), value: avro.serialize(i), headers: { format: 'avro' } })),
        { key: serializers.string.serialize('STR7188'), value: jsonSchema.serialize(invoices[0]), headers: { format: 'json' } },
        { key: serializers.integer.serialize(7), value: serializers.json.serialize({ note: 'count' }), headers: { format: 'plain' } },
      ],
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const seen = await collect(consumer, 4);
    const formats = seen.map((m) => String(m.headers.format));
    assert.deepEqual(formats, ['avro', 'avro', 'json', 'plain']);
    assert.deepEqual(seen.slice(0, 2).map((m) => avro.deserialize(m.value)), invoices);
    assert.deepEqual(seen.slice(0, 2).map((m) => serializers.string.deserialize(m.key)), ['STR7188', 'STR1534']);
    assert.deepEqual(jsonSchema.deserialize(seen[2].value), invoices[0]);
    assert.equal(serializers.integer.deserialize(seen[3].key), 7);
    assert.deepEqual(serializers.json.deserialize(seen[3].value), { note: 'count' });
    // The wrong deserializer for a record is a typed error too, not garbage.
    assert.match(serializationError(() => avro.deserialize(seen[2].value)).message, /Unknown magic byte!/);
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
    await broker.stop();
  }
});
