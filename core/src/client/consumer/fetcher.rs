//! The consumer's fetcher: one round of Fetch requests to the leaders of the fetchable partitions, the answers
//! decoded (control batches and, for read_committed, aborted transactions dropped) into the partitions'
//! buffers, out-of-range positions reset by `auto.offset.reset`, and a metadata refresh when a leader moved.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest};

use super::{ConsumerInner, ConsumerRecord, ResetPolicy};
use crate::client::admin::{IsolationLevel, OffsetSpec};
use crate::client::error::{ClientError, Result};
use crate::client::producer::lock;
use crate::client::requests::{sb, topic_name};
use crate::client::TopicPartition;
use crate::record::{self, Batches, ControlType, DecodeLimits};

/// One round of fetches: a Fetch request to each leader of fetchable partitions, results buffered.
pub(super) async fn fetch(inner: &Arc<ConsumerInner>, max_wait: Duration) -> Result<()> {
    let metadata = inner.cluster.metadata();
    let mut by_leader: HashMap<i32, Vec<(TopicPartition, i64, Option<i32>)>> = HashMap::new();
    let mut unknown = HashSet::new();
    {
        let state = lock(&inner.state);
        let buffered: HashSet<&TopicPartition> = state.buffered.iter().map(|(tp, _)| tp).collect();
        for (tp, p) in &state.assignment {
            let Some(offset) = p.fetch_position else { continue };
            if p.paused || buffered.contains(tp) {
                continue;
            }
            match metadata.leader_for(&tp.topic, tp.partition) {
                Some(leader) => by_leader.entry(leader).or_default().push((tp.clone(), offset, p.leader_epoch)),
                None => {
                    unknown.insert(tp.topic.clone());
                }
            }
        }
    }
    if !unknown.is_empty() {
        let topics: Vec<String> = unknown.into_iter().collect();
        inner.cluster.refresh(Some(&topics), false).await?;
        return Ok(());
    }
    if by_leader.is_empty() {
        return Ok(());
    }
    let mut tasks = Vec::new();
    for (leader, partitions) in by_leader {
        let inner = inner.clone();
        tasks.push(tokio::spawn(async move { fetch_from(&inner, leader, partitions, max_wait).await }));
    }
    let mut first_error = None;
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => first_error = first_error.or(Some(e)),
            Err(_) => {}
        }
    }
    match first_error {
        Some(e) if !e.is_retriable() => Err(e),
        _ => Ok(()),
    }
}

async fn fetch_from(
    inner: &ConsumerInner,
    leader: i32,
    partitions: Vec<(TopicPartition, i64, Option<i32>)>,
    max_wait: Duration,
) -> Result<()> {
    let config = &inner.config;
    let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
    for (tp, offset, _epoch) in &partitions {
        topics.entry(tp.topic.as_str()).or_default().push(
            FetchPartition::default()
                .with_partition(tp.partition)
                .with_fetch_offset(*offset)
                .with_current_leader_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(config.max_partition_fetch_bytes),
        );
    }
    let fetch_topics: Vec<FetchTopic> =
        topics.into_iter().map(|(t, ps)| FetchTopic::default().with_topic(topic_name(t)).with_partitions(ps)).collect();
    let request_timeout = inner.cluster.config.request_timeout + max_wait;
    let response = inner
        .cluster
        .call_with_timeout(leader, request_timeout, |version| {
            let request = FetchRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_max_wait_ms(max_wait.as_millis() as i32)
                .with_min_bytes(config.fetch_min_bytes)
                .with_max_bytes(config.fetch_max_bytes)
                .with_isolation_level(config.isolation_level as i8)
                .with_session_id(0)
                .with_session_epoch(-1)
                .with_topics(fetch_topics);
            if version >= 11 {
                request.with_rack_id(sb(config.group.as_ref().and_then(|g| g.client_rack.as_deref()).unwrap_or("")))
            } else {
                request
            }
        })
        .await;
    let response = match response {
        Ok(r) => r,
        // A leader that cannot be reached (a broker lost): learn the new leader before the next round, or every
        // round would ask the lost one again until the metadata grows old (`metadata.max.age.ms`).
        Err(e) => {
            if e.needs_metadata_refresh() {
                let _ = inner.cluster.refresh(None, false).await;
            }
            return Err(e);
        }
    };
    ClientError::check(response.error_code)?;
    let mut refresh = false;
    let mut out_of_range = Vec::new();
    let mut decoded = Vec::new();
    for t in &response.responses {
        for p in &t.partitions {
            let tp = TopicPartition::new(t.topic.0.to_string(), p.partition_index);
            let Some((_, offset, _)) = partitions.iter().find(|(x, _, _)| *x == tp) else { continue };
            match p.error_code {
                0 => {}
                1 => {
                    out_of_range.push(tp);
                    continue;
                }
                code => {
                    let e = ClientError::from_code(code, None);
                    if e.needs_metadata_refresh() || e.is_retriable() {
                        refresh = true;
                        continue;
                    }
                    return Err(e);
                }
            }
            let records = p.records.clone().unwrap_or_default();
            let aborted: Vec<(i64, i64)> = p
                .aborted_transactions
                .as_ref()
                .map(|a| a.iter().map(|x| (x.producer_id.0, x.first_offset)).collect())
                .unwrap_or_default();
            let (recs, next) = decode_partition(&tp, &records, *offset, config.isolation_level, &aborted)?;
            decoded.push((tp, recs, next, p.high_watermark));
        }
    }
    if refresh {
        let _ = inner.cluster.refresh(None, false).await;
    }
    let mut state = lock(&inner.state);
    for tp in out_of_range {
        if let Some(p) = state.assignment.get_mut(&tp) {
            match config.reset {
                ResetPolicy::Earliest => p.pending_reset = Some(OffsetSpec::Earliest),
                ResetPolicy::Latest => p.pending_reset = Some(OffsetSpec::Latest),
                ResetPolicy::None => {
                    return Err(ClientError::from_code(1, Some(format!("fetch position out of range for {tp}"))))
                }
            }
            p.position = None;
            p.fetch_position = None;
        }
    }
    for (tp, recs, next, high_watermark) in decoded {
        let Some(p) = state.assignment.get_mut(&tp) else { continue };
        // A seek while the fetch was in flight makes its result stale.
        let Some((_, offset, _)) = partitions.iter().find(|(x, _, _)| *x == tp) else { continue };
        if p.fetch_position != Some(*offset) {
            continue;
        }
        p.high_watermark = high_watermark;
        p.fetch_position = Some(next);
        if recs.is_empty() {
            // Only control batches or aborted records: the position moves past them too.
            if p.position == Some(*offset) {
                p.position = Some(next);
            }
        } else {
            state.buffered.push_back((tp, recs.into()));
        }
    }
    Ok(())
}

/// Decodes the records of one partition's fetch answer from `fetch_offset` on, dropping control batches and,
/// for read_committed, records of aborted transactions. Returns the records and the next fetch offset.
fn decode_partition(
    tp: &TopicPartition,
    data: &[u8],
    fetch_offset: i64,
    isolation: IsolationLevel,
    aborted: &[(i64, i64)],
) -> Result<(Vec<ConsumerRecord>, i64)> {
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
    Ok((out, next))
}
