'use strict';
// The kafkajs-shaped client: `new Kafka({ clientId, brokers })` with `.producer()`, `.consumer()` and
// `.admin()`, over potok's native clients. This layer only translates shapes (kafkajs options to Kafka config
// keys, kafkajs messages to packed batches, native results to kafkajs answers) and errors; batching,
// partitioning, retries and offsets are core's. Kafka config keys can be passed verbatim in `config`.
const native = require('./native');
const { toEntries } = require('./config');
const { pack } = require('./pack');
const { useLogCreator } = require('./log');
const { ArgumentError, StateError, awaitNative, callNative, translate } = require('./errors');
const { Instrumentation } = require('./events');

/** kafkajs's CompressionTypes numbers, and Kafka's `compression.type` names for them. */
const CompressionTypes = Object.freeze({ None: 0, GZIP: 1, Snappy: 2, LZ4: 3, ZSTD: 4 });
const COMPRESSION_NAMES = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

function compressionName(c) {
  if (c === undefined || c === null) {
    return undefined;
  }
  if (typeof c === 'number' && COMPRESSION_NAMES[c] !== undefined) {
    return COMPRESSION_NAMES[c];
  }
  if (typeof c === 'string' && COMPRESSION_NAMES.includes(c.toLowerCase())) {
    return c.toLowerCase();
  }
  throw new ArgumentError(`unknown compression ${c}`);
}

function acksName(acks) {
  if (acks === undefined || acks === null) {
    return undefined;
  }
  if (acks === -1 || acks === 'all' || acks === '-1') {
    return 'all';
  }
  if ([0, 1, '0', '1'].includes(acks)) {
    return String(acks);
  }
  throw new ArgumentError(`acks must be -1, 0 or 1, got ${acks}`);
}

/** Calls a native per-item result's error a typed error (or null). */
function itemError(info) {
  return info ? translate(info) : null;
}

function firstError(items) {
  for (const item of items) {
    if (item.error) {
      return itemError(item.error);
    }
  }
  return null;
}

class Kafka {
  /**
   * @param {object} options kafkajs's `clientId`, `brokers`, `connectionTimeout`, `requestTimeout`, `retry`
   *   ({ initialRetryTime, maxRetryTime }), `logCreator` and `logLevel` (the engine's records, see lib/log.js),
   *   plus `config`: further Kafka client keys verbatim.
   */
  constructor(options = {}) {
    const { clientId, brokers, connectionTimeout, requestTimeout, retry, ssl, sasl, config, logCreator } = options;
    if (ssl || sasl) {
      throw new ArgumentError('ssl and sasl are not supported by potok yet');
    }
    if (logCreator !== undefined) {
      useLogCreator(logCreator, options.logLevel);
    }
    const list = typeof brokers === 'string' ? [brokers] : brokers;
    if (!Array.isArray(list) || list.length === 0 || !list.every((b) => typeof b === 'string')) {
      throw new ArgumentError('brokers must be a non-empty array of "host:port" strings');
    }
    this._common = {
      'bootstrap.servers': list.join(','),
      'client.id': clientId,
      'socket.connection.setup.timeout.ms': connectionTimeout,
      'request.timeout.ms': requestTimeout,
      'retry.backoff.ms': retry?.initialRetryTime,
      'retry.backoff.max.ms': retry?.maxRetryTime,
      ...config,
    };
  }

  /**
   * @param {object} [options] kafkajs's `idempotent`, `transactionalId`, `transactionTimeout`, `maxInFlightRequests`,
   *   `allowAutoTopicCreation` (ignored: the broker decides), plus potok's `compression`, `acks`, `lingerMs`,
   *   `batchSize`, and `config` (Kafka producer keys verbatim).
   */
  producer(options = {}) {
    return new Producer(this._common, options);
  }

  /**
   * @param {object} options kafkajs's `groupId`, `sessionTimeout`, `rebalanceTimeout`, `heartbeatInterval`,
   *   `maxBytesPerPartition`, `minBytes`, `maxBytes`, `maxWaitTimeInMs`, `readUncommitted`,
   *   `allowAutoTopicCreation`, plus `config` (Kafka consumer keys verbatim).
   */
  consumer(options = {}) {
    const { Consumer } = require('./consumer');
    return new Consumer(this._common, options);
  }

  /** @param {object} [options] `config`: Kafka admin keys verbatim. */
  admin(options = {}) {
    return new Admin(this._common, options);
  }
}

class Producer {
  constructor(common, options) {
    const { idempotent, transactionalId, transactionTimeout, maxInFlightRequests, compression, acks, lingerMs, batchSize, config } =
      options;
    this._transactional = transactionalId !== undefined && transactionalId !== null;
    this._config = {
      ...common,
      // kafkajs producers are not idempotent unless asked (Kafka's own default is the opposite).
      'enable.idempotence': Boolean(idempotent || this._transactional),
      'transactional.id': transactionalId ?? undefined,
      'transaction.timeout.ms': transactionTimeout,
      'max.in.flight.requests.per.connection': maxInFlightRequests,
      'linger.ms': lingerMs,
      'batch.size': batchSize,
      ...config,
    };
    this._defaultCompression = compressionName(compression) ?? this._config['compression.type'] ?? 'none';
    this._defaultAcks = acksName(acks) ?? String(this._config.acks ?? 'all');
    // kafkajs chooses acks and compression per send; Kafka's producer per instance. One native producer per
    // combination used (the default one made by connect()); records sent with different settings are
    // therefore not ordered relative to each other. A transactional producer uses only its default.
    this._natives = new Map();
    this._connected = false;
    this._transaction = null;
    this._instrumentation = new Instrumentation('producer');
    this.events = this._instrumentation.events;
  }

  /** kafkajs's on(eventName, listener): CONNECT, DISCONNECT and CONNECTION_ERROR; returns a remover. */
  on(eventName, listener) {
    return this._instrumentation.on(eventName, listener);
  }

  _native(acks, compression) {
    const a = acksName(acks) ?? this._defaultAcks;
    const c = compressionName(compression) ?? this._defaultCompression;
    const key = `${a}|${c}`;
    let producer = this._natives.get(key);
    if (producer === undefined) {
      if (this._natives.size > 0 && this._transactional) {
        throw new ArgumentError('a transactional producer sends with the acks and compression it was created with');
      }
      const config = { ...this._config, acks: a, 'compression.type': c };
      if (a !== 'all' && !this._transactional) {
        // Idempotence needs acks=all, as in Kafka; a send asking for fewer acks gets a plain producer.
        config['enable.idempotence'] = false;
      }
      const entries = toEntries(config);
      producer = callNative(() => new native.NativeProducer(entries));
      this._instrumentation.attach(producer);
      this._natives.set(key, producer);
    }
    return producer;
  }

  async connect() {
    const producer = this._native(undefined, undefined);
    if (this._transactional && !this._connected) {
      await awaitNative(producer.initTransactions());
    }
    this._connected = true;
    this._instrumentation.emit(this.events.CONNECT, null);
  }

  _check() {
    if (!this._connected) {
      throw new StateError('the producer is not connected; call connect() first');
    }
  }

  /** kafkajs's send({ topic, messages, acks, compression }): one result per topic-partition written. */
  async send({ topic, messages, acks, compression } = {}) {
    return this.sendBatch({ topicMessages: [{ topic, messages }], acks, compression });
  }

  /** kafkajs's sendBatch({ topicMessages: [{ topic, messages }], acks, compression }). */
  async sendBatch({ topicMessages, acks, compression } = {}) {
    this._check();
    if (!Array.isArray(topicMessages)) {
      throw new ArgumentError('topicMessages must be an array');
    }
    if (this._transactional && this._transaction === null) {
      throw new StateError('a transactional producer sends inside a transaction: use producer.transaction()');
    }
    const producer = this._native(acks, compression);
    const { topics, layout, timestamps, data, count } = pack(topicMessages);
    if (count === 0) {
      return [];
    }
    const result = await awaitNative(producer.send(topics, layout, timestamps, data));
    return summarize(topicMessages, result);
  }

  /** Waits until everything sent so far is acknowledged (potok's addition; kafkajs sends have no buffer). */
  async flush(timeoutMs) {
    this._check();
    await Promise.all([...this._natives.values()].map((p) => awaitNative(p.flush(timeoutMs))));
  }

  /** The partitions of a topic, as the producer's metadata sees them. */
  async partitionsFor(topic) {
    this._check();
    return awaitNative(this._native(undefined, undefined).partitionsFor(topic));
  }

  /** Begins a transaction (the producer needs a `transactionalId`); returns kafkajs's transaction object. */
  async transaction() {
    this._check();
    if (!this._transactional) {
      throw new StateError('transactions need a producer created with a transactionalId');
    }
    if (this._transaction !== null) {
      throw new StateError('a transaction is already open on this producer');
    }
    const producer = this._native(undefined, undefined);
    await awaitNative(producer.beginTransaction());
    const transaction = new Transaction(this, producer);
    this._transaction = transaction;
    return transaction;
  }

  /** Delivers what is queued and closes the producer; does nothing when not connected. */
  async disconnect() {
    const natives = [...this._natives.values()];
    const wasConnected = this._connected;
    this._natives.clear();
    this._connected = false;
    this._transaction = null;
    await Promise.all(natives.map((p) => awaitNative(p.close())));
    if (wasConnected) {
      this._instrumentation.emit(this.events.DISCONNECT, null);
    }
  }
}

/** kafkajs's per-topic-partition send result, from per-record metadata. */
function summarize(topicMessages, result) {
  const out = new Map();
  let i = 0;
  for (const { topic, messages } of topicMessages) {
    for (let n = 0; n < messages.length; n++, i++) {
      const partition = result.partitions[i];
      const offset = result.offsets[i];
      const key = `${topic}\u0000${partition}`;
      const entry = out.get(key);
      if (entry === undefined) {
        out.set(key, { topicName: topic, partition, errorCode: 0, base: offset });
      } else if (offset < entry.base) {
        entry.base = offset;
      }
    }
  }
  return [...out.values()].map(({ topicName, partition, errorCode, base }) => ({
    topicName,
    partition,
    errorCode,
    baseOffset: String(base),
    logAppendTime: '-1',
    logStartOffset: '-1',
  }));
}

class Transaction {
  constructor(owner, producer) {
    this._owner = owner;
    this._producer = producer;
    this._open = true;
  }

  _check() {
    if (!this._open) {
      throw new StateError('the transaction is already committed or aborted');
    }
  }

  async send(record) {
    this._check();
    return this._owner.send(record);
  }

  async sendBatch(batch) {
    this._check();
    return this._owner.sendBatch(batch);
  }

  /** kafkajs's sendOffsets({ consumerGroupId, topics: [{ topic, partitions: [{ partition, offset }] }] }). */
  async sendOffsets({ consumerGroupId, topics }) {
    this._check();
    const offsets = [];
    for (const { topic, partitions } of topics) {
      for (const { partition, offset } of partitions) {
        offsets.push({ topic, partition, offset: String(offset), timestamp: -1 });
      }
    }
    await awaitNative(this._producer.sendOffsetsToTransaction(consumerGroupId, offsets));
  }

  async commit() {
    this._check();
    this._open = false;
    this._owner._transaction = null;
    await awaitNative(this._producer.commitTransaction());
  }

  async abort() {
    this._check();
    this._open = false;
    this._owner._transaction = null;
    await awaitNative(this._producer.abortTransaction());
  }

  isActive() {
    return this._open;
  }
}

class Admin {
  constructor(common, options) {
    this._config = { ...common, ...options.config };
    this._native = null;
    this._instrumentation = new Instrumentation('admin');
    this.events = this._instrumentation.events;
  }

  /** kafkajs's on(eventName, listener): CONNECT, DISCONNECT and CONNECTION_ERROR; returns a remover. */
  on(eventName, listener) {
    return this._instrumentation.on(eventName, listener);
  }

  async connect() {
    if (this._native === null) {
      const entries = toEntries(this._config);
      this._native = callNative(() => new native.NativeAdmin(entries));
      this._instrumentation.attach(this._native);
      this._instrumentation.emit(this.events.CONNECT, null);
    }
  }

  async disconnect() {
    if (this._native !== null) {
      this._native = null;
      this._instrumentation.emit(this.events.DISCONNECT, null);
    }
  }

  _admin() {
    if (this._native === null) {
      throw new StateError('the admin client is not connected; call connect() first');
    }
    return this._native;
  }

  /**
   * kafkajs's createTopics: true when every topic was created, false when some already existed; other
   * failures throw.
   */
  async createTopics({ topics, validateOnly = false, timeout } = {}) {
    const specs = topics.map((t) => ({
      name: t.topic,
      numPartitions: t.numPartitions ?? -1,
      replicationFactor: t.replicationFactor ?? -1,
      configs: (t.configEntries ?? []).map(({ name, value }) => ({ name, value: String(value) })),
    }));
    const results = await awaitNative(this._admin().createTopics(specs, validateOnly, timeout));
    const failed = results.filter((r) => r.error && r.error.type !== 'TOPIC_ALREADY_EXISTS');
    if (failed.length > 0) {
      throw itemError(failed[0].error);
    }
    return results.every((r) => !r.error);
  }

  async deleteTopics({ topics, timeout } = {}) {
    const error = firstError(await awaitNative(this._admin().deleteTopics(topics, timeout)));
    if (error) {
      throw error;
    }
  }

  async listTopics() {
    return awaitNative(this._admin().listTopics(false));
  }

  /** kafkajs's fetchTopicMetadata({ topics }) (all topics when none are named). */
  async fetchTopicMetadata({ topics } = {}) {
    const names = topics && topics.length > 0 ? topics : await this.listTopics();
    const described = await awaitNative(this._admin().describeTopics(names));
    const error = firstError(described);
    if (error) {
      throw error;
    }
    return {
      topics: described.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          partitionErrorCode: p.errorCode,
          partitionId: p.partition,
          leader: p.leader,
          replicas: p.replicas,
          isr: p.isr,
          offlineReplicas: p.offlineReplicas,
        })),
      })),
    };
  }

  async describeCluster() {
    const c = await awaitNative(this._admin().describeCluster());
    return {
      brokers: c.brokers.map(({ nodeId, host, port }) => ({ nodeId, host, port })),
      controller: c.controllerId,
      clusterId: c.clusterId,
    };
  }

  async createPartitions({ topicPartitions, validateOnly = false, timeout } = {}) {
    const totals = topicPartitions.map(({ topic, count }) => ({ topic, count }));
    const error = firstError(await awaitNative(this._admin().createPartitions(totals, validateOnly, timeout)));
    if (error) {
      throw error;
    }
    return true;
  }

  async _partitionsOf(topic) {
    const { topics } = await this.fetchTopicMetadata({ topics: [topic] });
    return topics[0].partitions.map((p) => p.partitionId).sort((a, b) => a - b);
  }

  async _listOffsets(queries, isolationLevel = 0) {
    const results = await awaitNative(this._admin().listOffsets(queries, isolationLevel));
    const error = firstError(results);
    if (error) {
      throw error;
    }
    return results;
  }

  /** kafkajs's fetchTopicOffsets(topic): [{ partition, offset (= high), high, low }]. */
  async fetchTopicOffsets(topic) {
    const partitions = await this._partitionsOf(topic);
    const [low, high] = await Promise.all([
      this._listOffsets(partitions.map((partition) => ({ topic, partition, spec: -2 }))),
      this._listOffsets(partitions.map((partition) => ({ topic, partition, spec: -1 }))),
    ]);
    return partitions.map((partition, i) => ({
      partition,
      offset: String(high[i].offset),
      high: String(high[i].offset),
      low: String(low[i].offset),
    }));
  }

  /** kafkajs's fetchTopicOffsetsByTimestamp(topic, timestamp): the first offset at or after it (or the end). */
  async fetchTopicOffsetsByTimestamp(topic, timestamp) {
    const partitions = await this._partitionsOf(topic);
    const spec = timestamp === undefined ? -1 : Number(timestamp);
    const [at, high] = await Promise.all([
      this._listOffsets(partitions.map((partition) => ({ topic, partition, spec }))),
      this._listOffsets(partitions.map((partition) => ({ topic, partition, spec: -1 }))),
    ]);
    return partitions.map((partition, i) => ({ partition, offset: at[i].offset !== '-1' ? at[i].offset : high[i].offset }));
  }

  /** kafkajs's fetchOffsets({ groupId, topics }): committed offsets, -1 where none is committed. */
  async fetchOffsets({ groupId, topics } = {}) {
    const names = topics ?? [...new Set((await awaitNative(this._admin().listConsumerGroupOffsets(groupId, null))).map((o) => o.topic))];
    const out = [];
    for (const topic of names) {
      const partitions = await this._partitionsOf(topic);
      const committed = await awaitNative(
        this._admin().listConsumerGroupOffsets(groupId, partitions.map((partition) => ({ topic, partition }))),
      );
      const byPartition = new Map(committed.map((o) => [o.partition, o]));
      out.push({
        topic,
        partitions: partitions.map((partition) => {
          const o = byPartition.get(partition);
          return { partition, offset: o ? String(o.offset) : '-1', metadata: o && o.metadata !== '' ? o.metadata : null };
        }),
      });
    }
    return out;
  }

  /** kafkajs's setOffsets({ groupId, topic, partitions: [{ partition, offset }] }) (the group must be empty). */
  async setOffsets({ groupId, topic, partitions }) {
    const offsets = partitions.map(({ partition, offset }) => ({ topic, partition, offset: String(offset), timestamp: -1 }));
    const error = firstError(await awaitNative(this._admin().alterConsumerGroupOffsets(groupId, offsets)));
    if (error) {
      throw error;
    }
  }

  /** kafkajs's resetOffsets({ groupId, topic, earliest }). */
  async resetOffsets({ groupId, topic, earliest = false }) {
    const partitions = await this._partitionsOf(topic);
    const ends = await this._listOffsets(partitions.map((partition) => ({ topic, partition, spec: earliest ? -2 : -1 })));
    await this.setOffsets({ groupId, topic, partitions: ends.map((e) => ({ partition: e.partition, offset: e.offset })) });
  }

  async listGroups() {
    const groups = await awaitNative(this._admin().listGroups());
    return { groups: groups.map(({ groupId, protocolType }) => ({ groupId, protocolType })) };
  }

  async describeGroups(groupIds) {
    const described = await awaitNative(this._admin().describeGroups(groupIds));
    const error = firstError(described);
    if (error) {
      throw error;
    }
    return {
      groups: described.map((g) => ({
        groupId: g.groupId,
        state: g.state,
        protocolType: g.protocolType,
        protocol: g.protocol,
        errorCode: 0,
        members: g.members.map((m) => ({
          memberId: m.memberId,
          clientId: m.clientId,
          clientHost: m.host,
          groupInstanceId: m.groupInstanceId ?? null,
          assignment: m.assignment,
        })),
      })),
    };
  }

  async deleteGroups(groupIds) {
    const results = await awaitNative(this._admin().deleteGroups(groupIds));
    const error = firstError(results);
    if (error) {
      throw error;
    }
    return results.map((r) => ({ groupId: r.name, errorCode: 0 }));
  }

  /** kafkajs's deleteTopicRecords({ topic, partitions: [{ partition, offset }] }) (offset -1: the end). */
  async deleteTopicRecords({ topic, partitions }) {
    const before = partitions.map(({ partition, offset }) => ({ topic, partition, offset: String(offset), timestamp: -1 }));
    const error = firstError(await awaitNative(this._admin().deleteRecords(before)));
    if (error) {
      throw error;
    }
  }
}

module.exports = { Kafka, Producer, Admin, Transaction, CompressionTypes };
