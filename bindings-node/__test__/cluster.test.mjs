// The embedded Cluster through kafkajs 2.2.4: a topic with replication factor 3 and min.insync.replicas=2,
// produced with acks=-1; the partition's leader is killed, another replica leads, the dead node leaves the ISR
// and acks=-1 still succeeds with two in-sync replicas; everything is consumed back; the node is started again
// and rejoins the ISR. The course's min-ISR exercise on three brokers beside a dedicated controller: two brokers
// stopped, acks=-1 is refused with NOT_ENOUGH_REPLICAS. Also the argument, config and state errors.
import fs from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import kafkajs from 'kafkajs';

import { collect, topicName } from './helpers.mjs';

const require = createRequire(import.meta.url);
const { Cluster, ArgumentError, ConfigError, StateError } = require('..');
const { Kafka, logLevel, Partitioners } = kafkajs;

const TIMEOUT = 240_000;

/** Calls `check` until it returns a truthy value (errors count as not yet), failing after `ms`. */
async function waitFor(what, check, ms = 30_000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) {
        return value;
      }
      last = undefined;
    } catch (error) {
      // A cluster still electing or fencing a node answers with retriable errors for a moment.
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
}

async function partition0(admin, topic) {
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
  return topics[0].partitions.find((p) => p.partitionId === 0);
}

test('a killed leader: acks=-1 continues with two in-sync replicas, nothing is lost, the node rejoins', { timeout: TIMEOUT }, async () => {
  const cluster = new Cluster({ brokers: 3, config: { 'group.initial.rebalance.delay.ms': 0 } });
  assert.equal(cluster.bootstrapServers, null);
  assert.deepEqual(cluster.running, []);
  assert.deepEqual(cluster.logDirs, []);
  assert.equal(await cluster.start(), cluster);
  let admin;
  let producer;
  try {
    const servers = cluster.bootstrapServers.split(',');
    assert.equal(servers.length, 3);
    for (const server of servers) {
      assert.match(server, /^127\.0\.0\.1:\d+$/);
    }
    assert.deepEqual(cluster.running, [1, 2, 3]);
    assert.deepEqual(cluster.logDirs.map((d) => d.nodeId), [1, 2, 3]);
    assert.ok(cluster.logDirs.every((d) => fs.statSync(d.path).isDirectory()));

    const kafka = new Kafka({
      clientId: 'potok-node-cluster',
      brokers: servers,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 5_000,
      requestTimeout: 30_000,
      retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 3_000 },
    });
    admin = kafka.admin();
    await admin.connect();
    // start() resolved once every broker was registered and unfenced: no waiting for them.
    assert.deepEqual((await admin.describeCluster()).brokers.map((b) => b.nodeId).sort(), [1, 2, 3]);
    const topic = topicName('cluster');
    assert.equal(
      await admin.createTopics({
        topics: [{ topic, numPartitions: 1, replicationFactor: 3, configEntries: [{ name: 'min.insync.replicas', value: '2' }] }],
        waitForLeaders: true,
      }),
      true,
    );
    const before = await waitFor('a leader and three in-sync replicas', async () => {
      const p = await partition0(admin, topic);
      return p && p.leader > 0 && p.isr.length === 3 ? p : null;
    });
    assert.deepEqual([...before.replicas].sort(), [1, 2, 3]);
    const described = await admin.describeConfigs({ resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configNames: ['min.insync.replicas'] }], includeSynonyms: false });
    assert.equal(described.resources[0].configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue, '2');

    producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
    await producer.connect();
    const first = await producer.send({ topic, acks: -1, messages: Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })) });
    assert.equal(first[0].errorCode, 0);
    assert.equal(first[0].baseOffset, '0');

    // The leader dies without a controlled shutdown.
    const dead = before.leader;
    await cluster.killBroker(dead);
    assert.deepEqual(cluster.running, [1, 2, 3].filter((id) => id !== dead));
    assert.equal(cluster.bootstrapServers.split(',').length, 2);
    await assert.rejects(cluster.killBroker(dead), StateError);
    const after = await waitFor(`a leader other than ${dead} and ${dead} out of the ISR`, async () => {
      const p = await partition0(admin, topic);
      return p && p.leader > 0 && p.leader !== dead && !p.isr.includes(dead) ? p : null;
    });
    assert.deepEqual([...after.isr].sort(), [1, 2, 3].filter((id) => id !== dead));
    assert.equal(after.replicas.length, 3, 'the dead node is still a replica, only out of sync');

    // Two in-sync replicas meet min.insync.replicas=2: acks=-1 is still acknowledged.
    const second = await producer.send({ topic, acks: -1, messages: Array.from({ length: 50 }, (_, i) => ({ key: `k${50 + i}`, value: `v${50 + i}` })) });
    assert.equal(second[0].errorCode, 0);
    assert.equal(second[0].baseOffset, '50');

    const consumer = kafka.consumer({ groupId: `${topic}-check`, sessionTimeout: 10_000, heartbeatInterval: 1_000, maxWaitTimeInMs: 200 });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      const seen = await collect(consumer, 100, 90_000);
      assert.deepEqual(
        seen.map((m) => [m.offset, m.value.toString()]),
        Array.from({ length: 100 }, (_, i) => [String(i), `v${i}`]),
      );
    } finally {
      await consumer.disconnect();
    }

    // Started again on its address and data, the node catches up and rejoins the ISR.
    await cluster.startBroker(dead);
    await assert.rejects(cluster.startBroker(dead), StateError);
    assert.deepEqual(cluster.running, [1, 2, 3]);
    assert.deepEqual(cluster.bootstrapServers.split(','), servers);
    const rejoined = await waitFor(`${dead} back in the ISR`, async () => {
      const p = await partition0(admin, topic);
      return p && p.isr.includes(dead) ? p : null;
    }, 60_000);
    assert.deepEqual([...rejoined.isr].sort(), [1, 2, 3]);

    // A controlled stop moves the node's leadership away before it goes.
    const leader = (await partition0(admin, topic)).leader;
    await cluster.stopBroker(leader);
    await waitFor(`leadership moved off ${leader}`, async () => {
      const p = await partition0(admin, topic);
      return p && p.leader > 0 && p.leader !== leader;
    });
  } finally {
    await producer?.disconnect();
    await admin?.disconnect();
    await cluster.stop();
  }
  assert.equal(cluster.bootstrapServers, null);
  assert.deepEqual(cluster.running, []);
  await cluster.stop();
  await assert.rejects(cluster.killBroker(1), StateError);
});

/** The kafkajs protocol error somewhere in `error`'s causes (a retrier wraps what the broker answered). */
function protocolError(error) {
  for (let e = error; e; e = e.cause ?? e.errors?.[0]) {
    if (e.name === 'KafkaJSProtocolError') {
      return e;
    }
  }
  return undefined;
}

test('dedicated controller: two brokers down, acks=-1 below min.insync.replicas gets NOT_ENOUGH_REPLICAS', { timeout: TIMEOUT }, async () => {
  const cluster = await new Cluster({ brokers: 3, controllers: 1, config: { 'replica.lag.time.max.ms': 5_000 } }).start();
  let admin;
  try {
    assert.deepEqual(cluster.running, [1, 2, 3, 4]);
    assert.equal(cluster.bootstrapServers.split(',').length, 3, 'only the brokers take clients');
    const kafka = (servers) =>
      new Kafka({
        clientId: 'potok-node-min-isr',
        brokers: servers.split(','),
        logLevel: logLevel.NOTHING,
        connectionTimeout: 5_000,
        requestTimeout: 30_000,
        retry: { retries: 0 },
      });
    admin = new Kafka({ brokers: cluster.bootstrapServers.split(','), logLevel: logLevel.NOTHING, retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 3_000 } }).admin();
    await admin.connect();
    // No waiting for the brokers: start() resolved once all three were registered and unfenced.
    const topic = topicName('min-isr');
    assert.equal(
      await admin.createTopics({
        topics: [{ topic, numPartitions: 1, replicationFactor: 3, configEntries: [{ name: 'min.insync.replicas', value: '2' }] }],
      }),
      true,
    );
    const { leader } = await waitFor('a leader and three in-sync replicas', async () => {
      const p = await partition0(admin, topic);
      return p && p.leader > 0 && p.isr.length === 3 ? p : null;
    });
    const others = [1, 2, 3].filter((id) => id !== leader);
    for (const id of others) {
      await cluster.stopBroker(id);
    }
    await waitFor(`the ISR down to ${leader}`, async () => {
      const p = await partition0(admin, topic);
      return p && p.isr.length === 1 && p.isr[0] === leader;
    });

    const refusing = kafka(cluster.bootstrapServers).producer({ allowAutoTopicCreation: false, retry: { retries: 0 } });
    await refusing.connect();
    try {
      await assert.rejects(refusing.send({ topic, acks: -1, messages: [{ partition: 0, value: 'refused' }] }), (error) => {
        const cause = protocolError(error);
        assert.equal(cause?.type, 'NOT_ENOUGH_REPLICAS', `${error.name}: ${error.message}`);
        assert.equal(cause.code, 19);
        return true;
      });
    } finally {
      await refusing.disconnect();
    }

    for (const id of others) {
      await cluster.startBroker(id);
    }
    await waitFor('three in sync again', async () => (await partition0(admin, topic))?.isr.length === 3, 60_000);
    const accepting = kafka(cluster.bootstrapServers).producer({ allowAutoTopicCreation: false, retry: { retries: 0 } });
    await accepting.connect();
    try {
      const [sent] = await accepting.send({ topic, acks: -1, messages: [{ partition: 0, value: 'accepted' }] });
      assert.equal(sent.errorCode, 0);
      assert.equal(sent.baseOffset, '0', 'the refused record was never written');
    } finally {
      await accepting.disconnect();
    }
  } finally {
    await admin?.disconnect();
    await cluster.stop();
  }
});

test('bad sizes, keys and node ids are refused with typed errors', { timeout: TIMEOUT }, async () => {
  assert.throws(() => new Cluster({ brokers: 0 }), ArgumentError);
  assert.throws(() => new Cluster({ brokers: 10 }), ArgumentError);
  assert.throws(() => new Cluster({ brokers: 3, controllers: 7 }), ArgumentError);
  assert.throws(() => new Cluster({ brokers: 3, controllers: -1 }), ArgumentError);
  assert.throws(() => new Cluster({ brokers: 3, controllers: 1.5 }), ArgumentError);
  assert.throws(() => new Cluster({ controllers: 1, config: { 'no.such.key': 1 } }), (e) => e instanceof ConfigError && e.key === 'no.such.key');
  assert.throws(() => new Cluster({ brokers: 2.5 }), ArgumentError);
  assert.throws(() => new Cluster({ config: { 'no.such.key': 1 } }), (e) => e instanceof ConfigError && e.key === 'no.such.key');
  assert.throws(() => new Cluster({ config: { 'min.insync.replicas': 'two' } }), (e) => e instanceof ConfigError && e.key === 'min.insync.replicas');
  const cluster = await new Cluster({ brokers: 1 }).start();
  try {
    await assert.rejects(cluster.start(), StateError);
    await assert.rejects(cluster.stopBroker(2), ArgumentError);
    await assert.rejects(cluster.stopBroker('1'), ArgumentError);
    await cluster.stopBroker(1);
    assert.deepEqual(cluster.running, []);
    assert.equal(cluster.bootstrapServers, '');
    await assert.rejects(cluster.killBroker(1), StateError);
  } finally {
    await cluster.stop();
  }
});
