//! What a client knows of the cluster's layout: brokers, topics, partitions and their leaders. Plain data with
//! no IO, so the sans-IO client state machines (the producer's [`Sender`](crate::client::producer::sender::Sender))
//! read it on every target; natively, `client::cluster` fills it from Metadata responses.

use std::collections::{BTreeMap, HashMap};

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
