// The course's broker failure and min ISR (CURRICULUM.md §1): a topic with replication factor 3 and
// min.insync.replicas=2 on three brokers. Stopping one broker shrinks the ISR and moves its leaderships, and
// acks=-1 still succeeds with two replicas in sync; stopping a second leaves one in sync, below the minimum, and
// acks=-1 is refused with NOT_ENOUGH_REPLICAS (a producer with retries keeps trying until delivery.timeout.ms).
// Started again, the brokers catch up and rejoin the ISR.
//
//   node examples/node/broker_failure.mjs [--delivery-timeout-ms 3000]
//
// It needs brokers it can stop, so it always runs on an embedded cluster: three brokers beside a dedicated
// controller (`new Cluster({ brokers: 3, controllers: 1 })`), so that the controller quorum survives two brokers
// going down. Same stdout lines as broker_failure.py.
import { args, createTopic, describe, log, main, potok, sleep } from './course.mjs';

const usage = 'node broker_failure.mjs [--delivery-timeout-ms 3000]';
const TOPIC = 'min-isr-topic';

async function partitions(kafka) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: [TOPIC] });
    return topics[0].partitions;
  } finally {
    await admin.disconnect();
  }
}

/** Waits (30 s at most) until the topic's partitions satisfy `ok`, then prints them as kafka-topics does. */
async function waitFor(kafka, what, ok) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if (ok(await partitions(kafka))) {
        break;
      }
    } catch {
      // A broker that just stopped may still be asked; the next round asks another.
    }
    if (Date.now() > deadline) {
      throw new Error(`not within 30 s: ${what}`);
    }
    await sleep(200);
  }
  for (const line of await describe(kafka, TOPIC)) {
    console.log(line);
  }
}

async function produce(kafka, label, config = {}) {
  const producer = kafka.producer({ acks: -1, config });
  await producer.connect();
  const started = Date.now();
  try {
    await producer.send({ topic: TOPIC, acks: -1, messages: [{ value: 'a record', partition: 0 }] });
    console.log(`acks=all with ${label}: delivered`);
  } catch (e) {
    const ms = Math.round((Date.now() - started) / 1000) * 1000;
    console.log(e.type === '_TIMED_OUT' || e.name === 'TimeoutError' ? `acks=all with ${label}: _TIMED_OUT after ${ms} ms` : `acks=all with ${label}: ${e.type}`);
    log(`  (${e.message})`);
  } finally {
    await producer.disconnect();
  }
}

main(async () => {
  const opts = args(usage, { 'delivery-timeout-ms': 3000 });
  const cluster = await new potok.Cluster({ brokers: 3, controllers: 1 }).start();
  try {
    const bootstrap = cluster.bootstrapServers;
    log(`embedded potok cluster: brokers 1-3 at ${bootstrap}, controller 4`);
    const kafka = new potok.Kafka({ clientId: 'broker-failure', brokers: bootstrap.split(','), logLevel: potok.logLevel.NOTHING });
    await createTopic(kafka, TOPIC, 3, 3, { 'min.insync.replicas': 2 });
    await waitFor(kafka, '3 in sync', (ps) => ps.every((p) => p.isr.length === 3));
    await produce(kafka, '3 in sync');

    await cluster.stopBroker(1);
    console.log('stopped broker 1');
    await waitFor(kafka, 'broker 1 out of every ISR', (ps) => ps.every((p) => !p.isr.includes(1) && p.leader !== 1));
    await produce(kafka, '2 in sync');

    await cluster.stopBroker(2);
    console.log('stopped broker 2');
    await waitFor(kafka, 'only broker 3 in sync', (ps) => ps.every((p) => p.isr.length === 1 && p.isr[0] === 3));
    await produce(kafka, '1 in sync, retries=0', { retries: 0 });
    const timeout = opts.deliveryTimeoutMs;
    await produce(kafka, '1 in sync, retrying', { 'delivery.timeout.ms': timeout, 'request.timeout.ms': Math.max(1, timeout - 5), 'linger.ms': 0 });

    await cluster.startBroker(1);
    await cluster.startBroker(2);
    console.log('started brokers 1 and 2');
    await waitFor(kafka, '3 in sync again', (ps) => ps.every((p) => [...p.isr].sort().join(',') === '1,2,3'));
    await produce(kafka, '3 in sync');
  } finally {
    await cluster.stop();
  }
});
