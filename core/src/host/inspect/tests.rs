//! Inspection of a broker in memory fed with real request frames, and the field marks of batch bytes.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::{ApiKey, GroupId, OffsetCommitRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::*;
use crate::host::memory::tests::{create, frame, parse, produce_frame, start, NOW};
use crate::host::memory::{ConnectionId, MemoryBroker};
use crate::record::{BatchBuilder, Header};

fn create_topic_with(broker: &mut MemoryBroker, conn: ConnectionId, name: &str, configs: &[(&str, &str)]) {
    let configs = configs
        .iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_value(Some(StrBytes::from_string(v.to_string())))
        })
        .collect();
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(name.into())))
        .with_num_partitions(1)
        .with_replication_factor(1)
        .with_configs(configs);
    create(broker, conn, topic);
}

/// Ten single-record batches of ~80 bytes into 300-byte segments with an index entry per 100 bytes.
fn rolled_broker() -> MemoryBroker {
    let mut broker = start();
    let conn = broker.connect().unwrap();
    create_topic_with(&mut broker, conn, "t", &[("segment.bytes", "300"), ("index.interval.bytes", "100")]);
    for i in 0..10 {
        broker.submit(conn, produce_frame("t", &[&format!("value-{i}")], -1, 10 + i), NOW + i64::from(i)).unwrap();
        assert!(broker.take_answers()[0].frame.is_ok());
    }
    broker
}

#[test]
fn partitions_show_offsets_segments_indexes_and_batches() {
    let broker = rolled_broker();
    let view = inspect(broker.broker().unwrap(), &InspectLimits::default()).unwrap();
    assert_eq!(view.node_id, 1);
    let topic = view.topics.iter().find(|t| t.name == "t").unwrap();
    assert!(!topic.internal);
    assert_eq!(topic.configs.get("segment.bytes").map(String::as_str), Some("300"));
    let p = &topic.partitions[0];
    assert_eq!((p.log_start_offset, p.high_watermark, p.last_stable_offset, p.log_end_offset), (0, 10, 10, 10));
    assert_eq!((p.leader, p.replicas.as_slice(), p.isr.as_slice()), (1, &[1][..], &[1][..]));
    assert_eq!(p.segment_bytes, 300);
    assert!(p.segments.len() >= 3, "300-byte segments roll: {:?}", p.segments.len());
    // Segments are contiguous, each within segment.bytes, and together hold every batch.
    let mut next = 0;
    for s in &p.segments {
        assert_eq!(s.base_offset, next);
        assert_eq!(s.file, format!("{:020}.log", s.base_offset));
        assert!(s.size_bytes <= 300);
        assert_eq!(s.batches.len(), s.batch_count);
        assert_eq!(s.record_count, s.batches.iter().map(|b| i64::from(b.record_count)).sum::<i64>());
        let mut position = 0;
        for b in &s.batches {
            assert_eq!((b.position, b.base_offset, b.last_offset), (position, next, next));
            assert_eq!((b.magic, b.compression.as_str(), b.transactional, b.control), (2, "none", false, false));
            assert_eq!((b.producer_id, b.base_sequence), (-1, -1));
            position += b.size_bytes as u64;
            next += 1;
        }
        assert_eq!(position, s.size_bytes);
        assert_eq!(s.next_offset, next);
        // The sparse index: the first batch past each 100 bytes gets an entry pointing at its position.
        assert_eq!(s.index.len(), s.index_entries);
        for e in &s.index {
            assert!(s.batches.iter().any(|b| b.base_offset == e.offset && b.position == u64::from(e.position)));
        }
        assert!(s.time_index.iter().all(|e| e.offset >= s.base_offset && e.offset < s.next_offset));
    }
    assert_eq!(next, 10);
    // A segment that rolled has its largest timestamp in its time index (Kafka writes one when it rolls).
    for s in &p.segments[..p.segments.len() - 1] {
        assert_eq!(s.time_index.last().map(|e| e.timestamp), Some(NOW), "{:?}", s.time_index);
    }
    assert!(p.segments.iter().any(|s| !s.index.is_empty()), "some segment crossed index.interval.bytes");
    let limited = InspectLimits { batches_per_segment: 1, index_entries_per_segment: 0, internal_topics: false };
    let view = inspect(broker.broker().unwrap(), &limited).unwrap();
    assert!(view.topics.iter().all(|t| !t.internal));
    let s = &view.topics[0].partitions[0].segments[0];
    assert_eq!((s.batches.len(), s.index.len(), s.time_index.len()), (1, 0, 0));
    assert!(s.batch_count > 1, "counts still cover every batch");
}

#[test]
fn groups_show_committed_offsets_and_lag() {
    let mut broker = rolled_broker();
    let conn = broker.connect().unwrap();
    let partition = OffsetCommitRequestPartition::default().with_partition_index(0).with_committed_offset(4);
    let topic = OffsetCommitRequestTopic::default()
        .with_name(TopicName(StrBytes::from_static_str("t")))
        .with_partitions(vec![partition]);
    let body = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("g")))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![topic]);
    broker.submit(conn, frame(ApiKey::OffsetCommit, 8, 1, &body), NOW).unwrap();
    assert!(broker.take_answers()[0].frame.is_ok());
    let view = inspect(broker.broker().unwrap(), &InspectLimits::default()).unwrap();
    let g = view.groups.iter().find(|g| g.group_id == "g").unwrap();
    assert_eq!((g.state.as_str(), g.group_type.as_str()), ("Empty", "classic"));
    assert!(g.members.is_empty());
    let o = &g.offsets[0];
    assert_eq!((o.topic.as_str(), o.partition, o.offset, o.high_watermark, o.lag), ("t", 0, 4, Some(10), Some(6)));
    // The commit is a record in __consumer_offsets, which the inspection shows as an internal topic.
    let offsets = view.topics.iter().find(|t| t.name == "__consumer_offsets").unwrap();
    assert!(offsets.internal);
    assert!(offsets.partitions[0].log_end_offset >= 1);
    assert!(view.transactions.is_empty());
}

#[test]
fn segment_bytes_are_whole_batches_with_their_fields_marked() {
    let broker = rolled_broker();
    let b = broker.broker().unwrap();
    let segment = segment_bytes(b, "t", 0, 0, 1 << 20).unwrap();
    assert!(!segment.truncated);
    assert_eq!(segment.bytes.len() as u64, segment.size_bytes);
    assert_eq!(segment.batches.len(), segment.batches.last().map_or(0, |l| l.header.base_offset as usize + 1));
    let first = &segment.batches[0];
    assert_eq!((first.start, first.records.len()), (0, 1));
    assert_eq!(first.records[0].fields.iter().find(|f| f.name == "value").unwrap().value, "value-0");
    // At least the first batch, then only whole batches within the limit.
    let one = segment_bytes(b, "t", 0, 0, 1).unwrap();
    assert!(one.truncated);
    assert_eq!((one.batches.len(), one.bytes.len()), (1, first.end));
    assert_eq!(segment_bytes(b, "t", 0, 12345, 1 << 20).unwrap_err().kind, crate::host::ErrorKind::InvalidArgument);
    assert_eq!(segment_bytes(b, "nope", 0, 0, 1 << 20).unwrap_err().name, "UNKNOWN_TOPIC_OR_PARTITION");
}

/// Every byte of a batch is in exactly one field, in order, and each field holds what was written.
#[test]
fn annotate_marks_every_header_and_record_field() {
    let mut builder = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 2, 30, true);
    builder.append(
        NOW,
        Some(b"k"),
        Some(b"hello"),
        &[Header { key: "h".into(), value: Some(Bytes::from_static(b"v")) }],
    );
    builder.append(NOW + 5, None, None, &[]);
    let bytes = builder.build().unwrap();
    let batches = annotate(&bytes);
    assert_eq!(batches.len(), 1);
    let batch = &batches[0];
    assert_eq!((batch.start, batch.end, batch.error.as_deref()), (0, bytes.len(), None));
    let names: Vec<&str> = batch.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "baseOffset",
            "batchLength",
            "partitionLeaderEpoch",
            "magic",
            "crc",
            "attributes",
            "lastOffsetDelta",
            "baseTimestamp",
            "maxTimestamp",
            "producerId",
            "producerEpoch",
            "baseSequence",
            "recordsCount"
        ]
    );
    let value = |name: &str| batch.fields.iter().find(|f| f.name == name).unwrap().value.clone();
    assert_eq!(value("baseOffset"), 100);
    assert_eq!(value("batchLength"), bytes.len() as i64 - 12);
    assert_eq!(value("magic"), 2);
    assert_eq!(value("crc"), crc32c::crc32c(&bytes[21..]));
    assert_eq!(value("attributes"), "none, CreateTime, transactional");
    assert_eq!((value("producerId"), value("producerEpoch"), value("baseSequence")), (7.into(), 2.into(), 30.into()));
    assert_eq!((value("lastOffsetDelta"), value("recordsCount")), (1.into(), 2.into()));
    assert_eq!((batch.header.transactional, batch.header.producer_id), (true, 7));
    let mut at = 0;
    let spans = batch.fields.iter().chain(batch.records.iter().flat_map(|r| &r.fields));
    for f in spans {
        assert_eq!(f.start, at, "{} starts where the previous field ended", f.name);
        assert!(f.end > f.start, "{} is not empty", f.name);
        at = f.end;
    }
    assert_eq!(at, bytes.len(), "the fields cover the batch");
    let [first, second] = &batch.records[..] else { panic!("two records") };
    assert_eq!((first.offset, second.offset), (100, 101));
    let names: Vec<&str> = first.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "length",
            "attributes",
            "timestampDelta",
            "offsetDelta",
            "keyLength",
            "key",
            "valueLength",
            "value",
            "headersCount",
            "headerKeyLength",
            "headerKey",
            "headerValueLength",
            "headerValue"
        ]
    );
    let get = |r: &AnnotatedRecord, name: &str| r.fields.iter().find(|f| f.name == name).map(|f| f.value.clone());
    assert_eq!(get(first, "key"), Some("k".into()));
    assert_eq!(get(first, "value"), Some("hello".into()));
    assert_eq!(get(first, "headerValue"), Some("v".into()));
    assert_eq!(get(first, "length"), Some((first.end - first.start - 1).into()), "a one-byte length varint");
    // A null key and value: their lengths are -1 and no bytes follow.
    assert_eq!((get(second, "keyLength"), get(second, "key")), (Some((-1).into()), None));
    assert_eq!((get(second, "timestampDelta"), get(second, "offsetDelta")), (Some(5.into()), Some(1.into())));
}

#[test]
fn annotate_keeps_compressed_records_whole_and_stops_at_a_torn_tail() {
    let mut builder = BatchBuilder::new(Compression::Gzip);
    for i in 0..20 {
        builder.append(NOW, None, Some(format!("repeated value {i}").as_bytes()), &[]);
    }
    let mut bytes = builder.build().unwrap();
    let whole = bytes.len();
    let batches = annotate(&bytes);
    let records = batches[0].fields.last().unwrap();
    assert_eq!((records.name.as_str(), records.start, records.end), ("records", 61, whole));
    assert_eq!(records.value, "20 records, gzip-compressed");
    assert!(batches[0].records.is_empty());
    bytes.extend_from_within(..30);
    assert_eq!(annotate(&bytes).len(), 1, "a partial batch after the first is not marked");
}

/// An open transaction: the coordinator's view (Ongoing, its partition) and the partition's (a transactional
/// batch, the last stable offset held at the transaction's first offset while the high watermark moves on).
#[test]
fn an_open_transaction_holds_back_the_last_stable_offset() {
    use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{
        AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, InitProducerIdRequest, InitProducerIdResponse,
        ProduceRequest, ProduceResponse, ProducerId, TransactionalId,
    };
    let mut broker = rolled_broker();
    let conn = broker.connect().unwrap();
    let txn_id = TransactionalId(StrBytes::from_static_str("txn-1"));
    let init = InitProducerIdRequest::default()
        .with_transactional_id(Some(txn_id.clone()))
        .with_transaction_timeout_ms(60_000);
    broker.submit(conn, frame(ApiKey::InitProducerId, 1, 2, &init), NOW).unwrap();
    let answers = broker.take_answers();
    let (_, init): (_, InitProducerIdResponse) =
        parse(ApiKey::InitProducerId, 1, answers[0].frame.as_ref().unwrap().as_ref().unwrap());
    assert_eq!(init.error_code, 0);
    let (producer_id, epoch) = (init.producer_id.0, init.producer_epoch);
    let add = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(txn_id.clone())
        .with_v3_and_below_producer_id(ProducerId(producer_id))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(vec![0])]);
    broker.submit(conn, frame(ApiKey::AddPartitionsToTxn, 3, 3, &add), NOW).unwrap();
    let answers = broker.take_answers();
    let (_, added): (_, AddPartitionsToTxnResponse) =
        parse(ApiKey::AddPartitionsToTxn, 3, answers[0].frame.as_ref().unwrap().as_ref().unwrap());
    assert_eq!(added.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code, 0);
    let mut batch = BatchBuilder::new(Compression::None).producer(producer_id, epoch, 0, true);
    batch.append(NOW, None, Some(b"in a transaction"), &[]);
    let data = PartitionProduceData::default().with_index(0).with_records(Some(Bytes::from(batch.build().unwrap())));
    let topic = TopicProduceData::default()
        .with_name(TopicName(StrBytes::from_static_str("t")))
        .with_partition_data(vec![data]);
    let produce = ProduceRequest::default()
        .with_transactional_id(Some(txn_id))
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![topic]);
    broker.submit(conn, frame(ApiKey::Produce, 9, 4, &produce), NOW).unwrap();
    let answers = broker.take_answers();
    let (_, produced): (_, ProduceResponse) =
        parse(ApiKey::Produce, 9, answers[0].frame.as_ref().unwrap().as_ref().unwrap());
    assert_eq!(produced.responses[0].partition_responses[0].error_code, 0);

    let view = inspect(broker.broker().unwrap(), &InspectLimits::default()).unwrap();
    let [txn] = &view.transactions[..] else { panic!("{:?}", view.transactions) };
    assert_eq!((txn.transactional_id.as_str(), txn.state.as_str()), ("txn-1", "Ongoing"));
    assert_eq!((txn.producer_id, txn.producer_epoch), (producer_id, epoch));
    assert_eq!(txn.partitions, [TopicPartitionView { topic: "t".into(), partition: 0 }]);
    let p = &view.topics.iter().find(|t| t.name == "t").unwrap().partitions[0];
    assert_eq!((p.high_watermark, p.last_stable_offset, p.log_end_offset), (11, 10, 11));
    let last = p.segments.last().unwrap().batches.last().unwrap();
    assert_eq!((last.base_offset, last.transactional, last.control, last.producer_id), (10, true, false, producer_id));
    assert!(view.topics.iter().any(|t| t.name == "__transaction_state"));
}
