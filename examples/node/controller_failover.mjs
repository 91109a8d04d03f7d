// The controller fails over (CURRICULUM.md §1): in a KRaft cluster one node of the controller quorum is the active
// controller, which decides placements, leaders and ISRs. Three nodes here are each a broker and a voter of the
// quorum (process.roles=broker,controller, as the course's three-node cluster). The program finds the active
// controller, kills that node (as SIGKILL would), and watches the two remaining voters elect a new one; the topic
// stays available: its partitions get leaders on the live nodes and acks=-1 writes go on.
//
//   node examples/node/controller_failover.mjs [--records 10]
//
// It kills a node, so it always runs on an embedded cluster. The controller comes from each live broker's
// DescribeCluster answer (`admin.describeCluster().controller`); potok names the active controller there when it
// is a broker too, as `kafka-metadata-quorum.sh describe --status` names it (LeaderId) on Kafka, whose brokers name
// a random broker. Same stdout lines as controller_failover.py.
import { args, createTopic, describe, endOffsets, log, main, potok, sleep } from './course.mjs';

const usage = 'node controller_failover.mjs [--records 10]';
const TOPIC = 'failover-topic';

function client(brokers) {
  return new potok.Kafka({ clientId: 'controller-failover', brokers, logLevel: potok.logLevel.NOTHING });
}

/** Each running broker's answer (the controller id it names; -1 when it did not answer). A fresh client's first
 * request goes to its bootstrap broker, so each answer is that broker's own view. */
async function controllers(cluster) {
  const views = [];
  for (const address of cluster.bootstrapServers.split(',')) {
    const admin = client([address]).admin({ config: { 'default.api.timeout.ms': 5000 } });
    try {
      await admin.connect();
      views.push((await admin.describeCluster()).controller);
    } catch {
      views.push(-1);
    } finally {
      await admin.disconnect();
    }
  }
  return views;
}

/** Waits until every running broker names the same live node as the controller (a broker in the middle of an
 * election names itself or no one, so agreement is what tells the election is over). */
async function agreedController(cluster, otherThan = null) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const views = await controllers(cluster);
    const named = new Set(views);
    if (named.size === 1) {
      const [controller] = named;
      if (cluster.running.includes(controller) && controller !== otherThan) {
        return controller;
      }
    }
    if (Date.now() > deadline) {
      throw new Error(`the brokers did not agree on a controller within 30 s: ${views}`);
    }
    await sleep(200);
  }
}

async function produce(kafka, records, start) {
  const producer = kafka.producer();
  await producer.connect();
  try {
    const messages = Array.from({ length: records }, (_, i) => ({ key: String(start + i), value: `record ${start + i}` }));
    await producer.send({ topic: TOPIC, acks: -1, messages });
    console.log(`acks=all: ${records} records delivered`);
  } finally {
    await producer.disconnect();
  }
}

main(async () => {
  const opts = args(usage, { records: 10 });
  if (opts.bootstrapServers) {
    throw new Error('controller_failover kills a node, so it runs on its own embedded cluster: no --bootstrap-servers');
  }
  const cluster = await new potok.Cluster({ brokers: 3 }).start();
  try {
    log(`embedded potok cluster: nodes 1-3 (broker and controller each) at ${cluster.bootstrapServers}`);
    const kafka = client(cluster.bootstrapServers.split(','));
    await createTopic(kafka, TOPIC, 3, 3, { 'min.insync.replicas': 2 });
    const controller = await agreedController(cluster);
    console.log(`active controller: node ${controller}`);
    await produce(kafka, opts.records, 0);

    const started = Date.now();
    await cluster.killBroker(controller);
    console.log(`killed node ${controller}, the active controller`);
    const elected = await agreedController(cluster, controller);
    log(`  (elected ${((Date.now() - started) / 1000).toFixed(1)} s after the kill)`);
    console.log(`new active controller: node ${elected}`);

    // The new controller fences the dead node once its session times out and moves its leaderships.
    const live = client(cluster.bootstrapServers.split(','));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const admin = live.admin();
      let partitions = [];
      try {
        await admin.connect();
        partitions = (await admin.fetchTopicMetadata({ topics: [TOPIC] })).topics[0].partitions;
      } catch {
        // Asked while metadata moves: the next round asks again.
      } finally {
        await admin.disconnect();
      }
      if (partitions.length === 3 && partitions.every((p) => p.leader !== controller && !p.isr.includes(controller))) {
        break;
      }
      if (Date.now() > deadline) {
        throw new Error(`node ${controller} still leads or is in sync after 30 s`);
      }
      await sleep(200);
    }
    for (const line of await describe(live, TOPIC)) {
      console.log(line);
    }
    await produce(live, opts.records, opts.records);
    const total = (await endOffsets(live, TOPIC)).reduce((a, b) => a + b, 0);
    console.log(`the topic holds ${total} records`);

    await cluster.startBroker(controller);
    const after = await agreedController(cluster);
    console.log(`node ${controller} started again: it rejoins the quorum, the active controller ${after === elected ? 'stays' : 'is now'} node ${after}`);
  } finally {
    await cluster.stop();
  }
});
