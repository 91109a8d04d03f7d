// The course's multi-threaded producer (CURRICULUM.md §3): one producer shared by a dispatcher per CSV file of
// NSE end-of-day prices; each dispatcher sends its file's lines (the header left out) as values with no key to
// `nse-eod-topic` (5 partitions, replication factor 3).
//
//   node examples/node/multithreaded_producer.mjs [--bootstrap-servers HOST:PORT,...] [--files a.csv,b.csv]
//
// JavaScript has one thread per process (a worker thread could not share the producer), so the dispatchers are
// concurrent async tasks on the one producer, which is how a Node program shares a client: their records share
// its batches and connections all the same. Keyless records go to partitions by the sticky partitioner. Same
// stdout lines as multithreaded_producer.py; the files are synthetic, with the course's columns.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { args, createTopic, endOffsets, main, readAll, withCluster } from './course.mjs';

const data = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'data');
const usage = `node multithreaded_producer.mjs [--bootstrap-servers HOST:PORT,...] [--topic nse-eod-topic]
    [--files CSV,...] [--replication-factor 3]`;

function linesOf(file) {
  return fs.readFileSync(file, 'utf8').split('\n').slice(1).filter((l) => l.trim() !== '');
}

main(async () => {
  const opts = args(usage, {
    topic: 'nse-eod-topic',
    files: ['NSE05NOV2018BHAV.csv', 'NSE06NOV2018BHAV.csv'].map((f) => path.join(data, f)).join(','),
    'replication-factor': 3,
  });
  await withCluster(opts, 3, async ({ kafka }) => {
    await createTopic(kafka, opts.topic, 5, opts.replicationFactor);
    const producer = kafka.producer();
    await producer.connect();
    const sent = new Map();
    const dispatch = async (file) => {
      const lines = linesOf(file);
      // A line at a time, as the course's dispatcher sends them; the producer batches them.
      await Promise.all(lines.map((line) => producer.send({ topic: opts.topic, messages: [{ key: null, value: line }] })));
      for (const line of lines) {
        sent.set(line, (sent.get(line) ?? 0) + 1);
      }
      console.log(`dispatcher ${path.basename(file)}: sent ${lines.length} lines`);
    };
    await Promise.all(opts.files.split(',').map(dispatch));
    await producer.disconnect();
    const ends = await endOffsets(kafka, opts.topic);
    ends.forEach((end, partition) => console.log(`partition ${partition}: ${end} records`));
    const total = ends.reduce((a, b) => a + b, 0);
    const got = await readAll(kafka, [opts.topic], { expected: total, extraMs: 0 });
    const read = new Map();
    for (const { message } of got) {
      const line = message.value.toString();
      read.set(line, (read.get(line) ?? 0) + 1);
    }
    const same = read.size === sent.size && [...sent].every(([line, n]) => read.get(line) === n);
    console.log(`read ${got.length} lines, each sent line once: ${same ? 'yes' : 'no'}`);
  });
});
