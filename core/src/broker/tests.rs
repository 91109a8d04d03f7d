//! The broker driven directly, without a network: requests in, outcomes out.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    ApiKey, DeleteGroupsRequest, GroupId, OffsetCommitRequest, OffsetFetchRequest, RequestHeader, TopicName,
};

use super::*;
use crate::storage::{AppendOrigin, Backend, MemoryBackend};

const NOW: i64 = 1_700_000_000_000;

fn broker(backend: &MemoryBackend) -> Broker {
    let listener = Listener { name: "PLAINTEXT".into(), host: "127.0.0.1".into(), port: 9092 };
    // One offsets partition keeps the in-memory files small.
    let config = BrokerConfig { offsets_topic_num_partitions: 1, ..BrokerConfig::default() };
    Broker::open(config, Arc::new(backend.clone()), Path::new("/logs"), listener, 7, NOW).unwrap()
}

fn request(api_key: ApiKey, version: i16, body: RequestKind) -> Request {
    let header = RequestHeader::default().with_request_api_key(api_key as i16).with_request_api_version(version);
    Request { api_key, header, body }
}

fn respond(broker: &Broker, request: Request) -> ResponseKind {
    match broker.handle(request, &RequestContext::default(), NOW) {
        Outcome::Respond(r) => r,
        other => panic!("expected an answer, got {other:?}"),
    }
}

fn commit(broker: &Broker, group: &str, offset: i64) -> i16 {
    let partition = OffsetCommitRequestPartition::default().with_partition_index(0).with_committed_offset(offset);
    let topic =
        OffsetCommitRequestTopic::default().with_name(TopicName(str_bytes("t"))).with_partitions(vec![partition]);
    let body = OffsetCommitRequest::default()
        .with_group_id(GroupId(str_bytes(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![topic]);
    match respond(broker, request(ApiKey::OffsetCommit, 8, RequestKind::OffsetCommit(body))) {
        ResponseKind::OffsetCommit(r) => r.topics[0].partitions[0].error_code,
        other => panic!("{other:?}"),
    }
}

fn committed(broker: &Broker, group: &str) -> i64 {
    let topic = OffsetFetchRequestTopic::default().with_name(TopicName(str_bytes("t"))).with_partition_indexes(vec![0]);
    let body = OffsetFetchRequest::default().with_group_id(GroupId(str_bytes(group))).with_topics(Some(vec![topic]));
    match respond(broker, request(ApiKey::OffsetFetch, 7, RequestKind::OffsetFetch(body))) {
        ResponseKind::OffsetFetch(r) => r.topics[0].partitions[0].committed_offset,
        other => panic!("{other:?}"),
    }
}

/// An offset commit whose record cannot be stored changes nothing, and the client hears why; nor does a
/// group deletion that cannot be stored, and both work once the disk has room again.
#[test]
fn group_changes_apply_only_after_their_records_are_stored() {
    let backend = MemoryBackend::new();
    let broker = broker(&backend);
    let image = broker.metadata();
    assert!(image.topics.is_empty());
    broker.create_topic("t", 1, Default::default(), NOW).unwrap();
    assert_eq!(commit(&broker, "g", 5), 0);
    assert_eq!(committed(&broker, "g"), 5);

    backend.set_full(true);
    assert_eq!(
        commit(&broker, "g", 9),
        ResponseError::NotCoordinator.code(),
        "a storage failure moves the coordinator"
    );
    assert_eq!(committed(&broker, "g"), 5, "the failed commit left nothing behind");
    let delete = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(str_bytes("g"))]);
    match respond(&broker, request(ApiKey::DeleteGroups, 2, RequestKind::DeleteGroups(delete.clone()))) {
        ResponseKind::DeleteGroups(r) => assert_eq!(r.results[0].error_code, ResponseError::NotCoordinator.code()),
        other => panic!("{other:?}"),
    }
    assert_eq!(committed(&broker, "g"), 5, "the group and its offsets are still there");

    backend.set_full(false);
    assert_eq!(commit(&broker, "g", 9), 0);
    assert_eq!(committed(&broker, "g"), 9);
    match respond(&broker, request(ApiKey::DeleteGroups, 2, RequestKind::DeleteGroups(delete))) {
        ResponseKind::DeleteGroups(r) => assert_eq!(r.results[0].error_code, 0),
        other => panic!("{other:?}"),
    }
    assert_eq!(committed(&broker, "g"), -1);
    // What was stored is what a restart finds.
    drop(broker);
    let broker = self::broker(&backend);
    assert_eq!(committed(&broker, "g"), -1);
}

fn fetch_request(isolation_level: i8, max_wait_ms: i32) -> FetchRequest {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    let partition = FetchPartition::default().with_partition(0).with_fetch_offset(0).with_partition_max_bytes(1 << 20);
    let topic = FetchTopic::default().with_topic(TopicName(str_bytes("t"))).with_partitions(vec![partition]);
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_isolation_level(isolation_level)
        .with_topics(vec![topic])
}

fn park_fetch(broker: &Broker, token: Token, request: FetchRequest) {
    let ctx = RequestContext { token, ..RequestContext::default() };
    let outcome = broker.handle(self::request(ApiKey::Fetch, 12, RequestKind::Fetch(request)), &ctx, NOW);
    assert!(matches!(outcome, Outcome::Parked), "{outcome:?}");
}

fn fetched(broker: &Broker, token: Token) -> Option<kafka_protocol::messages::FetchResponse> {
    broker.take_completions().into_iter().find(|(t, _)| *t == token).map(|(_, r)| match r {
        ResponseKind::Fetch(f) => f,
        other => panic!("{other:?}"),
    })
}

fn append(broker: &Broker, records: Vec<u8>, origin: AppendOrigin) {
    let replica = broker.partition("t", 0).unwrap();
    replica.append_as_leader(&records, origin, 1, 1, NOW, |_| Ok(())).unwrap();
}

/// A waiting read_committed fetch is answered when a transaction marker makes records stable, not at its
/// deadline (it used to wait for the next produce); an empty one is answered at its deadline; one whose
/// connection closed is forgotten; one on a deleted topic is answered with the error at once.
#[test]
fn waiting_fetches_complete_on_events_and_time() {
    use crate::record::{BatchBuilder, Compression, ControlType};
    let backend = MemoryBackend::new();
    let broker = broker(&backend);
    broker.create_topic("t", 1, Default::default(), NOW).unwrap();
    let mut txn = BatchBuilder::new(Compression::None).producer(4, 0, 0, true);
    txn.append(NOW, None, Some(b"pending"), &[]);
    append(&broker, txn.build().unwrap(), AppendOrigin::Client);

    park_fetch(&broker, 1, fetch_request(1, 30_000));
    assert!(fetched(&broker, 1).is_none(), "nothing stable to read yet");
    let commit = BatchBuilder::control_marker(ControlType::Commit, 0, 4, 0, NOW).build().unwrap();
    append(&broker, commit, AppendOrigin::Coordinator);
    broker.poll(NOW + 1);
    let response = fetched(&broker, 1).expect("answered by the marker, long before the deadline");
    let p = &response.responses[0].partitions[0];
    assert_eq!((p.error_code, p.last_stable_offset), (0, 2));
    assert!(p.records.as_ref().is_some_and(|r| !r.is_empty()));

    // Nothing new at offset 2: answered empty at the deadline.
    let mut at_end = fetch_request(0, 500);
    at_end.topics[0].partitions[0].fetch_offset = 2;
    park_fetch(&broker, 2, at_end.clone());
    assert!(broker.poll(NOW + 100) <= NOW + 500, "the broker asks to be polled by the deadline");
    assert!(fetched(&broker, 2).is_none());
    broker.poll(NOW + 500);
    assert!(fetched(&broker, 2).unwrap().responses[0].partitions[0].records.as_ref().is_none_or(|r| r.is_empty()));

    // A cancelled fetch is never answered; a fetch on a deleted topic is answered with the error.
    park_fetch(&broker, 3, at_end.clone());
    broker.cancel(3);
    park_fetch(&broker, 4, at_end);
    let delete =
        kafka_protocol::messages::DeleteTopicsRequest::default().with_topic_names(vec![TopicName(str_bytes("t"))]);
    respond(&broker, request(ApiKey::DeleteTopics, 5, RequestKind::DeleteTopics(delete)));
    let done = broker.take_completions();
    assert!(done.iter().all(|(t, _)| *t != 3));
    let (_, ResponseKind::Fetch(gone)) = done.into_iter().find(|(t, _)| *t == 4).expect("answered on deletion") else {
        panic!()
    };
    assert_eq!(gone.responses[0].partitions[0].error_code, ResponseError::UnknownTopicOrPartition.code());
}

/// A broker restarted on its data leads its partitions again (it registers anew, catches up, is unfenced and
/// elected), with a new leader epoch each time, as a single Kafka node does.
#[test]
fn a_restarted_broker_leads_its_partitions_again() {
    let backend = MemoryBackend::new();
    let b = broker(&backend);
    b.create_topic("t", 2, Default::default(), NOW).unwrap();
    let epoch = b.metadata().topics["t"].partitions[0].leader_epoch;
    assert!(b.partition("t", 0).unwrap().is_leader());
    b.shutdown(NOW).unwrap();
    let b = broker(&backend);
    let image = b.metadata();
    let p = &image.topics["t"].partitions[0];
    assert_eq!(p.leader, 1, "{p:?} {:?}", image.brokers);
    assert!(p.leader_epoch > epoch);
    assert!(b.partition("t", 0).unwrap().is_leader());
    assert_eq!(b.partition("t", 1).unwrap().leader_epoch(), image.topics["t"].partitions[1].leader_epoch);
}

/// A partition directory that no log is registered for was left by a creation that failed or was cut short by
/// a crash: creating the partition again starts afresh rather than adopt what it holds.
#[test]
fn creating_a_partition_replaces_a_directory_left_by_an_interrupted_creation() {
    let backend = MemoryBackend::new();
    let b = broker(&backend);
    let dir = Path::new("/logs/t-0");
    backend.create_dir_all(dir).unwrap();
    backend.open(&dir.join("00000000000000000000.log"), true).unwrap().append(&[7; 100]).unwrap();
    backend.open(&dir.join("leftover"), true).unwrap();
    b.create_topic("t", 1, Default::default(), NOW).unwrap();
    assert!(!backend.exists(&dir.join("leftover")));
    assert_eq!(backend.open(&dir.join("00000000000000000000.log"), false).unwrap().len(), 0);
    assert_eq!(b.partition("t", 0).unwrap().log_end_offset(), 0);
}

/// A broker on real files, for the zero-copy Fetch path.
#[cfg(all(feature = "native", target_os = "linux"))]
fn file_broker(dir: &Path) -> Broker {
    let listener = Listener { name: "PLAINTEXT".into(), host: "127.0.0.1".into(), port: 9092 };
    let config = BrokerConfig { offsets_topic_num_partitions: 1, ..BrokerConfig::default() };
    Broker::open(config, Arc::new(crate::storage::FileBackend), dir, listener, 7, NOW).unwrap()
}

/// A Fetch of `topics` (name, id, partitions) from offset 0 in `version`.
#[cfg(all(feature = "native", target_os = "linux"))]
fn fetch_all(version: i16, topics: &[(&str, Uuid, &[i32])], isolation_level: i8, max_bytes: i32) -> FetchRequest {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    let topics = topics
        .iter()
        .map(|(name, id, partitions)| {
            let partitions = partitions
                .iter()
                .map(|p| {
                    FetchPartition::default()
                        .with_partition(*p)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(max_bytes)
                })
                .collect();
            let topic = FetchTopic::default().with_partitions(partitions);
            if version >= 13 {
                topic.with_topic_id(*id)
            } else {
                topic.with_topic(TopicName(str_bytes(*name)))
            }
        })
        .collect();
    FetchRequest::default().with_max_bytes(max_bytes).with_isolation_level(isolation_level).with_topics(topics)
}

/// The frame a broker answers `fetch` with, as parts and as the bytes the copying path writes.
#[cfg(all(feature = "native", target_os = "linux"))]
fn fetch_frames(broker: &Broker, fetch: &FetchRequest, version: i16) -> (crate::protocol::ResponseFrame, Vec<u8>) {
    use crate::protocol::{encode_response, encode_response_parts, FileRecords};
    let handle = |zero_copy| {
        broker.set_zero_copy_fetch(zero_copy);
        let request = request(ApiKey::Fetch, version, RequestKind::Fetch(fetch.clone()));
        match broker.handle(request, &RequestContext::default(), NOW) {
            Outcome::Respond(r) => (r, FileRecords::default()),
            Outcome::RespondWithFiles(r, files) => (r, files),
            other => panic!("expected an answer, got {other:?}"),
        }
    };
    let (copied, none) = handle(false);
    assert!(none.is_empty(), "the copying path leaves nothing in files");
    let copied = encode_response(ApiKey::Fetch, version, 42, &copied).unwrap().to_vec();
    let (body, files) = handle(true);
    let frame = encode_response_parts(ApiKey::Fetch, version, 42, &body, &files).unwrap();
    (frame, copied)
}

/// A Fetch answered from file ranges (sent with sendfile) is byte for byte the frame the copying path encodes,
/// in every Fetch version, with several topics and partitions (some empty, some unknown), aborted transactions
/// for read_committed, and the `max_bytes` bounds cutting a partition short.
#[test]
#[cfg(all(feature = "native", target_os = "linux"))]
fn fetch_from_file_ranges_is_byte_identical_to_copying() {
    use crate::protocol::FramePart;
    use crate::record::{BatchBuilder, Compression, ControlType};
    let dir = tempfile::tempdir().unwrap();
    let broker = file_broker(dir.path());
    let a = broker.create_topic("a", 3, Default::default(), NOW).unwrap();
    let b = broker.create_topic("b", 1, Default::default(), NOW).unwrap();
    for (topic, partition, batches) in [("a", 0, 5), ("a", 2, 1), ("b", 0, 3)] {
        let replica = broker.partition(topic, partition).unwrap();
        for n in 0..batches {
            let mut batch = BatchBuilder::new(Compression::None);
            // Batches of about 20 KiB, answered from files, except a-2's small one (copied, between ranges).
            let repeat = if (topic, partition) == ("a", 2) { 1 } else { 200 };
            for i in 0..10 {
                let value = format!("{topic}{partition}-{n}-{i}").repeat(repeat);
                batch.append(NOW, Some(format!("k{i}").as_bytes()), Some(value.as_bytes()), &[]);
            }
            replica.append_as_leader(&batch.build().unwrap(), AppendOrigin::Client, 1, 1, NOW, |_| Ok(())).unwrap();
        }
    }
    // An aborted transaction on b-0, for read_committed's aborted list.
    let replica = broker.partition("b", 0).unwrap();
    let mut txn = BatchBuilder::new(Compression::None).producer(9, 0, 0, true);
    txn.append(NOW, None, Some(b"aborted"), &[]);
    replica.append_as_leader(&txn.build().unwrap(), AppendOrigin::Client, 1, 1, NOW, |_| Ok(())).unwrap();
    let abort = BatchBuilder::control_marker(ControlType::Abort, 0, 9, 0, NOW).build().unwrap();
    replica.append_as_leader(&abort.clone(), AppendOrigin::Coordinator, 1, 1, NOW, |_| Ok(())).unwrap();

    let unknown = Uuid::from_u128(7);
    let topics: [(&str, Uuid, &[i32]); 3] = [("a", a, &[0, 1, 2]), ("missing", unknown, &[0]), ("b", b, &[0])];
    let mut slices = 0;
    for version in 4..=18 {
        for (isolation, max_bytes) in [(0, 1 << 20), (1, 1 << 20), (0, 50_000), (0, 300)] {
            let fetch = fetch_all(version, &topics, isolation, max_bytes);
            let (frame, copied) = fetch_frames(&broker, &fetch, version);
            assert_eq!(frame.to_bytes().unwrap().to_vec(), copied, "version {version}, isolation {isolation}");
            assert_eq!(i32::from_be_bytes(copied[..4].try_into().unwrap()) as usize, copied.len() - 4);
            slices += frame.parts.iter().filter(|p| matches!(p, FramePart::File(_))).count();
        }
    }
    assert!(slices >= 15 * 4, "the records came from file ranges ({slices} of them)");
}

/// A segment that retention deletes while a Fetch answer holds a range of it is still sent whole: the answer
/// holds the file open (Linux keeps an unlinked file until its last descriptor closes).
#[test]
#[cfg(all(feature = "native", target_os = "linux"))]
fn a_segment_deleted_under_a_fetch_answer_is_still_sent() {
    use crate::record::{BatchBuilder, Compression};
    let dir = tempfile::tempdir().unwrap();
    let broker = file_broker(dir.path());
    let id = broker.create_topic("t", 1, Default::default(), NOW).unwrap();
    let replica = broker.partition("t", 0).unwrap();
    let append = |value: &[u8]| {
        let mut batch = BatchBuilder::new(Compression::None);
        batch.append(NOW, None, Some(value), &[]);
        replica.append_as_leader(&batch.build().unwrap(), AppendOrigin::Client, 1, 1, NOW, |_| Ok(())).unwrap();
    };
    // Over the size answered from files (SEND_FILE_MIN_BYTES).
    append(&[1u8; 12_000]);
    append(&[2u8; 12_000]);
    replica.log().roll(NOW).unwrap();
    append(&[3u8; 12_000]);
    let first_segment = dir.path().join("t-0").join(crate::storage::segment::file_name(0, ".log"));
    assert!(first_segment.exists());

    let fetch = fetch_all(16, &[("t", id, &[0])], 0, 1 << 20);
    let (frame, copied) = fetch_frames(&broker, &fetch, 16);
    assert!(frame.parts.iter().any(|p| matches!(p, crate::protocol::FramePart::File(_))));

    // DeleteRecords moves the log start past the segment; retention (or DeleteRecords itself) removes it.
    replica.delete_records_before(2, NOW).unwrap();
    replica.log().enforce_retention(NOW).unwrap();
    assert_eq!(replica.log().segment_count(), 1);
    assert!(!first_segment.exists(), "retention deleted the segment the answer reads");
    assert_eq!(frame.to_bytes().unwrap().to_vec(), copied, "the answer is whole and unchanged");
}

/// Kafka's record rules, checked record by record in the pass that validates a produced batch (compressed
/// ones decompressed once): a compacted topic refuses records without a key, a CreateTime topic records whose
/// timestamp is further than `message.timestamp.before.max.ms` behind or `after.max.ms` ahead of the broker's
/// time, whichever record of the batch it is. The answer names each refused record (Kafka's record errors),
/// INVALID_TIMESTAMP if any timestamp was refused, and nothing of the batch is stored. A LogAppendTime topic
/// takes any timestamp, and a follower's copy is not checked again.
#[test]
fn produced_records_are_checked_for_keys_and_timestamps_each_and_refused_by_name() {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::produce_response::PartitionProduceResponse;
    use kafka_protocol::messages::ProduceRequest;

    use crate::record::{BatchBuilder, Compression};
    const HOUR: i64 = 3_600_000;
    let backend = MemoryBackend::new();
    let broker = broker(&backend);
    let config = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    broker.create_topic("compacted", 1, config(&[("cleanup.policy", "compact")]), NOW).unwrap();
    broker.create_topic("recent", 1, config(&[("message.timestamp.before.max.ms", "60000")]), NOW).unwrap();
    broker.create_topic("appended", 1, config(&[("message.timestamp.type", "LogAppendTime")]), NOW).unwrap();
    let produce = |topic: &str, records: &[(i64, Option<&[u8]>)], compression| -> PartitionProduceResponse {
        let mut batch = BatchBuilder::new(compression);
        for (timestamp, key) in records {
            batch.append(*timestamp, *key, Some(b"value"), &[]);
        }
        let data = PartitionProduceData::default().with_index(0).with_records(Some(batch.build().unwrap().into()));
        let topic = TopicProduceData::default().with_name(TopicName(str_bytes(topic))).with_partition_data(vec![data]);
        let body = ProduceRequest::default().with_acks(1).with_timeout_ms(5000).with_topic_data(vec![topic]);
        match respond(&broker, request(ApiKey::Produce, 9, RequestKind::Produce(body))) {
            ResponseKind::Produce(r) => r.responses[0].partition_responses[0].clone(),
            other => panic!("{other:?}"),
        }
    };
    let refused = |p: &PartitionProduceResponse| -> Vec<(i32, String)> {
        p.record_errors
            .iter()
            .map(|e| (e.batch_index, e.batch_index_error_message.as_deref().unwrap_or_default().to_string()))
            .collect()
    };
    let stored = |topic: &str| broker.partition(topic, 0).unwrap().log_end_offset();

    let no_key = "Compacted topic cannot accept message without key in topic partition compacted-0".to_string();
    let keyless = [(NOW, Some(&b"a"[..])), (NOW, None), (NOW, Some(b"b")), (NOW, None), (NOW, None), (NOW, None)];
    for compression in [Compression::None, Compression::Lz4] {
        let p = produce("compacted", &keyless, compression);
        assert_eq!(p.error_code, ResponseError::InvalidRecord.code(), "{compression:?}");
        let expected: Vec<_> = [1, 3, 4, 5].into_iter().map(|i| (i, no_key.clone())).collect();
        assert_eq!(refused(&p), expected);
        let message = p.error_message.as_deref().unwrap();
        assert!(message.starts_with("One or more records have been rejected due to 4 record errors in total"));
        assert_eq!(message.matches("RecordError(batchIndex=").count(), 3, "{message}");
        assert_eq!(stored("compacted"), 0, "nothing of the batch is stored");
    }
    let p = produce("compacted", &[(NOW, Some(b"a")), (NOW, Some(b"b"))], Compression::Lz4);
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    assert!(p.record_errors.is_empty());

    // The first record's timestamp is fine, the second's is too old, the third's too far ahead.
    let late = |offset: i64, timestamp: i64| {
        format!(
            "Timestamp {timestamp} of message with offset {offset} is out of range. The timestamp should be within [{}, {}]",
            NOW - 60_000,
            NOW + HOUR
        )
    };
    let p = produce("recent", &[(NOW, None), (NOW - 120_000, None), (NOW + 2 * HOUR, None)], Compression::None);
    assert_eq!(p.error_code, ResponseError::InvalidTimestamp.code());
    assert_eq!(p.error_message.as_deref(), Some("One or more records have been rejected due to invalid timestamp"));
    assert_eq!(refused(&p), [(1, late(1, NOW - 120_000)), (2, late(2, NOW + 2 * HOUR))]);
    assert_eq!(stored("recent"), 0);
    let p = produce("recent", &[(NOW - 60_000, None), (NOW + HOUR, None)], Compression::None);
    assert_eq!((p.error_code, p.base_offset), (0, 0), "both ends of the range are in it");

    // A keyless record and a future one: INVALID_TIMESTAMP, naming both.
    let p = produce("compacted", &[(NOW, None), (NOW + 2 * HOUR, Some(b"k"))], Compression::None);
    assert_eq!(p.error_code, ResponseError::InvalidTimestamp.code());
    let far = format!(
        "Timestamp {} of message with offset 1 is out of range. The timestamp should be within [{}, {}]",
        NOW + 2 * HOUR,
        NOW.saturating_sub(i64::MAX),
        NOW + HOUR
    );
    assert_eq!(refused(&p), [(0, no_key), (1, far)]);
    assert_eq!(stored("compacted"), 2);

    // LogAppendTime: the broker sets the timestamps, so a producer's are not checked.
    let p = produce("appended", &[(NOW + 2 * HOUR, None)], Compression::None);
    assert_eq!((p.error_code, p.base_offset), (0, 0));

    // A follower's copy is not checked again.
    let mut copy = BatchBuilder::new(Compression::None).base_offset(2);
    copy.append(NOW, None, Some(b"copied"), &[]);
    let copy = copy.build().unwrap();
    let replica = broker.partition("compacted", 0).unwrap();
    let log = replica.log();
    assert!(log.validate(&copy, AppendOrigin::Replication, NOW).is_ok());
    assert!(log.validate(&copy, AppendOrigin::Client, NOW).is_err());
}
