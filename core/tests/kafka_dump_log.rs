//! Apache Kafka's own `DumpLogSegments` reads the segment, offset index and time index files potok writes:
//! the proof that the on-disk format is Kafka's. Needs Kafka's jars (scripts/kafka.sh installs them), so it is
//! `#[ignore]`d here and run by scripts/test.sh with `--ignored`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::batch;
use potok::record::{BatchBuilder, Compression, ControlType};
use potok::storage::{AppendOrigin, FileBackend, Log, LogConfig, OpenOptions};

#[test]
#[ignore = "needs Apache Kafka's jars; run by scripts/test.sh"]
fn kafka_dump_log_segments_reads_potok_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("invoice-0");
    let config = LogConfig { segment_bytes: 8_000, index_interval_bytes: 512, ..LogConfig::default() };
    let mut log = Log::open(Arc::new(FileBackend), &dir, config, OpenOptions::default(), 0).unwrap();
    let codecs = [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];
    let mut records = 0;
    for i in 0..60i64 {
        let b = batch(5, 200, 1_700_000_000_000 + i * 10, codecs[i as usize % codecs.len()]);
        log.append(&b, 1, AppendOrigin::Client, 1_700_000_000_000).unwrap();
        records += 5;
    }
    let mut txn = BatchBuilder::new(Compression::None).producer(42, 0, 0, true);
    txn.append(1_700_000_001_000, Some(b"k"), Some(b"in a transaction"), &[]);
    log.append(&txn.build().unwrap(), 1, AppendOrigin::Client, 1_700_000_001_000).unwrap();
    let marker = BatchBuilder::control_marker(ControlType::Commit, 0, 42, 0, 1_700_000_001_001).build().unwrap();
    log.append(&marker, 1, AppendOrigin::Coordinator, 0).unwrap();
    records += 2;
    assert!(log.segment_count() >= 3);
    log.close(0).unwrap();

    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .filter(|p| p.ends_with(".log") || p.ends_with(".index") || p.ends_with(".timeindex"))
        .collect();
    files.sort();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka.sh");
    let out = Command::new("bash").arg(script).arg("dump-log-segments").args(&files).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "DumpLogSegments failed:\n{stdout}\n{stderr}");
    let dumped_records = stdout.lines().filter(|l| l.starts_with("| offset:")).count();
    assert_eq!(dumped_records, records, "{stdout}");
    assert!(stdout.contains("endTxnMarker: COMMIT"), "{stdout}");
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        assert!(stdout.contains(&format!("compresscodec: {codec}")), "{codec} missing:\n{stdout}");
    }
    let lower = stdout.to_lowercase();
    for bad in ["mismatch", "isvalid: false", "invalid bytes", "not increasing", "corrupt", "exception"] {
        assert!(!lower.contains(bad), "DumpLogSegments reported {bad:?}:\n{stdout}");
    }
    let index_entries = stdout.lines().filter(|l| l.starts_with("offset:") && l.contains("position:")).count();
    assert!(index_entries > 10, "the sparse offset index has entries:\n{stdout}");
    let time_entries = stdout.lines().filter(|l| l.starts_with("timestamp:")).count();
    assert!(time_entries > 10, "the time index has entries:\n{stdout}");
}

/// Kafka's DumpLogSegments reads potok's transaction files: a segment's `.txnindex` (aborted transactions), a
/// producer state `.snapshot`, and `__transaction_state` records through its transaction log decoder.
#[test]
#[ignore = "needs Apache Kafka's jars; run by scripts/test.sh"]
fn kafka_dump_log_segments_reads_potok_transaction_files() {
    use potok::coordinator::transaction::{TxnMetadata, TxnState};
    use potok::coordinator::txn_log_schema;

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("orders-0");
    let mut log = Log::open(Arc::new(FileBackend), &dir, LogConfig::default(), OpenOptions::default(), 0).unwrap();
    let now = 1_700_000_000_000;
    for pid in [42, 43] {
        let mut txn = BatchBuilder::new(Compression::None).producer(pid, 5, 0, true);
        txn.append(now, Some(b"k"), Some(b"v"), &[]);
        log.append(&txn.build().unwrap(), 1, AppendOrigin::Client, now).unwrap();
    }
    let mut open_txn = BatchBuilder::new(Compression::None).producer(44, 0, 0, true);
    open_txn.append(now, Some(b"k"), Some(b"still open"), &[]);
    log.append(&open_txn.build().unwrap(), 1, AppendOrigin::Client, now).unwrap();
    for (pid, control) in [(42, ControlType::Commit), (43, ControlType::Abort)] {
        let marker = BatchBuilder::control_marker(control, 7, pid, 5, now).build().unwrap();
        log.append(&marker, 1, AppendOrigin::Coordinator, now).unwrap();
    }
    let end = log.log_end_offset();
    log.close(now).unwrap();
    let txnindex = dir.join("00000000000000000000.txnindex");
    let snapshot = dir.join(format!("{end:020}.snapshot"));
    let out = dump(&[&txnindex, &snapshot], "");
    // The abort of producer 43 (offsets 1 to 4) while producer 44's transaction, from offset 2, was open.
    assert!(out.contains("producerId: 43") && out.contains("firstOffset: 1"), "{out}");
    assert!(out.contains("lastOffset: 4") && out.contains("lastStableOffset: 2"), "{out}");
    for pid in [42, 43, 44] {
        assert!(out.contains(&format!("producerId: {pid}")), "snapshot entry for {pid}:\n{out}");
    }
    assert!(out.contains("currentTxnFirstOffset: OptionalLong[2]"), "producer 44's open transaction:\n{out}");
    assert!(out.contains("coordinatorEpoch: 7"), "{out}");

    let state_dir = tmp.path().join("__transaction_state-3");
    let mut state =
        Log::open(Arc::new(FileBackend), &state_dir, LogConfig::default(), OpenOptions::default(), 0).unwrap();
    let mut m = TxnMetadata::new("tx-dump", 1000, 60_000, now);
    m.producer_epoch = 2;
    m.state = TxnState::Ongoing;
    m.partitions.insert(("orders".into(), 0));
    m.start_ms = now;
    let mut batch = BatchBuilder::new(Compression::None);
    batch.append(now, Some(&txn_log_schema::key("tx-dump")), Some(&txn_log_schema::value(&m)), &[]);
    state.append(&batch.build().unwrap(), 0, AppendOrigin::Coordinator, now).unwrap();
    state.close(now).unwrap();
    let out = dump(&[&state_dir.join("00000000000000000000.log")], "--transaction-log-decoder");
    assert!(out.contains(r#"key: {"type":"0","data":{"transactionalId":"tx-dump"}}"#), "{out}");
    let value = r#"{"producerId":1000,"producerEpoch":2,"transactionTimeoutMs":60000,"transactionStatus":1,"transactionPartitions":[{"topic":"orders","partitionIds":[0]}]"#;
    assert!(out.contains(value), "{out}");
}

fn dump(files: &[&Path], extra: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg("dump-log-segments")
        .args(files)
        .env("KAFKA_DUMP_ARGS", extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "DumpLogSegments failed:\n{stdout}\n{stderr}");
    let lower = stdout.to_lowercase();
    for bad in ["mismatch", "isvalid: false", "corrupt", "exception"] {
        assert!(!lower.contains(bad), "DumpLogSegments reported {bad:?}:\n{stdout}");
    }
    stdout
}

/// Kafka's DumpLogSegments reads segments the log cleaner wrote: rewritten batches (every codec), a batch with
/// a delete horizon, an idempotent producer's emptied last batch, kept transaction markers, and the cleaned
/// segments' indexes and `.txnindex`.
#[test]
#[ignore = "needs Apache Kafka's jars; run by scripts/test.sh"]
fn kafka_dump_log_segments_reads_cleaned_segments() {
    use potok::storage::cleaner::{clean_filthiest, Cleaner, CleanerConfig, LogCleaner, Unthrottled};
    use potok::storage::{lock, TopicPartition};
    use std::sync::Mutex;

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("compacted-0");
    let config = LogConfig {
        segment_bytes: 2_000,
        index_interval_bytes: 200,
        compact: true,
        delete: false,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    };
    let log = Log::open(Arc::new(FileBackend), &dir, config, OpenOptions::default(), 0).unwrap();
    let log = Arc::new(Mutex::new(log));
    let now = 1_700_000_000_000;
    let codecs = [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];
    let append = |bytes: Vec<u8>, origin: AppendOrigin| {
        let mut l = lock(&log);
        l.append(&bytes, 1, origin, now).unwrap();
        let end = l.log_end_offset();
        l.set_high_watermark(end);
    };
    // An idempotent producer whose records are all overwritten later: its last batch stays, emptied.
    let mut idempotent = BatchBuilder::new(Compression::None).producer(7, 0, 0, false);
    idempotent.append(now, Some(b"k0"), Some(b"from producer 7"), &[]);
    append(idempotent.build().unwrap(), AppendOrigin::Client);
    // An aborted and a committed transaction.
    for pid in [9, 10] {
        let mut txn = BatchBuilder::new(Compression::None).producer(pid, 0, 0, true);
        txn.append(now, Some(format!("txn-{pid}").as_bytes()), Some(b"in a transaction"), &[]);
        append(txn.build().unwrap(), AppendOrigin::Client);
    }
    for (pid, control) in [(9, ControlType::Abort), (10, ControlType::Commit)] {
        append(BatchBuilder::control_marker(control, 0, pid, 0, now).build().unwrap(), AppendOrigin::Coordinator);
    }
    for round in 0..12 {
        let mut b = BatchBuilder::new(codecs[round % codecs.len()]);
        for k in 0..8 {
            let value = format!("round {round} key {k} {}", "x".repeat(40));
            // A tombstone for k7 in the last round.
            let value = (round < 11 || k != 7).then_some(value);
            b.append(now + round as i64, Some(format!("k{k}").as_bytes()), value.as_deref().map(str::as_bytes), &[]);
        }
        append(b.build().unwrap(), AppendOrigin::Client);
    }
    lock(&log).roll(now).unwrap();
    let cleaner = LogCleaner::open(Arc::new(FileBackend), tmp.path());
    let thread = Cleaner::new(CleanerConfig::default());
    let tp = TopicPartition::new("compacted", 0).unwrap();
    let (_, stats) =
        clean_filthiest(&cleaner, &thread, &[(tp, log.clone())], now, &Unthrottled, &|| true).unwrap().unwrap();
    assert!(stats.groups_swapped > 0 && stats.records_written < stats.records_read, "{stats:?}");
    let kept_records: usize = {
        let l = lock(&log);
        let mut n = 0;
        let mut offset = 0;
        while offset < l.log_end_offset() {
            let read = l.read(offset, 1 << 20, i64::MAX, true).unwrap();
            for b in potok::record::Batches::new(&read.records) {
                let h = potok::record::BatchHeader::parse(b.unwrap()).unwrap();
                n += h.records_count as usize;
                offset = h.next_offset();
            }
        }
        n
    };
    let log = Arc::try_unwrap(log).unwrap().into_inner().unwrap();
    log.close(now).unwrap();
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| ["log", "index", "timeindex", "txnindex"].iter().any(|x| p.extension().is_some_and(|e| e == *x)))
        .collect();
    files.sort();
    let paths: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let out = dump(&paths, "");
    assert_eq!(out.lines().filter(|l| l.starts_with("| offset:")).count(), kept_records, "{out}");
    assert!(out.contains("count: 0") && out.contains("producerId: 7"), "producer 7's emptied batch:\n{out}");
    assert!(out.contains("endTxnMarker: ABORT") && out.contains("endTxnMarker: COMMIT"), "{out}");
    assert!(out.contains("deleteHorizonMs: OptionalLong["), "the tombstone's batch has a delete horizon:\n{out}");
    assert!(
        !out.contains("payload: from producer 7") && !out.contains("round 0 key"),
        "overwritten records went:\n{out}"
    );
    // The last round's batch was rewritten (the tombstone's horizon) in its own codec.
    assert!(out.contains("compresscodec: gzip"), "{out}");
    assert!(out.contains("producerId: 9") && out.contains("firstOffset: 1"), "the .txnindex entry:\n{out}");
}

/// Kafka's DumpLogSegments with its cluster metadata decoder reads potok's `__cluster_metadata-0`: every record
/// decodes as Kafka's own metadata record types.
#[test]
#[ignore = "needs Apache Kafka's jars; run by scripts/test.sh"]
fn kafka_dump_log_segments_reads_potok_metadata_log() {
    use std::collections::BTreeMap;

    use potok::controller::records::{
        config_records, Endpoint, RegisterBroker, CONFIG_RESOURCE_BROKER, CONFIG_RESOURCE_TOPIC,
    };
    use potok::controller::{partition_records, topic_records, MetadataRecord, MetadataStore, PartitionChange};

    let tmp = tempfile::tempdir().unwrap();
    let mut store = MetadataStore::open(Arc::new(FileBackend), tmp.path(), 20 << 20, 0).unwrap();
    let id = uuid::Uuid::from_u128(0x5eed);
    let configs = BTreeMap::from([("segment.bytes".to_string(), "1000000".to_string())]);
    let mut records = vec![
        MetadataRecord::FeatureLevel {
            name: "metadata.version".into(),
            level: potok::controller::METADATA_VERSION_LEVEL,
        },
        MetadataRecord::RegisterBroker(RegisterBroker {
            broker_id: 1,
            incarnation_id: uuid::Uuid::from_u128(77),
            broker_epoch: 3,
            endpoints: vec![Endpoint {
                name: "PLAINTEXT".into(),
                host: "localhost".into(),
                port: 9092,
                security_protocol: 0,
            }],
            features: vec![],
            rack: None,
            fenced: true,
            in_controlled_shutdown: false,
            log_dirs: vec![uuid::Uuid::from_u128(5)],
        }),
        MetadataRecord::UnfenceBroker { id: 1, epoch: 3 },
    ];
    records.extend(topic_records("invoice", id, &[vec![1, 2, 3], vec![2, 3, 1]], &configs, |_| true));
    records.extend(partition_records(id, 2, &[vec![3, 1, 2]], |_| true));
    records.push(MetadataRecord::PartitionChange(PartitionChange {
        isr: Some(vec![1, 3]),
        leader: 3,
        ..PartitionChange::new(id, 0)
    }));
    records.extend(config_records(CONFIG_RESOURCE_BROKER, "", &BTreeMap::new(), &configs));
    records.extend(config_records(CONFIG_RESOURCE_TOPIC, "invoice", &configs, &BTreeMap::new()));
    records.push(MetadataRecord::ProducerIds { broker_id: 1, broker_epoch: 3, next_producer_id: 1000 });
    records.push(MetadataRecord::BrokerRegistrationChange {
        broker_id: 1,
        broker_epoch: 3,
        fenced: 0,
        in_controlled_shutdown: 1,
    });
    records.push(MetadataRecord::FenceBroker { id: 1, epoch: 3 });
    records.push(MetadataRecord::RemoveTopic { topic_id: id });
    records.push(MetadataRecord::UnregisterBroker { broker_id: 1, broker_epoch: 3 });
    records.push(MetadataRecord::NoOp);
    let count = records.len();
    store.commit(&records, 0).unwrap();
    store.close(0).unwrap();

    let file = tmp.path().join("__cluster_metadata-0/00000000000000000000.log");
    let stdout = dump_cluster_metadata(&file);
    for name in [
        "FEATURE_LEVEL_RECORD",
        "REGISTER_BROKER_RECORD",
        "UNFENCE_BROKER_RECORD",
        "TOPIC_RECORD",
        "PARTITION_RECORD",
        "PARTITION_CHANGE_RECORD",
        "CONFIG_RECORD",
        "PRODUCER_IDS_RECORD",
        "BROKER_REGISTRATION_CHANGE_RECORD",
        "FENCE_BROKER_RECORD",
        "REMOVE_TOPIC_RECORD",
        "UNREGISTER_BROKER_RECORD",
        "NO_OP_RECORD",
    ] {
        assert!(stdout.contains(&format!("\"type\":\"{name}\"")), "{name} not decoded:\n{stdout}");
    }
    let decoded = stdout.lines().filter(|l| l.contains("payload: {\"type\":")).count();
    assert_eq!(decoded, count, "{stdout}");
    assert!(stdout.contains("\"name\":\"invoice\""), "{stdout}");
    let lower = stdout.to_lowercase();
    for bad in ["error", "exception", "mismatch", "isvalid: false"] {
        assert!(!lower.contains(bad), "DumpLogSegments reported {bad:?}:\n{stdout}");
    }
}

/// Kafka's DumpLogSegments reads a potok controller's metadata snapshot (`.checkpoint`) with its cluster
/// metadata decoder: the header and footer control records, and the image as Kafka's record types.
#[test]
#[ignore = "needs Apache Kafka's jars; run by scripts/test.sh"]
fn kafka_dump_log_segments_reads_potok_metadata_snapshots() {
    let entries = [("metadata.log.max.record.bytes.between.snapshots", "2048")];
    let cluster = potok::host::cluster::EmbeddedCluster::start(1, &entries).unwrap();
    let admin =
        potok::client::admin::Admin::new(&[("bootstrap.servers".to_string(), cluster.bootstrap_servers())]).unwrap();
    let topics: Vec<_> =
        (0..20).map(|i| potok::client::admin::NewTopic::new(format!("snapshotted-{i}"), 2, 1)).collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let created = admin.create_topics(&topics, false, None);
        if created.as_ref().is_ok_and(|r| r.iter().all(|(_, r)| r.is_ok())) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the cluster did not take the topics: {created:?}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let dir = cluster.log_dirs()[0].1.join("__cluster_metadata-0");
    let checkpoint = loop {
        let found = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "checkpoint"));
        if let Some(found) = found {
            break found;
        }
        let listing: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(std::time::Instant::now() < deadline, "no .checkpoint in {}: {listing:?}", dir.display());
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let copy = tempfile::tempdir().unwrap();
    let file = copy.path().join(checkpoint.file_name().unwrap());
    std::fs::copy(&checkpoint, &file).unwrap();
    cluster.stop().unwrap();
    let stdout = dump_cluster_metadata(&file);
    for expected in ["SnapshotHeader", "SnapshotFooter", "\"type\":\"TOPIC_RECORD\"", "\"type\":\"PARTITION_RECORD\""] {
        assert!(stdout.contains(expected), "{expected} not in:\n{stdout}");
    }
    assert!(stdout.contains("snapshotted-19"), "the topics are in the snapshot:\n{stdout}");
}

/// Kafka's DumpLogSegments with its cluster metadata decoder on `file`: its output, once it succeeded.
fn dump_cluster_metadata(file: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg("dump-log-segments")
        .arg(file)
        .env("KAFKA_DUMP_ARGS", "--cluster-metadata-decoder")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "DumpLogSegments failed:\n{stdout}\n{stderr}");
    stdout
}

/// Kafka's metadata shell (`kafka-metadata-shell.sh --snapshot`) replays a potok controller's metadata log into
/// Kafka's own MetadataImage: the brokers with their fencing, a topic's partitions with the leaders and ISRs
/// potok reports. (It showed every potok broker fenced while potok wrote an unfencing as Kafka's "no change".)
#[test]
#[ignore = "needs Apache Kafka's jars; run by scripts/test.sh"]
fn kafka_metadata_shell_reads_potok_metadata_log() {
    use std::time::{Duration, Instant};

    let entries = [("broker.session.timeout.ms", "3000"), ("broker.heartbeat.interval.ms", "500")];
    let mut cluster = potok::host::cluster::EmbeddedCluster::start(3, &entries).unwrap();
    let admin =
        potok::client::admin::Admin::new(&[("bootstrap.servers".to_string(), cluster.bootstrap_servers())]).unwrap();
    admin.create_topics(&[potok::client::admin::NewTopic::new("invoice", 3, 3)], false, None).unwrap()[0]
        .1
        .clone()
        .unwrap();
    cluster.stop_broker(3).unwrap();
    // Broker 3's controlled shutdown moved its leaderships and took it out of every ISR.
    let deadline = Instant::now() + Duration::from_secs(30);
    let partitions = loop {
        let described = admin.describe_topics(&["invoice".to_string()], Some(Duration::from_secs(2)));
        let partitions = described.ok().and_then(|mut d| d.remove(0).1.ok()).map(|t| t.partitions);
        if let Some(p) = partitions.filter(|p| p.iter().all(|p| p.leader > 0 && !p.isr.contains(&3))) {
            break p;
        }
        assert!(Instant::now() < deadline, "broker 3 still leads or is in an ISR");
        std::thread::sleep(Duration::from_millis(200));
    };
    // Nothing changes now (heartbeats write no records): the log copied is the image above.
    std::thread::sleep(Duration::from_millis(500));
    let log = cluster.log_dirs()[0].1.join("__cluster_metadata-0/00000000000000000000.log");
    let copy = tempfile::tempdir().unwrap();
    let file = copy.path().join("00000000000000000000.log");

    let shell = |path: &str| -> (String, String) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka.sh");
        let out = Command::new("bash")
            .arg(script)
            .args(["metadata-shell", "--snapshot"])
            .arg(&file)
            .args(["tree", path])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "the metadata shell failed:\n{stdout}\n{stderr}");
        (stdout, stderr)
    };
    // The shell prints nothing when it cannot load the file, as when the copy caught a batch being written (the
    // quorum still writes now and then): the log is copied again, up to three times.
    let tree = |path: &str, expect: &str| -> String {
        let mut last = (String::new(), String::new());
        for _ in 0..3 {
            std::fs::copy(&log, &file).unwrap();
            last = shell(path);
            if last.0.contains(expect) {
                return last.0;
            }
        }
        panic!("the metadata shell showed no {expect} under {path}:\n{}\n{}", last.0, last.1)
    };
    let brokers = tree("/image/cluster/brokers", "BrokerRegistration(");
    for id in 1..=3 {
        let line = brokers.lines().find(|l| l.contains(&format!("BrokerRegistration(id={id},"))).unwrap_or_else(|| {
            panic!("broker {id} missing:\n{brokers}");
        });
        assert!(line.contains(&format!("fenced={}", id == 3)), "broker {id}: {line}");
        assert!(line.contains(&format!("inControlledShutdown={}", id == 3)), "broker {id}: {line}");
    }
    let topic = tree("/image/topics/byName/invoice", "PartitionRegistration(");
    let registrations: Vec<&str> = topic.lines().filter(|l| l.contains("PartitionRegistration(")).collect();
    assert_eq!(registrations.len(), 3, "{topic}");
    let field = |line: &str, name: &str| -> String {
        let start = line.find(&format!(" {name}=")).unwrap_or_else(|| panic!("no {name} in {line}")) + name.len() + 2;
        let rest = &line[start..];
        let end = if rest.starts_with('[') { rest.find(']').unwrap() + 1 } else { rest.find([',', ')']).unwrap() };
        rest[..end].to_string()
    };
    for p in &partitions {
        // The shell prints partitions by index as a tree: "  0:" then the registration on the next line.
        let at = topic.lines().position(|l| l.trim() == format!("{}:", p.partition)).unwrap();
        let line = topic.lines().nth(at + 1).unwrap();
        assert_eq!(field(line, "leader"), p.leader.to_string(), "partition {}: {line}", p.partition);
        let mut isr: Vec<i32> =
            field(line, "isr").trim_matches(['[', ']']).split(", ").map(|r| r.parse().unwrap()).collect();
        isr.sort();
        let mut expected = p.isr.clone();
        expected.sort();
        assert_eq!(isr, expected, "partition {}: {line}", p.partition);
    }
    cluster.stop().unwrap();
}

/// A dynamic controller quorum (KIP-853) formatted by Kafka's own `kafka-storage format --initial-controllers`
/// runs on potok: each node's directory holds Kafka's bootstrap checkpoint (KRaftVersion and KRaftVoters control
/// records), potok's controllers form the quorum from it, and Kafka's `kafka-metadata-quorum` lists its voters.
#[test]
#[ignore = "needs Apache Kafka's jars; run by scripts/test.sh"]
fn a_dynamic_quorum_formatted_by_kafkas_storage_tool_runs_on_potok() {
    use std::time::{Duration, Instant};

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka.sh");
    let kafka = |args: &[&str]| -> String {
        let out = Command::new("bash").arg(&script).arg("java").args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        stdout
    };
    let held: Vec<std::net::TcpListener> =
        (0..6).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    let ports: Vec<u16> = held.iter().map(|l| l.local_addr().unwrap().port()).collect();
    drop(held);
    let tmp = tempfile::tempdir().unwrap();
    let bootstrap: Vec<String> = ports[3..].iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let directory_ids = ["AAAAAAAAAAAAAAAAAAAAAQ", "AAAAAAAAAAAAAAAAAAAAAg", "AAAAAAAAAAAAAAAAAAAAAw"];
    let initial: Vec<String> =
        (0..3).map(|i| format!("{}@127.0.0.1:{}:{}", i + 1, ports[3 + i], directory_ids[i])).collect();
    let mut configs = Vec::new();
    for i in 0..3 {
        let properties = format!(
            "process.roles=broker,controller\nnode.id={}\ncontroller.quorum.bootstrap.servers={}\n\
             listeners=PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}\ncontroller.listener.names=CONTROLLER\n\
             inter.broker.listener.name=PLAINTEXT\nlistener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n\
             log.dirs={}\ndefault.replication.factor=3\n",
            i + 1,
            bootstrap.join(","),
            ports[i],
            ports[3 + i],
            tmp.path().join(format!("logs-{}", i + 1)).display()
        );
        let file = tmp.path().join(format!("server-{}.properties", i + 1));
        std::fs::write(&file, &properties).unwrap();
        configs.push(potok::broker::BrokerConfig::from_properties(&properties).unwrap());
        if i < 2 {
            continue;
        }
        // Node 3 by Kafka's tool; nodes 1 and 2 as `potok storage format --initial-controllers` writes them.
        let file = file.to_string_lossy().into_owned();
        let initial = initial.join(",");
        let cluster_id = "MkU3OEVBNTcwNTJENDM2Qk";
        kafka(&["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", &file, "--initial-controllers", &initial]);
    }
    let voters = potok::controller::read_bootstrap_voters(&tmp.path().join("logs-3")).unwrap().unwrap();
    let read: Vec<(i32, String, u16)> =
        voters.iter().map(|v| (v.id, potok::controller::uuid_to_base64(&v.directory_id), v.port)).collect();
    let expected: Vec<(i32, String, u16)> =
        (0..3).map(|i| (i as i32 + 1, directory_ids[i].to_string(), ports[3 + i])).collect();
    assert_eq!(read, expected, "the voters of Kafka's bootstrap checkpoint");
    for (i, directory_id) in directory_ids.iter().enumerate().take(2) {
        let dir = tmp.path().join(format!("logs-{}", i + 1));
        potok::controller::write_bootstrap_voters(&dir, &voters, 0).unwrap();
        let meta =
            format!("cluster.id=MkU3OEVBNTcwNTJENDM2Qk\ndirectory.id={directory_id}\nnode.id={}\nversion=1\n", i + 1);
        std::fs::write(dir.join("meta.properties"), meta).unwrap();
    }
    // Kafka reads potok's bootstrap checkpoint as its own.
    let dump = dump_cluster_metadata(
        &tmp.path().join("logs-1/__cluster_metadata-0/00000000000000000000-0000000000.checkpoint"),
    );
    assert!(dump.contains("KRaftVersion {\"version\":0,\"kRaftVersion\":1}"), "{dump}");
    for (i, id) in directory_ids.iter().enumerate() {
        let voter = format!("{{\"voterId\":{},\"voterDirectoryId\":\"{id}\"", i + 1);
        assert!(dump.contains(&voter), "{voter} not in:\n{dump}");
    }

    let handles: Vec<_> =
        configs.into_iter().map(|c| std::thread::spawn(move || potok::net::RunningBroker::start(c).unwrap())).collect();
    let nodes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let admin =
        potok::client::admin::Admin::new(&[("bootstrap.servers".to_string(), format!("127.0.0.1:{}", ports[0]))])
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let created = admin.create_topics(&[potok::client::admin::NewTopic::new("dynamic", 3, 3)], false, None);
        if created.as_ref().is_ok_and(|r| r[0].1.is_ok()) {
            break;
        }
        assert!(Instant::now() < deadline, "the dynamic quorum took no topic: {created:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let status = kafka(&[
        "org.apache.kafka.tools.MetadataQuorumCommand",
        "--bootstrap-controller",
        &bootstrap[1],
        "describe",
        "--status",
    ]);
    for (i, port) in ports[3..].iter().enumerate() {
        let voter = format!("{{\"id\": {}, \"endpoints\": [\"CONTROLLER://127.0.0.1:{port}\"]}}", i + 1);
        assert!(status.contains(&voter), "{voter} not in:\n{status}");
    }
    for node in nodes {
        node.stop().unwrap();
    }
}
