'use strict';
// potok for Node.js: an embedded Kafka-compatible broker and (lib/kafka.js) a kafkajs-shaped client, both
// backed by potok's native engine. See README.md ("Node.js") and index.d.ts.
const { Broker } = require('./lib/broker');
const { Kafka, CompressionTypes } = require('./lib/kafka');
const { serializers } = require('./lib/serializers');
const errors = require('./lib/errors');
const { logLevel, setLogger } = require('./lib/log');

module.exports = {
  Broker,
  Kafka,
  CompressionTypes,
  serializers,
  logLevel,
  setLogger,
  PotokError: errors.PotokError,
  KafkaProtocolError: errors.KafkaProtocolError,
  ConfigError: errors.ConfigError,
  TimeoutError: errors.TimeoutError,
  ConnectionError: errors.ConnectionError,
  ProtocolError: errors.ProtocolError,
  SerializationError: errors.SerializationError,
  ArgumentError: errors.ArgumentError,
  ClosedError: errors.ClosedError,
  StateError: errors.StateError,
  BrokerError: errors.BrokerError,
};
