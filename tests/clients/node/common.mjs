// Shared set-up for the kafkajs suites (not a test file itself): the broker address, timeouts, and a kafkajs
// client whose admin and producer are connected before the file's tests and disconnected after them.
import { after, before } from 'node:test';
import kafkajs from 'kafkajs';

const { Kafka, logLevel, Partitioners } = kafkajs;

export const BOOTSTRAP = process.env.POTOK_BOOTSTRAP || '127.0.0.1:9092';
export const TEST_TIMEOUT = 60_000;
export const OP_TIMEOUT = 30_000;

/** A kafkajs client for `clientId`; `ctx.admin` and `ctx.producer` are connected by the time tests run. */
export function connectedClients(clientId) {
  const kafka = new Kafka({
    clientId,
    brokers: [BOOTSTRAP],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 10_000,
    requestTimeout: OP_TIMEOUT,
    retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 2_000 },
  });
  const ctx = { kafka, admin: undefined, producer: undefined };
  before(async () => {
    ctx.admin = kafka.admin();
    await ctx.admin.connect();
    ctx.producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
    await ctx.producer.connect();
  }, { timeout: TEST_TIMEOUT });
  after(async () => {
    await ctx.producer?.disconnect();
    await ctx.admin?.disconnect();
  }, { timeout: TEST_TIMEOUT });
  return ctx;
}
