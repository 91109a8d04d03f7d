// potok's kafkajs-shaped client against the embedded Broker (client-suite.mjs has the tests).
import { after, before } from 'node:test';
import { createRequire } from 'node:module';

import { TIMEOUT } from './helpers.mjs';
import { clientSuite } from './client-suite.mjs';

const require = createRequire(import.meta.url);
const { Broker } = require('..');

let broker;
before(async () => {
  broker = await new Broker().start();
}, { timeout: TIMEOUT });
after(async () => {
  await broker?.stop();
}, { timeout: TIMEOUT });

// The potok broker answers transactional requests with UNSUPPORTED_VERSION until it implements them.
clientSuite('potok client against the embedded Broker', () => broker.bootstrapServers);
