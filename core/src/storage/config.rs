//! Per-log configuration, with Kafka's topic config names and defaults.

use super::StorageError;
use crate::record::TimestampType;

/// The topic configs the log honours. Field names are Kafka's keys with dots as underscores.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll when the active segment would grow past this.
    pub segment_bytes: u32,
    /// `segment.ms`: roll when the active segment's first batch is older than this.
    pub segment_ms: i64,
    /// `segment.index.bytes`: preallocated size of each index file; roll when one is full.
    pub segment_index_bytes: u32,
    /// `index.interval.bytes`: bytes of log between offset index entries.
    pub index_interval_bytes: u32,
    /// `retention.ms`: delete segments whose newest record is older than this; -1 keeps forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete the oldest segments while the log is larger than this; -1 means no limit.
    pub retention_bytes: i64,
    /// `max.message.bytes`: the largest batch accepted.
    pub max_message_bytes: u32,
    /// `flush.messages`: fsync after this many messages.
    pub flush_messages: i64,
    /// `flush.ms`: fsync when the last flush is older than this.
    pub flush_ms: i64,
    /// `message.timestamp.type`.
    pub message_timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms`: how far behind the broker's time a CreateTime timestamp may be.
    pub message_timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far ahead of the broker's time a CreateTime timestamp may be.
    pub message_timestamp_after_max_ms: i64,
    /// `cleanup.policy` holds `delete`: segments go by `retention.ms` / `retention.bytes`.
    pub delete: bool,
    /// `cleanup.policy` holds `compact`: the log cleaner keeps the latest record of every key.
    pub compact: bool,
    /// `delete.retention.ms`: how long tombstones and removable transaction markers survive once cleaned.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`: a record stays uncompacted at least this long.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a record becomes eligible for compaction at most this long after it was written,
    /// whatever the dirty ratio.
    pub max_compaction_lag_ms: i64,
    /// `min.cleanable.dirty.ratio`: the share of the log that must be dirty before the cleaner takes it.
    pub min_cleanable_dirty_ratio: f64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            max_message_bytes: 1024 * 1024 + 12,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            message_timestamp_type: TimestampType::CreateTime,
            message_timestamp_before_max_ms: i64::MAX,
            // Kafka 4's default (KIP-1030); it was unbounded before.
            message_timestamp_after_max_ms: 60 * 60 * 1000,
            delete: true,
            compact: false,
            delete_retention_ms: 24 * 60 * 60 * 1000,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            min_cleanable_dirty_ratio: 0.5,
        }
    }
}

/// The config keys [`LogConfig::set`] understands.
pub const LOG_CONFIG_KEYS: &[&str] = &[
    "segment.bytes",
    "segment.ms",
    "segment.index.bytes",
    "index.interval.bytes",
    "retention.ms",
    "retention.bytes",
    "max.message.bytes",
    "flush.messages",
    "flush.ms",
    "message.timestamp.type",
    "message.timestamp.before.max.ms",
    "message.timestamp.after.max.ms",
    "cleanup.policy",
    "delete.retention.ms",
    "min.compaction.lag.ms",
    "max.compaction.lag.ms",
    "min.cleanable.dirty.ratio",
];

impl LogConfig {
    /// Sets one config from its Kafka key and string value. Returns `Ok(false)` for a key that is not a log
    /// config (the caller decides whether that is an error); a bad value is an error naming the key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, StorageError> {
        let bad = |reason: &str| StorageError::InvalidConfig {
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let int = |min: i64, max: i64| -> Result<i64, StorageError> {
            let v: i64 = value.trim().parse().map_err(|_| bad("not an integer"))?;
            if v < min || v > max {
                return Err(bad(&format!("must be between {min} and {max}")));
            }
            Ok(v)
        };
        match key {
            // Kafka 4 raised the minimum of segment.bytes to 1 MiB; potok keeps the old minimum (one v2 batch
            // header) so the courses' small-segment exercises still run.
            "segment.bytes" => self.segment_bytes = int(61, i64::from(i32::MAX))? as u32,
            "segment.ms" => self.segment_ms = int(1, i64::MAX)?,
            "segment.index.bytes" => self.segment_index_bytes = int(12, i64::from(i32::MAX))? as u32,
            "index.interval.bytes" => self.index_interval_bytes = int(0, i64::from(i32::MAX))? as u32,
            "retention.ms" => self.retention_ms = int(-1, i64::MAX)?,
            "retention.bytes" => self.retention_bytes = int(-1, i64::MAX)?,
            "max.message.bytes" => self.max_message_bytes = int(0, i64::from(i32::MAX))? as u32,
            "flush.messages" => self.flush_messages = int(1, i64::MAX)?,
            "flush.ms" => self.flush_ms = int(0, i64::MAX)?,
            "message.timestamp.type" => {
                self.message_timestamp_type = match value {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => return Err(bad("must be CreateTime or LogAppendTime")),
                }
            }
            "message.timestamp.before.max.ms" => self.message_timestamp_before_max_ms = int(0, i64::MAX)?,
            "message.timestamp.after.max.ms" => self.message_timestamp_after_max_ms = int(0, i64::MAX)?,
            "cleanup.policy" => {
                let policies: Vec<&str> = value.split(',').map(str::trim).collect();
                if value.trim().is_empty() || policies.iter().any(|p| *p != "delete" && *p != "compact") {
                    return Err(bad("must be delete and/or compact"));
                }
                self.delete = policies.contains(&"delete");
                self.compact = policies.contains(&"compact");
            }
            "delete.retention.ms" => self.delete_retention_ms = int(0, i64::MAX)?,
            "min.compaction.lag.ms" => self.min_compaction_lag_ms = int(0, i64::MAX)?,
            "max.compaction.lag.ms" => self.max_compaction_lag_ms = int(1, i64::MAX)?,
            "min.cleanable.dirty.ratio" => {
                let v: f64 = value.trim().parse().map_err(|_| bad("not a number"))?;
                if !(0.0..=1.0).contains(&v) {
                    return Err(bad("must be between 0 and 1"));
                }
                self.min_cleanable_dirty_ratio = v;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_parses_and_names_bad_keys() {
        let mut c = LogConfig::default();
        assert!(c.set("segment.bytes", "1000000").unwrap());
        assert_eq!(c.segment_bytes, 1_000_000);
        assert!(c.set("message.timestamp.type", "LogAppendTime").unwrap());
        assert!(!c.set("compression.type", "producer").unwrap());
        assert!(c.set("cleanup.policy", "compact, delete").unwrap());
        assert!(c.compact && c.delete);
        assert!(c.set("cleanup.policy", "compact").unwrap());
        assert!(c.compact && !c.delete);
        assert!(c.set("min.cleanable.dirty.ratio", "0.01").unwrap());
        assert!(c.set("min.cleanable.dirty.ratio", "1.5").is_err());
        assert!(c.set("max.compaction.lag.ms", "0").is_err());
        let err = c.set("retention.ms", "soon").unwrap_err().to_string();
        assert!(err.contains("retention.ms"), "{err}");
        assert!(c.set("segment.bytes", "3000000000").is_err());
        assert!(c.set("retention.bytes", "-2").is_err());
        for key in LOG_CONFIG_KEYS {
            assert!(LogConfig::default().set(key, "x").is_err(), "{key} accepted garbage");
        }
    }
}
