// kafkajs 2.2.4 against the broker at $POTOK_BOOTSTRAP (default 127.0.0.1:9092): admin topic calls,
// produce with acks -1 / 1, headers (repeated keys), gzip, offsets. kafkajs can only consume in a
// consumer group, which these suites never use, so what was written is read back with kcat
// (librdkafka's legacy consumer: explicit partition and offset, no group).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import kafkajs from 'kafkajs';

import { BOOTSTRAP, OP_TIMEOUT, TEST_TIMEOUT, connectedClients } from './common.mjs';

const { CompressionTypes } = kafkajs;
const execFileP = promisify(execFile);

const ctx = connectedClients('potok-node-test');
// The admin and producer are connected in a `before` hook: read them through ctx inside tests.

function topicName(hint) {
  return `potok-node-${hint}-${randomUUID().replaceAll('-', '').slice(0, 12)}`;
}

async function createTopic(hint, numPartitions = 1, configEntries = []) {
  const topic = topicName(hint);
  const created = await ctx.admin.createTopics({
    topics: [{ topic, numPartitions, replicationFactor: 1, configEntries }],
    waitForLeaders: true,
    timeout: OP_TIMEOUT,
  });
  assert.equal(created, true);
  return topic;
}

// Everything in one partition, from the beginning, via kcat: one line per record.
async function kcatRead(topic, partition, format) {
  const { stdout } = await execFileP(
    'kcat',
    ['-b', BOOTSTRAP, '-q', '-X', 'client.id=potok-node-kcat', '-C', '-t', topic, '-p', String(partition), '-o', 'beginning', '-e', '-f', format],
    { timeout: OP_TIMEOUT, encoding: 'utf8' },
  );
  return stdout.split('\n').filter((l) => l !== '');
}

test('createTopics, listTopics, fetchTopicMetadata', { timeout: TEST_TIMEOUT }, async () => {
  const topic = await createTopic('meta', 3);
  assert.ok((await ctx.admin.listTopics()).includes(topic));

  const { topics } = await ctx.admin.fetchTopicMetadata({ topics: [topic] });
  assert.equal(topics.length, 1);
  assert.equal(topics[0].name, topic);
  const parts = [...topics[0].partitions].sort((a, b) => a.partitionId - b.partitionId);
  assert.deepEqual(parts.map((p) => p.partitionId), [0, 1, 2]);
  const cluster = await ctx.admin.describeCluster();
  assert.equal(cluster.brokers.length, 1);
  const [broker] = cluster.brokers;
  assert.equal(`${broker.host}:${broker.port}`, BOOTSTRAP);
  assert.equal(cluster.controller, broker.nodeId);
  assert.ok(cluster.clusterId);
  for (const p of parts) {
    assert.equal(p.partitionErrorCode, 0);
    assert.equal(p.leader, broker.nodeId);
    assert.deepEqual(p.replicas, [broker.nodeId]);
    assert.deepEqual(p.isr, [broker.nodeId]);
  }
});

for (const acks of [-1, 1]) {
  test(`send with acks=${acks}: keys, headers (repeated key), base offsets`, { timeout: TEST_TIMEOUT }, async () => {
    const topic = await createTopic(`acks${acks < 0 ? 'all' : acks}`, 2);
    const first = await ctx.producer.send({
      topic,
      acks,
      timeout: OP_TIMEOUT,
      messages: [
        { key: 'k0', value: 'v0', partition: 0, headers: { a: '1', dup: ['x', 'y', 'z'] } },
        { key: 'k1', value: 'v1', partition: 0, headers: { b: Buffer.from('bin') } },
        { key: 'k2', value: 'v2', partition: 1 },
      ],
    });
    const byPartition = Object.fromEntries(first.map((r) => [r.partition, r]));
    assert.equal(first.length, 2);
    for (const r of first) {
      assert.equal(r.topicName, topic);
      assert.equal(r.errorCode, 0);
    }
    assert.equal(byPartition[0].baseOffset, '0');
    assert.equal(byPartition[1].baseOffset, '0');

    // A second send appends: the base offset is the previous high watermark.
    const second = await ctx.producer.send({
      topic,
      acks,
      messages: [{ key: 'k3', value: 'v3', partition: 0, headers: { dup: ['p', 'q'] } }],
    });
    assert.equal(second.length, 1);
    assert.equal(second[0].baseOffset, '2');

    assert.deepEqual(await kcatRead(topic, 0, '%o|%k|%s|%h\n'), [
      '0|k0|v0|a=1,dup=x,dup=y,dup=z',
      '1|k1|v1|b=bin',
      '2|k3|v3|dup=p,dup=q',
    ]);
    assert.deepEqual(await kcatRead(topic, 1, '%o|%k|%s|%h\n'), ['0|k2|v2|']);

    const offsets = (await ctx.admin.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition);
    assert.deepEqual(
      offsets.map(({ partition, offset, high, low }) => ({ partition, offset, high, low })),
      [
        { partition: 0, offset: '3', high: '3', low: '0' },
        { partition: 1, offset: '1', high: '1', low: '0' },
      ],
    );
  });
}

test('sendBatch with gzip across topics, timestamps', { timeout: TEST_TIMEOUT }, async () => {
  const t1 = await createTopic('batch1');
  const t2 = await createTopic('batch2');
  const ts = Date.now() - 60_000;
  const messages = Array.from({ length: 50 }, (_, i) => ({
    key: `key-${i}`,
    value: `value-${i}`.repeat(10),
    partition: 0,
    timestamp: String(ts + i),
    headers: { i: String(i) },
  }));
  const res = await ctx.producer.sendBatch({
    acks: -1,
    compression: CompressionTypes.GZIP,
    topicMessages: [
      { topic: t1, messages },
      { topic: t2, messages: messages.slice(0, 5) },
    ],
  });
  const byTopic = Object.fromEntries(res.map((r) => [r.topicName, r]));
  assert.equal(byTopic[t1].baseOffset, '0');
  assert.equal(byTopic[t2].baseOffset, '0');

  const lines = await kcatRead(t1, 0, '%o|%k|%s|%T|%h\n');
  assert.deepEqual(
    lines,
    messages.map((m, i) => `${i}|${m.key}|${m.value}|${m.timestamp}|i=${i}`),
  );
  assert.equal((await kcatRead(t2, 0, '%o\n')).length, 5);

  // ListOffsets by timestamp: the first offset whose timestamp is >= the one asked for.
  const [byTs] = await ctx.admin.fetchTopicOffsetsByTimestamp(t1, ts + 10);
  assert.deepEqual(byTs, { partition: 0, offset: '10' });
});

test('createTopics on an existing topic: false / TOPIC_ALREADY_EXISTS', { timeout: TEST_TIMEOUT }, async () => {
  const topic = await createTopic('exists');
  // kafkajs turns "every topic already exists" into a false result...
  assert.equal(await ctx.admin.createTopics({ topics: [{ topic }], timeout: OP_TIMEOUT }), false);
  // ...and otherwise reports each topic's error.
  const other = topicName('rf3');
  await assert.rejects(
    ctx.admin.createTopics({ topics: [{ topic }, { topic: other, replicationFactor: 3 }], timeout: OP_TIMEOUT }),
    (e) => {
      assert.equal(e.name, 'KafkaJSAggregateError');
      const types = Object.fromEntries(e.errors.map((x) => [x.topic, x.type]));
      assert.deepEqual(types, { [topic]: 'TOPIC_ALREADY_EXISTS', [other]: 'INVALID_REPLICATION_FACTOR' });
      return true;
    },
  );
  assert.ok(!(await ctx.admin.listTopics()).includes(other));
});

test('deleteTopics removes the topic from metadata', { timeout: TEST_TIMEOUT }, async () => {
  const topic = await createTopic('delete', 2);
  await ctx.admin.deleteTopics({ topics: [topic], timeout: OP_TIMEOUT });
  const deadline = Date.now() + OP_TIMEOUT;
  while ((await ctx.admin.listTopics()).includes(topic) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(!(await ctx.admin.listTopics()).includes(topic));
  await assert.rejects(ctx.admin.fetchTopicMetadata({ topics: [topic] }), (e) => {
    assert.equal(e.type, 'UNKNOWN_TOPIC_OR_PARTITION');
    return true;
  });
});
