// The course's assign and seek (CURRICULUM.md §5): read partition 0 of a topic from offset 15, 5 records (offsets
// 15 to 19), then stop.
//
//   node examples/node/assign_seek.mjs [--bootstrap-servers HOST:PORT,...] [--offset 15] [--read 5]
//
// It first writes `--produce` records (default 30) to partition 0 of `assign-seek-topic` (3 partitions). kafkajs
// has no assign(): its consumer always belongs to a group, and seek() is called once run() has started. So this
// consumer joins a group of its own, seeks partition 0 to the offset and stops after 5 records, committing
// nothing (autoCommit: false). Same stdout lines as assign_seek.py.
import { args, createTopic, endOffsets, main, sleep, withCluster } from './course.mjs';

const usage = `node assign_seek.mjs [--bootstrap-servers HOST:PORT,...] [--topic assign-seek-topic] [--produce 30]
    [--offset 15] [--read 5] [--replication-factor 3]`;

main(async () => {
  const opts = args(usage, { topic: 'assign-seek-topic', produce: 30, offset: 15, read: 5, 'replication-factor': 3 });
  await withCluster(opts, 3, async ({ kafka }) => {
    await createTopic(kafka, opts.topic, 3, opts.replicationFactor);
    const base = (await endOffsets(kafka, opts.topic))[0];
    const producer = kafka.producer();
    await producer.connect();
    const messages = [];
    for (let i = 0; i < opts.produce; i++) {
      messages.push({ value: `record ${base + i}`, partition: 0 });
    }
    await producer.send({ topic: opts.topic, messages });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: `assign-seek-${process.pid}-${Date.now()}` });
    await consumer.connect();
    await consumer.subscribe({ topics: [opts.topic] });
    const read = [];
    let seeked = false;
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        if (seeked && partition === 0 && read.length < opts.read) {
          read.push(message);
          console.log(`partition ${partition} offset ${message.offset}: ${message.value.toString()}`);
        }
      },
    });
    // The group hands this member its partitions shortly after run() starts; seek once partition 0 is ours.
    const deadline = Date.now() + 30_000;
    while (!consumer.assignment().some((a) => a.topic === opts.topic && a.partition === 0) && Date.now() < deadline) {
      await sleep(20);
    }
    await consumer.seek({ topic: opts.topic, partition: 0, offset: String(opts.offset) });
    seeked = true;
    while (read.length < opts.read && Date.now() < deadline) {
      await sleep(20);
    }
    await consumer.disconnect();
    console.log(`read ${read.length} records from offset ${opts.offset} (no offsets committed)`);
  });
});
