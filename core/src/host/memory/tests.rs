//! The in-memory broker driven with real request frames, in virtual time.
#![allow(clippy::unwrap_used)]

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, CreateTopicsResponse, FetchRequest, FetchResponse,
    ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::*;
use crate::host::broker::memory_config;
use crate::record::{self, BatchBuilder, Compression, DecodeLimits};

pub(crate) const NOW: i64 = 1_700_000_000_000;

pub(crate) fn frame(api_key: ApiKey, version: i16, correlation_id: i32, body: &impl Encodable) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("memory-test")))
        .encode(&mut buf, api_key.request_header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    buf.freeze()
}

/// The correlation id and body of a response frame.
pub(crate) fn parse<T: Decodable>(api_key: ApiKey, version: i16, frame: &[u8]) -> (i32, T) {
    let size = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
    assert_eq!(size + 4, frame.len(), "the size prefix counts the rest of the frame");
    let mut buf = Bytes::copy_from_slice(&frame[4..]);
    let header = ResponseHeader::decode(&mut buf, api_key.response_header_version(version)).unwrap();
    (header.correlation_id, T::decode(&mut buf, version).unwrap())
}

pub(crate) fn start() -> MemoryBroker {
    MemoryBroker::start(memory_config::<&str, &str>(&[]).unwrap(), 7, NOW).unwrap()
}

pub(crate) fn create_topic(broker: &mut MemoryBroker, conn: ConnectionId, name: &str, partitions: i32) {
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(name.into())))
        .with_num_partitions(partitions)
        .with_replication_factor(1);
    create(broker, conn, topic);
}

/// Creates `topic` with CreateTopics v7 and checks that it was created.
pub(crate) fn create(broker: &mut MemoryBroker, conn: ConnectionId, topic: CreatableTopic) {
    let body = CreateTopicsRequest::default().with_topics(vec![topic]).with_timeout_ms(5000);
    broker.submit(conn, frame(ApiKey::CreateTopics, 7, 1, &body), NOW).unwrap();
    let answers = broker.take_answers();
    let (_, response): (_, CreateTopicsResponse) =
        parse(ApiKey::CreateTopics, 7, answers[0].frame.as_ref().unwrap().as_ref().unwrap());
    assert_eq!(response.topics[0].error_code, 0, "{:?}", response.topics[0].error_message);
}

pub(crate) fn produce_frame(topic: &str, values: &[&str], acks: i16, correlation_id: i32) -> Bytes {
    let mut batch = BatchBuilder::new(Compression::None);
    for value in values {
        batch.append(NOW, None, Some(value.as_bytes()), &[]);
    }
    let data = PartitionProduceData::default().with_index(0).with_records(Some(Bytes::from(batch.build().unwrap())));
    let topic = TopicProduceData::default()
        .with_name(TopicName(StrBytes::from_string(topic.into())))
        .with_partition_data(vec![data]);
    let body = ProduceRequest::default().with_acks(acks).with_timeout_ms(5000).with_topic_data(vec![topic]);
    frame(ApiKey::Produce, 9, correlation_id, &body)
}

fn fetch_frame(topic: &str, offset: i64, max_wait_ms: i32, correlation_id: i32) -> Bytes {
    let partition =
        FetchPartition::default().with_partition(0).with_fetch_offset(offset).with_partition_max_bytes(1 << 20);
    let topic = FetchTopic::default()
        .with_topic(TopicName(StrBytes::from_string(topic.into())))
        .with_partitions(vec![partition]);
    let body = FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![topic]);
    frame(ApiKey::Fetch, 12, correlation_id, &body)
}

fn values(response: &FetchResponse) -> Vec<String> {
    let records = response.responses[0].partitions[0].records.clone().unwrap_or_default();
    record::Batches::new(&records)
        .flat_map(|b| record::decode_records(b.unwrap(), DecodeLimits::default()).unwrap().1)
        .map(|r| String::from_utf8(r.value.unwrap().to_vec()).unwrap())
        .collect()
}

fn only_frame(answers: &[Answer]) -> &[u8] {
    assert_eq!(answers.len(), 1, "{answers:?}");
    answers[0].frame.as_ref().unwrap().as_ref().unwrap()
}

#[test]
fn api_versions_answers_with_the_request_correlation_id() {
    let mut broker = start();
    let conn = broker.connect().unwrap();
    let id = broker.submit(conn, frame(ApiKey::ApiVersions, 3, 42, &ApiVersionsRequest::default()), NOW).unwrap();
    let answers = broker.take_answers();
    assert_eq!((answers[0].connection, answers[0].request), (conn, id));
    let (correlation_id, response): (_, ApiVersionsResponse) = parse(ApiKey::ApiVersions, 3, only_frame(&answers));
    assert_eq!((correlation_id, response.error_code), (42, 0));
    assert!(response.api_keys.iter().any(|k| k.api_key == ApiKey::Produce as i16));
    // A version newer than potok's: answered in version 0 with UNSUPPORTED_VERSION, as Kafka does.
    let mut newer = frame(ApiKey::ApiVersions, 3, 44, &ApiVersionsRequest::default()).to_vec();
    newer[6..8].copy_from_slice(&99i16.to_be_bytes());
    broker.submit(conn, Bytes::from(newer), NOW).unwrap();
    let answers = broker.take_answers();
    let (correlation_id, response): (_, ApiVersionsResponse) = parse(ApiKey::ApiVersions, 0, only_frame(&answers));
    assert_eq!((correlation_id, response.error_code), (44, 35));
}

#[test]
fn produce_then_fetch_reads_the_records_back() {
    let mut broker = start();
    let conn = broker.connect().unwrap();
    create_topic(&mut broker, conn, "t", 1);
    broker.submit(conn, produce_frame("t", &["a", "b", "c"], -1, 2), NOW).unwrap();
    let answers = broker.take_answers();
    let (_, produced): (_, ProduceResponse) = parse(ApiKey::Produce, 9, only_frame(&answers));
    let p = &produced.responses[0].partition_responses[0];
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    broker.submit(conn, fetch_frame("t", 1, 0, 3), NOW).unwrap();
    let answers = broker.take_answers();
    let (_, fetched): (_, FetchResponse) = parse(ApiKey::Fetch, 12, only_frame(&answers));
    assert_eq!(fetched.responses[0].partitions[0].high_watermark, 3);
    // A fetch returns whole batches: offset 1 is inside the first one.
    assert_eq!(values(&fetched), ["a", "b", "c"]);
    // acks=0: no answer frame, but an answer.
    broker.submit(conn, produce_frame("t", &["d"], 0, 4), NOW).unwrap();
    let answers = broker.take_answers();
    assert!(matches!(answers[..], [Answer { frame: Ok(None), .. }]));
}

#[test]
fn a_parked_fetch_completes_on_produce_and_holds_back_its_connection() {
    let mut broker = start();
    let admin = broker.connect().unwrap();
    create_topic(&mut broker, admin, "t", 1);
    let consumer = broker.connect().unwrap();
    let fetch = broker.submit(consumer, fetch_frame("t", 0, 10_000, 10), NOW).unwrap();
    // Behind the parked fetch on the same connection: answered only after it.
    let versions =
        broker.submit(consumer, frame(ApiKey::ApiVersions, 3, 11, &ApiVersionsRequest::default()), NOW).unwrap();
    assert!(broker.take_answers().is_empty());
    assert!(broker.is_busy(consumer));
    broker.submit(admin, produce_frame("t", &["x"], -1, 12), NOW + 5).unwrap();
    let answers = broker.take_answers();
    let order: Vec<(ConnectionId, RequestId)> = answers.iter().map(|a| (a.connection, a.request)).collect();
    assert_eq!(order.len(), 3, "{order:?}");
    let fetch_at = order.iter().position(|a| *a == (consumer, fetch)).unwrap();
    let versions_at = order.iter().position(|a| *a == (consumer, versions)).unwrap();
    assert!(fetch_at < versions_at, "a connection's answers come in the order asked: {order:?}");
    let (correlation_id, fetched): (_, FetchResponse) =
        parse(ApiKey::Fetch, 12, answers[fetch_at].frame.as_ref().unwrap().as_ref().unwrap());
    assert_eq!(correlation_id, 10);
    assert_eq!(values(&fetched), ["x"]);
    assert!(!broker.is_busy(consumer));
}

#[test]
fn a_parked_fetch_answers_empty_at_its_deadline() {
    let mut broker = start();
    let conn = broker.connect().unwrap();
    create_topic(&mut broker, conn, "t", 1);
    broker.submit(conn, fetch_frame("t", 0, 500, 5), NOW).unwrap();
    assert!(broker.take_answers().is_empty());
    let next_ms = broker.poll(NOW + 100);
    assert!(next_ms <= NOW + 500, "the broker asks to be polled by the fetch's deadline ({next_ms})");
    assert!(broker.take_answers().is_empty());
    broker.poll(NOW + 500);
    let answers = broker.take_answers();
    let (_, fetched): (_, FetchResponse) = parse(ApiKey::Fetch, 12, only_frame(&answers));
    assert_eq!(fetched.responses[0].partitions[0].error_code, 0);
    assert!(values(&fetched).is_empty());
}

#[test]
fn an_unreadable_frame_closes_its_connection() {
    let mut broker = start();
    let conn = broker.connect().unwrap();
    create_topic(&mut broker, conn, "t", 1);
    let parked = broker.submit(conn, fetch_frame("t", 0, 10_000, 1), NOW).unwrap();
    let garbage = broker.submit(conn, Bytes::from_static(&[0, 0, 0, 4, 0x7f, 0, 0, 0]), NOW).unwrap();
    assert!(broker.take_answers().is_empty(), "the garbage waits behind the parked fetch");
    let other = broker.connect().unwrap();
    broker.submit(other, produce_frame("t", &["x"], 1, 2), NOW).unwrap();
    let answers = broker.take_answers();
    let failed = answers.iter().find(|a| a.request == garbage).unwrap();
    let error = failed.frame.as_ref().unwrap_err();
    assert_eq!((error.kind, error.name.as_str()), (crate::host::ErrorKind::Protocol, "INVALID_REQUEST"));
    assert!(answers.iter().any(|a| a.request == parked && a.frame.is_ok()));
    assert!(!broker.is_open(conn));
    assert!(broker.submit(conn, fetch_frame("t", 0, 0, 3), NOW).is_err(), "the connection is closed");
    // A frame whose size prefix does not match its length is refused as well.
    let third = broker.connect().unwrap();
    broker.submit(third, Bytes::from_static(&[0, 0, 0, 9, 0, 18]), NOW).unwrap();
    assert!(broker.take_answers()[0].frame.is_err());
}

#[test]
fn stop_fails_what_still_waits() {
    let mut broker = start();
    let conn = broker.connect().unwrap();
    create_topic(&mut broker, conn, "t", 1);
    let parked = broker.submit(conn, fetch_frame("t", 0, 10_000, 1), NOW).unwrap();
    broker.stop(NOW + 1).unwrap();
    let answers = broker.take_answers();
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].request, parked);
    assert_eq!(answers[0].frame.as_ref().unwrap_err().kind, crate::host::ErrorKind::Closed);
    assert!(broker.connect().is_err());
    assert_eq!(broker.poll(NOW + 2), i64::MAX);
}
