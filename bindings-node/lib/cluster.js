'use strict';
// The embedded cluster: `brokers` potok nodes inside this Node process, each a broker and a voter of the
// controller quorum (as nodes started from Kafka's KRaft server.properties with process.roles=broker,controller),
// on 127.0.0.1 with data in a temporary directory removed on stop. Node ids run from 1 to `brokers`; a stopped
// or killed node starts again on the same address and data. Every operation runs on libuv's thread pool.
const native = require('./native');
const { toEntries } = require('./config');
const { ArgumentError, awaitNative, callNative } = require('./errors');

class Cluster {
  /**
   * @param {{ brokers?: number, config?: Record<string, string | number | boolean | Array<string | number>> }}
   *   [options] `brokers` (default 3, at most 9) and Kafka's broker keys applied to every node
   *   (`min.insync.replicas`, `default.replication.factor`, ...; `node.id`, `listeners`, `log.dirs` and the
   *   quorum keys are the cluster's own).
   */
  constructor({ brokers = 3, config = {} } = {}) {
    if (!Number.isInteger(brokers)) {
      throw new ArgumentError(`brokers must be an integer, got ${String(brokers)}`);
    }
    const entries = toEntries(config);
    this._native = callNative(() => new native.NativeCluster(brokers, entries));
  }

  /** Starts every node; resolves with this cluster once all accept connections. */
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

  /** Starts a stopped or killed node again, on its address and data. */
  async startBroker(id) {
    await awaitNative(this._native.startBroker(nodeId(id)));
  }

  /** `host:port,...` of the running nodes (for kafkajs's `brokers`, split on commas) while started, else null. */
  get bootstrapServers() {
    return this._native.bootstrapServers;
  }

  /** The ids of the running nodes, ascending (empty until start()). */
  get running() {
    return this._native.running;
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
