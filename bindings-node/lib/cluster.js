'use strict';
// The embedded cluster: `brokers` potok nodes inside this Node process, each a broker and a voter of the
// controller quorum (as nodes started from Kafka's KRaft server.properties with process.roles=broker,controller),
// on 127.0.0.1 with data in a temporary directory removed on stop. Node ids run from 1 to `brokers`; a stopped
// or killed node starts again on the same address and data. Every operation runs on libuv's thread pool.
// With `controllers: N`, the brokers are broker-only nodes (process.roles=broker) and N more nodes, numbered
// after them, the controller quorum (process.roles=controller), as a production KRaft cluster runs: stopping two
// of three brokers then leaves the quorum up, so the ISR shrinks and acks=-1 gets NOT_ENOUGH_REPLICAS below
// min.insync.replicas.
const native = require('./native');
const { toEntries } = require('./config');
const { ArgumentError, awaitNative, callNative } = require('./errors');

class Cluster {
  /**
   * @param {{ brokers?: number, controllers?: number, schemaRegistry?: boolean,
   *   config?: Record<string, string | number | boolean | Array<string | number>> }}
   *   [options] `brokers` (default 3), `controllers` (dedicated controller-only nodes, default 0: every node is
   *   both; at most 9 nodes in all) and Kafka's broker keys applied to every node (`min.insync.replicas`,
   *   `default.replication.factor`, ...; `node.id`, `listeners`, `log.dirs` and the quorum keys are the
   *   cluster's own). `schemaRegistry: true` also serves a Confluent-compatible schema registry on every broker
   *   (`schemaRegistryUrl`), all over one `_schemas` topic replicated on up to 3 brokers.
   */
  constructor({ brokers = 3, controllers = 0, config = {}, schemaRegistry = false } = {}) {
    for (const [name, value] of [['brokers', brokers], ['controllers', controllers]]) {
      if (!Number.isInteger(value)) {
        throw new ArgumentError(`${name} must be an integer, got ${String(value)}`);
      }
    }
    const withRegistry = schemaRegistry && config['schema.registry.listeners'] === undefined
      ? { ...config, 'schema.registry.listeners': 'http://127.0.0.1:0' }
      : config;
    const entries = toEntries(withRegistry);
    this._native = callNative(() => new native.NativeCluster(brokers, controllers, entries));
  }

  /** Starts every node; resolves with this cluster once every broker is registered and unfenced (a topic with
   * replication factor `brokers` can be created at once). */
  async start() {
    await awaitNative(this._native.start());
    return this;
  }

  /** Stops every node and removes the cluster's data. Does nothing when stopped. */
  async stop() {
    await awaitNative(this._native.stop());
  }

  /** Stops node `id` as SIGTERM does: its partition leaderships move to other nodes first. */
  async stopBroker(id) {
    await awaitNative(this._native.stopBroker(nodeId(id)));
  }

  /** Stops node `id` as SIGKILL does: nothing flushed; the others notice when its session times out. */
  async killBroker(id) {
    await awaitNative(this._native.killBroker(nodeId(id)));
  }

  /** Starts a stopped or killed node again, on its address and data; a broker resolves once it is registered
   * and unfenced in every running broker's metadata. */
  async startBroker(id) {
    await awaitNative(this._native.startBroker(nodeId(id)));
  }

  /** `host:port,...` of the running brokers (for kafkajs's `brokers`, split on commas) while started, else null. */
  get bootstrapServers() {
    return this._native.bootstrapServers;
  }

  /** The schema registry URLs of the running brokers, comma-separated, with `schemaRegistry: true` while
   * started; otherwise null. */
  get schemaRegistryUrl() {
    return this._native.schemaRegistryUrl;
  }

  /** Broker `id`'s schema registry URL while it runs (the same after a restart), otherwise null. */
  brokerSchemaRegistryUrl(id) {
    return this._native.brokerSchemaRegistryUrl(nodeId(id));
  }

  /** The ids of the running nodes, ascending (empty until start()). */
  get running() {
    return this._native.running;
  }

  /** Each node's `{ nodeId, path }`: its log directory, where `<topic>-<partition>/` holds the segment files
   * (empty until start()). */
  get logDirs() {
    return this._native.logDirs;
  }

  /** `await using cluster = await new Cluster().start()` where the runtime supports it. */
  async [Symbol.asyncDispose ?? Symbol.for('Symbol.asyncDispose')]() {
    await this.stop();
  }
}

function nodeId(id) {
  if (!Number.isInteger(id) || id < -(2 ** 31) || id >= 2 ** 31) {
    throw new ArgumentError(`a node id must be an integer, got ${String(id)}`);
  }
  return id;
}

module.exports = { Cluster };
