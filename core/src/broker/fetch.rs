//! Fetch: whole stored batches from each requested partition, served as the bytes on disk (no re-encoding),
//! bounded by the request's `max_bytes` and each partition's `partition_max_bytes` (but at least one batch
//! from the first partition that has data, so a consumer always makes progress), and never beyond the high
//! watermark (read_uncommitted) or the last stable offset (read_committed).
//!
//! Fetch sessions (KIP-227) are optional for a broker: potok answers every fetch in full and gives out session
//! id 0, which tells clients that no session was created, so they keep sending full requests.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId};

use super::{check_leader_epoch, storage_error_code, Broker};
use crate::record::{BatchHeader, Batches};
use crate::storage;

fn partition_error(index: i32, error: ResponseError) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_error_code(error.code())
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_records(None)
}

pub(super) fn handle(broker: &Broker, request: &FetchRequest, version: i16) -> (FetchResponse, usize) {
    if request.session_id != 0 {
        let response = FetchResponse::default().with_error_code(ResponseError::FetchSessionIdNotFound.code());
        return (response, 0);
    }
    if request.session_epoch > 0 {
        let response = FetchResponse::default().with_error_code(ResponseError::InvalidFetchSessionEpoch.code());
        return (response, 0);
    }
    let read_committed = request.isolation_level == 1;
    let mut remaining = request.max_bytes.max(0) as usize;
    let mut total = 0usize;
    let image = broker.metadata();
    let mut responses = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let by_id = version >= 13;
        let found = if by_id { image.topic_by_id(&topic.topic_id) } else { image.topics.get(topic.topic.0.as_str()) };
        let unknown = if by_id { ResponseError::UnknownTopicId } else { ResponseError::UnknownTopicOrPartition };
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let index = p.partition;
            let Some((t, partition)) = found.and_then(|t| t.partition(index).map(|p| (t, p))) else {
                partitions.push(partition_error(index, unknown));
                continue;
            };
            if let Err(error) = check_leader_epoch(p.current_leader_epoch, partition.leader_epoch) {
                partitions.push(partition_error(index, error));
                continue;
            }
            let Some(log) = broker.log(&t.name, index) else {
                partitions.push(partition_error(index, unknown));
                continue;
            };
            let log = storage::lock(&log);
            // One replica: everything appended is committed. Records of open transactions are not stable yet.
            let high_watermark = log.log_end_offset();
            let last_stable_offset = log.last_stable_offset();
            let max_offset = if read_committed { last_stable_offset } else { high_watermark };
            let limit = (p.partition_max_bytes.max(0) as usize).min(remaining);
            let result = log.read(p.fetch_offset, limit, max_offset, total == 0);
            // A read_committed consumer is told which producers' records in the fetched range were aborted, so
            // it can drop them (Kafka reads this from the segments' .txnindex).
            let aborted = match (&result, read_committed) {
                (Ok(read), true) => {
                    let upper_bound = Batches::new(&read.records)
                        .filter_map(|b| b.ok().and_then(|b| BatchHeader::parse(b).ok()))
                        .last()
                        .map(|h| h.next_offset());
                    let txns = upper_bound.map(|u| log.collect_aborted_txns(p.fetch_offset, u)).unwrap_or_default();
                    Some(
                        txns.into_iter()
                            .map(|t| {
                                AbortedTransaction::default()
                                    .with_producer_id(ProducerId(t.producer_id))
                                    .with_first_offset(t.first_offset)
                            })
                            .collect(),
                    )
                }
                (_, true) => Some(Vec::new()),
                (_, false) => None,
            };
            let data = PartitionData::default()
                .with_partition_index(index)
                .with_high_watermark(high_watermark)
                .with_last_stable_offset(last_stable_offset)
                .with_log_start_offset(log.log_start_offset())
                .with_aborted_transactions(aborted);
            drop(log);
            match result {
                Ok(read) => {
                    total += read.records.len();
                    remaining = remaining.saturating_sub(read.records.len());
                    partitions.push(data.with_records(Some(read.records.into())));
                }
                Err(e) => partitions.push(data.with_error_code(storage_error_code(&e).code()).with_records(None)),
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
    (FetchResponse::default().with_responses(responses), total)
}
