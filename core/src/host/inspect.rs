//! What a broker holds, as plain data a host turns into pictures (the playground's lessons): topics and
//! partitions with their offsets (log start, high watermark, last stable, log end), each partition's segments
//! with their `.index` and `.timeindex` entries and the headers of their batches, the groups with their members,
//! assignments, committed offsets and lag, and the transactions the coordinator knows. And a segment's bytes with
//! Kafka's batch and record fields marked, for a hex dump.
//!
//! Everything is read from the broker as it is (no request goes through the protocol), under the same locks the
//! request handlers take, one partition at a time: a view is consistent per partition, not across partitions.
//! Every list is bounded by [`InspectLimits`], so a large log costs a bounded view.

use std::collections::BTreeMap;

use serde::Serialize;

use super::HostError;
use crate::broker::Broker;
use crate::client::assignor;
use crate::controller;
use crate::partition::Partition;
use crate::record::{self, varint, BatchHeader, Compression, RECORD_BATCH_OVERHEAD};
use crate::storage::segment::{self, Segment};
use crate::storage::{Backend, StorageError};

/// Bounds on what one inspection collects.
#[derive(Debug, Clone, Copy)]
pub struct InspectLimits {
    /// Batch headers listed per segment (counts and sizes still cover every batch).
    pub batches_per_segment: usize,
    /// Entries listed per `.index` and per `.timeindex`.
    pub index_entries_per_segment: usize,
    /// Whether `__consumer_offsets` and `__transaction_state` are listed.
    pub internal_topics: bool,
}

impl Default for InspectLimits {
    fn default() -> Self {
        InspectLimits { batches_per_segment: 1000, index_entries_per_segment: 1000, internal_topics: true }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inspection {
    pub cluster_id: String,
    pub node_id: i32,
    pub topics: Vec<TopicView>,
    pub groups: Vec<GroupView>,
    pub transactions: Vec<TransactionView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicView {
    pub name: String,
    /// Kafka's text form of the topic id (22 characters of URL-safe base64).
    pub id: String,
    pub internal: bool,
    /// The configs set on the topic (defaults are not listed).
    pub configs: BTreeMap<String, String>,
    pub partitions: Vec<PartitionView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionView {
    pub partition: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_end_offset: i64,
    pub size_bytes: u64,
    /// `segment.bytes` and `index.interval.bytes` as the log applies them.
    pub segment_bytes: u32,
    pub index_interval_bytes: u32,
    pub segments: Vec<SegmentView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentView {
    pub base_offset: i64,
    /// One past the last offset the segment holds.
    pub next_offset: i64,
    /// The `.log` file's name (`00000000000000000000.log`).
    pub file: String,
    pub size_bytes: u64,
    pub batch_count: usize,
    pub record_count: i64,
    /// The sparse offset index: a (offset, file position) entry per `index.interval.bytes` of batches.
    pub index: Vec<IndexEntry>,
    pub index_entries: usize,
    /// The time index: a (timestamp, offset) entry each time a batch raised the segment's largest timestamp.
    pub time_index: Vec<TimeIndexEntry>,
    pub time_index_entries: usize,
    pub batches: Vec<BatchView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexEntry {
    pub offset: i64,
    pub position: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeIndexEntry {
    pub timestamp: i64,
    pub offset: i64,
}

/// A batch's header as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchView {
    /// Where the batch starts in its segment's `.log`.
    pub position: u64,
    pub size_bytes: usize,
    pub base_offset: i64,
    pub last_offset: i64,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub compression: String,
    pub timestamp_type: String,
    pub transactional: bool,
    pub control: bool,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupView {
    pub group_id: String,
    /// "classic" or "consumer" (KIP-848).
    #[serde(rename = "type")]
    pub group_type: String,
    pub state: String,
    pub protocol_type: Option<String>,
    /// The assignor the members agreed on (classic groups) or the server-side assignor (consumer groups).
    pub protocol: Option<String>,
    pub generation: i32,
    pub leader: Option<String>,
    pub members: Vec<MemberView>,
    pub offsets: Vec<CommittedOffsetView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub assignment: Vec<TopicPartitionView>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicPartitionView {
    pub topic: String,
    pub partition: i32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommittedOffsetView {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub metadata: String,
    pub commit_timestamp: i64,
    /// The partition's high watermark, when this broker hosts it.
    pub high_watermark: Option<i64>,
    /// How far the group is behind: high watermark minus committed offset (what `kafka-consumer-groups`
    /// shows as LAG).
    pub lag: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionView {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub state: String,
    pub timeout_ms: i32,
    /// When the open transaction began (-1 when none is open).
    pub start_ms: i64,
    pub partitions: Vec<TopicPartitionView>,
}

/// Everything the broker holds, bounded by `limits`.
pub fn inspect(broker: &Broker, limits: &InspectLimits) -> Result<Inspection, HostError> {
    let image = broker.metadata();
    let replicas = broker.partitions();
    let mut topics = Vec::new();
    for topic in image.topics.values() {
        if topic.is_internal() && !limits.internal_topics {
            continue;
        }
        let mut partitions = Vec::new();
        for p in &topic.partitions {
            let replica = replicas
                .iter()
                .find(|r| r.topic_partition().topic == topic.name && r.topic_partition().partition == p.partition);
            let Some(replica) = replica else { continue };
            let mut view = partition_view(replica, limits).map_err(storage_error)?;
            (view.leader, view.replicas, view.isr) = (p.leader, p.replicas.clone(), p.isr.clone());
            partitions.push(view);
        }
        topics.push(TopicView {
            name: topic.name.clone(),
            id: controller::uuid_to_base64(&topic.id),
            internal: topic.is_internal(),
            configs: topic.configs.clone(),
            partitions,
        });
    }
    let high_watermark = |topic: &str, partition: i32| {
        replicas
            .iter()
            .find(|r| r.topic_partition().topic == topic && r.topic_partition().partition == partition)
            .map(|r| r.high_watermark())
    };
    let (groups, transactions) = broker.inspect_coordinators(|groups, txns| {
        let groups = groups.groups().map(|g| group_view(g, &image, &high_watermark)).collect::<Vec<_>>();
        let transactions = txns
            .transactions()
            .map(|t| TransactionView {
                transactional_id: t.transactional_id.clone(),
                producer_id: t.producer_id,
                producer_epoch: t.producer_epoch,
                state: t.state.name().to_string(),
                timeout_ms: t.timeout_ms,
                start_ms: t.start_ms,
                partitions: t
                    .partitions
                    .iter()
                    .map(|(topic, partition)| TopicPartitionView { topic: topic.clone(), partition: *partition })
                    .collect(),
            })
            .collect::<Vec<_>>();
        (groups, transactions)
    });
    let mut groups = groups;
    groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    let mut transactions = transactions;
    transactions.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
    Ok(Inspection {
        cluster_id: broker.cluster_id().to_string(),
        node_id: broker.node_id(),
        topics,
        groups,
        transactions,
    })
}

fn storage_error(e: StorageError) -> HostError {
    HostError::from(&crate::broker::BrokerError::from(e))
}

fn partition_view(replica: &Partition, limits: &InspectLimits) -> Result<PartitionView, StorageError> {
    let log = replica.log();
    let backend = log.backend().clone();
    let mut segments = Vec::new();
    for segment in log.segments() {
        segments.push(segment_view(segment, backend.as_ref(), limits)?);
    }
    Ok(PartitionView {
        partition: replica.topic_partition().partition,
        leader: -1,
        leader_epoch: replica.leader_epoch(),
        replicas: Vec::new(),
        isr: Vec::new(),
        log_start_offset: log.log_start_offset(),
        high_watermark: log.high_watermark(),
        last_stable_offset: log.last_stable_offset(),
        log_end_offset: log.log_end_offset(),
        size_bytes: log.size_in_bytes(),
        segment_bytes: log.config().segment_bytes,
        index_interval_bytes: log.config().index_interval_bytes,
        segments,
    })
}

fn segment_view(segment: &Segment, backend: &dyn Backend, limits: &InspectLimits) -> Result<SegmentView, StorageError> {
    let offset_index = segment.offset_index();
    let time_index = segment.time_index();
    let index = (0..offset_index.entries().min(limits.index_entries_per_segment))
        .map(|n| offset_index.entry(n))
        .map(|(offset, position)| IndexEntry { offset, position })
        .collect();
    let time_index_view = (0..time_index.entries().min(limits.index_entries_per_segment))
        .map(|n| time_index.entry(n))
        .map(|(timestamp, offset)| TimeIndexEntry { timestamp, offset })
        .collect();
    let mut batches = Vec::new();
    let (mut batch_count, mut record_count) = (0usize, 0i64);
    walk_batches(segment, backend, |position, h| {
        batch_count += 1;
        record_count += i64::from(h.records_count);
        if batches.len() < limits.batches_per_segment {
            batches.push(batch_view(position, h));
        }
    })?;
    Ok(SegmentView {
        base_offset: segment.base_offset(),
        next_offset: segment.next_offset(),
        file: segment::file_name(segment.base_offset(), segment::LOG_SUFFIX),
        size_bytes: segment.size(),
        batch_count,
        record_count,
        index,
        index_entries: offset_index.entries(),
        time_index: time_index_view,
        time_index_entries: time_index.entries(),
        batches,
    })
}

fn batch_view(position: u64, h: &BatchHeader) -> BatchView {
    BatchView {
        position,
        size_bytes: h.size_in_bytes(),
        base_offset: h.base_offset,
        last_offset: h.last_offset(),
        partition_leader_epoch: h.partition_leader_epoch,
        magic: h.magic,
        crc: h.crc,
        compression: h.compression().map_or("unknown", Compression::name).to_string(),
        timestamp_type: timestamp_type_name(h).to_string(),
        transactional: h.is_transactional(),
        control: h.is_control(),
        base_timestamp: h.base_timestamp,
        max_timestamp: h.max_timestamp,
        producer_id: h.producer_id,
        producer_epoch: h.producer_epoch,
        base_sequence: h.base_sequence,
        record_count: h.records_count,
    }
}

fn timestamp_type_name(h: &BatchHeader) -> &'static str {
    match h.timestamp_type() {
        record::TimestampType::CreateTime => "CreateTime",
        record::TimestampType::LogAppendTime => "LogAppendTime",
    }
}

/// Calls `f` with the position and header of each whole batch of a segment's `.log`, reading headers only.
fn walk_batches(
    segment: &Segment,
    backend: &dyn Backend,
    mut f: impl FnMut(u64, &BatchHeader),
) -> Result<(), StorageError> {
    let file = segment.open_log_reader(backend)?;
    let size = segment.size();
    let mut header = [0u8; RECORD_BATCH_OVERHEAD];
    let mut position = 0u64;
    while position + RECORD_BATCH_OVERHEAD as u64 <= size {
        file.read_exact_at(&mut header, position).map_err(|e| StorageError::io(segment.log_path(), e))?;
        let h = BatchHeader::parse(&header)?;
        let len = h.size_in_bytes() as u64;
        // A torn tail (only until recovery truncates it) ends the walk.
        if len < RECORD_BATCH_OVERHEAD as u64 || position + len > size {
            break;
        }
        f(position, &h);
        position += len;
    }
    Ok(())
}

fn group_view(
    g: &crate::coordinator::group::Group,
    image: &controller::MetadataImage,
    high_watermark: &dyn Fn(&str, i32) -> Option<i64>,
) -> GroupView {
    let mut members = Vec::new();
    if let Some(consumer) = &g.consumer {
        for m in consumer.members.values() {
            let mut assignment: Vec<TopicPartitionView> = m
                .assigned
                .iter()
                .filter_map(|(id, parts)| image.topic_ids.get(id).map(|name| (name, parts)))
                .flat_map(|(name, parts)| {
                    parts.iter().map(|p| TopicPartitionView { topic: name.clone(), partition: *p })
                })
                .collect();
            assignment.sort();
            members.push(MemberView {
                member_id: m.member_id.clone(),
                group_instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                assignment,
            });
        }
    }
    for m in &g.members {
        // Only the consumer protocol's assignment bytes have a known layout (Kafka Connect's, say, do not).
        let assignment = match g.protocol_type.as_deref() {
            Some("consumer") if !m.assignment.is_empty() => assignor::decode_assignment(&m.assignment)
                .map(|a| {
                    a.partitions.into_iter().map(|tp| TopicPartitionView { topic: tp.topic, partition: tp.partition })
                })
                .map(Iterator::collect)
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        members.push(MemberView {
            member_id: m.member_id.clone(),
            group_instance_id: m.group_instance_id.clone(),
            client_id: m.client_id.clone(),
            client_host: m.client_host.clone(),
            assignment,
        });
    }
    let offsets = g
        .offsets
        .iter()
        .map(|((topic, partition), value)| {
            let hw = high_watermark(topic, *partition);
            CommittedOffsetView {
                topic: topic.clone(),
                partition: *partition,
                offset: value.offset,
                metadata: value.metadata.clone(),
                commit_timestamp: value.commit_timestamp,
                high_watermark: hw,
                lag: hw.map(|hw| (hw - value.offset).max(0)),
            }
        })
        .collect();
    let protocol = match &g.consumer {
        Some(c) => Some(c.assignor.clone()),
        None => g.protocol.clone(),
    };
    GroupView {
        group_id: g.group_id.clone(),
        group_type: g.group_type().to_string(),
        state: g.state_name().to_string(),
        protocol_type: g.protocol_type.clone(),
        protocol,
        generation: g.consumer.as_ref().map_or(g.generation, |c| c.group_epoch),
        leader: g.leader.clone(),
        members,
        offsets,
    }
}

/// A span of a segment's bytes that holds one of Kafka's fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Field {
    /// Kafka's name for the field (`baseOffset`, `crc`, `keyLength`, ...).
    pub name: String,
    /// Byte offsets in the segment, `end` excluded.
    pub start: usize,
    pub end: usize,
    /// The decoded value: a number, a string (names, UTF-8 keys and values), or null (a null key, or bytes
    /// that are not UTF-8).
    pub value: serde_json::Value,
}

/// One record of an uncompressed batch and its fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnnotatedRecord {
    pub offset: i64,
    pub start: usize,
    pub end: usize,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnnotatedBatch {
    pub start: usize,
    pub end: usize,
    pub header: BatchView,
    /// The 61-byte header's fields, in order.
    pub fields: Vec<Field>,
    /// The records, for an uncompressed batch. A compressed batch's records are one `records` field over the
    /// compressed bytes.
    pub records: Vec<AnnotatedRecord>,
    /// Why the records could not be marked (they do not parse); the header's fields still are.
    pub error: Option<String>,
}

/// A segment's bytes with their fields marked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnnotatedSegment {
    pub topic: String,
    pub partition: i32,
    pub base_offset: i64,
    /// The segment's size; `bytes` may hold less (see `truncated`).
    pub size_bytes: u64,
    /// Whether `bytes` stops before the segment's end (at a batch boundary, to stay within the limit asked).
    pub truncated: bool,
    #[serde(skip)]
    pub bytes: Vec<u8>,
    pub batches: Vec<AnnotatedBatch>,
}

/// The bytes of the segment of `topic`-`partition` starting at `base_offset`, whole batches up to `max_bytes`
/// (at least the first batch), with their fields marked.
pub fn segment_bytes(
    broker: &Broker,
    topic: &str,
    partition: i32,
    base_offset: i64,
    max_bytes: usize,
) -> Result<AnnotatedSegment, HostError> {
    let replica = broker.partition(topic, partition).ok_or_else(|| {
        HostError::from(crate::client::ClientError::from_code(
            kafka_protocol::error::ResponseError::UnknownTopicOrPartition.code(),
            Some(format!("this broker hosts no partition {topic}-{partition}")),
        ))
    })?;
    let log = replica.log();
    let segment = log.segments().find(|s| s.base_offset() == base_offset).ok_or_else(|| {
        HostError::invalid_argument(format!(
            "{topic}-{partition} has no segment at base offset {base_offset} (its segments start at {:?})",
            log.segment_base_offsets()
        ))
    })?;
    let size = segment.size();
    let mut end = 0u64;
    walk_batches(segment, log.backend().as_ref(), |position, h| {
        let batch_end = position + h.size_in_bytes() as u64;
        if end == 0 || batch_end <= max_bytes as u64 {
            end = batch_end;
        }
    })
    .map_err(storage_error)?;
    let mut bytes = vec![0u8; end as usize];
    let file = segment.open_log_reader(log.backend().as_ref()).map_err(storage_error)?;
    file.read_exact_at(&mut bytes, 0).map_err(|e| storage_error(StorageError::io(segment.log_path(), e)))?;
    let batches = annotate(&bytes);
    Ok(AnnotatedSegment {
        topic: topic.to_string(),
        partition,
        base_offset,
        size_bytes: size,
        truncated: end < size,
        bytes,
        batches,
    })
}

/// Marks Kafka's fields in `bytes`, a run of whole v2 batches (a segment's `.log`, a produce request's
/// records). Stops at the first span that is not a whole batch.
pub fn annotate(bytes: &[u8]) -> Vec<AnnotatedBatch> {
    let mut out = Vec::new();
    let mut start = 0usize;
    for batch in record::Batches::new(bytes) {
        let Ok(batch) = batch else { break };
        let Ok(h) = BatchHeader::parse(batch) else { break };
        out.push(annotate_batch(batch, start, &h));
        start += batch.len();
    }
    out
}

fn num(n: impl Into<i64>) -> serde_json::Value {
    serde_json::Value::from(n.into())
}

fn text(s: impl Into<String>) -> serde_json::Value {
    serde_json::Value::String(s.into())
}

fn annotate_batch(batch: &[u8], at: usize, h: &BatchHeader) -> AnnotatedBatch {
    let field = |name: &str, from: usize, len: usize, value: serde_json::Value| Field {
        name: name.to_string(),
        start: at + from,
        end: at + from + len,
        value,
    };
    let mut attributes = vec![h.compression().map_or("unknown", Compression::name).to_string()];
    attributes.push(timestamp_type_name(h).to_string());
    if h.is_transactional() {
        attributes.push("transactional".into());
    }
    if h.is_control() {
        attributes.push("control".into());
    }
    let fields = vec![
        field("baseOffset", 0, 8, num(h.base_offset)),
        field("batchLength", 8, 4, num(h.batch_length)),
        field("partitionLeaderEpoch", 12, 4, num(h.partition_leader_epoch)),
        field("magic", 16, 1, num(h.magic)),
        field("crc", 17, 4, num(h.crc)),
        field("attributes", 21, 2, text(attributes.join(", "))),
        field("lastOffsetDelta", 23, 4, num(h.last_offset_delta)),
        field("baseTimestamp", 27, 8, num(h.base_timestamp)),
        field("maxTimestamp", 35, 8, num(h.max_timestamp)),
        field("producerId", 43, 8, num(h.producer_id)),
        field("producerEpoch", 51, 2, num(h.producer_epoch)),
        field("baseSequence", 53, 4, num(h.base_sequence)),
        field("recordsCount", 57, 4, num(h.records_count)),
    ];
    let mut annotated = AnnotatedBatch {
        start: at,
        end: at + batch.len(),
        header: batch_view(at as u64, h),
        fields,
        records: Vec::new(),
        error: None,
    };
    let body = &batch[RECORD_BATCH_OVERHEAD..];
    match h.compression() {
        Ok(Compression::None) => match annotate_records(body, at + RECORD_BATCH_OVERHEAD, h) {
            Ok(records) => annotated.records = records,
            Err(e) => annotated.error = Some(e.to_string()),
        },
        Ok(codec) => annotated.fields.push(field(
            "records",
            RECORD_BATCH_OVERHEAD,
            body.len(),
            text(format!("{} records, {}-compressed", h.records_count, codec.name())),
        )),
        Err(e) => annotated.error = Some(e.to_string()),
    }
    annotated
}

/// Reads the records of an uncompressed batch body, marking each field: length, attributes, timestampDelta,
/// offsetDelta, keyLength, key, valueLength, value, headersCount, and each header's keyLength, key,
/// valueLength, value.
fn annotate_records(body: &[u8], at: usize, h: &BatchHeader) -> Result<Vec<AnnotatedRecord>, record::RecordError> {
    let mut records = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let mut cursor = Cursor { rest, at: at + (body.len() - rest.len()), fields: Vec::new() };
        let start = cursor.at;
        let length = cursor.varint("length")?;
        let end =
            cursor.at + usize::try_from(length).map_err(|_| record::RecordError::InvalidRecord("negative length"))?;
        if end > at + body.len() {
            return Err(record::RecordError::Truncated("record"));
        }
        let attributes = cursor.take("attributes", 1)?;
        cursor.set_value(num(i64::from(attributes[0] as i8)));
        cursor.varlong("timestampDelta")?;
        let offset_delta = cursor.varint("offsetDelta")?;
        cursor.bytes("keyLength", "key")?;
        cursor.bytes("valueLength", "value")?;
        let headers = cursor.varint("headersCount")?;
        for _ in 0..headers.max(0) {
            cursor.bytes("headerKeyLength", "headerKey")?;
            cursor.bytes("headerValueLength", "headerValue")?;
        }
        if cursor.at != end {
            return Err(record::RecordError::InvalidRecord("record length does not match its fields"));
        }
        records.push(AnnotatedRecord {
            offset: h.base_offset + i64::from(offset_delta),
            start,
            end,
            fields: cursor.fields,
        });
        rest = &body[end - at..];
    }
    Ok(records)
}

/// Reads fields off a record's bytes, marking where each lies.
struct Cursor<'a> {
    rest: &'a [u8],
    /// The segment offset of `rest[0]`.
    at: usize,
    fields: Vec<Field>,
}

impl<'a> Cursor<'a> {
    fn mark(&mut self, name: &str, len: usize, value: serde_json::Value) {
        self.fields.push(Field { name: name.to_string(), start: self.at, end: self.at + len, value });
        self.at += len;
    }

    fn set_value(&mut self, value: serde_json::Value) {
        if let Some(last) = self.fields.last_mut() {
            last.value = value;
        }
    }

    fn take(&mut self, name: &str, len: usize) -> Result<&'a [u8], record::RecordError> {
        if len > self.rest.len() {
            return Err(record::RecordError::Truncated("record field"));
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        self.mark(name, len, serde_json::Value::Null);
        Ok(taken)
    }

    fn varint(&mut self, name: &str) -> Result<i32, record::RecordError> {
        let before = self.rest.len();
        let value = varint::get_varint(&mut self.rest)?;
        self.mark(name, before - self.rest.len(), num(value));
        Ok(value)
    }

    fn varlong(&mut self, name: &str) -> Result<i64, record::RecordError> {
        let before = self.rest.len();
        let value = varint::get_varlong(&mut self.rest)?;
        self.mark(name, before - self.rest.len(), num(value));
        Ok(value)
    }

    /// A varint length and the bytes it counts (-1: null, no bytes).
    fn bytes(&mut self, length_name: &str, name: &str) -> Result<(), record::RecordError> {
        let len = self.varint(length_name)?;
        if len < 0 {
            return Ok(());
        }
        let data = self.take(name, len as usize)?;
        self.set_value(std::str::from_utf8(data).map_or(serde_json::Value::Null, text));
        Ok(())
    }
}

#[cfg(test)]
mod tests;
