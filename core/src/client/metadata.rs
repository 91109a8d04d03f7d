//! What a client knows of the cluster's layout: brokers, topics, partitions and their leaders. Plain data with
//! no IO, so the sans-IO client state machines (the producer's [`Sender`](crate::client::producer::sender::Sender))
//! read it on every target; natively, `client::cluster` fills it from Metadata responses.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

/// One broker as the cluster describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

/// One partition's replicas and leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub partition: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline_replicas: Vec<i32>,
    pub error_code: i16,
}

/// A topic's partitions (sorted by partition index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub name: String,
    pub topic_id: uuid::Uuid,
    pub is_internal: bool,
    pub error_code: i16,
    pub partitions: Vec<PartitionMetadata>,
}

impl TopicMetadata {
    pub fn partition(&self, partition: i32) -> Option<&PartitionMetadata> {
        self.partitions.iter().find(|p| p.partition == partition)
    }
}

/// A snapshot of cluster metadata.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    pub brokers: BTreeMap<i32, BrokerInfo>,
    pub topics: HashMap<String, TopicMetadata>,
    /// Topics a refresh reported an error for (e.g. UNKNOWN_TOPIC_OR_PARTITION), with the code.
    pub topic_errors: HashMap<String, i16>,
}

impl Metadata {
    /// The Metadata request for `topics` (`None`: every topic).
    pub fn request(topics: Option<&[String]>, allow_auto_create: bool) -> MetadataRequest {
        MetadataRequest::default()
            .with_topics(topics.map(|ts| {
                ts.iter()
                    .map(|t| {
                        MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                    })
                    .collect()
            }))
            .with_allow_auto_topic_creation(allow_auto_create)
    }

    /// Merges a Metadata answer into this snapshot: brokers and cluster are replaced, the topics answered are
    /// replaced (a topic answered with an error and no partitions moves to `topic_errors`), and with `all_topics`
    /// (the request asked for every topic) topics not answered are forgotten.
    pub fn apply(&mut self, response: &MetadataResponse, all_topics: bool) {
        self.cluster_id = response.cluster_id.as_ref().map(|s| s.to_string());
        self.controller_id = response.controller_id.0;
        self.brokers = response
            .brokers
            .iter()
            .map(|b| {
                (
                    b.node_id.0,
                    BrokerInfo {
                        node_id: b.node_id.0,
                        host: b.host.to_string(),
                        port: b.port,
                        rack: b.rack.as_ref().map(|r| r.to_string()),
                    },
                )
            })
            .collect();
        if all_topics {
            self.topics.clear();
            self.topic_errors.clear();
        }
        for t in &response.topics {
            let Some(name) = t.name.as_ref().map(|n| n.0.to_string()) else { continue };
            if t.error_code != 0 && t.partitions.is_empty() {
                self.topics.remove(&name);
                self.topic_errors.insert(name, t.error_code);
                continue;
            }
            self.topic_errors.remove(&name);
            let mut partitions: Vec<PartitionMetadata> = t
                .partitions
                .iter()
                .map(|p| PartitionMetadata {
                    partition: p.partition_index,
                    leader: p.leader_id.0,
                    leader_epoch: p.leader_epoch,
                    replicas: p.replica_nodes.iter().map(|n| n.0).collect(),
                    isr: p.isr_nodes.iter().map(|n| n.0).collect(),
                    offline_replicas: p.offline_replicas.iter().map(|n| n.0).collect(),
                    error_code: p.error_code,
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            self.topics.insert(
                name.clone(),
                TopicMetadata {
                    name,
                    topic_id: t.topic_id,
                    is_internal: t.is_internal,
                    error_code: t.error_code,
                    partitions,
                },
            );
        }
    }

    pub fn leader_for(&self, topic: &str, partition: i32) -> Option<i32> {
        let leader = self.topics.get(topic)?.partition(partition)?.leader;
        (leader >= 0).then_some(leader)
    }
}

#[cfg(test)]
impl Metadata {
    /// Metadata for the state machines' tests: each topic's partitions, in order, led by the given brokers
    /// (each partition's only replica).
    pub(crate) fn with_leaders(topics: &[(&str, &[i32])]) -> Metadata {
        let mut metadata = Metadata::default();
        for &(topic, leaders) in topics {
            let partitions = leaders
                .iter()
                .enumerate()
                .map(|(i, &leader)| PartitionMetadata {
                    partition: i as i32,
                    leader,
                    leader_epoch: 0,
                    replicas: vec![leader],
                    isr: vec![leader],
                    offline_replicas: vec![],
                    error_code: 0,
                })
                .collect();
            let name = topic.to_string();
            metadata.topics.insert(
                name.clone(),
                TopicMetadata { name, topic_id: Default::default(), is_internal: false, error_code: 0, partitions },
            );
        }
        metadata
    }
}
