//! The internal topics stay bounded: a consumer that commits the same offsets over and over, and a
//! transactional producer that runs transaction after transaction under one transactional id, write to
//! `__consumer_offsets` and `__transaction_state` for ever; the log cleaner keeps only the latest record of each
//! key, so the partitions' size levels off instead of growing with the number of commits. The sizes measured
//! are printed (run with `--nocapture`); bench/results/compaction.md records them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use potok::broker::BrokerConfig;
use potok::client::admin::{Admin, NewTopic};
use potok::client::consumer::Consumer;
use potok::client::producer::{Producer, ProducerRecord};
use potok::client::{OffsetAndMetadata, TopicPartition};
use potok::net::RunningBroker;

const SEGMENT_BYTES: u64 = 16 * 1024;

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn start(dir: &Path) -> RunningBroker {
    let mut config = BrokerConfig::default();
    for (key, value) in [
        ("listeners", "PLAINTEXT://127.0.0.1:0"),
        ("log.dirs", dir.to_str().unwrap()),
        ("offsets.topic.num.partitions", "1"),
        ("offsets.topic.segment.bytes", &SEGMENT_BYTES.to_string()),
        ("transaction.state.log.num.partitions", "1"),
        ("transaction.state.log.segment.bytes", &SEGMENT_BYTES.to_string()),
        ("log.cleaner.backoff.ms", "50"),
        ("group.initial.rebalance.delay.ms", "0"),
    ] {
        config.set(key, value).unwrap();
    }
    RunningBroker::start(config).unwrap()
}

/// Writes `rounds` batches of work with `step`, measuring the partition directory after each; returns the
/// sizes seen. The cleaner runs in the background meanwhile.
fn measure(dir: &Path, rounds: usize, mut step: impl FnMut(usize)) -> Vec<u64> {
    let mut sizes = Vec::new();
    for round in 0..rounds {
        step(round);
        sizes.push(dir_size(dir));
    }
    sizes
}

#[test]
fn internal_topics_stay_bounded_under_repeated_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = start(tmp.path());
    let conf = |pairs: &[(&str, &str)]| {
        let mut v: Vec<(String, String)> = vec![("bootstrap.servers".into(), broker.bootstrap_servers())];
        v.extend(pairs.iter().map(|(k, val)| (k.to_string(), val.to_string())));
        v
    };
    let topic = "input";
    let admin = Admin::new(&conf(&[])).unwrap();
    admin.create_topics(&[NewTopic::new(topic, 4, 1)], false, None).unwrap()[0].1.clone().unwrap();

    // The same four offsets committed again and again.
    let consumer = Consumer::new(&conf(&[("group.id", "committer"), ("enable.auto.commit", "false")])).unwrap();
    let offsets: BTreeMap<TopicPartition, OffsetAndMetadata> =
        (0..4).map(|p| (TopicPartition::new(topic, p), OffsetAndMetadata::new(0))).collect();
    let commits_per_round = 100;
    let offsets_dir = tmp.path().join("__consumer_offsets-0");
    let sizes = measure(&offsets_dir, 40, |_| {
        for _ in 0..commits_per_round {
            consumer.commit_sync(Some(&offsets), None).unwrap();
        }
    });
    let written = sizes.len() * commits_per_round;
    eprintln!("__consumer_offsets-0 after every {commits_per_round} of {written} commits: {sizes:?} bytes");
    // Uncleaned, 4000 commits of four offsets take about 470 KB and grow with every commit; cleaned, the
    // partition stays within a few segments (the active one, not cleaned, and the cleaned ones merged). The
    // bound leaves room for a cleaner that lags on a loaded machine.
    let last_half_max = *sizes[sizes.len() / 2..].iter().max().unwrap();
    assert!(last_half_max <= 6 * SEGMENT_BYTES, "{sizes:?}");
    // Reading back still gives the committed offsets.
    let committed = consumer.committed(&offsets.keys().cloned().collect::<Vec<_>>(), None).unwrap();
    assert_eq!(committed.len(), 4);
    consumer.close(None).unwrap();

    // Transaction after transaction under one transactional id.
    let producer = Producer::new(&conf(&[("transactional.id", "repeating"), ("linger.ms", "0")])).unwrap();
    producer.init_transactions(Some(Duration::from_secs(30))).unwrap();
    let state_dir = tmp.path().join("__transaction_state-0");
    let sizes = measure(&state_dir, 20, |round| {
        for i in 0..20 {
            producer.begin_transaction().unwrap();
            let record = ProducerRecord::new(topic, format!("{round}-{i}")).key("k").partition(0);
            producer.send(record).unwrap();
            producer.commit_transaction(Some(Duration::from_secs(30))).unwrap();
        }
    });
    eprintln!("__transaction_state-0 after every 20 of 400 transactions: {sizes:?} bytes");
    let last_half_max = *sizes[sizes.len() / 2..].iter().max().unwrap();
    assert!(last_half_max <= 6 * SEGMENT_BYTES, "{sizes:?}");
    producer.close(None).unwrap();
    broker.stop().unwrap();
    // The cleaner's checkpoint names both internal partitions.
    let checkpoint = std::fs::read_to_string(tmp.path().join("cleaner-offset-checkpoint")).unwrap();
    assert!(
        checkpoint.contains("__consumer_offsets 0 ") && checkpoint.contains("__transaction_state 0 "),
        "{checkpoint}"
    );
}
