//! Transactions over real TCP with hand-built requests: InitProducerId with a transactional id,
//! AddPartitionsToTxn, a transactional Produce, EndTxn, what read_committed and read_uncommitted Fetch and
//! ListOffsets see, DescribeTransactions / ListTransactions, fencing by a second InitProducerId, the checks on
//! bad requests, and the coordinator's state after a restart. Real clients are exercised by tests/clients.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, ApiKey, CreateTopicsRequest, DescribeTransactionsRequest, EndTxnRequest, FetchRequest,
    FetchResponse, FindCoordinatorRequest, InitProducerIdRequest, ListOffsetsRequest, ListTransactionsRequest,
    ProduceRequest, ProducerId, RequestHeader, RequestKind, ResponseHeader, ResponseKind, TopicName, TransactionalId,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use potok::broker::BrokerConfig;
use potok::net::RunningBroker;
use potok::record::{self, BatchBuilder, Batches, Compression, DecodeLimits};

fn start(dir: &std::path::Path) -> RunningBroker {
    let mut config = BrokerConfig::default();
    config.set("listeners", "PLAINTEXT://127.0.0.1:0").unwrap();
    config.set("log.dirs", dir.to_str().unwrap()).unwrap();
    // Few partitions for the internal topics keep the test's files and time small.
    config.set("transaction.state.log.num.partitions", "3").unwrap();
    config.set("offsets.topic.num.partitions", "3").unwrap();
    config.set("transaction.max.timeout.ms", "60000").unwrap();
    RunningBroker::start(config).unwrap()
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.into())
}

fn call(stream: &mut TcpStream, api: ApiKey, version: i16, body: RequestKind) -> ResponseKind {
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(s("txn-wire-test")));
    header.encode(&mut buf, api.request_header_version(version)).unwrap();
    body.encode(&mut buf, version).unwrap();
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    stream.write_all(&buf).unwrap();
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).unwrap();
    let mut frame = vec![0u8; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut frame).unwrap();
    let mut bytes = Bytes::from(frame);
    let header = ResponseHeader::decode(&mut bytes, api.response_header_version(version)).unwrap();
    assert_eq!(header.correlation_id, 7);
    ResponseKind::decode(api, &mut bytes, version).unwrap()
}

fn connect(broker: &RunningBroker) -> TcpStream {
    let s = TcpStream::connect(broker.address()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn init(c: &mut TcpStream, id: &str, timeout_ms: i32) -> (i16, i64, i16) {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s(id))))
        .with_transaction_timeout_ms(timeout_ms)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let ResponseKind::InitProducerId(r) = call(c, ApiKey::InitProducerId, 4, req.into()) else { panic!() };
    (r.error_code, r.producer_id.0, r.producer_epoch)
}

fn add_partitions(c: &mut TcpStream, id: &str, pid: i64, epoch: i16, topic: &str, partitions: Vec<i32>) -> Vec<i16> {
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s(id)))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(partitions)]);
    let ResponseKind::AddPartitionsToTxn(r) = call(c, ApiKey::AddPartitionsToTxn, 3, req.into()) else { panic!() };
    r.results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| t.results_by_partition.iter().map(|p| p.partition_error_code))
        .collect()
}

fn produce_txn(
    c: &mut TcpStream,
    id: Option<&str>,
    topic: &str,
    pid: i64,
    epoch: i16,
    seq: i32,
    values: &[&str],
) -> i16 {
    let mut b = BatchBuilder::new(Compression::None).producer(pid, epoch, seq, true);
    // The clock's time, as a producer stamps it: an old timestamp would make the markers (stamped now) roll the
    // segment by segment.ms, and one fetch reads one segment.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    for v in values {
        b.append(now, None, Some(v.as_bytes()), &[]);
    }
    let data = PartitionProduceData::default().with_index(0).with_records(Some(Bytes::from(b.build().unwrap())));
    let req = ProduceRequest::default()
        .with_transactional_id(id.map(|i| TransactionalId(s(i))))
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(topic)))
            .with_partition_data(vec![data])]);
    let ResponseKind::Produce(r) = call(c, ApiKey::Produce, 9, req.into()) else { panic!() };
    r.responses[0].partition_responses[0].error_code
}

fn end_txn(c: &mut TcpStream, id: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
    let req = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s(id)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(commit);
    let ResponseKind::EndTxn(r) = call(c, ApiKey::EndTxn, 3, req.into()) else { panic!() };
    r.error_code
}

fn fetch(c: &mut TcpStream, topic: &str, isolation_level: i8) -> FetchResponse {
    let partition = FetchPartition::default().with_partition(0).with_fetch_offset(0).with_partition_max_bytes(1 << 20);
    let req = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_isolation_level(isolation_level)
        .with_topics(vec![FetchTopic::default().with_topic(TopicName(s(topic))).with_partitions(vec![partition])]);
    let ResponseKind::Fetch(r) = call(c, ApiKey::Fetch, 12, req.into()) else { panic!() };
    r
}

/// (value, is control) of every record in a fetch response's first partition.
fn records(r: &FetchResponse) -> Vec<(String, bool)> {
    let bytes = r.responses[0].partitions[0].records.clone().unwrap_or_default();
    let mut out = Vec::new();
    for batch in Batches::new(&bytes) {
        let (h, recs) = record::decode_records(batch.unwrap(), DecodeLimits::default()).unwrap();
        for rec in recs {
            let value = rec.value.map(|v| String::from_utf8_lossy(&v).into_owned()).unwrap_or_default();
            out.push((value, h.is_control()));
        }
    }
    out
}

fn latest(c: &mut TcpStream, topic: &str, isolation_level: i8) -> i64 {
    let req = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_isolation_level(isolation_level)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1)])]);
    let ResponseKind::ListOffsets(r) = call(c, ApiKey::ListOffsets, 5, req.into()) else { panic!() };
    r.topics[0].partitions[0].offset
}

fn describe(c: &mut TcpStream, id: &str) -> (i16, String, i64, i16, usize) {
    let req = DescribeTransactionsRequest::default().with_transactional_ids(vec![TransactionalId(s(id))]);
    let ResponseKind::DescribeTransactions(r) = call(c, ApiKey::DescribeTransactions, 0, req.into()) else { panic!() };
    let t = &r.transaction_states[0];
    let partitions = t.topics.iter().map(|t| t.partitions.len()).sum();
    (t.error_code, t.transaction_state.to_string(), t.producer_id.0, t.producer_epoch, partitions)
}

#[test]
fn transactions_over_the_wire() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = start(tmp.path());
    let mut c = connect(&broker);
    let topic =
        CreatableTopic::default().with_name(TopicName(s("orders"))).with_num_partitions(1).with_replication_factor(1);
    let req = CreateTopicsRequest::default().with_topics(vec![topic]).with_timeout_ms(5000);
    let ResponseKind::CreateTopics(r) = call(&mut c, ApiKey::CreateTopics, 7, req.into()) else { panic!() };
    assert_eq!(r.topics[0].error_code, 0);
    let req = FindCoordinatorRequest::default().with_key_type(1).with_coordinator_keys(vec![s("tx-1")]);
    let ResponseKind::FindCoordinator(r) = call(&mut c, ApiKey::FindCoordinator, 4, req.into()) else { panic!() };
    assert_eq!(r.coordinators[0].error_code, 0);

    // Bad requests get Kafka's errors.
    assert_eq!(init(&mut c, "", 1000).0, ResponseError::InvalidRequest.code());
    assert_eq!(init(&mut c, "tx-1", 0).0, ResponseError::InvalidTransactionTimeout.code());
    assert_eq!(init(&mut c, "tx-1", 60_001).0, ResponseError::InvalidTransactionTimeout.code());
    assert_eq!(describe(&mut c, "tx-unknown").0, ResponseError::TransactionalIdNotFound.code());

    let (error, pid, epoch) = init(&mut c, "tx-1", 30_000);
    assert_eq!((error, epoch), (0, 0));
    assert_eq!(
        add_partitions(&mut c, "tx-1", pid, epoch, "missing", vec![0]),
        vec![ResponseError::UnknownTopicOrPartition.code()]
    );
    assert_eq!(
        add_partitions(&mut c, "tx-1", pid, epoch, "__transaction_state", vec![0]),
        vec![ResponseError::TopicAuthorizationFailed.code()]
    );
    // A transactional batch for a partition outside the transaction, or without a transactional id, is refused.
    assert_eq!(
        produce_txn(&mut c, Some("tx-1"), "orders", pid, epoch, 0, &["x"]),
        ResponseError::InvalidTxnState.code()
    );
    assert_eq!(
        produce_txn(&mut c, None, "orders", pid, epoch, 0, &["x"]),
        ResponseError::TransactionalIdAuthorizationFailed.code()
    );

    // T1 commits.
    assert_eq!(add_partitions(&mut c, "tx-1", pid, epoch, "orders", vec![0]), vec![0]);
    assert_eq!(produce_txn(&mut c, Some("tx-1"), "orders", pid, epoch, 0, &["t1-a", "t1-b"]), 0);
    assert_eq!(describe(&mut c, "tx-1"), (0, "Ongoing".into(), pid, epoch, 1));
    let open = fetch(&mut c, "orders", 1);
    assert_eq!(open.responses[0].partitions[0].last_stable_offset, 0, "the open transaction is not stable");
    assert!(records(&open).is_empty(), "read_committed sees nothing of an open transaction");
    assert_eq!(latest(&mut c, "orders", 1), 0);
    assert_eq!(latest(&mut c, "orders", 0), 2);
    assert_eq!(end_txn(&mut c, "tx-1", pid, epoch, true), 0);
    assert_eq!(end_txn(&mut c, "tx-1", pid, epoch, true), 0, "a retried commit succeeds");
    assert_eq!(describe(&mut c, "tx-1"), (0, "CompleteCommit".into(), pid, epoch, 0));

    // T2 aborts.
    assert_eq!(add_partitions(&mut c, "tx-1", pid, epoch, "orders", vec![0]), vec![0]);
    assert_eq!(produce_txn(&mut c, Some("tx-1"), "orders", pid, epoch, 2, &["t2-a"]), 0);
    assert_eq!(end_txn(&mut c, "tx-1", pid, epoch, false), 0);
    let committed = fetch(&mut c, "orders", 1);
    let p = &committed.responses[0].partitions[0];
    assert_eq!((p.high_watermark, p.last_stable_offset), (5, 5));
    let aborted = p.aborted_transactions.clone().unwrap();
    assert_eq!(aborted.len(), 1);
    assert_eq!((aborted[0].producer_id.0, aborted[0].first_offset), (pid, 3));
    // The client drops producer pid's records from offset 3 on; the markers are control batches.
    let got = records(&committed);
    assert_eq!(got.iter().filter(|(_, control)| *control).count(), 2);
    assert_eq!(got.iter().filter(|(v, _)| v.starts_with("t1")).count(), 2);
    assert!(fetch(&mut c, "orders", 0).responses[0].partitions[0].aborted_transactions.is_none());

    // A second producer with the same transactional id fences the first.
    assert_eq!(add_partitions(&mut c, "tx-1", pid, epoch, "orders", vec![0]), vec![0]);
    assert_eq!(produce_txn(&mut c, Some("tx-1"), "orders", pid, epoch, 3, &["t3"]), 0);
    let (error, _, _) = init(&mut c, "tx-1", 30_000);
    assert_eq!(error, ResponseError::ConcurrentTransactions.code(), "the open transaction is aborted first");
    let (error, pid2, epoch2) = init(&mut c, "tx-1", 30_000);
    assert_eq!((error, pid2, epoch2), (0, pid, epoch + 2));
    assert_eq!(end_txn(&mut c, "tx-1", pid, epoch, true), ResponseError::ProducerFenced.code());
    assert_eq!(
        produce_txn(&mut c, Some("tx-1"), "orders", pid, epoch, 4, &["late"]),
        ResponseError::InvalidProducerEpoch.code()
    );
    assert_eq!(latest(&mut c, "orders", 1), latest(&mut c, "orders", 0), "nothing is left open");

    let req = ListTransactionsRequest::default().with_state_filters(vec![s("Empty"), s("Nope")]);
    let ResponseKind::ListTransactions(r) = call(&mut c, ApiKey::ListTransactions, 1, req.into()) else { panic!() };
    assert_eq!(r.transaction_states.len(), 1);
    assert_eq!(r.unknown_state_filters, vec![s("Nope")]);
    let req = ListTransactionsRequest::default().with_transactional_id_pattern(Some(s("(")));
    let ResponseKind::ListTransactions(r) = call(&mut c, ApiKey::ListTransactions, 2, req.into()) else { panic!() };
    assert_eq!(r.error_code, ResponseError::InvalidRegularExpression.code());

    // An open transaction survives a restart and can then be committed.
    assert_eq!(add_partitions(&mut c, "tx-1", pid2, epoch2, "orders", vec![0]), vec![0]);
    assert_eq!(produce_txn(&mut c, Some("tx-1"), "orders", pid2, epoch2, 0, &["t4"]), 0);
    drop(c);
    broker.stop().unwrap();
    let broker = start(tmp.path());
    let mut c = connect(&broker);
    assert_eq!(describe(&mut c, "tx-1"), (0, "Ongoing".into(), pid2, epoch2, 1));
    let lso = latest(&mut c, "orders", 1);
    assert!(lso < latest(&mut c, "orders", 0));
    assert_eq!(end_txn(&mut c, "tx-1", pid2, epoch2, true), 0);
    let after = fetch(&mut c, "orders", 1);
    let values: Vec<String> = records(&after).into_iter().filter(|(_, control)| !control).map(|(v, _)| v).collect();
    assert!(values.contains(&"t4".to_string()));
    assert_eq!(after.responses[0].partitions[0].last_stable_offset, after.responses[0].partitions[0].high_watermark);
    drop(c);
    broker.stop().unwrap();
}
