'use strict';
// potok for Node.js: an embedded Kafka-compatible broker, an embedded multi-node cluster (lib/cluster.js) and
// (lib/kafka.js) a kafkajs-shaped client, all backed by potok's native engine. See README.md ("Node.js") and index.d.ts.
const { Broker } = require('./lib/broker');
const { Cluster } = require('./lib/cluster');
const { Kafka, CompressionTypes } = require('./lib/kafka');
const { serializers } = require('./lib/serializers');
const { SchemaRegistry, SchemaRegistryError, SchemaType } = require('./lib/registry');
const {
  PotokError,
  KafkaProtocolError,
  ConfigError,
  TimeoutError,
  ConnectionError,
  ProtocolError,
  SerializationError,
  ArgumentError,
  ClosedError,
  StateError,
  BrokerError,
} = require('./lib/errors');
const { logLevel, setLogger } = require('./lib/log');

// An object of plain names, so Node's ES module loader finds every one as a named export
// (`import { Broker, SerializationError } from 'potok'`).
module.exports = {
  Broker,
  Cluster,
  Kafka,
  CompressionTypes,
  serializers,
  SchemaRegistry,
  SchemaRegistryError,
  SchemaType,
  logLevel,
  setLogger,
  PotokError,
  KafkaProtocolError,
  ConfigError,
  TimeoutError,
  ConnectionError,
  ProtocolError,
  SerializationError,
  ArgumentError,
  ClosedError,
  StateError,
  BrokerError,
};
