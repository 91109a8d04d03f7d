// The course's buffer.memory and max.block.ms (CURRICULUM.md §6): records the producer cannot send yet wait in its
// buffer (buffer.memory, 32 MB by default). When the buffer is full, a send waits up to max.block.ms (60 s by
// default) for room and then fails, as Kafka's Java producer's send() does: here the send's promise rejects with
// potok's TimeoutError (Java's BufferExhaustedException, a TimeoutException).
//
//   node examples/node/buffer_full.mjs [--buffer-memory 65536] [--max-block-ms 1000] [--record-bytes 1000]
//
// kafkajs has no buffer: its send() writes a request at once. potok's producer is Kafka's, so its config takes
// Kafka's producer keys by their Kafka names (`kafka.producer({ config: { 'buffer.memory': ..., 'max.block.ms':
// ... } })`). A send's promise resolves once the broker acknowledged its records, so the program fires its sends
// without awaiting them, as a busy application would; sends run in the order they were made, and each counts
// max.block.ms from its own call.
//
// It stops its broker to make the buffer fill, so it always runs on an embedded potok cluster (one broker). Then
// it starts the broker again, and the buffered records are delivered. Same stdout lines as buffer_full.py, except
// that here the send itself waited:
//   broker 1 stopped
//   buffer full after 60 records of 1000 bytes (buffer.memory=65536): send() blocked 1000 ms, then TimeoutError
//   broker 1 started
//   delivered 60 buffered records, failed 0
import { args, createTopic, log, main, potok } from './course.mjs';

const usage = 'node buffer_full.mjs [--buffer-memory 65536] [--max-block-ms 1000] [--record-bytes 1000]';
const TOPIC = 'buffer-topic';

main(async () => {
  const opts = args(usage, { 'buffer-memory': 65536, 'max-block-ms': 1000, 'record-bytes': 1000 });
  if (opts.bootstrapServers) {
    throw new Error('buffer_full stops its broker, so it runs on its own embedded cluster: no --bootstrap-servers');
  }
  const cluster = await new potok.Cluster({ brokers: 1 }).start();
  const kafka = new potok.Kafka({ clientId: 'buffer-full', brokers: cluster.bootstrapServers.split(','), logLevel: potok.logLevel.NOTHING });
  const producer = kafka.producer({
    config: { 'buffer.memory': opts.bufferMemory, 'max.block.ms': opts.maxBlockMs, 'linger.ms': 0 },
  });
  try {
    log(`embedded potok cluster: broker 1 at ${cluster.bootstrapServers}`);
    await createTopic(kafka, TOPIC, 1, 1);
    await producer.connect();
    await producer.send({ topic: TOPIC, messages: [{ value: 'first' }] }); // the producer learns the topic's leader
    // Killed rather than shut down: the producer keeps the topic's metadata it has and cannot send.
    await cluster.killBroker(1);
    console.log('broker 1 stopped');

    // Twice what the buffer holds, each record its own send. Those that fit wait in the buffer (their promises
    // stay pending until the broker acknowledges them); the first that does not fit waits max.block.ms for room,
    // and every later one, whose max.block.ms has passed as well by its turn, fails with it.
    const value = Buffer.alloc(opts.recordBytes, 'x');
    const fired = 2 * Math.ceil(opts.bufferMemory / opts.recordBytes) + 10;
    const outcomes = [];
    let rejected = 0;
    let firstRejection = null;
    const started = Date.now();
    for (let i = 0; i < fired; i++) {
      outcomes.push(
        producer.send({ topic: TOPIC, messages: [{ value }] }).then(
          () => 'delivered',
          (e) => {
            if (e instanceof potok.TimeoutError && e.message.includes('max blocking time')) {
              rejected++;
              firstRejection ??= { ms: Date.now() - started, error: e };
              return 'no room';
            }
            return `failed: ${e.name}: ${e.message}`;
          },
        ),
      );
    }
    // Sends are appended in the order they were made, so once the last one has failed, every one has had its
    // turn: those still pending are in the buffer.
    const last = await outcomes[fired - 1];
    if (last !== 'no room') {
      throw new Error(`the buffer never filled: the last of ${fired} sends ended with ${last}`);
    }
    const buffered = fired - rejected;
    const blocked = Math.round(firstRejection.ms / 100) * 100;
    console.log(
      `buffer full after ${buffered} records of ${opts.recordBytes} bytes (buffer.memory=${opts.bufferMemory}): ` +
        `send() blocked ${blocked} ms, then ${firstRejection.error.name}`,
    );
    log(`  (${firstRejection.error.message}; ${rejected} sends found no room)`);

    await cluster.startBroker(1);
    console.log('broker 1 started');
    await producer.flush(60_000);
    const settled = await Promise.all(outcomes);
    const delivered = settled.filter((o) => o === 'delivered').length;
    const failed = settled.filter((o) => o !== 'delivered' && o !== 'no room');
    for (const f of failed.slice(0, 3)) {
      log(`  ${f}`);
    }
    console.log(`delivered ${delivered} buffered records, failed ${failed.length}`);
  } finally {
    if (!cluster.running.includes(1)) {
      await cluster.startBroker(1); // disconnect() delivers what is buffered first
    }
    await producer.disconnect();
    await cluster.stop();
  }
});
