//! ListOffsets: the earliest, latest, max-timestamp or first-at-or-after-a-timestamp offset of partitions.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::{partition_error_code, Broker};
use crate::partition::Isolation;

/// `isolation_level` of a read_committed consumer.
const READ_COMMITTED: i8 = 1;

pub(super) fn handle(broker: &Broker, request: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let image = broker.metadata();
    // A follower asking for offsets sees the whole log; a client sees what its isolation level allows.
    let isolation = match (request.replica_id.0 >= 0, request.isolation_level) {
        (true, _) => Isolation::LogEnd,
        (false, READ_COMMITTED) => Isolation::ReadCommitted,
        (false, _) => Isolation::ReadUncommitted,
    };
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
                    let Some(replica) =
                        found.filter(|t| t.partition(index).is_some()).and_then(|t| broker.partition(&t.name, index))
                    else {
                        return response.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    if let Err(e) = replica.check_leader_epoch(p.current_leader_epoch) {
                        return response.with_error_code(partition_error_code(&e).code());
                    }
                    if !replica.is_leader() {
                        return response.with_error_code(ResponseError::NotLeaderOrFollower.code());
                    }
                    match replica.fetch_offset_for_timestamp(p.timestamp, isolation) {
                        Ok(Some((ts, offset, epoch))) => {
                            // The leader epoch is in the response from version 4.
                            let epoch = if version >= 4 { epoch } else { -1 };
                            response.with_timestamp(ts).with_offset(offset).with_leader_epoch(epoch)
                        }
                        Ok(None) => response,
                        Err(e) => response.with_error_code(partition_error_code(&e).code()),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default().with_name(topic.name).with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
