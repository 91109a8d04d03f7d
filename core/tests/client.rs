//! potok's own clients end to end. The same tests run against an embedded potok broker (default) and against
//! any Kafka cluster named by `POTOK_TEST_BOOTSTRAP` (the test command points it at Apache Kafka 4.x), which is
//! what proves the client on the real thing. Topic names are unique per run so a long-lived cluster is fine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use potok::broker::BrokerConfig;
use potok::client::admin::{Admin, IsolationLevel, NewTopic, OffsetSpec};
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
            // What scripts/kafka.sh sets for the Apache Kafka these tests also run against.
            config.set("log.cleaner.backoff.ms", "1000").unwrap();
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

/// Creates a topic and waits until every partition's leader answers ListOffsets. Apache Kafka propagates a new
/// topic to its brokers asynchronously: until then a consumer group may be assigned none of its partitions, and an
/// idempotent producer may lose its first batch to NOT_LEADER_OR_FOLLOWER (KAFKA-15591).
fn create_topic(name: &str, partitions: i32) {
    create_topic_with(name, partitions, &[]);
}

/// [`create_topic`] with topic configs.
fn create_topic_with(name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin = admin();
    let configs = configs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let results =
        admin.create_topics(&[NewTopic { configs, ..NewTopic::new(name, partitions, 1) }], false, None).unwrap();
    results[0].1.clone().unwrap();
    let specs: Vec<(TopicPartition, OffsetSpec)> =
        (0..partitions).map(|p| (TopicPartition::new(name, p), OffsetSpec::Latest)).collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let answered = admin.list_offsets(&specs, IsolationLevel::ReadUncommitted, None);
        if answered.as_ref().is_ok_and(|all| all.iter().all(|(_, r)| r.is_ok())) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{name} has no leaders after 30 s: {answered:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
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
    // Kafka propagates a new topic to its brokers' metadata asynchronously: look until it shows.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let topic = loop {
        let described = admin.describe_topics(std::slice::from_ref(&name), None).unwrap();
        match &described[0].1 {
            Ok(t) => break t.clone(),
            Err(e) if e.is_retriable() && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100))
            }
            Err(e) => panic!("{e}"),
        }
    };
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
    let expected_ints: [(i32, i32); 5] = [(1, 0), (2, 3), (3, 1), (4, 3), (5, 4)];
    for (key, partition) in expected_ints {
        let md = producer
            .send(ProducerRecord::new(&ints, "Simple Message").key(key.to_be_bytes().to_vec()))
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

use potok::client::consumer::{Consumer, ConsumerRecord, RebalanceListener};
use std::sync::{Arc, Mutex};

fn poll_until(consumer: &Consumer, want: usize, limit: Duration) -> Vec<ConsumerRecord> {
    let deadline = std::time::Instant::now() + limit;
    let mut out = Vec::new();
    while out.len() < want && std::time::Instant::now() < deadline {
        out.extend(consumer.poll(Duration::from_millis(200)).unwrap());
    }
    out
}

fn produce_values(topic: &str, values: impl IntoIterator<Item = String>) {
    let producer = Producer::new(&conf(&[])).unwrap();
    let futures: Vec<_> = values.into_iter().map(|v| producer.send(ProducerRecord::new(topic, v)).unwrap()).collect();
    for f in futures {
        f.wait().unwrap();
    }
}

#[test]
fn group_consumer_reads_what_was_produced_and_commits() {
    // The curriculum's Python exercise: 100 names produced, a group consumer reads them.
    let topic = unique("names");
    create_topic(&topic, 3);
    produce_values(&topic, (0..100).map(|i| format!("name-{i}")));
    let group = unique("names-consumer-group");
    let consumer = Consumer::new(&conf(&[
        ("group.id", &group),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
    ]))
    .unwrap();
    consumer.subscribe(std::slice::from_ref(&topic)).unwrap();
    let records = poll_until(&consumer, 100, Duration::from_secs(30));
    assert_eq!(records.len(), 100);
    let mut values: Vec<String> =
        records.iter().map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap()).collect();
    values.sort();
    let mut expected: Vec<String> = (0..100).map(|i| format!("name-{i}")).collect();
    expected.sort();
    assert_eq!(values, expected);
    assert_eq!(consumer.assignment().len(), 3);
    consumer.commit_sync(None, None).unwrap();
    let tps: Vec<TopicPartition> = (0..3).map(|p| TopicPartition::new(&topic, p)).collect();
    let committed = consumer.committed(&tps, None).unwrap();
    let total: i64 = committed.values().map(|o| o.offset).sum();
    assert_eq!(total, 100);
    for tp in &tps {
        assert_eq!(consumer.position(tp, None).unwrap(), committed[tp].offset);
    }
    consumer.close(None).unwrap();
    // The group's offsets as the admin client sees them.
    let offsets = admin().list_consumer_group_offsets(&group, None, None).unwrap();
    assert_eq!(offsets.values().map(|o| o.offset).sum::<i64>(), 100);
}

#[test]
fn assign_and_seek_without_a_group() {
    let topic = unique("numbers");
    create_topic(&topic, 1);
    produce_values(&topic, (0..30).map(|i| i.to_string()));
    let consumer = Consumer::new(&conf(&[("max.poll.records", "5")])).unwrap();
    let tp = TopicPartition::new(&topic, 0);
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    consumer.seek(&tp, 15).unwrap();
    let records = poll_until(&consumer, 5, Duration::from_secs(10));
    assert_eq!(records.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![15, 16, 17, 18, 19]);
    assert_eq!(consumer.position(&tp, None).unwrap(), 20);
    consumer.seek_to_beginning(&[]).unwrap();
    assert_eq!(poll_until(&consumer, 1, Duration::from_secs(10))[0].offset, 0);
    consumer.seek_to_end(&[]).unwrap();
    assert_eq!(consumer.position(&tp, None).unwrap(), 30);
    assert_eq!(consumer.end_offsets(std::slice::from_ref(&tp), None).unwrap()[&tp], 30);
    assert!(consumer.commit_sync(None, None).is_err(), "commits need a group.id");
}

#[test]
fn keys_headers_and_timestamps_round_trip() {
    let topic = unique("headers");
    create_topic(&topic, 1);
    let producer = Producer::new(&conf(&[("compression.type", "lz4")])).unwrap();
    // A recent timestamp: a year old would make the record due for time-based retention (Kafka deletes it at
    // its next retention check, and the lookups below would find nothing).
    let ts = potok::net::now_ms() - 60_000;
    let md = producer
        .send(
            ProducerRecord::new(&topic, "v")
                .key("k")
                .timestamp(ts)
                .header("h", Some("1".into()))
                .header("h", None)
                .header("h", Some("2".into())),
        )
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(md.timestamp, ts);
    let consumer = Consumer::new(&conf(&[])).unwrap();
    let tp = TopicPartition::new(&topic, 0);
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    consumer.seek_to_beginning(&[]).unwrap();
    let r = &poll_until(&consumer, 1, Duration::from_secs(10))[0];
    assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
    assert_eq!(r.timestamp, ts);
    assert_eq!(
        r.headers,
        vec![("h".to_string(), Some("1".into())), ("h".to_string(), None), ("h".to_string(), Some("2".into()))]
    );
    let found = consumer.offsets_for_times(&[(tp.clone(), ts - 3_600_000)], None).unwrap();
    assert_eq!(found[&tp].map(|i| i.offset), Some(0));
    let none = consumer.offsets_for_times(&[(tp.clone(), ts + 3_600_000)], None).unwrap();
    assert_eq!(none[&tp], None);
}

/// Record timestamps are checked as Kafka 4 checks them: a CreateTime record further than
/// `message.timestamp.before.max.ms` behind the broker's clock, or `after.max.ms` (1 hour by default) ahead of
/// it, is refused with INVALID_TIMESTAMP and Kafka's message; a LogAppendTime topic takes any producer
/// timestamp, since the broker stamps the record with its own time.
#[test]
fn record_timestamps_are_checked_against_the_brokers_clock() {
    let (recent, appended) = (unique("recent"), unique("appended"));
    create_topic_with(&recent, 1, &[("message.timestamp.before.max.ms", "60000")]);
    create_topic_with(&appended, 1, &[("message.timestamp.type", "LogAppendTime")]);
    let producer = Producer::new(&conf(&[("linger.ms", "0")])).unwrap();
    let now = potok::net::now_ms();
    let send = |topic: &str, timestamp: i64| {
        producer.send(ProducerRecord::new(topic, "v").partition(0).timestamp(timestamp)).unwrap().wait()
    };
    for timestamp in [now - 600_000, now + 2 * 3_600_000] {
        let refused = send(&recent, timestamp);
        let Err(ClientError::Kafka { code: 32, message: Some(message), .. }) = &refused else {
            panic!("{timestamp}: {refused:?}")
        };
        assert_eq!(message, "One or more records have been rejected due to invalid timestamp");
    }
    assert_eq!(send(&recent, now).unwrap().offset, 0, "nothing of the refused records was stored");
    let stamped = send(&appended, now + 2 * 3_600_000).unwrap();
    assert!(stamped.timestamp < now + 3_600_000, "not the broker's time: {}", stamped.timestamp);
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl RebalanceListener for Recorder {
    fn on_partitions_revoked(&mut self, partitions: &[TopicPartition]) {
        self.0.lock().unwrap().push(format!("revoked {}", partitions.len()));
    }
    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]) {
        self.0.lock().unwrap().push(format!("assigned {}", partitions.len()));
    }
    fn on_partitions_lost(&mut self, partitions: &[TopicPartition]) {
        self.0.lock().unwrap().push(format!("lost {}", partitions.len()));
    }
}

fn two_members_share_partitions(strategy: &str) {
    let topic = unique(&format!("group-{strategy}"));
    create_topic(&topic, 4);
    let group = unique("g");
    let settings =
        [("group.id", group.as_str()), ("partition.assignment.strategy", strategy), ("auto.offset.reset", "earliest")];
    let first = Arc::new(Consumer::new(&conf(&settings)).unwrap());
    let events = Recorder::default();
    first.set_rebalance_listener(Box::new(events.clone()));
    first.subscribe(std::slice::from_ref(&topic)).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while first.assignment().len() < 4 && std::time::Instant::now() < deadline {
        first.poll(Duration::from_millis(100)).unwrap();
    }
    assert_eq!(first.assignment().len(), 4);
    let second = Arc::new(Consumer::new(&conf(&settings)).unwrap());
    second.subscribe(std::slice::from_ref(&topic)).unwrap();
    let (a, b) = (first.clone(), second.clone());
    let poller = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline && !(a.assignment().len() == 2 && b.assignment().len() == 2) {
            a.poll(Duration::from_millis(100)).unwrap();
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline && !(first.assignment().len() == 2 && second.assignment().len() == 2) {
        second.poll(Duration::from_millis(100)).unwrap();
    }
    poller.join().unwrap();
    assert_eq!((first.assignment().len(), second.assignment().len()), (2, 2), "{strategy}");
    let mut all: Vec<TopicPartition> = first.assignment();
    all.extend(second.assignment());
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 4);
    let log = events.0.lock().unwrap().clone();
    assert!(log.first().is_some_and(|e| e == "assigned 4"), "{log:?}");
    assert!(log.iter().any(|e| e == "revoked 4" || e == "revoked 2"), "{log:?}");
    first.close(None).unwrap();
    second.close(None).unwrap();
}

#[test]
fn range_group_rebalances_between_two_members() {
    two_members_share_partitions("range");
}

#[test]
fn cooperative_sticky_group_rebalances_incrementally() {
    two_members_share_partitions("cooperative-sticky");
}

/// Polls `consumer` until `done` holds or `limit` passes.
fn poll_while(consumer: &Consumer, limit: Duration, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !done() && std::time::Instant::now() < deadline {
        consumer.poll(Duration::from_millis(100)).unwrap();
    }
}

#[test]
fn a_member_that_stops_polling_leaves_the_group_and_finds_its_partitions_lost() {
    // max.poll.interval.ms as Kafka's consumer applies it: the member's heartbeat task leaves the group when the
    // application stops polling, the other member takes everything over, and the first one's next poll reports
    // its partitions lost (not revoked: they are someone else's by then) and joins again.
    let topic = unique("poll-timeout");
    create_topic(&topic, 4);
    let group = unique("g");
    // Heartbeats well within the rebalance timeout (max.poll.interval.ms), so a member hears of a rebalance in
    // time to rejoin it.
    let settings = [
        ("group.id", group.as_str()),
        ("max.poll.interval.ms", "3000"),
        ("heartbeat.interval.ms", "200"),
        ("auto.offset.reset", "earliest"),
    ];
    let idle = Arc::new(Consumer::new(&conf(&settings)).unwrap());
    let events = Recorder::default();
    idle.set_rebalance_listener(Box::new(events.clone()));
    idle.subscribe(std::slice::from_ref(&topic)).unwrap();
    poll_while(&idle, Duration::from_secs(30), || idle.assignment().len() == 4);
    assert_eq!(idle.assignment().len(), 4);
    let busy = Arc::new(Consumer::new(&conf(&settings)).unwrap());
    busy.subscribe(std::slice::from_ref(&topic)).unwrap();
    let (a, b) = (idle.clone(), busy.clone());
    let poller = std::thread::spawn(move || {
        poll_while(&a, Duration::from_secs(30), || a.assignment().len() == 2 && b.assignment().len() == 2);
    });
    poll_while(&busy, Duration::from_secs(30), || idle.assignment().len() == 2 && busy.assignment().len() == 2);
    poller.join().unwrap();
    assert_eq!((idle.assignment().len(), busy.assignment().len()), (2, 2));

    // `idle` stops polling: after max.poll.interval.ms it leaves, and `busy` gets all four partitions.
    poll_while(&busy, Duration::from_secs(30), || busy.assignment().len() == 4);
    assert_eq!(busy.assignment().len(), 4);
    assert_eq!(idle.group_metadata().unwrap().generation_id, -1, "the idle member left its generation");
    let before = events.0.lock().unwrap().clone();
    assert!(!before.iter().any(|e| e.starts_with("lost")), "callbacks run only in poll: {before:?}");

    // Its next poll finds the two partitions lost and rejoins; the two share the topic again.
    let (a, b) = (idle.clone(), busy.clone());
    let poller = std::thread::spawn(move || {
        poll_while(&b, Duration::from_secs(30), || a.assignment().len() == 2 && b.assignment().len() == 2);
    });
    poll_while(&idle, Duration::from_secs(30), || idle.assignment().len() == 2 && busy.assignment().len() == 2);
    poller.join().unwrap();
    assert_eq!((idle.assignment().len(), busy.assignment().len()), (2, 2));
    let log = events.0.lock().unwrap().clone();
    assert!(log.iter().any(|e| e == "lost 2"), "{log:?}");
    idle.close(None).unwrap();
    busy.close(None).unwrap();
}

#[test]
fn wakeup_interrupts_poll_and_pause_stops_delivery() {
    let topic = unique("wakeup");
    create_topic(&topic, 1);
    produce_values(&topic, (0..3).map(|i| i.to_string()));
    let consumer = Arc::new(Consumer::new(&conf(&[])).unwrap());
    let tp = TopicPartition::new(&topic, 0);
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    consumer.seek_to_beginning(&[]).unwrap();
    consumer.pause(std::slice::from_ref(&tp)).unwrap();
    assert!(consumer.poll(Duration::from_millis(300)).unwrap().is_empty());
    consumer.resume(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(poll_until(&consumer, 3, Duration::from_secs(10)).len(), 3);
    let c = consumer.clone();
    let waker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        c.wakeup();
    });
    let err = consumer.poll(Duration::from_secs(20)).unwrap_err();
    assert_eq!(err, ClientError::Wakeup);
    waker.join().unwrap();
}

fn read_all(topics: &[String], isolation: &str, want: usize) -> Vec<ConsumerRecord> {
    let group = unique("txn-reader");
    let consumer = Consumer::new(&conf(&[
        ("group.id", &group),
        ("auto.offset.reset", "earliest"),
        ("isolation.level", isolation),
    ]))
    .unwrap();
    consumer.subscribe(topics).unwrap();
    let mut out = poll_until(&consumer, want, Duration::from_secs(20));
    // Anything beyond `want` would be a bug: look a little longer for it.
    out.extend(consumer.poll(Duration::from_millis(500)).unwrap());
    out
}

#[test]
fn transactions_commit_and_abort_as_the_course_says() {
    // CURRICULUM.md §3: T1 sends keys 1-2 to two topics and commits, T2 does the same and aborts.
    let topics = [unique("hello-producer-1"), unique("hello-producer-2")];
    for t in &topics {
        create_topic(t, 5);
    }
    let producer = Producer::new(&conf(&[("transactional.id", &unique("Hello-Producer-Trans"))])).unwrap();
    producer.init_transactions(None).unwrap();
    for (txn, commit) in [("T1", true), ("T2", false)] {
        producer.begin_transaction().unwrap();
        for key in 1..=2 {
            for t in &topics {
                producer.send(ProducerRecord::new(t, format!("{txn}-{key}")).key(key.to_string())).unwrap();
            }
        }
        if commit {
            producer.commit_transaction(None).unwrap();
        } else {
            producer.abort_transaction(None).unwrap();
        }
    }
    let committed = read_all(&topics, "read_committed", 4);
    let mut values: Vec<String> =
        committed.iter().map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap()).collect();
    values.sort();
    assert_eq!(values, vec!["T1-1", "T1-1", "T1-2", "T1-2"]);
    let uncommitted = read_all(&topics, "read_uncommitted", 8);
    assert_eq!(uncommitted.len(), 8, "read_uncommitted sees both transactions' records, no markers");
}

#[test]
fn a_second_producer_with_the_same_transactional_id_fences_the_first() {
    let topic = unique("fenced");
    create_topic(&topic, 1);
    let id = unique("fencing-id");
    let first = Producer::new(&conf(&[("transactional.id", &id)])).unwrap();
    first.init_transactions(None).unwrap();
    first.begin_transaction().unwrap();
    first.send(ProducerRecord::new(&topic, "from-first")).unwrap();
    first.flush(None).unwrap();
    let second = Producer::new(&conf(&[("transactional.id", &id)])).unwrap();
    second.init_transactions(None).unwrap();
    let err = first.commit_transaction(None).unwrap_err();
    assert!(
        matches!(err.code(), Some(90) | Some(47)) || matches!(err, ClientError::IllegalState(_)),
        "PRODUCER_FENCED or INVALID_PRODUCER_EPOCH expected, got {err}"
    );
    second.begin_transaction().unwrap();
    second.send(ProducerRecord::new(&topic, "from-second")).unwrap();
    second.commit_transaction(None).unwrap();
    let values: Vec<String> = read_all(std::slice::from_ref(&topic), "read_committed", 1)
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(values, vec!["from-second"]);
}

#[test]
fn consume_transform_produce_writes_each_output_once_and_commits_the_input() {
    let (input, output) = (unique("ctp-in"), unique("ctp-out"));
    create_topic(&input, 2);
    create_topic(&output, 2);
    produce_values(&input, (0..50).map(|i| i.to_string()));
    let group = unique("ctp-group");
    let consumer = Consumer::new(&conf(&[
        ("group.id", &group),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("isolation.level", "read_committed"),
    ]))
    .unwrap();
    consumer.subscribe(std::slice::from_ref(&input)).unwrap();
    let producer = Producer::new(&conf(&[("transactional.id", &unique("ctp"))])).unwrap();
    producer.init_transactions(None).unwrap();
    let mut seen = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seen < 50 && std::time::Instant::now() < deadline {
        let records = consumer.poll(Duration::from_millis(200)).unwrap();
        if records.is_empty() {
            continue;
        }
        producer.begin_transaction().unwrap();
        let mut offsets = std::collections::BTreeMap::new();
        for r in &records {
            let doubled = String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap().parse::<i64>().unwrap() * 2;
            producer.send(ProducerRecord::new(&output, doubled.to_string())).unwrap();
            offsets.insert(
                TopicPartition::new(&r.topic, r.partition),
                potok::client::OffsetAndMetadata::new(r.offset + 1),
            );
        }
        producer.send_offsets_to_transaction(&offsets, &consumer.group_metadata().unwrap(), None).unwrap();
        producer.commit_transaction(None).unwrap();
        seen += records.len();
    }
    assert_eq!(seen, 50);
    let mut outputs: Vec<i64> = read_all(std::slice::from_ref(&output), "read_committed", 50)
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap().parse().unwrap())
        .collect();
    outputs.sort();
    assert_eq!(outputs, (0..50).map(|i| i * 2).collect::<Vec<i64>>());
    let tps: Vec<TopicPartition> = (0..2).map(|p| TopicPartition::new(&input, p)).collect();
    let committed = consumer.committed(&tps, None).unwrap();
    assert_eq!(committed.values().map(|o| o.offset).sum::<i64>(), 50);
}

#[derive(Debug)]
struct KeyModulo;

impl potok::client::partitioner::Partitioner for KeyModulo {
    fn partition(
        &self,
        _topic: &str,
        key: Option<&[u8]>,
        _value: Option<&[u8]>,
        cluster: &potok::client::partitioner::TopicPartitions<'_>,
    ) -> Result<i32, potok::client::partitioner::PartitionerError> {
        let key = i32::from_be_bytes(key.unwrap_or(&[0; 4]).try_into().unwrap_or([0; 4]));
        Ok(key.rem_euclid(cluster.partition_count))
    }
}

#[test]
fn a_user_partitioner_places_records() {
    // CURRICULUM.md §2: a custom partitioner on 2 partitions, key % 2: odd keys in p1, even keys in p0.
    let topic = unique("custom-partitioner");
    create_topic(&topic, 2);
    let producer = Producer::with_partitioner(&conf(&[]), Some(Box::new(KeyModulo))).unwrap();
    for key in 1..=6i32 {
        let md =
            producer.send(ProducerRecord::new(&topic, "v").key(key.to_be_bytes().to_vec())).unwrap().wait().unwrap();
        assert_eq!(md.partition, key % 2, "key {key}");
    }
    let round_robin = Producer::with_partitioner(
        &conf(&[]),
        Some(Box::new(potok::client::partitioner::RoundRobinPartitioner::new())),
    )
    .unwrap();
    let partitions: Vec<i32> = (0..4)
        .map(|_| round_robin.send(ProducerRecord::new(&topic, "v").key("same")).unwrap().wait().unwrap().partition)
        .collect();
    assert_eq!(partitions.iter().filter(|&&p| p == 0).count(), 2, "{partitions:?}");
}

#[test]
fn max_block_ms_fires_when_the_buffer_stays_full() {
    // The broker goes away after the producer learnt the leader, so nothing drains the buffer: once
    // buffer.memory is taken, send blocks for max.block.ms and then fails.
    let mut config = BrokerConfig::default();
    config.set("listeners", "PLAINTEXT://127.0.0.1:0").unwrap();
    let broker = RunningBroker::start(config).unwrap();
    let producer = Producer::new(&[
        ("bootstrap.servers".to_string(), broker.bootstrap_servers()),
        ("buffer.memory".to_string(), "4096".to_string()),
        ("batch.size".to_string(), "1024".to_string()),
        ("max.block.ms".to_string(), "700".to_string()),
    ])
    .unwrap();
    producer.send(ProducerRecord::new("full", "first")).unwrap().wait().unwrap();
    broker.stop().unwrap();
    let started = std::time::Instant::now();
    let err = loop {
        match producer.send(ProducerRecord::new("full", vec![0u8; 500])) {
            Ok(_) => assert!(started.elapsed() < Duration::from_secs(10), "the buffer never filled"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, ClientError::Timeout(_)), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(700));
    // A host that queues sends (Node's client thread) passes the deadline of its own call: a send whose deadline
    // passed while it waited its turn fails at once when there is no room, instead of blocking max.block.ms more.
    let deadline = std::time::Instant::now();
    let err =
        producer.send_with_callback_until(ProducerRecord::new("full", vec![0u8; 500]), deadline, |_| {}).unwrap_err();
    assert!(matches!(err, ClientError::Timeout(_)), "{err}");
    assert!(deadline.elapsed() < Duration::from_millis(700), "it did not wait max.block.ms again");
    producer.close(Some(Duration::ZERO)).unwrap_err();
}

#[test]
fn poll_at_most_hands_out_records_one_by_one_and_commits_only_those() {
    let topic = unique("one-by-one");
    create_topic(&topic, 1);
    produce_values(&topic, (0..10).map(|i| i.to_string()));
    let group = unique("one-by-one");
    let consumer = Consumer::new(&conf(&[
        ("group.id", &group),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
    ]))
    .unwrap();
    consumer.subscribe(std::slice::from_ref(&topic)).unwrap();
    let tp = TopicPartition::new(&topic, 0);
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while seen.len() < 3 && std::time::Instant::now() < deadline {
        let records = consumer.poll_at_most(Duration::from_millis(200), 1).unwrap();
        assert!(records.len() <= 1);
        seen.extend(records.into_iter().map(|r| r.offset));
    }
    assert_eq!(seen, vec![0, 1, 2]);
    // Records fetched but not handed out are not consumed: the position and the commit stop at 3.
    assert_eq!(consumer.position(&tp, None).unwrap(), 3);
    assert_eq!(consumer.offsets_to_commit().get(&tp).map(|o| o.offset), Some(3));
    consumer.commit_sync(None, None).unwrap();
    assert_eq!(consumer.committed(std::slice::from_ref(&tp), None).unwrap()[&tp].offset, 3);
    let rest = poll_until(&consumer, 7, Duration::from_secs(10));
    assert_eq!(rest.first().map(|r| r.offset), Some(3));
}

#[test]
fn a_subscription_to_a_topic_created_later_picks_it_up() {
    let topic = unique("later");
    let consumer = Consumer::new(&conf(&[
        ("group.id", &unique("later")),
        ("auto.offset.reset", "earliest"),
        ("allow.auto.create.topics", "false"),
    ]))
    .unwrap();
    consumer.subscribe(std::slice::from_ref(&topic)).unwrap();
    for _ in 0..5 {
        assert!(consumer.poll(Duration::from_millis(100)).unwrap().is_empty());
    }
    create_topic(&topic, 2);
    produce_values(&topic, (0..4).map(|i| i.to_string()));
    let records = poll_until(&consumer, 4, Duration::from_secs(30));
    assert_eq!(records.len(), 4);
    assert_eq!(consumer.assignment().len(), 2);
}

/// Everything partition 0 of `topic` holds now, from its start: (offset, key, value).
fn read_partition(topic: &str) -> Vec<(i64, String, Option<String>)> {
    let consumer = Consumer::new(&conf(&[("max.poll.records", "500")])).unwrap();
    let tp = TopicPartition::new(topic, 0);
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    let end = consumer.end_offsets(std::slice::from_ref(&tp), None).unwrap()[&tp];
    consumer.seek_to_beginning(&[]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    while consumer.position(&tp, None).unwrap() < end && std::time::Instant::now() < deadline {
        for r in consumer.poll(Duration::from_millis(200)).unwrap() {
            let text = |b: Option<bytes::Bytes>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
            out.push((r.offset, text(r.key).unwrap_or_default(), text(r.value)));
        }
    }
    out
}

/// Waits (60 s at most) until `topic` reads back as exactly `expected` (key -> value, a `None` value being a
/// tombstone), one record per key, and returns what it read last.
fn await_compacted(topic: &str, expected: &BTreeMap<String, Option<String>>) -> Vec<(i64, String, Option<String>)> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let read = read_partition(topic);
        let got: BTreeMap<String, Option<String>> = read.iter().map(|(_, k, v)| (k.clone(), v.clone())).collect();
        if read.len() == expected.len() && &got == expected {
            return read;
        }
        assert!(std::time::Instant::now() < deadline, "not compacted in time: {read:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A compacted topic (the course's "latest value per key" pattern): once the cleaner has run, a reader from the
/// start gets exactly the latest record of every key at its original offset; a tombstone is read as a null
/// value until `delete.retention.ms` after the cleaning that kept it, and is gone after the next one. Records
/// without a key are refused. Segments roll by `segment.ms`, so the cleaner gets sealed segments to clean.
#[test]
fn compacted_topic_keeps_the_latest_value_per_key() {
    let topic = unique("compacted");
    let configs = [
        ("cleanup.policy", "compact"),
        ("segment.ms", "100"),
        ("min.cleanable.dirty.ratio", "0.01"),
        ("delete.retention.ms", "2000"),
    ];
    let new_topic = NewTopic {
        configs: configs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..NewTopic::new(&topic, 1, 1)
    };
    admin().create_topics(&[new_topic], false, None).unwrap()[0].1.clone().unwrap();
    let producer = Producer::new(&conf(&[("linger.ms", "0")])).unwrap();
    let send = |key: &str, value: Option<&str>| {
        let mut record =
            ProducerRecord { topic: topic.clone(), value: value.map(|v| v.to_string().into()), ..Default::default() };
        record = record.key(key.to_string());
        producer.send(record.partition(0)).unwrap().wait().unwrap().offset
    };
    let mut expected = BTreeMap::new();
    let mut latest_offsets = BTreeMap::new();
    for round in 0..4 {
        for k in 0..10 {
            let (key, value) = (format!("k{k}"), format!("v{round}-{k}"));
            // k9's last write is a tombstone.
            let value = (round < 3 || k != 9).then_some(value);
            let offset = send(&key, value.as_deref());
            latest_offsets.insert(key.clone(), offset);
            expected.insert(key, value);
        }
        // The next append comes more than segment.ms later, so each round ends up in its own segment.
        std::thread::sleep(Duration::from_millis(300));
    }
    let offset = send("roll-1", Some("x"));
    latest_offsets.insert("roll-1".into(), offset);
    expected.insert("roll-1".into(), Some("x".into()));
    let read = await_compacted(&topic, &expected);
    for (offset, key, _) in &read {
        assert_eq!(latest_offsets[key], *offset, "{key} keeps its original offset");
    }
    // A record without a key is refused, as Kafka's LogValidator refuses it.
    let keyless = producer.send(ProducerRecord::new(&topic, "no key").partition(0)).unwrap().wait();
    let Err(ClientError::Kafka { code: 87, message: Some(message), .. }) = &keyless else { panic!("{keyless:?}") };
    let want = format!(
        "One or more records have been rejected due to 1 record errors in total, and only showing the first three errors at most: [RecordError(batchIndex=0, message='Compacted topic cannot accept message without key in topic partition {topic}-0')]"
    );
    assert_eq!(message, &want);
    // Past delete.retention.ms, the next cleaning drops the tombstone.
    std::thread::sleep(Duration::from_millis(2_500));
    send("k0", Some("after"));
    std::thread::sleep(Duration::from_millis(300));
    send("roll-2", Some("y"));
    expected.remove("k9");
    expected.insert("k0".into(), Some("after".into()));
    expected.insert("roll-2".into(), Some("y".into()));
    await_compacted(&topic, &expected);
}

#[test]
fn try_send_returns_at_once_and_reports_an_unreachable_bootstrap() {
    // Nothing listens on port 1. librdkafka's model: the records are queued, flush(timeout) bounds the wait,
    // and they fail after delivery.timeout.ms with an error naming the address; the connection listener hears
    // about the failure once, however often the sender retries.
    let producer = Producer::new(&[
        ("bootstrap.servers".to_string(), "127.0.0.1:1".to_string()),
        ("max.block.ms".to_string(), "600000".to_string()),
        ("delivery.timeout.ms".to_string(), "1500".to_string()),
        ("request.timeout.ms".to_string(), "1000".to_string()),
        ("linger.ms".to_string(), "0".to_string()),
    ])
    .unwrap();
    let failures = Arc::new(Mutex::new(Vec::new()));
    let heard = failures.clone();
    producer.set_connection_listener(move |f| heard.lock().unwrap().push(f.clone()));
    let started = std::time::Instant::now();
    let futures: Vec<_> =
        (0..3).map(|i| producer.try_send(ProducerRecord::new("nowhere", format!("{i}"))).unwrap()).collect();
    // A blocking send would wait max.block.ms (10 minutes) for the topic's metadata.
    assert!(started.elapsed() < Duration::from_secs(60));
    let err = producer.flush(Some(Duration::from_millis(200))).unwrap_err();
    assert!(matches!(err, ClientError::Timeout(_)), "{err}");
    for future in futures {
        let err = future.wait().unwrap_err();
        assert!(matches!(&err, ClientError::Timeout(m) if m.contains("127.0.0.1:1")), "{err}");
    }
    assert!(started.elapsed() >= Duration::from_millis(1500));
    producer.flush(Some(Duration::from_secs(10))).unwrap();
    assert!(!producer.has_connected());
    let failures = failures.lock().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!((failures[0].address.as_str(), failures[0].node_id), ("127.0.0.1:1", -1));
    assert!(matches!(failures[0].error, ClientError::Io(_)), "{:?}", failures[0].error);
}

#[test]
fn try_send_queues_records_until_the_topic_is_known_and_keeps_their_order() {
    let topic = unique("try-send");
    create_topic(&topic, 2);
    let producer = Producer::new(&conf(&[("linger.ms", "5")])).unwrap();
    // The producer knows no metadata yet: every record waits for it, in order, and the sender places them.
    let futures: Vec<_> = (0..200)
        .map(|i| producer.try_send(ProducerRecord::new(&topic, format!("v{i}")).partition(i % 2)).unwrap())
        .collect();
    // A partition the topic lacks fails: at once if the sender has already learnt the metadata, otherwise
    // through the future once it has.
    let missing = producer.try_send(ProducerRecord::new(&topic, "x").partition(7));
    let mut offsets = [Vec::new(), Vec::new()];
    for future in futures {
        let md = future.wait().unwrap();
        offsets[md.partition as usize].push(md.offset);
    }
    for per_partition in &offsets {
        assert_eq!(per_partition.len(), 100);
        assert!(per_partition.windows(2).all(|w| w[1] == w[0] + 1), "{per_partition:?}");
    }
    let err = missing.and_then(|future| future.wait()).unwrap_err();
    assert!(matches!(err, ClientError::InvalidArgument(_)), "{err}");
    // Now the topic is known: a send goes straight to the accumulator.
    assert_eq!(
        producer.try_send(ProducerRecord::new(&topic, "last").partition(0)).unwrap().wait().unwrap().offset,
        100
    );
    assert!(producer.has_connected());
    producer.close(Some(Duration::from_secs(10))).unwrap();
}

#[test]
fn try_send_refuses_a_full_buffer_instead_of_blocking() {
    let producer = Producer::new(&[
        ("bootstrap.servers".to_string(), "127.0.0.1:1".to_string()),
        ("buffer.memory".to_string(), "4096".to_string()),
        ("max.block.ms".to_string(), "600000".to_string()),
    ])
    .unwrap();
    let started = std::time::Instant::now();
    let err = loop {
        match producer.try_send(ProducerRecord::new("nowhere", vec![0u8; 500])) {
            Ok(_) => assert!(started.elapsed() < Duration::from_secs(60), "the buffer never filled"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, ClientError::BufferFull(_)), "{err}");
    assert!(err.is_retriable());
    producer.close(Some(Duration::ZERO)).unwrap_err();
}

/// An idempotent producer writing to topics created moments before, as a course exercise does right after
/// `kafka-topics --create`. Apache Kafka answers Metadata before every new leader has taken over: one request
/// gets NOT_LEADER_OR_FOLLOWER and the next, a few milliseconds later, is the producer's first write to the
/// partition (any first sequence is accepted), so the refused batch can only follow under a new producer id or
/// epoch. The producer stalled until `delivery.timeout.ms` there; every record is now written, once.
#[test]
fn an_idempotent_producer_writes_to_topics_created_moments_before() {
    let admin = admin();
    let topics: Vec<String> = (0..3).map(|i| unique(&format!("fresh-{i}"))).collect();
    let per_topic = 3000;
    for topic in &topics {
        // Not create_topic(): its wait for every leader is what this test must not have.
        admin.create_topics(&[NewTopic::new(topic, 10, 1)], false, None).unwrap()[0].1.clone().unwrap();
        let producer = Producer::new(&conf(&[
            ("enable.idempotence", "true"),
            ("linger.ms", "0"),
            ("batch.size", "2000"),
            ("delivery.timeout.ms", "60000"),
        ]))
        .unwrap();
        let sent: Vec<_> = (0..per_topic)
            .map(|i| producer.send(ProducerRecord::new(topic.as_str(), format!("{i:05}")).partition(i % 10)).unwrap())
            .collect();
        let started = std::time::Instant::now();
        producer.flush(Some(Duration::from_secs(60))).unwrap();
        for s in sent {
            s.wait().unwrap();
        }
        println!("{topic}: {per_topic} records acknowledged in {:?}", started.elapsed());
    }
    let records = read_all(&topics, "read_uncommitted", topics.len() * per_topic as usize);
    for topic in &topics {
        let mut values: Vec<String> = records
            .iter()
            .filter(|r| &r.topic == topic)
            .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
            .collect();
        values.sort();
        let expected: Vec<String> = (0..per_topic).map(|i| format!("{i:05}")).collect();
        assert_eq!(values, expected, "{topic}: every record once");
    }
}
