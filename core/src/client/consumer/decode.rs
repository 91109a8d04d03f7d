//! Turns one partition's fetched bytes into the records a consumer hands out: batches before the fetch offset
//! and control batches are skipped, and for read_committed the records of aborted transactions are dropped
//! (the fetch answer lists each aborted transaction's producer id and first offset; a producer's records are
//! aborted from that first offset up to its ABORT marker). Plain functions over bytes, with no IO.

use std::collections::{HashSet, VecDeque};

use super::ConsumerRecord;
use crate::client::error::{ClientError, Result};
use crate::client::{IsolationLevel, TopicPartition};
use crate::record::{self, Batches, ControlType, DecodeLimits};

/// A partition's decoded fetch answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedPartition {
    /// The records to hand out, in offset order.
    pub records: Vec<ConsumerRecord>,
    /// Where the next fetch starts: past the last whole batch read, control batches and aborted ones included.
    pub next_offset: i64,
}

/// Decodes the records of one partition's fetch answer from `fetch_offset` on, dropping control batches and,
/// for read_committed, records of aborted transactions (`aborted`: producer id and first offset of each).
pub fn decode_partition(
    tp: &TopicPartition,
    data: &[u8],
    fetch_offset: i64,
    isolation: IsolationLevel,
    aborted: &[(i64, i64)],
) -> Result<DecodedPartition> {
    let mut out = Vec::new();
    let mut next = fetch_offset;
    let mut aborted_txns: Vec<(i64, i64)> = aborted.to_vec();
    aborted_txns.sort_by_key(|a| a.1);
    let mut aborted_txns: VecDeque<(i64, i64)> = aborted_txns.into();
    let mut aborting: HashSet<i64> = HashSet::new();
    for batch in Batches::new(data) {
        // A partial batch at the end of a fetch answer is normal: the next fetch gets it whole.
        let Ok(batch) = batch else { break };
        let header = match record::BatchHeader::parse(batch) {
            Ok(h) => h,
            Err(e) => return Err(ClientError::Protocol(format!("bad batch for {tp}: {e}"))),
        };
        if header.next_offset() <= fetch_offset {
            continue;
        }
        if isolation == IsolationLevel::ReadCommitted {
            while aborted_txns.front().is_some_and(|a| a.1 <= header.last_offset()) {
                if let Some((pid, _)) = aborted_txns.pop_front() {
                    aborting.insert(pid);
                }
            }
        }
        if header.is_control() {
            if isolation == IsolationLevel::ReadCommitted {
                let (_, records) = record::decode_records(batch, DecodeLimits::default())
                    .map_err(|e| ClientError::Protocol(format!("bad control batch for {tp}: {e}")))?;
                if records.first().and_then(|r| r.key.as_deref()).and_then(|k| ControlType::from_key(k).ok())
                    == Some(ControlType::Abort)
                {
                    aborting.remove(&header.producer_id);
                }
            }
            next = header.next_offset();
            continue;
        }
        if isolation == IsolationLevel::ReadCommitted
            && header.is_transactional()
            && aborting.contains(&header.producer_id)
        {
            next = header.next_offset();
            continue;
        }
        // CRCs are always checked (check.crcs=false is accepted, but skipping the check buys little here).
        let (header, records) = record::decode_records(batch, DecodeLimits::default())
            .map_err(|e| ClientError::Protocol(format!("corrupt batch for {tp}: {e}")))?;
        let leader_epoch = (header.partition_leader_epoch >= 0).then_some(header.partition_leader_epoch);
        for r in records {
            if r.offset < fetch_offset {
                continue;
            }
            out.push(ConsumerRecord {
                topic: tp.topic.clone(),
                partition: tp.partition,
                offset: r.offset,
                timestamp: r.timestamp,
                timestamp_type: header.timestamp_type(),
                key: r.key,
                value: r.value,
                headers: r.headers.into_iter().map(|h| (h.key, h.value)).collect(),
                leader_epoch,
            });
        }
        next = header.next_offset();
    }
    Ok(DecodedPartition { records: out, next_offset: next })
}
