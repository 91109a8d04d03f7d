//! OffsetForLeaderEpoch: the end offset of a leader epoch, from the partition's leader epoch cache. Clients
//! use it to detect log truncation after a leader change.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::{partition_error_code, Broker};

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
                    let Some(replica) = found
                        .filter(|t| t.partition(p.partition).is_some())
                        .and_then(|t| broker.partition(&t.name, p.partition))
                    else {
                        return response.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    if let Err(e) = replica.check_leader_epoch(p.current_leader_epoch) {
                        return response.with_error_code(partition_error_code(&e).code());
                    }
                    // Followers ask their leader (replica id >= 0); consumers too may only ask the leader.
                    if !replica.is_leader() {
                        return response.with_error_code(ResponseError::NotLeaderOrFollower.code());
                    }
                    match replica.end_offset_for_epoch(p.leader_epoch) {
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
