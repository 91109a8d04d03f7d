// The course's HelloProducer (CURRICULUM.md §2): 1,000,000 records, key `i` (an Integer) and value
// `"Simple Message-i"`, into `hello-producer-topic` (5 partitions, replication factor 3).
//
//   node examples/node/hello_producer.mjs [--bootstrap-servers HOST:PORT,...] [--count 1000000]
//
// Keys are serialized as Kafka's IntegerSerializer does (serializers.integer: four big-endian bytes) and placed
// by kafkajs's default partitioner, murmur2(key) & 0x7fffffff % 5, as Kafka's Java client places them: key 1 on
// partition 0, 2 on 3, 3 on 1, 4 on 3, 5 on 4. Same stdout lines as hello_producer.py: `key K -> partition P`
// for the first keys, `partition P: N records` (the log end offsets) and `sent N records in S s`.
import { args, createTopic, endOffsets, log, main, potok, withCluster } from './course.mjs';

const usage = `node hello_producer.mjs [--bootstrap-servers HOST:PORT,...] [--topic hello-producer-topic]
    [--count 1000000] [--partitions 5] [--replication-factor 3] [--show 10]`;

main(async () => {
  const opts = args(usage, { topic: 'hello-producer-topic', count: 1_000_000, partitions: 5, 'replication-factor': 3, show: 10 });
  await withCluster(opts, 3, async ({ kafka }) => {
    await createTopic(kafka, opts.topic, opts.partitions, opts.replicationFactor);
    const producer = kafka.producer();
    await producer.connect();
    const integer = potok.serializers.integer;
    const landed = new Map();
    const started = Date.now();
    log('Start sending messages...');
    // The first keys one by one, to see where each lands; then the rest in arrays of 5,000.
    const show = Math.min(opts.show, opts.count);
    for (let i = 1; i <= show; i++) {
      const [meta] = await producer.send({ topic: opts.topic, messages: [{ key: integer.serialize(i), value: `Simple Message-${i}` }] });
      landed.set(i, meta.partition);
    }
    let inFlight = [];
    for (let start = show + 1; start <= opts.count; start += 5_000) {
      const messages = [];
      for (let i = start; i < Math.min(start + 5_000, opts.count + 1); i++) {
        messages.push({ key: integer.serialize(i), value: `Simple Message-${i}` });
      }
      inFlight.push(producer.send({ topic: opts.topic, messages }));
      if (inFlight.length >= 4) {
        await Promise.all(inFlight);
        inFlight = [];
      }
    }
    await Promise.all(inFlight);
    await producer.disconnect();
    const elapsed = (Date.now() - started) / 1000;
    log('Finished - Closing Kafka Producer.');
    for (const [key, partition] of landed) {
      console.log(`key ${key} -> partition ${partition}`);
    }
    (await endOffsets(kafka, opts.topic)).forEach((end, partition) => console.log(`partition ${partition}: ${end} records`));
    console.log(`sent ${opts.count} records in ${elapsed.toFixed(1)} s`);
  });
});
