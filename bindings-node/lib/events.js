'use strict';
// kafkajs's instrumentation events (`client.on(client.events.X, listener)` returns a function that removes the
// listener; a listener gets `{ id, type, timestamp, payload }`) for the events potok's clients emit: CONNECT and
// DISCONNECT, and CONNECTION_ERROR when a broker cannot be reached (kafkajs only logs that; librdkafka's
// error_cb is the model). CONNECTION_ERROR's payload is `{ broker, nodeId, error }`, `error` a ConnectionError
// (or TimeoutError) with Kafka's code and type. A failure repeated for the same broker is emitted once.
const { ArgumentError, translate } = require('./errors');

let nextId = 0;

class Instrumentation {
  /** @param {string} prefix 'producer', 'consumer' or 'admin' (kafkajs's event name prefixes). */
  constructor(prefix) {
    this.events = Object.freeze({
      CONNECT: `${prefix}.connect`,
      DISCONNECT: `${prefix}.disconnect`,
      CONNECTION_ERROR: `${prefix}.network.connection_error`,
    });
    this._listeners = new Map();
  }

  on(eventName, listener) {
    if (!Object.values(this.events).includes(eventName)) {
      throw new ArgumentError(`Event name should be one of ${Object.keys(this.events).map((k) => `${k}`).join(', ')}, not ${eventName}`);
    }
    if (typeof listener !== 'function') {
      throw new ArgumentError('listener must be a function');
    }
    const listeners = this._listeners.get(eventName) ?? [];
    listeners.push(listener);
    this._listeners.set(eventName, listeners);
    return () => {
      const current = this._listeners.get(eventName) ?? [];
      this._listeners.set(eventName, current.filter((l) => l !== listener));
    };
  }

  emit(eventName, payload) {
    const event = { id: nextId++, type: eventName, timestamp: Date.now(), payload };
    for (const listener of this._listeners.get(eventName) ?? []) {
      listener(event);
    }
  }

  /** Routes a native client's connection failures to CONNECTION_ERROR listeners. */
  attach(nativeClient) {
    nativeClient.onConnectionError((failure) => {
      this.emit(this.events.CONNECTION_ERROR, {
        broker: failure.broker,
        nodeId: failure.nodeId,
        error: translate(failure),
      });
    });
  }
}

module.exports = { Instrumentation };
