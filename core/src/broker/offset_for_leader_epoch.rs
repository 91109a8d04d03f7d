//! OffsetForLeaderEpoch: the end offset of a leader epoch, from the partition's leader epoch cache. Clients
//! use it to detect log truncation after a leader change.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::{check_leader_epoch, Broker};
use crate::storage;

pub(super) fn handle(broker: &Broker, request: OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse {
    let image = broker.metadata();
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let found = image.topics.get(topic.topic.0.as_str());
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let response =
                        EpochEndOffset::default().with_partition(p.partition).with_leader_epoch(-1).with_end_offset(-1);
                    let Some((t, partition)) = found.and_then(|t| t.partition(p.partition).map(|x| (t, x))) else {
                        return response.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    if let Err(error) = check_leader_epoch(p.current_leader_epoch, partition.leader_epoch) {
                        return response.with_error_code(error.code());
                    }
                    let Some(log) = broker.log(&t.name, p.partition) else {
                        return response.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    let log = storage::lock(&log);
                    match log.leader_epochs().end_offset_for(p.leader_epoch, log.log_end_offset()) {
                        Some((epoch, end)) => response.with_leader_epoch(epoch).with_end_offset(end),
                        None => response,
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default().with_topic(topic.topic).with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
