//! The page's clients against a broker in memory, in virtual time: what a producer sends is read back by a
//! consumer, the broker's log shows the batches the producer's linger and idempotence made, and admin calls go
//! through Kafka requests.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::*;
use crate::client::admin::{AlterConfigOp, AlterOp, ConfigResource, NewTopic, ResourceType};
use crate::host::broker::memory_config;
use crate::host::inspect::{self, InspectLimits};

const NOW: i64 = 1_700_000_000_000;

fn page() -> Page {
    Page::start(memory_config::<&str, &str>(&[]).unwrap(), 7, NOW).unwrap()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Runs the page until `ticket` has an outcome, moving virtual time on by 1 ms per poll (at most 10 s).
fn wait(page: &mut Page, now: &mut i64, ticket: Ticket) -> Outcome {
    for _ in 0..10_000 {
        page.run(*now);
        let mut outcomes = page.take_outcomes();
        let found = outcomes.iter().position(|(t, _)| *t == ticket).map(|i| outcomes.remove(i).1);
        page.outcomes.extend(outcomes);
        if let Some(outcome) = found {
            return outcome;
        }
        *now += 1;
        page.poll(*now);
    }
    panic!("ticket {ticket} got no outcome");
}

fn admin_ok(page: &mut Page, now: &mut i64, admin: ClientHandle, call: AdminCall) -> Value {
    let ticket = page.admin_call(admin, call, *now).unwrap();
    match wait(page, now, ticket) {
        Outcome::Admin(Ok(v)) => v,
        other => panic!("admin call failed: {other:?}"),
    }
}

fn create_topic(page: &mut Page, now: &mut i64, admin: ClientHandle, name: &str, partitions: i32) {
    let topics = vec![NewTopic::new(name, partitions, 1)];
    let created =
        admin_ok(page, now, admin, AdminCall::CreateTopics { topics, validate_only: false, timeout_ms: 5000 });
    assert_eq!(created, serde_json::json!([name]));
}

fn record(topic: &str, key: Option<&[u8]>, value: &str) -> ProducerRecord {
    ProducerRecord {
        topic: topic.into(),
        key: key.map(Bytes::copy_from_slice),
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
        ..Default::default()
    }
}

fn delivered(outcome: Outcome) -> RecordMetadata {
    match outcome {
        Outcome::Delivered(Ok(m)) => m,
        other => panic!("not delivered: {other:?}"),
    }
}

#[test]
fn produced_records_are_consumed_back_with_their_offsets() {
    let mut page = page();
    let mut now = NOW;
    let admin = page.admin(&[], now).unwrap();
    create_topic(&mut page, &mut now, admin, "t", 1);
    let producer = page.producer(&pairs(&[("linger.ms", "0")]), now).unwrap();
    let tickets: Vec<Ticket> =
        (0..10).map(|i| page.send(producer, record("t", None, &format!("v{i}")), now).unwrap()).collect();
    let mut offsets = Vec::new();
    for t in tickets {
        offsets.push(delivered(wait(&mut page, &mut now, t)).offset);
    }
    assert_eq!(offsets, (0..10).collect::<Vec<i64>>());

    let consumer = page.consumer(&pairs(&[("auto.offset.reset", "earliest"), ("group.id", "g")]), now).unwrap();
    let tp = TopicPartition::new("t", 0);
    page.assign(consumer, std::slice::from_ref(&tp), now).unwrap();
    let mut values = Vec::new();
    while values.len() < 10 {
        let ticket = page.poll_consumer(consumer, None, now + 1000).unwrap();
        match wait(&mut page, &mut now, ticket) {
            Outcome::Records(Ok(records)) => {
                values.extend(records.into_iter().map(|r| String::from_utf8_lossy(&r.value.unwrap()).to_string()))
            }
            other => panic!("poll failed: {other:?}"),
        }
    }
    assert_eq!(values, (0..10).map(|i| format!("v{i}")).collect::<Vec<_>>());

    // Commit the position (generation -1, no member: a commit for assign()), then read it back.
    let ticket = page.commit(consumer, None, now).unwrap();
    match wait(&mut page, &mut now, ticket) {
        Outcome::Committed(Ok(o)) => assert_eq!(o[&tp].offset, 10),
        other => panic!("commit failed: {other:?}"),
    }
    let ticket = page.committed(consumer, &[], now).unwrap();
    match wait(&mut page, &mut now, ticket) {
        Outcome::Committed(Ok(o)) => assert_eq!(o[&tp].offset, 10),
        other => panic!("committed failed: {other:?}"),
    }
    let offsets =
        admin_ok(&mut page, &mut now, admin, AdminCall::ListGroupOffsets { group_id: "g".into(), partitions: None });
    assert_eq!(offsets[0]["offset"], 10);

    // A second consumer of the group starts from the committed offset; seek moves it back.
    let second = page.consumer(&pairs(&[("group.id", "g")]), now).unwrap();
    page.assign(second, std::slice::from_ref(&tp), now).unwrap();
    let ticket = page.position(second, tp.clone()).unwrap();
    assert!(matches!(wait(&mut page, &mut now, ticket), Outcome::Position(Ok(10))));
    page.seek(second, &tp, 7).unwrap();
    let ticket = page.poll_consumer(second, Some(2), now + 1000).unwrap();
    match wait(&mut page, &mut now, ticket) {
        Outcome::Records(Ok(records)) => assert_eq!(records.iter().map(|r| r.offset).collect::<Vec<_>>(), [7, 8]),
        other => panic!("poll failed: {other:?}"),
    }
}

#[test]
fn linger_groups_records_into_one_batch_and_idempotence_numbers_it() {
    let mut page = page();
    let mut now = NOW;
    let admin = page.admin(&[], now).unwrap();
    create_topic(&mut page, &mut now, admin, "lingered", 1);
    let producer = page.producer(&pairs(&[("linger.ms", "50")]), now).unwrap();
    let tickets: Vec<Ticket> =
        (0..5).map(|i| page.send(producer, record("lingered", None, &format!("r{i}")), now).unwrap()).collect();
    page.run(now);
    // Nothing is written before the linger ends; the page says when to come back.
    let broker = page.broker().broker().unwrap();
    let view = inspect::inspect(broker, &InspectLimits::default()).unwrap();
    let topic = view.topics.iter().find(|t| t.name == "lingered").unwrap();
    assert_eq!(topic.partitions[0].log_end_offset, 0);
    let due = page.next_deadline_ms(i64::MAX);
    assert!(due > now && due <= now + 50, "due {due}");
    now = due;
    page.poll(now);
    for t in tickets {
        delivered(wait(&mut page, &mut now, t));
    }
    let broker = page.broker().broker().unwrap();
    let view = inspect::inspect(broker, &InspectLimits::default()).unwrap();
    let topic = view.topics.iter().find(|t| t.name == "lingered").unwrap();
    let batches = &topic.partitions[0].segments[0].batches;
    assert_eq!(batches.len(), 1, "one batch for five lingered records");
    assert_eq!(batches[0].record_count, 5);
    let (producer_id, epoch) = page.producer_id(producer).unwrap();
    assert!(producer_id >= 0);
    assert_eq!((batches[0].producer_id, batches[0].producer_epoch, batches[0].base_sequence), (producer_id, epoch, 0));
}

#[test]
fn keys_land_on_the_partitions_murmur2_gives_them() {
    let mut page = page();
    let mut now = NOW;
    let admin = page.admin(&[], now).unwrap();
    create_topic(&mut page, &mut now, admin, "keys", 5);
    let producer = page.producer(&pairs(&[("linger.ms", "0"), ("compression.type", "lz4")]), now).unwrap();
    // The course's vectors (HelloProducer): Integer keys 1..5 serialized big-endian on 5 partitions.
    let expected = [(1, 0), (2, 3), (3, 1), (4, 3), (5, 4)];
    for (key, partition) in expected {
        let k: [u8; 4] = i32::to_be_bytes(key);
        let t = page.send(producer, record("keys", Some(&k), "v"), now).unwrap();
        assert_eq!(delivered(wait(&mut page, &mut now, t)).partition, partition, "key {key}");
    }
}

#[test]
fn records_for_an_unknown_topic_wait_for_auto_creation() {
    let mut page = page();
    let mut now = NOW;
    let producer = page.producer(&pairs(&[("linger.ms", "0"), ("acks", "1")]), now).unwrap();
    let t = page.send(producer, record("created-by-metadata", None, "v"), now).unwrap();
    let m = delivered(wait(&mut page, &mut now, t));
    assert_eq!((m.topic.as_str(), m.offset), ("created-by-metadata", 0));
    let flush = page.flush(producer).unwrap();
    assert!(matches!(wait(&mut page, &mut now, flush), Outcome::Done(Ok(()))));
    let close = page.close_producer(producer).unwrap();
    assert!(matches!(wait(&mut page, &mut now, close), Outcome::Done(Ok(()))));
    assert!(matches!(page.send(producer, record("x", None, "v"), now), Err(ClientError::Closed)));
}

#[test]
fn a_poll_with_nothing_to_read_ends_empty_at_its_deadline() {
    let mut page = page();
    let mut now = NOW;
    let admin = page.admin(&[], now).unwrap();
    create_topic(&mut page, &mut now, admin, "quiet", 1);
    let consumer = page.consumer(&pairs(&[("fetch.max.wait.ms", "100")]), now).unwrap();
    page.assign(consumer, &[TopicPartition::new("quiet", 0)], now).unwrap();
    let deadline = now + 300;
    let ticket = page.poll_consumer(consumer, None, deadline).unwrap();
    match wait(&mut page, &mut now, ticket) {
        Outcome::Records(Ok(records)) => assert!(records.is_empty()),
        other => panic!("poll failed: {other:?}"),
    }
    assert!(now >= deadline);
    // Paused partitions are not handed out; resumed, they are.
    let producer = page.producer(&pairs(&[("linger.ms", "0")]), now).unwrap();
    let t = page.send(producer, record("quiet", None, "late"), now).unwrap();
    delivered(wait(&mut page, &mut now, t));
    page.set_paused(consumer, &[TopicPartition::new("quiet", 0)], true).unwrap();
    let ticket = page.poll_consumer(consumer, None, now + 200).unwrap();
    assert!(matches!(wait(&mut page, &mut now, ticket), Outcome::Records(Ok(r)) if r.is_empty()));
    page.set_paused(consumer, &[TopicPartition::new("quiet", 0)], false).unwrap();
    let ticket = page.poll_consumer(consumer, None, now + 1000).unwrap();
    assert!(matches!(wait(&mut page, &mut now, ticket), Outcome::Records(Ok(r)) if r.len() == 1));
}

#[test]
fn admin_calls_go_through_kafka_requests() {
    let mut page = page();
    let mut now = NOW;
    let admin = page.admin(&[], now).unwrap();
    let mut topic = NewTopic::new("configured", 2, 1);
    topic.configs.push(("retention.ms".into(), "60000".into()));
    admin_ok(
        &mut page,
        &mut now,
        admin,
        AdminCall::CreateTopics { topics: vec![topic.clone()], validate_only: false, timeout_ms: 5000 },
    );
    let again = page
        .admin_call(admin, AdminCall::CreateTopics { topics: vec![topic], validate_only: false, timeout_ms: 5000 }, now)
        .unwrap();
    match wait(&mut page, &mut now, again) {
        Outcome::Admin(Err(e)) => assert_eq!(e.name(), "TOPIC_ALREADY_EXISTS"),
        other => panic!("a second create succeeded: {other:?}"),
    }
    let listed = admin_ok(&mut page, &mut now, admin, AdminCall::ListTopics { include_internal: false });
    assert_eq!(listed, serde_json::json!(["configured"]));
    let described =
        admin_ok(&mut page, &mut now, admin, AdminCall::DescribeTopics { names: Some(vec!["configured".into()]) });
    assert_eq!(described[0]["partitions"].as_array().unwrap().len(), 2);

    let resource = ConfigResource { resource_type: ResourceType::Topic, name: "configured".into() };
    let change = AlterConfigOp { name: "segment.bytes".into(), value: Some("1048576".into()), op: AlterOp::Set };
    admin_ok(
        &mut page,
        &mut now,
        admin,
        AdminCall::IncrementalAlterConfigs { changes: vec![(resource.clone(), vec![change])], validate_only: false },
    );
    let configs = admin_ok(&mut page, &mut now, admin, AdminCall::DescribeConfigs { resources: vec![resource] });
    let entries: BTreeMap<String, Value> = configs[0]["configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e.clone()))
        .collect();
    assert_eq!(entries["retention.ms"]["value"], "60000");
    assert_eq!(entries["segment.bytes"]["value"], "1048576");
    assert_eq!(entries["segment.bytes"]["source"], "DYNAMIC_TOPIC_CONFIG");

    let offsets = admin_ok(
        &mut page,
        &mut now,
        admin,
        AdminCall::ListOffsets {
            specs: vec![(TopicPartition::new("configured", 1), OffsetSpec::Latest)],
            isolation_level: crate::client::IsolationLevel::ReadUncommitted,
        },
    );
    assert_eq!(offsets[0]["offset"], 0);
    let deleted = admin_ok(
        &mut page,
        &mut now,
        admin,
        AdminCall::DeleteTopics { names: vec!["configured".into()], timeout_ms: 5000 },
    );
    assert_eq!(deleted, serde_json::json!(["configured"]));
    let groups = admin_ok(&mut page, &mut now, admin, AdminCall::ListGroups);
    assert_eq!(groups, serde_json::json!([]));
}

#[test]
fn acks_zero_records_are_written_without_an_answer_and_seek_to_end_skips_them() {
    let mut page = page();
    let mut now = NOW;
    let admin = page.admin(&[], now).unwrap();
    create_topic(&mut page, &mut now, admin, "fire", 1);
    let producer = page.producer(&pairs(&[("linger.ms", "0"), ("acks", "0")]), now).unwrap();
    let tickets: Vec<Ticket> =
        (0..3).map(|i| page.send(producer, record("fire", None, &format!("f{i}")), now).unwrap()).collect();
    for t in tickets {
        // Kafka's producer reports -1 for a record sent with acks=0: the broker says nothing.
        assert_eq!(delivered(wait(&mut page, &mut now, t)).offset, -1);
    }
    let consumer = page.consumer(&pairs(&[("auto.offset.reset", "earliest")]), now).unwrap();
    let tp = TopicPartition::new("fire", 0);
    page.assign(consumer, std::slice::from_ref(&tp), now).unwrap();
    let ticket = page.position(consumer, tp.clone()).unwrap();
    assert!(matches!(wait(&mut page, &mut now, ticket), Outcome::Position(Ok(0))));
    page.seek_to(consumer, &[], OffsetSpec::Latest).unwrap();
    let ticket = page.position(consumer, tp.clone()).unwrap();
    assert!(matches!(wait(&mut page, &mut now, ticket), Outcome::Position(Ok(3))));
    page.seek_to(consumer, std::slice::from_ref(&tp), OffsetSpec::Earliest).unwrap();
    let ticket = page.poll_consumer(consumer, None, now + 1000).unwrap();
    match wait(&mut page, &mut now, ticket) {
        Outcome::Records(Ok(records)) => assert_eq!(records.len(), 3),
        other => panic!("poll failed: {other:?}"),
    }
    // Commits need a group.id.
    assert!(matches!(page.commit(consumer, None, now), Err(ClientError::InvalidArgument(_))));
    page.close_consumer(consumer, now);
    assert!(matches!(page.poll_consumer(consumer, None, now), Err(ClientError::Closed)));
}

/// Writes one record `value` to each given partition of `topic` and waits for them.
fn produce_to(page: &mut Page, now: &mut i64, producer: ClientHandle, topic: &str, partitions: &[i32], value: &str) {
    let tickets: Vec<Ticket> = partitions
        .iter()
        .map(|&p| {
            let r = ProducerRecord { partition: Some(p), ..record(topic, None, &format!("{value}-{p}")) };
            page.send(producer, r, *now).unwrap()
        })
        .collect();
    for t in tickets {
        delivered(wait(page, now, t));
    }
}

/// Keeps a poll waiting for each of `consumers` (as their applications would), moving virtual time on by 10 ms
/// a round, until `done` holds (at most 60 s). Returns the records each consumer polled meanwhile; `waiting`
/// holds the polls still waiting from one call to the next.
fn poll_until(
    page: &mut Page,
    now: &mut i64,
    waiting: &mut BTreeMap<Ticket, ClientHandle>,
    consumers: &[ClientHandle],
    done: impl Fn(&Page, &BTreeMap<ClientHandle, Vec<ConsumerRecord>>) -> bool,
) -> BTreeMap<ClientHandle, Vec<ConsumerRecord>> {
    let mut polled: BTreeMap<ClientHandle, Vec<ConsumerRecord>> = consumers.iter().map(|&c| (c, Vec::new())).collect();
    for _ in 0..6_000 {
        for &c in consumers {
            if !waiting.values().any(|&w| w == c) {
                waiting.insert(page.poll_consumer(c, None, *now + 100).unwrap(), c);
            }
        }
        page.run(*now);
        let mut others = Vec::new();
        for (ticket, outcome) in page.take_outcomes() {
            if waiting.get(&ticket).is_some_and(|c| !consumers.contains(c)) {
                others.push((ticket, outcome));
                continue;
            }
            match (waiting.remove(&ticket), outcome) {
                (Some(c), Outcome::Records(Ok(records))) => polled.get_mut(&c).unwrap().extend(records),
                (Some(c), other) => panic!("consumer {c}'s poll failed: {other:?}"),
                (None, outcome) => others.push((ticket, outcome)),
            }
        }
        page.outcomes.extend(others);
        if done(page, &polled) {
            return polled;
        }
        *now += 10;
        page.poll(*now);
    }
    let assignments: Vec<_> = consumers.iter().map(|&c| page.assignment(c)).collect();
    panic!("the group did not settle: assignments {assignments:?}, polled {polled:?}");
}

fn partitions_of(page: &Page, consumer: ClientHandle) -> Vec<i32> {
    page.assignment(consumer).into_iter().map(|tp| tp.partition).collect()
}

fn group_consumer(page: &mut Page, now: i64) -> ClientHandle {
    let config = pairs(&[
        ("group.id", "members"),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("heartbeat.interval.ms", "100"),
        ("session.timeout.ms", "6000"),
    ]);
    page.consumer(&config, now).unwrap()
}

#[test]
fn subscribed_consumers_of_one_group_share_the_partitions_and_take_over_on_close() {
    let mut page = page();
    let mut now = NOW;
    let mut polls = BTreeMap::new();
    let admin = page.admin(&[], now).unwrap();
    create_topic(&mut page, &mut now, admin, "shared", 4);
    let producer = page.producer(&pairs(&[("linger.ms", "0")]), now).unwrap();
    produce_to(&mut page, &mut now, producer, "shared", &[0, 1, 2, 3], "a");

    // subscribe needs a group.id.
    let lone = page.consumer(&[], now).unwrap();
    assert!(matches!(page.subscribe(lone, &["shared".into()]), Err(ClientError::InvalidArgument(_))));

    // One member gets every partition and reads what is there; it commits its positions as a member.
    let first = group_consumer(&mut page, now);
    page.subscribe(first, &["shared".into()]).unwrap();
    assert_eq!(page.subscription(first), ["shared"]);
    let polled = poll_until(&mut page, &mut now, &mut polls, &[first], |_, polled| polled[&first].len() == 4);
    assert_eq!(partitions_of(&page, first), [0, 1, 2, 3]);
    assert!(polled[&first].iter().all(|r| r.offset == 0));
    let all: Vec<TopicPartition> = (0..4).map(|p| TopicPartition::new("shared", p)).collect();
    assert_eq!(page.take_rebalances(first), [RebalanceEvent::Assigned { partitions: all.clone(), added: all.clone() }]);
    let member = page.group_metadata(first).unwrap();
    assert_eq!(member.group_id, "members");
    assert!(member.generation_id >= 1 && !member.member_id.is_empty());
    let ticket = page.commit(first, None, now).unwrap();
    match wait(&mut page, &mut now, ticket) {
        Outcome::Committed(Ok(o)) => assert!(o.values().all(|o| o.offset == 1)),
        other => panic!("commit failed: {other:?}"),
    }

    // A second member: the group rebalances and the partitions split two and two.
    let second = group_consumer(&mut page, now);
    page.subscribe(second, &["shared".into()]).unwrap();
    poll_until(&mut page, &mut now, &mut polls, &[first, second], |page, _| {
        page.assignment(first).len() == 2 && page.assignment(second).len() == 2
    });
    let mut both = partitions_of(&page, first);
    both.extend(partitions_of(&page, second));
    both.sort();
    assert_eq!(both, [0, 1, 2, 3]);
    // The first member gave everything up (the eager range assignor) before it got its half back.
    let events = page.take_rebalances(first);
    assert_eq!(events[0], RebalanceEvent::Revoked(all.clone()));
    assert!(matches!(events.last(), Some(RebalanceEvent::Assigned { partitions, .. }) if partitions.len() == 2));

    // New records go to whichever member owns their partition; the second member starts from the committed
    // offsets, so nobody reads the first records again.
    produce_to(&mut page, &mut now, producer, "shared", &[0, 1, 2, 3], "b");
    let polled = poll_until(&mut page, &mut now, &mut polls, &[first, second], |_, polled| {
        polled.values().map(Vec::len).sum::<usize>() == 4
    });
    for (c, records) in &polled {
        assert!(records
            .iter()
            .all(|r| r.offset == 1 && page.assignment(*c).contains(&TopicPartition::new("shared", r.partition))));
        assert_eq!(records.len(), 2);
    }

    // The first member closes (leaving the group): the second takes everything over at once, not after its
    // session timeout.
    let before = now;
    page.close_consumer(first, now);
    // Its waiting poll fails as closed.
    let closed: Vec<Ticket> = polls.iter().filter(|(_, c)| **c == first).map(|(t, _)| *t).collect();
    for t in closed {
        polls.remove(&t);
        assert!(matches!(wait(&mut page, &mut now, t), Outcome::Records(Err(ClientError::Closed))));
    }
    poll_until(&mut page, &mut now, &mut polls, &[second], |page, _| page.assignment(second).len() == 4);
    assert!(now - before < 6000, "took {} ms", now - before);
}

fn done(outcome: Outcome) {
    match outcome {
        Outcome::Done(Ok(())) => {}
        other => panic!("not done: {other:?}"),
    }
}

/// Polls `consumer` until a poll comes back empty; the values read.
fn read_all(page: &mut Page, now: &mut i64, consumer: ClientHandle) -> Vec<String> {
    let mut values = Vec::new();
    loop {
        let ticket = page.poll_consumer(consumer, None, *now + 600).unwrap();
        match wait(page, now, ticket) {
            Outcome::Records(Ok(records)) if records.is_empty() => return values,
            Outcome::Records(Ok(records)) => {
                values.extend(records.into_iter().map(|r| String::from_utf8_lossy(&r.value.unwrap()).to_string()))
            }
            other => panic!("poll failed: {other:?}"),
        }
    }
}

#[test]
fn a_transactional_producer_commits_and_aborts_and_read_committed_hides_the_aborted() {
    let mut page = page();
    let mut now = NOW;
    let admin = page.admin(&[], now).unwrap();
    create_topic(&mut page, &mut now, admin, "txn", 1);
    let producer = page.producer(&pairs(&[("transactional.id", "page-tx"), ("linger.ms", "0")]), now).unwrap();
    // Nothing is sent outside a transaction, nor before initTransactions.
    assert!(page.send(producer, record("txn", None, "early"), now).is_err());
    let ticket = page.init_transactions(producer, now).unwrap();
    done(wait(&mut page, &mut now, ticket));
    let (id, epoch) = page.producer_id(producer).unwrap();
    assert!(id >= 0 && epoch >= 0);

    let transaction = |page: &mut Page, now: &mut i64, values: &[&str], commit: bool| {
        page.begin_transaction(producer).unwrap();
        let tickets: Vec<Ticket> =
            values.iter().map(|v| page.send(producer, record("txn", None, v), *now).unwrap()).collect();
        let flush = page.flush(producer).unwrap();
        done(wait(page, now, flush));
        for t in tickets {
            delivered(wait(page, now, t));
        }
        let ticket = page.end_transaction(producer, commit, *now).unwrap();
        done(wait(page, now, ticket));
    };
    transaction(&mut page, &mut now, &["c1", "c2", "c3"], true);
    transaction(&mut page, &mut now, &["a1", "a2"], false);

    // The third transaction also commits a group's offset.
    page.begin_transaction(producer).unwrap();
    let t = page.send(producer, record("txn", None, "c4"), now).unwrap();
    let tp = TopicPartition::new("txn", 0);
    let offsets =
        BTreeMap::from([(tp.clone(), OffsetAndMetadata { offset: 5, leader_epoch: None, metadata: String::new() })]);
    let ticket =
        page.send_offsets_to_transaction(producer, offsets, ConsumerGroupMetadata::new("txn-readers"), now).unwrap();
    done(wait(&mut page, &mut now, ticket));
    let ticket = page.end_transaction(producer, true, now).unwrap();
    done(wait(&mut page, &mut now, ticket));
    delivered(wait(&mut page, &mut now, t));
    let committed = admin_ok(
        &mut page,
        &mut now,
        admin,
        AdminCall::ListGroupOffsets { group_id: "txn-readers".into(), partitions: None },
    );
    assert_eq!(committed[0]["offset"], 5);

    // Side by side: read_committed sees the committed records only, read_uncommitted every record.
    let committed_reader = page
        .consumer(&pairs(&[("auto.offset.reset", "earliest"), ("isolation.level", "read_committed")]), now)
        .unwrap();
    let uncommitted_reader = page.consumer(&pairs(&[("auto.offset.reset", "earliest")]), now).unwrap();
    page.assign(committed_reader, std::slice::from_ref(&tp), now).unwrap();
    page.assign(uncommitted_reader, std::slice::from_ref(&tp), now).unwrap();
    assert_eq!(read_all(&mut page, &mut now, committed_reader), ["c1", "c2", "c3", "c4"]);
    assert_eq!(read_all(&mut page, &mut now, uncommitted_reader), ["c1", "c2", "c3", "a1", "a2", "c4"]);
}

#[test]
fn a_record_for_a_topic_that_never_appears_fails_after_the_delivery_timeout() {
    let config = memory_config(&[("auto.create.topics.enable", "false")]).unwrap();
    let mut page = Page::start(config, 7, NOW).unwrap();
    let mut now = NOW;
    let admin = page.admin(&[], now).unwrap();
    create_topic(&mut page, &mut now, admin, "there", 1);
    let config = pairs(&[("linger.ms", "0"), ("request.timeout.ms", "500"), ("delivery.timeout.ms", "1000")]);
    let producer = page.producer(&config, now).unwrap();
    let start = now;
    let missing = page.send(producer, record("missing", None, "v"), now).unwrap();
    // A known topic's record does not wait behind it.
    let there = page.send(producer, record("there", None, "v"), now).unwrap();
    assert_eq!(delivered(wait(&mut page, &mut now, there)).offset, 0);
    match wait(&mut page, &mut now, missing) {
        Outcome::Delivered(Err(ClientError::Timeout(message))) => assert!(message.contains("missing"), "{message}"),
        other => panic!("not a timeout: {other:?}"),
    }
    assert!(now - start >= 1000);
}
