// The course's record timestamps (CURRICULUM.md §2): a topic with message.timestamp.type=CreateTime keeps the
// timestamp the producer set on each record; one with LogAppendTime replaces it with the broker's clock when the
// record is appended.
//
//   node examples/node/timestamps.mjs [--bootstrap-servers HOST:PORT,...] [--count 3]
//
// The same records, each stamped 1600000000000 (2020-09-13T12:26:40Z), go to `timestamps-create-time` and to
// `timestamps-log-append-time`; a consumer reads both back (kafkajs marks a LogAppendTime record with bit 3 of
// `attributes`). Same stdout lines as timestamps.py.
import { args, createTopic, main, readAll, withCluster } from './course.mjs';

const usage = `node timestamps.mjs [--bootstrap-servers HOST:PORT,...] [--topic-prefix timestamps] [--count 3]
    [--replication-factor 3]`;
const STAMP = 1_600_000_000_000;

main(async () => {
  const opts = args(usage, { 'topic-prefix': 'timestamps', count: 3, 'replication-factor': 3 });
  const started = Date.now();
  await withCluster(opts, 3, async ({ kafka }) => {
    const topics = { [`${opts.topicPrefix}-create-time`]: 'CreateTime', [`${opts.topicPrefix}-log-append-time`]: 'LogAppendTime' };
    for (const [topic, kind] of Object.entries(topics)) {
      await createTopic(kafka, topic, 1, opts.replicationFactor, { 'message.timestamp.type': kind });
    }
    const producer = kafka.producer();
    await producer.connect();
    for (const topic of Object.keys(topics)) {
      const messages = [];
      for (let i = 0; i < opts.count; i++) {
        messages.push({ value: `record ${i}`, timestamp: String(STAMP) });
      }
      await producer.send({ topic, messages });
    }
    await producer.disconnect();
    const got = await readAll(kafka, Object.keys(topics), { expected: 2 * opts.count, extraMs: 0 });
    const finished = Date.now();
    got.sort((a, b) => a.topic.localeCompare(b.topic) || Number(a.message.offset) - Number(b.message.offset));
    const appended = [];
    for (const { topic, message } of got) {
      const kind = message.attributes & 8 ? 'LogAppendTime' : 'CreateTime';
      console.log(`${topic} offset ${message.offset}: ${kind} ${message.timestamp}`);
      if (kind === 'LogAppendTime') {
        appended.push(Number(message.timestamp));
      }
    }
    const within = appended.length > 0 && appended.every((t) => t >= started && t <= finished);
    console.log(`log append times within the run: ${within ? 'yes' : 'no'}`);
  });
});
