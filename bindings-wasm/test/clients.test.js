'use strict';
// The page's producer, consumer and admin: potok's own client machines against the broker in the page, through
// Kafka frames. What they do is checked where it lands: in the broker's log (inspect()) and through each other.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { Broker } = require('../pkg/node/potok.js');

/** Runs `body` with a started broker and stops it afterwards (its timer would keep Node alive). */
async function withBroker(config, body) {
  const broker = await Broker.start(config);
  try {
    return await body(broker);
  } finally {
    if (broker.running) broker.stop();
  }
}

function partitionView(broker, topic, partition = 0) {
  const t = broker.inspect({ internalTopics: false }).topics.find(t => t.name === topic);
  assert.ok(t, `topic ${topic} is in inspect()`);
  return t.partitions[partition];
}

const text = bytes => (bytes === null ? null : Buffer.from(bytes).toString('utf8'));

test('a producer sends, a consumer reads back, commits and reads its committed offsets', async () => {
  await withBroker({}, async broker => {
    const admin = broker.admin();
    assert.deepEqual(await admin.createTopics([{ name: 'roundtrip', numPartitions: 1 }]), ['roundtrip']);
    const producer = broker.producer({ 'linger.ms': 0 });
    const sent = await producer.sendBatch(
      Array.from({ length: 20 }, (_, i) => ({ topic: 'roundtrip', key: `k${i}`, value: `v${i}`, headers: { h: 'x' } })),
    );
    assert.deepEqual(sent.map(m => m.offset), Array.from({ length: 20 }, (_, i) => i));
    assert.ok(sent.every(m => m.topic === 'roundtrip' && m.partition === 0 && m.timestamp > 0));

    const consumer = broker.consumer({ 'group.id': 'readers', 'auto.offset.reset': 'earliest' });
    consumer.assign([{ topic: 'roundtrip', partition: 0 }]);
    const records = [];
    while (records.length < 20) records.push(...(await consumer.poll(2000)));
    assert.deepEqual(records.map(r => text(r.value)), Array.from({ length: 20 }, (_, i) => `v${i}`));
    assert.equal(text(records[3].key), 'k3');
    assert.deepEqual(records[0].headers.map(h => [h.key, text(h.value)]), [['h', 'x']]);
    assert.equal(await consumer.position({ topic: 'roundtrip', partition: 0 }), 20);

    const committed = await consumer.commit();
    assert.deepEqual(committed.map(o => [o.topic, o.partition, o.offset]), [['roundtrip', 0, 20]]);
    assert.deepEqual((await consumer.committed()).map(o => o.offset), [20]);
    assert.deepEqual((await admin.listGroupOffsets('readers')).map(o => o.offset), [20]);

    // Seek back, pause and resume.
    consumer.seek({ topic: 'roundtrip', partition: 0, offset: 18 });
    consumer.pause([{ topic: 'roundtrip', partition: 0 }]);
    assert.deepEqual(await consumer.poll(200), []);
    consumer.resume([{ topic: 'roundtrip', partition: 0 }]);
    assert.deepEqual((await consumer.poll(2000)).map(r => r.offset), [18, 19]);
    consumer.close();
    await producer.close();
    await assert.rejects(producer.send({ topic: 'roundtrip', value: 'late' }), e => e.name === 'PotokError');
  });
});

test('linger.ms groups records into one batch, and an idempotent producer numbers it', async () => {
  await withBroker({}, async broker => {
    await broker.admin().createTopics([{ name: 'lingered', numPartitions: 1 }]);
    const producer = broker.producer({ 'linger.ms': 100 });
    const pending = Array.from({ length: 8 }, (_, i) => producer.send({ topic: 'lingered', value: `r${i}` }));
    // Nothing is written before the linger ends.
    assert.equal(partitionView(broker, 'lingered').logEndOffset, 0);
    const sent = await Promise.all(pending);
    assert.deepEqual(sent.map(m => m.offset), [0, 1, 2, 3, 4, 5, 6, 7]);
    const batches = partitionView(broker, 'lingered').segments[0].batches;
    assert.equal(batches.length, 1, 'one batch for eight lingered records');
    assert.equal(batches[0].recordCount, 8);
    const { producerId, producerEpoch } = producer.producerId();
    assert.ok(producerId >= 0);
    assert.deepEqual([batches[0].producerId, batches[0].producerEpoch, batches[0].baseSequence], [producerId, producerEpoch, 0]);

    // A second batch continues the sequence; without linger each send is its own batch.
    await producer.send({ topic: 'lingered', value: 'next' });
    const after = partitionView(broker, 'lingered').segments[0].batches;
    assert.equal(after[1].baseSequence, 8);

    const plain = broker.producer({ 'linger.ms': 0, 'enable.idempotence': false, acks: 1, 'compression.type': 'gzip' });
    await plain.send({ topic: 'lingered', value: 'x'.repeat(500) });
    const last = partitionView(broker, 'lingered').segments[0].batches.at(-1);
    assert.equal(last.producerId, -1);
    assert.equal(last.compression, 'gzip');
    await plain.flush();
  });
});

test('keys land on the partitions murmur2 gives them (the course vectors)', async () => {
  await withBroker({}, async broker => {
    await broker.admin().createTopics([{ name: 'hello-producer-topic', numPartitions: 5 }]);
    const producer = broker.producer({ 'linger.ms': 0 });
    // HelloProducer: Integer keys (4 bytes big-endian) on 5 partitions: 1→p0, 2→p3, 3→p1, 4→p3, 5→p4.
    const expected = { 1: 0, 2: 3, 3: 1, 4: 3, 5: 4 };
    for (const [key, partition] of Object.entries(expected)) {
      const k = new Uint8Array(4);
      new DataView(k.buffer).setInt32(0, Number(key));
      const m = await producer.send({ topic: 'hello-producer-topic', key: k, value: `Simple Message-${key}` });
      assert.equal(m.partition, partition, `key ${key}`);
    }
    // An explicit partition wins; one that does not exist is refused.
    assert.equal((await producer.send({ topic: 'hello-producer-topic', partition: 2, value: 'p2' })).partition, 2);
    await assert.rejects(producer.send({ topic: 'hello-producer-topic', partition: 9, value: 'no' }), e => e.code === 'INVALID_ARGUMENT' || e.kind === 'invalid_argument');
  });
});

test('admin: create with configs, describe, alter configs, list and delete', async () => {
  await withBroker({}, async broker => {
    const admin = broker.admin();
    await admin.createTopics([{ name: 'configured', numPartitions: 3, replicationFactor: 1, configs: { 'retention.ms': 60000 } }]);
    await assert.rejects(admin.createTopics([{ name: 'configured' }]), e => e.name === 'PotokError' && e.code === 'TOPIC_ALREADY_EXISTS');
    assert.deepEqual(await admin.listTopics(), ['configured']);
    const [described] = await admin.describeTopics(['configured']);
    assert.deepEqual(described.partitions.map(p => [p.partition, p.replicas.length]), [[0, 1], [1, 1], [2, 1]]);

    await admin.alterConfigs([{ type: 'topic', name: 'configured', set: { 'segment.bytes': 1048576 } }]);
    const [configs] = await admin.describeConfigs([{ type: 'topic', name: 'configured' }]);
    const byName = Object.fromEntries(configs.configs.map(c => [c.name, c]));
    assert.equal(byName['retention.ms'].value, '60000');
    assert.equal(byName['segment.bytes'].value, '1048576');
    assert.equal(byName['segment.bytes'].source, 'DYNAMIC_TOPIC_CONFIG');
    assert.equal(partitionView(broker, 'configured').segmentBytes, 1048576);

    await admin.alterConfigs([{ type: 'topic', name: 'configured', delete: ['retention.ms'] }]);
    const [after] = await admin.describeConfigs([{ type: 'topic', name: 'configured' }]);
    assert.equal(after.configs.find(c => c.name === 'retention.ms').source, 'DEFAULT_CONFIG');

    const producer = broker.producer({ 'linger.ms': 0 });
    await producer.send({ topic: 'configured', partition: 1, value: 'a' });
    const latest = await admin.listOffsets([
      { topic: 'configured', partition: 1, spec: 'latest' },
      { topic: 'configured', partition: 2, spec: 'latest' },
    ]);
    assert.deepEqual(latest.map(o => [o.partition, o.offset]), [[1, 1], [2, 0]]);
    const [earliest] = await admin.listOffsets([{ topic: 'configured', partition: 1, spec: 'earliest' }]);
    assert.equal(earliest.offset, 0);
    assert.deepEqual(await admin.listGroups(), []);
    assert.deepEqual(await admin.deleteTopics(['configured']), ['configured']);
    assert.deepEqual(await admin.listTopics(), []);
    await assert.rejects(admin.describeTopics(['configured']), e => e.code === 'UNKNOWN_TOPIC_OR_PARTITION');
  });
});

test('config errors are typed with the key; subscribe needs a group.id', async () => {
  await withBroker({}, async broker => {
    assert.throws(() => broker.producer({ 'lingr.ms': 5 }), e => e.code === 'INVALID_CONFIG' && e.key === 'lingr.ms');
    const consumer = broker.consumer({});
    assert.throws(() => consumer.subscribe(['x']), e => e.name === 'PotokError' && /group\.id/.test(e.message));
    await assert.rejects(consumer.poll(10), e => e.name === 'PotokError');
  });
});

test('two subscribed consumers of one group split the partitions, and one closing hands them all over', async () => {
  await withBroker({}, async broker => {
    await broker.admin().createTopics([{ name: 'split', numPartitions: 4 }]);
    const producer = broker.producer({ 'linger.ms': 0 });
    const write = tag =>
      producer.sendBatch([0, 1, 2, 3].map(partition => ({ topic: 'split', partition, value: `${tag}${partition}` })));
    await write('a');
    const config = {
      'group.id': 'splitters',
      'auto.offset.reset': 'earliest',
      'enable.auto.commit': false,
      'heartbeat.interval.ms': 100,
    };
    const sorted = c => c.assignment().map(tp => tp.partition).sort();
    const first = broker.consumer(config);
    assert.throws(() => broker.consumer({}).subscribe('split'), e => e.name === 'PotokError');
    first.subscribe(['split']);
    assert.deepEqual(first.subscription(), ['split']);
    const read = [];
    while (read.length < 4) read.push(...(await first.poll(500)));
    assert.deepEqual(sorted(first), [0, 1, 2, 3]);
    assert.deepEqual(first.rebalances().map(e => [e.type, e.partitions.length]), [['assigned', 4]]);
    assert.ok(first.groupMetadata().generationId >= 1);
    await first.commit();

    // Both keep polling, as applications do: the group rebalances and each gets two partitions.
    const second = broker.consumer(config);
    second.subscribe('split');
    const deadline = Date.now() + 20000;
    while (!(first.assignment().length === 2 && second.assignment().length === 2)) {
      assert.ok(Date.now() < deadline, 'the group did not split the partitions');
      await Promise.all([first.poll(100), second.poll(100)]);
    }
    assert.deepEqual([...sorted(first), ...sorted(second)].sort(), [0, 1, 2, 3]);
    assert.deepEqual(first.rebalances().map(e => e.type), ['revoked', 'assigned']);
    assert.equal(second.rebalances().at(-1).type, 'assigned');

    // New records reach the member owning their partition; the committed offsets keep the old ones from being
    // read again.
    await write('b');
    const got = new Map([[first, []], [second, []]]);
    while (got.get(first).length + got.get(second).length < 4) {
      assert.ok(Date.now() < deadline, 'the new records did not arrive');
      const [a, b] = await Promise.all([first.poll(100), second.poll(100)]);
      got.get(first).push(...a);
      got.get(second).push(...b);
    }
    for (const [c, records] of got) {
      assert.deepEqual(records.map(r => r.partition).sort(), sorted(c));
      assert.ok(records.every(r => r.offset === 1 && text(r.value).startsWith('b')));
    }

    // The first leaves the group on close: the second takes every partition over without waiting for a
    // session timeout.
    first.close();
    const closed = Date.now();
    while (second.assignment().length !== 4) {
      assert.ok(Date.now() < deadline, 'the remaining member did not get every partition');
      await second.poll(100);
    }
    assert.ok(Date.now() - closed < 5000);
    second.close();
    await producer.close();
  });
});

test('a transactional producer commits and aborts; read_committed hides the aborted records', async () => {
  await withBroker({}, async broker => {
    const admin = broker.admin();
    await admin.createTopics([{ name: 'tx', numPartitions: 1 }]);
    const producer = broker.producer({ 'transactional.id': 'page-tx', 'linger.ms': 0 });
    // Nothing is sent before initTransactions and outside a transaction.
    await assert.rejects(producer.send({ topic: 'tx', value: 'early' }), e => e.name === 'PotokError');
    await producer.initTransactions();
    assert.ok(producer.producerId().producerId >= 0);

    producer.beginTransaction();
    await producer.sendBatch(['c1', 'c2'].map(value => ({ topic: 'tx', value })));
    await producer.commitTransaction();

    producer.beginTransaction();
    await producer.sendBatch(['a1', 'a2'].map(value => ({ topic: 'tx', value })));
    await producer.abortTransaction();

    // The third commits a group's offsets with its records (a consumer's groupMetadata() or a group id).
    const reader = broker.consumer({ 'group.id': 'tx-readers' });
    producer.beginTransaction();
    const sent = producer.send({ topic: 'tx', value: 'c3' });
    await producer.sendOffsetsToTransaction([{ topic: 'tx', partition: 0, offset: 4 }], reader.groupMetadata());
    await producer.commitTransaction();
    await sent;
    assert.deepEqual((await admin.listGroupOffsets('tx-readers')).map(o => o.offset), [4]);
    reader.close();

    const readAll = async consumer => {
      consumer.assign([{ topic: 'tx', partition: 0 }]);
      const values = [];
      for (;;) {
        const records = await consumer.poll(600);
        if (records.length === 0) return values;
        values.push(...records.map(r => text(r.value)));
      }
    };
    const committed = broker.consumer({ 'auto.offset.reset': 'earliest', 'isolation.level': 'read_committed' });
    const uncommitted = broker.consumer({ 'auto.offset.reset': 'earliest', 'isolation.level': 'read_uncommitted' });
    assert.deepEqual(await readAll(committed), ['c1', 'c2', 'c3']);
    assert.deepEqual(await readAll(uncommitted), ['c1', 'c2', 'a1', 'a2', 'c3']);
    committed.close();
    uncommitted.close();
    await producer.close();
  });
});
