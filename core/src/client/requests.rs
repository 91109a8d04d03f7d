//! Requests the admin client, the consumer and the producer share: listing offsets by partition leader,
//! fetching and committing a group's offsets at its coordinator, finding a coordinator, and the small
//! conversions every request builder needs. The public `Admin` API is in `admin.rs`; these are the wire-level
//! steps under it.
//!
//! Each request has an IO-free builder and an IO-free reader of its answer, which build for every target: the
//! in-page clients of a broker in memory (`host::page_client`) send them as frames; natively, the async
//! functions here (feature `native`) send them through a [`Cluster`].

use std::collections::BTreeMap;
#[cfg(feature = "native")]
use std::time::{Duration, Instant};

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::client::admin::{IsolationLevel, ListOffsetsInfo, OffsetSpec};
#[cfg(feature = "native")]
use crate::client::cluster::Cluster;
use crate::client::error::{ClientError, Result};
use crate::client::{OffsetAndMetadata, TopicPartition};

/// The versions of each API the client speaks: (lowest, highest). Request fields are set for the lowest and
/// gated on the version where a later version adds or drops one.
pub(crate) fn client_versions(api: ApiKey) -> (i16, i16) {
    match api {
        ApiKey::Metadata => (4, 12),
        ApiKey::Produce => (3, 12),
        ApiKey::Fetch => (4, 12),
        ApiKey::ListOffsets => (2, 9),
        ApiKey::FindCoordinator => (1, 6),
        ApiKey::JoinGroup => (5, 9),
        ApiKey::SyncGroup => (3, 5),
        ApiKey::Heartbeat => (3, 4),
        ApiKey::LeaveGroup => (3, 5),
        ApiKey::OffsetCommit => (7, 9),
        ApiKey::OffsetFetch => (2, 7),
        ApiKey::ListGroups => (0, 5),
        ApiKey::DescribeGroups => (1, 5),
        ApiKey::DeleteGroups => (0, 2),
        ApiKey::CreateTopics => (2, 7),
        ApiKey::DeleteTopics => (1, 6),
        ApiKey::CreatePartitions => (0, 3),
        ApiKey::DescribeConfigs => (1, 4),
        ApiKey::IncrementalAlterConfigs => (0, 1),
        ApiKey::DescribeCluster => (0, 1),
        ApiKey::DeleteRecords => (0, 2),
        ApiKey::InitProducerId => (0, 4),
        ApiKey::AddPartitionsToTxn => (0, 3),
        ApiKey::AddOffsetsToTxn => (0, 3),
        ApiKey::TxnOffsetCommit => (0, 3),
        ApiKey::EndTxn => (0, 3),
        ApiKey::OffsetDelete => (0, 0),
        ApiKey::ConsumerGroupDescribe => (0, 1),
        _ => (0, 0),
    }
}

/// The version of `api` to speak with a broker that supports `broker` (lowest, highest): the highest both
/// sides support, `None` when the ranges do not meet.
pub(crate) fn pick_version(api: ApiKey, broker: (i16, i16)) -> Option<i16> {
    let (min, max) = client_versions(api);
    let version = broker.1.min(max);
    (version >= min.max(broker.0)).then_some(version)
}

pub(crate) fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

pub(crate) fn topic_name(s: &str) -> TopicName {
    TopicName(sb(s))
}

/// Items grouped by topic, partitions in order.
pub(crate) fn by_topic<T: Clone>(items: &[(TopicPartition, T)]) -> BTreeMap<String, Vec<(i32, T)>> {
    let mut out: BTreeMap<String, Vec<(i32, T)>> = BTreeMap::new();
    for (tp, v) in items {
        out.entry(tp.topic.clone()).or_default().push((tp.partition, v.clone()));
    }
    out
}

#[cfg(feature = "native")]
type ByLeader<T> = Vec<(Result<i32>, Vec<(TopicPartition, T)>)>;

#[cfg(feature = "native")]
/// Groups items by the partition's leader (an error where the topic or partition is unknown).
pub(crate) async fn group_by_leader<T>(
    cluster: &Cluster,
    items: impl Iterator<Item = (TopicPartition, T)>,
    deadline: Instant,
) -> Result<ByLeader<T>> {
    // Keyed by the leader, or by the error code for partitions without one.
    let mut groups: BTreeMap<std::result::Result<i32, i16>, Vec<(TopicPartition, T)>> = BTreeMap::new();
    let _ = deadline;
    let mut refreshed: Vec<String> = Vec::new();
    for (tp, v) in items {
        // One refresh for a topic the snapshot lacks; a topic still unknown then fails fast, as in Kafka.
        let mut metadata = cluster.metadata();
        if metadata.leader_for(&tp.topic, tp.partition).is_none() && !refreshed.contains(&tp.topic) {
            refreshed.push(tp.topic.clone());
            metadata = cluster.refresh(Some(std::slice::from_ref(&tp.topic)), false).await?;
        }
        let leader = match metadata.topics.get(&tp.topic) {
            None => Err(3),
            Some(t) => match t.partition(tp.partition) {
                Some(p) if p.leader >= 0 => Ok(p.leader),
                Some(_) => Err(5),
                None => Err(3),
            },
        };
        groups.entry(leader).or_default().push((tp, v));
    }
    Ok(groups.into_iter().map(|(k, v)| (k.map_err(|code| ClientError::from_code(code, None)), v)).collect())
}

#[cfg(feature = "native")]
/// ListOffsets for many partitions, one request per leader. Partitions answered with a retriable error (a
/// leader that moved, a topic still being created) are asked again after a metadata refresh until `deadline`,
/// as Kafka's admin client does.
pub(crate) async fn list_offsets(
    cluster: &Cluster,
    specs: &[(TopicPartition, OffsetSpec)],
    isolation_level: IsolationLevel,
    deadline: Instant,
) -> Result<Vec<(TopicPartition, Result<ListOffsetsInfo>)>> {
    let mut results: BTreeMap<TopicPartition, Result<ListOffsetsInfo>> = BTreeMap::new();
    let mut pending: Vec<(TopicPartition, OffsetSpec)> = specs.to_vec();
    let mut backoff = cluster.config.retry_backoff.max(Duration::from_millis(10));
    loop {
        let answers = list_offsets_once(cluster, &pending, isolation_level, deadline).await?;
        let mut retry = Vec::new();
        for (tp, result) in answers {
            // UNKNOWN_TOPIC_OR_PARTITION from metadata is final here; a leader in motion is worth waiting for.
            let retriable = matches!(&result, Err(e) if e.is_retriable() && e.code() != Some(3));
            if retriable && Instant::now() + backoff < deadline {
                if let Some(spec) = pending.iter().find(|(p, _)| *p == tp).map(|(_, s)| *s) {
                    retry.push((tp.clone(), spec));
                }
            }
            results.insert(tp, result);
        }
        if retry.is_empty() {
            break;
        }
        let topics: Vec<String> = retry.iter().map(|(tp, _)| tp.topic.clone()).collect();
        tokio::time::sleep(backoff).await;
        let _ = cluster.refresh(Some(&topics), false).await;
        backoff = (backoff * 2).min(cluster.config.retry_backoff_max);
        pending = retry;
    }
    Ok(specs.iter().filter_map(|(tp, _)| results.remove_entry(tp)).collect())
}

#[cfg(feature = "native")]
async fn list_offsets_once(
    cluster: &Cluster,
    specs: &[(TopicPartition, OffsetSpec)],
    isolation_level: IsolationLevel,
    deadline: Instant,
) -> Result<Vec<(TopicPartition, Result<ListOffsetsInfo>)>> {
    let by_leader = group_by_leader(cluster, specs.iter().cloned(), deadline).await?;
    let mut out = Vec::new();
    for (leader, items) in by_leader {
        let leader = match leader {
            Err(e) => {
                out.extend(items.into_iter().map(|(tp, _)| (tp, Err(e.clone()))));
                continue;
            }
            Ok(l) => l,
        };
        let response = cluster.call(Some(leader), |_| list_offsets_request(&items, isolation_level)).await;
        // A leader that cannot be reached (a broker lost) fails only its own partitions, retriably, so that the
        // caller refreshes metadata and asks the new leader, instead of asking the lost one until the deadline.
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                out.extend(items.into_iter().map(|(tp, _)| (tp, Err(e.clone()))));
                continue;
            }
        };
        out.extend(list_offsets_results(&items, &response));
    }
    Ok(out)
}

#[cfg(feature = "native")]
/// OffsetFetch for one group (all partitions when `partitions` is None). Partitions without a committed offset
/// are left out.
pub(crate) async fn fetch_offsets(
    cluster: &Cluster,
    coordinator: i32,
    group_id: &str,
    partitions: Option<&[TopicPartition]>,
    require_stable: bool,
) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>> {
    let response = cluster
        .call(Some(coordinator), |version| offset_fetch_request(group_id, partitions, require_stable, version))
        .await?;
    offset_fetch_result(&response)
}

#[cfg(feature = "native")]
/// OffsetCommit for one group, with a generation (or -1 and an empty member id for a standalone commit).
pub(crate) async fn commit_offsets(
    cluster: &Cluster,
    coordinator: i32,
    group_id: &str,
    generation_id: i32,
    member_id: &str,
    group_instance_id: Option<&str>,
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
) -> Result<Vec<(TopicPartition, Result<()>)>> {
    let response = cluster
        .call(Some(coordinator), |_| {
            offset_commit_request(group_id, generation_id, member_id, group_instance_id, offsets)
        })
        .await?;
    Ok(offset_commit_results(offsets, &response))
}

/// ListOffsets for partitions of one leader.
pub(crate) fn list_offsets_request(
    items: &[(TopicPartition, OffsetSpec)],
    isolation_level: IsolationLevel,
) -> ListOffsetsRequest {
    ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_isolation_level(isolation_level as i8).with_topics(
        by_topic(items)
            .into_iter()
            .map(|(t, ps)| {
                list_offsets_request::ListOffsetsTopic::default().with_name(topic_name(&t)).with_partitions(
                    ps.into_iter()
                        .map(|(p, spec)| {
                            list_offsets_request::ListOffsetsPartition::default()
                                .with_partition_index(p)
                                .with_current_leader_epoch(-1)
                                .with_timestamp(spec.wire())
                        })
                        .collect(),
                )
            })
            .collect(),
    )
}

/// Each asked partition's answer in a ListOffsets response.
pub(crate) fn list_offsets_results<T>(
    items: &[(TopicPartition, T)],
    response: &ListOffsetsResponse,
) -> Vec<(TopicPartition, Result<ListOffsetsInfo>)> {
    items
        .iter()
        .map(|(tp, _)| {
            let r = response
                .topics
                .iter()
                .filter(|t| t.name.0.as_str() == tp.topic)
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == tp.partition);
            let result = r.map_or_else(
                || Err(ClientError::Protocol(format!("no result for {tp}"))),
                |p| {
                    ClientError::check(p.error_code).map(|_| ListOffsetsInfo {
                        offset: p.offset,
                        timestamp: p.timestamp,
                        leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                    })
                },
            );
            (tp.clone(), result)
        })
        .collect()
}

/// OffsetFetch for one group (all partitions when `partitions` is None).
pub(crate) fn offset_fetch_request(
    group_id: &str,
    partitions: Option<&[TopicPartition]>,
    require_stable: bool,
    version: i16,
) -> OffsetFetchRequest {
    let items: Option<Vec<(TopicPartition, ())>> = partitions.map(|ps| ps.iter().map(|tp| (tp.clone(), ())).collect());
    OffsetFetchRequest::default()
        .with_group_id(GroupId(sb(group_id)))
        .with_require_stable(require_stable && version >= 7)
        .with_topics(items.as_ref().map(|items| {
            by_topic(items)
                .into_iter()
                .map(|(t, ps)| {
                    offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(topic_name(&t))
                        .with_partition_indexes(ps.iter().map(|(p, _)| *p).collect())
                })
                .collect()
        }))
}

/// The committed offsets in an OffsetFetch answer; partitions without one are left out.
pub(crate) fn offset_fetch_result(
    response: &OffsetFetchResponse,
) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>> {
    ClientError::check(response.error_code)?;
    let mut out = BTreeMap::new();
    for t in &response.topics {
        for p in &t.partitions {
            ClientError::check(p.error_code)?;
            if p.committed_offset >= 0 {
                out.insert(
                    TopicPartition::new(t.name.0.to_string(), p.partition_index),
                    OffsetAndMetadata {
                        offset: p.committed_offset,
                        leader_epoch: (p.committed_leader_epoch >= 0).then_some(p.committed_leader_epoch),
                        metadata: p.metadata.as_ref().map(|m| m.to_string()).unwrap_or_default(),
                    },
                );
            }
        }
    }
    Ok(out)
}

/// OffsetCommit for one group, with a generation (or -1 and an empty member id for a standalone commit).
pub(crate) fn offset_commit_request(
    group_id: &str,
    generation_id: i32,
    member_id: &str,
    group_instance_id: Option<&str>,
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
) -> OffsetCommitRequest {
    let items: Vec<(TopicPartition, OffsetAndMetadata)> = offsets.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    OffsetCommitRequest::default()
        .with_group_id(GroupId(sb(group_id)))
        .with_generation_id_or_member_epoch(generation_id)
        .with_member_id(sb(member_id))
        .with_group_instance_id(group_instance_id.map(sb))
        .with_topics(
            by_topic(&items)
                .into_iter()
                .map(|(t, ps)| {
                    offset_commit_request::OffsetCommitRequestTopic::default()
                        .with_name(topic_name(&t))
                        .with_partitions(
                            ps.iter()
                                .map(|(p, o)| {
                                    offset_commit_request::OffsetCommitRequestPartition::default()
                                        .with_partition_index(*p)
                                        .with_committed_offset(o.offset)
                                        .with_committed_leader_epoch(o.leader_epoch.unwrap_or(-1))
                                        .with_committed_metadata(Some(sb(&o.metadata)))
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
}

/// Each committed partition's outcome in an OffsetCommit answer.
pub(crate) fn offset_commit_results(
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    response: &OffsetCommitResponse,
) -> Vec<(TopicPartition, Result<()>)> {
    offsets
        .keys()
        .map(|tp| {
            let r = response
                .topics
                .iter()
                .filter(|t| t.name.0.as_str() == tp.topic)
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == tp.partition);
            let result = r.map_or_else(
                || Err(ClientError::Protocol(format!("no result for {tp}"))),
                |p| ClientError::check(p.error_code),
            );
            (tp.clone(), result)
        })
        .collect()
}

#[cfg(feature = "native")]
/// FindCoordinator of a group (`key_type` 0) or transactional id (`key_type` 1).
pub(crate) fn find_coordinator_request(key_type: i8, key: &str, version: i16) -> FindCoordinatorRequest {
    let request = FindCoordinatorRequest::default().with_key_type(key_type);
    if version >= 4 {
        request.with_coordinator_keys(vec![sb(key)])
    } else {
        request.with_key(sb(key))
    }
}

#[cfg(feature = "native")]
/// The coordinator a FindCoordinator answer names: node id, host and port.
pub(crate) fn find_coordinator_result(response: &FindCoordinatorResponse) -> Result<(i32, String, i32)> {
    let (code, message, node, host, port) = match response.coordinators.first() {
        Some(c) => (c.error_code, c.error_message.clone(), c.node_id.0, c.host.to_string(), c.port),
        None => (
            response.error_code,
            response.error_message.clone(),
            response.node_id.0,
            response.host.to_string(),
            response.port,
        ),
    };
    if code != 0 {
        return Err(ClientError::from_code(code, message.map(|m| m.to_string())));
    }
    Ok((node, host, port))
}
