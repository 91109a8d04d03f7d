//! Kafka's consumer: `subscribe` (names, or a regex written `^...` as librdkafka does) with group management
//! and rebalance callbacks, or `assign` without a group; `poll` fetches from partition leaders
//! (`fetch.min.bytes`, `fetch.max.wait.ms`, `max.partition.fetch.bytes`, `fetch.max.bytes`), returns at most
//! `max.poll.records`, honours `isolation.level` (aborted transactions and control batches are never returned)
//! and `auto.offset.reset`; offsets are committed automatically every `auto.commit.interval.ms` or by hand.
//!
//! The fetcher's decisions live in [`fetcher`], a sans-IO state machine that owns the assigned partitions'
//! positions and the fetched records; the group membership (coordinator lookup, join, sync, heartbeats, the
//! session and poll timers, leave, auto-commit timing) lives in [`coordinator`], another; [`decode`] turns a
//! partition's fetched bytes into records. All three build for every target. Natively, `driver.rs` runs fetch
//! rounds on the client runtime, `group.rs` drives the membership with one task per consumer, and `native.rs`
//! holds the blocking public API and runs the rebalance callbacks on the polling thread.

pub mod coordinator;
pub mod decode;
#[cfg(feature = "native")]
mod driver;
pub mod fetcher;
#[cfg(feature = "native")]
mod group;
#[cfg(feature = "native")]
mod native;

use bytes::Bytes;

use crate::record::TimestampType;

#[cfg(feature = "native")]
pub use native::{Consumer, RebalanceListener};

/// One record as `poll` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub timestamp_type: TimestampType,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    pub leader_epoch: Option<i32>,
}
