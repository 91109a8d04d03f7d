'use strict';
// kafkajs's consumer over potok's native consumer: subscribe() records topics, run() makes the native
// consumer (kafkajs's `fromBeginning` and `autoCommit` become Kafka's `auto.offset.reset` and
// `enable.auto.commit`) and loops: poll, hand records to eachMessage / eachBatch, poll again. Offsets are
// core's business (its auto commit commits what earlier polls returned, as Kafka's consumer does); this
// layer only moves a partition back with seek() when records it fetched were not processed (a handler
// threw, the partition was paused, or the consumer stopped), so they are read again rather than skipped.
const native = require('./native');
const { toEntries } = require('./config');
const { ArgumentError, StateError, awaitNative, callNative } = require('./errors');
const { Instrumentation } = require('./events');

/** How long one poll waits for records before the loop looks at its state again. */
const POLL_MS = 1_000;
/** The pause before records a handler failed on are read again. */
const RETRY_MS = 300;

function unpack(polled) {
  const { topics, layout, offsets, timestamps, data } = polled;
  const messages = [];
  let l = 0;
  let at = 0;
  const take = (length) => {
    if (length < 0) {
      return null;
    }
    const view = data.subarray(at, at + length);
    at += length;
    return view;
  };
  for (let i = 0; i < offsets.length; i++) {
    const topic = topics[layout[l]];
    const partition = layout[l + 1];
    const keyLength = layout[l + 2];
    const valueLength = layout[l + 3];
    const timestampType = layout[l + 4];
    const headerCount = layout[l + 6];
    l += 7;
    const key = take(keyLength);
    const value = take(valueLength);
    const headers = {};
    for (let h = 0; h < headerCount; h++) {
      const name = take(layout[l]).toString();
      const v = take(layout[l + 1]);
      l += 2;
      // kafkajs: a repeated header key becomes an array of its values.
      if (Object.hasOwn(headers, name)) {
        headers[name] = [].concat(headers[name], v);
      } else {
        headers[name] = v;
      }
    }
    messages.push({
      topic,
      partition,
      message: {
        key,
        value,
        headers,
        timestamp: String(timestamps[i]),
        offset: String(offsets[i]),
        attributes: timestampType === 1 ? 8 : 0,
        size: 0,
      },
    });
  }
  return messages;
}

/** Records of one poll grouped by partition, in poll order. */
function byPartition(records) {
  const groups = new Map();
  for (const r of records) {
    const key = `${r.topic}\u0000${r.partition}`;
    let group = groups.get(key);
    if (group === undefined) {
      group = { topic: r.topic, partition: r.partition, messages: [] };
      groups.set(key, group);
    }
    group.messages.push(r.message);
  }
  return [...groups.values()];
}

class Consumer {
  constructor(common, options) {
    const {
      groupId,
      sessionTimeout,
      rebalanceTimeout,
      heartbeatInterval,
      maxBytesPerPartition,
      minBytes,
      maxBytes,
      maxWaitTimeInMs,
      readUncommitted = false,
      allowAutoTopicCreation,
      config,
    } = options;
    if (typeof groupId !== 'string' || groupId === '') {
      throw new ArgumentError('consumer groupId must be a non-empty string');
    }
    this._config = {
      ...common,
      'group.id': groupId,
      'session.timeout.ms': sessionTimeout,
      'max.poll.interval.ms': rebalanceTimeout,
      'heartbeat.interval.ms': heartbeatInterval,
      'max.partition.fetch.bytes': maxBytesPerPartition,
      'fetch.min.bytes': minBytes,
      'fetch.max.bytes': maxBytes,
      'fetch.max.wait.ms': maxWaitTimeInMs,
      // kafkajs reads committed data unless told otherwise (Kafka's default is read_uncommitted).
      'isolation.level': readUncommitted ? 'read_uncommitted' : 'read_committed',
      'allow.auto.create.topics': allowAutoTopicCreation,
      ...config,
    };
    this._groupId = groupId;
    this._topics = [];
    this._fromBeginning = false;
    this._native = null;
    this._connected = false;
    this._running = false;
    this._loop = null;
    this._polling = false;
    // Partitions whose remaining records in the current poll must not be handed out (paused or sought).
    this._skip = new Set();
    this._instrumentation = new Instrumentation('consumer');
    this.events = this._instrumentation.events;
  }

  /** kafkajs's on(eventName, listener): CONNECT, DISCONNECT and CONNECTION_ERROR; returns a remover. */
  on(eventName, listener) {
    return this._instrumentation.on(eventName, listener);
  }

  async connect() {
    toEntries(this._config);
    this._connected = true;
    this._instrumentation.emit(this.events.CONNECT, null);
  }

  /** kafkajs's subscribe({ topics, fromBeginning }); topics may be strings or RegExps. */
  async subscribe({ topics, topic, fromBeginning = false } = {}) {
    if (!this._connected) {
      throw new StateError('the consumer is not connected; call connect() first');
    }
    if (this._native !== null) {
      throw new StateError('subscribe before run(), as with kafkajs');
    }
    const list = topics ?? (topic === undefined ? [] : [topic]);
    for (const t of list) {
      if (t instanceof RegExp) {
        // librdkafka's convention, which core follows: a leading ^ marks a regular expression.
        this._topics.push(t.source.startsWith('^') ? t.source : `^${t.source}`);
      } else if (typeof t === 'string' && t !== '') {
        this._topics.push(t);
      } else {
        throw new ArgumentError('topics must be non-empty strings or RegExps');
      }
    }
    this._fromBeginning = this._fromBeginning || fromBeginning;
  }

  /**
   * kafkajs's run({ eachMessage, eachBatch, autoCommit, autoCommitInterval, eachBatchAutoResolve,
   * partitionsConsumedConcurrently }). Resolves once the consumer has joined its loop; the loop runs until
   * stop() or disconnect().
   */
  async run({
    eachMessage,
    eachBatch,
    autoCommit = true,
    autoCommitInterval,
    eachBatchAutoResolve = true,
    partitionsConsumedConcurrently = 1,
  } = {}) {
    if (this._running) {
      throw new StateError('the consumer is already running');
    }
    if (this._topics.length === 0) {
      throw new StateError('subscribe to at least one topic before run()');
    }
    if (typeof eachMessage !== 'function' && typeof eachBatch !== 'function') {
      throw new ArgumentError('run needs eachMessage or eachBatch');
    }
    if (this._native === null) {
      const config = {
        ...this._config,
        'auto.offset.reset': this._config['auto.offset.reset'] ?? (this._fromBeginning ? 'earliest' : 'latest'),
        'enable.auto.commit': autoCommit,
        'auto.commit.interval.ms': autoCommitInterval,
      };
      const entries = toEntries(config);
      this._native = callNative(() => new native.NativeConsumer(entries));
      this._instrumentation.attach(this._native);
      await awaitNative(this._native.subscribe(this._topics));
    }
    this._running = true;
    this._handlers = { eachMessage, eachBatch, eachBatchAutoResolve, concurrency: Math.max(1, partitionsConsumedConcurrently) };
    this._loop = this._runLoop();
  }

  async _runLoop() {
    while (this._running) {
      let polled;
      this._polling = true;
      try {
        polled = await awaitNative(this._native.poll(POLL_MS));
      } catch (error) {
        if (!this._running) {
          break;
        }
        if (error && error.retriable) {
          await new Promise((r) => setTimeout(r, RETRY_MS));
          continue;
        }
        this._running = false;
        this._crash = error;
        break;
      } finally {
        this._polling = false;
      }
      this._skip.clear();
      const groups = byPartition(unpack(polled));
      const queue = [...groups];
      const worker = async () => {
        for (let group = queue.shift(); group !== undefined; group = queue.shift()) {
          await this._handle(group);
        }
      };
      await Promise.all(Array.from({ length: Math.min(this._handlers.concurrency, queue.length) }, worker));
    }
  }

  /** Hands one partition's records to the handler; rewinds to the first one not processed. */
  async _handle(group) {
    const { topic, partition, messages } = group;
    const key = `${topic}\u0000${partition}`;
    let next = 0;
    let failed = null;
    try {
      if (this._handlers.eachBatch) {
        let resolved = -1;
        const batch = {
          topic,
          partition,
          messages,
          highWatermark: '-1',
          isEmpty: () => messages.length === 0,
          firstOffset: () => (messages.length ? messages[0].offset : null),
          lastOffset: () => (messages.length ? messages[messages.length - 1].offset : null),
        };
        await this._handlers.eachBatch({
          batch,
          resolveOffset: (offset) => {
            const i = messages.findIndex((m) => m.offset === String(offset));
            if (i > resolved) {
              resolved = i;
            }
          },
          heartbeat: async () => {},
          pause: () => this._pauseFrom(topic, partition),
          commitOffsetsIfNecessary: async () => {},
          uncommittedOffsets: () => ({ topics: [] }),
          isRunning: () => this._running,
          isStale: () => this._skip.has(key),
        });
        next = this._handlers.eachBatchAutoResolve && !this._skip.has(key) ? messages.length : resolved + 1;
      } else {
        for (; next < messages.length; next++) {
          if (!this._running || this._skip.has(key)) {
            break;
          }
          await this._handlers.eachMessage({
            topic,
            partition,
            message: messages[next],
            heartbeat: async () => {},
            pause: () => this._pauseFrom(topic, partition),
          });
        }
      }
    } catch (error) {
      failed = error;
    }
    // A partition the handler sought elsewhere keeps that position; otherwise unprocessed records are
    // read again by the next poll.
    if (next < messages.length && !this._sought(key)) {
      await awaitNative(this._native.seek(topic, partition, messages[next].offset));
    }
    if (failed !== null) {
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }

  _sought(key) {
    return this._skip.has(key) && this._skipReason?.get(key) === 'seek';
  }

  _mark(topic, partition, reason) {
    const key = `${topic}\u0000${partition}`;
    this._skip.add(key);
    this._skipReason ??= new Map();
    this._skipReason.set(key, reason);
  }

  _pauseFrom(topic, partition) {
    this._mark(topic, partition, 'pause');
    const done = this.pause([{ topic, partitions: [partition] }]);
    return () => this.resume([{ topic, partitions: [partition] }]).then(() => done);
  }

  _requireNative() {
    if (this._native === null) {
      throw new StateError('the consumer is not running; call run() first');
    }
    return this._native;
  }

  /** Lets a call made while a poll waits be served now. */
  _interrupt() {
    if (this._polling) {
      this._native.wakeup();
    }
  }

  /** kafkajs's commitOffsets([{ topic, partition, offset }]): offset is the next one to read. */
  async commitOffsets(offsets) {
    const n = this._requireNative();
    const list = offsets.map(({ topic, partition, offset, metadata }) => ({
      topic,
      partition,
      offset: String(offset),
      timestamp: -1,
      metadata: metadata ?? undefined,
    }));
    this._interrupt();
    await awaitNative(n.commit(list));
  }

  /** kafkajs's seek({ topic, partition, offset }): the next record read from the partition is at `offset`. */
  seek({ topic, partition, offset }) {
    const n = this._requireNative();
    this._mark(topic, partition, 'seek');
    this._interrupt();
    return awaitNative(n.seek(topic, partition, String(offset)));
  }

  /** kafkajs's pause([{ topic, partitions }]) (all of a topic's assigned partitions when none are named). */
  pause(topics) {
    const n = this._requireNative();
    const specs = this._specs(topics);
    for (const { topic, partition } of specs) {
      this._mark(topic, partition, 'pause');
    }
    this._interrupt();
    return awaitNative(n.pause(specs));
  }

  resume(topics) {
    const n = this._requireNative();
    const specs = this._specs(topics);
    this._interrupt();
    return awaitNative(n.resume(specs));
  }

  /** kafkajs's paused(): [{ topic, partitions }]. */
  paused() {
    if (this._native === null) {
      return [];
    }
    const byTopic = new Map();
    for (const { topic, partition } of this._native.paused()) {
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition]);
    }
    return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
  }

  /** The partitions currently assigned to this member: [{ topic, partition }]. */
  assignment() {
    return this._native === null ? [] : this._native.assignment();
  }

  _specs(topics) {
    const assigned = this._native.assignment();
    const specs = [];
    for (const { topic, partitions } of topics) {
      const list = partitions ?? assigned.filter((a) => a.topic === topic).map((a) => a.partition);
      for (const partition of list) {
        specs.push({ topic, partition });
      }
    }
    return specs;
  }

  /** Stops the run loop after the records in hand (the consumer stays in its group until disconnect()). */
  async stop() {
    this._running = false;
    if (this._native !== null) {
      this._native.wakeup();
    }
    await this._loop;
    this._loop = null;
  }

  /** Stops, commits (with autoCommit) and leaves the group. */
  async disconnect() {
    await this.stop();
    const wasConnected = this._connected;
    this._connected = false;
    const n = this._native;
    this._native = null;
    if (n !== null) {
      await awaitNative(n.close());
    }
    if (wasConnected) {
      this._instrumentation.emit(this.events.DISCONNECT, null);
    }
  }
}

module.exports = { Consumer };
