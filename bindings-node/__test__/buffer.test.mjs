// A full buffer.memory: as Kafka's Java producer, a send blocks up to max.block.ms for room and then fails with a
// TimeoutError (Java's BufferExhaustedException, a TimeoutException) — counted from the JavaScript call, and
// without waiting for the delivery of records appended before it (that can take delivery.timeout.ms).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';

import { TIMEOUT, topicName } from './helpers.mjs';

const require = createRequire(import.meta.url);
const { Cluster, Kafka, TimeoutError, logLevel } = require('..');

const MAX_BLOCK_MS = 1000;

/** The error `promise` rejects with; fails the test if it resolves or is still pending after `ms`. */
async function rejection(promise, ms, what) {
  let timer;
  const pending = new Promise((resolve) => {
    timer = setTimeout(() => resolve('pending'), ms);
  });
  const outcome = await Promise.race([promise.then(() => 'resolved', (e) => e), pending]);
  clearTimeout(timer);
  assert.ok(outcome instanceof Error, `${what}: ${outcome} after ${ms} ms instead of rejecting`);
  return outcome;
}

test('a full buffer.memory: send() waits max.block.ms for room, then rejects with a TimeoutError', { timeout: TIMEOUT }, async () => {
  const cluster = await new Cluster({ brokers: 1 }).start();
  const kafka = new Kafka({ brokers: cluster.bootstrapServers.split(','), logLevel: logLevel.NOTHING });
  const producer = kafka.producer({
    config: {
      'buffer.memory': 16384,
      'max.block.ms': MAX_BLOCK_MS,
      'linger.ms': 0,
      // Far beyond the test's waits: a send that waited for delivery instead of max.block.ms would show.
      'delivery.timeout.ms': 300_000,
    },
  });
  try {
    const topic = topicName('buffer');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] });
    await admin.disconnect();
    await producer.connect();
    await producer.send({ topic, messages: [{ value: 'first' }] }); // the producer learns the leader
    // The only broker is gone: records stay in the producer's buffer, about 15 of these fit in 16 KB.
    await cluster.killBroker(1);
    const value = Buffer.alloc(1000, 'x');

    // One send of more records than fit: those that fit are appended, the next one waits for room until
    // max.block.ms, and the send rejects then, without waiting for the delivery of those appended.
    const started = Date.now();
    const error = await rejection(
      producer.send({ topic, messages: Array.from({ length: 40 }, () => ({ value })) }),
      30_000,
      'a send that does not fit in buffer.memory',
    );
    const blockedMs = Date.now() - started;
    assert.ok(error instanceof TimeoutError, `${error.name}: ${error.message}`);
    assert.equal(error.name, 'TimeoutError');
    assert.match(error.message, /max blocking time 1000 ms/);
    assert.ok(blockedMs >= MAX_BLOCK_MS * 0.9, `it waited for room first (${blockedMs} ms)`);

    // Sends made together wait on the client's thread one after another, but each counts max.block.ms from its
    // own call, as concurrent send() calls in Java do: all of them reject about max.block.ms from now, not one
    // max.block.ms after the other (8 s). The bound leaves several seconds for a loaded machine.
    const queuedAt = Date.now();
    const queued = await Promise.all(
      Array.from({ length: 8 }, (_, i) => rejection(producer.send({ topic, messages: [{ value }] }), 30_000, `queued send ${i}`)),
    );
    const queuedMs = Date.now() - queuedAt;
    for (const e of queued) {
      assert.ok(e instanceof TimeoutError, `${e.name}: ${e.message}`);
    }
    assert.ok(queuedMs < 6 * MAX_BLOCK_MS, `8 queued sends rejected within ${queuedMs} ms, not one after another`);

    // The broker is back: what was appended is delivered.
    await cluster.startBroker(1);
    await producer.flush(60_000);
    const admin2 = kafka.admin();
    await admin2.connect();
    const [{ high }] = await admin2.fetchTopicOffsets(topic);
    await admin2.disconnect();
    assert.ok(Number(high) > 1, `the buffered records were delivered (high watermark ${high})`);
  } finally {
    // disconnect() delivers what is buffered first: with the broker still down it would wait delivery.timeout.ms.
    if (!cluster.running.includes(1)) {
      await cluster.startBroker(1);
    }
    await producer.disconnect().catch(() => {});
    await cluster.stop();
  }
});
