//! The in-page admin: Kafka's admin calls as requests to a broker in memory, built and read by the same
//! functions as the native admin's (`client::admin`, `client::requests`). Each call is one request on the
//! admin's connection (the page's broker is every partition's leader and every group's coordinator); answers
//! become plain data for the page. A call whose items failed reports the first failure, with Kafka's error name.

use std::collections::BTreeMap;

use kafka_protocol::messages::{
    CreateTopicsRequest, DeleteGroupsRequest, DeleteTopicsRequest, DescribeConfigsRequest, DescribeGroupsRequest,
    IncrementalAlterConfigsRequest, ListGroupsRequest, ListOffsetsRequest, MetadataRequest, OffsetFetchRequest,
};
use serde_json::{json, Value};

use super::link::{decode, Link};
use super::Ticket;
use crate::client::admin::{self, AlterConfigOp, ConfigResource, NewTopic};
use crate::client::metadata::Metadata;
use crate::client::requests;
use crate::client::{ClientError, IsolationLevel, OffsetSpec, TopicPartition};
use crate::host::memory::{MemoryBroker, RequestId};
use crate::host::HostError;

/// An admin call and what reading its answer needs.
#[derive(Debug, Clone)]
pub enum AdminCall {
    CreateTopics {
        topics: Vec<NewTopic>,
        validate_only: bool,
        timeout_ms: i32,
    },
    DeleteTopics {
        names: Vec<String>,
        timeout_ms: i32,
    },
    /// Topic names, sorted (internal topics when asked).
    ListTopics {
        include_internal: bool,
    },
    /// Partitions, leaders, replicas and ISR of each topic (every topic when `None`).
    DescribeTopics {
        names: Option<Vec<String>>,
    },
    DescribeConfigs {
        resources: Vec<ConfigResource>,
    },
    IncrementalAlterConfigs {
        changes: Vec<(ConfigResource, Vec<AlterConfigOp>)>,
        validate_only: bool,
    },
    ListGroups,
    DescribeGroups {
        group_ids: Vec<String>,
    },
    DeleteGroups {
        group_ids: Vec<String>,
    },
    /// A group's committed offsets (every partition when `None`).
    ListGroupOffsets {
        group_id: String,
        partitions: Option<Vec<TopicPartition>>,
    },
    ListOffsets {
        specs: Vec<(TopicPartition, OffsetSpec)>,
        isolation_level: IsolationLevel,
    },
}

#[derive(Debug)]
pub(super) struct PageAdmin {
    pub link: Link<(Ticket, AdminCall)>,
    pub client_id: String,
}

impl PageAdmin {
    /// Sends the call's request; its answer comes as [`super::Outcome::Admin`] for `ticket`.
    pub fn call(
        &mut self,
        broker: &mut MemoryBroker,
        ticket: Ticket,
        call: AdminCall,
        now_ms: i64,
    ) -> Result<(), ClientError> {
        let tag = (ticket, call.clone());
        let link = &mut self.link;
        match call {
            AdminCall::CreateTopics { topics, validate_only, timeout_ms } => {
                link.send(broker, now_ms, tag, |_| admin::create_topics_request(&topics, validate_only, timeout_ms))
            }
            AdminCall::DeleteTopics { names, timeout_ms } => {
                link.send(broker, now_ms, tag, |v| admin::delete_topics_request(&names, timeout_ms, v))
            }
            AdminCall::ListTopics { .. } => link.send(broker, now_ms, tag, |_| Metadata::request(None, false)),
            AdminCall::DescribeTopics { names } => {
                link.send(broker, now_ms, tag, |_| Metadata::request(names.as_deref(), false))
            }
            AdminCall::DescribeConfigs { resources } => {
                link.send(broker, now_ms, tag, |_| admin::describe_configs_request(&resources))
            }
            AdminCall::IncrementalAlterConfigs { changes, validate_only } => {
                link.send(broker, now_ms, tag, |_| admin::incremental_alter_configs_request(&changes, validate_only))
            }
            AdminCall::ListGroups => link.send(broker, now_ms, tag, |_| ListGroupsRequest::default()),
            AdminCall::DescribeGroups { group_ids } => {
                link.send(broker, now_ms, tag, |_| admin::describe_groups_request(&group_ids))
            }
            AdminCall::DeleteGroups { group_ids } => {
                link.send(broker, now_ms, tag, |_| admin::delete_groups_request(&group_ids))
            }
            AdminCall::ListGroupOffsets { group_id, partitions } => link.send(broker, now_ms, tag, |v| {
                requests::offset_fetch_request(&group_id, partitions.as_deref(), false, v)
            }),
            AdminCall::ListOffsets { specs, isolation_level } => {
                link.send(broker, now_ms, tag, |_| requests::list_offsets_request(&specs, isolation_level))
            }
        }
        .map(|_| ())
    }

    /// Reads the answer to one of the admin's requests: the ticket and the call's result.
    pub fn on_answer(
        &mut self,
        id: RequestId,
        frame: Result<Option<Vec<u8>>, HostError>,
    ) -> Option<(Ticket, Result<Value, ClientError>)> {
        let sent = self.link.answered(id)?;
        let (ticket, call) = sent.tag;
        Some((ticket, read(call, frame, sent.version)))
    }
}

fn first_error<K, T>(results: Vec<(K, Result<T, ClientError>)>) -> Result<Vec<(K, T)>, ClientError> {
    results.into_iter().map(|(k, r)| r.map(|v| (k, v))).collect()
}

fn tp_json(tp: &TopicPartition) -> Value {
    json!({"topic": tp.topic, "partition": tp.partition})
}

fn read(call: AdminCall, frame: Result<Option<Vec<u8>>, HostError>, version: i16) -> Result<Value, ClientError> {
    match call {
        AdminCall::CreateTopics { topics, .. } => {
            let response = decode::<CreateTopicsRequest>(frame, version)?;
            let created = first_error(admin::create_topics_results(&topics, &response))?;
            Ok(json!(created.into_iter().map(|(name, ())| name).collect::<Vec<_>>()))
        }
        AdminCall::DeleteTopics { names, .. } => {
            let response = decode::<DeleteTopicsRequest>(frame, version)?;
            let deleted = first_error(admin::delete_topics_results(&names, &response))?;
            Ok(json!(deleted.into_iter().map(|(name, ())| name).collect::<Vec<_>>()))
        }
        AdminCall::ListTopics { include_internal } => {
            let response = decode::<MetadataRequest>(frame, version)?;
            let mut metadata = Metadata::default();
            metadata.apply(&response, true);
            let mut names: Vec<String> = metadata
                .topics
                .values()
                .filter(|t| include_internal || !t.is_internal)
                .map(|t| t.name.clone())
                .collect();
            names.sort();
            Ok(json!(names))
        }
        AdminCall::DescribeTopics { names } => {
            let response = decode::<MetadataRequest>(frame, version)?;
            let mut metadata = Metadata::default();
            metadata.apply(&response, names.is_none());
            let names = names.unwrap_or_else(|| {
                let mut all: Vec<String> = metadata.topics.keys().cloned().collect();
                all.sort();
                all
            });
            let mut out = Vec::new();
            for name in names {
                let Some(t) = metadata.topics.get(&name) else {
                    return Err(ClientError::from_code(metadata.topic_errors.get(&name).copied().unwrap_or(3), None));
                };
                out.push(json!({
                    "name": t.name,
                    "topicId": t.topic_id.to_string(),
                    "internal": t.is_internal,
                    "partitions": t.partitions.iter().map(|p| json!({
                        "partition": p.partition,
                        "leader": p.leader,
                        "leaderEpoch": p.leader_epoch,
                        "replicas": p.replicas,
                        "isr": p.isr,
                    })).collect::<Vec<_>>(),
                }));
            }
            Ok(Value::Array(out))
        }
        AdminCall::DescribeConfigs { resources } => {
            let response = decode::<DescribeConfigsRequest>(frame, version)?;
            let described = first_error(admin::describe_configs_results(&resources, &response))?;
            Ok(Value::Array(
                described
                    .into_iter()
                    .map(|(r, entries)| {
                        json!({
                            "type": resource_type_name(r.resource_type),
                            "name": r.name,
                            "configs": entries.iter().map(|e| json!({
                                "name": e.name,
                                "value": e.value,
                                "source": config_source_name(e.source),
                                "isDefault": e.is_default,
                                "readOnly": e.read_only,
                                "sensitive": e.sensitive,
                            })).collect::<Vec<_>>(),
                        })
                    })
                    .collect(),
            ))
        }
        AdminCall::IncrementalAlterConfigs { changes, .. } => {
            let response = decode::<IncrementalAlterConfigsRequest>(frame, version)?;
            let altered = first_error(admin::incremental_alter_configs_results(&changes, &response))?;
            Ok(Value::Array(
                altered
                    .into_iter()
                    .map(|(r, ())| json!({"type": resource_type_name(r.resource_type), "name": r.name}))
                    .collect(),
            ))
        }
        AdminCall::ListGroups => {
            let response = decode::<ListGroupsRequest>(frame, version)?;
            let mut groups = admin::list_groups_result(&response)?;
            groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
            Ok(Value::Array(
                groups
                    .into_iter()
                    .map(|g| {
                        json!({"groupId": g.group_id, "protocolType": g.protocol_type, "state": g.state, "type": g.group_type})
                    })
                    .collect(),
            ))
        }
        AdminCall::DescribeGroups { group_ids } => {
            let response = decode::<DescribeGroupsRequest>(frame, version)?;
            let described = first_error(admin::describe_groups_results(&group_ids, &response, -1))?;
            Ok(Value::Array(
                described
                    .into_iter()
                    .map(|(_, d)| {
                        json!({
                            "groupId": d.group_id,
                            "state": d.state,
                            "protocolType": d.protocol_type,
                            "protocol": d.protocol,
                            "members": d.members.iter().map(|m| json!({
                                "memberId": m.member_id,
                                "groupInstanceId": m.group_instance_id,
                                "clientId": m.client_id,
                                "host": m.host,
                                "assignment": m.assignment.iter().map(tp_json).collect::<Vec<_>>(),
                            })).collect::<Vec<_>>(),
                        })
                    })
                    .collect(),
            ))
        }
        AdminCall::DeleteGroups { group_ids } => {
            let response = decode::<DeleteGroupsRequest>(frame, version)?;
            let deleted = first_error(admin::delete_groups_results(&group_ids, &response))?;
            Ok(json!(deleted.into_iter().map(|(g, ())| g).collect::<Vec<_>>()))
        }
        AdminCall::ListGroupOffsets { .. } => {
            let response = decode::<OffsetFetchRequest>(frame, version)?;
            let offsets = requests::offset_fetch_result(&response)?;
            Ok(offsets_json(&offsets))
        }
        AdminCall::ListOffsets { specs, .. } => {
            let response = decode::<ListOffsetsRequest>(frame, version)?;
            let listed = first_error(requests::list_offsets_results(&specs, &response))?;
            Ok(Value::Array(
                listed
                    .into_iter()
                    .map(|(tp, info)| {
                        json!({
                            "topic": tp.topic,
                            "partition": tp.partition,
                            "offset": info.offset,
                            "timestamp": info.timestamp,
                            "leaderEpoch": info.leader_epoch,
                        })
                    })
                    .collect(),
            ))
        }
    }
}

/// Committed offsets as the page reads them: `[{topic, partition, offset, leaderEpoch, metadata}]`.
pub fn offsets_json(offsets: &BTreeMap<TopicPartition, crate::client::OffsetAndMetadata>) -> Value {
    Value::Array(
        offsets
            .iter()
            .map(|(tp, o)| {
                json!({
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "offset": o.offset,
                    "leaderEpoch": o.leader_epoch,
                    "metadata": o.metadata,
                })
            })
            .collect(),
    )
}

fn resource_type_name(t: admin::ResourceType) -> &'static str {
    match t {
        admin::ResourceType::Topic => "topic",
        admin::ResourceType::Broker => "broker",
        admin::ResourceType::BrokerLogger => "broker_logger",
        admin::ResourceType::Group => "group",
    }
}

/// Kafka's `ConfigSource` names.
fn config_source_name(source: i8) -> &'static str {
    match source {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        7 => "CLIENT_METRICS_CONFIG",
        8 => "GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}
