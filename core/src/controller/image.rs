//! The metadata image: the cluster as the records applied so far describe it — features, brokers and their
//! registrations, topics with their partitions (replicas, ISR, leader, epochs) and configs, broker configs,
//! producer ids. Applying a record is deterministic, so every node that applies the same log holds the same
//! image. [`MetadataImage::to_records`] writes an image back as records (snapshots, migrations).

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use super::records::{
    Endpoint, MetadataRecord, PartitionChange, PartitionRecord, RegisterBroker, CONFIG_RESOURCE_BROKER,
    CONFIG_RESOURCE_TOPIC, NO_LEADER_CHANGE,
};

/// The internal topics: clients may read them but not write them, and Metadata flags them.
pub const INTERNAL_TOPICS: &[&str] = &["__consumer_offsets", "__transaction_state"];

/// A partition as the metadata sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionImage {
    pub partition: i32,
    /// -1 when the partition has no leader (offline).
    pub leader: i32,
    pub leader_epoch: i32,
    /// Bumped on every change of the partition's leader, replicas or ISR.
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub removing_replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
    /// 1 while recovering from an unclean leader election.
    pub leader_recovery_state: i8,
}

impl PartitionImage {
    fn from_record(r: &PartitionRecord) -> Self {
        PartitionImage {
            partition: r.partition_id,
            leader: r.leader,
            leader_epoch: r.leader_epoch,
            partition_epoch: r.partition_epoch,
            replicas: r.replicas.clone(),
            isr: r.isr.clone(),
            removing_replicas: r.removing_replicas.clone(),
            adding_replicas: r.adding_replicas.clone(),
            leader_recovery_state: r.leader_recovery_state,
        }
    }

    /// The record that creates this partition as it is now.
    pub fn to_record(&self, topic_id: Uuid) -> PartitionRecord {
        PartitionRecord {
            partition_id: self.partition,
            topic_id,
            replicas: self.replicas.clone(),
            isr: self.isr.clone(),
            removing_replicas: self.removing_replicas.clone(),
            adding_replicas: self.adding_replicas.clone(),
            leader: self.leader,
            leader_recovery_state: self.leader_recovery_state,
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            directories: Vec::new(),
        }
    }

    /// Kafka's PartitionRegistration.merge: the fields a change sets, a new leader epoch when it names a
    /// leader, and a new partition epoch always.
    fn merge(&mut self, c: &PartitionChange) {
        if let Some(isr) = &c.isr {
            self.isr = isr.clone();
        }
        if c.leader != NO_LEADER_CHANGE {
            self.leader = c.leader;
            self.leader_epoch += 1;
        }
        if let Some(replicas) = &c.replicas {
            self.replicas = replicas.clone();
        }
        if let Some(v) = &c.removing_replicas {
            self.removing_replicas = v.clone();
        }
        if let Some(v) = &c.adding_replicas {
            self.adding_replicas = v.clone();
        }
        if c.leader_recovery_state != -1 {
            self.leader_recovery_state = c.leader_recovery_state;
        }
        self.partition_epoch += 1;
    }

    /// Replicas that are not in the ISR.
    pub fn offline_or_lagging(&self) -> impl Iterator<Item = i32> + '_ {
        self.replicas.iter().copied().filter(|r| !self.isr.contains(r))
    }
}

/// A topic as the metadata sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    pub name: String,
    pub id: Uuid,
    /// Partitions in id order (partition `i` at index `i`).
    pub partitions: Vec<PartitionImage>,
    /// Config overrides set on the topic (not the defaults).
    pub configs: BTreeMap<String, String>,
}

impl TopicImage {
    /// The partition with this index, if the topic has it.
    pub fn partition(&self, index: i32) -> Option<&PartitionImage> {
        usize::try_from(index).ok().and_then(|i| self.partitions.get(i))
    }

    pub fn is_internal(&self) -> bool {
        INTERNAL_TOPICS.contains(&self.name.as_str())
    }
}

/// A broker's registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerImage {
    pub id: i32,
    pub epoch: i64,
    /// The metadata offset of the registration: a broker whose metadata reached it has caught up.
    pub registration_offset: i64,
    pub incarnation_id: Uuid,
    pub endpoints: Vec<Endpoint>,
    pub rack: Option<String>,
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
}

impl BrokerImage {
    /// The endpoint of the listener `name`, if the broker registered one.
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.name == name)
    }
}

/// The current state of the cluster metadata.
#[derive(Debug, Clone)]
pub struct MetadataImage {
    pub features: BTreeMap<String, i16>,
    pub brokers: BTreeMap<i32, BrokerImage>,
    pub topics: BTreeMap<String, TopicImage>,
    pub topic_ids: HashMap<Uuid, String>,
    /// Dynamic broker configs set for the whole cluster (resource name "").
    pub broker_configs: BTreeMap<String, String>,
    /// Dynamic broker configs set for one broker.
    pub broker_overrides: BTreeMap<i32, BTreeMap<String, String>>,
    /// The first producer id never reserved.
    pub next_producer_id: i64,
    /// The metadata log offset of the last record applied (-1 before any).
    pub offset: i64,
    /// Configs recorded for a topic name before its TopicRecord (none in potok's own logs, but a log may hold
    /// them in either order).
    pending_topic_configs: BTreeMap<String, BTreeMap<String, String>>,
}

impl Default for MetadataImage {
    fn default() -> Self {
        MetadataImage {
            features: BTreeMap::new(),
            brokers: BTreeMap::new(),
            topics: BTreeMap::new(),
            topic_ids: HashMap::new(),
            broker_configs: BTreeMap::new(),
            broker_overrides: BTreeMap::new(),
            next_producer_id: 0,
            offset: -1,
            pending_topic_configs: BTreeMap::new(),
        }
    }
}

impl MetadataImage {
    /// Applies the record that follows the last one applied.
    pub fn apply(&mut self, record: &MetadataRecord) {
        self.apply_at(record, self.offset + 1);
    }

    /// Notes that the log moved on to `offset` without a record for the image (a control record).
    pub fn skip_to(&mut self, offset: i64) {
        self.offset = self.offset.max(offset);
    }

    /// Applies the record stored at `offset` of the metadata log.
    pub fn apply_at(&mut self, record: &MetadataRecord, offset: i64) {
        self.offset = self.offset.max(offset);
        match record {
            MetadataRecord::RegisterBroker(r) => self.register(r),
            MetadataRecord::UnregisterBroker { broker_id, .. } => {
                self.brokers.remove(broker_id);
            }
            MetadataRecord::FenceBroker { id, epoch } | MetadataRecord::UnfenceBroker { id, epoch } => {
                let fenced = matches!(record, MetadataRecord::FenceBroker { .. });
                if let Some(b) = self.brokers.get_mut(id).filter(|b| b.epoch == *epoch) {
                    b.fenced = fenced;
                }
            }
            MetadataRecord::BrokerRegistrationChange { broker_id, broker_epoch, fenced, in_controlled_shutdown } => {
                if let Some(b) = self.brokers.get_mut(broker_id).filter(|b| b.epoch == *broker_epoch) {
                    if *fenced != 0 {
                        b.fenced = *fenced == 1;
                    }
                    if *in_controlled_shutdown == 1 {
                        b.in_controlled_shutdown = true;
                    }
                }
            }
            MetadataRecord::Topic { name, topic_id } => {
                let configs = self.pending_topic_configs.remove(name).unwrap_or_default();
                self.topic_ids.insert(*topic_id, name.clone());
                self.topics.insert(
                    name.clone(),
                    TopicImage { name: name.clone(), id: *topic_id, partitions: Vec::new(), configs },
                );
            }
            MetadataRecord::Partition(p) => {
                let Some(topic) = self.topic_ids.get(&p.topic_id).and_then(|n| self.topics.get_mut(n)) else { return };
                let image = PartitionImage::from_record(p);
                match usize::try_from(p.partition_id) {
                    Ok(i) if i < topic.partitions.len() => topic.partitions[i] = image,
                    Ok(i) if i == topic.partitions.len() => topic.partitions.push(image),
                    // Partitions are created in order; a gap would make ids and positions disagree.
                    _ => {}
                }
            }
            MetadataRecord::PartitionChange(c) => {
                let topic = self.topic_ids.get(&c.topic_id).and_then(|n| self.topics.get_mut(n));
                if let Some(p) =
                    topic.and_then(|t| usize::try_from(c.partition_id).ok().and_then(|i| t.partitions.get_mut(i)))
                {
                    p.merge(c);
                }
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                if let Some(name) = self.topic_ids.remove(topic_id) {
                    self.topics.remove(&name);
                }
            }
            MetadataRecord::Config { resource_type, resource_name, name, value } => {
                let configs = match *resource_type {
                    CONFIG_RESOURCE_TOPIC => match self.topics.get_mut(resource_name) {
                        Some(t) => &mut t.configs,
                        None => self.pending_topic_configs.entry(resource_name.clone()).or_default(),
                    },
                    CONFIG_RESOURCE_BROKER if resource_name.is_empty() => &mut self.broker_configs,
                    CONFIG_RESOURCE_BROKER => match resource_name.parse() {
                        Ok(id) => self.broker_overrides.entry(id).or_default(),
                        Err(_) => return,
                    },
                    _ => return,
                };
                match value {
                    Some(v) => {
                        configs.insert(name.clone(), v.clone());
                    }
                    None => {
                        configs.remove(name);
                    }
                }
            }
            MetadataRecord::FeatureLevel { name, level } => {
                self.features.insert(name.clone(), *level);
            }
            MetadataRecord::ProducerIds { next_producer_id, .. } => {
                self.next_producer_id = self.next_producer_id.max(*next_producer_id)
            }
            MetadataRecord::NoOp => {}
        }
    }

    fn register(&mut self, r: &RegisterBroker) {
        self.brokers.insert(
            r.broker_id,
            BrokerImage {
                id: r.broker_id,
                epoch: r.broker_epoch,
                registration_offset: self.offset,
                incarnation_id: r.incarnation_id,
                endpoints: r.endpoints.clone(),
                rack: r.rack.clone(),
                fenced: r.fenced,
                in_controlled_shutdown: r.in_controlled_shutdown,
            },
        );
    }

    pub fn topic_by_id(&self, id: &Uuid) -> Option<&TopicImage> {
        self.topic_ids.get(id).and_then(|name| self.topics.get(name))
    }

    /// Brokers that are registered and not fenced: the ones that may lead and take new replicas.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerImage> {
        self.brokers.values().filter(|b| !b.fenced)
    }

    /// Records that rebuild this image from nothing, in an order that applies cleanly (what a snapshot holds).
    pub fn to_records(&self) -> Vec<MetadataRecord> {
        let mut out = Vec::new();
        for (name, level) in &self.features {
            out.push(MetadataRecord::FeatureLevel { name: name.clone(), level: *level });
        }
        for b in self.brokers.values() {
            out.push(MetadataRecord::RegisterBroker(RegisterBroker {
                broker_id: b.id,
                incarnation_id: b.incarnation_id,
                broker_epoch: b.epoch,
                endpoints: b.endpoints.clone(),
                features: Vec::new(),
                rack: b.rack.clone(),
                fenced: b.fenced,
                in_controlled_shutdown: b.in_controlled_shutdown,
                log_dirs: Vec::new(),
            }));
        }
        let config = |resource_type: i8, resource_name: &str, (k, v): (&String, &String)| MetadataRecord::Config {
            resource_type,
            resource_name: resource_name.to_string(),
            name: k.clone(),
            value: Some(v.clone()),
        };
        out.extend(self.broker_configs.iter().map(|kv| config(CONFIG_RESOURCE_BROKER, "", kv)));
        for (id, configs) in &self.broker_overrides {
            out.extend(configs.iter().map(|kv| config(CONFIG_RESOURCE_BROKER, &id.to_string(), kv)));
        }
        for t in self.topics.values() {
            out.push(MetadataRecord::Topic { name: t.name.clone(), topic_id: t.id });
            out.extend(t.configs.iter().map(|kv| config(CONFIG_RESOURCE_TOPIC, &t.name, kv)));
            out.extend(t.partitions.iter().map(|p| MetadataRecord::Partition(p.to_record(t.id))));
        }
        if self.next_producer_id > 0 {
            out.push(MetadataRecord::ProducerIds {
                broker_id: -1,
                broker_epoch: -1,
                next_producer_id: self.next_producer_id,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(id: i32, topic_id: Uuid, replicas: Vec<i32>) -> MetadataRecord {
        MetadataRecord::Partition(PartitionRecord {
            partition_id: id,
            topic_id,
            isr: replicas.clone(),
            leader: replicas[0],
            replicas,
            removing_replicas: vec![],
            adding_replicas: vec![],
            leader_recovery_state: 0,
            leader_epoch: 0,
            partition_epoch: 0,
            directories: vec![],
        })
    }

    #[test]
    fn changes_move_epochs_as_kafka_does() {
        let id = Uuid::from_u128(5);
        let mut image = MetadataImage::default();
        image.apply(&MetadataRecord::Topic { name: "t".into(), topic_id: id });
        image.apply(&partition(0, id, vec![1, 2, 3]));
        image.apply(&MetadataRecord::PartitionChange(PartitionChange {
            isr: Some(vec![1, 3]),
            ..PartitionChange::new(id, 0)
        }));
        let p = &image.topics["t"].partitions[0];
        assert_eq!((p.leader, p.leader_epoch, p.partition_epoch, p.isr.clone()), (1, 0, 1, vec![1, 3]));
        image.apply(&MetadataRecord::PartitionChange(PartitionChange { leader: 3, ..PartitionChange::new(id, 0) }));
        let p = &image.topics["t"].partitions[0];
        assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (3, 1, 2));
        image.apply(&MetadataRecord::RemoveTopic { topic_id: id });
        assert!(image.topics.is_empty() && image.topic_ids.is_empty());
    }

    #[test]
    fn an_image_written_as_records_rebuilds_itself() {
        let id = Uuid::from_u128(9);
        let mut image = MetadataImage::default();
        let records = vec![
            MetadataRecord::FeatureLevel { name: "metadata.version".into(), level: 27 },
            MetadataRecord::RegisterBroker(RegisterBroker {
                broker_id: 1,
                incarnation_id: Uuid::from_u128(3),
                broker_epoch: 8,
                endpoints: vec![],
                features: vec![],
                rack: None,
                fenced: true,
                in_controlled_shutdown: false,
                log_dirs: vec![],
            }),
            MetadataRecord::UnfenceBroker { id: 1, epoch: 8 },
            MetadataRecord::Topic { name: "t".into(), topic_id: id },
            MetadataRecord::Config {
                resource_type: CONFIG_RESOURCE_TOPIC,
                resource_name: "t".into(),
                name: "retention.ms".into(),
                value: Some("5".into()),
            },
            partition(0, id, vec![1]),
            partition(1, id, vec![1]),
            MetadataRecord::Config {
                resource_type: CONFIG_RESOURCE_BROKER,
                resource_name: String::new(),
                name: "log.retention.ms".into(),
                value: Some("7".into()),
            },
            MetadataRecord::ProducerIds { broker_id: 1, broker_epoch: 8, next_producer_id: 1000 },
        ];
        for r in &records {
            image.apply(r);
        }
        assert!(!image.brokers[&1].fenced);
        let mut rebuilt = MetadataImage::default();
        for r in image.to_records() {
            rebuilt.apply(&r);
        }
        assert_eq!(rebuilt.topics, image.topics);
        assert_eq!(rebuilt.brokers, image.brokers);
        assert_eq!(rebuilt.broker_configs, image.broker_configs);
        assert_eq!((rebuilt.next_producer_id, rebuilt.features.clone()), (1000, image.features.clone()));
    }
}
