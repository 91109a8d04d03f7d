// kafkajs 2.2.4 consumer groups (the classic protocol: JoinGroup/SyncGroup/Heartbeat/LeaveGroup,
// OffsetCommit/OffsetFetch) against the broker at $POTOK_BOOTSTRAP (default 127.0.0.1:9092): two
// consumers split a topic with consumer.run({ eachMessage }) and read each record once with its
// headers; kafkajs's auto-commits show in ctx.admin.fetchOffsets; ctx.admin.describeGroups / listGroups /
// deleteGroups; a later member resumes from the committed offsets.
//
// Records are produced only once the group has settled (both members own partitions, none twice),
// so that no rebalance happens while they are read and "exactly once" is a fair expectation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';

import { BOOTSTRAP, OP_TIMEOUT, TEST_TIMEOUT, connectedClients } from './common.mjs';

const { AssignerProtocol } = kafkajs;

const ctx = connectedClients('potok-node-group-test');
const { kafka } = ctx;
// The admin and producer are connected in a `before` hook: read them through ctx inside tests.

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

async function waitFor(cond, what, timeout = OP_TIMEOUT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(50);
  }
}

// A group member: consumer.run({ eachMessage }) records each message in `seen` (shared by the members
// of a test: `${partition}:${offset}` -> record) and in `dups` when it was already there; `assigned`
// is its partitions from its last GROUP_JOIN; `crashes` its CRASH events.
async function startMember(groupId, topic, name, seen, dups) {
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: 10_000,
    rebalanceTimeout: 10_000,
    heartbeatInterval: 500, // members notice a rebalance at their next heartbeat
    maxWaitTimeInMs: 200,
    retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 2_000 },
  });
  const member = { name, consumer, assigned: null, crashes: [], joins: 0 };
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    member.assigned = [...(payload.memberAssignment[topic] || [])].sort((a, b) => a - b);
    member.joins += 1;
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => member.crashes.push(payload.error));
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const id = `${partition}:${message.offset}`;
      const rec = { member: name, partition, offset: Number(message.offset), key: message.key?.toString(), value: message.value?.toString(), headers: message.headers };
      if (seen.has(id)) dups.push(rec);
      else seen.set(id, rec);
    },
  });
  return member;
}

function settled(members, partitions) {
  const owned = members.map((m) => m.assigned);
  if (!owned.every((o) => o && o.length > 0)) return false;
  const all = owned.flat().sort((a, b) => a - b);
  return JSON.stringify(all) === JSON.stringify([...Array(partitions).keys()]);
}

async function endOffsets(topic) {
  const offsets = await ctx.admin.fetchTopicOffsets(topic);
  return Object.fromEntries(offsets.map((o) => [o.partition, o.high]));
}

async function committedOffsets(groupId, topic) {
  const [res] = await ctx.admin.fetchOffsets({ groupId, topics: [topic] });
  assert.equal(res.topic, topic);
  return Object.fromEntries(res.partitions.map((p) => [p.partition, p.offset]));
}

async function describeGroup(groupId) {
  const { groups } = await ctx.admin.describeGroups([groupId]);
  assert.equal(groups.length, 1);
  assert.equal(groups[0].groupId, groupId);
  assert.equal(groups[0].errorCode, 0);
  return groups[0];
}

async function stopAll(members) {
  await Promise.allSettled(members.map((m) => m.consumer.disconnect()));
}

test('two consumers split the partitions, read each record once with headers; offsets, describe, list', { timeout: TEST_TIMEOUT }, async () => {
  const topic = await createTopic('grp', 4);
  const groupId = `potok-node-grp-${suffix()}`;
  const seen = new Map();
  const dups = [];
  const members = [];
  try {
    members.push(await startMember(groupId, topic, 'a', seen, dups));
    members.push(await startMember(groupId, topic, 'b', seen, dups));
    await waitFor(() => settled(members, 4), 'both members to own partitions, none twice');
    const owned = members.map((m) => m.assigned);
    const joins = members.map((m) => m.joins);

    const n = 60;
    const messages = Array.from({ length: n }, (_, i) => ({
      key: `k${i}`,
      value: `v${i}`,
      headers: { i: String(i), dup: ['x', 'y'], bin: Buffer.from([0, 1, 255]) },
    }));
    await ctx.producer.send({ topic, acks: -1, messages });
    await waitFor(() => seen.size >= n, `${n} records`);
    await sleep(500); // a duplicate would show by now
    assert.deepEqual(dups, []);
    assert.equal(seen.size, n);
    assert.deepEqual(members.map((m) => m.crashes), [[], []]);
    assert.deepEqual(members.map((m) => m.joins), joins, 'the group rebalanced while consuming');

    const byKey = new Map([...seen.values()].map((r) => [r.key, r]));
    for (let i = 0; i < n; i++) {
      const r = byKey.get(`k${i}`);
      assert.ok(r, `k${i} not consumed`);
      assert.equal(r.value, `v${i}`);
      assert.ok(owned[r.member === 'a' ? 0 : 1].includes(r.partition), `partition ${r.partition} read by ${r.member}`);
      assert.equal(r.headers.i.toString(), String(i));
      assert.deepEqual(r.headers.dup.map((b) => b.toString()), ['x', 'y']);
      assert.deepEqual([...r.headers.bin], [0, 1, 255]);
    }

    // kafkajs commits after each batch: the group's offsets reach every partition's end.
    const ends = await endOffsets(topic);
    await waitFor(async () => JSON.stringify(await committedOffsets(groupId, topic)) === JSON.stringify(ends), `committed offsets ${JSON.stringify(ends)}`);

    const g = await describeGroup(groupId);
    assert.equal(g.state, 'Stable');
    assert.equal(g.protocolType, 'consumer');
    assert.equal(g.protocol, 'RoundRobinAssigner');
    assert.equal(g.members.length, 2);
    const described = g.members.map((m) => {
      assert.equal(m.clientId, 'potok-node-group-test');
      assert.equal(m.clientHost, `/${BOOTSTRAP.split(':')[0]}`); // Kafka writes the address as "/127.0.0.1"
      const { assignment } = AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
      return [...assignment[topic]].sort((a, b) => a - b);
    });
    assert.deepEqual(described.map(String).sort(), owned.map(String).sort());

    const { groups } = await ctx.admin.listGroups();
    assert.deepEqual(groups.find((x) => x.groupId === groupId), { groupId, protocolType: 'consumer' });
  } finally {
    await stopAll(members);
  }
  // Both left the group (LeaveGroup on disconnect): Empty, no members, offsets kept.
  await waitFor(async () => (await describeGroup(groupId)).state === 'Empty', 'the group to be Empty');
  assert.deepEqual((await describeGroup(groupId)).members, []);
  assert.deepEqual(await committedOffsets(groupId, topic), await endOffsets(topic));
});

test('a new member resumes from committed offsets; deleteGroups on an active and an empty group', { timeout: TEST_TIMEOUT }, async () => {
  const topic = await createTopic('grpresume', 2);
  const groupId = `potok-node-grp-${suffix()}`;
  await ctx.producer.send({ topic, acks: -1, messages: Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })) });

  let seen = new Map();
  let dups = [];
  let members = [];
  try {
    members.push(await startMember(groupId, topic, 'first', seen, dups));
    await waitFor(() => seen.size >= 20, '20 records');
    const ends = await endOffsets(topic);
    await waitFor(async () => JSON.stringify(await committedOffsets(groupId, topic)) === JSON.stringify(ends), 'committed offsets');

    // An active group cannot be deleted.
    await assert.rejects(ctx.admin.deleteGroups([groupId]), (e) => {
      assert.equal(e.name, 'KafkaJSDeleteGroupsError');
      assert.deepEqual(e.groups.map((x) => [x.groupId, x.error.type]), [[groupId, 'NON_EMPTY_GROUP']]);
      return true;
    });
  } finally {
    await stopAll(members);
  }
  assert.deepEqual(dups, []);

  await ctx.producer.send({ topic, acks: -1, messages: Array.from({ length: 10 }, (_, i) => ({ key: `k${20 + i}`, value: `v${20 + i}` })) });
  seen = new Map();
  dups = [];
  members = [];
  try {
    members.push(await startMember(groupId, topic, 'second', seen, dups));
    await waitFor(() => seen.size >= 10, 'the 10 new records');
    await sleep(500);
    // Only the records produced after the first member's commits arrive.
    assert.deepEqual([...seen.values()].map((r) => r.key).sort(), Array.from({ length: 10 }, (_, i) => `k${20 + i}`).sort());
    assert.deepEqual(dups, []);
  } finally {
    await stopAll(members);
  }

  await waitFor(async () => (await describeGroup(groupId)).state === 'Empty', 'the group to be Empty');
  const res = await ctx.admin.deleteGroups([groupId]);
  assert.deepEqual(res.map((x) => [x.groupId, x.errorCode]), [[groupId, 0]]);
  const { groups } = await ctx.admin.listGroups();
  assert.ok(!groups.some((x) => x.groupId === groupId));
});
