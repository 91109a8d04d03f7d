// The course's PosValidator (CURRICULUM.md §5), consume-transform-produce: a consumer in the group
// `PosValidatorGroup` (reading from the beginning: auto.offset.reset=earliest) reads JSON invoices from `pos`; a
// HOME-DELIVERY invoice whose DeliveryAddress has an empty ContactNumber goes to `invalid-pos`, every other one to
// `valid-pos`, keyed by StoreID.
//
//   node examples/node/pos_validator.mjs [--bootstrap-servers HOST:PORT,...] [--produce 500] [--idle 5]
//
// --produce N first sends N random invoices to `pos` (on the embedded cluster it defaults to 500, since `pos`
// starts empty). The validator stops once no invoice came for --idle seconds (0: run until Ctrl-C, as the
// course's does); then both output topics are read back. Same stdout lines as pos_validator.py.
import { args, createTopic, endOffsets, log, main, potok, readAll, sleep, withCluster } from './course.mjs';
import { isInvalid, produceInvoices } from './pos_invoices.mjs';

const usage = `node pos_validator.mjs [--bootstrap-servers HOST:PORT,...] [--source pos] [--valid-topic valid-pos]
    [--invalid-topic invalid-pos] [--group PosValidatorGroup] [--produce N] [--idle 5] [--replication-factor 3]`;

main(async () => {
  const opts = args(usage, {
    source: 'pos',
    'valid-topic': 'valid-pos',
    'invalid-topic': 'invalid-pos',
    group: 'PosValidatorGroup',
    produce: -1,
    idle: 5,
    'replication-factor': 3,
  });
  await withCluster(opts, 3, async ({ kafka, cluster }) => {
    for (const topic of [opts.source, opts.validTopic, opts.invalidTopic]) {
      await createTopic(kafka, topic, 3, opts.replicationFactor, { 'min.insync.replicas': Math.min(2, opts.replicationFactor) });
    }
    const count = opts.produce >= 0 ? opts.produce : cluster ? 500 : 0;
    if (count > 0) {
      await produceInvoices(kafka, potok, opts.source, count);
    }

    const consumer = kafka.consumer({ groupId: opts.group });
    const producer = kafka.producer();
    await Promise.all([consumer.connect(), producer.connect()]);
    await consumer.subscribe({ topics: [opts.source], fromBeginning: true });
    let valid = 0;
    let invalid = 0;
    let last = Date.now();
    log(`PosValidator reading ${opts.source} in group ${opts.group}...`);
    await consumer.run({
      eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
        const out = { [opts.validTopic]: [], [opts.invalidTopic]: [] };
        for (const message of batch.messages) {
          const invoice = potok.serializers.json.deserialize(message.value);
          const bad = isInvalid(invoice);
          out[bad ? opts.invalidTopic : opts.validTopic].push({ key: invoice.StoreID, value: message.value });
          bad ? invalid++ : valid++;
        }
        // At least once: the batch is forwarded before its offsets are resolved (and then committed).
        const topicMessages = Object.entries(out).filter(([, m]) => m.length).map(([topic, messages]) => ({ topic, messages }));
        if (topicMessages.length) {
          await producer.sendBatch({ topicMessages });
        }
        for (const message of batch.messages) {
          resolveOffset(message.offset);
        }
        last = Date.now();
        await heartbeat();
      },
    });
    let stopping = false;
    process.once('SIGINT', () => {
      stopping = true;
    });
    // The idle clock starts once the group has given this member its partitions.
    for (const deadline = Date.now() + 30_000; consumer.assignment().length === 0 && Date.now() < deadline; ) {
      await sleep(50);
    }
    last = Math.max(last, Date.now());
    while (!stopping && (opts.idle <= 0 || Date.now() - last < opts.idle * 1000)) {
      await sleep(100);
    }
    await consumer.disconnect();
    await producer.disconnect();
    console.log(`validated ${valid + invalid} invoices: valid ${valid}, invalid ${invalid}`);

    for (const [topic, label, check] of [
      [opts.validTopic, 'every one passes the rule', (i) => !isInvalid(i)],
      [opts.invalidTopic, 'every one HOME-DELIVERY without ContactNumber', isInvalid],
    ]) {
      const expected = (await endOffsets(kafka, topic)).reduce((a, b) => a + b, 0);
      const got = await readAll(kafka, [topic], { expected, extraMs: 0 });
      const invoices = got.map(({ message }) => {
        const invoice = JSON.parse(message.value.toString());
        if (message.key.toString() !== invoice.StoreID) {
          throw new Error(`${topic}: key ${message.key} is not the StoreID ${invoice.StoreID}`);
        }
        return invoice;
      });
      console.log(`${topic}: ${invoices.length} records, ${label}: ${invoices.every(check) ? 'yes' : 'no'}`);
    }
  });
});
