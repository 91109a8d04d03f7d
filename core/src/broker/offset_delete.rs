//! OffsetDelete: drop a group's committed offsets for partitions of topics it no longer subscribes to.

use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::Broker;

pub(super) fn handle(broker: &Broker, request: OffsetDeleteRequest, now_ms: i64) -> OffsetDeleteResponse {
    let wanted: Vec<(String, i32)> = request
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.0.to_string(), p.partition_index)))
        .collect();
    let group_id = request.group_id.0.as_str();
    let results = broker.change_groups(
        [group_id],
        now_ms,
        |groups| groups.delete_offsets(group_id, &wanted),
        |_, results, error| results.map(|r| vec![Some(error); r.len()]),
    );
    let results = match results {
        Ok(r) => r,
        Err(e) => return OffsetDeleteResponse::default().with_error_code(e.code()),
    };
    let mut results = results.into_iter();
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let error = results.next().flatten();
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error.map_or(0, |e| e.code()))
                })
                .collect();
            OffsetDeleteResponseTopic::default().with_name(t.name).with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
