//! ListOffsets: the earliest, latest, max-timestamp or first-at-or-after-a-timestamp offset of partitions.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::{check_leader_epoch, storage_error_code, Broker};
use crate::storage;

/// Special timestamps a ListOffsets request may carry.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;
const EARLIEST_PENDING_UPLOAD: i64 = -6;

/// `isolation_level` of a read_committed consumer.
const READ_COMMITTED: i8 = 1;

pub(super) fn handle(broker: &Broker, request: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let image = broker.metadata();
    let isolation_level = request.isolation_level;
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let found = image.topics.get(topic.name.0.as_str());
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let index = p.partition_index;
                    let response = ListOffsetsPartitionResponse::default()
                        .with_partition_index(index)
                        .with_timestamp(-1)
                        .with_offset(-1)
                        .with_leader_epoch(-1);
                    let Some((t, partition)) = found.and_then(|t| t.partition(index).map(|p| (t, p))) else {
                        return response.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    if let Err(error) = check_leader_epoch(p.current_leader_epoch, partition.leader_epoch) {
                        return response.with_error_code(error.code());
                    }
                    let Some(log) = broker.log(&t.name, index) else {
                        return response.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    let log = storage::lock(&log);
                    let epoch_at = |offset: i64| {
                        log.leader_epochs()
                            .entries()
                            .iter()
                            .rev()
                            .find(|e| e.start_offset <= offset)
                            .map_or(-1, |e| e.epoch)
                    };
                    // A read_committed consumer sees up to the last stable offset, not past open transactions.
                    let last_fetchable =
                        if isolation_level == READ_COMMITTED { log.last_stable_offset() } else { log.log_end_offset() };
                    let found = match p.timestamp {
                        LATEST => Ok(Some((-1, last_fetchable))),
                        EARLIEST | EARLIEST_LOCAL => Ok(Some((-1, log.log_start_offset()))),
                        MAX_TIMESTAMP => log.max_timestamp_record(),
                        // No tiered storage: nothing is uploaded or pending.
                        LATEST_TIERED | EARLIEST_PENDING_UPLOAD => Ok(Some((-1, -1))),
                        ts if ts < 0 => return response.with_error_code(ResponseError::InvalidRequest.code()),
                        ts => log
                            .offset_for_timestamp(ts)
                            .map(|o| o.filter(|(offset, _)| *offset < last_fetchable).map(|(offset, ts)| (ts, offset))),
                    };
                    match found {
                        Ok(Some((ts, offset))) => {
                            let epoch =
                                if offset >= 0 { epoch_at(offset.min(log.log_end_offset() - 1).max(0)) } else { -1 };
                            // The leader epoch is in the response from version 4.
                            let epoch = if version >= 4 { epoch } else { -1 };
                            response.with_timestamp(ts).with_offset(offset).with_leader_epoch(epoch)
                        }
                        Ok(None) => response,
                        Err(e) => response.with_error_code(storage_error_code(&e).code()),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default().with_name(topic.name).with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
