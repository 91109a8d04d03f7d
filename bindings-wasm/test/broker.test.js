'use strict';
// The broker in WebAssembly (the nodejs-target glue of bindings-wasm/pkg), driven with real Kafka request frames.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { Broker } = require('../pkg/node/potok.js');
const { Types: Compression } = require('kafkajs/src/protocol/message/compression');
const { MemberMetadata, MemberAssignment } = require('kafkajs/src/consumer/assignerProtocol');
const { frame, decode, call } = require('./kafka');

const NO_ERROR = 0;

/** Runs `body` with a started broker and stops it afterwards (its timer would keep Node alive). */
async function withBroker(config, body) {
  const broker = await Broker.start(config);
  try {
    return await body(broker);
  } finally {
    if (broker.running) broker.stop();
  }
}

async function createTopic(conn, topic, numPartitions = 1, configEntries = []) {
  const r = await call(conn, 'CreateTopics', 3, {
    topics: [{ topic, numPartitions, replicationFactor: 1, configEntries }],
    timeout: 5000,
  });
  assert.deepEqual(r.topicErrors.map(e => [e.topic, e.errorCode]), [[topic, NO_ERROR]]);
}

async function produce(conn, topic, partition, messages, { acks = -1, compression = Compression.None } = {}) {
  return call(conn, 'Produce', 7, {
    acks,
    timeout: 5000,
    compression,
    topicData: [{ topic, partitions: [{ partition, messages }] }],
  });
}

function fetchArgs(topic, partition, fetchOffset, maxWaitTime) {
  return {
    replicaId: -1,
    isolationLevel: 0,
    maxWaitTime,
    minBytes: 1,
    maxBytes: 1 << 20,
    topics: [{ topic, partitions: [{ partition, fetchOffset: String(fetchOffset), maxBytes: 1 << 20 }] }],
  };
}

const values = partition => partition.messages.map(m => m.value.toString());

test('start rejects an unknown config key with a typed error', async () => {
  await assert.rejects(Broker.start({ 'no.such.key': 1 }), e => {
    assert.equal(e.name, 'PotokError');
    assert.equal(e.code, 'INVALID_CONFIG');
    assert.equal(e.errorCode, 40);
    assert.equal(e.kind, 'config');
    assert.equal(e.key, 'no.such.key');
    return e instanceof Error;
  });
  await assert.rejects(Broker.start({ 'num.partitions': 'many' }), { code: 'INVALID_CONFIG', key: 'num.partitions' });
});

test('ApiVersions, CreateTopics and Metadata', async () => {
  await withBroker({ 'num.partitions': 2 }, async broker => {
    assert.equal(broker.nodeId, 1);
    assert.match(broker.clusterId, /^[A-Za-z0-9_-]{22}$/);
    const versions = await call(broker, 'ApiVersions', 2, {});
    assert.equal(versions.errorCode, NO_ERROR);
    const produce = versions.apiVersions.find(v => v.apiKey === 0);
    assert.ok(produce.minVersion <= 7 && produce.maxVersion >= 7, JSON.stringify(produce));
    await createTopic(broker, 'orders', 3);
    const metadata = await call(broker, 'Metadata', 6, { topics: ['orders', 'auto-created'], allowAutoTopicCreation: true });
    assert.deepEqual(metadata.brokers.map(b => [b.nodeId, b.host, b.port]), [[1, 'localhost', 9092]]);
    const orders = metadata.topicMetadata.find(t => t.topic === 'orders');
    assert.equal(orders.topicErrorCode, NO_ERROR);
    assert.deepEqual(orders.partitionMetadata.map(p => [p.partitionId, p.leader]).sort(), [[0, 1], [1, 1], [2, 1]]);
    // Auto-created with num.partitions from the config given to start().
    const auto = await call(broker, 'Metadata', 6, { topics: ['auto-created'], allowAutoTopicCreation: true });
    assert.equal(auto.topicMetadata[0].partitionMetadata.length, 2);
  });
});

test('Produce with a CRC32C record batch, Fetch, and what inspect() shows', async () => {
  await withBroker({}, async broker => {
    const conn = broker.connect();
    await createTopic(conn, 't');
    const first = await produce(conn, 't', 0, [
      { key: 'k1', value: 'one', headers: { h: 'x' } },
      { key: 'k2', value: 'two' },
    ]);
    const p0 = first.topics[0].partitions[0];
    assert.deepEqual([p0.errorCode, p0.baseOffset], [NO_ERROR, '0']);
    const second = await produce(conn, 't', 0, [{ value: 'three' }], { compression: Compression.GZIP });
    assert.equal(second.topics[0].partitions[0].baseOffset, '2');
    const fetched = await call(conn, 'Fetch', 11, fetchArgs('t', 0, 0, 0));
    const part = fetched.responses[0].partitions[0];
    assert.deepEqual([part.errorCode, part.highWatermark, part.lastStableOffset], [NO_ERROR, '3', '3']);
    assert.deepEqual(values(part), ['one', 'two', 'three']);
    assert.equal(part.messages[0].headers.h.toString(), 'x');

    const view = broker.inspect();
    const topic = view.topics.find(t => t.name === 't');
    assert.equal(topic.internal, false);
    const p = topic.partitions[0];
    assert.deepEqual(
      [p.logStartOffset, p.highWatermark, p.lastStableOffset, p.logEndOffset, p.leader, p.isr],
      [0, 3, 3, 3, 1, [1]],
    );
    assert.equal(p.segments.length, 1);
    const [segment] = p.segments;
    assert.equal(segment.file, '00000000000000000000.log');
    assert.deepEqual([segment.baseOffset, segment.nextOffset, segment.batchCount, segment.recordCount], [0, 3, 2, 3]);
    const [b0, b1] = segment.batches;
    assert.deepEqual([b0.baseOffset, b0.lastOffset, b0.recordCount, b0.compression, b0.magic], [0, 1, 2, 'none', 2]);
    assert.deepEqual([b1.baseOffset, b1.lastOffset, b1.compression, b1.position], [2, 2, 'gzip', b0.sizeBytes]);
    assert.equal(segment.sizeBytes, b0.sizeBytes + b1.sizeBytes);
    assert.equal(p.sizeBytes, segment.sizeBytes);
    const internal = broker.inspect({ internalTopics: false });
    assert.ok(internal.topics.every(t => !t.internal));
  });
});

test('segmentBytes marks Kafka\'s batch and record fields over the stored bytes', async () => {
  await withBroker({}, async broker => {
    await createTopic(broker, 't');
    await produce(broker, 't', 0, [{ key: 'key-a', value: 'value-a', timestamp: 1700000000000 }]);
    const segment = broker.segmentBytes('t', 0, 0);
    assert.ok(segment.bytes instanceof Uint8Array);
    assert.equal(segment.bytes.length, segment.sizeBytes);
    assert.equal(segment.truncated, false);
    const [batch] = segment.batches;
    const field = name => batch.fields.find(f => f.name === name);
    const view = new DataView(segment.bytes.buffer, segment.bytes.byteOffset);
    // The fields are where Kafka's batch layout puts them, with the stored values.
    assert.deepEqual([field('baseOffset').start, field('baseOffset').end], [0, 8]);
    assert.equal(field('batchLength').value, segment.bytes.length - 12);
    assert.equal(view.getInt32(8), field('batchLength').value);
    assert.equal(field('magic').value, 2);
    assert.equal(view.getUint32(17), field('crc').value);
    assert.deepEqual([field('recordsCount').start, field('recordsCount').value], [57, 1]);
    assert.equal(field('baseTimestamp').value, 1700000000000);
    const [record] = batch.records;
    const rf = name => record.fields.find(f => f.name === name);
    const text = f => Buffer.from(segment.bytes.subarray(f.start, f.end)).toString();
    assert.equal(rf('key').value, 'key-a');
    assert.equal(text(rf('key')), 'key-a');
    assert.equal(text(rf('value')), 'value-a');
    assert.equal(rf('valueLength').value, 7);
    assert.equal(record.end, segment.bytes.length);
    await assert.rejects(async () => broker.segmentBytes('t', 0, 99), { code: 'INVALID_ARGUMENT' });
    await assert.rejects(async () => broker.segmentBytes('nope', 0, 0), { code: 'UNKNOWN_TOPIC_OR_PARTITION' });
  });
});

test('segments roll at segment.bytes and the sparse index fills every index.interval.bytes', async () => {
  await withBroker({ 'log.segment.bytes': 1024, 'log.index.interval.bytes': 256 }, async broker => {
    await createTopic(broker, 'rolling');
    for (let i = 0; i < 40; i++) {
      const r = await produce(broker, 'rolling', 0, [{ value: `record-${i}-`.padEnd(60, '.') }]);
      assert.equal(r.topics[0].partitions[0].errorCode, NO_ERROR);
    }
    const p = broker.inspect().topics.find(t => t.name === 'rolling').partitions[0];
    assert.equal(p.segmentBytes, 1024);
    assert.ok(p.segments.length >= 3, `segments: ${p.segments.length}`);
    let next = 0;
    for (const s of p.segments) {
      assert.equal(s.baseOffset, next);
      assert.ok(s.sizeBytes <= 1024);
      next = s.nextOffset;
      for (const e of s.index) {
        assert.ok(s.batches.some(b => b.baseOffset === e.offset && b.position === e.position), JSON.stringify(e));
      }
    }
    assert.equal(next, 40);
    assert.ok(p.segments[0].index.length >= 2, JSON.stringify(p.segments[0].index));
    // The broker's log.segment.bytes is what a topic without its own setting gets.
    const second = p.segments[1];
    assert.equal(second.file, `${String(second.baseOffset).padStart(20, '0')}.log`);
  });
});

test('a long-polling Fetch waits in the purgatory until a Produce on another connection', async () => {
  await withBroker({}, async broker => {
    const producer = broker.connect();
    const consumer = broker.connect();
    await createTopic(producer, 'waiting');
    const fetchFrame = await frame('Fetch', 11, fetchArgs('waiting', 0, 0, 10000));
    const started = Date.now();
    const pending = consumer.request(fetchFrame.bytes);
    // The same connection's next request is answered only after the parked fetch, in order.
    const versionsFrame = await frame('ApiVersions', 2, {});
    const order = [];
    const versionsAnswer = consumer.request(versionsFrame.bytes).then(a => { order.push('versions'); return a; });
    const fetchAnswer = pending.then(a => { order.push('fetch'); return a; });
    await new Promise(resolve => setTimeout(resolve, 50));
    assert.deepEqual(order, [], 'both still wait');
    await produce(producer, 'waiting', 0, [{ value: 'wake up' }]);
    const fetched = await decode(await fetchAnswer, fetchFrame);
    assert.ok(Date.now() - started < 5000, 'answered by the produce, not by max.wait.ms');
    assert.deepEqual(values(fetched.responses[0].partitions[0]), ['wake up']);
    assert.equal((await decode(await versionsAnswer, versionsFrame)).errorCode, NO_ERROR);
    assert.deepEqual(order, ['fetch', 'versions']);
  });
});

test('a Fetch with nothing to read answers empty at max.wait.ms, driven by the page\'s timer', async () => {
  await withBroker({}, async broker => {
    await createTopic(broker, 'quiet');
    const started = Date.now();
    const fetched = await call(broker, 'Fetch', 11, fetchArgs('quiet', 0, 0, 300));
    const waited = Date.now() - started;
    assert.ok(waited >= 250 && waited < 3000, `waited ${waited} ms`);
    const part = fetched.responses[0].partitions[0];
    assert.deepEqual([part.errorCode, part.messages.length], [NO_ERROR, 0]);
  });
});

test('acks=0 gets no answer; the record is stored', async () => {
  await withBroker({}, async broker => {
    await createTopic(broker, 't');
    assert.equal(await produce(broker, 't', 0, [{ value: 'fire and forget' }], { acks: 0 }), null);
    const p = broker.inspect().topics.find(t => t.name === 't').partitions[0];
    assert.equal(p.highWatermark, 1);
  });
});

test('a consumer group: JoinGroup parks until the rebalance, SyncGroup, OffsetCommit; inspect() shows it', async () => {
  await withBroker({}, async broker => {
    const conn = broker.connect();
    await createTopic(conn, 'events', 2);
    await produce(conn, 'events', 0, [{ value: 'a' }, { value: 'b' }, { value: 'c' }]);
    const coordinator = await call(conn, 'GroupCoordinator', 2, { groupId: 'g', coordinatorType: 0 });
    assert.deepEqual([coordinator.errorCode, coordinator.coordinator.nodeId], [NO_ERROR, 1]);
    const join = memberId => call(conn, 'JoinGroup', 5, {
      groupId: 'g',
      sessionTimeout: 30000,
      rebalanceTimeout: 60000,
      memberId,
      protocolType: 'consumer',
      groupProtocols: [{ name: 'range', metadata: MemberMetadata.encode({ version: 0, topics: ['events'] }) }],
    });
    // Kafka's first answer to a new member: MEMBER_ID_REQUIRED (79) with the id to join with.
    const first = await join('');
    assert.equal(first.errorCode, 79);
    assert.ok(first.memberId.length > 0);
    const joined = await join(first.memberId);
    assert.equal(joined.errorCode, NO_ERROR);
    assert.equal(joined.leaderId, first.memberId);
    const assignment = MemberAssignment.encode({ version: 0, assignment: { events: [0, 1] } });
    const synced = await call(conn, 'SyncGroup', 3, {
      groupId: 'g',
      generationId: joined.generationId,
      memberId: first.memberId,
      groupAssignment: [{ memberId: first.memberId, memberAssignment: assignment }],
    });
    assert.equal(synced.errorCode, NO_ERROR);
    const committed = await call(conn, 'OffsetCommit', 5, {
      groupId: 'g',
      groupGenerationId: joined.generationId,
      memberId: first.memberId,
      topics: [{ topic: 'events', partitions: [{ partition: 0, offset: '1' }] }],
    });
    assert.equal(committed.responses[0].partitions[0].errorCode, NO_ERROR);

    const group = broker.inspect().groups.find(g => g.groupId === 'g');
    assert.deepEqual([group.state, group.type, group.protocolType, group.protocol], ['Stable', 'classic', 'consumer', 'range']);
    assert.equal(group.generation, joined.generationId);
    assert.equal(group.leader, first.memberId);
    assert.equal(group.members.length, 1);
    assert.equal(group.members[0].clientId, 'potok-wasm-test');
    assert.deepEqual(group.members[0].assignment, [{ topic: 'events', partition: 0 }, { topic: 'events', partition: 1 }]);
    assert.deepEqual(
      group.offsets.map(o => [o.topic, o.partition, o.offset, o.highWatermark, o.lag]),
      [['events', 0, 1, 3, 2]],
    );
  });
});

test('an unreadable frame rejects with a protocol error and closes its connection', async () => {
  await withBroker({}, async broker => {
    const conn = broker.connect();
    const garbage = new Uint8Array([0, 0, 0, 4, 0x7f, 0, 0, 0]);
    await assert.rejects(conn.request(garbage), e => {
      assert.deepEqual([e.name, e.code, e.errorCode, e.kind], ['PotokError', 'INVALID_REQUEST', 42, 'protocol']);
      return true;
    });
    const versions = await frame('ApiVersions', 2, {});
    await assert.rejects(conn.request(versions.bytes), { kind: 'closed' });
    // A frame whose size prefix does not match its length is refused too; other connections carry on.
    await assert.rejects(broker.connect().request(versions.bytes.subarray(0, versions.bytes.length - 1)), {
      code: 'INVALID_REQUEST',
    });
    assert.equal((await call(broker.connect(), 'ApiVersions', 2, {})).errorCode, NO_ERROR);
    // broker.request() opens a new connection of its own after its last one was closed.
    await assert.rejects(broker.request(garbage), { code: 'INVALID_REQUEST' });
    assert.equal((await call(broker, 'ApiVersions', 2, {})).errorCode, NO_ERROR);
  });
});

test('stop() rejects what still waits and ends the broker', async () => {
  const broker = await Broker.start({});
  await createTopic(broker, 't');
  const waiting = broker.connect().request((await frame('Fetch', 11, fetchArgs('t', 0, 0, 60000))).bytes);
  await new Promise(resolve => setTimeout(resolve, 10));
  broker.stop();
  assert.equal(broker.running, false);
  await assert.rejects(waiting, { kind: 'closed' });
  assert.throws(() => broker.connect(), { kind: 'closed' });
  assert.throws(() => broker.inspect(), { code: 'ILLEGAL_STATE' });
  await assert.rejects(broker.request(new Uint8Array(8)), { kind: 'closed' });
});
