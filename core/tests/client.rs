//! potok's own clients end to end. The same tests run against an embedded potok broker (default) and against
//! any Kafka cluster named by `POTOK_TEST_BOOTSTRAP` (the test command points it at Apache Kafka 4.x), which is
//! what proves the client on the real thing. Topic names are unique per run so a long-lived cluster is fine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;
use std::time::Duration;

use potok::broker::BrokerConfig;
use potok::client::admin::{Admin, NewTopic, OffsetSpec};
use potok::client::producer::{Producer, ProducerRecord};
use potok::client::{ClientError, TopicPartition};
use potok::net::RunningBroker;

fn bootstrap() -> String {
    static BROKER: OnceLock<String> = OnceLock::new();
    BROKER
        .get_or_init(|| {
            if let Ok(servers) = std::env::var("POTOK_TEST_BOOTSTRAP") {
                return servers;
            }
            let mut config = BrokerConfig::default();
            config.set("listeners", "PLAINTEXT://127.0.0.1:0").unwrap();
            config.set("group.initial.rebalance.delay.ms", "0").unwrap();
            let broker = RunningBroker::start(config).unwrap();
            let servers = broker.bootstrap_servers();
            // The broker lives as long as the test process.
            std::mem::forget(broker);
            servers
        })
        .clone()
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), potok::net::now_ms() % 1_000_000_000)
}

fn conf(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = vec![("bootstrap.servers".into(), bootstrap())];
    v.extend(pairs.iter().map(|(k, val)| (k.to_string(), val.to_string())));
    v
}

fn admin() -> Admin {
    Admin::new(&conf(&[])).unwrap()
}

fn create_topic(name: &str, partitions: i32) {
    let results = admin().create_topics(&[NewTopic::new(name, partitions, 1)], false, None).unwrap();
    results[0].1.clone().unwrap();
}

#[test]
fn admin_creates_describes_and_deletes_topics() {
    let admin = admin();
    let name = unique("admin");
    let results = admin
        .create_topics(
            &[NewTopic { configs: vec![("retention.ms".into(), "3600000".into())], ..NewTopic::new(&name, 3, 1) }],
            false,
            None,
        )
        .unwrap();
    assert_eq!(results[0].1, Ok(()));
    let again = admin.create_topics(&[NewTopic::new(&name, 3, 1)], false, None).unwrap();
    assert!(matches!(&again[0].1, Err(ClientError::Kafka { code: 36, .. })), "{:?}", again[0].1);
    let described = admin.describe_topics(std::slice::from_ref(&name), None).unwrap();
    let topic = described[0].1.as_ref().unwrap();
    assert_eq!(topic.partitions.len(), 3);
    assert!(topic.partitions.iter().all(|p| p.leader >= 0 && p.isr.contains(&p.leader)));
    assert!(admin.list_topics(false, None).unwrap().contains(&name));
    let cluster = admin.describe_cluster(None).unwrap();
    assert!(!cluster.brokers.is_empty());
    let grown = admin.create_partitions(&[(name.clone(), 5)], false, None).unwrap();
    assert_eq!(grown[0].1, Ok(()));
    let deleted = admin.delete_topics(std::slice::from_ref(&name), None).unwrap();
    assert_eq!(deleted[0].1, Ok(()));
    let missing = admin.delete_topics(&[unique("never-created")], None).unwrap();
    assert!(matches!(&missing[0].1, Err(ClientError::Kafka { code: 3, .. })));
}

#[test]
fn producer_acks_records_with_offsets_in_order() {
    let topic = unique("produce");
    create_topic(&topic, 1);
    for acks in ["all", "1"] {
        let producer = Producer::new(&conf(&[("acks", acks), ("linger.ms", "5")])).unwrap();
        let futures: Vec<_> = (0..1000)
            .map(|i| producer.send(ProducerRecord::new(&topic, format!("value-{i}")).key(format!("k{i}"))).unwrap())
            .collect();
        let offsets: Vec<i64> = futures.into_iter().map(|f| f.wait().unwrap().offset).collect();
        assert!(offsets.windows(2).all(|w| w[1] == w[0] + 1), "offsets not consecutive");
        producer.close(Some(Duration::from_secs(10))).unwrap();
    }
    let end = admin()
        .list_offsets(&[(TopicPartition::new(&topic, 0), OffsetSpec::Latest)], Default::default(), None)
        .unwrap();
    assert_eq!(end[0].1.as_ref().unwrap().offset, 2000);
}

#[test]
fn keyed_records_land_where_the_java_client_puts_them() {
    // CURRICULUM.md: Integer keys 1..5 on 5 partitions, and string keys id_0..id_9 on 3 partitions.
    let ints = unique("hello-producer");
    create_topic(&ints, 5);
    let strings = unique("twitter");
    create_topic(&strings, 3);
    let producer = Producer::new(&conf(&[])).unwrap();
    let expected_ints = [(1, 0), (2, 3), (3, 1), (4, 3), (5, 4)];
    for (key, partition) in expected_ints {
        let md = producer
            .send(ProducerRecord::new(&ints, "Simple Message").key((key as i32).to_be_bytes().to_vec()))
            .unwrap()
            .wait()
            .unwrap();
        assert_eq!(md.partition, partition, "key {key}");
    }
    let expected_strings = [1, 0, 2, 0, 2, 2, 0, 2, 1, 2];
    for (i, partition) in expected_strings.into_iter().enumerate() {
        let md = producer.send(ProducerRecord::new(&strings, "tweet").key(format!("id_{i}"))).unwrap().wait().unwrap();
        assert_eq!(md.partition, partition, "id_{i}");
    }
}

#[test]
fn config_errors_name_the_key() {
    let err = Producer::new(&conf(&[("acks", "2")])).unwrap_err();
    assert!(matches!(&err, ClientError::Config { key, .. } if key == "acks"), "{err}");
    let err = Producer::new(&conf(&[("enable.idempotence", "true"), ("acks", "1")])).unwrap_err();
    assert!(matches!(&err, ClientError::Config { key, .. } if key == "acks"), "{err}");
    // Idempotence left at its default is switched off by a conflicting acks, as in Kafka 3.x+.
    Producer::new(&conf(&[("acks", "1")])).unwrap();
}

#[test]
fn max_block_ms_fires_when_no_broker_answers() {
    let config = vec![
        ("bootstrap.servers".to_string(), "127.0.0.1:1".to_string()),
        ("max.block.ms".to_string(), "500".to_string()),
    ];
    let producer = Producer::new(&config).unwrap();
    let started = std::time::Instant::now();
    let err = producer.send(ProducerRecord::new("nowhere", "x")).unwrap_err();
    assert!(matches!(err, ClientError::Timeout(_)), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(500));
}

#[test]
fn delivery_timeout_ms_fires_when_no_broker_answers() {
    // A broker of its own, stopped after the producer learnt the topic's leader: batches then wait for a
    // connection that never comes, and expire after delivery.timeout.ms.
    let mut config = BrokerConfig::default();
    config.set("listeners", "PLAINTEXT://127.0.0.1:0").unwrap();
    let broker = RunningBroker::start(config).unwrap();
    let producer = Producer::new(&[
        ("bootstrap.servers".to_string(), broker.bootstrap_servers()),
        ("delivery.timeout.ms".to_string(), "1500".to_string()),
        ("request.timeout.ms".to_string(), "1000".to_string()),
        ("linger.ms".to_string(), "0".to_string()),
    ])
    .unwrap();
    let first = producer.send(ProducerRecord::new("expiring", "x")).unwrap().wait().unwrap();
    assert_eq!(first.offset, 0);
    broker.stop().unwrap();
    let started = std::time::Instant::now();
    let err = producer.send(ProducerRecord::new("expiring", "y")).unwrap().wait().unwrap_err();
    assert!(matches!(err, ClientError::Timeout(_)), "{err}");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1400) && waited < Duration::from_secs(10), "{waited:?}");
}
