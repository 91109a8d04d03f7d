// The curriculum's Node exercise (examples/node): the producer sends a record a second, the group consumer
// prints partition, offset and value. Both run as separate processes against an embedded Broker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { Broker } = require('..');
const examples = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'node');

function lines(child) {
  const out = [];
  let partial = '';
  child.stdout.on('data', (chunk) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop();
    out.push(...parts);
  });
  return out;
}

async function until(predicate, ms) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) {
      return false;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

test('a producer sending a record a second and a group consumer printing partition, offset and value', { timeout: 60_000 }, async () => {
  const broker = await new Broker().start();
  const children = [];
  try {
    const producer = spawn(process.execPath, [path.join(examples, 'producer.mjs'), broker.bootstrapServers, '3'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(producer);
    const sent = lines(producer);
    const consumer = spawn(process.execPath, [path.join(examples, 'consumer.mjs'), broker.bootstrapServers], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(consumer);
    const printed = lines(consumer);
    assert.ok(await until(() => printed.length >= 3, 30_000), `consumer printed ${JSON.stringify(printed)}`);
    assert.deepEqual(printed.slice(0, 3), [
      'partition 0 offset 0 value message 0',
      'partition 0 offset 1 value message 1',
      'partition 0 offset 2 value message 2',
    ]);
    assert.ok(await until(() => producer.exitCode !== null, 10_000));
    assert.equal(producer.exitCode, 0);
    assert.deepEqual(sent, [0, 1, 2].map((i) => `sent message ${i} to partition 0 at offset ${i}`));
    consumer.kill('SIGTERM');
    assert.ok(await until(() => consumer.exitCode !== null, 15_000));
    assert.equal(consumer.exitCode, 0);
  } finally {
    for (const child of children) {
      if (child.exitCode === null) {
        child.kill('SIGKILL');
      }
    }
    await broker.stop();
  }
});
