//! The admin client: core's `potok::client::admin::Admin` on a worker thread. Results come back per item
//! (a topic, a group, a partition) with an `error` that is null or the data of a typed error, which the
//! JavaScript layer turns into its kafkajs-shaped answers.

use std::collections::BTreeMap;

use napi::bindgen_prelude::Object;
use napi::Env;
use napi_derive::napi;
use potok::client::admin::{Admin, IsolationLevel, NewTopic, OffsetSpec};
use potok::client::{ClientError, OffsetAndMetadata, TopicPartition};
use potok::host::records::parse_offset;

use crate::error::Failure;
use crate::producer::{pairs, timeout};
use crate::worker::{run_plain, Worker};
use crate::ConfigEntry;

/// The data of a typed error, for per-item results (the JavaScript layer makes it a PotokError subclass).
#[napi(object)]
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub potok_kind: String,
    pub code: Option<i32>,
    #[napi(js_name = "type")]
    pub kind: String,
    pub retriable: bool,
    pub message: String,
}

impl From<ClientError> for ErrorInfo {
    fn from(e: ClientError) -> ErrorInfo {
        let e = potok::host::HostError::from(e);
        ErrorInfo {
            potok_kind: crate::error::class(e.kind).to_string(),
            code: e.code.map(i32::from),
            kind: e.name,
            retriable: e.retriable,
            message: e.message,
        }
    }
}

fn error_of<T>(result: Result<T, ClientError>) -> (Option<T>, Option<ErrorInfo>) {
    match result {
        Ok(v) => (Some(v), None),
        Err(e) => (None, Some(e.into())),
    }
}

#[napi(object)]
#[derive(Debug, Clone)]
pub struct NewTopicSpec {
    pub name: String,
    /// -1: the broker's `num.partitions`.
    pub num_partitions: i32,
    /// -1: the broker's `default.replication.factor`.
    pub replication_factor: i32,
    pub configs: Vec<ConfigEntry>,
}

/// The outcome for one named item (topic, group).
#[napi(object)]
#[derive(Debug, Clone)]
pub struct ItemResult {
    pub name: String,
    pub error: Option<ErrorInfo>,
}

#[napi(object)]
#[derive(Debug, Clone)]
pub struct PartitionDescription {
    pub partition: i32,
    pub error_code: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline_replicas: Vec<i32>,
}

#[napi(object)]
#[derive(Debug, Clone)]
pub struct TopicDescription {
    pub name: String,
    pub error: Option<ErrorInfo>,
    pub is_internal: bool,
    pub partitions: Vec<PartitionDescription>,
}

#[napi(object)]
#[derive(Debug, Clone)]
pub struct BrokerDescription {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

#[napi(object)]
#[derive(Debug, Clone)]
pub struct ClusterInfo {
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    pub brokers: Vec<BrokerDescription>,
}

#[napi(object)]
#[derive(Debug, Clone)]
pub struct PartitionCount {
    pub topic: String,
    pub count: i32,
}

/// A ListOffsets query: `spec` is -2 (earliest), -1 (latest), -3 (max timestamp) or a timestamp in ms.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct OffsetQuery {
    pub topic: String,
    pub partition: i32,
    pub spec: f64,
}

#[napi(object)]
#[derive(Debug, Clone)]
pub struct PartitionOffset {
    pub topic: String,
    pub partition: i32,
    /// -1 where no record matched a timestamp query, or on error. Decimal text, as kafkajs gives offsets: a
    /// JavaScript number loses offsets above 2^53.
    pub offset: String,
    pub timestamp: f64,
    pub metadata: Option<String>,
    pub error: Option<ErrorInfo>,
}

#[napi(object)]
#[derive(Debug, Clone)]
pub struct GroupInfo {
    pub group_id: String,
    pub protocol_type: String,
    pub state: String,
    pub group_type: String,
}

#[napi(object)]
#[derive(Debug, Clone)]
pub struct TopicPartitionSpec {
    pub topic: String,
    pub partition: i32,
}

#[napi(object)]
#[derive(Debug, Clone)]
pub struct MemberInfo {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub host: String,
    pub assignment: Vec<TopicPartitionSpec>,
}

#[napi(object)]
#[derive(Debug, Clone)]
pub struct GroupDescriptionInfo {
    pub group_id: String,
    pub error: Option<ErrorInfo>,
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberInfo>,
}

/// Kafka's admin client (`bootstrap.servers`, `request.timeout.ms`, `default.api.timeout.ms`, ...).
#[napi]
#[derive(Debug)]
pub struct NativeAdmin {
    admin: Admin,
    worker: Worker,
}

fn to_i32(n: i64) -> i32 {
    n.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

#[napi]
impl NativeAdmin {
    #[napi(constructor)]
    pub fn new(env: Env, config: Vec<ConfigEntry>) -> napi::Result<NativeAdmin> {
        let admin = Admin::new(&pairs(&config)).map_err(|e| Failure::from(e).into_js(&env))?;
        let worker = Worker::new("potok-node-admin").map_err(|f| f.into_js(&env))?;
        Ok(NativeAdmin { admin, worker })
    }

    /// Calls `callback` (on the JavaScript thread) for each failed broker connection.
    #[napi(ts_args_type = "callback: (failure: ConnectionFailureInfo) => void")]
    pub fn on_connection_error(
        &self,
        callback: napi::bindgen_prelude::Function<crate::events::ConnectionFailureInfo, ()>,
    ) -> napi::Result<()> {
        self.admin.set_connection_listener(crate::events::connection_listener(callback)?);
        Ok(())
    }

    #[napi(ts_return_type = "Promise<Array<ItemResult>>")]
    pub fn create_topics<'env>(
        &self,
        env: &'env Env,
        topics: Vec<NewTopicSpec>,
        validate_only: bool,
        timeout_ms: Option<f64>,
    ) -> napi::Result<Object<'env>> {
        let admin = self.admin.clone();
        run_plain(env, &self.worker, move || {
            let topics: Vec<NewTopic> = topics
                .iter()
                .map(|t| NewTopic {
                    configs: pairs(&t.configs),
                    ..NewTopic::new(t.name.clone(), t.num_partitions, to_i32(i64::from(t.replication_factor)) as i16)
                })
                .collect();
            let results = admin.create_topics(&topics, validate_only, timeout(timeout_ms))?;
            Ok(results.into_iter().map(|(name, r)| ItemResult { name, error: error_of(r).1 }).collect::<Vec<_>>())
        })
    }

    #[napi(ts_return_type = "Promise<Array<ItemResult>>")]
    pub fn delete_topics<'env>(
        &self,
        env: &'env Env,
        names: Vec<String>,
        timeout_ms: Option<f64>,
    ) -> napi::Result<Object<'env>> {
        let admin = self.admin.clone();
        run_plain(env, &self.worker, move || {
            let results = admin.delete_topics(&names, timeout(timeout_ms))?;
            Ok(results.into_iter().map(|(name, r)| ItemResult { name, error: error_of(r).1 }).collect::<Vec<_>>())
        })
    }

    #[napi(ts_return_type = "Promise<Array<string>>")]
    pub fn list_topics<'env>(&self, env: &'env Env, include_internal: bool) -> napi::Result<Object<'env>> {
        let admin = self.admin.clone();
        run_plain(env, &self.worker, move || Ok(admin.list_topics(include_internal, None)?))
    }

    #[napi(ts_return_type = "Promise<Array<TopicDescription>>")]
    pub fn describe_topics<'env>(&self, env: &'env Env, names: Vec<String>) -> napi::Result<Object<'env>> {
        let admin = self.admin.clone();
        run_plain(env, &self.worker, move || {
            let results = admin.describe_topics(&names, None)?;
            Ok(results
                .into_iter()
                .map(|(name, r)| match r {
                    Ok(t) => TopicDescription {
                        name,
                        error: None,
                        is_internal: t.is_internal,
                        partitions: t
                            .partitions
                            .into_iter()
                            .map(|p| PartitionDescription {
                                partition: p.partition,
                                error_code: i32::from(p.error_code),
                                leader: p.leader,
                                leader_epoch: p.leader_epoch,
                                replicas: p.replicas,
                                isr: p.isr,
                                offline_replicas: p.offline_replicas,
                            })
                            .collect(),
                    },
                    Err(e) => {
                        TopicDescription { name, error: Some(e.into()), is_internal: false, partitions: Vec::new() }
                    }
                })
                .collect::<Vec<_>>())
        })
    }

    #[napi(ts_return_type = "Promise<ClusterInfo>")]
    pub fn describe_cluster<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let admin = self.admin.clone();
        run_plain(env, &self.worker, move || {
            let cluster = admin.describe_cluster(None)?;
            let mut brokers: Vec<BrokerDescription> = cluster
                .brokers
                .into_iter()
                .map(|b| BrokerDescription { node_id: b.node_id, host: b.host, port: b.port, rack: b.rack })
                .collect();
            brokers.sort_by_key(|b| b.node_id);
            Ok(ClusterInfo { cluster_id: cluster.cluster_id, controller_id: cluster.controller_id, brokers })
        })
    }

    #[napi(ts_return_type = "Promise<Array<ItemResult>>")]
    pub fn create_partitions<'env>(
        &self,
        env: &'env Env,
        totals: Vec<PartitionCount>,
        validate_only: bool,
        timeout_ms: Option<f64>,
    ) -> napi::Result<Object<'env>> {
        let admin = self.admin.clone();
        run_plain(env, &self.worker, move || {
            let totals: Vec<(String, i32)> = totals.into_iter().map(|t| (t.topic, t.count)).collect();
            let results = admin.create_partitions(&totals, validate_only, timeout(timeout_ms))?;
            Ok(results.into_iter().map(|(name, r)| ItemResult { name, error: error_of(r).1 }).collect::<Vec<_>>())
        })
    }

    /// ListOffsets; `isolation_level` 0 (read_uncommitted) or 1 (read_committed).
    #[napi(ts_return_type = "Promise<Array<PartitionOffset>>")]
    pub fn list_offsets<'env>(
        &self,
        env: &'env Env,
        queries: Vec<OffsetQuery>,
        isolation_level: i32,
    ) -> napi::Result<Object<'env>> {
        let admin = self.admin.clone();
        run_plain(env, &self.worker, move || {
            let specs: Vec<(TopicPartition, OffsetSpec)> = queries
                .iter()
                .map(|q| {
                    let spec = match q.spec as i64 {
                        -2 => OffsetSpec::Earliest,
                        -1 => OffsetSpec::Latest,
                        -3 => OffsetSpec::MaxTimestamp,
                        t => OffsetSpec::Timestamp(t),
                    };
                    (TopicPartition::new(q.topic.clone(), q.partition), spec)
                })
                .collect();
            let isolation =
                if isolation_level == 1 { IsolationLevel::ReadCommitted } else { IsolationLevel::ReadUncommitted };
            let results = admin.list_offsets(&specs, isolation, None)?;
            Ok(results
                .into_iter()
                .map(|(tp, r)| {
                    let (info, error) = error_of(r);
                    PartitionOffset {
                        topic: tp.topic,
                        partition: tp.partition,
                        offset: info.map_or(-1, |i| i.offset).to_string(),
                        timestamp: info.map_or(-1.0, |i| i.timestamp as f64),
                        metadata: None,
                        error,
                    }
                })
                .collect::<Vec<_>>())
        })
    }

    #[napi(ts_return_type = "Promise<Array<GroupInfo>>")]
    pub fn list_groups<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let admin = self.admin.clone();
        run_plain(env, &self.worker, move || {
            Ok(admin
                .list_groups(None)?
                .into_iter()
                .map(|g| GroupInfo {
                    group_id: g.group_id,
                    protocol_type: g.protocol_type,
                    state: g.state,
                    group_type: g.group_type,
                })
                .collect::<Vec<_>>())
        })
    }

    #[napi(ts_return_type = "Promise<Array<GroupDescriptionInfo>>")]
    pub fn describe_groups<'env>(&self, env: &'env Env, group_ids: Vec<String>) -> napi::Result<Object<'env>> {
        let admin = self.admin.clone();
        run_plain(env, &self.worker, move || {
            Ok(admin
                .describe_groups(&group_ids, None)?
                .into_iter()
                .map(|(group_id, r)| match r {
                    Ok(g) => GroupDescriptionInfo {
                        group_id,
                        error: None,
                        state: g.state,
                        protocol_type: g.protocol_type,
                        protocol: g.protocol,
                        members: g
                            .members
                            .into_iter()
                            .map(|m| MemberInfo {
                                member_id: m.member_id,
                                group_instance_id: m.group_instance_id,
                                client_id: m.client_id,
                                host: m.host,
                                assignment: m
                                    .assignment
                                    .into_iter()
                                    .map(|tp| TopicPartitionSpec { topic: tp.topic, partition: tp.partition })
                                    .collect(),
                            })
                            .collect(),
                    },
                    Err(e) => GroupDescriptionInfo {
                        group_id,
                        error: Some(e.into()),
                        state: String::new(),
                        protocol_type: String::new(),
                        protocol: String::new(),
                        members: Vec::new(),
                    },
                })
                .collect::<Vec<_>>())
        })
    }

    /// A group's committed offsets (all of them when `partitions` is null).
    #[napi(ts_return_type = "Promise<Array<PartitionOffset>>")]
    pub fn list_consumer_group_offsets<'env>(
        &self,
        env: &'env Env,
        group_id: String,
        partitions: Option<Vec<TopicPartitionSpec>>,
    ) -> napi::Result<Object<'env>> {
        let admin = self.admin.clone();
        run_plain(env, &self.worker, move || {
            let partitions: Option<Vec<TopicPartition>> =
                partitions.map(|ps| ps.into_iter().map(|p| TopicPartition::new(p.topic, p.partition)).collect());
            let offsets = admin.list_consumer_group_offsets(&group_id, partitions.as_deref(), None)?;
            Ok(offsets
                .into_iter()
                .map(|(tp, o)| PartitionOffset {
                    topic: tp.topic,
                    partition: tp.partition,
                    offset: o.offset.to_string(),
                    timestamp: -1.0,
                    metadata: Some(o.metadata),
                    error: None,
                })
                .collect::<Vec<_>>())
        })
    }

    /// Sets a group's committed offsets (the group must have no active members, as in Kafka).
    #[napi(ts_return_type = "Promise<Array<PartitionOffset>>")]
    pub fn alter_consumer_group_offsets<'env>(
        &self,
        env: &'env Env,
        group_id: String,
        offsets: Vec<PartitionOffset>,
    ) -> napi::Result<Object<'env>> {
        let admin = self.admin.clone();
        run_plain(env, &self.worker, move || {
            let offsets: BTreeMap<TopicPartition, OffsetAndMetadata> = offsets
                .into_iter()
                .map(|o| {
                    let metadata = OffsetAndMetadata {
                        offset: parse_offset(&o.offset)?,
                        leader_epoch: None,
                        metadata: o.metadata.unwrap_or_default(),
                    };
                    Ok((TopicPartition::new(o.topic, o.partition), metadata))
                })
                .collect::<Result<_, Failure>>()?;
            let results = admin.alter_consumer_group_offsets(&group_id, &offsets, None)?;
            Ok(results
                .into_iter()
                .map(|(tp, r)| {
                    let offset = offsets.get(&tp).map_or(-1, |o| o.offset).to_string();
                    PartitionOffset {
                        topic: tp.topic,
                        partition: tp.partition,
                        offset,
                        timestamp: -1.0,
                        metadata: None,
                        error: error_of(r).1,
                    }
                })
                .collect::<Vec<_>>())
        })
    }

    #[napi(ts_return_type = "Promise<Array<ItemResult>>")]
    pub fn delete_groups<'env>(&self, env: &'env Env, group_ids: Vec<String>) -> napi::Result<Object<'env>> {
        let admin = self.admin.clone();
        run_plain(env, &self.worker, move || {
            let results = admin.delete_groups(&group_ids, None)?;
            Ok(results.into_iter().map(|(name, r)| ItemResult { name, error: error_of(r).1 }).collect::<Vec<_>>())
        })
    }

    /// Deletes records before the given offsets; resolves with each partition's new low watermark.
    #[napi(ts_return_type = "Promise<Array<PartitionOffset>>")]
    pub fn delete_records<'env>(&self, env: &'env Env, before: Vec<PartitionOffset>) -> napi::Result<Object<'env>> {
        let admin = self.admin.clone();
        run_plain(env, &self.worker, move || {
            let before: Vec<(TopicPartition, i64)> = before
                .into_iter()
                .map(|o| Ok((TopicPartition::new(o.topic, o.partition), parse_offset(&o.offset)?)))
                .collect::<Result<_, Failure>>()?;
            let results = admin.delete_records(&before, None)?;
            Ok(results
                .into_iter()
                .map(|(tp, r)| {
                    let (low, error) = error_of(r);
                    PartitionOffset {
                        topic: tp.topic,
                        partition: tp.partition,
                        offset: low.map_or(-1, |l| l).to_string(),
                        timestamp: -1.0,
                        metadata: None,
                        error,
                    }
                })
                .collect::<Vec<_>>())
        })
    }
}
