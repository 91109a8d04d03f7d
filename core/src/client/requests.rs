//! Requests the admin client, the consumer and the producer share: listing offsets by partition leader,
//! fetching and committing a group's offsets at its coordinator, and the small conversions every request
//! builder needs. The public `Admin` API is in `admin.rs`; these are the wire-level steps under it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::client::admin::{IsolationLevel, ListOffsetsInfo, OffsetSpec};
use crate::client::cluster::Cluster;
use crate::client::error::{ClientError, Result};
use crate::client::{OffsetAndMetadata, TopicPartition};

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

type ByLeader<T> = Vec<(Result<i32>, Vec<(TopicPartition, T)>)>;

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
        let response = cluster
            .call(Some(leader), |_| {
                ListOffsetsRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_isolation_level(isolation_level as i8)
                    .with_topics(
                        by_topic(&items)
                            .into_iter()
                            .map(|(t, ps)| {
                                list_offsets_request::ListOffsetsTopic::default()
                                    .with_name(topic_name(&t))
                                    .with_partitions(
                                        ps.iter()
                                            .map(|(p, spec)| {
                                                list_offsets_request::ListOffsetsPartition::default()
                                                    .with_partition_index(*p)
                                                    .with_current_leader_epoch(-1)
                                                    .with_timestamp(spec.wire())
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    )
            })
            .await;
        // A leader that cannot be reached (a broker lost) fails only its own partitions, retriably, so that the
        // caller refreshes metadata and asks the new leader, instead of asking the lost one until the deadline.
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                out.extend(items.into_iter().map(|(tp, _)| (tp, Err(e.clone()))));
                continue;
            }
        };
        for (tp, _) in items {
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
            out.push((tp, result));
        }
    }
    Ok(out)
}

/// OffsetFetch for one group (all partitions when `partitions` is None). Partitions without a committed offset
/// are left out.
pub(crate) async fn fetch_offsets(
    cluster: &Cluster,
    coordinator: i32,
    group_id: &str,
    partitions: Option<&[TopicPartition]>,
    require_stable: bool,
) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>> {
    let items: Option<Vec<(TopicPartition, ())>> = partitions.map(|ps| ps.iter().map(|tp| (tp.clone(), ())).collect());
    let response = cluster
        .call(Some(coordinator), |version| {
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
        })
        .await?;
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
pub(crate) async fn commit_offsets(
    cluster: &Cluster,
    coordinator: i32,
    group_id: &str,
    generation_id: i32,
    member_id: &str,
    group_instance_id: Option<&str>,
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
) -> Result<Vec<(TopicPartition, Result<()>)>> {
    let items: Vec<(TopicPartition, OffsetAndMetadata)> = offsets.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let response = cluster
        .call(Some(coordinator), |_| {
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
        })
        .await?;
    Ok(items
        .into_iter()
        .map(|(tp, _)| {
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
            (tp, result)
        })
        .collect())
}
