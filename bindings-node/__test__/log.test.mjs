// The engine's log records reach JavaScript: setLogger(fn) and kafkajs's logCreator option, with loggers named
// after the engine's modules (potok.net) and kafkajs's level numbers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Broker, Kafka, logLevel, setLogger, ArgumentError } = require('..');

const TIMEOUT = 60_000;

async function waitFor(predicate, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) {
      throw new Error('timed out waiting for a log record');
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('setLogger receives the broker start and stop records', { timeout: TIMEOUT }, async () => {
  const entries = [];
  setLogger((e) => entries.push(e));
  try {
    const broker = await new Broker().start();
    const address = broker.bootstrapServers;
    await broker.stop();
    const about = (text) => entries.find((e) => e.logger === 'potok.net' && e.message.includes(text));
    await waitFor(() => about(`listening on ${address}`) && about(`${address} shut down`));
    const started = about(`listening on ${address}`);
    assert.equal(started.level, logLevel.INFO);
    assert.equal(started.label, 'INFO');
    assert.ok(Math.abs(started.timestamp - Date.now()) < 60_000);
  } finally {
    setLogger(null);
  }
});

test('setLogger filters by level; a throwing logger does not break the engine', { timeout: TIMEOUT }, async () => {
  const entries = [];
  setLogger(() => {
    throw new Error('a broken logger');
  });
  const first = await new Broker().start();
  await first.stop();
  setLogger((e) => entries.push(e), logLevel.ERROR);
  const quiet = await new Broker().start();
  const quietDir = quiet.logDir;
  await quiet.stop();
  // A later INFO record proves the queue has passed the quiet broker's records.
  setLogger((e) => entries.push(e), logLevel.INFO);
  const later = await new Broker().start();
  const laterDir = later.logDir;
  await later.stop();
  try {
    await waitFor(() => entries.some((e) => e.message.includes(laterDir)));
    assert.equal(entries.filter((e) => e.message.includes(quietDir)).length, 0);
    assert.throws(() => setLogger('not a function'), ArgumentError);
  } finally {
    setLogger(null);
  }
});

test("Kafka's logCreator option gets kafkajs-shaped entries", { timeout: TIMEOUT }, async () => {
  const logs = [];
  const logCreator = (level) => {
    assert.equal(level, logLevel.INFO);
    return ({ namespace, level: l, label, log }) => logs.push({ namespace, level: l, label, log });
  };
  const broker = await new Broker().start();
  try {
    new Kafka({ brokers: [broker.bootstrapServers], logCreator, logLevel: logLevel.INFO });
  } finally {
    await broker.stop();
  }
  try {
    await waitFor(() => logs.some((e) => e.namespace === 'potok.net' && e.log.message.includes('shut down')));
    const entry = logs.find((e) => e.namespace === 'potok.net');
    assert.equal(entry.label, 'INFO');
    assert.equal(typeof entry.log.timestamp, 'string');
    assert.equal(entry.log.logger, 'potok');
  } finally {
    setLogger(null);
  }
});
