'use strict';
// A KRaft cluster in WebAssembly (three brokers and a controller over an in-memory network, the nodejs-target
// glue of bindings-wasm/pkg), driven with real Kafka request frames in real time: failover, min.insync.replicas,
// restarts and a cut link. The timeouts are shortened (Kafka's defaults are seconds to tens of seconds) so the
// suite runs in seconds; what happens is what happens with the defaults.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { Cluster } = require('../pkg/node/potok.js');
const { call } = require('./kafka');

const NO_ERROR = 0;
const NOT_ENOUGH_REPLICAS = 19;
const TOPIC = 'orders';
const CONFIG = {
  'broker.session.timeout.ms': 1500,
  'broker.heartbeat.interval.ms': 300,
  'replica.lag.time.max.ms': 1500,
  'replica.fetch.backoff.ms': 200,
};

/** Runs `body` with a started cluster and stops it afterwards (its timer would keep Node alive). */
async function withCluster(options, body) {
  const cluster = await Cluster.start(options);
  try {
    return await body(cluster);
  } finally {
    cluster.stopAll();
  }
}

/** Waits (checking every 20 ms, at most `timeoutMs`) until `check()` returns a truthy value, and returns it. */
async function waitFor(what, check, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise(resolve => setTimeout(resolve, 20));
  }
}

const partition = cluster => cluster.inspect().topics.find(t => t.name === TOPIC).partitions[0];
const sorted = ids => [...ids].sort((a, b) => a - b);

async function createTopic(cluster) {
  const r = await call(cluster.connect(1), 'CreateTopics', 3, {
    topics: [{
      topic: TOPIC, numPartitions: 1, replicationFactor: 3,
      configEntries: [{ name: 'min.insync.replicas', value: '2' }],
    }],
    timeout: 5000,
  });
  assert.deepEqual(r.topicErrors.map(e => [e.topic, e.errorCode]), [[TOPIC, NO_ERROR]]);
  await waitFor('every replica exists', () => partition(cluster).logs.every(l => l.logEndOffset !== null));
}

/** Produces one record with acks=all to the partition's leader: {errorCode, baseOffset}. */
async function produce(cluster, value, timeout = 5000) {
  const leader = partition(cluster).leader;
  assert.ok(leader > 0, 'the partition has a leader');
  const r = await call(cluster.connect(leader), 'Produce', 7, {
    acks: -1, timeout, topicData: [{ topic: TOPIC, partitions: [{ partition: 0, messages: [{ value }] }] }],
  });
  const p = r.topics[0].partitions[0];
  return { errorCode: p.errorCode, baseOffset: Number(p.baseOffset) };
}

test('start rejects a bad size or config key with a typed error', async () => {
  await assert.rejects(Cluster.start({ brokers: 0 }), e => {
    assert.equal(e.name, 'PotokError');
    assert.equal(e.kind, 'invalid_argument');
    assert.match(e.message, /brokers must be between 1 and 8/);
    return true;
  });
  await assert.rejects(Cluster.start({ config: { 'no.such.key': 1 } }), e => {
    assert.equal(e.code, 'INVALID_CONFIG');
    assert.equal(e.key, 'no.such.key');
    return true;
  });
});

test('three brokers register with the controller and are unfenced', async () => {
  await withCluster({ config: CONFIG }, async cluster => {
    assert.deepEqual([...cluster.brokerIds], [1, 2, 3]);
    assert.equal(cluster.controllerId, 4);
    const view = cluster.inspect();
    assert.equal(view.clusterId, cluster.clusterId);
    assert.equal(view.controller.state, 'running');
    assert.deepEqual(view.brokers.map(b => [b.id, b.state, b.registered, b.fenced]),
      [[1, 'running', true, false], [2, 'running', true, false], [3, 'running', true, false]]);
    assert.equal(cluster.inspectBroker(2).nodeId, 2);
  });
});

test('failover, NOT_ENOUGH_REPLICAS with min.insync.replicas=2, and restarted brokers rejoining the ISR', async () => {
  await withCluster({ brokers: 3, config: CONFIG }, async cluster => {
    await createTopic(cluster);
    assert.deepEqual(sorted(partition(cluster).isr), [1, 2, 3]);
    assert.deepEqual(await produce(cluster, 'a'), { errorCode: NO_ERROR, baseOffset: 0 });
    await waitFor('every replica knows the high watermark', () => {
      const p = partition(cluster);
      return p.highWatermark === 1 && p.logs.every(l => l.logEndOffset === 1 && l.highWatermark === 1);
    });

    const first = partition(cluster);
    const leaderConn = cluster.connect(first.leader);
    cluster.kill(first.leader);
    await assert.rejects(call(leaderConn, 'Metadata', 1, { topics: [] }), e => e.kind === 'closed');
    assert.throws(() => cluster.connect(first.leader), e => e.kind === 'closed');
    const moved = await waitFor('a new leader', () => {
      const p = partition(cluster);
      return p.leader !== first.leader && p;
    });
    assert.equal(moved.leaderEpoch, first.leaderEpoch + 1);
    assert.equal(moved.isr.length, 2);
    assert.ok(!moved.isr.includes(first.leader));
    assert.deepEqual(await produce(cluster, 'b'), { errorCode: NO_ERROR, baseOffset: 1 });

    const follower = moved.isr.find(id => id !== moved.leader);
    cluster.kill(follower);
    await waitFor('the ISR is the leader alone', () => partition(cluster).isr.length === 1);
    assert.equal((await produce(cluster, 'c')).errorCode, NOT_ENOUGH_REPLICAS);

    cluster.restart(first.leader);
    cluster.restart(follower);
    await waitFor('the ISR grows back', () => sorted(partition(cluster).isr).join() === '1,2,3');
    assert.ok(cluster.inspect().brokers.every(b => b.state === 'running' && !b.fenced));
    assert.deepEqual(await produce(cluster, 'd'), { errorCode: NO_ERROR, baseOffset: 2 });
  });
});

test('a follower cut off from its leader leaves the ISR and returns when the link heals', async () => {
  await withCluster({ config: CONFIG }, async cluster => {
    await createTopic(cluster);
    const p = partition(cluster);
    const follower = p.replicas.find(id => id !== p.leader);
    cluster.cut(p.leader, follower);
    assert.deepEqual(cluster.inspect().cuts, [[Math.min(p.leader, follower), Math.max(p.leader, follower)]]);
    // acks=all waits for the cut follower until the leader drops it from the ISR, then succeeds.
    assert.deepEqual(await produce(cluster, 'a', 10000), { errorCode: NO_ERROR, baseOffset: 0 });
    assert.ok(!partition(cluster).isr.includes(follower));
    assert.ok(cluster.inspect().brokers.every(b => !b.fenced), 'only a link is cut: every broker still heartbeats');
    cluster.heal(p.leader, follower);
    await waitFor('the follower is back in the ISR', () => partition(cluster).isr.length === 3);
    assert.deepEqual(cluster.inspect().cuts, []);
  });
});

test('a controlled shutdown moves leadership away before the broker stops', async () => {
  await withCluster({ config: CONFIG }, async cluster => {
    await createTopic(cluster);
    const leader = partition(cluster).leader;
    cluster.stop(leader);
    await waitFor('the broker stops', () => cluster.inspect().brokers.find(b => b.id === leader).state === 'stopped');
    const p = partition(cluster);
    assert.notEqual(p.leader, leader);
    assert.ok(p.leader > 0);
    assert.deepEqual(await produce(cluster, 'a'), { errorCode: NO_ERROR, baseOffset: 0 });
  });
});
