//! Cluster metadata records in Kafka's own schemas (`metadata/src/main/resources/common/metadata/*.json`),
//! framed as Kafka's `MetadataRecordSerde` frames them: unsigned varints for the frame version (1), the
//! record's api key and its version, then the record in the flexible-version encoding (compact strings and
//! arrays, tagged fields). Stored as the values of key-less records in `__cluster_metadata-0`, so Kafka's
//! `kafka-dump-log --cluster-metadata-decoder` and metadata shell read potok's metadata log.
//!
//! Decoding is bounded: every length and count is checked against the bytes left before anything is
//! allocated, so a damaged record is an error, never an allocation bomb.

use std::collections::BTreeMap;

use uuid::Uuid;

/// The frame version `MetadataRecordSerde` writes.
const FRAME_VERSION: u32 = 1;

/// Config resource types, as ConfigRecord names them.
pub const CONFIG_RESOURCE_TOPIC: i8 = 2;
pub const CONFIG_RESOURCE_BROKER: i8 = 4;

/// The security protocol id of PLAINTEXT, as endpoints carry it.
pub const SECURITY_PROTOCOL_PLAINTEXT: i16 = 0;

/// A listener a broker or controller registered.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub security_protocol: i16,
}

/// The range of versions of a feature a node supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureRange {
    pub name: String,
    pub min_supported: i16,
    pub max_supported: i16,
}

/// RegisterBrokerRecord (api key 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterBroker {
    pub broker_id: i32,
    pub incarnation_id: Uuid,
    pub broker_epoch: i64,
    pub endpoints: Vec<Endpoint>,
    pub features: Vec<FeatureRange>,
    pub rack: Option<String>,
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
    pub log_dirs: Vec<Uuid>,
}

/// PartitionRecord (api key 3): a partition as created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRecord {
    pub partition_id: i32,
    pub topic_id: Uuid,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub removing_replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
    pub leader: i32,
    /// 1 while the partition recovers from an unclean leader election.
    pub leader_recovery_state: i8,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub directories: Vec<Uuid>,
}

/// The leader field of a PartitionChangeRecord that leaves the leader as it is.
pub const NO_LEADER_CHANGE: i32 = -2;

/// PartitionChangeRecord (api key 5): what changed in a partition; `None` fields are unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionChange {
    pub partition_id: i32,
    pub topic_id: Uuid,
    pub isr: Option<Vec<i32>>,
    /// [`NO_LEADER_CHANGE`] leaves the leader as it is; -1 means no leader.
    pub leader: i32,
    pub replicas: Option<Vec<i32>>,
    pub removing_replicas: Option<Vec<i32>>,
    pub adding_replicas: Option<Vec<i32>>,
    /// -1 leaves it as it is.
    pub leader_recovery_state: i8,
}

impl PartitionChange {
    /// A change of nothing yet, to fill in.
    pub fn new(topic_id: Uuid, partition_id: i32) -> Self {
        PartitionChange {
            partition_id,
            topic_id,
            isr: None,
            leader: NO_LEADER_CHANGE,
            replicas: None,
            removing_replicas: None,
            adding_replicas: None,
            leader_recovery_state: -1,
        }
    }
}

/// One change to the cluster metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataRecord {
    RegisterBroker(RegisterBroker),
    UnregisterBroker {
        broker_id: i32,
        broker_epoch: i64,
    },
    Topic {
        name: String,
        topic_id: Uuid,
    },
    Partition(PartitionRecord),
    /// A config of a topic or broker (`resource_name` "" is the cluster-wide default); `None` removes it.
    Config {
        resource_type: i8,
        resource_name: String,
        name: String,
        value: Option<String>,
    },
    PartitionChange(PartitionChange),
    FenceBroker {
        id: i32,
        epoch: i64,
    },
    UnfenceBroker {
        id: i32,
        epoch: i64,
    },
    RemoveTopic {
        topic_id: Uuid,
    },
    FeatureLevel {
        name: String,
        level: i16,
    },
    /// Producer ids below `next_producer_id` have been handed out (in a block to `broker_id`).
    ProducerIds {
        broker_id: i32,
        broker_epoch: i64,
        next_producer_id: i64,
    },
    /// Kafka's values: `fenced` -1 unfenced, 0 no change, 1 fenced; `in_controlled_shutdown` 0 no change, 1 in
    /// controlled shutdown (only a new registration ends one).
    BrokerRegistrationChange {
        broker_id: i32,
        broker_epoch: i64,
        fenced: i8,
        in_controlled_shutdown: i8,
    },
    NoOp,
}

/// Why a metadata record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("truncated {0}")]
    Truncated(&'static str),
    #[error("{what}: {value} exceeds what is left of the record")]
    TooLong { what: &'static str, value: u64 },
    #[error("unsupported metadata frame version {0}")]
    FrameVersion(u32),
    #[error("unknown metadata record type {0}")]
    UnknownType(u32),
    #[error("metadata record type {api_key} version {version} is not supported")]
    UnsupportedVersion { api_key: u32, version: u32 },
    #[error("{0} is not valid UTF-8")]
    Utf8(&'static str),
    #[error("{0} byte(s) left after the record")]
    Trailing(usize),
}

/// Writes the flexible-version encoding.
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn i8(&mut self, v: i8) {
        self.0.push(v as u8);
    }
    fn bool(&mut self, v: bool) {
        self.0.push(u8::from(v));
    }
    fn i16(&mut self, v: i16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn uuid(&mut self, v: &Uuid) {
        self.0.extend_from_slice(v.as_bytes());
    }
    fn string(&mut self, v: &str) {
        self.uvarint(v.len() as u64 + 1);
        self.0.extend_from_slice(v.as_bytes());
    }
    fn nullable_string(&mut self, v: Option<&str>) {
        match v {
            Some(s) => self.string(s),
            None => self.uvarint(0),
        }
    }
    fn i32s(&mut self, v: &[i32]) {
        self.uvarint(v.len() as u64 + 1);
        for x in v {
            self.i32(*x);
        }
    }
    fn uuids(&mut self, v: &[Uuid]) {
        self.uvarint(v.len() as u64 + 1);
        for x in v {
            self.uuid(x);
        }
    }
    fn no_tags(&mut self) {
        self.uvarint(0);
    }
    /// Tagged fields, in ascending tag order, each already encoded.
    fn tags(&mut self, tags: &[(u32, Vec<u8>)]) {
        self.uvarint(tags.len() as u64);
        for (tag, data) in tags {
            self.uvarint(u64::from(*tag));
            self.uvarint(data.len() as u64);
            self.0.extend_from_slice(data);
        }
    }
}

fn encoded(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::default();
    f(&mut w);
    w.0
}

/// Reads the flexible-version encoding, bounded by the bytes it holds.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], RecordError> {
        if self.0.len() < n {
            return Err(RecordError::Truncated(what));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn uvarint(&mut self, what: &'static str) -> Result<u64, RecordError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1, what)?[0];
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(RecordError::Truncated(what))
    }
    fn i8(&mut self, what: &'static str) -> Result<i8, RecordError> {
        Ok(self.take(1, what)?[0] as i8)
    }
    fn bool(&mut self, what: &'static str) -> Result<bool, RecordError> {
        Ok(self.take(1, what)?[0] != 0)
    }
    fn i16(&mut self, what: &'static str) -> Result<i16, RecordError> {
        let b = self.take(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, RecordError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self, what: &'static str) -> Result<i32, RecordError> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self, what: &'static str) -> Result<i64, RecordError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8, what)?);
        Ok(i64::from_be_bytes(a))
    }
    fn uuid(&mut self, what: &'static str) -> Result<Uuid, RecordError> {
        let mut a = [0u8; 16];
        a.copy_from_slice(self.take(16, what)?);
        Ok(Uuid::from_bytes(a))
    }
    /// A compact length: `None` for null, else the count, checked against the bytes left at `min_size` each.
    fn compact_len(&mut self, what: &'static str, min_size: usize) -> Result<Option<usize>, RecordError> {
        let n = self.uvarint(what)?;
        if n == 0 {
            return Ok(None);
        }
        let len = n - 1;
        if len.saturating_mul(min_size as u64) > self.0.len() as u64 {
            return Err(RecordError::TooLong { what, value: len });
        }
        Ok(Some(len as usize))
    }
    fn nullable_string(&mut self, what: &'static str) -> Result<Option<String>, RecordError> {
        let Some(len) = self.compact_len(what, 1)? else { return Ok(None) };
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map(Some).map_err(|_| RecordError::Utf8(what))
    }
    fn string(&mut self, what: &'static str) -> Result<String, RecordError> {
        Ok(self.nullable_string(what)?.unwrap_or_default())
    }
    fn nullable_i32s(&mut self, what: &'static str) -> Result<Option<Vec<i32>>, RecordError> {
        let Some(len) = self.compact_len(what, 4)? else { return Ok(None) };
        (0..len).map(|_| self.i32(what)).collect::<Result<Vec<_>, _>>().map(Some)
    }
    fn i32s(&mut self, what: &'static str) -> Result<Vec<i32>, RecordError> {
        Ok(self.nullable_i32s(what)?.unwrap_or_default())
    }
    fn uuids(&mut self, what: &'static str) -> Result<Vec<Uuid>, RecordError> {
        let Some(len) = self.compact_len(what, 16)? else { return Ok(Vec::new()) };
        (0..len).map(|_| self.uuid(what)).collect()
    }
    /// Reads a struct's tagged fields, handing each known one to `known` and skipping the rest.
    fn tags(
        &mut self,
        mut known: impl FnMut(u64, &mut Reader<'a>) -> Result<bool, RecordError>,
    ) -> Result<(), RecordError> {
        let count = self.uvarint("tagged field count")?;
        if count > self.0.len() as u64 {
            return Err(RecordError::TooLong { what: "tagged field count", value: count });
        }
        for _ in 0..count {
            let tag = self.uvarint("tag")?;
            let size = self.uvarint("tagged field size")?;
            if size > self.0.len() as u64 {
                return Err(RecordError::TooLong { what: "tagged field", value: size });
            }
            let mut field = Reader(self.take(size as usize, "tagged field")?);
            if !known(tag, &mut field)? {
                continue;
            }
        }
        Ok(())
    }
}

impl MetadataRecord {
    /// The record's api key (its type in `MetadataRecordType`).
    pub fn api_key(&self) -> u32 {
        match self {
            MetadataRecord::RegisterBroker(_) => 0,
            MetadataRecord::UnregisterBroker { .. } => 1,
            MetadataRecord::Topic { .. } => 2,
            MetadataRecord::Partition(_) => 3,
            MetadataRecord::Config { .. } => 4,
            MetadataRecord::PartitionChange(_) => 5,
            MetadataRecord::FenceBroker { .. } => 7,
            MetadataRecord::UnfenceBroker { .. } => 8,
            MetadataRecord::RemoveTopic { .. } => 9,
            MetadataRecord::FeatureLevel { .. } => 12,
            MetadataRecord::ProducerIds { .. } => 15,
            MetadataRecord::BrokerRegistrationChange { .. } => 17,
            MetadataRecord::NoOp => 20,
        }
    }

    /// The version potok writes (one Kafka 4.1 reads and writes).
    fn version(&self) -> u32 {
        match self {
            MetadataRecord::RegisterBroker(_) => 3,
            MetadataRecord::Partition(_) => 1,
            MetadataRecord::PartitionChange(_) => 1,
            MetadataRecord::BrokerRegistrationChange { .. } => 1,
            _ => 0,
        }
    }

    /// The record as a `__cluster_metadata` record value.
    pub fn encode(&self) -> Vec<u8> {
        let version = self.version();
        let mut w = Writer::default();
        w.uvarint(u64::from(FRAME_VERSION));
        w.uvarint(u64::from(self.api_key()));
        w.uvarint(u64::from(version));
        match self {
            MetadataRecord::RegisterBroker(r) => {
                w.i32(r.broker_id);
                // IsMigratingZkBroker (version 2+): never, there is no ZooKeeper.
                w.bool(false);
                w.uuid(&r.incarnation_id);
                w.i64(r.broker_epoch);
                w.uvarint(r.endpoints.len() as u64 + 1);
                for e in &r.endpoints {
                    w.string(&e.name);
                    w.string(&e.host);
                    w.u16(e.port);
                    w.i16(e.security_protocol);
                    w.no_tags();
                }
                w.uvarint(r.features.len() as u64 + 1);
                for f in &r.features {
                    w.string(&f.name);
                    w.i16(f.min_supported);
                    w.i16(f.max_supported);
                    w.no_tags();
                }
                w.nullable_string(r.rack.as_deref());
                w.bool(r.fenced);
                w.bool(r.in_controlled_shutdown);
                let dirs = encoded(|t| t.uuids(&r.log_dirs));
                w.tags(&[(0, dirs)]);
            }
            MetadataRecord::UnregisterBroker { broker_id, broker_epoch } => {
                w.i32(*broker_id);
                w.i64(*broker_epoch);
                w.no_tags();
            }
            MetadataRecord::Topic { name, topic_id } => {
                w.string(name);
                w.uuid(topic_id);
                w.no_tags();
            }
            MetadataRecord::Partition(p) => {
                w.i32(p.partition_id);
                w.uuid(&p.topic_id);
                w.i32s(&p.replicas);
                w.i32s(&p.isr);
                w.i32s(&p.removing_replicas);
                w.i32s(&p.adding_replicas);
                w.i32(p.leader);
                w.i32(p.leader_epoch);
                w.i32(p.partition_epoch);
                w.uuids(&p.directories);
                let mut tags = Vec::new();
                if p.leader_recovery_state != 0 {
                    tags.push((0, vec![p.leader_recovery_state as u8]));
                }
                w.tags(&tags);
            }
            MetadataRecord::Config { resource_type, resource_name, name, value } => {
                w.i8(*resource_type);
                w.string(resource_name);
                w.string(name);
                w.nullable_string(value.as_deref());
                w.no_tags();
            }
            MetadataRecord::PartitionChange(c) => {
                w.i32(c.partition_id);
                w.uuid(&c.topic_id);
                let mut tags = Vec::new();
                if let Some(isr) = &c.isr {
                    tags.push((0, encoded(|t| t.i32s(isr))));
                }
                if c.leader != NO_LEADER_CHANGE {
                    tags.push((1, c.leader.to_be_bytes().to_vec()));
                }
                if let Some(v) = &c.replicas {
                    tags.push((2, encoded(|t| t.i32s(v))));
                }
                if let Some(v) = &c.removing_replicas {
                    tags.push((3, encoded(|t| t.i32s(v))));
                }
                if let Some(v) = &c.adding_replicas {
                    tags.push((4, encoded(|t| t.i32s(v))));
                }
                if c.leader_recovery_state != -1 {
                    tags.push((5, vec![c.leader_recovery_state as u8]));
                }
                w.tags(&tags);
            }
            MetadataRecord::FenceBroker { id, epoch } | MetadataRecord::UnfenceBroker { id, epoch } => {
                w.i32(*id);
                w.i64(*epoch);
                w.no_tags();
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                w.uuid(topic_id);
                w.no_tags();
            }
            MetadataRecord::FeatureLevel { name, level } => {
                w.string(name);
                w.i16(*level);
                w.no_tags();
            }
            MetadataRecord::ProducerIds { broker_id, broker_epoch, next_producer_id } => {
                w.i32(*broker_id);
                w.i64(*broker_epoch);
                w.i64(*next_producer_id);
                w.no_tags();
            }
            MetadataRecord::BrokerRegistrationChange { broker_id, broker_epoch, fenced, in_controlled_shutdown } => {
                w.i32(*broker_id);
                w.i64(*broker_epoch);
                // Tagged fields are written only when they differ from their default (0, no change).
                let mut tags = Vec::new();
                if *fenced != 0 {
                    tags.push((0, vec![*fenced as u8]));
                }
                if *in_controlled_shutdown != 0 {
                    tags.push((1, vec![*in_controlled_shutdown as u8]));
                }
                w.tags(&tags);
            }
            MetadataRecord::NoOp => w.no_tags(),
        }
        w.0
    }

    /// Reads a record value. Versions potok does not know of a known type are refused rather than misread.
    pub fn decode(bytes: &[u8]) -> Result<MetadataRecord, RecordError> {
        let mut r = Reader(bytes);
        let frame = r.uvarint("frame version")? as u32;
        if frame != FRAME_VERSION {
            return Err(RecordError::FrameVersion(frame));
        }
        let api_key = r.uvarint("record type")? as u32;
        let version = r.uvarint("record version")? as u32;
        let max_version = match api_key {
            0 => 3,
            3 => 2,
            5 => 2,
            17 => 2,
            1 | 2 | 4 | 7 | 8 | 9 | 12 | 15 | 20 => 0,
            other => return Err(RecordError::UnknownType(other)),
        };
        if version > max_version {
            return Err(RecordError::UnsupportedVersion { api_key, version });
        }
        let record = match api_key {
            0 => {
                let broker_id = r.i32("broker id")?;
                if version >= 2 {
                    r.bool("is migrating zk broker")?;
                }
                let incarnation_id = r.uuid("incarnation id")?;
                let broker_epoch = r.i64("broker epoch")?;
                let n = r.compact_len("endpoints", 8)?.unwrap_or(0);
                let mut endpoints = Vec::with_capacity(n);
                for _ in 0..n {
                    let name = r.string("endpoint name")?;
                    let host = r.string("endpoint host")?;
                    let port = r.u16("endpoint port")?;
                    let security_protocol = r.i16("security protocol")?;
                    r.tags(|_, _| Ok(false))?;
                    endpoints.push(Endpoint { name, host, port, security_protocol });
                }
                let n = r.compact_len("features", 6)?.unwrap_or(0);
                let mut features = Vec::with_capacity(n);
                for _ in 0..n {
                    let name = r.string("feature name")?;
                    let min_supported = r.i16("min supported version")?;
                    let max_supported = r.i16("max supported version")?;
                    r.tags(|_, _| Ok(false))?;
                    features.push(FeatureRange { name, min_supported, max_supported });
                }
                let rack = r.nullable_string("rack")?;
                let fenced = r.bool("fenced")?;
                let in_controlled_shutdown = if version >= 1 { r.bool("in controlled shutdown")? } else { false };
                let mut log_dirs = Vec::new();
                r.tags(|tag, f| {
                    if tag == 0 && version >= 3 {
                        log_dirs = f.uuids("log dirs")?;
                        return Ok(true);
                    }
                    Ok(false)
                })?;
                MetadataRecord::RegisterBroker(RegisterBroker {
                    broker_id,
                    incarnation_id,
                    broker_epoch,
                    endpoints,
                    features,
                    rack,
                    fenced,
                    in_controlled_shutdown,
                    log_dirs,
                })
            }
            1 => {
                let broker_id = r.i32("broker id")?;
                let broker_epoch = r.i64("broker epoch")?;
                r.tags(|_, _| Ok(false))?;
                MetadataRecord::UnregisterBroker { broker_id, broker_epoch }
            }
            2 => {
                let name = r.string("topic name")?;
                let topic_id = r.uuid("topic id")?;
                r.tags(|_, _| Ok(false))?;
                MetadataRecord::Topic { name, topic_id }
            }
            3 => {
                let partition_id = r.i32("partition id")?;
                let topic_id = r.uuid("topic id")?;
                let replicas = r.i32s("replicas")?;
                let isr = r.i32s("isr")?;
                let removing_replicas = r.i32s("removing replicas")?;
                let adding_replicas = r.i32s("adding replicas")?;
                let leader = r.i32("leader")?;
                let leader_epoch = r.i32("leader epoch")?;
                let partition_epoch = r.i32("partition epoch")?;
                let directories = if version >= 1 { r.uuids("directories")? } else { Vec::new() };
                let mut leader_recovery_state = 0;
                r.tags(|tag, f| {
                    if tag == 0 {
                        leader_recovery_state = f.i8("leader recovery state")?;
                        return Ok(true);
                    }
                    Ok(false)
                })?;
                MetadataRecord::Partition(PartitionRecord {
                    partition_id,
                    topic_id,
                    replicas,
                    isr,
                    removing_replicas,
                    adding_replicas,
                    leader,
                    leader_recovery_state,
                    leader_epoch,
                    partition_epoch,
                    directories,
                })
            }
            4 => {
                let resource_type = r.i8("resource type")?;
                let resource_name = r.string("resource name")?;
                let name = r.string("config name")?;
                let value = r.nullable_string("config value")?;
                r.tags(|_, _| Ok(false))?;
                MetadataRecord::Config { resource_type, resource_name, name, value }
            }
            5 => {
                let partition_id = r.i32("partition id")?;
                let topic_id = r.uuid("topic id")?;
                let mut c = PartitionChange::new(topic_id, partition_id);
                r.tags(|tag, f| {
                    match tag {
                        0 => c.isr = f.nullable_i32s("isr")?,
                        1 => c.leader = f.i32("leader")?,
                        2 => c.replicas = f.nullable_i32s("replicas")?,
                        3 => c.removing_replicas = f.nullable_i32s("removing replicas")?,
                        4 => c.adding_replicas = f.nullable_i32s("adding replicas")?,
                        5 => c.leader_recovery_state = f.i8("leader recovery state")?,
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                MetadataRecord::PartitionChange(c)
            }
            7 | 8 => {
                let id = r.i32("broker id")?;
                let epoch = r.i64("broker epoch")?;
                r.tags(|_, _| Ok(false))?;
                if api_key == 7 {
                    MetadataRecord::FenceBroker { id, epoch }
                } else {
                    MetadataRecord::UnfenceBroker { id, epoch }
                }
            }
            9 => {
                let topic_id = r.uuid("topic id")?;
                r.tags(|_, _| Ok(false))?;
                MetadataRecord::RemoveTopic { topic_id }
            }
            12 => {
                let name = r.string("feature name")?;
                let level = r.i16("feature level")?;
                r.tags(|_, _| Ok(false))?;
                MetadataRecord::FeatureLevel { name, level }
            }
            15 => {
                let broker_id = r.i32("broker id")?;
                let broker_epoch = r.i64("broker epoch")?;
                let next_producer_id = r.i64("next producer id")?;
                r.tags(|_, _| Ok(false))?;
                MetadataRecord::ProducerIds { broker_id, broker_epoch, next_producer_id }
            }
            17 => {
                let broker_id = r.i32("broker id")?;
                let broker_epoch = r.i64("broker epoch")?;
                let (mut fenced, mut in_controlled_shutdown) = (0, 0);
                r.tags(|tag, f| {
                    match tag {
                        // Kafka never writes a tagged field at its default (0); potok's earlier builds wrote an
                        // unfencing as an explicit 0, read as what it meant.
                        0 => {
                            fenced = match f.i8("fenced")? {
                                0 => -1,
                                v => v,
                            }
                        }
                        1 => in_controlled_shutdown = f.i8("in controlled shutdown")?,
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                MetadataRecord::BrokerRegistrationChange { broker_id, broker_epoch, fenced, in_controlled_shutdown }
            }
            _ => {
                r.tags(|_, _| Ok(false))?;
                MetadataRecord::NoOp
            }
        };
        if !r.0.is_empty() {
            return Err(RecordError::Trailing(r.0.len()));
        }
        Ok(record)
    }
}

/// Config records setting `configs` on a resource, after removing the keys of `previous` that `configs` lacks
/// (Kafka records each key separately; a `None` value removes one).
pub fn config_records(
    resource_type: i8,
    resource_name: &str,
    previous: &BTreeMap<String, String>,
    configs: &BTreeMap<String, String>,
) -> Vec<MetadataRecord> {
    let removed = previous.keys().filter(|k| !configs.contains_key(*k)).map(|k| (k, None));
    let set = configs.iter().filter(|(k, v)| previous.get(*k) != Some(*v)).map(|(k, v)| (k, Some(v.clone())));
    removed
        .chain(set)
        .map(|(name, value)| MetadataRecord::Config {
            resource_type,
            resource_name: resource_name.to_string(),
            name: name.clone(),
            value,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<MetadataRecord> {
        let topic_id = Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0);
        vec![
            MetadataRecord::RegisterBroker(RegisterBroker {
                broker_id: 2,
                incarnation_id: Uuid::from_u128(7),
                broker_epoch: 42,
                endpoints: vec![Endpoint {
                    name: "PLAINTEXT".into(),
                    host: "localhost".into(),
                    port: 9093,
                    security_protocol: SECURITY_PROTOCOL_PLAINTEXT,
                }],
                features: vec![FeatureRange { name: "metadata.version".into(), min_supported: 7, max_supported: 27 }],
                rack: Some("r1".into()),
                fenced: true,
                in_controlled_shutdown: false,
                log_dirs: vec![Uuid::from_u128(9)],
            }),
            MetadataRecord::UnregisterBroker { broker_id: 2, broker_epoch: 42 },
            MetadataRecord::Topic { name: "invoice".into(), topic_id },
            MetadataRecord::Partition(PartitionRecord {
                partition_id: 4,
                topic_id,
                replicas: vec![1, 2, 3],
                isr: vec![1, 2],
                removing_replicas: vec![],
                adding_replicas: vec![3],
                leader: 1,
                leader_recovery_state: 1,
                leader_epoch: 5,
                partition_epoch: 6,
                directories: vec![Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3)],
            }),
            MetadataRecord::Config {
                resource_type: CONFIG_RESOURCE_TOPIC,
                resource_name: "invoice".into(),
                name: "segment.bytes".into(),
                value: Some("1000000".into()),
            },
            MetadataRecord::Config {
                resource_type: CONFIG_RESOURCE_BROKER,
                resource_name: String::new(),
                name: "log.retention.ms".into(),
                value: None,
            },
            MetadataRecord::PartitionChange(PartitionChange {
                isr: Some(vec![1]),
                leader: 3,
                leader_recovery_state: 0,
                ..PartitionChange::new(topic_id, 4)
            }),
            MetadataRecord::PartitionChange(PartitionChange::new(topic_id, 0)),
            MetadataRecord::FenceBroker { id: 3, epoch: 10 },
            MetadataRecord::UnfenceBroker { id: 3, epoch: 11 },
            MetadataRecord::RemoveTopic { topic_id },
            MetadataRecord::FeatureLevel { name: "metadata.version".into(), level: 27 },
            MetadataRecord::ProducerIds { broker_id: 1, broker_epoch: 4, next_producer_id: 2000 },
            MetadataRecord::BrokerRegistrationChange {
                broker_id: 2,
                broker_epoch: 42,
                fenced: -1,
                in_controlled_shutdown: 0,
            },
            MetadataRecord::BrokerRegistrationChange {
                broker_id: 2,
                broker_epoch: 42,
                fenced: 1,
                in_controlled_shutdown: 1,
            },
            MetadataRecord::NoOp,
        ]
    }

    #[test]
    fn records_round_trip() {
        for record in samples() {
            let bytes = record.encode();
            assert_eq!(MetadataRecord::decode(&bytes).as_ref(), Ok(&record), "{record:?}");
        }
    }

    /// Bytes Kafka's MetadataRecordSerde writes for a TopicRecord v0 ("foo", id 1) and a FeatureLevelRecord.
    #[test]
    fn encoding_is_kafkas() {
        let topic = MetadataRecord::Topic { name: "foo".into(), topic_id: Uuid::from_u128(1) };
        let mut expected = vec![1, 2, 0, 4, b'f', b'o', b'o'];
        expected.extend_from_slice(&[0; 15]);
        expected.extend_from_slice(&[1, 0]);
        assert_eq!(topic.encode(), expected);
        let feature = MetadataRecord::FeatureLevel { name: "kraft.version".into(), level: 1 };
        let mut expected = vec![1, 12, 0, 14];
        expected.extend_from_slice(b"kraft.version");
        expected.extend_from_slice(&[0, 1, 0]);
        assert_eq!(feature.encode(), expected);
    }

    /// BrokerRegistrationChangeRecord v1 as Kafka writes it: Fenced (tag 0) -1 unfenced, 1 fenced, and no tag for
    /// no change; InControlledShutdown (tag 1) 1 or no tag. Kafka's own tools (the metadata shell) showed every
    /// potok broker fenced while potok wrote an unfencing as 0, which Kafka reads as no change.
    #[test]
    fn broker_registration_changes_are_kafkas() {
        let change = |fenced, in_controlled_shutdown| {
            MetadataRecord::BrokerRegistrationChange { broker_id: 2, broker_epoch: 7, fenced, in_controlled_shutdown }
                .encode()
        };
        let head = [1, 17, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7];
        let with = |tail: &[u8]| [&head[..], tail].concat();
        assert_eq!(change(-1, 0), with(&[1, 0, 1, 0xff]));
        assert_eq!(change(1, 0), with(&[1, 0, 1, 1]));
        assert_eq!(change(0, 1), with(&[1, 1, 1, 1]));
        assert_eq!(change(0, 0), with(&[0]));
        // An unfencing written by earlier potok builds (an explicit Fenced of 0) still reads as one.
        let legacy = MetadataRecord::decode(&with(&[1, 0, 1, 0])).unwrap();
        assert!(matches!(legacy, MetadataRecord::BrokerRegistrationChange { fenced: -1, .. }), "{legacy:?}");
    }

    #[test]
    fn damaged_records_are_errors_not_allocations() {
        for record in samples() {
            let bytes = record.encode();
            for cut in 0..bytes.len() {
                assert!(MetadataRecord::decode(&bytes[..cut]).is_err(), "{record:?} cut at {cut}");
            }
        }
        // A replica list claiming four billion entries.
        let mut lying = vec![1, 3, 0, 0, 0, 0, 1];
        lying.extend_from_slice(&[0; 16]);
        lying.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(matches!(MetadataRecord::decode(&lying), Err(RecordError::TooLong { .. })));
        assert!(matches!(MetadataRecord::decode(&[1, 99, 0, 0]), Err(RecordError::UnknownType(99))));
        assert!(matches!(MetadataRecord::decode(&[0, 2, 0]), Err(RecordError::FrameVersion(0))));
    }

    #[test]
    fn config_changes_become_one_record_per_key() {
        let before = BTreeMap::from([("a".to_string(), "1".to_string()), ("b".to_string(), "2".to_string())]);
        let after = BTreeMap::from([("b".to_string(), "3".to_string()), ("c".to_string(), "4".to_string())]);
        let records = config_records(CONFIG_RESOURCE_TOPIC, "t", &before, &after);
        let changes: Vec<(String, Option<String>)> = records
            .into_iter()
            .map(|r| match r {
                MetadataRecord::Config { name, value, .. } => (name, value),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(changes, vec![("a".into(), None), ("b".into(), Some("3".into())), ("c".into(), Some("4".into()))]);
    }
}
