// The course's storage demo (CURRICULUM.md §1): 500,000 Integer-keyed records into the topic `invoice`
// (5 partitions, replication factor 3, segment.bytes=1000000), then a look at what the brokers keep on disk.
//
//   node examples/node/storage_demo.mjs [--bootstrap-servers HOST:PORT,...] [--count 500000]
//       [--segment-bytes 1000000] [--potok PATH]
//
// Without --bootstrap-servers it starts an embedded potok cluster of three brokers and, once the records are
// in, lists every broker's `invoice-N` directories (segments named by their 20-digit base offset, each with its
// .index and .timeindex), then runs `potok dump-log` on partition 0's first segment and its sparse offset index
// (one entry per log.index.interval.bytes=4096 bytes of batches). Same stdout lines as storage_demo.py.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { args, createTopic, describe, log, main, potok, withCluster } from './course.mjs';

const usage = `node storage_demo.mjs [--bootstrap-servers HOST:PORT,...] [--topic invoice] [--count 500000]
    [--partitions 5] [--replication-factor 3] [--segment-bytes 1000000] [--potok PATH]`;

function which(name) {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const candidate = path.join(dir, name);
    if (dir && fs.existsSync(candidate)) {
      return candidate;
    }
  }
  return null;
}

async function produce(kafka, topic, count) {
  const producer = kafka.producer({ acks: -1 });
  await producer.connect();
  const integer = potok.serializers.integer;
  // kafkajs sends arrays of messages; a few batches in flight at a time keep the producer busy.
  const chunk = 5_000;
  let inFlight = [];
  for (let start = 1; start <= count; start += chunk) {
    const messages = [];
    for (let i = start; i < Math.min(start + chunk, count + 1); i++) {
      messages.push({ key: integer.serialize(i), value: `Simple Message-${i}` });
    }
    inFlight.push(producer.send({ topic, messages, acks: -1 }));
    if (inFlight.length >= 4) {
      await Promise.all(inFlight);
      inFlight = [];
    }
  }
  await Promise.all(inFlight);
  await producer.disconnect();
  console.log(`produced ${count} records`);
}

function showSegments(cluster, topic, partitions, potokBin) {
  let firstLog = null;
  for (const { nodeId, path: dir } of cluster.logDirs) {
    for (let p = 0; p < partitions; p++) {
      const d = path.join(dir, `${topic}-${p}`);
      if (!fs.existsSync(d)) {
        continue;
      }
      const files = fs.readdirSync(d).sort();
      const logs = files.filter((f) => f.endsWith('.log'));
      console.log(`broker ${nodeId} ${topic}-${p}: ${logs.length} segments: ${logs.join(' ')}`);
      if (p === 0 && firstLog === null) {
        firstLog = path.join(d, logs[0]);
        console.log(`broker ${nodeId} ${topic}-${p} files: ${files.join(' ')}`);
      }
    }
  }
  if (firstLog === null) {
    return;
  }
  if (!potokBin) {
    log('no potok binary found (--potok, $POTOK_BIN or PATH): skipping dump-log');
    return;
  }
  const name = `${topic}-0`;
  let out = execFileSync(potokBin, ['dump-log', '--files', firstLog], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const bases = [...out.matchAll(/baseOffset: (\d+)/g)].map((m) => Number(m[1]));
  const lasts = [...out.matchAll(/lastOffset: (\d+)/g)].map((m) => Number(m[1]));
  console.log(`dump-log ${name} ${path.basename(firstLog)}: ${bases.length} batches, offsets ${Math.min(...bases)}..${Math.max(...lasts)}`);
  const index = firstLog.slice(0, -'.log'.length) + '.index';
  out = execFileSync(potokBin, ['dump-log', '--files', index], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const entries = out.split('\n').filter((l) => /^offset: \d+ position: \d+/.test(l));
  console.log(`dump-log ${name} ${path.basename(index)}: ${entries.length} entries`);
  for (const line of entries.slice(0, 3)) {
    console.log(`  ${line}`);
  }
  log(`try: ${potokBin} dump-log --files ${firstLog} --print-data-log   (while the cluster runs)`);
}

main(async () => {
  const opts = args(usage, {
    topic: 'invoice',
    count: 500_000,
    partitions: 5,
    'replication-factor': 3,
    'segment-bytes': 1_000_000,
    potok: '',
  });
  await withCluster(opts, 3, async ({ kafka, cluster }) => {
    try {
      await createTopic(kafka, opts.topic, opts.partitions, opts.replicationFactor, { 'segment.bytes': opts.segmentBytes });
    } catch (e) {
      if (e.type === 'INVALID_CONFIG') {
        e.message += '\n(Kafka 4 refuses segment.bytes below 1048576: pass --segment-bytes 1048576)';
      }
      throw e;
    }
    await produce(kafka, opts.topic, opts.count);
    for (const line of await describe(kafka, opts.topic)) {
      console.log(line);
    }
    if (cluster) {
      showSegments(cluster, opts.topic, opts.partitions, opts.potok || process.env.POTOK_BIN || which('potok'));
    } else {
      log("look into each broker's log.dirs: <topic>-<partition>/ holds the segments; kafka-dump-log.sh --files <segment>.log --print-data-log shows the batches");
    }
  });
});
