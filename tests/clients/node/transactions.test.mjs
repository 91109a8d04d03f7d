// kafkajs 2.2.4 transactions against the broker at $POTOK_BOOTSTRAP (default 127.0.0.1:9092): a committed and
// an aborted transaction as read_committed (kafkajs's default) and read_uncommitted consumers see them;
// consume-transform-produce with transaction.sendOffsets, whose offsets show as the group's committed ones only
// once the transaction commits; and a second producer with the same transactionalId fencing the first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { BOOTSTRAP, OP_TIMEOUT, TEST_TIMEOUT, connectedClients } from './common.mjs';

const ctx = connectedClients('potok-node-txn-test');
const { kafka } = ctx;

function suffix() {
  return randomUUID().replaceAll('-', '').slice(0, 12);
}

async function createTopic(hint, numPartitions) {
  const topic = `potok-node-${hint}-${suffix()}`;
  assert.equal(
    await ctx.admin.createTopics({ topics: [{ topic, numPartitions, replicationFactor: 1 }], waitForLeaders: true, timeout: OP_TIMEOUT }),
    true,
  );
  return topic;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function txnProducer(hint) {
  const producer = kafka.producer({
    transactionalId: `potok-node-txn-${hint}-${suffix()}`,
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await producer.connect();
  return producer;
}

// The values a consumer group reads from `topic` from the beginning until it has passed `endOffset` in every
// partition (the high watermark, markers included), with read_uncommitted or not.
async function readAll(topic, readUncommitted) {
  const ends = await ctx.admin.fetchTopicOffsets(topic);
  const consumer = kafka.consumer({ groupId: `potok-node-txn-reader-${suffix()}`, readUncommitted, maxWaitTimeInMs: 100 });
  await consumer.connect();
  const values = [];
  const done = new Map(ends.map((e) => [e.partition, Number(e.high) === 0]));
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) values.push(m.value.toString());
        // A batch's last offset counts markers and aborted records the client skipped.
        const end = ends.find((e) => e.partition === batch.partition);
        if (Number(batch.lastOffset()) + 1 >= Number(end.high) || Number(batch.highWatermark) <= Number(batch.lastOffset()) + 1) {
          done.set(batch.partition, true);
        }
      },
    });
    const deadline = Date.now() + OP_TIMEOUT;
    while ([...done.values()].some((d) => !d)) {
      if (Date.now() > deadline) throw new Error(`reading ${topic} did not finish: ${JSON.stringify([...done])}`);
      await sleep(50);
    }
    // Anything still arriving would be a record that should not be there.
    await sleep(500);
  } finally {
    await consumer.disconnect();
  }
  return values.sort();
}

test('committed and aborted transactions per isolation level', { timeout: TEST_TIMEOUT }, async () => {
  const topic = await createTopic('isolation', 2);
  const producer = await txnProducer('isolation');
  try {
    const t1 = await producer.transaction();
    await t1.send({ topic, messages: [0, 1, 2, 3].map((i) => ({ key: `${i}`, value: `committed-${i}`, partition: i % 2 })) });
    await t1.commit();
    const t2 = await producer.transaction();
    await t2.send({ topic, messages: [0, 1].map((i) => ({ key: `${i}`, value: `aborted-${i}`, partition: i % 2 })) });
    await t2.abort();
  } finally {
    await producer.disconnect();
  }
  assert.deepEqual(await readAll(topic, false), ['committed-0', 'committed-1', 'committed-2', 'committed-3']);
  assert.deepEqual(await readAll(topic, true), ['aborted-0', 'aborted-1', 'committed-0', 'committed-1', 'committed-2', 'committed-3']);
});

test('consume-transform-produce commits the group offsets with the transaction', { timeout: TEST_TIMEOUT }, async () => {
  const source = await createTopic('ctp-in', 1);
  const sink = await createTopic('ctp-out', 1);
  const groupId = `potok-node-ctp-${suffix()}`;
  await ctx.producer.send({ topic: source, messages: [1, 2, 3, 4, 5].map((i) => ({ value: `${i}` })) });
  const producer = await txnProducer('ctp');
  try {
    // An aborted attempt: neither its output nor its offsets count.
    const aborted = await producer.transaction();
    await aborted.send({ topic: sink, messages: [{ value: 'lost' }] });
    await aborted.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: source, partitions: [{ partition: 0, offset: '3' }] }] });
    await aborted.abort();
    let offsets = await ctx.admin.fetchOffsets({ groupId, topics: [source] });
    assert.equal(offsets[0].partitions[0].offset, '-1', 'an aborted transaction commits no offset');

    const txn = await producer.transaction();
    await txn.send({ topic: sink, messages: [1, 2, 3, 4, 5].map((i) => ({ value: `${i * 10}` })) });
    await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: source, partitions: [{ partition: 0, offset: '5' }] }] });
    await txn.commit();
    offsets = await ctx.admin.fetchOffsets({ groupId, topics: [source] });
    assert.equal(offsets[0].partitions[0].offset, '5');
  } finally {
    await producer.disconnect();
  }
  assert.deepEqual(await readAll(sink, false), ['10', '20', '30', '40', '50']);
});

test('a second producer with the same transactionalId fences the first', { timeout: TEST_TIMEOUT }, async () => {
  const topic = await createTopic('fence', 1);
  const transactionalId = `potok-node-fence-${suffix()}`;
  const opts = { transactionalId, idempotent: true, maxInFlightRequests: 1, retry: { retries: 2 } };
  const first = kafka.producer(opts);
  await first.connect();
  const second = kafka.producer(opts);
  try {
    const old = await first.transaction();
    await old.send({ topic, messages: [{ value: 'first' }] });
    await second.connect(); // InitProducerId: aborts the open transaction and bumps the epoch
    const txn = await second.transaction();
    await txn.send({ topic, messages: [{ value: 'second' }] });
    await txn.commit();
    await assert.rejects(old.commit(), (e) => /PRODUCER_FENCED|INVALID_PRODUCER_EPOCH|fenced|epoch/i.test(`${e.type} ${e.message}`));
  } finally {
    await first.disconnect();
    await second.disconnect();
  }
  assert.deepEqual(await readAll(topic, false), ['second']);
});
