'use strict';
// Serializers for record keys and values, run by potok's native engine (core's potok::serde): Kafka's
// StringSerializer and IntegerSerializer, connect-json's JSON, JSON Schema (validated, each failure naming the
// field's JSON Pointer) and Avro. `serialize(value)` returns a Buffer for `producer.send` messages and
// `deserialize(buffer)` reads a consumed `message.key` or `message.value`; null stays null both ways, as in
// Kafka. This layer only moves values across: JSON trees go to the addon as `JSON.stringify` text and come back
// through `JSON.parse`, so what a JSON value is follows JavaScript's own JSON rules (toJSON, dropped
// undefined properties, no BigInt, no cycles).
const native = require('./native');
const { SerializationError, callNative } = require('./errors');

/** A JavaScript value as JSON text, or a SerializationError saying why it has none. */
function jsonText(value, replacer) {
  let text;
  try {
    text = JSON.stringify(value, replacer);
  } catch (error) {
    throw new SerializationError(`value has no JSON form: ${error.message}`, { cause: error });
  }
  if (text === undefined) {
    throw new SerializationError(`a ${typeof value} has no JSON form`);
  }
  return text;
}

/** Bytes read from Kafka as a Buffer (a view, never a copy), or a SerializationError. */
function asBuffer(data) {
  if (Buffer.isBuffer(data)) {
    return data;
  }
  if (data instanceof Uint8Array) {
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }
  throw new SerializationError(`deserialize takes a Buffer or Uint8Array, got ${typeof data}`);
}

/** A schema given as an object or as its JSON text, as JSON text. */
function schemaText(schema) {
  if (typeof schema === 'string') {
    return schema;
  }
  if (schema !== null && typeof schema === 'object') {
    return jsonText(schema);
  }
  throw new SerializationError(`a schema is an object or its JSON text, got ${schema === null ? 'null' : typeof schema}`);
}

/** Confluent's wire-format schema id from the options, or undefined for plain payloads. */
function schemaId(options) {
  const id = options?.schemaId;
  if (id === undefined || id === null) {
    return undefined;
  }
  if (!Number.isInteger(id)) {
    throw new SerializationError(`schemaId must be an integer, got ${String(id)}`);
  }
  return id;
}

/** Avro's JSON convention writes bytes and fixed values as strings of code points U+0000..U+00FF. */
function avroBytes(key, value) {
  // JSON.stringify calls Buffer's toJSON before the replacer, so the original value is read from the holder.
  const raw = this[key];
  return raw instanceof Uint8Array ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1') : value;
}

class Serializer {
  /**
   * @param {string} name
   * @param {(value: unknown) => Buffer} write the value (never null) as bytes
   * @param {(data: Buffer) => unknown} read the value of bytes
   */
  constructor(name, write, read) {
    this.name = name;
    this.serialize = (value) => (value === null || value === undefined ? null : callNative(() => write(value)));
    this.deserialize = (data) => (data === null || data === undefined ? null : callNative(() => read(asBuffer(data))));
    Object.freeze(this);
  }
}

/** Kafka's StringSerializer: UTF-8 (reading replaces malformed UTF-8 with U+FFFD, as Java does). */
const string = new Serializer(
  'string',
  (value) => {
    if (typeof value !== 'string') {
      throw new SerializationError(`the string serializer takes a string, got ${typeof value}`);
    }
    return native.serializeString(value);
  },
  (data) => native.deserializeString(data),
);

/** Kafka's IntegerSerializer: a 32-bit integer as four big-endian bytes. */
const integer = new Serializer(
  'integer',
  (value) => {
    if (typeof value !== 'number') {
      throw new SerializationError(`the integer serializer takes a number, got ${typeof value}`);
    }
    return native.serializeInteger(value);
  },
  (data) => native.deserializeInteger(data),
);

/** connect-json's JsonSerializer: any JSON value as compact UTF-8 JSON text. */
const json = new Serializer(
  'json',
  (value) => native.serializeJson(jsonText(value)),
  (data) => JSON.parse(native.deserializeJson(data)),
);

/**
 * A JSON Schema serializer: values are validated against `schema` (an object or its JSON text) when written and
 * when read. `options.schemaId` frames payloads in the Confluent wire format with that id.
 */
function jsonSchema(schema, options = {}) {
  const serde = callNative(() => new native.NativeJsonSchemaSerde(schemaText(schema), schemaId(options)));
  return new Serializer(
    'jsonSchema',
    (value) => serde.serialize(jsonText(value)),
    (data) => JSON.parse(serde.deserialize(data)),
  );
}

/**
 * An Avro serializer for `schema` (an object or its JSON text). Values use Avro's JSON conventions: a union value
 * is the plain value (the first branch it fits) or `{ "branch name": value }`; bytes and fixed are Buffers or
 * strings of code points U+0000..U+00FF, and read back as such strings. `options.schemaId` frames payloads in the
 * Confluent wire format with that id and reads only values framed with it.
 */
function avro(schema, options = {}) {
  const serde = callNative(() => new native.NativeAvroSerde(schemaText(schema), schemaId(options)));
  return new Serializer(
    'avro',
    (value) => serde.serialize(jsonText(value, avroBytes)),
    (data) => JSON.parse(serde.deserialize(data)),
  );
}

const serializers = Object.freeze({ string, integer, json, jsonSchema, avro });

module.exports = { serializers, Serializer };
