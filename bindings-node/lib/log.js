'use strict';
// The engine's log records (core's `tracing` events, loggers such as `potok.net`) for JavaScript. Without a
// logger, warnings and errors go to stderr as Kafka's console lines. `setLogger(fn)` sends records to `fn`
// instead; `new Kafka({ logCreator, logLevel })` does the same in kafkajs's shape. The logger is process-wide:
// the engine is one per process, whichever Kafka instance set it last wins.
const native = require('./native');
const { ArgumentError } = require('./errors');

/** kafkajs's log levels. */
const logLevel = Object.freeze({ NOTHING: 0, ERROR: 1, WARN: 2, INFO: 4, DEBUG: 5 });

function levelName(level) {
  switch (level) {
    case logLevel.NOTHING:
      return null;
    case logLevel.ERROR:
      return 'ERROR';
    case logLevel.WARN:
      return 'WARN';
    case logLevel.INFO:
      return 'INFO';
    case logLevel.DEBUG:
      return 'DEBUG';
    default:
      throw new ArgumentError(`logLevel must be one of potok.logLevel's values, got ${level}`);
  }
}

/**
 * Sends the engine's records at `level` (kafkajs's `logLevel`, INFO by default) and above to `fn`, called with
 * `{ level, label, logger, message, timestamp }` on the JavaScript thread; `null` restores the stderr default.
 * An exception thrown by `fn` is dropped, as a logging failure must not take the engine down.
 */
function setLogger(fn, level = logLevel.INFO) {
  if (fn === null || fn === undefined) {
    native.setLogger(null, 'WARN');
    return;
  }
  if (typeof fn !== 'function') {
    throw new ArgumentError('setLogger takes a function or null');
  }
  const safe = (entry) => {
    try {
      fn(entry);
    } catch {
      // A logger that throws loses its record, nothing else.
    }
  };
  native.setLogger(safe, levelName(level));
}

/** kafkajs's `logCreator(logLevel)` returning `({ namespace, level, label, log })`, fed by the engine. */
function useLogCreator(logCreator, level = logLevel.INFO) {
  if (typeof logCreator !== 'function') {
    throw new ArgumentError('logCreator must be a function');
  }
  const log = logCreator(level);
  if (typeof log !== 'function') {
    throw new ArgumentError('logCreator(logLevel) must return a function');
  }
  setLogger(
    (e) =>
      log({
        namespace: e.logger,
        level: e.level,
        label: e.label,
        log: { timestamp: new Date(e.timestamp).toISOString(), logger: 'potok', message: e.message },
      }),
    level,
  );
}

setLogger(null);

module.exports = { logLevel, setLogger, useLogCreator };
