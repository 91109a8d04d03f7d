// The course's consumer groups (CURRICULUM.md §5): PosValidator instances join the group `PosValidatorGroup` one
// after another and the group reassigns `pos`'s 3 partitions among them; then one instance leaves and its
// partition moves to another. The group's offsets and lag are shown as `kafka-consumer-groups --describe` shows
// them (CURRENT-OFFSET is the committed offset, the position the group resumes from).
//
//   node examples/node/consumer_groups.mjs [--bootstrap-servers HOST:PORT,...] [--instances 3] [--produce 300]
//
// Each instance is a kafkajs consumer in this process (the course starts one program per instance: the broker
// cannot tell the difference). Same stdout lines as consumer_groups.py; with $POTOK_BIN (or potok on PATH) it also
// prints `potok consumer-groups --describe --group PosValidatorGroup`.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { args, createTopic, endOffsets, main, potok, sleep, withCluster } from './course.mjs';
import { isInvalid, produceInvoices } from './pos_invoices.mjs';

const usage = `node consumer_groups.mjs [--bootstrap-servers HOST:PORT,...] [--source pos] [--valid-topic valid-pos]
    [--invalid-topic invalid-pos] [--group PosValidatorGroup] [--instances 3] [--produce 300] [--heartbeat-interval-ms 3000] [--replication-factor 3]`;

/** One PosValidator: a group member forwarding each invoice to the valid or invalid topic. */
async function startInstance(kafka, name, opts) {
  const consumer = kafka.consumer({ groupId: opts.group, heartbeatInterval: opts.heartbeatIntervalMs, config: { 'client.id': name } });
  const producer = kafka.producer();
  await Promise.all([consumer.connect(), producer.connect()]);
  await consumer.subscribe({ topics: [opts.source], fromBeginning: true });
  const instance = { name, consumer, producer, validated: 0 };
  await consumer.run({
    eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary }) => {
      const topicMessages = batch.messages.map((message) => {
        const invoice = potok.serializers.json.deserialize(message.value);
        return { topic: isInvalid(invoice) ? opts.invalidTopic : opts.validTopic, messages: [{ key: invoice.StoreID, value: message.value }] };
      });
      // At least once: what was read is forwarded before its offsets are resolved and committed.
      await producer.sendBatch({ topicMessages });
      for (const message of batch.messages) {
        resolveOffset(message.offset);
      }
      await commitOffsetsIfNecessary();
      instance.validated += batch.messages.length;
    },
  });
  return instance;
}

function owned(instance, topic) {
  return instance.consumer.assignment().filter((a) => a.topic === topic).map((a) => a.partition).sort((a, b) => a - b);
}

/** Waits until every partition is assigned once and each instance has a share; returns the assignment line. */
async function waitBalanced(instances, topic, partitions) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const shares = instances.map((i) => owned(i, topic));
    const all = shares.flat().sort((a, b) => a - b);
    if (all.length === partitions && all.every((p, i) => p === i) && shares.slice(0, partitions).every((s) => s.length > 0)) {
      return instances.map((i, n) => `${i.name}=${shares[n].map((p) => `${topic}-${p}`).join(',')}`).join(' ');
    }
    if (Date.now() > deadline) {
      throw new Error(`no balanced assignment within 30 s: ${JSON.stringify(shares)}`);
    }
    await sleep(100);
  }
}

async function describeGroup(kafka, group, topic) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([group]);
    const owner = new Map();
    for (const member of groups[0].members ?? []) {
      for (const a of member.assignment ?? []) {
        if (a.topic === topic) {
          for (const p of a.partitions ?? [a.partition]) {
            owner.set(p, member.memberId);
          }
        }
      }
    }
    // kafkajs commits resolved offsets in the background: wait (10 s at most) until they reach what was read.
    const ends = await endOffsets(kafka, topic);
    let committed;
    for (const deadline = Date.now() + 10_000; ; await sleep(100)) {
      [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      if (committed.partitions.every((p) => Number(p.offset) === ends[p.partition]) || Date.now() > deadline) {
        break;
      }
    }
    for (const { partition, offset } of committed.partitions.sort((a, b) => a.partition - b.partition)) {
      const current = Math.max(0, Number(offset));
      console.log(`${group} ${topic} ${partition} CURRENT-OFFSET ${current} LOG-END-OFFSET ${ends[partition]} LAG ${ends[partition] - current} CONSUMER-ID ${owner.get(partition) ?? '-'}`);
    }
  } finally {
    await admin.disconnect();
  }
}

function potokBinary() {
  if (process.env.POTOK_BIN) {
    return process.env.POTOK_BIN;
  }
  return (process.env.PATH ?? '').split(':').map((d) => path.join(d, 'potok')).find((p) => fs.existsSync(p)) ?? null;
}

main(async () => {
  const opts = args(usage, {
    source: 'pos',
    'valid-topic': 'valid-pos',
    'invalid-topic': 'invalid-pos',
    group: 'PosValidatorGroup',
    instances: 3,
    produce: 300,
    'heartbeat-interval-ms': 3000,
    'replication-factor': 3,
  });
  await withCluster(opts, 3, async ({ kafka, bootstrap }) => {
    for (const topic of [opts.source, opts.validTopic, opts.invalidTopic]) {
      await createTopic(kafka, topic, 3, opts.replicationFactor);
    }
    if (opts.produce > 0) {
      await produceInvoices(kafka, potok, opts.source, opts.produce);
    }
    const instances = [];
    try {
      for (let n = 1; n <= opts.instances; n++) {
        instances.push(await startInstance(kafka, `validator-${n}`, opts));
        console.log(`${n} instance(s): ${await waitBalanced(instances, opts.source, 3)}`);
      }
      const deadline = Date.now() + 60_000;
      const total = () => instances.reduce((s, i) => s + i.validated, 0);
      while (total() < opts.produce && Date.now() < deadline) {
        await sleep(100);
      }
      console.log(`validated ${total()} invoices`);
      await describeGroup(kafka, opts.group, opts.source);
      const potokBin = potokBinary();
      if (potokBin) {
        process.stdout.write(execFileSync(potokBin, ['consumer-groups', '--bootstrap-server', bootstrap, '--describe', '--group', opts.group], { encoding: 'utf8' }));
      }
      if (instances.length > 1) {
        const leaving = instances.pop();
        await leaving.consumer.disconnect();
        await leaving.producer.disconnect();
        console.log(`after ${leaving.name} left: ${await waitBalanced(instances, opts.source, 3)}`);
      }
    } finally {
      for (const i of instances) {
        await i.consumer.disconnect();
        await i.producer.disconnect();
      }
    }
  });
});
