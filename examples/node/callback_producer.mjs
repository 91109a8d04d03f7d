// The course's callback and synchronous producers (CURRICULUM.md §2): records into `hello-producer`
// (1 partition), each acknowledgement printed as "Message i persisted with offset X and timestamp T".
//
//   node examples/node/callback_producer.mjs [--bootstrap-servers HOST:PORT,...] [--count 10] [--sync]
//
// kafkajs's send() returns a promise: by default every record is sent at once and a `.then()` on each (the
// callback) prints its line when the broker acknowledges it; with --sync each send is awaited before the next
// (Java's send(record).get()). Either way the offsets are consecutive and in the order sent. T is the record's
// CreateTime, which the program sets.
import { args, createTopic, main, potok, withCluster } from './course.mjs';

const usage = `node callback_producer.mjs [--bootstrap-servers HOST:PORT,...] [--topic hello-producer] [--count 10]
    [--replication-factor 3] [--sync]`;

main(async () => {
  const opts = args(usage, { topic: 'hello-producer', count: 10, 'replication-factor': 3, sync: false });
  await withCluster(opts, 3, async ({ kafka }) => {
    await createTopic(kafka, opts.topic, 1, opts.replicationFactor);
    const producer = kafka.producer();
    await producer.connect();
    const integer = potok.serializers.integer;
    const pending = [];
    for (let i = 1; i <= opts.count; i++) {
      const timestamp = Date.now();
      const sent = producer
        .send({ topic: opts.topic, messages: [{ key: integer.serialize(i), value: `Simple Message-${i}`, timestamp: String(timestamp) }] })
        .then(
          ([meta]) => console.log(`Message ${i} persisted with offset ${meta.baseOffset} and timestamp ${timestamp}`),
          (e) => console.log(`Message ${i} failed: ${e.message}`),
        );
      if (opts.sync) {
        await sent;
      } else {
        pending.push(sent);
      }
    }
    await Promise.all(pending);
    await producer.disconnect();
  });
});
