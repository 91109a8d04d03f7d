'use strict';
// The errors potok throws. Every one is a PotokError carrying Kafka's numeric error `code` (null when Kafka has
// no code for the failure, e.g. a closed client), its upper-case name as `type` (e.g. UNKNOWN_TOPIC_OR_PARTITION,
// or the client's own name such as ILLEGAL_STATE) and `retriable`, as kafkajs's KafkaJSProtocolError does;
// the subclass says where it came from. The native addon throws plain Errors tagged with `potokKind` and
// those fields; `translate` turns them into these classes, so no caller ever sees an untyped native error.

class PotokError extends Error {
  /**
   * @param {string} message
   * @param {{ code?: number, type?: string, retriable?: boolean, cause?: unknown }} [fields]
   */
  constructor(message, fields = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = new.target.name;
    this.code = fields.code ?? null;
    this.type = fields.type ?? 'UNKNOWN';
    this.retriable = fields.retriable ?? false;
  }
}

/** An error code a Kafka broker answered with. */
class KafkaProtocolError extends PotokError {}

/** A bad configuration: `key` names the offending Kafka config key. */
class ConfigError extends PotokError {
  constructor(message, fields = {}) {
    super(message, { code: 40, type: 'INVALID_CONFIG', ...fields });
    this.key = fields.key ?? null;
  }
}

/** An operation that did not complete in time (a request, `max.block.ms`, a flush). */
class TimeoutError extends PotokError {}

/** The network failed: a broker could not be reached or the connection broke. */
class ConnectionError extends PotokError {}

/** A broker sent something that does not follow Kafka's protocol. */
class ProtocolError extends PotokError {}

/**
 * A value could not be serialized or deserialized, or a schema could not be used. `paths` holds the JSON
 * Pointers of the failing fields (e.g. `/InvoiceLineItems/1/ItemQty`), empty when no field is to blame.
 */
class SerializationError extends PotokError {
  constructor(message, fields = {}) {
    super(message, { type: 'SERIALIZATION_ERROR', ...fields });
    this.paths = Array.isArray(fields.paths) ? [...fields.paths] : [];
  }
}

/** An argument that cannot be used (an empty topic, a negative partition, a value that is not bytes). */
class ArgumentError extends PotokError {
  constructor(message, fields = {}) {
    super(message, { type: 'INVALID_ARGUMENT', ...fields });
  }
}

/** The client was already closed (disconnected), or closed while the operation waited. */
class ClosedError extends PotokError {}

/** A call that does not fit the object's state, e.g. starting a broker twice or sending before connect(). */
class StateError extends PotokError {}

/** The embedded broker failed to start or stop (bind, log directory, storage). */
class BrokerError extends PotokError {}

const classes = {
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

/** The typed error for anything the native addon threw; anything else is returned unchanged. */
function translate(error) {
  if (error === null || typeof error !== 'object' || typeof error.potokKind !== 'string') {
    return error;
  }
  const Class = Object.hasOwn(classes, error.potokKind) ? classes[error.potokKind] : PotokError;
  const typed = new Class(error.message, {
    code: error.code,
    type: error.type,
    retriable: error.retriable,
    key: error.key,
    paths: error.paths,
  });
  return typed;
}

/** Runs `fn` (a native call), rethrowing what it throws as a typed error. */
function callNative(fn) {
  try {
    return fn();
  } catch (error) {
    throw translate(error);
  }
}

/** Awaits a native promise, rejecting with a typed error. */
async function awaitNative(promise) {
  try {
    return await promise;
  } catch (error) {
    throw translate(error);
  }
}

module.exports = { ...classes, translate, callNative, awaitNative };
