//! The JSON metadata records of potok's first data directories, read only to migrate them: each is applied
//! to a [`MetadataImage`] with the meaning it had (topics led by one broker, configs replaced whole).

use std::collections::BTreeMap;

use serde::Deserialize;
use uuid::Uuid;

use super::image::MetadataImage;
use super::records::{config_records, CONFIG_RESOURCE_BROKER, CONFIG_RESOURCE_TOPIC};
use super::{partition_records, topic_records, MetadataRecord};

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum LegacyRecord {
    Topic { name: String, id: Uuid, partitions: i32, leader: i32, configs: BTreeMap<String, String> },
    Partitions { name: String, count: i32 },
    TopicConfigs { name: String, configs: BTreeMap<String, String> },
    BrokerConfigs { configs: BTreeMap<String, String> },
    RemoveTopic { name: String },
    ProducerIds { next: i64 },
}

/// Applies one JSON record to `image`.
pub(super) fn apply(image: &mut MetadataImage, json: &[u8]) -> Result<(), serde_json::Error> {
    let records = match serde_json::from_slice(json)? {
        LegacyRecord::Topic { name, id, partitions, leader, configs } => {
            let assignments = vec![vec![leader]; partitions.max(0) as usize];
            topic_records(&name, id, &assignments, &configs, |_| true)
        }
        LegacyRecord::Partitions { name, count } => match image.topics.get(&name) {
            Some(t) => {
                let current = t.partitions.len() as i32;
                let leader = t.partitions.first().map_or(0, |p| p.leader);
                partition_records(t.id, current, &vec![vec![leader]; (count - current).max(0) as usize], |_| true)
            }
            None => Vec::new(),
        },
        LegacyRecord::TopicConfigs { name, configs } => match image.topics.get(&name) {
            Some(t) => config_records(CONFIG_RESOURCE_TOPIC, &name, &t.configs, &configs),
            None => Vec::new(),
        },
        LegacyRecord::BrokerConfigs { configs } => {
            config_records(CONFIG_RESOURCE_BROKER, "", &image.broker_configs, &configs)
        }
        LegacyRecord::RemoveTopic { name } => match image.topics.get(&name) {
            Some(t) => vec![MetadataRecord::RemoveTopic { topic_id: t.id }],
            None => Vec::new(),
        },
        LegacyRecord::ProducerIds { next } => {
            vec![MetadataRecord::ProducerIds { broker_id: -1, broker_epoch: -1, next_producer_id: next }]
        }
    };
    for r in &records {
        image.apply(r);
    }
    Ok(())
}
