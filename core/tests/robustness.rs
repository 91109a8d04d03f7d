//! Regression tests for the defects fault probes found (issue 13), against a broker over real TCP with raw
//! Kafka frames: bounded admin operations, creation outside the global lock and all or nothing, the log-dir
//! lock, idle and per-address connection limits, parked requests of departed clients, Kafka's topic-name
//! collisions. (Descriptor limits, accept back-off and log rate limiting need a broker process of their own:
//! cli/tests/robustness.rs.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::wire::{call, connect, receive, send};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, CreatePartitionsRequest, CreateTopicsRequest, CreateTopicsResponse, MetadataRequest, MetadataResponse,
    RequestKind, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use potok::broker::BrokerConfig;
use potok::net::RunningBroker;

fn start_with(dir: &Path, overrides: &[(&str, &str)]) -> RunningBroker {
    let mut config = BrokerConfig::default();
    config.set("listeners", "PLAINTEXT://127.0.0.1:0").unwrap();
    config.set("log.dirs", dir.to_str().unwrap()).unwrap();
    for (k, v) in overrides {
        config.set(k, v).unwrap();
    }
    RunningBroker::start(config).unwrap()
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn topic(n: &str, partitions: i32) -> CreatableTopic {
    CreatableTopic::default().with_name(name(n)).with_num_partitions(partitions).with_replication_factor(1)
}

fn create_topics(stream: &mut TcpStream, version: i16, topics: Vec<CreatableTopic>) -> CreateTopicsResponse {
    let request = CreateTopicsRequest::default().with_topics(topics).with_timeout_ms(60_000);
    match call(stream, ApiKey::CreateTopics, version, RequestKind::CreateTopics(request)) {
        ResponseKind::CreateTopics(r) => r,
        other => panic!("{other:?}"),
    }
}

fn metadata(stream: &mut TcpStream, topics: Option<&[&str]>) -> MetadataResponse {
    let topics = topics.map(|t| t.iter().map(|n| MetadataRequestTopic::default().with_name(Some(name(n)))).collect());
    let request = MetadataRequest::default().with_topics(topics).with_allow_auto_topic_creation(true);
    match call(stream, ApiKey::Metadata, 12, RequestKind::Metadata(request)) {
        ResponseKind::Metadata(r) => r,
        other => panic!("{other:?}"),
    }
}

fn partitions_of(stream: &mut TcpStream, topic: &str) -> Option<usize> {
    let r = metadata(stream, None);
    r.topics.iter().find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic)).map(|t| t.partitions.len())
}

fn errors(r: &CreateTopicsResponse) -> Vec<(i16, String)> {
    r.topics
        .iter()
        .map(|t| (t.error_code, t.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default()))
        .collect()
}

fn grow(stream: &mut TcpStream, topics: &[(&str, i32)]) -> Vec<(i16, String)> {
    let topics = topics
        .iter()
        .map(|(n, count)| CreatePartitionsTopic::default().with_name(name(n)).with_count(*count).with_assignments(None))
        .collect();
    let request = CreatePartitionsRequest::default().with_topics(topics).with_timeout_ms(60_000);
    match call(stream, ApiKey::CreatePartitions, 3, RequestKind::CreatePartitions(request)) {
        ResponseKind::CreatePartitions(r) => r
            .results
            .iter()
            .map(|t| (t.error_code, t.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default()))
            .collect(),
        other => panic!("{other:?}"),
    }
}

const POLICY_VIOLATION: i16 = 44;

/// Issue 13, item 1: the 47-byte CreateTopics v4 asking for 2^31-1 partitions (and CreatePartitions with a
/// huge count) made the broker allocate until it died, and the record already in the metadata log killed every
/// restart. Now such requests are refused with Kafka's errors before anything is recorded, and the broker
/// restarts on the same directory.
#[test]
fn huge_admin_requests_are_refused_before_they_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_with(dir.path(), &[]);
    let mut s = connect(broker.address());
    let body = RequestKind::CreateTopics(
        CreateTopicsRequest::default().with_topics(vec![topic("p", i32::MAX)]).with_timeout_ms(1000),
    );
    // The frame of the report, 47 bytes with its 7-byte client id; this one's is 15 bytes.
    let frame = common::wire::frame(ApiKey::CreateTopics, 4, 7, &body);
    assert_eq!(frame.len(), 55);
    std::io::Write::write_all(&mut s, &frame).unwrap();
    let ResponseKind::CreateTopics(r) = receive(&mut s, ApiKey::CreateTopics, 4) else { panic!() };
    let excessive = "Excessively large number of partitions per request.";
    assert_eq!(errors(&r), [(POLICY_VIOLATION, excessive.to_string())]);
    // Over 10,000 partitions in one request fails every topic of it; so do more than 10,000 records (Kafka
    // counts one per topic, config and partition), even for validate_only.
    let r = create_topics(&mut s, 7, vec![topic("a", 10_001), topic("b", 1)]);
    assert_eq!(errors(&r), [(POLICY_VIOLATION, excessive.to_string()), (POLICY_VIOLATION, excessive.to_string())]);
    let batch = "Unable to perform excessively large batch operation.".to_string();
    let r = create_topics(&mut s, 7, vec![topic("a", 5_000), topic("b", 5_000)]);
    assert_eq!(errors(&r), [(POLICY_VIOLATION, batch.clone()), (POLICY_VIOLATION, batch.clone())]);
    let request = CreateTopicsRequest::default().with_topics(vec![topic("c", 10_000)]).with_validate_only(true);
    let ResponseKind::CreateTopics(r) = call(&mut s, ApiKey::CreateTopics, 7, RequestKind::CreateTopics(request))
    else {
        panic!()
    };
    assert_eq!(errors(&r), [(POLICY_VIOLATION, batch.clone())]);

    assert_eq!(errors(&create_topics(&mut s, 7, vec![topic("small", 2)])), [(0, String::new())]);
    assert_eq!(grow(&mut s, &[("small", i32::MAX)]), [(POLICY_VIOLATION, batch.clone())]);
    assert_eq!(errors(&create_topics(&mut s, 7, vec![topic("other", 1)])), [(0, String::new())]);
    let both = grow(&mut s, &[("small", 5_003), ("other", 5_001)]);
    assert_eq!(both, [(POLICY_VIOLATION, batch.clone()), (POLICY_VIOLATION, batch)]);
    assert_eq!(grow(&mut s, &[("small", 2)]), [(37, "Topic already has 2 partition(s).".to_string())]);
    assert_eq!(
        grow(&mut s, &[("small", 1)]),
        [(37, "The topic small currently has 2 partition(s); 1 would not be an increase.".to_string())]
    );
    assert_eq!(grow(&mut s, &[("small", 3)]), [(0, String::new())]);
    drop(s);
    broker.stop().unwrap();

    let broker = start_with(dir.path(), &[]);
    let mut s = connect(broker.address());
    assert_eq!(partitions_of(&mut s, "small"), Some(3));
    assert_eq!(partitions_of(&mut s, "p"), None);
    broker.stop().unwrap();
}

/// Issue 13, item 2: creating thousands of partitions held the global lock for the whole creation, so every
/// Metadata, Produce and Fetch on every connection waited. The files are now created before the lock is taken:
/// while they are being created, another connection's Metadata is answered (and does not list the topic yet).
#[test]
fn other_requests_are_served_while_a_large_topic_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_with(dir.path(), &[]);
    let mut other = connect(broker.address());
    // A loaded machine may be slow to answer even a Metadata; what matters is that the answer does not wait
    // for the creation (the topic list below shows which came first).
    other.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    assert_eq!(errors(&create_topics(&mut other, 7, vec![topic("existing", 1)])), [(0, String::new())]);
    let mut creator = connect(broker.address());
    // The creation itself may take long on a loaded machine; only the order of the answers matters here.
    creator.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
    send(
        &mut creator,
        ApiKey::CreateTopics,
        7,
        RequestKind::CreateTopics(
            CreateTopicsRequest::default().with_topics(vec![topic("large", 3_000)]).with_timeout_ms(600_000),
        ),
    );
    let first = dir.path().join("large-0");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !first.exists() {
        assert!(Instant::now() < deadline, "creation never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    let seen = metadata(&mut other, None);
    let names: Vec<&str> = seen.topics.iter().filter_map(|t| t.name.as_ref().map(|n| n.0.as_str())).collect();
    assert_eq!(names, ["existing"], "Metadata waited for the creation to finish");
    let ResponseKind::CreateTopics(r) = receive(&mut creator, ApiKey::CreateTopics, 7) else { panic!() };
    assert_eq!(errors(&r), [(0, String::new())]);
    assert_eq!(partitions_of(&mut other, "large"), Some(3_000));
    broker.stop().unwrap();
}

/// Issue 13, item 7: a creation that failed midway left partitions in the metadata without logs (produce
/// timed out, re-creating said TOPIC_ALREADY_EXISTS). Now it fails with KAFKA_STORAGE_ERROR, leaves nothing
/// behind, and can be retried.
#[test]
fn a_creation_that_fails_midway_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_with(dir.path(), &[]);
    let mut s = connect(broker.address());
    // A regular file where partition 5's directory must go makes the creation fail there.
    let blocker = dir.path().join("half-5");
    std::fs::write(&blocker, b"in the way").unwrap();
    let r = create_topics(&mut s, 7, vec![topic("half", 10)]);
    assert_eq!(r.topics[0].error_code, ResponseError::KafkaStorageError.code(), "{:?}", errors(&r));
    assert_eq!(partitions_of(&mut s, "half"), None);
    for p in 0..10 {
        assert!(!dir.path().join(format!("half-{p}")).is_dir(), "half-{p} was left behind");
    }
    std::fs::remove_file(&blocker).unwrap();
    assert_eq!(errors(&create_topics(&mut s, 7, vec![topic("half", 10)])), [(0, String::new())]);
    // Growing fails the same way and leaves the topic as it was.
    std::fs::write(dir.path().join("half-12"), b"in the way").unwrap();
    let grown = grow(&mut s, &[("half", 15)]);
    assert_eq!(grown[0].0, ResponseError::KafkaStorageError.code(), "{grown:?}");
    assert_eq!(partitions_of(&mut s, "half"), Some(10));
    assert!(!dir.path().join("half-10").exists());
    broker.stop().unwrap();
}

/// Issue 13, item 11: `col.x` and `col_x` collide as in Kafka (its metrics names replace `.` with `_`); two new
/// colliding names in one request are both created, as Kafka's controller checks only existing topics; the
/// metadata log's own name cannot be taken.
#[test]
fn colliding_topic_names_are_refused_as_kafka_refuses_them() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_with(dir.path(), &[]);
    let mut s = connect(broker.address());
    assert_eq!(errors(&create_topics(&mut s, 7, vec![topic("col.x", 1)])), [(0, String::new())]);
    let r = create_topics(&mut s, 7, vec![topic("col_x", 1)]);
    assert_eq!(errors(&r), [(17, "Topic 'col_x' collides with existing topic: col.x".to_string())]);
    let r = create_topics(&mut s, 7, vec![topic("d.y", 1), topic("d_y", 1)]);
    assert_eq!(errors(&r), [(0, String::new()), (0, String::new())]);
    let r = create_topics(&mut s, 7, vec![topic("__cluster_metadata", 1)]);
    assert_eq!(errors(&r), [(42, "Creation of internal topic __cluster_metadata is prohibited.".to_string())]);
    // Auto-creation fails the same way; the client is told the topic is unknown.
    let r = metadata(&mut s, Some(&["col_x"]));
    assert_eq!(r.topics[0].error_code, ResponseError::UnknownTopicOrPartition.code());
    assert_eq!(partitions_of(&mut s, "col_x"), None);
    broker.stop().unwrap();
}

/// Issue 13, item 3: two brokers on one `log.dirs` both accepted writes, and one's data was lost on restart. The
/// second is now refused with Kafka's message while the first holds `.lock`; after it stops, the directory
/// can be used again. A `log.dirs` that is a regular file says so, and an I/O error names its OS error once.
#[test]
fn a_log_dir_serves_one_broker_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let first = start_with(dir.path(), &[]);
    let mut config = BrokerConfig::default();
    config.set("listeners", "PLAINTEXT://127.0.0.1:0").unwrap();
    config.set("log.dirs", dir.path().to_str().unwrap()).unwrap();
    let refused = RunningBroker::start(config.clone()).unwrap_err().to_string();
    assert!(refused.contains("Failed to acquire lock on file .lock in"), "{refused}");
    first.stop().unwrap();
    RunningBroker::start(config).unwrap().stop().unwrap();

    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let mut config = BrokerConfig::default();
    config.set("listeners", "PLAINTEXT://127.0.0.1:0").unwrap();
    config.set("log.dirs", file.to_str().unwrap()).unwrap();
    let refused = RunningBroker::start(config.clone()).unwrap_err().to_string();
    assert_eq!(refused, format!("log.dirs {} is not a directory", file.display()));
    config.set("log.dirs", file.join("below").to_str().unwrap()).unwrap();
    let chain = format!("{:?}", anyhow::Error::new(RunningBroker::start(config).unwrap_err()));
    assert_eq!(chain.matches("os error").count(), 1, "{chain}");
}

fn api_versions_answered(stream: &mut TcpStream) -> bool {
    use kafka_protocol::messages::ApiVersionsRequest;
    send(stream, ApiKey::ApiVersions, 3, RequestKind::ApiVersions(ApiVersionsRequest::default()));
    let mut size = [0u8; 4];
    std::io::Read::read_exact(stream, &mut size).is_ok() && {
        let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
        std::io::Read::read_exact(stream, &mut body).is_ok()
    }
}

/// A connection from another loopback address (127.0.0.2), as a second client machine would make it.
fn connect_from(source: [u8; 4], address: std::net::SocketAddr) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind((std::net::Ipv4Addr::from(source), 0).into()).unwrap();
        socket.connect(address).await.unwrap()
    });
    let stream = stream.into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream
}

/// Issue 13, item 4: idle connections were never closed and one address could take every slot. Now
/// `connections.max.idle.ms` closes idle connections (a busy one stays), and `max.connections.per.ip` (with
/// its overrides) closes a connection over the address's limit while other addresses are still served.
#[test]
fn idle_connections_close_and_one_address_cannot_take_every_slot() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_with(
        dir.path(),
        &[
            ("connections.max.idle.ms", "400"),
            ("max.connections.per.ip", "2"),
            ("max.connections.per.ip.overrides", "127.0.0.3:3"),
        ],
    );
    let mut busy = connect(broker.address());
    let mut idle = connect(broker.address());
    assert!(api_versions_answered(&mut idle));
    let mut over = connect(broker.address());
    assert!(common::wire::closed_by_peer(&mut over), "a third connection from 127.0.0.1 was kept");
    let mut other = connect_from([127, 0, 0, 2], broker.address());
    assert!(api_versions_answered(&mut other), "127.0.0.2 was not served");
    let overridden: Vec<TcpStream> = (0..3).map(|_| connect_from([127, 0, 0, 3], broker.address())).collect();
    for mut s in overridden {
        assert!(api_versions_answered(&mut s), "the override for 127.0.0.3 was not applied");
    }
    // The busy connection sends a request every 100 ms for two idle periods and stays open; the idle one closes.
    for _ in 0..8 {
        assert!(api_versions_answered(&mut busy));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(common::wire::closed_by_peer(&mut idle), "an idle connection was kept open");
    broker.stop().unwrap();
}

fn long_poll(topic_name: &str, max_wait_ms: i32) -> RequestKind {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::FetchRequest;
    let partition = FetchPartition::default().with_partition(0).with_fetch_offset(0).with_partition_max_bytes(1 << 20);
    let t = FetchTopic::default().with_topic(name(topic_name)).with_partitions(vec![partition]);
    RequestKind::Fetch(
        FetchRequest::default()
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![t]),
    )
}

/// Issue 13, item 5: a long-poll Fetch with max_wait 2^31-1 whose client disconnected kept its slot and socket
/// for weeks. With `max.connections=1`, the next client is now served once the first one leaves; and a wait
/// is capped at `connections.max.idle.ms`.
#[test]
fn a_parked_fetch_of_a_departed_client_gives_its_slot_back() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_with(dir.path(), &[("max.connections", "1"), ("connections.max.idle.ms", "1500")]);
    let mut setup = connect(broker.address());
    assert_eq!(errors(&create_topics(&mut setup, 7, vec![topic("empty", 1)])), [(0, String::new())]);
    drop(setup);
    // Wait for the setup connection's slot (the broker notices its close at once: it was reading).
    std::thread::sleep(Duration::from_millis(200));
    let mut parked = connect(broker.address());
    send(&mut parked, ApiKey::Fetch, 12, long_poll("empty", i32::MAX));
    std::thread::sleep(Duration::from_millis(200));
    drop(parked);
    let mut next = connect(broker.address());
    assert!(api_versions_answered(&mut next), "the departed client's parked fetch kept the only slot");
    // Capped at connections.max.idle.ms (1.5 s here), the wait ends with an empty answer.
    let started = Instant::now();
    send(&mut next, ApiKey::Fetch, 12, long_poll("empty", i32::MAX));
    let ResponseKind::Fetch(r) = receive(&mut next, ApiKey::Fetch, 12) else { panic!() };
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
    assert!(r.responses[0].partitions[0].records.as_ref().is_none_or(|b| b.is_empty()));
    assert!(started.elapsed() >= Duration::from_millis(1000), "answered before any wait");
    broker.stop().unwrap();
}
