//! The producer's settings from Kafka's config keys, validated as Kafka validates them (idempotence on by
//! default and turned off silently when a conflicting `acks`, `retries` or `max.in.flight` was set without
//! asking for it). Builds for every target: the native producer and the in-page one read the same settings.

use std::time::Duration;

use super::accumulator::AccumulatorConfig;
use super::sender::SenderConfig;
use crate::client::config::{CommonConfig, Properties};
use crate::client::error::{ClientError, Result};
use crate::record::Compression;

/// The producer's settings, validated as Kafka validates them.
#[derive(Debug, Clone)]
pub(crate) struct ProducerConfig {
    pub acks: i16,
    pub idempotent: bool,
    pub batch_size: usize,
    pub linger: Duration,
    pub buffer_memory: usize,
    pub max_block: Duration,
    pub retries: u32,
    pub delivery_timeout: Duration,
    pub max_in_flight: usize,
    pub compression: Compression,
    pub max_request_size: usize,
    pub transactional_id: Option<String>,
    pub transaction_timeout_ms: i32,
    pub ignore_keys: bool,
}

impl ProducerConfig {
    pub(crate) fn from_properties(props: &Properties) -> Result<ProducerConfig> {
        let acks: i16 = match props.str("acks").unwrap_or("all") {
            "all" | "-1" => -1,
            "0" => 0,
            _ => 1,
        };
        let transactional_id = props.str("transactional.id").filter(|s| !s.is_empty()).map(str::to_string);
        let retries = props.non_negative("retries")? as u32;
        let max_in_flight = props.i64("max.in.flight.requests.per.connection");
        if max_in_flight < 1 {
            return Err(ClientError::config("max.in.flight.requests.per.connection", "must be at least 1"));
        }
        // Kafka 3.0+: idempotence is on by default, but only silently; if the user set a conflicting acks,
        // retries or max.in.flight without asking for idempotence, it is turned off instead of failing.
        let conflict = if acks != -1 {
            Some(("acks", "must be all (-1) for an idempotent producer"))
        } else if retries == 0 {
            Some(("retries", "must be greater than 0 for an idempotent producer"))
        } else if max_in_flight > 5 {
            Some(("max.in.flight.requests.per.connection", "must be at most 5 for an idempotent producer"))
        } else {
            None
        };
        let mut idempotent = props.bool("enable.idempotence");
        if let Some((key, why)) = conflict {
            if (props.is_explicit("enable.idempotence") && idempotent) || transactional_id.is_some() {
                return Err(ClientError::config(key, why));
            }
            idempotent = false;
        }
        if transactional_id.is_some() && !idempotent {
            return Err(ClientError::config("enable.idempotence", "must be true when transactional.id is set"));
        }
        let linger = props.ms("linger.ms");
        let request_timeout = props.ms("request.timeout.ms");
        let delivery_timeout = props.ms("delivery.timeout.ms");
        if delivery_timeout < linger + request_timeout {
            return Err(ClientError::config(
                "delivery.timeout.ms",
                "should be equal to or larger than linger.ms + request.timeout.ms",
            ));
        }
        let compression = match props.str("compression.type").unwrap_or("none") {
            "gzip" => Compression::Gzip,
            "snappy" => Compression::Snappy,
            "lz4" => Compression::Lz4,
            "zstd" => Compression::Zstd,
            _ => Compression::None,
        };
        Ok(ProducerConfig {
            acks,
            idempotent,
            batch_size: props.non_negative("batch.size")? as usize,
            linger,
            buffer_memory: props.non_negative("buffer.memory")? as usize,
            max_block: props.ms("max.block.ms"),
            retries,
            delivery_timeout,
            max_in_flight: max_in_flight as usize,
            compression,
            max_request_size: props.non_negative("max.request.size")? as usize,
            transactional_id,
            transaction_timeout_ms: props.i32("transaction.timeout.ms"),
            ignore_keys: props.bool("partitioner.ignore.keys"),
        })
    }

    /// What the sans-IO sender and its accumulator apply.
    pub(crate) fn sender_config(&self, common: &CommonConfig) -> SenderConfig {
        SenderConfig {
            acks: self.acks,
            idempotent: self.idempotent,
            transactional_id: self.transactional_id.clone(),
            retries: self.retries,
            max_request_size: self.max_request_size,
            request_timeout_ms: common.request_timeout.as_millis().min(i32::MAX as u128) as i32,
            retry_backoff_ms: common.retry_backoff.as_millis() as u64,
            accumulator: AccumulatorConfig {
                batch_size: self.batch_size,
                linger_ms: self.linger.as_millis() as u64,
                compression: self.compression,
                max_in_flight: if self.idempotent { self.max_in_flight.min(5) } else { self.max_in_flight },
                delivery_timeout_ms: self.delivery_timeout.as_millis() as u64,
                retry_backoff_ms: common.retry_backoff.as_millis() as u64,
                retry_backoff_max_ms: common.retry_backoff_max.as_millis() as u64,
                idempotent: self.idempotent,
            },
        }
    }
}
