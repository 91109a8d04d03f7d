// What every exercise of the course shares: the command line (`--bootstrap-servers`), the cluster it runs on
// (an embedded potok cluster when no servers are named), topic creation and reading topics back.
// Each exercise is a program of its own in this directory; this module is imported by them, not run.
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
// The potok package (bindings-node); an installed one is `require('potok')`.
export const potok = require('../../bindings-node');
const { Cluster, Kafka, logLevel } = potok;

/**
 * Parses `--bootstrap-servers` and the exercise's own flags. `options` maps a flag to its default (a number,
 * string or boolean); numbers come back as numbers. `--help` prints `usage` and exits.
 */
export function args(usage, options = {}) {
  const spec = { 'bootstrap-servers': { type: 'string' }, help: { type: 'boolean' } };
  for (const [name, value] of Object.entries(options)) {
    spec[name] = { type: typeof value === 'boolean' ? 'boolean' : 'string' };
  }
  const { values } = parseArgs({ options: spec, strict: true });
  if (values.help) {
    process.stdout.write(usage.trim() + '\n');
    process.exit(0);
  }
  const out = { bootstrapServers: values['bootstrap-servers'] ?? null };
  for (const [name, value] of Object.entries(options)) {
    const key = name.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    const given = values[name];
    out[key] = given === undefined ? value : typeof value === 'number' ? Number(given) : given;
    if (typeof value === 'number' && !Number.isFinite(out[key])) {
      throw new Error(`--${name} takes a number, not ${given}`);
    }
  }
  return out;
}

/** Progress for the learner, on stderr (stdout holds the lines the exercise is about). */
export function log(message) {
  process.stderr.write(message + '\n');
}

/**
 * Runs `fn({ bootstrap, kafka, cluster })` on the cluster named by `--bootstrap-servers`, or on an embedded potok
 * cluster of `brokers` nodes (stopped, its data removed, afterwards). `config` is Kafka's broker keys, for the
 * embedded cluster only.
 */
export async function withCluster(opts, brokers, fn, config = {}) {
  let cluster = null;
  let bootstrap = opts.bootstrapServers;
  if (!bootstrap) {
    const started = Date.now();
    // The course's brokers wait 3 s before a new group's first rebalance; an exercise has no one to wait for.
    cluster = await new Cluster({ brokers, config: { 'group.initial.rebalance.delay.ms': 0, ...config } }).start();
    bootstrap = cluster.bootstrapServers;
    log(`embedded potok cluster of ${brokers} broker(s) at ${bootstrap} (started in ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  }
  const kafka = new Kafka({ clientId: 'potok-course', brokers: bootstrap.split(','), logLevel: logLevel.ERROR });
  try {
    return await fn({ bootstrap, kafka, cluster });
  } finally {
    if (cluster !== null) {
      await cluster.stop();
    }
  }
}

/**
 * Creates the topic as `kafka-topics --create` does (an existing one is kept) and waits until every partition's
 * leader answers, so that the first records do not meet a leader still being elected.
 */
export async function createTopic(kafka, topic, numPartitions, replicationFactor, config = {}) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const configEntries = Object.entries(config).map(([name, value]) => ({ name, value: String(value) }));
    const created = await admin.createTopics({ topics: [{ topic, numPartitions, replicationFactor, configEntries }] });
    const extra = configEntries.map((e) => `, ${e.name}=${e.value}`).join('');
    log(created ? `created topic ${topic}: ${numPartitions} partition(s), replication factor ${replicationFactor}${extra}` : `topic ${topic} exists already; kept as it is`);
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const offsets = await admin.fetchTopicOffsets(topic);
        if (offsets.length === numPartitions) {
          return;
        }
      } catch (e) {
        if (Date.now() > deadline) {
          throw e;
        }
      }
      if (Date.now() > deadline) {
        throw new Error(`topic ${topic} has no leader for every partition after 30 s`);
      }
      await sleep(100);
    }
  } finally {
    await admin.disconnect();
  }
}

/** The log end offset of each partition of `topic`, by partition. */
export async function endOffsets(kafka, topic) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.sort((a, b) => a.partition - b.partition).map((o) => Number(o.high));
  } finally {
    await admin.disconnect();
  }
}

/** `kafka-topics --describe`'s partition lines: leader, replicas and in-sync replicas of each partition. */
export async function describe(kafka, topic) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    return topics[0].partitions
      .sort((a, b) => a.partitionId - b.partitionId)
      .map((p) => `Topic: ${topic}\tPartition: ${p.partitionId}\tLeader: ${p.leader}\tReplicas: ${p.replicas.join(',')}\tIsr: ${p.isr.join(',')}`);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Reads `topics` from the beginning in a fresh group until `expected` records came and then `extraMs` more (so
 * that records beyond them would show), or `timeoutMs` passed; returns [{ topic, partition, message }].
 */
export async function readAll(kafka, topics, { expected, readUncommitted = false, extraMs = 1_000, timeoutMs = 30_000 }) {
  const consumer = kafka.consumer({ groupId: `reader-${process.pid}-${Date.now()}-${Math.random()}`, readUncommitted });
  await consumer.connect();
  const got = [];
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        got.push({ topic, partition, message });
      },
    });
    const deadline = Date.now() + timeoutMs;
    while (got.length < expected && Date.now() < deadline) {
      await sleep(50);
    }
    await sleep(extraMs);
  } finally {
    await consumer.disconnect();
  }
  return got;
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs an exercise's main function; a failure prints its message and exits 1. */
export function main(fn) {
  fn().then(
    () => process.exit(0),
    (e) => {
      process.stderr.write(`${e && e.stack ? e.stack : e}\n`);
      process.exit(1);
    },
  );
}
