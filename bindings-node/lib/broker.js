'use strict';
// The embedded broker: a potok broker inside this Node process, on 127.0.0.1 and a free port, with a fresh
// temporary log directory unless `log.dirs` is given. start() and stop() run on libuv's thread pool.
const native = require('./native');
const { toEntries } = require('./config');
const { awaitNative, callNative } = require('./errors');

class Broker {
  /**
   * @param {Record<string, string | number | boolean | Array<string | number>>} [config] Kafka's broker keys
   *   (`num.partitions`, `log.dirs`, `auto.create.topics.enable`, `listeners`, ...). `schemaRegistry: true` also
   *   serves a Confluent-compatible schema registry on a free port (`schemaRegistryUrl`).
   */
  constructor(config = {}) {
    const { schemaRegistry, ...kafkaConfig } = config;
    if (schemaRegistry && kafkaConfig['schema.registry.listeners'] === undefined) {
      kafkaConfig['schema.registry.listeners'] = 'http://127.0.0.1:0';
    }
    const entries = toEntries(kafkaConfig);
    this._native = callNative(() => new native.NativeBroker(entries));
  }

  /** Starts serving; resolves with this broker once clients can connect. */
  async start() {
    await awaitNative(this._native.start());
    return this;
  }

  /** Stops serving and flushes the logs (removing a temporary log directory). Does nothing when stopped. */
  async stop() {
    await awaitNative(this._native.stop());
  }

  /** `host:port` while running (what `brokers` / `bootstrap.servers` want), otherwise null. */
  get bootstrapServers() {
    return this._native.bootstrapServers;
  }

  /** The schema registry's URL (`http://host:port`) while running with `schemaRegistry: true`, otherwise null. */
  get schemaRegistryUrl() {
    return this._native.schemaRegistryUrl;
  }

  /** The log directory while running, otherwise null. */
  get logDir() {
    return this._native.logDir;
  }

  /** `await using broker = await new Broker().start()` where the runtime supports it. */
  async [Symbol.asyncDispose ?? Symbol.for('Symbol.asyncDispose')]() {
    await this.stop();
  }
}

module.exports = { Broker };
