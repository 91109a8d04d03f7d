// The course's transactions (CURRICULUM.md §3): one transactional producer (`transactionalId:
// 'Hello-Producer-Trans'`) writes to `hello-producer-1` and `hello-producer-2` (5 partitions, replication factor
// 3, min.insync.replicas=2). Transaction T1 sends keys 1-2 to both topics and commits; T2 sends the same and
// aborts. A consumer reading committed records only (kafkajs's default; Kafka's isolation.level=read_committed)
// sees T1's four records; one with `readUncommitted: true` sees all eight.
//
//   node examples/node/transactions.mjs [--bootstrap-servers HOST:PORT,...] [--count 2]
//
// Same stdout lines as transactions.py.
import { args, createTopic, log, main, potok, readAll, withCluster } from './course.mjs';

const usage = `node transactions.mjs [--bootstrap-servers HOST:PORT,...] [--topic-prefix hello-producer]
    [--transactional-id Hello-Producer-Trans] [--count 2] [--replication-factor 3] [--min-insync-replicas 2]`;

function messages(name, count) {
  const out = [];
  for (let i = 1; i <= count; i++) {
    out.push({ key: potok.serializers.integer.serialize(i), value: `Simple Message-${name}-${i}` });
  }
  return out;
}

main(async () => {
  const opts = args(usage, {
    'topic-prefix': 'hello-producer',
    'transactional-id': 'Hello-Producer-Trans',
    count: 2,
    'replication-factor': 3,
    'min-insync-replicas': 2,
  });
  const topics = [`${opts.topicPrefix}-1`, `${opts.topicPrefix}-2`];
  await withCluster(opts, 3, async ({ kafka }) => {
    for (const topic of topics) {
      await createTopic(kafka, topic, 5, opts.replicationFactor, { 'min.insync.replicas': opts.minInsyncReplicas });
    }
    const producer = kafka.producer({ transactionalId: opts.transactionalId, maxInFlightRequests: 1, idempotent: true });
    await producer.connect();
    log('Starting First Transaction...');
    const t1 = await producer.transaction();
    await t1.sendBatch({ topicMessages: topics.map((topic) => ({ topic, messages: messages('T1', opts.count) })) });
    await t1.commit();
    log('Starting Second Transaction...');
    const t2 = await producer.transaction();
    await t2.sendBatch({ topicMessages: topics.map((topic) => ({ topic, messages: messages('T2', opts.count) })) });
    await t2.abort();
    log('Aborting Second Transaction...');
    await producer.disconnect();

    for (const [isolation, expected] of [['read_committed', 2 * opts.count], ['read_uncommitted', 4 * opts.count]]) {
      const got = await readAll(kafka, topics, { expected, readUncommitted: isolation === 'read_uncommitted' });
      const rows = got
        .map(({ topic, message }) => [topic, potok.serializers.integer.deserialize(message.key), message.value.toString()])
        .sort((a, b) => a[0].localeCompare(b[0]) || a[1] - b[1] || a[2].localeCompare(b[2]));
      for (const [topic, key, value] of rows) {
        console.log(`${isolation}: ${topic} key ${key} ${value}`);
      }
      const t1n = rows.filter((r) => r[2].includes('-T1-')).length;
      const t2n = rows.filter((r) => r[2].includes('-T2-')).length;
      console.log(`${isolation} saw ${rows.length} records (T1: ${t1n}, T2: ${t2n})`);
    }
  });
});
