//! OffsetFetch: a group's committed offsets, for named partitions or all of them (v2+), for one group or
//! several (v8+). A partition with no commit answers offset -1.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};

use super::{str_bytes, Broker};
use crate::coordinator::group::GroupCoordinator;

/// (topic, [(partition, offset, leader epoch, metadata, error code)]) for a group.
type Fetched = Vec<(String, Vec<(i32, i64, i32, String, i16)>)>;

/// With `require_stable` (v7+, what a read_committed consumer asks), a partition for which a transaction has
/// committed an offset that is not yet visible answers UNSTABLE_OFFSET_COMMIT, which the client retries.
fn fetch(
    groups: &GroupCoordinator,
    group_id: &str,
    wanted: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> Fetched {
    let group = groups.group(group_id);
    let wanted = wanted.unwrap_or_else(|| {
        let mut all: Vec<(String, Vec<i32>)> = Vec::new();
        for (topic, partition) in group.map(|g| g.offsets.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
            match all.iter_mut().find(|(t, _)| *t == topic) {
                Some((_, ps)) => ps.push(partition),
                None => all.push((topic, vec![partition])),
            }
        }
        all
    });
    wanted
        .into_iter()
        .map(|(topic, partitions)| {
            let rows = partitions
                .into_iter()
                .map(|p| {
                    if require_stable && groups.has_pending_txn_offset(group_id, &topic, p) {
                        return (p, -1, -1, String::new(), ResponseError::UnstableOffsetCommit.code());
                    }
                    match groups.committed(group_id, &topic, p) {
                        Some(v) => (p, v.offset, v.leader_epoch, v.metadata.clone(), 0),
                        None => (p, -1, -1, String::new(), 0),
                    }
                })
                .collect();
            (topic, rows)
        })
        .collect()
}

/// Whether this broker answers for `group_id`: on a cluster only the group's coordinator does, and others
/// answer NOT_COORDINATOR (their copy of the group is stale or empty; a client that still asks the previous
/// coordinator after a failover must look it up again rather than take "no committed offset" for an answer).
fn coordinates(broker: &Broker, group_id: &str) -> bool {
    !broker.is_cluster_member() || group_id.is_empty() || broker.coordinates_group(group_id)
}

/// The answer comes from the group coordinator's state, which holds a commit as soon as it is written to the
/// leader of the group's `__consumer_offsets` partition (Kafka shows it only once the write is replicated; a
/// failover can take back an offset a client has seen here — known, not yet fixed).
pub(super) fn handle(broker: &Broker, request: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
    let groups = broker.groups();
    let epoch = |e: i32| if version >= 5 { e } else { -1 };
    if version >= 8 {
        let results = request
            .groups
            .into_iter()
            .map(|g| {
                let group_id = g.group_id.0.to_string();
                let wanted =
                    g.topics.map(|ts| ts.into_iter().map(|t| (t.name.0.to_string(), t.partition_indexes)).collect());
                if !coordinates(broker, &group_id) {
                    return OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id)
                        .with_error_code(ResponseError::NotCoordinator.code());
                }
                let topics = fetch(&groups, &group_id, wanted, request.require_stable)
                    .into_iter()
                    .map(|(topic, rows)| {
                        OffsetFetchResponseTopics::default().with_name(TopicName(str_bytes(topic))).with_partitions(
                            rows.into_iter()
                                .map(|(p, offset, e, metadata, error)| {
                                    OffsetFetchResponsePartitions::default()
                                        .with_partition_index(p)
                                        .with_error_code(error)
                                        .with_committed_offset(offset)
                                        .with_committed_leader_epoch(e)
                                        .with_metadata(Some(str_bytes(metadata)))
                                })
                                .collect(),
                        )
                    })
                    .collect();
                let error = if group_id.is_empty() { ResponseError::InvalidGroupId.code() } else { 0 };
                OffsetFetchResponseGroup::default().with_group_id(g.group_id).with_topics(topics).with_error_code(error)
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(results);
    }
    let group_id = request.group_id.0.to_string();
    let wanted: Option<Vec<(String, Vec<i32>)>> =
        request.topics.map(|ts| ts.into_iter().map(|t| (t.name.0.to_string(), t.partition_indexes)).collect());
    if !coordinates(broker, &group_id) {
        // Before v2 the error can only be given per partition.
        let e = ResponseError::NotCoordinator.code();
        let topics = wanted
            .unwrap_or_default()
            .into_iter()
            .map(|(topic, partitions)| {
                OffsetFetchResponseTopic::default().with_name(TopicName(str_bytes(topic))).with_partitions(
                    partitions
                        .into_iter()
                        .map(|p| {
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(p)
                                .with_error_code(e)
                                .with_committed_offset(-1)
                                .with_committed_leader_epoch(-1)
                        })
                        .collect(),
                )
            })
            .collect();
        return OffsetFetchResponse::default().with_topics(topics).with_error_code(if version >= 2 { e } else { 0 });
    }
    let topics = fetch(&groups, &group_id, wanted, version >= 7 && request.require_stable)
        .into_iter()
        .map(|(topic, rows)| {
            OffsetFetchResponseTopic::default().with_name(TopicName(str_bytes(topic))).with_partitions(
                rows.into_iter()
                    .map(|(p, offset, e, metadata, error)| {
                        OffsetFetchResponsePartition::default()
                            .with_partition_index(p)
                            .with_error_code(error)
                            .with_committed_offset(offset)
                            .with_committed_leader_epoch(epoch(e))
                            .with_metadata(Some(str_bytes(metadata)))
                    })
                    .collect(),
            )
        })
        .collect();
    let error = if version >= 2 && group_id.is_empty() { ResponseError::InvalidGroupId.code() } else { 0 };
    OffsetFetchResponse::default().with_topics(topics).with_error_code(error)
}
