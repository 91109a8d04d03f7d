//! Fuzz targets for potok, and the seeds and mutator of their short run.
//!
//! Each target takes arbitrary bytes and must neither panic, hang nor allocate without bound; everything it
//! calls is the code a broker runs on untrusted input:
//! - [`request`]: request frames (size-prefixed, up to eight in a row) through framing, decoding, a broker's
//!   handlers (over the in-memory backend, on a fresh broker with a few topics) and response encoding;
//! - [`record_batch`]: record batch framing, validation and decoding (with decompression);
//! - [`decompress`]: the four codecs, bounded;
//! - [`storage_recovery`]: a damaged segment and index opened by a log, recovered, read, appended to, closed
//!   and opened again.
//!
//! Seeds are request frames captured from real clients (`fuzz/seeds/request/`, by `fuzz/capture-seeds.sh`)
//! and the record batches real clients wrote (`core/tests/golden/`). The short run
//! (`cargo test -p potok-fuzz`, part of `scripts/test.sh`) mutates them with [`mutate`]; the long run
//! (`scripts/fuzz.sh`) gives the same targets to libFuzzer with coverage feedback.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{ApiKey, CreateTopicsRequest, RequestHeader, RequestKind, TopicName};
use kafka_protocol::protocol::StrBytes;
use potok::broker::{Broker, BrokerConfig, Listener, Outcome, RequestContext};
use potok::protocol::{self, Request};
use potok::record::{self, compression, BatchBuilder, Batches, Compression, DecodeLimits};
use potok::storage::{Backend, Log, LogConfig, MemoryBackend, OpenOptions};

/// A fixed clock: handlers take the time as an argument, and a reproducible run needs the same one.
const NOW_MS: i64 = 1_700_000_000_000;
/// Frames handled per input, so one input cannot run for long.
const MAX_FRAMES: usize = 8;
/// The largest frame the fuzzed broker accepts (its `socket.request.max.bytes`).
const MAX_FRAME_BYTES: usize = 1 << 20;
/// Topics the captured frames name, created on each fresh broker so their requests reach the partitions.
const TOPICS: &[&str] = &["seeds", "seeds-gzip", "ck", "kp", "java", "pt", "t"];

/// One fuzz target: its name, entry point and seeds.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
    pub seeds: fn() -> Vec<Vec<u8>>,
}

pub const TARGETS: &[Target] = &[
    Target { name: "request", run: request, seeds: request_seeds },
    Target { name: "record_batch", run: record_batch, seeds: batch_seeds },
    Target { name: "decompress", run: decompress, seeds: decompress_seeds },
    Target { name: "storage_recovery", run: storage_recovery, seeds: storage_seeds },
];

fn broker() -> Option<Broker> {
    let mut config = BrokerConfig::default();
    for (k, v) in [
        ("socket.request.max.bytes", "1048576"),
        // Small indexes and segments keep a fresh broker cheap and reach segment rolls with little data.
        ("log.index.size.max.bytes", "4096"),
        ("log.segment.bytes", "65536"),
        ("offsets.topic.num.partitions", "2"),
        ("transaction.state.log.num.partitions", "2"),
    ] {
        config.set(k, v).ok()?;
    }
    let advertised = Listener { name: "PLAINTEXT".into(), host: "127.0.0.1".into(), port: 9092 };
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let broker = Broker::open(config, backend, Path::new("/fuzz"), advertised, 1, NOW_MS).ok()?;
    let topics = TOPICS
        .iter()
        .map(|t| {
            CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_static_str(t)))
                .with_num_partitions(2)
                .with_replication_factor(1)
        })
        .collect();
    let header = RequestHeader::default().with_request_api_key(ApiKey::CreateTopics as i16).with_request_api_version(7);
    let body = RequestKind::CreateTopics(CreateTopicsRequest::default().with_topics(topics));
    let request = Request { api_key: ApiKey::CreateTopics, header, body };
    broker.handle(request, &RequestContext::default(), NOW_MS);
    Some(broker)
}

/// Request frames, as a client sends them, through a fresh broker.
pub fn request(data: &[u8]) {
    let Some(broker) = broker() else { return };
    let mut rest = data;
    for n in 0..MAX_FRAMES {
        let Ok(Some(size)) = protocol::check_frame(rest, MAX_FRAME_BYTES) else { break };
        let frame = Bytes::copy_from_slice(&rest[4..4 + size]);
        rest = &rest[4 + size..];
        let Ok(request) = protocol::decode_request(frame) else { continue };
        let (api_key, version, correlation_id) =
            (request.api_key, request.header.request_api_version, request.header.correlation_id);
        let ctx = RequestContext {
            token: n as u64 + 1,
            client_id: "fuzz".into(),
            client_host: "/127.0.0.1".into(),
            controller_listener: false,
        };
        if let Outcome::Respond(body) = broker.handle(request, &ctx, NOW_MS + n as i64) {
            let _ = protocol::encode_response(api_key, version, correlation_id, &body);
        }
        // Time passes: parked requests expire, groups and transactions time out.
        broker.poll(NOW_MS + 60_000 * (n as i64 + 1));
        for (_, body) in broker.take_completions() {
            let _ = protocol::encode_response(api_key, version, correlation_id, &body);
        }
    }
    let _ = broker.tick(NOW_MS + 600_000, true, true);
    let _ = broker.shutdown(NOW_MS + 120_000);
}

/// Record batches: framing, validation, decoding (decompressing), control markers.
pub fn record_batch(data: &[u8]) {
    let limits = DecodeLimits { max_decompressed_bytes: 1 << 20 };
    for batch in Batches::new(data) {
        let Ok(batch) = batch else { break };
        if let Ok(header) = record::validate_batch(batch) {
            let _ = header.compression();
            let _ = record::validate_records(
                &header,
                batch,
                limits,
                record::RecordRules { require_keys: true, timestamps: Some((0, i64::MAX)) },
            );
            if let Ok((_, records)) = record::decode_records(batch, limits) {
                assert!(records.len() <= header.records_count.max(0) as usize);
            }
            if header.is_control() {
                let _ = record::end_txn_marker(batch);
            }
        }
    }
}

/// A codec chosen by the first byte, the rest as its input; at most 1 MiB out.
pub fn decompress(data: &[u8]) {
    let Some((&codec, input)) = data.split_first() else { return };
    let Ok(codec) = Compression::from_id(i16::from(codec % 5)) else { return };
    if let Ok(out) = compression::decompress(codec, input, 1 << 20) {
        assert!(out.len() <= 1 << 20);
    }
}

/// A segment (and its offset index) from the input: the first two bytes give the `.log` part's length, the
/// rest after it is the `.index`; bit 0 of the third byte says whether the last shutdown was clean.
pub fn storage_recovery(data: &[u8]) {
    let (Some(&[a, b]), rest) = (data.get(..2).map(|s| [s[0], s[1]]).as_ref(), data.get(2..).unwrap_or_default())
    else {
        return;
    };
    let log_len = (usize::from(u16::from_be_bytes([a, b])) * 8).min(rest.len());
    let (log_bytes, index_bytes) = rest.split_at(log_len);
    let clean = index_bytes.first().is_some_and(|b| b & 1 == 1);
    let memory = MemoryBackend::new();
    let backend: Arc<dyn Backend> = Arc::new(memory.clone());
    let dir = PathBuf::from("/d/t-0");
    if write(&memory, &dir, "00000000000000000000.log", log_bytes).is_none()
        || write(&memory, &dir, "00000000000000000000.index", index_bytes).is_none()
    {
        return;
    }
    let config = LogConfig { segment_index_bytes: 4096, segment_bytes: 1 << 20, ..LogConfig::default() };
    let options = OpenOptions { had_clean_shutdown: clean, ..OpenOptions::default() };
    let Ok(mut log) = Log::open(backend.clone(), &dir, config.clone(), options, NOW_MS) else { return };
    let end = log.log_end_offset();
    assert!(log.log_start_offset() <= end);
    let mut offset = log.log_start_offset();
    while offset < end {
        let Ok(read) = log.read(offset, 1 << 16, i64::MAX, true) else { break };
        let Some(Ok(first)) = Batches::new(&read.records).next() else { break };
        let Ok(header) = record::BatchHeader::parse(first) else { break };
        if header.next_offset() <= offset {
            break;
        }
        offset = header.next_offset();
    }
    let _ = log.offset_for_timestamp(0);
    let mut batch = BatchBuilder::new(Compression::None);
    batch.append(NOW_MS, Some(b"k"), Some(b"v"), &[]);
    if let Ok(bytes) = batch.build() {
        if let Ok(info) = log.append(&bytes, 0, potok::storage::AppendOrigin::Client, NOW_MS) {
            assert_eq!(info.first_offset, end);
        }
    }
    let after = log.log_end_offset();
    if log.close(NOW_MS).is_ok() {
        // As the log manager reopens a cleanly closed log. (Not a full recovery: behind a clean-shutdown marker
        // batches are trusted without their CRC, as Kafka trusts them, so a damaged CRC there is only found by
        // a recovery after a crash.)
        let options = OpenOptions { had_clean_shutdown: true, recovery_point: after, ..OpenOptions::default() };
        let reopened = Log::open(backend, &dir, config, options, NOW_MS);
        if let Ok(log) = reopened {
            assert_eq!(log.log_end_offset(), after, "a closed log reopened at another end");
        }
    }
}

fn write(memory: &MemoryBackend, dir: &Path, name: &str, bytes: &[u8]) -> Option<()> {
    memory.create_dir_all(dir).ok()?;
    let mut file = memory.open(&dir.join(name), true).ok()?;
    file.append(bytes).ok()
}

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

fn read_dir_files(dir: &Path, suffix: &str) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    paths.retain(|p| p.to_string_lossy().ends_with(suffix));
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// Request frames captured from real clients, alone and in pairs (a CreateTopics or Produce then a Fetch, say).
pub fn request_seeds() -> Vec<Vec<u8>> {
    let frames = read_dir_files(&repo_path("fuzz/seeds/request"), ".bin");
    let mut seeds = frames.clone();
    for pair in frames.windows(2) {
        seeds.push([pair[0].as_slice(), pair[1].as_slice()].concat());
    }
    seeds
}

/// The segments real clients' batches were stored in (each a run of batches).
pub fn batch_seeds() -> Vec<Vec<u8>> {
    read_dir_files(&repo_path("core/tests/golden"), ".log")
}

/// The compressed record sections of the real clients' batches, with their codec byte in front.
pub fn decompress_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for segment in batch_seeds() {
        for batch in Batches::new(&segment).flatten() {
            let Ok(header) = record::BatchHeader::parse(batch) else { continue };
            let Ok(codec) = header.compression() else { continue };
            if let Some(records) = batch.get(record::RECORD_BATCH_OVERHEAD..) {
                seeds.push([&[codec.id() as u8][..], records].concat());
            }
        }
    }
    seeds
}

/// Segments as the storage target takes them: length prefix, log bytes, then an index (none, or a damaged one).
pub fn storage_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for segment in batch_seeds() {
        let len = segment.len().div_ceil(8).min(usize::from(u16::MAX));
        let mut padded = segment.clone();
        padded.resize(len * 8, 0);
        let mut seed = (len as u16).to_be_bytes().to_vec();
        seed.extend_from_slice(&padded);
        seeds.push(seed.clone());
        // The same with a clean-shutdown flag and a few index entries (relative offset, position).
        seed.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0x80]);
        seeds.push(seed);
    }
    seeds
}

/// A small deterministic generator (xorshift64*), so a short run is the same every time.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// Values at the edges of Kafka's integer fields: counts and lengths that lie, sign boundaries, nulls.
const INTERESTING: &[i64] = &[0, 1, -1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fff_ffff, -0x8000_0000, 10_001];

/// One to four mutations of `input`: bit flips, interesting integers written over 1, 2 or 4 bytes, chunks
/// removed, duplicated or spliced in from `other`, truncation. With `fix_frame_sizes`, each leading size prefix
/// is then recomputed half the time, so decoding gets past the framing.
pub fn mutate(rng: &mut Rng, input: &[u8], other: &[u8], fix_frame_sizes: bool) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let width = [1, 2, 4][rng.below(3)];
                let value = INTERESTING[rng.below(INTERESTING.len())];
                let at = rng.below(len);
                let bytes = value.to_be_bytes();
                for (k, b) in bytes[8 - width..].iter().enumerate() {
                    if let Some(slot) = out.get_mut(at + k) {
                        *slot = *b;
                    }
                }
            }
            2 if len > 1 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(16)).min(len);
                out.drain(start..end);
            }
            3 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(32)).min(len);
                let chunk = out[start..end].to_vec();
                let at = rng.below(len);
                out.splice(at..at, chunk);
            }
            4 if !other.is_empty() => {
                let start = rng.below(other.len());
                let end = (start + 1 + rng.below(64)).min(other.len());
                let at = rng.below(len + 1);
                out.splice(at..at, other[start..end].iter().copied());
            }
            5 if len > 4 => out.truncate(4 + rng.below(len - 4)),
            _ => {
                let at = rng.below(len + 1);
                out.insert(at, rng.next_u64() as u8);
            }
        }
    }
    if fix_frame_sizes && rng.below(2) == 0 {
        fix_sizes(&mut out);
    }
    out
}

/// Rewrites the size prefix of each frame in a run of frames so that it matches what follows (the last frame
/// takes the rest).
fn fix_sizes(buf: &mut [u8]) {
    let mut at = 0;
    while at + 4 <= buf.len() {
        let declared = i32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
        let rest = buf.len() - at - 4;
        let size = if declared >= 0 && (declared as usize) <= rest { declared as usize } else { rest };
        buf[at..at + 4].copy_from_slice(&(size as i32).to_be_bytes());
        at += 4 + size;
    }
}
