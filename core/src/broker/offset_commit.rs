//! OffsetCommit: store a group's committed offsets (with metadata strings) in `__consumer_offsets`.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::Broker;
use crate::coordinator::group::GroupCoordinator;
use crate::coordinator::offsets_schema::OffsetValue;

pub(super) fn handle(broker: &Broker, request: OffsetCommitRequest, now_ms: i64) -> OffsetCommitResponse {
    let group_id = request.group_id.0.to_string();
    let image = broker.metadata();
    let mut groups = broker.groups();
    let max_metadata = groups.config().offset_metadata_max_bytes;
    let group_error = groups
        .validate_commit(
            &group_id,
            request.generation_id_or_member_epoch,
            request.member_id.as_str(),
            request.group_instance_id.as_ref().map(|i| i.as_str()),
        )
        .err();
    let mut accepted = Vec::new();
    let mut topics = Vec::with_capacity(request.topics.len());
    for t in &request.topics {
        let topic = t.name.0.to_string();
        let partitions = t
            .partitions
            .iter()
            .map(|p| {
                let known = image.topics.get(&topic).is_some_and(|i| i.partition(p.partition_index).is_some());
                let metadata = p.committed_metadata.as_ref().map(|m| m.to_string()).unwrap_or_default();
                let error = if let Some(e) = group_error {
                    Some(e)
                } else if !known {
                    Some(ResponseError::UnknownTopicOrPartition)
                } else if metadata.len() > max_metadata {
                    Some(ResponseError::OffsetMetadataTooLarge)
                } else {
                    let value = OffsetValue {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata,
                        commit_timestamp: now_ms,
                    };
                    accepted.push((topic.clone(), p.partition_index, value));
                    None
                };
                OffsetCommitResponsePartition::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(error.map_or(0, |e| e.code()))
            })
            .collect();
        topics.push(OffsetCommitResponseTopic::default().with_name(t.name.clone()).with_partitions(partitions));
    }
    if !accepted.is_empty() {
        // Stored first, applied after: a commit whose records could not be written leaves nothing behind. The
        // coordinator stays locked meanwhile, so commits apply in the order they were stored.
        let writes = GroupCoordinator::prepare_commit(&group_id, &accepted);
        match broker.store_group_writes(writes, now_ms) {
            Ok(()) => broker.commit_when_replicated(&mut groups, &group_id, accepted, now_ms),
            Err(e) => {
                // Kafka answers a commit too large to store with INVALID_COMMIT_OFFSET_SIZE.
                let e = if e == ResponseError::UnknownServerError { ResponseError::InvalidCommitOffsetSize } else { e };
                for p in topics.iter_mut().flat_map(|t| t.partitions.iter_mut()).filter(|p| p.error_code == 0) {
                    p.error_code = e.code();
                }
            }
        }
    }
    OffsetCommitResponse::default().with_topics(topics)
}
