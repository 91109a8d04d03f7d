//! The broker over real TCP with hand-built requests: framing limits, malformed input, version fallback,
//! acks=0, long-poll fetch, and a restart that keeps topics and data. Real client libraries are exercised by
//! tests/clients (run by scripts/test.sh).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, CreateTopicsRequest, FetchRequest, MetadataRequest, ProduceRequest, RequestHeader,
    RequestKind, ResponseHeader, ResponseKind, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use potok::broker::BrokerConfig;
use potok::net::RunningBroker;
use potok::record::{self, BatchBuilder, Batches, Compression, DecodeLimits};

fn start(dir: Option<&std::path::Path>) -> RunningBroker {
    let mut config = BrokerConfig::default();
    config.set("listeners", "PLAINTEXT://127.0.0.1:0").unwrap();
    config.set("socket.request.max.bytes", "1048576").unwrap();
    if let Some(dir) = dir {
        config.set("log.dirs", dir.to_str().unwrap()).unwrap();
    }
    RunningBroker::start(config).unwrap()
}

fn connect(broker: &RunningBroker) -> TcpStream {
    let s = TcpStream::connect(broker.address()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn send(stream: &mut TcpStream, api: ApiKey, version: i16, correlation_id: i32, body: RequestKind) {
    stream.write_all(&request_frame(api, version, correlation_id, body)).unwrap();
}

fn request_frame(api: ApiKey, version: i16, correlation_id: i32, body: RequestKind) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("wire-test")));
    header.encode(&mut buf, api.request_header_version(version)).unwrap();
    body.encode(&mut buf, version).unwrap();
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    buf
}

fn receive(stream: &mut TcpStream, api: ApiKey, version: i16) -> (i32, ResponseKind) {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).unwrap();
    let mut frame = vec![0u8; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut frame).unwrap();
    let mut bytes = Bytes::from(frame);
    let header = ResponseHeader::decode(&mut bytes, api.response_header_version(version)).unwrap();
    (header.correlation_id, ResponseKind::decode(api, &mut bytes, version).unwrap())
}

fn call(stream: &mut TcpStream, api: ApiKey, version: i16, body: RequestKind) -> ResponseKind {
    send(stream, api, version, 7, body);
    let (correlation_id, response) = receive(stream, api, version);
    assert_eq!(correlation_id, 7);
    response
}

/// True if the peer closed the connection (read returns 0 or an error other than a timeout).
fn closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1];
    matches!(stream.read(&mut buf), Ok(0) | Err(_))
}

fn api_versions_works(broker: &RunningBroker) {
    let mut s = connect(broker);
    let ResponseKind::ApiVersions(r) = call(&mut s, ApiKey::ApiVersions, 3, ApiVersionsRequest::default().into())
    else {
        panic!("wrong response kind")
    };
    assert_eq!(r.error_code, 0);
    assert!(r.api_keys.iter().any(|k| k.api_key == ApiKey::Produce as i16 && k.min_version == 3));
    // kafka-leader-election and kafka-reassign-partitions refuse a broker that does not list these.
    for api in [ApiKey::ElectLeaders, ApiKey::AlterPartitionReassignments, ApiKey::ListPartitionReassignments] {
        assert!(r.api_keys.iter().any(|k| k.api_key == api as i16 && k.min_version == 0), "{api:?} not advertised");
    }
}

fn create_topic(s: &mut TcpStream, name: &str, partitions: i32) {
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(name.into())))
        .with_num_partitions(partitions)
        .with_replication_factor(1);
    let req = CreateTopicsRequest::default().with_topics(vec![topic]).with_timeout_ms(5000);
    let ResponseKind::CreateTopics(r) = call(s, ApiKey::CreateTopics, 7, req.into()) else { panic!() };
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
}

fn produce(s: &mut TcpStream, topic: &str, acks: i16, values: &[&str]) -> Option<i64> {
    let req = produce_request(topic, acks, values);
    if acks == 0 {
        send(s, ApiKey::Produce, 9, 7, req.into());
        return None;
    }
    let ResponseKind::Produce(r) = call(s, ApiKey::Produce, 9, req.into()) else { panic!() };
    let p = &r.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0);
    Some(p.base_offset)
}

fn produce_request(topic: &str, acks: i16, values: &[&str]) -> ProduceRequest {
    let mut b = BatchBuilder::new(Compression::Lz4);
    for v in values {
        b.append(1_700_000_000_000, None, Some(v.as_bytes()), &[]);
    }
    let data = PartitionProduceData::default().with_index(0).with_records(Some(Bytes::from(b.build().unwrap())));
    let topic = TopicProduceData::default()
        .with_name(TopicName(StrBytes::from_string(topic.into())))
        .with_partition_data(vec![data]);
    ProduceRequest::default().with_acks(acks).with_timeout_ms(5000).with_topic_data(vec![topic])
}

fn fetch_request(topic: &str, offset: i64, max_wait_ms: i32) -> FetchRequest {
    let partition =
        FetchPartition::default().with_partition(0).with_fetch_offset(offset).with_partition_max_bytes(1 << 20);
    let topic = FetchTopic::default()
        .with_topic(TopicName(StrBytes::from_string(topic.into())))
        .with_partitions(vec![partition]);
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![topic])
}

fn fetch_values(s: &mut TcpStream, topic: &str, offset: i64, max_wait_ms: i32) -> Vec<String> {
    let ResponseKind::Fetch(r) = call(s, ApiKey::Fetch, 12, fetch_request(topic, offset, max_wait_ms).into()) else {
        panic!()
    };
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    let records = p.records.clone().unwrap_or_default();
    let mut out = Vec::new();
    for batch in Batches::new(&records) {
        let (_, recs) = record::decode_records(batch.unwrap(), DecodeLimits::default()).unwrap();
        out.extend(recs.into_iter().map(|r| String::from_utf8(r.value.unwrap().to_vec()).unwrap()));
    }
    out
}

#[test]
fn oversized_and_malformed_frames_close_only_their_connection() {
    let broker = start(None);
    let mut keep = connect(&broker);
    call(&mut keep, ApiKey::ApiVersions, 3, ApiVersionsRequest::default().into());

    let mut s = connect(&broker);
    s.write_all(&(2_000_000i32).to_be_bytes()).unwrap(); // over socket.request.max.bytes, nothing else sent
    assert!(closed(&mut s), "oversized frame");

    let mut s = connect(&broker);
    s.write_all(&(-5i32).to_be_bytes()).unwrap();
    assert!(closed(&mut s), "negative frame size");

    let mut s = connect(&broker);
    s.write_all(&[0, 0, 0, 6, 0x7f, 0x7f, 0, 0, 0, 1]).unwrap(); // unknown API key
    assert!(closed(&mut s), "unknown api key");

    let mut s = connect(&broker);
    s.write_all(&[0, 0, 0, 8, 0, 0, 0, 99, 0, 0, 0, 1]).unwrap(); // Produce v99
    assert!(closed(&mut s), "unsupported version");

    // Metadata v0 claiming two billion topics in a 12-byte frame: an allocation bomb for a naive decoder. This
    // test binary runs with the system allocator, as a host process embedding core does.
    let mut s = connect(&broker);
    let mut frame = vec![0, 0, 0, 12, 0, 3, 0, 0, 0, 0, 0, 1, 0, 0];
    frame.extend_from_slice(&0x7fff_ff00i32.to_be_bytes());
    s.write_all(&frame).unwrap();
    assert!(closed(&mut s), "lying array count");

    // The broker still serves the connection it had and new ones.
    call(&mut keep, ApiKey::Metadata, 12, MetadataRequest::default().into());
    api_versions_works(&broker);
    broker.stop().unwrap();
}

#[test]
fn api_versions_newer_than_supported_falls_back_to_v0() {
    let broker = start(None);
    let mut s = connect(&broker);
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    buf.put_i16(ApiKey::ApiVersions as i16);
    buf.put_i16(99);
    buf.put_i32(42);
    buf.put_i16(-1);
    buf.put_u8(0);
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    s.write_all(&buf).unwrap();
    let mut size = [0u8; 4];
    s.read_exact(&mut size).unwrap();
    let mut frame = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut frame).unwrap();
    let mut bytes = Bytes::from(frame);
    assert_eq!(bytes.get_i32(), 42);
    let r = kafka_protocol::messages::ApiVersionsResponse::decode(&mut bytes, 0).unwrap();
    assert_eq!(r.error_code, 35, "UNSUPPORTED_VERSION");
    assert!(r.api_keys.iter().any(|k| k.api_key == ApiKey::Fetch as i16));
    broker.stop().unwrap();
}

#[test]
fn acks_zero_writes_without_answering() {
    let broker = start(None);
    let mut s = connect(&broker);
    create_topic(&mut s, "quiet", 1);
    produce(&mut s, "quiet", 0, &["a", "b"]);
    // The next response on this connection is the Metadata answer: nothing was sent for the produce.
    call(&mut s, ApiKey::Metadata, 12, MetadataRequest::default().into());
    assert_eq!(fetch_values(&mut s, "quiet", 0, 0), vec!["a", "b"]);
    broker.stop().unwrap();
}

#[test]
fn fetch_waits_for_data_then_returns_it() {
    let broker = start(None);
    let mut s = connect(&broker);
    create_topic(&mut s, "waiting", 1);
    let address = broker.address();
    let producer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let mut p = TcpStream::connect(address).unwrap();
        p.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        produce(&mut p, "waiting", 1, &["late"]);
    });
    // A 20 s wait that must end early because data arrives.
    assert_eq!(fetch_values(&mut s, "waiting", 0, 20_000), vec!["late"]);
    producer.join().unwrap();
    broker.stop().unwrap();
}

/// A request pipelined behind a parked one is answered as soon as the parked one is: the broker must not lose
/// track of the bytes already waiting on the socket (librdkafka pipelines acks=all produces this way).
#[test]
fn a_request_pipelined_behind_a_parked_fetch_is_answered_after_it() {
    let broker = start(None);
    let mut s = connect(&broker);
    create_topic(&mut s, "pipelined", 1);
    let started = std::time::Instant::now();
    send(&mut s, ApiKey::Fetch, 12, 1, fetch_request("pipelined", 0, 1_000).into());
    // Give the broker time to park the fetch before the next request arrives.
    std::thread::sleep(Duration::from_millis(200));
    send(&mut s, ApiKey::ApiVersions, 3, 2, ApiVersionsRequest::default().into());
    let (first, _) = receive(&mut s, ApiKey::Fetch, 12);
    let (second, answer) = receive(&mut s, ApiKey::ApiVersions, 3);
    assert_eq!((first, second), (1, 2));
    assert!(matches!(answer, ResponseKind::ApiVersions(r) if r.error_code == 0));
    // The fetch waited its second; the ApiVersions right after it, not a client timeout's worth more.
    assert!(started.elapsed() < Duration::from_secs(5), "answered after {:?}", started.elapsed());
    broker.stop().unwrap();
}

/// Requests that arrive together (a client pipelining, all in one write) are answered in order, and a parked
/// one among them does not hold back the answers to the requests before it: those go out before it waits.
#[test]
fn pipelined_requests_are_answered_in_order_and_a_parked_one_holds_back_none_before_it() {
    let broker = start(None);
    let mut s = connect(&broker);
    create_topic(&mut s, "together", 1);
    let mut all = request_frame(ApiKey::ApiVersions, 3, 1, ApiVersionsRequest::default().into());
    all.extend_from_slice(&request_frame(ApiKey::Produce, 9, 2, produce_request("together", 1, &["a", "b"]).into()));
    // Offset 2 is the log end after the produce: the fetch waits its whole max wait for data that never comes.
    all.extend_from_slice(&request_frame(ApiKey::Fetch, 12, 3, fetch_request("together", 2, 8_000).into()));
    all.extend_from_slice(&request_frame(ApiKey::ApiVersions, 3, 4, ApiVersionsRequest::default().into()));
    let started = std::time::Instant::now();
    s.write_all(&all).unwrap();
    assert_eq!(receive(&mut s, ApiKey::ApiVersions, 3).0, 1);
    let (id, ResponseKind::Produce(r)) = receive(&mut s, ApiKey::Produce, 9) else { panic!() };
    assert_eq!((id, r.responses[0].partition_responses[0].base_offset), (2, 0));
    assert!(started.elapsed() < Duration::from_secs(6), "the first answers waited for the fetch");
    let (id, ResponseKind::Fetch(f)) = receive(&mut s, ApiKey::Fetch, 12) else { panic!() };
    assert_eq!((id, f.responses[0].partitions[0].high_watermark), (3, 2));
    assert_eq!(receive(&mut s, ApiKey::ApiVersions, 3).0, 4);
    broker.stop().unwrap();
}

/// A request the broker cannot read closes its connection, but the requests that arrived before it in the same
/// write are answered first.
#[test]
fn requests_before_a_malformed_one_are_answered_before_the_connection_closes() {
    let broker = start(None);
    let mut s = connect(&broker);
    let mut all = request_frame(ApiKey::ApiVersions, 3, 1, ApiVersionsRequest::default().into());
    all.extend_from_slice(&request_frame(ApiKey::ApiVersions, 3, 2, ApiVersionsRequest::default().into()));
    all.extend_from_slice(&[0, 0, 0, 6, 0x7f, 0x7f, 0, 0, 0, 1]); // unknown API key
    s.write_all(&all).unwrap();
    assert_eq!(receive(&mut s, ApiKey::ApiVersions, 3).0, 1);
    assert_eq!(receive(&mut s, ApiKey::ApiVersions, 3).0, 2);
    assert!(closed(&mut s), "the malformed request closes the connection");
    let mut s = connect(&broker);
    let mut all = request_frame(ApiKey::ApiVersions, 3, 3, ApiVersionsRequest::default().into());
    all.extend_from_slice(&(2_000_000i32).to_be_bytes()); // over socket.request.max.bytes
    s.write_all(&all).unwrap();
    assert_eq!(receive(&mut s, ApiKey::ApiVersions, 3).0, 3);
    assert!(closed(&mut s), "the oversized frame closes the connection");
    api_versions_works(&broker);
    broker.stop().unwrap();
}

/// A request that arrives a byte at a time, and one split across writes with the next one's start, is read
/// whole and answered.
#[test]
fn requests_split_across_writes_are_read_whole() {
    let broker = start(None);
    let mut s = connect(&broker);
    s.set_nodelay(true).unwrap();
    create_topic(&mut s, "trickle", 1);
    let first = request_frame(ApiKey::Produce, 9, 1, produce_request("trickle", 1, &["slow"]).into());
    for byte in first.iter() {
        s.write_all(&[*byte]).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    let (id, ResponseKind::Produce(r)) = receive(&mut s, ApiKey::Produce, 9) else { panic!() };
    assert_eq!((id, r.responses[0].partition_responses[0].base_offset), (1, 0));
    let mut both = request_frame(ApiKey::Produce, 9, 2, produce_request("trickle", 1, &["x"]).into());
    both.extend_from_slice(&request_frame(ApiKey::ApiVersions, 3, 3, ApiVersionsRequest::default().into()));
    let (head, tail) = both.split_at(both.len() - 7);
    s.write_all(head).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    s.write_all(tail).unwrap();
    let (id, ResponseKind::Produce(r)) = receive(&mut s, ApiKey::Produce, 9) else { panic!() };
    assert_eq!((id, r.responses[0].partition_responses[0].base_offset), (2, 1));
    assert_eq!(receive(&mut s, ApiKey::ApiVersions, 3).0, 3);
    assert_eq!(fetch_values(&mut s, "trickle", 0, 0), vec!["slow", "x"]);
    broker.stop().unwrap();
}

/// Polls `done` every 10 ms for up to 10 s.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Each partition's `partition.metadata` (its topic id, in Kafka's format) is written once CreateTopics is
/// answered, as Kafka writes it, and at the latest with the first batch; one missing at start, after a crash
/// that came first, is written again.
#[test]
fn partition_metadata_is_written_after_creation_and_restored_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = start(Some(tmp.path()));
    let mut s = connect(&broker);
    create_topic(&mut s, "ids", 2);
    let file = |p: i32| tmp.path().join(format!("ids-{p}/partition.metadata"));
    assert_eq!(produce(&mut s, "ids", -1, &["one"]), Some(0));
    let written = std::fs::read_to_string(file(0)).unwrap();
    assert!(written.starts_with("version: 0\ntopic_id: ") && written.len() == 44, "{written:?}");
    eventually("ids-1/partition.metadata", || file(1).exists());
    assert_eq!(std::fs::read_to_string(file(1)).unwrap(), written, "one topic id for both partitions");
    drop(s);
    broker.stop().unwrap();

    std::fs::remove_file(file(1)).unwrap();
    let broker = start(Some(tmp.path()));
    eventually("ids-1/partition.metadata written again", || file(1).exists());
    assert_eq!(std::fs::read_to_string(file(1)).unwrap(), written);
    broker.stop().unwrap();
}

#[test]
fn restart_keeps_topics_offsets_and_data() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = start(Some(tmp.path()));
    let mut s = connect(&broker);
    create_topic(&mut s, "durable", 2);
    assert_eq!(produce(&mut s, "durable", -1, &["one", "two"]), Some(0));
    assert_eq!(produce(&mut s, "durable", 1, &["three"]), Some(2));
    drop(s);
    broker.stop().unwrap();
    assert!(tmp.path().join(".kafka_cleanshutdown").exists());
    assert!(tmp.path().join("meta.properties").exists());
    assert!(tmp.path().join("durable-0/partition.metadata").exists());
    assert!(tmp.path().join("recovery-point-offset-checkpoint").exists());

    let broker = start(Some(tmp.path()));
    let mut s = connect(&broker);
    let ResponseKind::Metadata(m) =
        call(&mut s, ApiKey::Metadata, 12, MetadataRequest::default().with_topics(None).into())
    else {
        panic!()
    };
    let topic = m.topics.iter().find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == "durable")).unwrap();
    assert_eq!(topic.partitions.len(), 2);
    assert_eq!(fetch_values(&mut s, "durable", 0, 0), vec!["one", "two", "three"]);
    assert_eq!(produce(&mut s, "durable", 1, &["four"]), Some(3));
    broker.stop().unwrap();
}

fn produce_batch(s: &mut TcpStream, topic: &str, batch: Vec<u8>) -> (i16, i64) {
    let data = PartitionProduceData::default().with_index(0).with_records(Some(Bytes::from(batch)));
    let topic = TopicProduceData::default()
        .with_name(TopicName(StrBytes::from_string(topic.into())))
        .with_partition_data(vec![data]);
    let req = ProduceRequest::default().with_acks(-1).with_timeout_ms(5000).with_topic_data(vec![topic]);
    let ResponseKind::Produce(r) = call(s, ApiKey::Produce, 9, req.into()) else { panic!() };
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn idempotent_batch(producer_id: i64, epoch: i16, sequence: i32, values: &[&str]) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None).producer(producer_id, epoch, sequence, false);
    for v in values {
        b.append(1_700_000_000_000, None, Some(v.as_bytes()), &[]);
    }
    b.build().unwrap()
}

#[test]
fn idempotent_retries_are_written_once_and_gaps_refused() {
    let broker = start(None);
    let mut s = connect(&broker);
    create_topic(&mut s, "exactly", 1);
    let req = kafka_protocol::messages::InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000);
    let ResponseKind::InitProducerId(r) = call(&mut s, ApiKey::InitProducerId, 4, req.into()) else { panic!() };
    assert_eq!((r.error_code, r.producer_epoch), (0, 0));
    let pid = r.producer_id.0;
    assert!(pid >= 0);

    assert_eq!(produce_batch(&mut s, "exactly", idempotent_batch(pid, 0, 0, &["a", "b"])), (0, 0));
    // The same batch again (a retry after a lost response) is acknowledged with its original offset.
    assert_eq!(produce_batch(&mut s, "exactly", idempotent_batch(pid, 0, 0, &["a", "b"])), (0, 0));
    assert_eq!(produce_batch(&mut s, "exactly", idempotent_batch(pid, 0, 2, &["c"])), (0, 2));
    // A gap in the sequence is refused: OUT_OF_ORDER_SEQUENCE_NUMBER.
    assert_eq!(produce_batch(&mut s, "exactly", idempotent_batch(pid, 0, 9, &["x"])).0, 45);
    // A new epoch starts at 0; the old epoch is then refused: INVALID_PRODUCER_EPOCH.
    assert_eq!(produce_batch(&mut s, "exactly", idempotent_batch(pid, 1, 0, &["d"])), (0, 3));
    assert_eq!(produce_batch(&mut s, "exactly", idempotent_batch(pid, 0, 3, &["y"])).0, 47);
    // Two batches in one partition's data are refused (INVALID_RECORD), as Kafka does from Produce v3.
    let mut two = idempotent_batch(pid, 1, 1, &["e"]);
    two.extend(idempotent_batch(pid, 1, 2, &["f"]));
    assert_eq!(produce_batch(&mut s, "exactly", two).0, 87);
    assert_eq!(fetch_values(&mut s, "exactly", 0, 0), vec!["a", "b", "c", "d"]);
    // A second producer gets another id.
    let req = kafka_protocol::messages::InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000);
    let ResponseKind::InitProducerId(r) = call(&mut s, ApiKey::InitProducerId, 4, req.into()) else { panic!() };
    assert_ne!(r.producer_id.0, pid);
    broker.stop().unwrap();
}
