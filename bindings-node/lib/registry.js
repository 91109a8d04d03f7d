'use strict';
// A Confluent schema registry client for Node, shaped like @kafkajs/confluent-schema-registry's `SchemaRegistry`
// (register / encode / decode / getLatestSchemaId / getRegistryId / getSchema), run by potok's native engine, plus
// Confluent-style serializers (`registry.serializer(...)`) with `autoRegisterSchemas` and `useLatestVersion`.
// Everything that may reach the registry is async and runs off the JavaScript thread. A registry's refusal is a
// SchemaRegistryError with its HTTP `status` and Confluent `errorCode` (40401 subject not found, 40901
// incompatible, 42201 invalid schema, ...); a value that does not fit its schema is a SerializationError.
const native = require('./native');
const { PotokError, SerializationError, awaitNative, callNative } = require('./errors');

/** The schema types a registry holds. */
const SchemaType = Object.freeze({ AVRO: 'AVRO', JSON: 'JSON', PROTOBUF: 'PROTOBUF' });

/** An error answer of the schema registry (`errorCode` -1 and `status` 0 when it could not be reached). */
class SchemaRegistryError extends PotokError {
  constructor(message, fields = {}) {
    super(message, { type: 'SCHEMA_REGISTRY_ERROR', code: fields.errorCode ?? null });
    this.status = fields.status ?? 0;
    this.errorCode = fields.errorCode ?? -1;
  }
}

function registryError(text) {
  const e = JSON.parse(text);
  return new SchemaRegistryError(e.message, { status: e.status, errorCode: e.error_code });
}

/** Buffer, or throws the registry error a native call resolved with. */
function bytesOrThrow(result) {
  if (typeof result === 'string') {
    throw registryError(result);
  }
  return result;
}

function jsonText(value) {
  let text;
  try {
    text = JSON.stringify(value, function avroBytes(key, v) {
      const raw = this[key];
      return raw instanceof Uint8Array ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1') : v;
    });
  } catch (error) {
    throw new SerializationError(`value has no JSON form: ${error.message}`, { cause: error });
  }
  if (text === undefined) {
    throw new SerializationError(`a ${typeof value} has no JSON form`);
  }
  return text;
}

function schemaText(schema) {
  return typeof schema === 'string' ? schema : JSON.stringify(schema);
}

const q = encodeURIComponent;

class SchemaRegistry {
  /** @param {{ host: string }} options the registry's URL, `http://host:port` (comma-separated for several) */
  constructor({ host } = {}) {
    if (typeof host !== 'string' || host === '') {
      throw new SerializationError('SchemaRegistry needs { host: "http://host:port" }');
    }
    this._native = callNative(() => new native.NativeSchemaRegistry(host));
  }

  /** Any REST call of the registry; resolves with its JSON answer. */
  async request(method, path, body) {
    const answer = JSON.parse(await awaitNative(this._native.request(method, path, body === undefined ? null : JSON.stringify(body))));
    if (answer.status !== 200) {
      throw new SchemaRegistryError(answer.message, { status: answer.status, errorCode: answer.error_code });
    }
    return answer.body;
  }

  /**
   * Registers `{ type, schema, references }` under `subject` (the schema as an object or its JSON text);
   * resolves with `{ id }`.
   */
  async register({ type = SchemaType.AVRO, schema, references = [] }, { subject } = {}) {
    if (!subject) {
      throw new SerializationError('register needs { subject }');
    }
    const body = { schemaType: type, schema: schemaText(schema), references };
    const { id } = await this.request('POST', `/subjects/${q(subject)}/versions`, body);
    return { id };
  }

  /** Avro binary (or validated JSON text) of `payload` with the schema of id `registryId`, framed with the id. */
  async encode(registryId, payload) {
    return bytesOrThrow(await awaitNative(this._native.encode(registryId, jsonText(payload))));
  }

  /** The value of framed bytes, read with the writer's schema (fetched by id and cached). */
  async decode(buffer) {
    return this.deserializer().deserialize(buffer);
  }

  async getLatestSchemaId(subject) {
    return (await this.request('GET', `/subjects/${q(subject)}/versions/latest`)).id;
  }

  async getRegistryId(subject, version) {
    return (await this.request('GET', `/subjects/${q(subject)}/versions/${version}`)).id;
  }

  async getSchema(registryId) {
    const answer = await this.request('GET', `/schemas/ids/${registryId}`);
    return JSON.parse(answer.schema);
  }

  /**
   * A Confluent-style serializer for `topic`: registers (`autoRegisterSchemas`, default true), looks up, or uses
   * the subject's latest version (`useLatestVersion`); the subject is `<topic>-value` (`<topic>-key` with
   * `isKey`). `serialize(value)` resolves with the framed bytes.
   */
  serializer(topic, { type = SchemaType.AVRO, schema, isKey = false, autoRegisterSchemas, useLatestVersion = false, normalizeSchemas = false } = {}) {
    const auto = autoRegisterSchemas ?? !useLatestVersion;
    const serde = callNative(
      () => new native.NativeRegistrySerde(this._native, type, schema === undefined ? null : schemaText(schema), isKey, auto, useLatestVersion, normalizeSchemas),
    );
    return Object.freeze({
      serialize: async (value) => {
        if (value === null || value === undefined) {
          return null;
        }
        return bytesOrThrow(await awaitNative(serde.serialize(topic, jsonText(value))));
      },
    });
  }

  /** A deserializer of framed values of `type` (AVRO by default); `deserialize(buffer)` resolves with the value. */
  deserializer({ type = SchemaType.AVRO } = {}) {
    const serde = callNative(() => new native.NativeRegistrySerde(this._native, type, null, false, true, false, false));
    return Object.freeze({
      deserialize: async (data) => {
        if (data === null || data === undefined) {
          return null;
        }
        const result = bytesOrThrow(await awaitNative(serde.deserialize(Buffer.from(data))));
        return JSON.parse(result.toString('utf8')).value;
      },
    });
  }
}

module.exports = { SchemaRegistry, SchemaRegistryError, SchemaType };
