//! Replication on a three-node cluster in this process, judged by potok's own Kafka clients: followers copy
//! their leaders' logs byte for byte, acks=all waits for the ISR, a killed leader loses no acknowledged record,
//! min.insync.replicas refuses writes the ISR cannot hold and accepts them again once a broker returns and
//! catches up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use kafka_protocol::messages::{ApiKey, DescribeTransactionsRequest, ResponseKind, TransactionalId};
use kafka_protocol::protocol::StrBytes;
use potok::client::admin::{Admin, NewTopic};
use potok::client::cluster::{BrokerInfo, TopicMetadata};
use potok::client::consumer::Consumer;
use potok::client::producer::{Producer, ProducerRecord};
use potok::client::{ClientError, TopicPartition};
use potok::host::cluster::EmbeddedCluster;

fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn conf(bootstrap: &str, pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v = vec![("bootstrap.servers".to_string(), bootstrap.to_string())];
    v.extend(pairs.iter().map(|(k, val)| (k.to_string(), val.to_string())));
    v
}

/// A cluster of three brokers and one dedicated controller with `config`, once every broker has registered:
/// the cluster, its bootstrap servers, an admin client and the brokers.
fn three_brokers(config: &[(&str, &str)]) -> (EmbeddedCluster, String, Admin, Vec<BrokerInfo>) {
    let cluster = EmbeddedCluster::start_with_controllers(3, 1, config).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let admin = Admin::new(&conf(&bootstrap, &[])).unwrap();
    let brokers = wait_for("three registered brokers", Duration::from_secs(30), || {
        let c = admin.describe_cluster(Some(Duration::from_secs(2))).ok()?;
        (c.brokers.len() == 3).then_some(c.brokers)
    });
    (cluster, bootstrap, admin, brokers)
}

/// The leader of `__consumer_offsets`' one partition, once a group has asked for its coordinator (which creates
/// the topic) and all three replicas are in sync.
fn offsets_coordinator(bootstrap: &str, admin: &Admin) -> i32 {
    let probe = Consumer::new(&conf(bootstrap, &[("group.id", "probe")])).unwrap();
    wait_for("the offsets topic with three replicas in sync", Duration::from_secs(60), || {
        let _ = probe.committed(&[TopicPartition::new("none", 0)], Some(Duration::from_secs(1)));
        let p = describe(admin, "__consumer_offsets")?.partitions.remove(0);
        (p.leader > 0 && p.isr.len() == 3).then_some(p.leader)
    })
}

fn describe(admin: &Admin, topic: &str) -> Option<TopicMetadata> {
    admin.describe_topics(&[topic.to_string()], Some(Duration::from_secs(2))).ok()?.remove(0).1.ok()
}

/// The bytes of a partition's segments on one broker, in offset order.
fn segments(dir: &Path, tp: &str) -> Vec<u8> {
    let mut logs: Vec<_> = std::fs::read_dir(dir.join(tp))
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    logs.retain(|p| p.extension().is_some_and(|e| e == "log"));
    logs.sort();
    logs.iter().flat_map(|p| std::fs::read(p).unwrap_or_default()).collect()
}

/// Reads a partition from the beginning to `end` with a fresh consumer.
fn read_all(bootstrap: &str, topic: &str, partition: i32, end: usize) -> Vec<String> {
    let consumer = Consumer::new(&conf(bootstrap, &[("auto.offset.reset", "earliest")])).unwrap();
    consumer.assign(&[TopicPartition::new(topic, partition)]).unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < end {
        assert!(Instant::now() < deadline, "read {} of {end} records of {topic}-{partition}", seen.len());
        for r in consumer.poll(Duration::from_millis(500)).unwrap_or_default() {
            seen.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
        }
    }
    seen
}

#[test]
fn followers_copy_leaders_and_acks_all_survives_a_killed_leader() {
    let mut cluster = EmbeddedCluster::start(
        3,
        &[
            ("broker.session.timeout.ms", "3000"),
            ("broker.heartbeat.interval.ms", "500"),
            ("replica.lag.time.max.ms", "5000"),
        ],
    )
    .unwrap();
    let dirs: BTreeMap<i32, std::path::PathBuf> = cluster.log_dirs().into_iter().collect();
    let bootstrap = cluster.bootstrap_servers();
    let admin = Admin::new(&conf(&bootstrap, &[])).unwrap();
    // The cluster started once all three were registered and unfenced.
    assert_eq!(admin.describe_cluster(None).unwrap().brokers.len(), 3);
    let mut topic = NewTopic::new("invoice", 3, 3);
    topic.configs = vec![("min.insync.replicas".into(), "2".into()), ("segment.bytes".into(), "1000000".into())];
    let mut strict = NewTopic::new("strict", 1, 3);
    strict.configs = vec![("min.insync.replicas".into(), "3".into())];
    for (_, created) in admin.create_topics(&[topic, strict], false, None).unwrap() {
        created.unwrap();
    }

    let producer = Producer::new(&conf(&bootstrap, &[("acks", "all"), ("linger.ms", "5")])).unwrap();
    let mut acked: BTreeMap<i32, Vec<(i64, String)>> = BTreeMap::new();
    let futures: Vec<_> = (0..300)
        .map(|i| {
            let value = format!("v{i}");
            (value.clone(), producer.send(ProducerRecord::new("invoice", value).partition(i % 3)).unwrap())
        })
        .collect();
    for (value, future) in futures {
        let md = future.wait().unwrap();
        acked.entry(md.partition).or_default().push((md.offset, value));
    }
    // acks=all answered: every in-sync replica has the records, so the three copies are the same bytes.
    for p in 0..3 {
        let name = format!("invoice-{p}");
        wait_for(&format!("identical copies of {name}"), Duration::from_secs(30), || {
            let copies: Vec<Vec<u8>> = dirs.values().map(|d| segments(d, &name)).collect();
            (!copies[0].is_empty() && copies.iter().all(|c| *c == copies[0])).then_some(())
        });
    }
    let t = describe(&admin, "invoice").unwrap();
    assert!(t.partitions.iter().all(|p| p.isr.len() == 3), "{:?}", t.partitions);

    // Kill partition 0's leader (as SIGKILL would): another in-sync replica leads and has every acknowledged
    // record at its acknowledged offset.
    let leader = t.partitions[0].leader;
    cluster.kill_broker(leader).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let admin = Admin::new(&conf(&bootstrap, &[])).unwrap();
    wait_for("a new leader for invoice-0", Duration::from_secs(30), || {
        let t = describe(&admin, "invoice")?;
        t.partitions.iter().all(|p| p.leader >= 0 && p.leader != leader && !p.isr.contains(&leader)).then_some(())
    });
    for (p, records) in &acked {
        let seen = read_all(&bootstrap, "invoice", *p, records.len());
        let expected: Vec<String> = records.iter().map(|(_, v)| v.clone()).collect();
        assert_eq!(seen, expected, "partition {p} after the leader's death");
        assert!(records.windows(2).all(|w| w[1].0 == w[0].0 + 1));
    }
    // Two brokers in sync of the three: acks=all still works.
    let producer = Producer::new(&conf(
        &bootstrap,
        &[("acks", "all"), ("delivery.timeout.ms", "3000"), ("request.timeout.ms", "1000"), ("linger.ms", "0")],
    ))
    .unwrap();
    producer.send(ProducerRecord::new("invoice", "two-in-sync").partition(0)).unwrap().wait().unwrap();

    // `strict` wants all three in sync (min.insync.replicas=3); with one broker down the ISR has two, so an
    // acks=all write is refused (two brokers down would take the controller quorum of three with them, and
    // then no ISR can change at all — as in Kafka's combined mode).
    let t = describe(&admin, "strict").unwrap();
    assert!(t.partitions.iter().all(|p| p.isr.len() == 2), "{:?}", t.partitions);
    // A producer retries NOT_ENOUGH_REPLICAS until its delivery timeout (and then reports the timeout, as
    // Kafka's does); with retries=0 the error itself comes back.
    let once = Producer::new(&conf(&bootstrap, &[("acks", "all"), ("retries", "0"), ("enable.idempotence", "false")]))
        .unwrap();
    let err = once.send(ProducerRecord::new("strict", "refused").partition(0)).unwrap().wait().unwrap_err();
    assert!(
        matches!(&err, ClientError::Kafka { code: 19, .. }) || err.to_string().contains("NOT_ENOUGH_REPLICAS"),
        "{err}"
    );

    // The killed broker returns, catches up from the leaders and rejoins the ISR: the write is accepted.
    cluster.start_broker(leader).unwrap();
    wait_for("the returned broker back in every ISR", Duration::from_secs(60), || {
        let t = describe(&admin, "strict")?;
        let u = describe(&admin, "invoice")?;
        t.partitions.iter().chain(&u.partitions).all(|p| p.isr.len() == 3).then_some(())
    });
    let producer = Producer::new(&conf(&cluster.bootstrap_servers(), &[("acks", "all")])).unwrap();
    producer.send(ProducerRecord::new("strict", "accepted").partition(0)).unwrap().wait().unwrap();
    for p in 0..3 {
        let name = format!("invoice-{p}");
        let copies: Vec<Vec<u8>> = dirs.values().map(|d| segments(d, &name)).collect();
        assert!(copies.iter().all(|c| *c == copies[0]), "{name} differs between brokers after the rejoin");
    }
    cluster.stop().unwrap();
}

/// A consumer group survives the death of its coordinator: the leader of the group's `__consumer_offsets`
/// partition moves to a broker holding a copy of it, which loads the group's committed offsets, and the group
/// resumes where it committed.
#[test]
fn a_group_resumes_after_its_coordinator_is_killed() {
    let mut cluster = EmbeddedCluster::start(
        3,
        &[
            ("broker.session.timeout.ms", "3000"),
            ("broker.heartbeat.interval.ms", "500"),
            ("offsets.topic.num.partitions", "5"),
        ],
    )
    .unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let admin = Admin::new(&conf(&bootstrap, &[])).unwrap();
    // The cluster started once all three were registered and unfenced.
    assert_eq!(admin.describe_cluster(None).unwrap().brokers.len(), 3);
    admin.create_topics(&[NewTopic::new("orders", 1, 3)], false, None).unwrap()[0].1.clone().unwrap();
    let producer = Producer::new(&conf(&bootstrap, &[("acks", "all")])).unwrap();
    for i in 0..10 {
        producer.send(ProducerRecord::new("orders", format!("o{i}"))).unwrap().wait().unwrap();
    }
    let group = [("group.id", "billing"), ("auto.offset.reset", "earliest"), ("enable.auto.commit", "false")];
    let consumer = Consumer::new(&conf(&bootstrap, &group)).unwrap();
    consumer.subscribe(&["orders".to_string()]).unwrap();
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen < 10 {
        assert!(Instant::now() < deadline, "the group read {seen} of 10");
        seen += consumer.poll(Duration::from_millis(500)).unwrap().len();
    }
    consumer.commit_sync(None, Some(Duration::from_secs(30))).unwrap();
    let coordinator = admin.describe_groups(&["billing".to_string()], None).unwrap().remove(0).1.unwrap().coordinator;
    drop(consumer);
    // The commit was answered once the in-sync replicas had it: killing the coordinator right away loses nothing.
    cluster.kill_broker(coordinator).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let admin = Admin::new(&conf(&bootstrap, &[])).unwrap();
    let committed = wait_for("the group's offsets from its new coordinator", Duration::from_secs(30), || {
        admin.list_consumer_group_offsets("billing", None, Some(Duration::from_secs(2))).ok().filter(|o| !o.is_empty())
    });
    assert_eq!(committed[&TopicPartition::new("orders", 0)].offset, 10);
    let described = admin.describe_groups(&["billing".to_string()], None).unwrap().remove(0).1.unwrap();
    assert_ne!(described.coordinator, coordinator);
    let producer = Producer::new(&conf(&bootstrap, &[("acks", "all")])).unwrap();
    for i in 10..15 {
        producer.send(ProducerRecord::new("orders", format!("o{i}"))).unwrap().wait().unwrap();
    }
    let consumer = Consumer::new(&conf(&bootstrap, &group)).unwrap();
    consumer.subscribe(&["orders".to_string()]).unwrap();
    let mut values = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while values.len() < 5 {
        assert!(Instant::now() < deadline, "the group resumed with {values:?}");
        for r in consumer.poll(Duration::from_millis(500)).unwrap() {
            values.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
        }
    }
    assert_eq!(values, (10..15).map(|i| format!("o{i}")).collect::<Vec<_>>(), "resumed at the committed offset");
    drop(consumer);
    cluster.stop().unwrap();
}

/// Reads every partition of `topic` to its end as `isolation` allows, returning the values seen.
fn read_topic(bootstrap: &str, topic: &str, partitions: i32, isolation: &str, expect: usize) -> Vec<String> {
    let consumer =
        Consumer::new(&conf(bootstrap, &[("auto.offset.reset", "earliest"), ("isolation.level", isolation)])).unwrap();
    consumer.assign(&(0..partitions).map(|p| TopicPartition::new(topic, p)).collect::<Vec<_>>()).unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < expect {
        assert!(Instant::now() < deadline, "{isolation} read {seen:?}, expected {expect} records");
        for r in consumer.poll(Duration::from_millis(300)).unwrap_or_default() {
            seen.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
        }
    }
    // Nothing more arrives.
    for r in consumer.poll(Duration::from_millis(500)).unwrap_or_default() {
        seen.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
    }
    seen.sort();
    seen
}

/// A transaction over partitions led by three different brokers: the coordinator writes the markers on its own
/// partitions and asks the other leaders with WriteTxnMarkers; read_committed sees committed transactions only.
/// The coordinator's broker is then killed: its `__transaction_state` partition's new leader takes over the
/// transactional id.
#[test]
fn transactions_span_brokers_and_survive_their_coordinator() {
    if std::env::var("POTOK_TEST_LOG").is_ok() {
        potok::host::log::set_sink(potok::host::log::Level::Trace, |r| eprintln!("{}", r.kafka_line()));
    }
    let mut cluster = EmbeddedCluster::start(
        3,
        &[
            ("broker.session.timeout.ms", "3000"),
            ("broker.heartbeat.interval.ms", "500"),
            ("transaction.state.log.num.partitions", "3"),
            ("offsets.topic.num.partitions", "3"),
        ],
    )
    .unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let admin = Admin::new(&conf(&bootstrap, &[])).unwrap();
    // The cluster started once all three were registered and unfenced.
    assert_eq!(admin.describe_cluster(None).unwrap().brokers.len(), 3);
    admin.create_topics(&[NewTopic::new("payments", 3, 3)], false, None).unwrap()[0].1.clone().unwrap();
    let leaders: Vec<i32> = describe(&admin, "payments").unwrap().partitions.iter().map(|p| p.leader).collect();
    let mut sorted = leaders.clone();
    sorted.sort();
    assert_eq!(sorted, vec![1, 2, 3], "one partition led by each broker");

    let producer = Producer::new(&conf(&bootstrap, &[("transactional.id", "payments-tx")])).unwrap();
    producer.init_transactions(Some(Duration::from_secs(30))).unwrap();
    for (name, commit) in [("t1", true), ("t2", false), ("t3", true)] {
        producer.begin_transaction().unwrap();
        for p in 0..3 {
            producer.send(ProducerRecord::new("payments", format!("{name}-{p}")).partition(p)).unwrap();
        }
        if commit {
            producer.commit_transaction(Some(Duration::from_secs(30))).unwrap();
        } else {
            producer.abort_transaction(Some(Duration::from_secs(30))).unwrap();
        }
    }
    let committed: Vec<String> = ["t1", "t3"].iter().flat_map(|t| (0..3).map(move |p| format!("{t}-{p}"))).collect();
    assert_eq!(read_topic(&bootstrap, "payments", 3, "read_committed", 6), committed);
    assert_eq!(read_topic(&bootstrap, "payments", 3, "read_uncommitted", 9).len(), 9);
    drop(producer);

    // Kill the coordinator of the transactional id: the new leader of its partition loads it, and a producer
    // with the same id carries on there.
    let coordinator = {
        let t = describe(&admin, "__transaction_state").unwrap();
        let partition = potok::coordinator::group::partition_for("payments-tx", 3) as usize;
        t.partitions[partition].leader
    };
    cluster.kill_broker(coordinator).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let producer = Producer::new(&conf(&bootstrap, &[("transactional.id", "payments-tx")])).unwrap();
    producer.init_transactions(Some(Duration::from_secs(60))).unwrap();
    producer.begin_transaction().unwrap();
    for p in 0..3 {
        producer.send(ProducerRecord::new("payments", format!("t4-{p}")).partition(p)).unwrap();
    }
    producer.commit_transaction(Some(Duration::from_secs(60))).unwrap();
    let mut committed = committed;
    committed.extend((0..3).map(|p| format!("t4-{p}")));
    committed.sort();
    assert_eq!(read_topic(&bootstrap, "payments", 3, "read_committed", 9), committed);
    cluster.stop().unwrap();
}

/// The course's min-ISR exercise on a cluster whose controller runs apart from the brokers (process.roles=broker
/// on three nodes, process.roles=controller on a fourth): with two of the three brokers stopped, the quorum is
/// untouched, the ISR shrinks to the last broker, and an acks=all write to a topic with min.insync.replicas=2 is
/// refused with NOT_ENOUGH_REPLICAS; the brokers return, rejoin the ISR, and the write goes through.
#[test]
fn dedicated_controllers_outlive_two_dead_brokers_and_acks_all_is_refused_below_min_isr() {
    let mut cluster = EmbeddedCluster::start_with_controllers(
        3,
        1,
        &[
            ("broker.session.timeout.ms", "3000"),
            ("broker.heartbeat.interval.ms", "500"),
            ("replica.lag.time.max.ms", "5000"),
        ],
    )
    .unwrap();
    let bootstrap = cluster.bootstrap_servers();
    assert_eq!(bootstrap.split(',').count(), 3, "only the brokers take clients: {bootstrap}");
    let admin = Admin::new(&conf(&bootstrap, &[])).unwrap();
    // The cluster started once all three were registered and unfenced.
    let described = admin.describe_cluster(None).unwrap();
    let mut ids: Vec<i32> = described.brokers.iter().map(|b| b.node_id).collect();
    ids.sort();
    assert_eq!(ids, vec![1, 2, 3], "the controller-only node is no broker");
    // Clients cannot reach a dedicated controller: as Kafka 4, the brokers name one of themselves.
    assert!(ids.contains(&described.controller_id), "controller id {}", described.controller_id);

    let mut topic = NewTopic::new("min-isr", 1, 3);
    topic.configs = vec![("min.insync.replicas".into(), "2".into())];
    admin.create_topics(&[topic], false, None).unwrap()[0].1.clone().unwrap();
    let leader = wait_for("a leader with its whole ISR", Duration::from_secs(30), || {
        let p = describe(&admin, "min-isr")?.partitions.remove(0);
        (p.leader > 0 && p.isr.len() == 3).then_some(p.leader)
    });
    let producer = Producer::new(&conf(&bootstrap, &[("acks", "all"), ("linger.ms", "0")])).unwrap();
    for i in 0..10 {
        producer.send(ProducerRecord::new("min-isr", format!("v{i}"))).unwrap().wait().unwrap();
    }

    // Two brokers die; the controller fences them and shrinks the ISR to the survivor.
    let dead: Vec<i32> = (1..=3).filter(|id| *id != leader).collect();
    for id in &dead {
        cluster.kill_broker(*id).unwrap();
    }
    let admin = Admin::new(&conf(&cluster.bootstrap_servers(), &[])).unwrap();
    wait_for("the ISR down to the leader", Duration::from_secs(30), || {
        let p = describe(&admin, "min-isr")?.partitions.remove(0);
        (p.leader == leader && p.isr == vec![leader]).then_some(())
    });
    let once = Producer::new(&conf(
        &cluster.bootstrap_servers(),
        &[("acks", "all"), ("retries", "0"), ("enable.idempotence", "false")],
    ))
    .unwrap();
    let err = once.send(ProducerRecord::new("min-isr", "refused")).unwrap().wait().unwrap_err();
    assert!(
        matches!(&err, ClientError::Kafka { code: 19, .. }) || err.to_string().contains("NOT_ENOUGH_REPLICAS"),
        "{err}"
    );
    // Metadata changes still commit: the quorum lives on the controller.
    admin.create_topics(&[NewTopic::new("while-down", 1, 1)], false, None).unwrap()[0].1.clone().unwrap();

    for id in &dead {
        cluster.start_broker(*id).unwrap();
    }
    wait_for("the returned brokers back in the ISR", Duration::from_secs(60), || {
        let p = describe(&admin, "min-isr")?.partitions.remove(0);
        (p.isr.len() == 3).then_some(())
    });
    let producer = Producer::new(&conf(&cluster.bootstrap_servers(), &[("acks", "all")])).unwrap();
    producer.send(ProducerRecord::new("min-isr", "accepted")).unwrap().wait().unwrap();
    assert_eq!(read_all(&cluster.bootstrap_servers(), "min-isr", 0, 11).last().unwrap(), "accepted");
    cluster.stop().unwrap();
}

/// A group's assignment is answered only once the in-sync replicas of its `__consumer_offsets` partition have
/// the group's records, as Kafka's coordinator answers SyncGroup after its write is committed: with both
/// followers of that partition killed but still in its ISR (until the controller fences them after
/// `broker.session.timeout.ms`), a consumer gets no assignment; once the ISR has shrunk to the leader, it does.
#[test]
fn a_group_is_answered_only_after_its_records_are_replicated() {
    let (mut cluster, bootstrap, admin, _) = three_brokers(&[
        ("offsets.topic.num.partitions", "1"),
        ("broker.session.timeout.ms", "10000"),
        ("replica.lag.time.max.ms", "60000"),
    ]);
    let coordinator = offsets_coordinator(&bootstrap, &admin);
    let mut orders = NewTopic::new("orders", -1, -1);
    orders.replica_assignment = vec![(0, vec![coordinator])];
    admin.create_topics(&[orders], false, None).unwrap()[0].1.clone().unwrap();
    let producer = Producer::new(&conf(&bootstrap, &[("acks", "all")])).unwrap();
    for i in 0..5 {
        producer.send(ProducerRecord::new("orders", format!("o{i}"))).unwrap().wait().unwrap();
    }

    for id in (1..=3).filter(|id| *id != coordinator) {
        cluster.kill_broker(id).unwrap();
    }
    let killed = Instant::now();
    let admin = Admin::new(&conf(&cluster.bootstrap_servers(), &[])).unwrap();
    let group = [("group.id", "billing"), ("auto.offset.reset", "earliest")];
    let consumer = Consumer::new(&conf(&cluster.bootstrap_servers(), &group)).unwrap();
    consumer.subscribe(&["orders".to_string()]).unwrap();
    // The group's records wait for two dead replicas still in the ISR: no assignment is handed out (the
    // controller fences them 10 s after their last heartbeat; this looks for the first 4 s).
    while killed.elapsed() < Duration::from_secs(4) {
        assert!(consumer.poll(Duration::from_millis(250)).unwrap_or_default().is_empty());
        assert!(consumer.assignment().is_empty(), "assigned before the ISR had the group's records");
    }
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen < 5 {
        assert!(Instant::now() < deadline, "the group read {seen} of 5 after the ISR shrank");
        seen += consumer.poll(Duration::from_millis(500)).unwrap_or_default().len();
    }
    assert_eq!(consumer.assignment(), vec![TopicPartition::new("orders", 0)]);
    let isr = describe(&admin, "__consumer_offsets").unwrap().partitions.remove(0).isr;
    assert_eq!(isr, vec![coordinator], "the group was answered with its records on the leader alone");
    drop(consumer);
    cluster.stop().unwrap();
}

/// A transaction completes only once the in-sync replicas of its partitions have its markers: Kafka writes
/// markers with acks=all. Acknowledged by the leader alone, a marker could be truncated away by a leader change
/// after the coordinator had completed the transaction, and the producer's next transaction's marker would then
/// end these records (a fault trial saw a committed transaction's records aborted that way). Here one broker,
/// a follower of both partitions (one led by the coordinator, one by another broker), dies before the commit:
/// the transaction stays in PrepareCommit while that broker is still in the ISR, and completes once the
/// controller has fenced it and the ISRs have shrunk.
#[test]
fn a_transaction_completes_only_once_its_markers_are_replicated() {
    let (mut cluster, bootstrap, admin, brokers) = three_brokers(&[
        ("broker.session.timeout.ms", "10000"),
        ("replica.lag.time.max.ms", "60000"),
        ("transaction.state.log.num.partitions", "1"),
        ("transaction.state.log.replication.factor", "1"),
        ("transaction.state.log.min.isr", "1"),
    ]);
    let producer = Producer::new(&conf(&bootstrap, &[("transactional.id", "ledger-tx")])).unwrap();
    producer.init_transactions(Some(Duration::from_secs(30))).unwrap();
    let coordinator = describe(&admin, "__transaction_state").unwrap().partitions[0].leader;
    let others: Vec<i32> = (1..=3).filter(|id| *id != coordinator).collect();
    let (peer, doomed) = (others[0], others[1]);
    let mut ledger = NewTopic::new("ledger", -1, -1);
    ledger.replica_assignment = vec![(0, vec![coordinator, doomed]), (1, vec![peer, doomed])];
    admin.create_topics(&[ledger], false, None).unwrap()[0].1.clone().unwrap();
    wait_for("both replicas of both partitions in sync", Duration::from_secs(30), || {
        describe(&admin, "ledger")?.partitions.iter().all(|p| p.isr.len() == 2).then_some(())
    });

    producer.begin_transaction().unwrap();
    for p in 0..2 {
        producer.send(ProducerRecord::new("ledger", format!("entry-{p}")).partition(p)).unwrap().wait().unwrap();
    }
    cluster.kill_broker(doomed).unwrap();
    let killed = Instant::now();
    producer.commit_transaction(Some(Duration::from_secs(30))).unwrap();

    let address = brokers.iter().find(|b| b.node_id == coordinator).map(|b| format!("{}:{}", b.host, b.port)).unwrap();
    let mut conn = common::wire::connect(address.parse().unwrap());
    let mut state = || {
        let request = DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![TransactionalId(StrBytes::from_static_str("ledger-tx"))]);
        let ResponseKind::DescribeTransactions(r) =
            common::wire::call(&mut conn, ApiKey::DescribeTransactions, 0, request.into())
        else {
            panic!("not a DescribeTransactions answer")
        };
        r.transaction_states[0].transaction_state.to_string()
    };
    // The dead broker stays in both ISRs until the controller fences it (10 s after its last heartbeat): the
    // markers are written on the leaders but not replicated, so the transaction is not complete.
    while killed.elapsed() < Duration::from_secs(4) {
        assert_eq!(state(), "PrepareCommit", "completed before the in-sync replicas had the markers");
        std::thread::sleep(Duration::from_millis(250));
    }
    wait_for("the transaction completed", Duration::from_secs(60), || (state() == "CompleteCommit").then_some(()));
    let isrs: Vec<Vec<i32>> = describe(&admin, "ledger").unwrap().partitions.into_iter().map(|p| p.isr).collect();
    assert_eq!(isrs, vec![vec![coordinator], vec![peer]], "completed once the ISRs had shrunk to the leaders");
    let bootstrap = cluster.bootstrap_servers();
    assert_eq!(read_topic(&bootstrap, "ledger", 2, "read_committed", 2), vec!["entry-0", "entry-1"]);
    drop(producer);
    cluster.stop().unwrap();
}

/// OffsetFetch answers only from the group's coordinator, and only with offsets the in-sync replicas have.
/// A fault trial saw a group's committed offsets go backwards: OffsetFetch had shown commits the coordinator held
/// but its replicas did not (a follower was dead but still in the ISR), the coordinator's broker then died and the
/// follower became leader without them; and a restarted broker that had not caught up with the metadata answered
/// as the coordinator, with no offsets at all. Kafka's coordinator reads at its partition's committed offset, so
/// a commit shows once its write is replicated (answered at once, with the previous offset, meanwhile), and other
/// brokers answer NOT_COORDINATOR.
#[test]
fn a_committed_offset_is_seen_only_at_the_coordinator_and_once_it_is_replicated() {
    use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
    use kafka_protocol::messages::offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopics};
    use kafka_protocol::messages::{GroupId, OffsetCommitRequest, OffsetFetchRequest, TopicName};

    let (mut cluster, bootstrap, admin, brokers) = three_brokers(&[
        ("offsets.topic.num.partitions", "1"),
        ("broker.session.timeout.ms", "10000"),
        ("replica.lag.time.max.ms", "60000"),
    ]);
    let address = |id: i32| {
        let b = brokers.iter().find(|b| b.node_id == id).unwrap();
        format!("{}:{}", b.host, b.port).parse::<std::net::SocketAddr>().unwrap()
    };
    let coordinator = offsets_coordinator(&bootstrap, &admin);
    let other = (1..=3).find(|id| *id != coordinator).unwrap();
    let mut orders = NewTopic::new("orders", -1, -1);
    orders.replica_assignment = vec![(0, vec![coordinator])];
    admin.create_topics(&[orders], false, None).unwrap()[0].1.clone().unwrap();

    let commit = |offset: i64| {
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str("billing")))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("orders")))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(offset)])]);
        let mut conn = common::wire::connect(address(coordinator));
        common::wire::send(&mut conn, ApiKey::OffsetCommit, 8, request.into());
        conn
    };
    // (group error, committed offset of orders-0) as `broker` answers OffsetFetch v8.
    let fetch = |broker: i32| -> (i16, i64) {
        let request = OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(StrBytes::from_static_str("billing")))
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(TopicName(StrBytes::from_static_str("orders")))
                .with_partition_indexes(vec![0])]))]);
        let mut conn = common::wire::connect(address(broker));
        let ResponseKind::OffsetFetch(r) = common::wire::call(&mut conn, ApiKey::OffsetFetch, 8, request.into()) else {
            panic!("not an OffsetFetch answer")
        };
        let group = &r.groups[0];
        let offset = group.topics.first().and_then(|t| t.partitions.first()).map_or(-1, |p| p.committed_offset);
        (group.error_code, offset)
    };
    let mut first = commit(10);
    let ResponseKind::OffsetCommit(r) = common::wire::receive(&mut first, ApiKey::OffsetCommit, 8) else { panic!() };
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    assert_eq!(fetch(coordinator), (0, 10));
    assert_eq!(fetch(other), (16, -1), "a broker that is not the coordinator answers NOT_COORDINATOR");

    // Both followers die while still in the ISR: a new commit is written on the coordinator but not replicated.
    for id in (1..=3).filter(|id| *id != coordinator) {
        cluster.kill_broker(id).unwrap();
    }
    let killed = Instant::now();
    let mut pending = commit(20);
    // Until the controller fences them (10 s after their last heartbeat, so not before 8 s from now), OffsetFetch
    // answers at once with the replicated offset, 10, never with 20.
    let mut answers = 0;
    while killed.elapsed() < Duration::from_secs(4) {
        let answer = fetch(coordinator);
        if killed.elapsed() >= Duration::from_secs(8) {
            break;
        }
        answers += 1;
        assert_eq!(answer, (0, 10), "after {:?}", killed.elapsed());
    }
    assert!(answers > 0, "no OffsetFetch was answered before the followers could be fenced");
    // Once the ISR has shrunk to the coordinator, the commit is replicated: answered, and then seen.
    let ResponseKind::OffsetCommit(r) = common::wire::receive(&mut pending, ApiKey::OffsetCommit, 8) else { panic!() };
    let error = r.topics[0].partitions[0].error_code;
    wait_for("the commit once the ISR has shrunk to the coordinator", Duration::from_secs(60), || {
        (fetch(coordinator) == (0, 20)).then_some(())
    });
    assert!(error == 0 || error == 15, "the commit was answered with {error}");
    cluster.stop().unwrap();
}

/// The first consumer group of a cluster with a broker stopped: `__consumer_offsets` is created with the
/// brokers that are up (potok caps the internal topics' replication factor at the live brokers, so that a course
/// set-up with one broker down still runs its groups). A broker whose metadata lacks the topic does not answer as
/// its coordinator meanwhile.
#[test]
fn a_first_group_runs_with_a_broker_down() {
    let mut cluster =
        EmbeddedCluster::start(3, &[("broker.session.timeout.ms", "3000"), ("broker.heartbeat.interval.ms", "500")])
            .unwrap();
    let admin = Admin::new(&conf(&cluster.bootstrap_servers(), &[])).unwrap();
    admin.create_topics(&[NewTopic::new("orders", 1, 2)], false, None).unwrap()[0].1.clone().unwrap();
    cluster.stop_broker(3).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let producer = Producer::new(&conf(&bootstrap, &[("acks", "all")])).unwrap();
    for i in 0..5 {
        producer.send(ProducerRecord::new("orders", format!("o{i}"))).unwrap().wait().unwrap();
    }
    let consumer =
        Consumer::new(&conf(&bootstrap, &[("group.id", "billing"), ("auto.offset.reset", "earliest")])).unwrap();
    consumer.subscribe(&["orders".to_string()]).unwrap();
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen < 5 {
        assert!(Instant::now() < deadline, "the group read {seen} of 5 with a broker down");
        seen += consumer.poll(Duration::from_millis(500)).unwrap_or_default().len();
    }
    let offsets = describe(&admin, "__consumer_offsets").unwrap();
    assert!(offsets.partitions.iter().all(|p| p.replicas.len() == 2), "replicated on the two live brokers");
    drop(consumer);
    cluster.stop().unwrap();
}
