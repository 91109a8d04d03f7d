// The embedded Broker and the error classes: start/stop as promises on a free 127.0.0.1 port, config keys
// checked at construction with ConfigError naming the key, a persistent log.dirs kept across restarts, state
// errors, and that the JS thread keeps running while a broker starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const potok = require('..');
const { Broker, ConfigError, PotokError, StateError, BrokerError } = potok;

const TIMEOUT = 60_000;

function connects(address) {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 5_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

test('start() listens on 127.0.0.1 and a free port; stop() closes it and removes the temporary log dir', { timeout: TIMEOUT }, async () => {
  const broker = new Broker();
  assert.equal(broker.bootstrapServers, null);
  assert.equal(await broker.start(), broker);
  const address = broker.bootstrapServers;
  assert.match(address, /^127\.0\.0\.1:\d+$/);
  assert.notEqual(address, '127.0.0.1:0');
  assert.ok(await connects(address));
  const dir = broker.logDir;
  assert.ok(fs.existsSync(path.join(dir, 'meta.properties')));
  await broker.stop();
  assert.equal(broker.bootstrapServers, null);
  assert.equal(await connects(address), false);
  assert.equal(fs.existsSync(dir), false);
  // Stopping again is a no-op, as kafkajs's disconnect() is.
  await broker.stop();
});

test('two brokers run side by side on different ports', { timeout: TIMEOUT }, async () => {
  const [a, b] = await Promise.all([new Broker().start(), new Broker().start()]);
  try {
    assert.notEqual(a.bootstrapServers, b.bootstrapServers);
    assert.notEqual(a.logDir, b.logDir);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});

test('an unknown or malformed config key throws ConfigError naming the key', () => {
  assert.throws(() => new Broker({ 'no.such.key': 1 }), (e) => {
    assert.ok(e instanceof ConfigError);
    assert.ok(e instanceof PotokError);
    assert.ok(e instanceof Error);
    assert.equal(e.name, 'ConfigError');
    assert.equal(e.key, 'no.such.key');
    assert.equal(e.code, 40);
    assert.equal(e.type, 'INVALID_CONFIG');
    assert.equal(e.retriable, false);
    assert.match(e.message, /no\.such\.key/);
    return true;
  });
  assert.throws(() => new Broker({ 'num.partitions': 'many' }), (e) => e instanceof ConfigError && e.key === 'num.partitions');
  assert.throws(() => new Broker({ 'num.partitions': 0 }), (e) => e instanceof ConfigError && e.key === 'num.partitions');
  assert.throws(() => new Broker({ 'auto.create.topics.enable': { yes: true } }), (e) => e instanceof ConfigError && e.key === 'auto.create.topics.enable');
  assert.throws(() => new Broker('num.partitions=3'), ConfigError);
});

test('numbers, booleans and arrays are written as Kafka text', { timeout: TIMEOUT }, async () => {
  const broker = await new Broker({ 'num.partitions': 4, 'auto.create.topics.enable': false, listeners: ['PLAINTEXT://127.0.0.1:0'] }).start();
  await broker.stop();
});

test('start() twice is a StateError; a port in use is a BrokerError', { timeout: TIMEOUT }, async () => {
  const broker = await new Broker().start();
  try {
    await assert.rejects(broker.start(), (e) => {
      assert.ok(e instanceof StateError, `${e}`);
      assert.equal(e.code, null);
      assert.equal(e.type, 'ILLEGAL_STATE');
      assert.equal(e.retriable, false);
      assert.match(e.message, /already started/);
      return true;
    });
    const taken = broker.bootstrapServers;
    const clash = new Broker({ listeners: `PLAINTEXT://${taken}` });
    await assert.rejects(clash.start(), (e) => {
      assert.ok(e instanceof BrokerError, `${e}`);
      assert.equal(e.code, -1);
      assert.equal(e.type, 'UNKNOWN_SERVER_ERROR');
      assert.match(e.message, new RegExp(taken.replaceAll('.', '\\.')));
      return true;
    });
    assert.equal(clash.bootstrapServers, null);
  } finally {
    await broker.stop();
  }
});

test('a persistent log.dirs survives a restart, and the broker can start again after stop()', { timeout: TIMEOUT }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'potok-node-broker-'));
  try {
    const broker = new Broker({ 'log.dirs': dir });
    await broker.start();
    assert.equal(broker.logDir, dir);
    const clusterId = fs.readFileSync(path.join(dir, 'meta.properties'), 'utf8').match(/cluster\.id=(.*)/)[1];
    await broker.stop();
    assert.ok(fs.existsSync(path.join(dir, '.kafka_cleanshutdown')));
    await broker.start();
    assert.equal(fs.readFileSync(path.join(dir, 'meta.properties'), 'utf8').match(/cluster\.id=(.*)/)[1], clusterId);
    await broker.stop();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the JS thread keeps running while brokers start and stop', { timeout: TIMEOUT }, async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  try {
    const brokers = await Promise.all([1, 2, 3].map(() => new Broker().start()));
    await Promise.all(brokers.map((b) => b.stop()));
  } finally {
    clearInterval(timer);
  }
  // Three brokers starting and stopping take tens of milliseconds at least; a blocked event loop would show
  // no ticks at all.
  assert.ok(ticks > 0, `the interval timer never fired (${ticks})`);
});
