// Connection failures reach applications (the CONNECTION_ERROR instrumentation event, librdkafka's error_cb in
// kafkajs's shape), and the addon loader builds the addon when npm skipped the install script.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { Kafka, ConnectionError } = require('..');
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

// Nothing listens on port 1.
const NOWHERE = '127.0.0.1:1';

test('an unreachable broker is reported once per client through CONNECTION_ERROR', { timeout: 60_000 }, async () => {
  const kafka = new Kafka({ brokers: [NOWHERE], requestTimeout: 1000 });
  const producer = kafka.producer({ config: { 'max.block.ms': 1000 } });
  const events = [];
  const remove = producer.on(producer.events.CONNECTION_ERROR, (event) => events.push(event));
  const connects = [];
  producer.on(producer.events.CONNECT, (event) => connects.push(event));
  await producer.connect();
  await assert.rejects(producer.send({ topic: 'nowhere', messages: [{ value: 'x' }] }));
  assert.equal(connects.length, 1);
  assert.equal(events.length, 1, JSON.stringify(events));
  const { type, payload, timestamp } = events[0];
  assert.equal(type, 'producer.network.connection_error');
  assert.ok(timestamp > 0);
  assert.equal(payload.broker, NOWHERE);
  assert.equal(payload.nodeId, -1);
  assert.ok(payload.error instanceof ConnectionError, String(payload.error));
  assert.equal(payload.error.type, 'NETWORK_EXCEPTION');
  assert.match(payload.error.message, /127\.0\.0\.1:1/);
  remove();
  await producer.disconnect();

  const admin = kafka.admin({ config: { 'default.api.timeout.ms': 1500 } });
  const adminEvents = [];
  admin.on(admin.events.CONNECTION_ERROR, ({ payload }) => adminEvents.push(payload.broker));
  await admin.connect();
  await assert.rejects(admin.listTopics());
  assert.deepEqual(adminEvents, [NOWHERE]);
  await admin.disconnect();

  assert.throws(() => admin.on('admin.no_such_event', () => {}), /Event name should be one of/);
});

test('the loader builds the addon when npm did not run the install script, or says how to', { timeout: 60_000 }, () => {
  // A copy of the package's loader whose install script "builds" by copying the addon the test command built;
  // the real install script is exercised by `npm install ./bindings-node` (the README check).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'potok-loader-'));
  try {
    fs.mkdirSync(path.join(dir, 'lib'));
    fs.mkdirSync(path.join(dir, 'scripts'));
    fs.copyFileSync(path.join(root, 'lib', 'native.js'), path.join(dir, 'lib', 'native.js'));
    fs.writeFileSync(
      path.join(dir, 'scripts', 'install.js'),
      `require('node:fs').copyFileSync(${JSON.stringify(path.join(root, 'potok.node'))}, require('node:path').join(__dirname, '..', 'potok.node'));\n`,
    );
    const load = (env) =>
      spawnSync(process.execPath, ['-e', `require(${JSON.stringify(path.join(dir, 'lib', 'native.js'))}).serializeString('x')`], {
        env: { ...process.env, ...env },
        encoding: 'utf8',
      });
    const refused = load({ POTOK_NODE_NO_BUILD: '1' });
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /npm did not run its install script/);
    assert.match(refused.stderr, /install-scripts approve/);
    const built = load({});
    assert.equal(built.status, 0, built.stderr);
    assert.match(built.stderr, /building it now/);
    assert.ok(fs.existsSync(path.join(dir, 'potok.node')));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
