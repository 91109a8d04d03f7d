//! The admin client: topics, partitions, configs, groups, offsets and records, as Kafka's `Admin` offers them.
//! Every call is blocking, retries retriable whole-request failures (a broken connection, a coordinator that
//! moved) until its timeout (`default.api.timeout.ms` unless given), and returns per-item results.
//!
//! The types and the IO-free request builders and answer readers (`*_request`, `*_results`) build for every
//! target: the in-page admin of a broker in memory (`host::page_client`) sends the same requests as frames. The
//! blocking [`Admin`] (feature `native`) sends them through a `Cluster`.

#[cfg(feature = "native")]
use std::collections::BTreeMap;
#[cfg(feature = "native")]
use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(feature = "native")]
use std::sync::Arc;
#[cfg(feature = "native")]
use std::time::{Duration, Instant};

use bytes::Buf;
#[cfg(feature = "native")]
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_protocol_assignment::ConsumerProtocolAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, StrBytes};

#[cfg(feature = "native")]
use crate::client::cluster::{Cluster, Metadata, TopicMetadata};
#[cfg(feature = "native")]
use crate::client::config::{ClientKind, CommonConfig, Properties};
use crate::client::error::{ClientError, Result};
use crate::client::metadata::BrokerInfo;
#[cfg(feature = "native")]
use crate::client::requests::{by_topic, commit_offsets, fetch_offsets, group_by_leader, list_offsets};
use crate::client::requests::{sb, topic_name};
use crate::client::TopicPartition;
#[cfg(feature = "native")]
use crate::client::{runtime, OffsetAndMetadata};
pub use crate::client::{IsolationLevel, OffsetSpec};

fn kafka_error(code: i16, message: &Option<StrBytes>) -> Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(ClientError::from_code(code, message.as_ref().map(|m| m.to_string())))
    }
}

/// A topic to create.
#[derive(Debug, Clone, Default)]
pub struct NewTopic {
    pub name: String,
    /// -1: the broker's `num.partitions`.
    pub num_partitions: i32,
    /// -1: the broker's `default.replication.factor`.
    pub replication_factor: i16,
    pub configs: Vec<(String, String)>,
    /// Explicit replica assignment: partition index and broker ids (then both counts must be -1).
    pub replica_assignment: Vec<(i32, Vec<i32>)>,
}

impl NewTopic {
    pub fn new(name: impl Into<String>, num_partitions: i32, replication_factor: i16) -> NewTopic {
        NewTopic { name: name.into(), num_partitions, replication_factor, ..Default::default() }
    }
}

/// The kind of resource a config belongs to (Kafka's `ConfigResource.Type` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    Topic = 2,
    Broker = 4,
    BrokerLogger = 8,
    Group = 32,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfigResource {
    pub resource_type: ResourceType,
    pub name: String,
}

/// One config value as the broker describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    /// Kafka's `ConfigSource` code: 1 topic, 4 static broker, 5 default, 2/3 dynamic broker...
    pub source: i8,
    pub is_default: bool,
    pub read_only: bool,
    pub sensitive: bool,
}

/// An incremental config change (`kafka-configs --alter --add-config/--delete-config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlterOp {
    Set = 0,
    Delete = 1,
    Append = 2,
    Subtract = 3,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterConfigOp {
    pub name: String,
    pub value: Option<String>,
    pub op: AlterOp,
}

/// A group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: String,
    pub group_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub host: String,
    /// The partitions assigned to the member (decoded for consumer groups).
    pub assignment: Vec<TopicPartition>,
    /// The partitions the coordinator means the member to have (consumer protocol groups; empty otherwise).
    pub target_assignment: Vec<TopicPartition>,
    /// The member's epoch (consumer protocol groups only).
    pub member_epoch: Option<i32>,
    /// Whether the member speaks the consumer protocol (true) or the classic one (false) in a consumer
    /// protocol group; `None` when the broker does not say.
    pub upgraded: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    /// The assignor in use (`range`, ...).
    pub protocol: String,
    pub members: Vec<MemberDescription>,
    pub coordinator: i32,
    /// The group epoch and the epoch of its target assignment (consumer protocol groups only).
    pub group_epoch: Option<i32>,
    pub target_assignment_epoch: Option<i32>,
}

/// A ListOffsets answer: `offset` -1 when no record matches a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListOffsetsInfo {
    pub offset: i64,
    pub timestamp: i64,
    pub leader_epoch: Option<i32>,
}

/// The cluster as DescribeCluster/Metadata report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    pub brokers: Vec<BrokerInfo>,
}

#[cfg(feature = "native")]
/// Describes a consumer protocol group; `None` when the broker has no such API or the group is not one (then it
/// is a classic group, or none).
async fn describe_consumer_group(cluster: &Cluster, coordinator: i32, group: &str) -> Result<Option<GroupDescription>> {
    let connection = cluster.connection(coordinator).await?;
    if connection.version(ApiKey::ConsumerGroupDescribe, 0, 1).is_err() {
        return Ok(None);
    }
    let response = cluster
        .call_on(&connection, |_| ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(sb(group))]))
        .await?;
    let d = response
        .groups
        .into_iter()
        .next()
        .ok_or_else(|| ClientError::Protocol("empty ConsumerGroupDescribe response".into()))?;
    if d.error_code == ResponseError::GroupIdNotFound.code() {
        return Ok(None);
    }
    kafka_error(d.error_code, &d.error_message)?;
    let partitions = |a: &consumer_group_describe_response::Assignment| -> Vec<TopicPartition> {
        a.topic_partitions
            .iter()
            .flat_map(|t| t.partitions.iter().map(|&p| TopicPartition::new(t.topic_name.0.to_string(), p)))
            .collect()
    };
    Ok(Some(GroupDescription {
        group_id: d.group_id.0.to_string(),
        state: d.group_state.to_string(),
        protocol_type: "consumer".into(),
        protocol: d.assignor_name.to_string(),
        coordinator,
        group_epoch: Some(d.group_epoch),
        target_assignment_epoch: Some(d.assignment_epoch),
        members: d
            .members
            .iter()
            .map(|m| MemberDescription {
                member_id: m.member_id.to_string(),
                group_instance_id: m.instance_id.as_ref().map(|s| s.to_string()),
                client_id: m.client_id.to_string(),
                host: m.client_host.to_string(),
                assignment: partitions(&m.assignment),
                target_assignment: partitions(&m.target_assignment),
                member_epoch: Some(m.member_epoch),
                upgraded: match m.member_type {
                    1 => Some(true),
                    0 => Some(false),
                    _ => None,
                },
            })
            .collect(),
    }))
}

#[cfg(feature = "native")]
/// Describes a classic group (DescribeGroups).
async fn describe_classic_group(cluster: &Cluster, coordinator: i32, group: &str) -> Result<GroupDescription> {
    let response = cluster.call(Some(coordinator), |_| describe_groups_request(&[group.to_string()])).await?;
    describe_groups_results(&[group.to_string()], &response, coordinator)
        .pop()
        .map_or_else(|| Err(ClientError::Protocol("empty DescribeGroups response".into())), |(_, r)| r)
}

/// Decodes a consumer group member's assignment bytes (ConsumerProtocolAssignment with its version prefix).
pub fn decode_assignment(bytes: &[u8]) -> Vec<TopicPartition> {
    let mut buf = bytes;
    if buf.remaining() < 2 {
        return Vec::new();
    }
    let version = buf.get_i16();
    ConsumerProtocolAssignment::decode(&mut buf, version.clamp(0, 3))
        .map(|a| {
            a.assigned_partitions
                .iter()
                .flat_map(|t| t.partitions.iter().map(|&p| TopicPartition::new(t.topic.0.to_string(), p)))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(feature = "native")]
static ADMIN_IDS: AtomicU64 = AtomicU64::new(1);

/// Kafka's admin client.
#[cfg(feature = "native")]
#[derive(Clone)]
pub struct Admin {
    cluster: Arc<Cluster>,
    default_timeout: Duration,
}

#[cfg(feature = "native")]
impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").field("client_id", &self.cluster.config.client_id).finish_non_exhaustive()
    }
}

#[cfg(feature = "native")]
impl Admin {
    /// An admin client from Kafka config pairs (`bootstrap.servers` required).
    pub fn new(config: &[(String, String)]) -> Result<Admin> {
        let props = Properties::parse(ClientKind::Admin, config)?;
        let id = ADMIN_IDS.fetch_add(1, Ordering::Relaxed);
        let common = CommonConfig::from_properties(&props, format!("adminclient-{id}"))?;
        Ok(Admin { cluster: Cluster::new(common), default_timeout: props.ms("default.api.timeout.ms") })
    }

    /// The shared cluster view (for the CLI, which mixes admin calls and metadata).
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Sets who hears about failed broker connections (a failure repeated for the same address is reported once).
    pub fn set_connection_listener(
        &self,
        listener: impl Fn(&crate::client::cluster::ConnectionFailure) + Send + Sync + 'static,
    ) {
        self.cluster.set_connection_listener(Arc::new(listener));
    }

    /// Whether the client ever reached a broker.
    pub fn has_connected(&self) -> bool {
        self.cluster.has_connected()
    }

    /// `client.id`, or the one the client made up (`adminclient-N`).
    pub fn client_id(&self) -> &str {
        &self.cluster.config.client_id
    }

    fn deadline(&self, timeout: Option<Duration>) -> (Instant, Duration) {
        let t = timeout.unwrap_or(self.default_timeout);
        (Instant::now() + t, t)
    }

    /// Runs `attempt` on the client runtime, retrying retriable failures with backoff until the deadline.
    fn run<T, F, Fut>(&self, timeout: Option<Duration>, attempt: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(Arc<Cluster>, Instant) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T>> + Send,
    {
        let (deadline, _) = self.deadline(timeout);
        let cluster = self.cluster.clone();
        runtime::block_on(async move {
            let mut backoff = cluster.config.retry_backoff.max(Duration::from_millis(10));
            loop {
                let result = tokio::time::timeout_at(deadline.into(), attempt(cluster.clone(), deadline)).await;
                match result {
                    Err(_) => return Err(ClientError::Timeout("admin call".into())),
                    Ok(Err(e)) if e.is_retriable() && Instant::now() + backoff < deadline => {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(cluster.config.retry_backoff_max);
                    }
                    Ok(result) => return result,
                }
            }
        })?
    }

    /// Creates topics; one result per topic (TOPIC_ALREADY_EXISTS, INVALID_REPLICATION_FACTOR, ...).
    pub fn create_topics(
        &self,
        topics: &[NewTopic],
        validate_only: bool,
        timeout: Option<Duration>,
    ) -> Result<Vec<(String, Result<()>)>> {
        let topics = topics.to_vec();
        let timeout_ms = self.deadline(timeout).1.as_millis().min(i32::MAX as u128) as i32;
        self.run(timeout, move |cluster, _| {
            let topics = topics.clone();
            async move {
                let response =
                    cluster.call(None, |_| create_topics_request(&topics, validate_only, timeout_ms)).await?;
                Ok(create_topics_results(&topics, &response))
            }
        })
    }

    /// Deletes topics by name.
    pub fn delete_topics(&self, names: &[String], timeout: Option<Duration>) -> Result<Vec<(String, Result<()>)>> {
        let names = names.to_vec();
        let timeout_ms = self.deadline(timeout).1.as_millis().min(i32::MAX as u128) as i32;
        self.run(timeout, move |cluster, _| {
            let names = names.clone();
            async move {
                let response = cluster.call(None, |version| delete_topics_request(&names, timeout_ms, version)).await?;
                Ok(delete_topics_results(&names, &response))
            }
        })
    }

    /// Full cluster metadata (every topic).
    pub fn metadata(&self, timeout: Option<Duration>) -> Result<Arc<Metadata>> {
        self.run(timeout, |cluster, _| async move { cluster.refresh(None, false).await })
    }

    /// Topic names, sorted; internal topics only when asked.
    pub fn list_topics(&self, include_internal: bool, timeout: Option<Duration>) -> Result<Vec<String>> {
        let metadata = self.metadata(timeout)?;
        let mut names: Vec<String> =
            metadata.topics.values().filter(|t| include_internal || !t.is_internal).map(|t| t.name.clone()).collect();
        names.sort();
        Ok(names)
    }

    /// Partitions, leaders, replicas and ISR of each topic.
    pub fn describe_topics(
        &self,
        names: &[String],
        timeout: Option<Duration>,
    ) -> Result<Vec<(String, Result<TopicMetadata>)>> {
        let names = names.to_vec();
        let wanted = names.clone();
        let metadata = self.run(timeout, move |cluster, _| {
            let wanted = wanted.clone();
            async move { cluster.refresh(Some(&wanted), false).await }
        })?;
        Ok(names
            .into_iter()
            .map(|n| {
                let result = match metadata.topics.get(&n) {
                    Some(t) => Ok(t.clone()),
                    None => Err(ClientError::from_code(metadata.topic_errors.get(&n).copied().unwrap_or(3), None)),
                };
                (n, result)
            })
            .collect())
    }

    /// The cluster id, controller and brokers.
    pub fn describe_cluster(&self, timeout: Option<Duration>) -> Result<ClusterDescription> {
        let metadata = self.metadata(timeout)?;
        Ok(ClusterDescription {
            cluster_id: metadata.cluster_id.clone(),
            controller_id: metadata.controller_id,
            brokers: metadata.brokers.values().cloned().collect(),
        })
    }

    /// Raises topics' partition counts to the given totals.
    pub fn create_partitions(
        &self,
        totals: &[(String, i32)],
        validate_only: bool,
        timeout: Option<Duration>,
    ) -> Result<Vec<(String, Result<()>)>> {
        let totals = totals.to_vec();
        let timeout_ms = self.deadline(timeout).1.as_millis().min(i32::MAX as u128) as i32;
        self.run(timeout, move |cluster, _| {
            let totals = totals.clone();
            async move {
                let response = cluster
                    .call(None, |_| {
                        CreatePartitionsRequest::default()
                            .with_timeout_ms(timeout_ms)
                            .with_validate_only(validate_only)
                            .with_topics(
                                totals
                                    .iter()
                                    .map(|(n, c)| {
                                        create_partitions_request::CreatePartitionsTopic::default()
                                            .with_name(topic_name(n))
                                            .with_count(*c)
                                            .with_assignments(None)
                                    })
                                    .collect(),
                            )
                    })
                    .await?;
                Ok(totals
                    .iter()
                    .map(|(n, _)| {
                        let result = response.results.iter().find(|r| r.name.0.as_str() == n).map_or_else(
                            || Err(ClientError::Protocol(format!("no result for topic {n}"))),
                            |r| kafka_error(r.error_code, &r.error_message),
                        );
                        (n.clone(), result)
                    })
                    .collect())
            }
        })
    }

    /// Every config of each resource, with its source.
    pub fn describe_configs(
        &self,
        resources: &[ConfigResource],
        timeout: Option<Duration>,
    ) -> Result<Vec<(ConfigResource, Result<Vec<ConfigEntry>>)>> {
        let resources = resources.to_vec();
        self.run(timeout, move |cluster, _| {
            let resources = resources.clone();
            async move {
                let response = cluster.call(None, |_| describe_configs_request(&resources)).await?;
                Ok(describe_configs_results(&resources, &response))
            }
        })
    }

    /// Applies incremental config changes (set, delete, append, subtract) per resource.
    pub fn incremental_alter_configs(
        &self,
        changes: &[(ConfigResource, Vec<AlterConfigOp>)],
        validate_only: bool,
        timeout: Option<Duration>,
    ) -> Result<Vec<(ConfigResource, Result<()>)>> {
        let changes = changes.to_vec();
        self.run(timeout, move |cluster, _| {
            let changes = changes.clone();
            async move {
                let response =
                    cluster.call(None, |_| incremental_alter_configs_request(&changes, validate_only)).await?;
                Ok(incremental_alter_configs_results(&changes, &response))
            }
        })
    }

    /// Every group on every broker.
    pub fn list_groups(&self, timeout: Option<Duration>) -> Result<Vec<GroupListing>> {
        self.run(timeout, |cluster, _| async move {
            let metadata = cluster.refresh(None, false).await?;
            let mut groups = Vec::new();
            for &node in metadata.brokers.keys() {
                let response = cluster.call(Some(node), |_| ListGroupsRequest::default()).await?;
                groups.extend(list_groups_result(&response)?);
            }
            groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
            Ok(groups)
        })
    }

    /// State, assignor and members (with their assignments) of each group: a consumer protocol group (KIP-848)
    /// through ConsumerGroupDescribe, a classic one through DescribeGroups, as Kafka's admin does.
    pub fn describe_groups(
        &self,
        group_ids: &[String],
        timeout: Option<Duration>,
    ) -> Result<Vec<(String, Result<GroupDescription>)>> {
        let mut out = Vec::new();
        for group in group_ids {
            let g = group.clone();
            let result = self.run(timeout, move |cluster, deadline| {
                let g = g.clone();
                async move {
                    let coordinator = cluster.find_coordinator(0, &g, deadline).await?;
                    match describe_consumer_group(&cluster, coordinator, &g).await {
                        Ok(Some(description)) => Ok(description),
                        Ok(None) => describe_classic_group(&cluster, coordinator, &g).await,
                        Err(e) => Err(e),
                    }
                }
            });
            out.push((group.clone(), result));
        }
        Ok(out)
    }

    /// A group's committed offsets (all partitions, or the ones given).
    pub fn list_consumer_group_offsets(
        &self,
        group_id: &str,
        partitions: Option<&[TopicPartition]>,
        timeout: Option<Duration>,
    ) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>> {
        let g = group_id.to_string();
        let partitions = partitions.map(|p| p.to_vec());
        self.run(timeout, move |cluster, deadline| {
            let (g, partitions) = (g.clone(), partitions.clone());
            async move {
                let coordinator = cluster.find_coordinator(0, &g, deadline).await?;
                fetch_offsets(&cluster, coordinator, &g, partitions.as_deref(), false).await
            }
        })
    }

    /// Sets a group's committed offsets (the group must have no active members, as in Kafka).
    pub fn alter_consumer_group_offsets(
        &self,
        group_id: &str,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
        timeout: Option<Duration>,
    ) -> Result<Vec<(TopicPartition, Result<()>)>> {
        let g = group_id.to_string();
        let offsets = offsets.clone();
        self.run(timeout, move |cluster, deadline| {
            let (g, offsets) = (g.clone(), offsets.clone());
            async move {
                let coordinator = cluster.find_coordinator(0, &g, deadline).await?;
                commit_offsets(&cluster, coordinator, &g, -1, "", None, &offsets).await
            }
        })
    }

    /// Deletes groups (they must be empty).
    pub fn delete_groups(&self, group_ids: &[String], timeout: Option<Duration>) -> Result<Vec<(String, Result<()>)>> {
        let mut out = Vec::new();
        for group in group_ids {
            let g = group.clone();
            let result = self.run(timeout, move |cluster, deadline| {
                let g = g.clone();
                async move {
                    let coordinator = cluster.find_coordinator(0, &g, deadline).await?;
                    let response =
                        cluster.call(Some(coordinator), |_| delete_groups_request(std::slice::from_ref(&g))).await?;
                    delete_groups_results(std::slice::from_ref(&g), &response).pop().map_or(Ok(()), |(_, r)| r)
                }
            });
            out.push((group.clone(), result));
        }
        Ok(out)
    }

    /// Offsets by spec for each partition (asked of each partition's leader).
    pub fn list_offsets(
        &self,
        specs: &[(TopicPartition, OffsetSpec)],
        isolation_level: IsolationLevel,
        timeout: Option<Duration>,
    ) -> Result<Vec<(TopicPartition, Result<ListOffsetsInfo>)>> {
        let specs = specs.to_vec();
        self.run(timeout, move |cluster, deadline| {
            let specs = specs.clone();
            async move { list_offsets(&cluster, &specs, isolation_level, deadline).await }
        })
    }

    /// Moves each partition's log start offset up to the given offset (-1: the high watermark).
    pub fn delete_records(
        &self,
        before: &[(TopicPartition, i64)],
        timeout: Option<Duration>,
    ) -> Result<Vec<(TopicPartition, Result<i64>)>> {
        let before = before.to_vec();
        let timeout_ms = self.deadline(timeout).1.as_millis().min(i32::MAX as u128) as i32;
        self.run(timeout, move |cluster, deadline| {
            let before = before.clone();
            async move {
                let by_leader =
                    group_by_leader(&cluster, before.iter().map(|(tp, o)| (tp.clone(), *o)), deadline).await?;
                let mut out = Vec::new();
                for (leader, items) in by_leader {
                    let items = match leader {
                        Err(e) => {
                            out.extend(items.into_iter().map(|(tp, _)| (tp, Err(e.clone()))));
                            continue;
                        }
                        Ok(_) => items,
                    };
                    let response = cluster
                        .call(leader.ok(), |_| {
                            DeleteRecordsRequest::default().with_timeout_ms(timeout_ms).with_topics(
                                by_topic(&items)
                                    .into_iter()
                                    .map(|(t, ps)| {
                                        delete_records_request::DeleteRecordsTopic::default()
                                            .with_name(topic_name(&t))
                                            .with_partitions(
                                                ps.iter()
                                                    .map(|(p, o)| {
                                                        delete_records_request::DeleteRecordsPartition::default()
                                                            .with_partition_index(*p)
                                                            .with_offset(*o)
                                                    })
                                                    .collect(),
                                            )
                                    })
                                    .collect(),
                            )
                        })
                        .await?;
                    for (tp, _) in items {
                        let r = response
                            .topics
                            .iter()
                            .filter(|t| t.name.0.as_str() == tp.topic)
                            .flat_map(|t| t.partitions.iter())
                            .find(|p| p.partition_index == tp.partition);
                        let result = r.map_or_else(
                            || Err(ClientError::Protocol(format!("no result for {tp}"))),
                            |p| ClientError::check(p.error_code).map(|_| p.low_watermark),
                        );
                        out.push((tp, result));
                    }
                }
                Ok(out)
            }
        })
    }
}

/// CreateTopics for `topics`.
pub(crate) fn create_topics_request(topics: &[NewTopic], validate_only: bool, timeout_ms: i32) -> CreateTopicsRequest {
    CreateTopicsRequest::default().with_timeout_ms(timeout_ms).with_validate_only(validate_only).with_topics(
        topics
            .iter()
            .map(|t| {
                create_topics_request::CreatableTopic::default()
                    .with_name(topic_name(&t.name))
                    .with_num_partitions(t.num_partitions)
                    .with_replication_factor(t.replication_factor)
                    .with_assignments(
                        t.replica_assignment
                            .iter()
                            .map(|(p, ids)| {
                                create_topics_request::CreatableReplicaAssignment::default()
                                    .with_partition_index(*p)
                                    .with_broker_ids(ids.iter().map(|&i| BrokerId(i)).collect())
                            })
                            .collect(),
                    )
                    .with_configs(
                        t.configs
                            .iter()
                            .map(|(k, v)| {
                                create_topics_request::CreatableTopicConfig::default()
                                    .with_name(sb(k))
                                    .with_value(Some(sb(v)))
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}

/// Each topic's outcome in a CreateTopics answer.
pub(crate) fn create_topics_results(topics: &[NewTopic], response: &CreateTopicsResponse) -> Vec<(String, Result<()>)> {
    topics
        .iter()
        .map(|t| {
            let result = response.topics.iter().find(|r| r.name.0.as_str() == t.name).map_or_else(
                || Err(ClientError::Protocol(format!("no result for topic {}", t.name))),
                |r| kafka_error(r.error_code, &r.error_message),
            );
            (t.name.clone(), result)
        })
        .collect()
}

/// DeleteTopics by name (v6 names topics in `topics`, earlier versions in `topic_names`).
pub(crate) fn delete_topics_request(names: &[String], timeout_ms: i32, version: i16) -> DeleteTopicsRequest {
    let request = DeleteTopicsRequest::default().with_timeout_ms(timeout_ms);
    if version >= 6 {
        request.with_topics(
            names
                .iter()
                .map(|n| delete_topics_request::DeleteTopicState::default().with_name(Some(topic_name(n))))
                .collect(),
        )
    } else {
        request.with_topic_names(names.iter().map(|n| topic_name(n)).collect())
    }
}

/// Each topic's outcome in a DeleteTopics answer.
pub(crate) fn delete_topics_results(names: &[String], response: &DeleteTopicsResponse) -> Vec<(String, Result<()>)> {
    names
        .iter()
        .map(|n| {
            let r = response.responses.iter().find(|r| r.name.as_ref().is_some_and(|x| x.0.as_str() == n));
            let result = r.map_or_else(
                || Err(ClientError::Protocol(format!("no result for topic {n}"))),
                |r| kafka_error(r.error_code, &r.error_message),
            );
            (n.clone(), result)
        })
        .collect()
}

/// DescribeConfigs of every config of each resource.
pub(crate) fn describe_configs_request(resources: &[ConfigResource]) -> DescribeConfigsRequest {
    DescribeConfigsRequest::default().with_resources(
        resources
            .iter()
            .map(|r| {
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(r.resource_type as i8)
                    .with_resource_name(sb(&r.name))
                    // Null asks for every config, as Kafka's admin client does.
                    .with_configuration_keys(None)
            })
            .collect(),
    )
}

/// Each resource's configs in a DescribeConfigs answer.
pub(crate) fn describe_configs_results(
    resources: &[ConfigResource],
    response: &DescribeConfigsResponse,
) -> Vec<(ConfigResource, Result<Vec<ConfigEntry>>)> {
    resources
        .iter()
        .map(|r| {
            let found = response
                .results
                .iter()
                .find(|x| x.resource_type == r.resource_type as i8 && x.resource_name.as_str() == r.name);
            let result = match found {
                None => Err(ClientError::Protocol(format!("no result for {}", r.name))),
                Some(x) => kafka_error(x.error_code, &x.error_message).map(|_| {
                    x.configs
                        .iter()
                        .map(|c| ConfigEntry {
                            name: c.name.to_string(),
                            value: c.value.as_ref().map(|v| v.to_string()),
                            source: c.config_source,
                            is_default: c.config_source == 5,
                            read_only: c.read_only,
                            sensitive: c.is_sensitive,
                        })
                        .collect()
                }),
            };
            (r.clone(), result)
        })
        .collect()
}

/// IncrementalAlterConfigs of each resource.
pub(crate) fn incremental_alter_configs_request(
    changes: &[(ConfigResource, Vec<AlterConfigOp>)],
    validate_only: bool,
) -> IncrementalAlterConfigsRequest {
    IncrementalAlterConfigsRequest::default().with_validate_only(validate_only).with_resources(
        changes
            .iter()
            .map(|(r, ops)| {
                incremental_alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(r.resource_type as i8)
                    .with_resource_name(sb(&r.name))
                    .with_configs(
                        ops.iter()
                            .map(|o| {
                                incremental_alter_configs_request::AlterableConfig::default()
                                    .with_name(sb(&o.name))
                                    .with_config_operation(o.op as i8)
                                    .with_value(o.value.as_deref().map(sb))
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}

/// Each resource's outcome in an IncrementalAlterConfigs answer.
pub(crate) fn incremental_alter_configs_results(
    changes: &[(ConfigResource, Vec<AlterConfigOp>)],
    response: &IncrementalAlterConfigsResponse,
) -> Vec<(ConfigResource, Result<()>)> {
    changes
        .iter()
        .map(|(r, _)| {
            let found = response
                .responses
                .iter()
                .find(|x| x.resource_type == r.resource_type as i8 && x.resource_name.as_str() == r.name);
            let result = found.map_or_else(
                || Err(ClientError::Protocol(format!("no result for {}", r.name))),
                |x| kafka_error(x.error_code, &x.error_message),
            );
            (r.clone(), result)
        })
        .collect()
}

/// The groups in one broker's ListGroups answer.
pub(crate) fn list_groups_result(response: &ListGroupsResponse) -> Result<Vec<GroupListing>> {
    ClientError::check(response.error_code)?;
    Ok(response
        .groups
        .iter()
        .map(|g| GroupListing {
            group_id: g.group_id.0.to_string(),
            protocol_type: g.protocol_type.to_string(),
            state: g.group_state.to_string(),
            group_type: g.group_type.to_string(),
        })
        .collect())
}

/// DescribeGroups (classic groups) of groups with one coordinator.
pub(crate) fn describe_groups_request(group_ids: &[String]) -> DescribeGroupsRequest {
    DescribeGroupsRequest::default().with_groups(group_ids.iter().map(|g| GroupId(sb(g))).collect())
}

/// Each group's description in a DescribeGroups answer from `coordinator`.
pub(crate) fn describe_groups_results(
    group_ids: &[String],
    response: &DescribeGroupsResponse,
    coordinator: i32,
) -> Vec<(String, Result<GroupDescription>)> {
    group_ids
        .iter()
        .map(|g| {
            let result = match response.groups.iter().find(|d| d.group_id.0.as_str() == g) {
                None => Err(ClientError::Protocol(format!("no DescribeGroups result for {g}"))),
                Some(d) => kafka_error(d.error_code, &d.error_message).map(|()| GroupDescription {
                    group_id: d.group_id.0.to_string(),
                    state: d.group_state.to_string(),
                    protocol_type: d.protocol_type.to_string(),
                    protocol: d.protocol_data.to_string(),
                    coordinator,
                    group_epoch: None,
                    target_assignment_epoch: None,
                    members: d
                        .members
                        .iter()
                        .map(|m| MemberDescription {
                            member_id: m.member_id.to_string(),
                            group_instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
                            client_id: m.client_id.to_string(),
                            host: m.client_host.to_string(),
                            assignment: if d.protocol_type.as_str() == "consumer" {
                                decode_assignment(&m.member_assignment)
                            } else {
                                Vec::new()
                            },
                            target_assignment: Vec::new(),
                            member_epoch: None,
                            upgraded: None,
                        })
                        .collect(),
                }),
            };
            (g.clone(), result)
        })
        .collect()
}

/// DeleteGroups of groups with one coordinator.
pub(crate) fn delete_groups_request(group_ids: &[String]) -> DeleteGroupsRequest {
    DeleteGroupsRequest::default().with_groups_names(group_ids.iter().map(|g| GroupId(sb(g))).collect())
}

/// Each group's outcome in a DeleteGroups answer.
pub(crate) fn delete_groups_results(
    group_ids: &[String],
    response: &DeleteGroupsResponse,
) -> Vec<(String, Result<()>)> {
    group_ids
        .iter()
        .map(|g| {
            let result = response.results.iter().find(|r| r.group_id.0.as_str() == g).map_or_else(
                || Err(ClientError::Protocol(format!("no DeleteGroups result for {g}"))),
                |r| ClientError::check(r.error_code),
            );
            (g.clone(), result)
        })
        .collect()
}
