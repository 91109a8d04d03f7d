// kafkajs 2.2.4 against the embedded Broker: admin, produce (acks -1 and 1, headers, gzip), a consumer
// group reading it back, committed offsets, and a second group starting from the committed position.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import kafkajs from 'kafkajs';

const require = createRequire(import.meta.url);
const { Broker } = require('..');
const { Kafka, logLevel, CompressionTypes, Partitioners } = kafkajs;

const TIMEOUT = 60_000;
let broker;
let kafka;
let admin;
let producer;

before(async () => {
  broker = await new Broker({ 'num.partitions': 1 }).start();
  kafka = new Kafka({
    clientId: 'potok-node-kafkajs',
    brokers: [broker.bootstrapServers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 10_000,
    requestTimeout: 30_000,
    retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 2_000 },
  });
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
}, { timeout: TIMEOUT });

after(async () => {
  await producer?.disconnect();
  await admin?.disconnect();
  await broker?.stop();
}, { timeout: TIMEOUT });

/** Runs a consumer in `groupId` until it has seen `count` messages (or the timeout), then disconnects it. */
async function consume(topic, groupId, count, { fromBeginning = true } = {}) {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000, maxWaitTimeInMs: 200 });
  await consumer.connect();
  const seen = [];
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`saw ${seen.length} of ${count} messages`)), 30_000);
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            seen.push({ partition, ...message });
            if (seen.length >= count) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

test('admin creates, lists and describes topics on the embedded broker', { timeout: TIMEOUT }, async () => {
  assert.equal(await admin.createTopics({ topics: [{ topic: 'kjs-admin', numPartitions: 3 }], waitForLeaders: true }), true);
  assert.ok((await admin.listTopics()).includes('kjs-admin'));
  const { topics } = await admin.fetchTopicMetadata({ topics: ['kjs-admin'] });
  assert.equal(topics[0].partitions.length, 3);
  const cluster = await admin.describeCluster();
  assert.equal(cluster.brokers.length, 1);
  assert.equal(`${cluster.brokers[0].host}:${cluster.brokers[0].port}`, broker.bootstrapServers);
});

test('produce with acks -1 and 1, headers and gzip; a group consumer reads it all back in order', { timeout: TIMEOUT }, async () => {
  await admin.createTopics({ topics: [{ topic: 'kjs-roundtrip', numPartitions: 1 }], waitForLeaders: true });
  const first = await producer.send({
    topic: 'kjs-roundtrip',
    acks: -1,
    messages: [
      { key: 'k0', value: 'v0', headers: { h: 'one' } },
      { key: 'k1', value: 'v1' },
    ],
  });
  assert.equal(first[0].errorCode, 0);
  assert.equal(first[0].baseOffset, '0');
  const second = await producer.send({
    topic: 'kjs-roundtrip',
    acks: 1,
    compression: CompressionTypes.GZIP,
    messages: [{ key: 'k2', value: 'v2' }, { key: null, value: Buffer.from([0, 1, 2, 255]) }],
  });
  assert.equal(second[0].baseOffset, '2');

  const seen = await consume('kjs-roundtrip', 'kjs-group-roundtrip', 4);
  assert.deepEqual(seen.map((m) => m.offset), ['0', '1', '2', '3']);
  assert.deepEqual(seen.map((m) => m.key?.toString() ?? null), ['k0', 'k1', 'k2', null]);
  assert.equal(seen[0].value.toString(), 'v0');
  assert.equal(seen[0].headers.h.toString(), 'one');
  assert.deepEqual([...seen[3].value], [0, 1, 2, 255]);
});

test('committed offsets: a group resumes after what it consumed, fetchOffsets reports it', { timeout: TIMEOUT }, async () => {
  await admin.createTopics({ topics: [{ topic: 'kjs-commit', numPartitions: 1 }], waitForLeaders: true });
  await producer.send({ topic: 'kjs-commit', messages: [0, 1, 2].map((i) => ({ value: `a${i}` })) });
  const firstRun = await consume('kjs-commit', 'kjs-group-commit', 3);
  assert.deepEqual(firstRun.map((m) => m.value.toString()), ['a0', 'a1', 'a2']);

  const [committed] = await admin.fetchOffsets({ groupId: 'kjs-group-commit', topics: ['kjs-commit'] });
  assert.deepEqual(committed.partitions, [{ partition: 0, offset: '3', metadata: null }]);

  await producer.send({ topic: 'kjs-commit', messages: [{ value: 'b0' }] });
  const secondRun = await consume('kjs-commit', 'kjs-group-commit', 1);
  assert.deepEqual(secondRun.map((m) => [m.offset, m.value.toString()]), [['3', 'b0']]);

  const groups = (await admin.listGroups()).groups.map((g) => g.groupId);
  assert.ok(groups.includes('kjs-group-commit'));
});

test('auto-created topic on first produce when the broker allows it', { timeout: TIMEOUT }, async () => {
  const autoProducer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: true });
  await autoProducer.connect();
  try {
    const [result] = await autoProducer.send({ topic: 'kjs-auto', messages: [{ value: 'x' }] });
    assert.equal(result.topicName, 'kjs-auto');
    assert.equal(result.baseOffset, '0');
  } finally {
    await autoProducer.disconnect();
  }
});
