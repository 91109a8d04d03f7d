//! Metadata: brokers, cluster id, controller, and topics with their partitions, leaders, replicas and ISR.
//! Asking for a topic that does not exist creates it when `auto.create.topics.enable` and the request allow.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use uuid::Uuid;

use super::{
    check_topic_name, str_bytes, Broker, AUTHORIZED_OPERATIONS_OMITTED, CLUSTER_AUTHORIZED_OPERATIONS,
    TOPIC_AUTHORIZED_OPERATIONS,
};
use crate::controller::{MetadataImage, TopicImage};

fn topic_response(image: &MetadataImage, topic: &TopicImage, version: i16) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .iter()
        .map(|p| {
            // A replica on a broker that is gone or fenced is offline; a partition without a leader answers
            // LEADER_NOT_AVAILABLE, as Kafka's does.
            let offline: Vec<BrokerId> = p
                .replicas
                .iter()
                .copied()
                .filter(|r| image.brokers.get(r).is_none_or(|b| b.fenced))
                .map(BrokerId)
                .collect();
            let error = if p.leader < 0 { ResponseError::LeaderNotAvailable.code() } else { 0 };
            MetadataResponsePartition::default()
                .with_error_code(error)
                .with_partition_index(p.partition)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(if version >= 7 { p.leader_epoch } else { -1 })
                .with_replica_nodes(p.replicas.iter().copied().map(BrokerId).collect())
                .with_isr_nodes(p.isr.iter().copied().map(BrokerId).collect())
                .with_offline_replicas(if version >= 5 { offline } else { Vec::new() })
        })
        .collect();
    let mut t = MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(&topic.name))))
        .with_is_internal(version >= 1 && topic.is_internal())
        .with_partitions(partitions);
    if version >= 10 {
        t = t.with_topic_id(topic.id);
    }
    t
}

fn error_topic(name: Option<String>, id: Uuid, error: ResponseError) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(name.map(|n| TopicName(str_bytes(n))))
        .with_topic_id(id)
        .with_error_code(error.code())
}

/// The brokers clients may use: registered and unfenced, at their endpoint for `listener` (the listener the
/// request came in on).
pub(super) fn live_brokers(image: &MetadataImage, listener: &str, version: i16) -> Vec<MetadataResponseBroker> {
    image
        .live_brokers()
        .filter_map(|b| {
            let e = b.endpoint(listener).or_else(|| b.endpoints.first())?;
            Some(
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(b.id))
                    .with_host(str_bytes(&e.host))
                    .with_port(i32::from(e.port))
                    .with_rack(if version >= 1 { b.rack.as_deref().map(str_bytes) } else { None }),
            )
        })
        .collect()
}

pub(super) fn handle(broker: &Broker, request: MetadataRequest, version: i16, now_ms: i64) -> MetadataResponse {
    // Version 0 has no way to say "all topics" except an empty list; later versions use null.
    let requested = match request.topics {
        Some(list) if !(version == 0 && list.is_empty()) => Some(list),
        _ => None,
    };
    let allow_auto_create = version < 4 || request.allow_auto_topic_creation;
    let mut topics = Vec::new();
    match requested {
        None => {
            let image = broker.metadata();
            topics.extend(image.topics.values().map(|t| topic_response(&image, t, version)));
        }
        Some(list) => {
            for wanted in list {
                let image = broker.metadata();
                let name = wanted.name.map(|n| n.0.to_string());
                let found = match &name {
                    Some(n) => image.topics.get(n),
                    None => image.topic_by_id(&wanted.topic_id),
                };
                if let Some(t) = found {
                    topics.push(topic_response(&image, t, version));
                    continue;
                }
                let Some(name) = name else {
                    topics.push(error_topic(None, wanted.topic_id, ResponseError::UnknownTopicId));
                    continue;
                };
                if check_topic_name(&name).is_err() {
                    topics.push(error_topic(Some(name), Uuid::nil(), ResponseError::InvalidTopicException));
                    continue;
                }
                if !(allow_auto_create && broker.config().auto_create_topics_enable) {
                    topics.push(error_topic(Some(name), Uuid::nil(), ResponseError::UnknownTopicOrPartition));
                    continue;
                }
                let partitions = broker.config().num_partitions;
                let created = broker.create_topic(&name, partitions, BTreeMap::new(), now_ms);
                let image = broker.metadata();
                match (created, image.topics.get(&name)) {
                    // Created now, or by another connection at the same moment.
                    (_, Some(t)) => topics.push(topic_response(&image, t, version)),
                    // The controller could not place it yet (no live broker): the client retries, as with Kafka.
                    (Err(_), None) => {
                        topics.push(error_topic(Some(name), Uuid::nil(), ResponseError::LeaderNotAvailable))
                    }
                    (Ok(_), None) => {
                        topics.push(error_topic(Some(name), Uuid::nil(), ResponseError::UnknownTopicOrPartition))
                    }
                }
            }
        }
    }
    if version >= 8 && request.include_topic_authorized_operations {
        for t in topics.iter_mut() {
            t.topic_authorized_operations = TOPIC_AUTHORIZED_OPERATIONS;
        }
    }
    let cluster_operations = if (8..=10).contains(&version) && request.include_cluster_authorized_operations {
        CLUSTER_AUTHORIZED_OPERATIONS
    } else {
        AUTHORIZED_OPERATIONS_OMITTED
    };
    let image = broker.metadata();
    MetadataResponse::default()
        .with_cluster_authorized_operations(cluster_operations)
        .with_brokers(live_brokers(&image, &broker.advertised().name, version))
        .with_cluster_id((version >= 2).then(|| str_bytes(broker.cluster_id())))
        .with_controller_id(BrokerId(if version >= 1 { broker.controller_id() } else { -1 }))
        .with_topics(topics)
}
