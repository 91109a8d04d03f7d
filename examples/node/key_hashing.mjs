// The course's key hashing (CURRICULUM.md §6): String keys id_0..id_9 on a topic of 3 partitions land where
// Kafka's default partitioner puts them (murmur2, as kafkajs's default partitioner computes it too): 1, 0, 2, 0, 2,
// 2, 0, 2, 1, 2. After the topic grows to 4 partitions the same keys are sent again and some move. Same stdout
// lines as key_hashing.py.
//
//   node examples/node/key_hashing.mjs [--bootstrap-servers HOST:PORT,...] [--topic first_topic]
import { args, createTopic, main, withCluster } from './course.mjs';

const usage = 'node key_hashing.mjs [--bootstrap-servers HOST:PORT,...] [--topic first_topic] [--replication-factor 3]';

async function sendKeys(kafka, topic) {
  // A new producer asks for the topic's metadata at once (a running one would learn of a new partition with its
  // next metadata refresh).
  const producer = kafka.producer();
  await producer.connect();
  const landed = [];
  for (let i = 0; i < 10; i++) {
    const [meta] = await producer.send({ topic, messages: [{ key: `id_${i}`, value: `hello world ${i}` }] });
    landed.push(meta.partition);
  }
  await producer.disconnect();
  return landed;
}

main(async () => {
  const opts = args(usage, { topic: 'first_topic', 'replication-factor': 3 });
  await withCluster(opts, 3, async ({ kafka }) => {
    await createTopic(kafka, opts.topic, 3, opts.replicationFactor);
    const before = await sendKeys(kafka, opts.topic);
    before.forEach((p, i) => console.log(`3 partitions: key id_${i} -> partition ${p}`));
    const admin = kafka.admin();
    await admin.connect();
    await admin.createPartitions({ topicPartitions: [{ topic: opts.topic, count: 4 }] });
    await admin.disconnect();
    await createTopic(kafka, opts.topic, 4, opts.replicationFactor); // waits for the new partition's leader
    const after = await sendKeys(kafka, opts.topic);
    after.forEach((p, i) => console.log(`4 partitions: key id_${i} -> partition ${p}`));
    console.log(`keys that moved: ${after.filter((p, i) => p !== before[i]).length} of 10`);
  });
});
