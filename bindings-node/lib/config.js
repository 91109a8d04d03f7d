'use strict';
// Kafka configs as the native side wants them: `{ 'num.partitions': 3 }` becomes ordered
// `[{ name: 'num.partitions', value: '3' }]`. Arrays become Kafka's comma-separated lists.
const { ConfigError } = require('./errors');

function toEntries(config) {
  if (config === undefined || config === null) {
    return [];
  }
  if (typeof config !== 'object' || Array.isArray(config)) {
    throw new ConfigError('config must be an object of Kafka config keys and values');
  }
  const entries = [];
  for (const [name, value] of Object.entries(config)) {
    if (value === undefined || value === null) {
      continue;
    }
    if (Array.isArray(value)) {
      entries.push({ name, value: value.map(String).join(',') });
    } else if (['string', 'number', 'boolean', 'bigint'].includes(typeof value)) {
      entries.push({ name, value: String(value) });
    } else {
      throw new ConfigError(`config ${name}: expected a string, number, boolean or array, got ${typeof value}`, {
        key: name,
      });
    }
  }
  return entries;
}

module.exports = { toEntries };
