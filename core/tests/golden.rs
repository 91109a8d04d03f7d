//! Golden batches written by real clients (librdkafka 2.16 via confluent-kafka, Kafka's Java client 4.1.1)
//! and stored by a real Apache Kafka 4.1.1 broker: potok's codec must read every one of them, write batches
//! those clients read, and store them byte for byte. See tests/golden/README.md for how they were made.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use potok::record::{self, BatchBuilder, Batches, Compression, ControlType, DecodeLimits, Header, Record};
use potok::storage::{AppendOrigin, Log, LogConfig, MemoryBackend, OpenOptions};
use serde_json::Value;

const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
const CLIENTS: [&str; 2] = ["librdkafka", "java"];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(golden_dir().join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("valid json")
}

fn b64(v: &Value) -> Option<Vec<u8>> {
    v.as_str().map(|s| base64::engine::general_purpose::STANDARD.decode(s).expect("base64"))
}

/// An expected record as (timestamp, key, value, headers).
type Expected = (i64, Option<Vec<u8>>, Option<Vec<u8>>, Vec<Header>);

fn expected_records(list: &Value) -> Vec<Expected> {
    list.as_array()
        .expect("records")
        .iter()
        .map(|r| {
            let headers = r["headers"]
                .as_array()
                .expect("headers")
                .iter()
                .map(|h| Header {
                    key: h["key"].as_str().expect("key").to_string(),
                    value: b64(&h["value"]).map(bytes::Bytes::from),
                })
                .collect();
            (r["timestamp"].as_i64().expect("timestamp"), b64(&r["key"]), b64(&r["value"]), headers)
        })
        .collect()
}

fn decode_file(name: &str) -> (Vec<u8>, Vec<(record::BatchHeader, Vec<Record>)>) {
    let bytes = std::fs::read(golden_dir().join(name)).expect("golden file");
    let batches = Batches::new(&bytes)
        .map(|b| record::decode_records(b.expect("framing"), DecodeLimits::default()).expect("decode"))
        .collect();
    (bytes, batches)
}

#[test]
fn every_client_batch_decodes_to_the_expected_records() {
    let expected = expected();
    let want = expected_records(&expected["records"]);
    for client in CLIENTS {
        for codec in CODECS {
            let name = format!("{client}-{codec}.log");
            let (_, batches) = decode_file(&name);
            let described = expected["files"][&name]["batches"].as_array().expect("batches");
            assert_eq!(batches.len(), described.len(), "{name}");
            for ((h, _), d) in batches.iter().zip(described) {
                assert_eq!(h.compression().unwrap().name(), d["compression"].as_str().unwrap(), "{name}");
                assert_eq!(h.base_offset, d["base_offset"].as_i64().unwrap(), "{name}");
                assert_eq!(h.producer_id, d["producer_id"].as_i64().unwrap(), "{name}");
                assert_eq!(i64::from(h.base_sequence), d["base_sequence"].as_i64().unwrap(), "{name}");
                assert_eq!(h.max_timestamp, d["max_timestamp"].as_i64().unwrap(), "{name}");
            }
            let records: Vec<&Record> = batches.iter().flat_map(|(_, r)| r).collect();
            assert_eq!(records.len(), want.len(), "{name}");
            for (i, (r, (ts, key, value, headers))) in records.iter().zip(&want).enumerate() {
                assert_eq!(r.offset, i as i64, "{name} record {i}");
                assert_eq!(r.timestamp, *ts, "{name} record {i}");
                assert_eq!(r.key.as_deref(), key.as_deref(), "{name} record {i}");
                assert_eq!(r.value.as_deref(), value.as_deref(), "{name} record {i}");
                assert_eq!(&r.headers, headers, "{name} record {i}");
            }
        }
    }
}

#[test]
fn transactional_batches_and_markers_decode() {
    let expected = expected();
    let want = expected_records(&expected["txn"]["records"]);
    let (_, batches) = decode_file("java-txn.log");
    let kinds: Vec<(bool, bool)> = batches.iter().map(|(h, _)| (h.is_transactional(), h.is_control())).collect();
    assert_eq!(kinds, vec![(true, false), (true, true), (true, false), (true, true)]);
    let marker = |i: usize| ControlType::from_key(batches[i].1[0].key.as_ref().unwrap()).unwrap();
    assert_eq!(marker(1), ControlType::Commit);
    assert_eq!(marker(3), ControlType::Abort);
    let data: Vec<&Record> = [0, 2].iter().flat_map(|&i| &batches[i].1).collect();
    let offsets: Vec<i64> = data.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, vec![0, 1, 2, 4, 5]);
    for (r, (_, key, value, _)) in data.iter().zip(&want) {
        assert_eq!((r.key.as_deref(), r.value.as_deref()), (key.as_deref(), value.as_deref()));
    }
}

/// What potok writes for the same records must be what the clients wrote, uncompressed; compressed, the
/// framing must match what each codec's Kafka readers expect (checked byte for byte where the format fixes it).
#[test]
fn potok_encodes_batches_like_the_clients() {
    let expected = expected();
    let want = expected_records(&expected["records"]);
    let first = expected["first_batch_records"].as_u64().unwrap() as usize;
    for codec in CODECS {
        let compression = Compression::from_name(codec).unwrap();
        let mut ours = Vec::new();
        for (base, chunk) in [(0, &want[..first]), (first, &want[first..])] {
            let mut b = BatchBuilder::new(compression).base_offset(base as i64);
            for (ts, key, value, headers) in chunk {
                b.append(*ts, key.as_deref(), value.as_deref(), headers);
            }
            ours.extend_from_slice(&b.build().unwrap());
        }
        // Our batches decode to the same records as the clients' batches.
        let (theirs, their_batches) = decode_file(&format!("librdkafka-{codec}.log"));
        let ours_decoded: Vec<Vec<Record>> = Batches::new(&ours)
            .map(|b| record::decode_records(b.unwrap(), DecodeLimits::default()).unwrap().1)
            .collect();
        let theirs_decoded: Vec<Vec<Record>> = their_batches.into_iter().map(|(_, r)| r).collect();
        assert_eq!(ours_decoded, theirs_decoded, "{codec}");
        let (our_batches, their_raw): (Vec<&[u8]>, Vec<&[u8]>) =
            (Batches::new(&ours).map(|b| b.unwrap()).collect(), Batches::new(&theirs).map(|b| b.unwrap()).collect());
        for (o, t) in our_batches.iter().zip(&their_raw) {
            let (o_body, t_body) = (&o[61..], &t[61..]);
            match compression {
                // Uncompressed records are fixed by the format: identical bytes.
                Compression::None => assert_eq!(o_body, t_body),
                // Same LZ4 frame header as both clients: magic, FLG 0x60, BD 0x40, header checksum.
                Compression::Lz4 => assert_eq!(&o_body[..7], &t_body[..7]),
                // xerial framing like the Java client (librdkafka writes raw snappy; both decode).
                Compression::Snappy => {
                    let java = std::fs::read(golden_dir().join("java-snappy.log")).unwrap();
                    assert_eq!(&o_body[..16], &java[61..77]);
                }
                Compression::Gzip => assert_eq!(&o_body[..3], &[0x1f, 0x8b, 0x08]),
                Compression::Zstd => assert_eq!(&o_body[..4], &[0x28, 0xb5, 0x2f, 0xfd]),
            }
        }
    }
}

/// A log stores client batches byte for byte: only base offset and partition leader epoch change.
#[test]
fn client_batches_are_stored_as_received() {
    for client in CLIENTS {
        for codec in CODECS {
            let name = format!("{client}-{codec}.log");
            let original = std::fs::read(golden_dir().join(&name)).unwrap();
            let mut log = Log::open(
                Arc::new(MemoryBackend::new()),
                Path::new("/logs/golden-0"),
                LogConfig::default(),
                OpenOptions::default(),
                0,
            )
            .unwrap();
            // Offset the log first, so the rewrite of base offsets is visible. The broker's time is the golden
            // records' (late 2023), which CreateTime timestamps are checked against.
            let now = 1_700_000_000_000;
            let mut filler = BatchBuilder::new(Compression::None);
            filler.append(0, None, Some(b"x"), &[]);
            log.append(&filler.build().unwrap(), 5, AppendOrigin::Client, now).unwrap();
            let produced = original.clone();
            let info = log.append(&produced, 5, AppendOrigin::Client, now).unwrap();
            assert_eq!((info.first_offset, info.last_offset), (1, 20), "{name}");
            let stored = log.read(1, 1 << 20, i64::MAX, false).unwrap().records;
            assert_eq!(stored.len(), original.len(), "{name}");
            for (s, o) in Batches::new(&stored).zip(Batches::new(&original)) {
                let (s, o) = (s.unwrap(), o.unwrap());
                assert_eq!(&s[16..], &o[16..], "{name}: everything after offset and epoch is kept");
                let h = record::validate_batch(s).unwrap();
                assert_eq!(h.base_offset, record::BatchHeader::parse(o).unwrap().base_offset + 1);
                assert_eq!(h.partition_leader_epoch, 5);
            }
        }
    }
}
