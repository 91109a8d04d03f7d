// The course's idempotent producer (CURRICULUM.md §3): `idempotent: true` (Kafka's enable.idempotence, which
// implies acks=all, retries=MAX and max.in.flight.requests.per.connection<=5) makes the broker drop a batch it
// already has when the producer retries it, so a retry never writes a record twice.
//
//   node examples/node/idempotent_producer.mjs [--bootstrap-servers HOST:PORT,...] [--count 100000]
//
// Records with keys 0..count-1 go to `idempotent-topic` (3 partitions, replication factor 3). On the embedded
// cluster the broker leading partition 0 is stopped halfway through, so requests in flight are retried to the
// new leader. Then the topic is read back. Same stdout lines as idempotent_producer.py.
import { args, createTopic, main, readAll, withCluster } from './course.mjs';

const usage = `node idempotent_producer.mjs [--bootstrap-servers HOST:PORT,...] [--topic idempotent-topic]
    [--count 100000] [--partitions 3] [--replication-factor 3]`;

main(async () => {
  const opts = args(usage, { topic: 'idempotent-topic', count: 100_000, partitions: 3, 'replication-factor': 3 });
  await withCluster(opts, 3, async ({ kafka, cluster }) => {
    await createTopic(kafka, opts.topic, opts.partitions, opts.replicationFactor);
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 5 });
    await producer.connect();
    const chunk = 1_000;
    let inFlight = [];
    for (let start = 0; start < opts.count; start += chunk) {
      if (cluster && start >= opts.count / 2 && start - chunk < opts.count / 2) {
        const admin = kafka.admin();
        await admin.connect();
        const { topics } = await admin.fetchTopicMetadata({ topics: [opts.topic] });
        await admin.disconnect();
        const leader = topics[0].partitions.find((p) => p.partitionId === 0).leader;
        // Not awaited: records keep going out while the broker hands its leaderships over and stops.
        inFlight.push(cluster.stopBroker(leader).then(() => console.log(`stopped broker ${leader} after ${start} records`)));
      }
      const messages = [];
      for (let i = start; i < Math.min(start + chunk, opts.count); i++) {
        messages.push({ key: String(i), value: `record ${i}` });
      }
      inFlight.push(producer.send({ topic: opts.topic, messages, acks: -1 }));
      if (inFlight.length >= 8) {
        await Promise.all(inFlight);
        inFlight = [];
      }
    }
    await Promise.all(inFlight);
    await producer.disconnect();

    const got = await readAll(kafka, [opts.topic], { expected: opts.count, timeoutMs: 60_000 });
    const seen = new Set();
    const last = new Map();
    let duplicates = 0;
    let outOfOrder = 0;
    for (const { partition, message } of got) {
      const key = Number(message.key.toString());
      duplicates += seen.has(key) ? 1 : 0;
      seen.add(key);
      outOfOrder += (last.get(partition) ?? -1) > key ? 1 : 0;
      last.set(partition, key);
    }
    console.log(`sent ${opts.count} records, read ${got.length}, duplicates ${duplicates}, missing ${opts.count - seen.size}, out of order ${outOfOrder}`);
  });
});
