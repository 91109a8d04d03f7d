// The course's custom partitioner (CURRICULUM.md §2): a topic of 2 partitions where a record's partition is its
// Integer key modulo 2, so odd keys land in partition 1 and even keys in partition 0.
//
//   node examples/node/key_partitioner.mjs [--bootstrap-servers HOST:PORT,...] [--count 10]
//
// Java plugs a Partitioner class into `partitioner.class`, kafkajs a `createPartitioner`; potok's kafkajs API
// takes the partition on each message instead, which is what such a partitioner returns. Same stdout lines as
// key_partitioner.py: `key K -> partition P`, then `partition P holds keys ...` as a consumer reads them back.
import { args, createTopic, main, potok, readAll, withCluster } from './course.mjs';

const usage = `node key_partitioner.mjs [--bootstrap-servers HOST:PORT,...] [--topic odd-even-topic] [--count 10]
    [--replication-factor 3]`;

/** The course's partitioner: the key modulo 2 (the topic has 2 partitions). */
const oddEven = (key) => key % 2;

main(async () => {
  const opts = args(usage, { topic: 'odd-even-topic', count: 10, 'replication-factor': 3 });
  await withCluster(opts, 3, async ({ kafka }) => {
    await createTopic(kafka, opts.topic, 2, opts.replicationFactor);
    const producer = kafka.producer();
    await producer.connect();
    const integer = potok.serializers.integer;
    for (let key = 1; key <= opts.count; key++) {
      const [meta] = await producer.send({
        topic: opts.topic,
        messages: [{ key: integer.serialize(key), value: `Simple Message-${key}`, partition: oddEven(key) }],
      });
      console.log(`key ${key} -> partition ${meta.partition}`);
    }
    await producer.disconnect();
    const got = await readAll(kafka, [opts.topic], { expected: opts.count, extraMs: 0 });
    for (const partition of [0, 1]) {
      const keys = got.filter((r) => r.partition === partition).map((r) => integer.deserialize(r.message.key)).sort((a, b) => a - b);
      console.log(`partition ${partition} holds keys ${keys.join(' ')}`);
    }
  });
});
