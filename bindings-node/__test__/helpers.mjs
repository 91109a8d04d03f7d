// Shared by the client suites (not a test file): where the broker under test is, unique topic names, and a
// consumer run that collects a number of messages with a timeout.
import { randomUUID } from 'node:crypto';

export const TIMEOUT = 90_000;

export function topicName(hint) {
  return `potok-node-${hint}-${randomUUID().replaceAll('-', '').slice(0, 10)}`;
}

/** Runs `consumer` until `count` messages arrived (or `ms` passed, which fails), then stops its loop. */
export async function collect(consumer, count, ms = 30_000) {
  const seen = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`saw ${seen.length} of ${count} messages`)), ms);
    consumer
      .run({
        eachMessage: async ({ topic, partition, message }) => {
          seen.push({ topic, partition, ...message });
          if (seen.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        },
      })
      .catch(reject);
  });
  await consumer.stop();
  return seen;
}
