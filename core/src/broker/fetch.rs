//! Fetch: whole stored batches from each requested partition, served as the bytes on disk (no re-encoding),
//! bounded by the request's `max_bytes` and each partition's `partition_max_bytes` (but at least one batch
//! from the first partition that has data, so a consumer always makes progress), and never beyond the high
//! watermark (read_uncommitted) or the last stable offset (read_committed).
//!
//! A fetch with a replica id is a follower's (Kafka's replica fetch): it reads up to the log end, not the
//! high watermark, tells the leader the follower's log end offset (which moves the high watermark and may
//! bring the follower into the ISR), and gets a diverging epoch instead of records when the follower's log
//! has a tail the leader never had (KIP-320/KIP-595 truncation by leader epoch).
//!
//! With `zero_copy`, a partition's records on a backend that can send files stay in the segment file: the
//! response's `records` for it is empty and the file range goes alongside, in [`FileRecords`], for the
//! connection to send with `sendfile(2)`. The bytes on the wire are the same either way.
//!
//! Fetch sessions (KIP-227) are optional for a broker: potok answers every fetch in full and gives out session
//! id 0, which tells clients that no session was created, so they keep sending full requests.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId};

use super::{partition_error_code, Broker};
use crate::partition::{Isolation, IsrProposal};
use crate::protocol::FileRecords;
use crate::storage::{Records, TopicPartition};

/// A partition's answer carrying only an error. Its records are empty, not null: librdkafka refuses a whole
/// response with a null record set ("invalid MessageSetSize -1"), as Kafka never sends one.
fn partition_error(index: i32, error: ResponseError) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_error_code(error.code())
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_records(Some(Default::default()))
}

/// The replica that sent a fetch: a broker id for a follower, -1 for a consumer.
pub(super) fn replica_id(request: &FetchRequest, version: i16) -> i32 {
    if version >= 15 {
        request.replica_state.replica_id.0
    } else {
        request.replica_id.0
    }
}

fn isolation(request: &FetchRequest, version: i16) -> Isolation {
    if replica_id(request, version) >= 0 {
        Isolation::LogEnd
    } else if request.isolation_level == 1 {
        Isolation::ReadCommitted
    } else {
        Isolation::ReadUncommitted
    }
}

/// The partitions a Fetch reads, by name (topic ids resolved), for the purgatory to watch.
pub(super) fn partitions(broker: &Broker, request: &FetchRequest, version: i16) -> Vec<TopicPartition> {
    let image = broker.metadata();
    request
        .topics
        .iter()
        .filter_map(|topic| {
            let name = if version >= 13 {
                image.topic_by_id(&topic.topic_id).map(|t| t.name.clone())?
            } else {
                topic.topic.0.to_string()
            };
            Some(topic.partitions.iter().map(move |p| TopicPartition { topic: name.clone(), partition: p.partition }))
        })
        .flatten()
        .collect()
}

/// Whether a waiting Fetch can be answered now: its partitions hold `min_bytes` it may read (counted from the
/// indexes, without reading), or one of them would answer with an error (unknown, moved, out of range, a
/// different leader epoch), as Kafka's DelayedFetch decides.
pub(super) fn satisfied(broker: &Broker, request: &FetchRequest, version: i16) -> bool {
    let isolation = isolation(request, version);
    let image = broker.metadata();
    let mut accumulated = 0u64;
    for topic in &request.topics {
        let found =
            if version >= 13 { image.topic_by_id(&topic.topic_id) } else { image.topics.get(topic.topic.0.as_str()) };
        for p in &topic.partitions {
            let Some(replica) = found
                .filter(|t| t.partition(p.partition).is_some())
                .and_then(|t| broker.partition(&t.name, p.partition))
            else {
                return true;
            };
            if replica.check_leader_epoch(p.current_leader_epoch).is_err() {
                return true;
            }
            match replica.bytes_available(p.fetch_offset, isolation) {
                Ok(bytes) => accumulated += bytes.min(p.partition_max_bytes.max(0) as u64),
                Err(_) => return true,
            }
        }
    }
    accumulated >= request.min_bytes.max(0) as u64
}

/// A Fetch's answer: the response, the records of it left in segment files, the record bytes it carries, and
/// the ISR changes a follower's fetch implies (for the broker to ask the controller for).
pub(super) struct Answer {
    pub response: FetchResponse,
    pub files: FileRecords,
    pub bytes: usize,
    pub proposals: Vec<IsrProposal>,
}

/// Answers a Fetch. A follower's fetch also records its progress. With `zero_copy`, records on a backend that
/// can send files are answered as file ranges (see the module comment).
pub(super) fn handle(broker: &Broker, request: &FetchRequest, version: i16, now_ms: i64, zero_copy: bool) -> Answer {
    let only = |response| Answer { response, files: FileRecords::default(), bytes: 0, proposals: Vec::new() };
    if request.session_id != 0 {
        return only(FetchResponse::default().with_error_code(ResponseError::FetchSessionIdNotFound.code()));
    }
    if request.session_epoch > 0 {
        return only(FetchResponse::default().with_error_code(ResponseError::InvalidFetchSessionEpoch.code()));
    }
    let follower = replica_id(request, version);
    let isolation = isolation(request, version);
    let read_committed = isolation == Isolation::ReadCommitted;
    let follower_epoch = if version >= 15 { request.replica_state.replica_epoch } else { -1 };
    let mut proposals = Vec::new();
    let mut remaining = request.max_bytes.max(0) as usize;
    let mut total = 0usize;
    let image = broker.metadata();
    let mut responses = Vec::with_capacity(request.topics.len());
    let mut files = FileRecords::default();
    for (topic_index, topic) in request.topics.iter().enumerate() {
        let by_id = version >= 13;
        let found = if by_id { image.topic_by_id(&topic.topic_id) } else { image.topics.get(topic.topic.0.as_str()) };
        let unknown = if by_id { ResponseError::UnknownTopicId } else { ResponseError::UnknownTopicOrPartition };
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let index = p.partition;
            let Some(t) = found.filter(|t| t.partition(index).is_some()) else {
                partitions.push(partition_error(index, unknown));
                continue;
            };
            let Some(replica) = broker.partition(&t.name, index) else {
                partitions.push(partition_error(index, unknown));
                continue;
            };
            if let Err(e) = replica.check_leader_epoch(p.current_leader_epoch) {
                partitions.push(partition_error(index, partition_error_code(&e)));
                continue;
            }
            if !replica.is_leader() {
                partitions.push(partition_error(index, ResponseError::NotLeaderOrFollower));
                continue;
            }
            if follower >= 0 {
                // The follower's log must agree with this leader's up to its fetch offset before it reads on.
                match replica.diverging_epoch(if version >= 12 { p.last_fetched_epoch } else { -1 }, p.fetch_offset) {
                    Some((epoch, end_offset)) if epoch >= 0 => {
                        partitions.push(
                            PartitionData::default()
                                .with_partition_index(index)
                                .with_high_watermark(replica.high_watermark())
                                .with_last_stable_offset(replica.last_stable_offset())
                                .with_log_start_offset(replica.log_start_offset())
                                .with_diverging_epoch(
                                    EpochEndOffset::default().with_epoch(epoch).with_end_offset(end_offset),
                                )
                                .with_records(Some(Default::default())),
                        );
                        continue;
                    }
                    Some(_) => {
                        let data = partition_error(index, ResponseError::OffsetOutOfRange)
                            .with_high_watermark(replica.high_watermark())
                            .with_log_start_offset(replica.log_start_offset());
                        partitions.push(data);
                        continue;
                    }
                    None => {}
                }
                match replica.update_follower(follower, p.fetch_offset, follower_epoch, now_ms) {
                    Ok(update) => proposals.extend(update.expand),
                    Err(e) => {
                        partitions.push(partition_error(index, partition_error_code(&e)));
                        continue;
                    }
                }
            }
            let limit = (p.partition_max_bytes.max(0) as usize).min(remaining);
            match replica.read_records(p.fetch_offset, limit, isolation, total == 0, zero_copy) {
                Ok(read) => {
                    total += read.records.len();
                    remaining = remaining.saturating_sub(read.records.len());
                    let records = match read.records {
                        Records::Bytes(bytes) => bytes.into(),
                        Records::File(slice) => {
                            files.push(topic_index, partitions.len(), slice);
                            Default::default()
                        }
                    };
                    let aborted = read.aborted.map(|txns| {
                        txns.into_iter()
                            .map(|t| {
                                AbortedTransaction::default()
                                    .with_producer_id(ProducerId(t.producer_id))
                                    .with_first_offset(t.first_offset)
                            })
                            .collect()
                    });
                    partitions.push(
                        PartitionData::default()
                            .with_partition_index(index)
                            .with_high_watermark(read.high_watermark)
                            .with_last_stable_offset(read.last_stable_offset)
                            .with_log_start_offset(read.log_start_offset)
                            .with_aborted_transactions(aborted)
                            .with_records(Some(records)),
                    );
                }
                Err(e) => {
                    let data = PartitionData::default()
                        .with_partition_index(index)
                        .with_error_code(partition_error_code(&e).code())
                        .with_high_watermark(replica.high_watermark())
                        .with_last_stable_offset(replica.last_stable_offset())
                        .with_log_start_offset(replica.log_start_offset())
                        .with_aborted_transactions(read_committed.then(Vec::new))
                        .with_records(Some(Default::default()));
                    partitions.push(data);
                }
            }
        }
        responses.push(
            FetchableTopicResponse::default()
                .with_topic(topic.topic.clone())
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions),
        );
    }
    if version < 5 {
        // The log start offset is in the response from version 5.
        for p in responses.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
            p.log_start_offset = -1;
        }
    }
    Answer { response: FetchResponse::default().with_responses(responses), files, bytes: total, proposals }
}
