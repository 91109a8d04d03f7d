// The client API end to end, as a suite that runs against any broker: `clientSuite(name, bootstrap)` is
// called by client.test.mjs (the embedded Broker) and kafka.test.mjs (Apache Kafka 4.x when
// POTOK_KAFKA_BOOTSTRAP is set). Not a test file itself.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

import { TIMEOUT, collect, topicName } from './helpers.mjs';

const require = createRequire(import.meta.url);
const { Kafka, CompressionTypes, ConfigError, KafkaProtocolError, PotokError, ArgumentError, StateError } = require('..');

/** Retries `fn` while it fails with a retriable error, for at most `ms`. */
async function eventually(fn, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (!e.retriable || Date.now() > deadline) {
        throw e;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export function clientSuite(name, bootstrap) {
  describe(name, () => {
    let kafka;
    let admin;
    let producer;

    before(async () => {
      kafka = new Kafka({ clientId: 'potok-node-client-test', brokers: [bootstrap()] });
      admin = kafka.admin();
      await admin.connect();
      producer = kafka.producer();
      await producer.connect();
    }, { timeout: TIMEOUT });

    after(async () => {
      await producer?.disconnect();
      await admin?.disconnect();
    }, { timeout: TIMEOUT });

    test('admin: createTopics (true, then false when it exists), metadata, offsets, partitions, delete', { timeout: TIMEOUT }, async () => {
      const topic = topicName('admin');
      assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }] }), true);
      assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }] }), false);
      assert.ok((await admin.listTopics()).includes(topic));
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      assert.deepEqual(topics[0].partitions.map((p) => p.partitionId).sort(), [0, 1]);
      const cluster = await admin.describeCluster();
      assert.ok(cluster.brokers.length >= 1);
      assert.ok(cluster.clusterId);
      // Apache Kafka answers ListOffsets with NOT_LEADER_OR_FOLLOWER for a moment after creating a topic; its Java
      // admin client retries such per-partition errors, core's admin does not yet, so the test waits here.
      const offsets = await eventually(() => admin.fetchTopicOffsets(topic));
      assert.deepEqual(offsets, [
        { partition: 0, offset: '0', high: '0', low: '0' },
        { partition: 1, offset: '0', high: '0', low: '0' },
      ]);
      assert.equal(await admin.createPartitions({ topicPartitions: [{ topic, count: 3 }] }), true);
      // Apache Kafka's brokers learn of the new partition asynchronously too: metadata may show 2 for a moment.
      const deadline = Date.now() + 10_000;
      let partitions = 0;
      while (partitions !== 3 && Date.now() < deadline) {
        partitions = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions.length;
        if (partitions !== 3) {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.equal(partitions, 3);
      await admin.deleteTopics({ topics: [topic] });
    });

    test('admin errors are typed: INVALID_REPLICATION_FACTOR, UNKNOWN_TOPIC_OR_PARTITION', { timeout: TIMEOUT }, async () => {
      await assert.rejects(
        admin.createTopics({ topics: [{ topic: topicName('rf'), numPartitions: 1, replicationFactor: 3 }] }),
        (e) => {
          assert.ok(e instanceof KafkaProtocolError, `${e}`);
          assert.ok(e instanceof PotokError);
          assert.equal(e.code, 38);
          assert.equal(e.type, 'INVALID_REPLICATION_FACTOR');
          assert.equal(e.retriable, false);
          return true;
        },
      );
      await assert.rejects(admin.deleteTopics({ topics: [topicName('missing')] }), (e) => {
        assert.ok(e instanceof KafkaProtocolError, `${e}`);
        assert.equal(e.code, 3);
        assert.equal(e.type, 'UNKNOWN_TOPIC_OR_PARTITION');
        assert.equal(e.retriable, true);
        return true;
      });
    });

    test('send: keys, Buffers and strings, repeated headers, partition, timestamp; results per partition', { timeout: TIMEOUT }, async () => {
      const topic = topicName('send');
      await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] });
      const result = await producer.send({
        topic,
        messages: [
          { key: 'k', value: 'one', partition: 0, headers: { h: ['a', 'b'], empty: null } },
          { key: Buffer.from([0, 1]), value: Buffer.from([255, 0, 7]), partition: 2, timestamp: 1_700_000_000_000 },
          { key: null, value: null, partition: 2 },
        ],
      });
      const p2 = result.find((r) => r.partition === 2);
      assert.equal(p2.baseOffset, '0');
      assert.equal(p2.errorCode, 0);
      assert.equal(p2.topicName, topic);

      const consumer = kafka.consumer({ groupId: topicName('g-send') });
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      const seen = await collect(consumer, 3);
      await consumer.disconnect();
      const byValue = new Map(seen.map((m) => [m.value === null ? null : m.value.toString('hex'), m]));
      const one = byValue.get(Buffer.from('one').toString('hex'));
      assert.equal(one.key.toString(), 'k');
      assert.deepEqual(one.headers.h.map(String), ['a', 'b']);
      assert.equal(one.headers.empty, null);
      const binary = byValue.get('ff0007');
      assert.equal(binary.partition, 2);
      assert.equal(binary.offset, '0');
      assert.equal(binary.timestamp, '1700000000000');
      assert.deepEqual([...binary.key], [0, 1]);
      const nulls = byValue.get(null);
      assert.equal(nulls.key, null);
      assert.equal(nulls.offset, '1');
    });

    test('sendBatch across topics, acks 1 and 0, gzip/lz4/zstd/snappy; a group reads every record once, in order per partition', { timeout: TIMEOUT }, async () => {
      const [a, b] = [topicName('batch-a'), topicName('batch-b')];
      await admin.createTopics({ topics: [a, b].map((topic) => ({ topic, numPartitions: 1, replicationFactor: 1 })) });
      await producer.sendBatch({
        topicMessages: [
          { topic: a, messages: [{ value: 'a0' }, { value: 'a1' }] },
          { topic: b, messages: [{ value: 'b0' }] },
        ],
        compression: CompressionTypes.GZIP,
      });
      await producer.send({ topic: a, acks: 1, compression: CompressionTypes.LZ4, messages: [{ value: 'a2' }] });
      await producer.send({ topic: a, compression: CompressionTypes.ZSTD, messages: [{ value: 'a3' }] });
      await producer.send({ topic: b, compression: CompressionTypes.Snappy, messages: [{ value: 'b1' }] });
      const acks0 = await producer.send({ topic: b, acks: 0, messages: [{ value: 'b2' }] });
      assert.equal(acks0.length, 1);
      await producer.flush();

      const consumer = kafka.consumer({ groupId: topicName('g-batch') });
      await consumer.connect();
      await consumer.subscribe({ topics: [a, b], fromBeginning: true });
      const seen = await collect(consumer, 7);
      await consumer.disconnect();
      assert.deepEqual(seen.filter((m) => m.topic === a).map((m) => m.value.toString()), ['a0', 'a1', 'a2', 'a3']);
      assert.deepEqual(seen.filter((m) => m.topic === b).map((m) => m.value.toString()), ['b0', 'b1', 'b2']);
    });

    test('committed offsets: a group resumes where it left off; commitOffsets and fetchOffsets agree', { timeout: TIMEOUT }, async () => {
      const topic = topicName('commit');
      const groupId = topicName('g-commit');
      await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] });
      await producer.send({ topic, messages: [0, 1, 2].map((i) => ({ value: `m${i}` })) });

      const first = kafka.consumer({ groupId });
      await first.connect();
      await first.subscribe({ topics: [topic], fromBeginning: true });
      assert.deepEqual((await collect(first, 3)).map((m) => m.value.toString()), ['m0', 'm1', 'm2']);
      await first.disconnect();
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      assert.deepEqual(committed.partitions, [{ partition: 0, offset: '3', metadata: null }]);

      await producer.send({ topic, messages: [{ value: 'm3' }, { value: 'm4' }] });
      const second = kafka.consumer({ groupId });
      await second.connect();
      await second.subscribe({ topics: [topic] });
      const resumed = await collect(second, 1);
      assert.equal(resumed[0].offset, '3');
      await second.commitOffsets([{ topic, partition: 0, offset: '5' }]);
      const [explicit] = await admin.fetchOffsets({ groupId, topics: [topic] });
      assert.equal(explicit.partitions[0].offset, '5');
      // The loop stopped after m3, so m4 was fetched but never handed out: disconnect's auto commit commits
      // the position of what was processed (4), so m4 is read again rather than lost.
      await second.disconnect();
      const [after2] = await admin.fetchOffsets({ groupId, topics: [topic] });
      assert.equal(after2.partitions[0].offset, '4');
    });

    test('offsets above 2^53 cross exactly, as strings (setOffsets, fetchOffsets)', { timeout: TIMEOUT }, async () => {
      const topic = topicName('bigoffset');
      const groupId = topicName('g-bigoffset');
      await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] });
      // 2^53 + 1 is the first integer a JavaScript number cannot hold: Number('9007199254740993') is ...992.
      const big = '9007199254740993';
      assert.notEqual(String(Number(big)), big);
      await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: big }] });
      const [set] = await admin.fetchOffsets({ groupId, topics: [topic] });
      assert.equal(set.partitions[0].offset, big);
      // kafkajs takes offsets as strings; a BigInt is taken exactly too.
      const bigger = 9007199254740995n;
      await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: bigger }] });
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      assert.equal(committed.partitions[0].offset, String(bigger));
      await assert.rejects(admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '1.5' }] }), ArgumentError);
    });

    test('seek, pause and resume from inside eachMessage; a throwing handler gets the record again', { timeout: TIMEOUT }, async () => {
      const topic = topicName('seek');
      await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] });
      await producer.send({ topic, messages: [0, 1, 2, 3, 4].map((i) => ({ value: `s${i}` })) });
      const consumer = kafka.consumer({ groupId: topicName('g-seek') });
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      const order = [];
      let threw = false;
      let sought = false;
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`got ${order}`)), 30_000);
        consumer
          .run({
            eachMessage: async ({ message, pause }) => {
              const v = message.value.toString();
              if (v === 's1' && !threw) {
                threw = true;
                throw new Error('handler failure');
              }
              order.push(v);
              if (v === 's3' && !sought) {
                sought = true;
                const resume = pause();
                setTimeout(() => {
                  consumer.seek({ topic, partition: 0, offset: '0' });
                  resume();
                }, 200);
              }
              if (order.length === 8) {
                clearTimeout(timer);
                resolve();
              }
            },
          })
          .catch(reject);
      });
      await consumer.disconnect();
      // s1 failed once and came again; after pausing at s3 the consumer was sent back to offset 0.
      assert.deepEqual(order, ['s0', 's1', 's2', 's3', 's0', 's1', 's2', 's3']);
    });

    test('eachBatch hands out a partition batch; unresolved records come again with eachBatchAutoResolve off', { timeout: TIMEOUT }, async () => {
      const topic = topicName('batch');
      await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] });
      await producer.send({ topic, messages: [0, 1, 2, 3].map((i) => ({ value: `b${i}` })) });
      const consumer = kafka.consumer({ groupId: topicName('g-eachbatch') });
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      const batches = [];
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`got ${JSON.stringify(batches)}`)), 30_000);
        consumer
          .run({
            eachBatchAutoResolve: false,
            eachBatch: async ({ batch, resolveOffset }) => {
              batches.push(batch.messages.map((m) => m.value.toString()));
              if (batches.length === 1) {
                resolveOffset(batch.messages[1].offset);
                return;
              }
              for (const m of batch.messages) {
                resolveOffset(m.offset);
              }
              if (batch.lastOffset() === '3') {
                clearTimeout(timer);
                resolve();
              }
            },
          })
          .catch(reject);
      });
      await consumer.disconnect();
      assert.deepEqual(batches[0], ['b0', 'b1', 'b2', 'b3']);
      assert.deepEqual(batches.slice(1).flat(), ['b2', 'b3']);
    });

    test('transactions: committed records are read by read_committed consumers, aborted ones are not', { timeout: TIMEOUT }, async () => {
      const topic = topicName('txn');
      await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] });
      const txProducer = kafka.producer({ transactionalId: topicName('tx'), idempotent: true });
      await txProducer.connect();
      try {
        await assert.rejects(txProducer.send({ topic, messages: [{ value: 'outside' }] }), StateError);
        const aborted = await txProducer.transaction();
        await aborted.send({ topic, messages: [{ value: 'aborted' }] });
        await aborted.abort();
        const committed = await txProducer.transaction();
        await committed.send({ topic, messages: [{ value: 'committed' }] });
        await committed.commit();
      } finally {
        await txProducer.disconnect();
      }
      const consumer = kafka.consumer({ groupId: topicName('g-txn') });
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      const seen = await collect(consumer, 1);
      await consumer.disconnect();
      assert.deepEqual(seen.map((m) => m.value.toString()), ['committed']);
    });

    test('bad input gets typed errors, not crashes', { timeout: TIMEOUT }, async () => {
      assert.throws(() => kafka.producer({ config: { 'linger.ms': 'soon' } })._native(), (e) => e instanceof ConfigError && e.key === 'linger.ms');
      assert.throws(() => new Kafka({ brokers: [] }), ArgumentError);
      await assert.rejects(producer.send({ topic: '', messages: [{ value: 'x' }] }), ArgumentError);
      await assert.rejects(producer.send({ topic: 't', messages: [{ value: 42 }] }), ArgumentError);
      await assert.rejects(producer.send({ topic: 't', messages: [{ value: 'x', partition: -1 }] }), ArgumentError);
      const unconnected = kafka.producer();
      await assert.rejects(unconnected.send({ topic: 't', messages: [{ value: 'x' }] }), StateError);
      assert.throws(() => kafka.consumer({}), ArgumentError);
    });
  });
}
