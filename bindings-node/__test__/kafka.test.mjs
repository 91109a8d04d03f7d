// potok's kafkajs-shaped client against Apache Kafka 4.x, when POTOK_KAFKA_BOOTSTRAP names one (scripts/test.sh
// starts it with scripts/kafka.sh); the same tests as against the embedded Broker (client-suite.mjs).
import { test } from 'node:test';

import { clientSuite } from './client-suite.mjs';

const bootstrap = process.env.POTOK_KAFKA_BOOTSTRAP;
if (bootstrap) {
  clientSuite(`potok client against Apache Kafka at ${bootstrap}`, () => bootstrap);
} else {
  test('potok client against Apache Kafka', { skip: 'POTOK_KAFKA_BOOTSTRAP is not set (scripts/test.sh sets it)' }, () => {});
}
