// The course's "Twitter" producer (CURRICULUM.md §6): tweets into `twitter_tweets` (6 partitions, replication
// factor 3, min.insync.replicas=2) with no key, failures logged, and a clean shutdown on Ctrl-C (stop reading,
// wait for what was sent, disconnect). The live stream is gone: it replays examples/data/tweets.jsonl.
//
//   node examples/node/twitter_producer.mjs [--bootstrap-servers HOST:PORT,...] [--profile high-throughput]
//       [--tweets FILE] [--rate TWEETS_PER_S]
//
// --profile safe: idempotent (enable.idempotence=true, acks=all, retries=MAX, max.in.flight 5); high-throughput:
// safe plus snappy compression, linger.ms=20, batch.size=32768. Same stdout lines as twitter_producer.py.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { args, createTopic, endOffsets, log, main, readAll, sleep, withCluster } from './course.mjs';

const usage = `node twitter_producer.mjs [--bootstrap-servers HOST:PORT,...] [--topic twitter_tweets]
    [--profile safe|high-throughput] [--tweets FILE] [--rate 0] [--replication-factor 3] [--min-insync-replicas 2]`;
const data = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'data', 'tweets.jsonl');

function potokBinary() {
  if (process.env.POTOK_BIN) {
    return process.env.POTOK_BIN;
  }
  return (process.env.PATH ?? '').split(':').map((d) => path.join(d, 'potok')).find((p) => fs.existsSync(p)) ?? null;
}

main(async () => {
  const opts = args(usage, {
    topic: 'twitter_tweets',
    profile: 'high-throughput',
    tweets: data,
    rate: 0,
    'replication-factor': 3,
    'min-insync-replicas': 2,
  });
  const safe = { 'enable.idempotence': true, acks: 'all', retries: 2147483647, 'max.in.flight.requests.per.connection': 5 };
  const config = opts.profile === 'safe' ? safe : { ...safe, 'compression.type': 'snappy', 'linger.ms': 20, 'batch.size': 32768 };
  if (!['safe', 'high-throughput'].includes(opts.profile)) {
    throw new Error('--profile is safe or high-throughput');
  }
  const tweets = fs.readFileSync(opts.tweets, 'utf8').split('\n').filter((l) => l.trim() !== '');
  await withCluster(opts, 3, async ({ kafka, cluster }) => {
    await createTopic(kafka, opts.topic, 6, opts.replicationFactor, { 'min.insync.replicas': opts.minInsyncReplicas });
    console.log(`producer config: ${Object.keys(config).sort().map((k) => `${k}=${config[k]}`).join(' ')}`);
    const { acks, ...rest } = config;
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 5, config: rest });
    await producer.connect();
    let stopping = false;
    process.once('SIGINT', () => {
      log('stopping: waiting for what was sent, then disconnecting');
      stopping = true;
    });
    let failed = 0;
    let sent = 0;
    const pending = [];
    const started = Date.now();
    for (const tweet of tweets) {
      if (stopping) {
        break;
      }
      pending.push(
        producer.send({ topic: opts.topic, acks: acks === 'all' ? -1 : Number(acks), messages: [{ key: null, value: tweet }] }).catch((e) => {
          log(`Something bad happened: ${e.message}`);
          failed++;
        }),
      );
      sent++;
      if (opts.rate > 0) {
        await sleep(Math.max(0, started + (sent * 1000) / opts.rate - Date.now()));
      }
    }
    await Promise.all(pending);
    await producer.disconnect();
    console.log(`sent ${sent} tweets, failed ${failed}`);

    const total = (await endOffsets(kafka, opts.topic)).reduce((a, b) => a + b, 0);
    const got = await readAll(kafka, [opts.topic], { expected: total, extraMs: 0 });
    const count = (list) => list.reduce((m, t) => m.set(t, (m.get(t) ?? 0) + 1), new Map());
    const want = count(tweets.slice(0, sent));
    const have = count(got.map(({ message }) => message.value.toString()));
    const same = want.size === have.size && [...want].every(([t, n]) => have.get(t) === n);
    console.log(`read ${got.length} tweets, every one as sent: ${same ? 'yes' : 'no'}`);

    const potokBin = potokBinary();
    if (cluster && potokBin) {
      const codecs = new Map();
      for (let p = 0; p < 6; p++) {
        const segment = cluster.logDirs.map((d) => path.join(d.path, `${opts.topic}-${p}`, '00000000000000000000.log')).find((f) => fs.existsSync(f));
        if (segment) {
          const out = execFileSync(potokBin, ['dump-log', '--files', segment], { encoding: 'utf8', maxBuffer: 64 << 20 });
          for (const m of out.matchAll(/compresscodec: (\w+)/g)) {
            codecs.set(m[1], (codecs.get(m[1]) ?? 0) + 1);
          }
        }
      }
      const batches = [...codecs.values()].reduce((a, b) => a + b, 0);
      console.log(`batches: ${batches}, ${[...codecs].sort().map(([c, n]) => `compresscodec ${c}: ${n}`).join(', ')}`);
    }
  });
});
