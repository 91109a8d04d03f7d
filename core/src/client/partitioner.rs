//! Partitioners: which partition of a topic a produced record goes to.
//!
//! [`murmur2`] and [`partition_for_key`] hash a serialized key exactly as the Java client's `Utils.murmur2` and
//! `BuiltInPartitioner.partitionForKey` do, so a key lands on the same partition whichever client wrote it.
//! [`DefaultPartitioner`] is Kafka's built-in partitioner since 3.3 (KIP-794): keyed records are hashed over
//! all partitions, keyless records stick to one partition until `batch.size` bytes were appended to it, then a
//! new sticky partition is drawn among the available ones (weighted by queue sizes when the accumulator reports
//! them, uniformly otherwise). [`RoundRobinPartitioner`] is Kafka's `RoundRobinPartitioner`.
//!
//! Everything is synchronous and IO-free; the partitioners keep their per-topic state behind a mutex so one
//! producer can share them across threads (`Send + Sync`), and they draw randomness from a seeded xorshift
//! generator instead of a global source so tests are deterministic.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// The seed of Kafka's murmur2 (`Utils.murmur2`).
pub const MURMUR2_SEED: u32 = 0x9747_b28c;
/// `batch.size`'s default in the Java producer.
pub const DEFAULT_BATCH_SIZE: usize = 16_384;

/// Why a partition could not be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PartitionerError {
    #[error("topic {topic} has no partitions")]
    NoPartitions { topic: String },
    #[error("invalid partition count {count}: it must be positive")]
    InvalidPartitionCount { count: i32 },
}

/// Kafka's 32-bit murmur2 hash of `data`, bit for bit as the Java client's `Utils.murmur2` computes it.
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Java takes the length as an int; arrays longer than 2^31 bytes cannot exist there, so truncating the length
    // to 32 bits gives the same result for every input Java can hash.
    let length = data.len() as u32;
    let mut h = MURMUR2_SEED ^ length;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() == 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `Utils.toPositive`: clears the sign bit (not `abs`, which overflows on `i32::MIN`).
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition a serialized key maps to among `num_partitions`, as `BuiltInPartitioner.partitionForKey`.
pub fn partition_for_key(key: &[u8], num_partitions: i32) -> Result<i32, PartitionerError> {
    if num_partitions <= 0 {
        return Err(PartitionerError::InvalidPartitionCount { count: num_partitions });
    }
    Ok(to_positive(murmur2(key)) % num_partitions)
}

/// What a partitioner knows of a topic from cluster metadata.
#[derive(Debug, Clone, Copy)]
pub struct TopicPartitions<'a> {
    /// All partitions of the topic, led or not (Kafka's `partitionsForTopic(topic).size()`).
    pub partition_count: i32,
    /// Partitions that currently have a leader, in the order metadata lists them (Kafka's
    /// `availablePartitionsForTopic`).
    pub available: &'a [i32],
}

/// One append the record accumulator reports back to the partitioner that placed the record.
#[derive(Debug, Clone, Copy)]
pub struct Appended<'a> {
    pub topic: &'a str,
    pub partition: i32,
    /// Whether the record had a serialized key (a keyed record is hashed and does not feed the sticky counter).
    pub key_present: bool,
    /// Bytes the append added to the partition's batch.
    pub appended_bytes: usize,
    /// True when every batch in the partition's queue is full after the append (Kafka's `allBatchesFull`: the
    /// last batch is full or more than one batch is queued). The sticky partition only switches on a full batch,
    /// or once twice `batch.size` bytes went in regardless.
    pub all_batches_full: bool,
}

/// Chooses a partition for a record that names none. Implement it to plug a custom partitioner into potok's
/// producer (Kafka's `partitioner.class`).
pub trait Partitioner: Send + Sync + std::fmt::Debug {
    /// The partition for a record of `topic` with the serialized `key` and `value` (`None` for a null key or
    /// value). The result must lie in `0..cluster.partition_count`.
    fn partition(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        cluster: &TopicPartitions<'_>,
    ) -> Result<i32, PartitionerError>;

    /// Called by the accumulator after it appended a record this partitioner placed. Stateless partitioners
    /// ignore it; the sticky partitioner counts the bytes to know when to move on.
    fn on_append(&self, _appended: &Appended<'_>) {}
}

/// A small seedable xorshift64* generator: enough to spread sticky partitions, with no global state.
#[derive(Debug, Clone)]
pub struct XorShift64 {
    state: u64,
}

impl XorShift64 {
    pub fn new(seed: u64) -> Self {
        // The all-zero state is a fixed point of xorshift; any other seed gives the full period.
        XorShift64 { state: if seed == 0 { 0x9e37_79b9_7f4a_7c15 } else { seed } }
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A random int as Java's `nextInt` gives one; the high bits are the well-mixed ones.
    pub fn next_i32(&mut self) -> i32 {
        (self.next_u64() >> 32) as i32
    }
}

/// Settings of the built-in partitioner, under the Java producer's config names.
#[derive(Debug, Clone)]
pub struct DefaultPartitionerConfig {
    /// `batch.size`: bytes appended to a sticky partition before a new one is drawn (at least 1).
    pub batch_size: usize,
    /// `partitioner.ignore.keys`: place keyed records like keyless ones instead of hashing the key.
    pub ignore_keys: bool,
    /// Seed of the generator that draws sticky partitions.
    pub seed: u64,
}

impl Default for DefaultPartitionerConfig {
    fn default() -> Self {
        DefaultPartitionerConfig { batch_size: DEFAULT_BATCH_SIZE, ignore_keys: false, seed: 0x0070_6f74_6f6b }
    }
}

#[derive(Debug, Clone, Copy)]
struct StickyPartition {
    partition: i32,
    produced_bytes: usize,
}

/// Kafka's `PartitionLoadStats`: a cumulative frequency table over the partitions with leaders, weighted so a
/// partition with a shorter queue is drawn more often.
#[derive(Debug, Clone)]
struct LoadStats {
    cumulative_frequency: Vec<i64>,
    partition_ids: Vec<i32>,
}

#[derive(Debug, Default)]
struct TopicState {
    sticky: Option<StickyPartition>,
    load_stats: Option<LoadStats>,
}

#[derive(Debug)]
struct DefaultState {
    rng: XorShift64,
    topics: HashMap<String, TopicState>,
}

/// Kafka's built-in partitioner (KIP-794, Kafka 3.3+): murmur2 for keys, a sticky partition for keyless records.
#[derive(Debug)]
pub struct DefaultPartitioner {
    sticky_batch_size: usize,
    ignore_keys: bool,
    state: Mutex<DefaultState>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The state stays consistent at every await-free step, so a panic elsewhere while holding the lock leaves
    // nothing half-updated worth refusing over.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl DefaultPartitioner {
    pub fn new(config: DefaultPartitionerConfig) -> Self {
        DefaultPartitioner {
            // KafkaProducer passes max(1, batch.size): with batch.size=0 every append switches partition.
            sticky_batch_size: config.batch_size.max(1),
            ignore_keys: config.ignore_keys,
            state: Mutex::new(DefaultState { rng: XorShift64::new(config.seed), topics: HashMap::new() }),
        }
    }

    /// Whether a record with this key is hashed (true) or placed on the sticky partition (false).
    pub fn uses_key(&self, key: Option<&[u8]>) -> bool {
        key.is_some() && !self.ignore_keys
    }

    /// The sticky partition currently chosen for `topic`, if any.
    pub fn current_sticky_partition(&self, topic: &str) -> Option<i32> {
        lock(&self.state).topics.get(topic).and_then(|t| t.sticky.map(|s| s.partition))
    }

    /// Drops everything remembered about `topic` (the producer forgets a topic it no longer produces to).
    pub fn forget_topic(&self, topic: &str) {
        lock(&self.state).topics.remove(topic);
    }

    /// Kafka's `updatePartitionLoadStats` for adaptive partitioning (`partitioner.adaptive.partitioning.enable`):
    /// `queue_sizes[i]` batches are queued for `partition_ids[i]`, over the partitions that have a leader; only
    /// the first `length` entries take part (the accumulator drops partitions whose leader is too slow). Passing
    /// `None` switches back to uniform draws.
    pub fn update_partition_load_stats(&self, topic: &str, stats: Option<(&[i32], &[i32], usize)>) {
        let load_stats = stats.and_then(|(queue_sizes, partition_ids, length)| {
            let length = length.min(queue_sizes.len()).min(partition_ids.len());
            // Like Kafka: fewer than two partitions, or all queues equal over all partitions, is no better than
            // a uniform draw.
            if length < 1 || queue_sizes.len() < 2 {
                return None;
            }
            let first = i64::from(queue_sizes[0]);
            let all_equal = queue_sizes[..length].iter().all(|&q| i64::from(q) == first);
            if all_equal && length == queue_sizes.len() {
                return None;
            }
            let max_plus_1 = queue_sizes[..length].iter().map(|&q| i64::from(q)).max().unwrap_or(0) + 1;
            let mut cumulative_frequency = Vec::with_capacity(length);
            let mut total = 0i64;
            for &q in &queue_sizes[..length] {
                total += max_plus_1 - i64::from(q);
                cumulative_frequency.push(total);
            }
            Some(LoadStats { cumulative_frequency, partition_ids: partition_ids[..length].to_vec() })
        });
        lock(&self.state).topics.entry(topic.to_string()).or_default().load_stats = load_stats;
    }

    /// Kafka's `BuiltInPartitioner.nextPartition`: a weighted draw when load stats exist, else a uniform draw
    /// among available partitions, else among all partitions.
    fn next_partition(
        rng: &mut XorShift64,
        load_stats: Option<&LoadStats>,
        topic: &str,
        cluster: &TopicPartitions<'_>,
    ) -> Result<i32, PartitionerError> {
        let random = i64::from(to_positive(rng.next_i32()));
        if let Some(stats) = load_stats {
            if let Some(&total) = stats.cumulative_frequency.last() {
                if total > 0 {
                    let weighted = random % total;
                    // The first entry strictly greater than the draw, as Kafka's binary search then `abs(r + 1)`
                    // finds it.
                    let index = stats.cumulative_frequency.partition_point(|&c| c <= weighted);
                    if let Some(&partition) = stats.partition_ids.get(index) {
                        return Ok(partition);
                    }
                }
            }
        }
        if !cluster.available.is_empty() {
            let index = (random % cluster.available.len() as i64) as usize;
            return Ok(cluster.available[index]);
        }
        if cluster.partition_count <= 0 {
            return Err(PartitionerError::NoPartitions { topic: topic.to_string() });
        }
        Ok((random % i64::from(cluster.partition_count)) as i32)
    }
}

impl Default for DefaultPartitioner {
    fn default() -> Self {
        DefaultPartitioner::new(DefaultPartitionerConfig::default())
    }
}

impl Partitioner for DefaultPartitioner {
    fn partition(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        _value: Option<&[u8]>,
        cluster: &TopicPartitions<'_>,
    ) -> Result<i32, PartitionerError> {
        if let Some(key) = key.filter(|_| !self.ignore_keys) {
            if cluster.partition_count <= 0 {
                return Err(PartitionerError::NoPartitions { topic: topic.to_string() });
            }
            return partition_for_key(key, cluster.partition_count);
        }
        let mut state = lock(&self.state);
        let state = &mut *state;
        if let Some(sticky) = state.topics.get(topic).and_then(|t| t.sticky) {
            return Ok(sticky.partition);
        }
        let topic_state = state.topics.entry(topic.to_string()).or_default();
        let partition = Self::next_partition(&mut state.rng, topic_state.load_stats.as_ref(), topic, cluster)?;
        topic_state.sticky = Some(StickyPartition { partition, produced_bytes: 0 });
        Ok(partition)
    }

    fn on_append(&self, appended: &Appended<'_>) {
        if appended.key_present && !self.ignore_keys {
            return;
        }
        let mut state = lock(&self.state);
        let Some(topic_state) = state.topics.get_mut(appended.topic) else { return };
        let Some(sticky) = topic_state.sticky.as_mut() else { return };
        // Only appends to the current sticky partition count, as Kafka only updates the partition info it handed
        // out; a stale report for a previous sticky partition changes nothing.
        if sticky.partition != appended.partition {
            return;
        }
        sticky.produced_bytes = sticky.produced_bytes.saturating_add(appended.appended_bytes);
        let produced = sticky.produced_bytes;
        if (produced >= self.sticky_batch_size && appended.all_batches_full)
            || produced >= self.sticky_batch_size.saturating_mul(2)
        {
            // The next sticky partition is drawn on the next keyless record, with the metadata current then.
            topic_state.sticky = None;
        }
    }
}

/// Kafka's `RoundRobinPartitioner`: a per-topic counter walks the available partitions (all partitions when
/// none is available), whatever the key.
#[derive(Debug, Default)]
pub struct RoundRobinPartitioner {
    counters: Mutex<HashMap<String, i32>>,
}

impl RoundRobinPartitioner {
    pub fn new() -> Self {
        RoundRobinPartitioner::default()
    }
}

impl Partitioner for RoundRobinPartitioner {
    fn partition(
        &self,
        topic: &str,
        _key: Option<&[u8]>,
        _value: Option<&[u8]>,
        cluster: &TopicPartitions<'_>,
    ) -> Result<i32, PartitionerError> {
        if cluster.available.is_empty() && cluster.partition_count <= 0 {
            return Err(PartitionerError::NoPartitions { topic: topic.to_string() });
        }
        let next_value = {
            let mut counters = lock(&self.counters);
            let counter = counters.entry(topic.to_string()).or_insert(0);
            let value = *counter;
            // AtomicInteger.getAndIncrement wraps at 2^31; toPositive then keeps the walk going.
            *counter = counter.wrapping_add(1);
            value
        };
        let next = to_positive(next_value);
        if !cluster.available.is_empty() {
            Ok(cluster.available[next as usize % cluster.available.len()])
        } else {
            Ok(next % cluster.partition_count)
        }
    }
}

/// The partition for a record of a topic whose metadata is known: the record's own (checked against the
/// partition count) or the partitioner's choice among the partitions with a leader. The native and the page's
/// producers both choose here.
pub(crate) fn choose_partition(
    partitioner: &dyn Partitioner,
    record: &crate::client::producer::ProducerRecord,
    topic: &crate::client::metadata::TopicMetadata,
) -> crate::client::Result<i32> {
    use crate::client::ClientError;
    let partition_count = topic.partitions.len() as i32;
    match record.partition {
        Some(p) if p < 0 || p >= partition_count => Err(ClientError::InvalidArgument(format!(
            "partition {p} of topic {} with partition count {partition_count} is not present in metadata",
            record.topic
        ))),
        Some(p) => Ok(p),
        None => {
            let available: Vec<i32> = topic.partitions.iter().filter(|p| p.leader >= 0).map(|p| p.partition).collect();
            partitioner
                .partition(
                    &record.topic,
                    record.key.as_deref(),
                    record.value.as_deref(),
                    &TopicPartitions { partition_count, available: &available },
                )
                .map_err(|e| ClientError::InvalidArgument(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test hex")).collect()
    }

    /// (key bytes in hex, `Utils.murmur2(key)`, `toPositive(murmur2) % 7`), printed by Kafka 4.1.1's own
    /// `org.apache.kafka.common.utils.Utils` (scripts/golden/ClientVectors.java, `murmur2` mode).
    const JAVA_MURMUR2: &[(&str, i32, i32)] = &[
        ("", 275646681, 2),
        ("61", -1563381124, 5),
        ("6162", 316155434, 0),
        ("616263", 479470107, 4),
        ("61626364", -1323649548, 5),
        ("6162636465", 461995741, 4),
        ("616263646566", 1870650108, 5),
        ("61626364656667", -346467175, 4),
        ("6162636465666768", -955427363, 0),
        ("68656c6c6f2d70726f64756365722d746f706963", -841202152, 2),
        ("53746f726549442d31323334", 1834385281, 1),
        ("53545231353334", -747364348, 6),
        ("706f746f6b", 1996979618, 4),
        ("54686520717569636b2062726f776e20666f78206a756d7073206f76657220746865206c617a7920646f67", 495243318, 3),
        ("c3a9c3a8e4b8ade69687", 1136853271, 1),
        ("ff", -311467685, 5),
        ("ffee", 1750061758, 4),
        ("ffeedd", 2053089151, 1),
        ("ffeeddcc", 705638213, 0),
        ("ffeeddccbb", -435349888, 1),
        ("ffeeddccbbaa", -1576922666, 5),
        ("ffeeddccbbaa99", -1046235303, 1),
        ("ffeeddccbbaa9988", -809053009, 0),
        ("ffeeddccbbaa998877", -1660089088, 2),
        ("00000000", 850957120, 6),
        ("00000001", -173113808, 2),
        ("00000002", 1586072243, 0),
        ("00000003", 841864711, 2),
        ("00000004", 326233183, 3),
        ("00000005", -1577040114, 3),
        ("0000002a", 1606757304, 5),
        ("ffffffff", 644171429, 6),
        ("7fffffff", -1009756325, 5),
        ("80000000", -65415266, 2),
        ("0000011f71fb04cb", 154523340, 6),
    ];

    #[test]
    fn murmur2_matches_the_java_client() {
        for &(hex, hash, partition) in JAVA_MURMUR2 {
            let key = unhex(hex);
            assert_eq!(murmur2(&key), hash, "murmur2({hex})");
            assert_eq!(partition_for_key(&key, 7), Ok(partition), "partition of {hex} on 7");
        }
        // 1000 bytes (i * 31 + 7) as Java bytes: hashed by the same Java run.
        let big: Vec<u8> = (0..1000u32).map(|i| (i * 31 + 7) as u8).collect();
        assert_eq!(murmur2(&big), -974371678);
    }

    #[test]
    fn curriculum_integer_keys_on_five_partitions() {
        // HelloProducer: IntegerSerializer keys 1..5 on 5 partitions land 1→p0, 2→p3, 3→p1, 4→p3, 5→p4.
        let expected = [(1, 0), (2, 3), (3, 1), (4, 3), (5, 4)];
        for (key, partition) in expected {
            assert_eq!(partition_for_key(&i32::to_be_bytes(key), 5), Ok(partition), "key {key}");
        }
    }

    #[test]
    fn curriculum_string_keys_on_three_partitions() {
        let expected = [1, 0, 2, 0, 2, 2, 0, 2, 1, 2];
        for (i, partition) in expected.into_iter().enumerate() {
            let key = format!("id_{i}");
            assert_eq!(partition_for_key(key.as_bytes(), 3), Ok(partition), "{key}");
        }
    }

    #[test]
    fn to_positive_clears_only_the_sign_bit() {
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(-1), i32::MAX);
        assert_eq!(to_positive(5), 5);
        assert_eq!(partition_for_key(b"k", 0), Err(PartitionerError::InvalidPartitionCount { count: 0 }));
    }

    fn all(n: i32) -> Vec<i32> {
        (0..n).collect()
    }

    #[test]
    fn keyed_records_hash_over_all_partitions_even_unavailable_ones() {
        let p = DefaultPartitioner::default();
        let cluster = TopicPartitions { partition_count: 3, available: &[0] };
        // id_2 hashes to partition 2, which has no leader: Kafka still sends it there (and waits).
        assert_eq!(p.partition("t", Some(b"id_2"), None, &cluster), Ok(2));
        assert_eq!(p.current_sticky_partition("t"), None);
    }

    #[test]
    fn keyless_records_stick_until_batch_size_bytes_of_full_batches() {
        let p = DefaultPartitioner::new(DefaultPartitionerConfig { batch_size: 100, ignore_keys: false, seed: 7 });
        let parts = all(6);
        let cluster = TopicPartitions { partition_count: 6, available: &parts };
        let first = p.partition("t", None, Some(b"v"), &cluster).expect("partition");
        let append = |partition, bytes, full| Appended {
            topic: "t",
            partition,
            key_present: false,
            appended_bytes: bytes,
            all_batches_full: full,
        };
        // 150 bytes into a batch that is not yet full: no switch before twice batch.size.
        p.on_append(&append(first, 150, false));
        assert_eq!(p.partition("t", None, None, &cluster), Ok(first));
        // A keyed record on the same partition does not count towards the sticky bytes.
        p.on_append(&Appended { key_present: true, ..append(first, 1000, true) });
        assert_eq!(p.current_sticky_partition("t"), Some(first));
        // Reports for another partition are stale and ignored.
        p.on_append(&append((first + 1) % 6, 1000, true));
        assert_eq!(p.current_sticky_partition("t"), Some(first));
        // Past batch.size with the batch full: the next keyless record draws a new sticky partition.
        p.on_append(&append(first, 1, true));
        assert_eq!(p.current_sticky_partition("t"), None);
        let second = p.partition("t", None, None, &cluster).expect("partition");
        assert_eq!(p.current_sticky_partition("t"), Some(second));
        // Twice batch.size switches even when the batch is not full.
        p.on_append(&append(second, 200, false));
        assert_eq!(p.current_sticky_partition("t"), None);
    }

    #[test]
    fn sticky_partitions_are_drawn_among_available_ones_and_spread() {
        let p = DefaultPartitioner::new(DefaultPartitionerConfig { batch_size: 1, ignore_keys: false, seed: 42 });
        let cluster = TopicPartitions { partition_count: 8, available: &[1, 4, 6] };
        let mut seen = [0u32; 8];
        for _ in 0..3000 {
            let partition = p.partition("t", None, None, &cluster).expect("partition");
            seen[partition as usize] += 1;
            p.on_append(&Appended {
                topic: "t",
                partition,
                key_present: false,
                appended_bytes: 1,
                all_batches_full: true,
            });
        }
        for (partition, &count) in seen.iter().enumerate() {
            if [1, 4, 6].contains(&(partition as i32)) {
                assert!((800..1200).contains(&count), "partition {partition} drawn {count} times of 3000");
            } else {
                assert_eq!(count, 0, "unavailable partition {partition} drawn");
            }
        }
        // No available partition at all: any partition of the topic.
        let none = TopicPartitions { partition_count: 2, available: &[] };
        assert!((0..2).contains(&p.partition("u", None, None, &none).expect("partition")));
        let empty = TopicPartitions { partition_count: 0, available: &[] };
        assert_eq!(p.partition("v", None, None, &empty), Err(PartitionerError::NoPartitions { topic: "v".into() }));
        assert!(p.partition("v", Some(b"k"), None, &empty).is_err());
    }

    #[test]
    fn ignore_keys_places_keyed_records_like_keyless_ones() {
        let p = DefaultPartitioner::new(DefaultPartitionerConfig { batch_size: 10, ignore_keys: true, seed: 3 });
        let parts = all(50);
        let cluster = TopicPartitions { partition_count: 50, available: &parts };
        let a = p.partition("t", Some(b"id_0"), None, &cluster).expect("partition");
        let b = p.partition("t", Some(b"id_1"), None, &cluster).expect("partition");
        assert_eq!(a, b, "both keyed records stay on the sticky partition");
        assert!(!p.uses_key(Some(b"k")));
    }

    #[test]
    fn load_stats_favour_short_queues() {
        let p = DefaultPartitioner::new(DefaultPartitionerConfig { batch_size: 1, ignore_keys: false, seed: 9 });
        let parts = all(3);
        let cluster = TopicPartitions { partition_count: 3, available: &parts };
        // Queues 0, 9, 9 give weights 10, 1, 1: partition 0 should take about 10/12 of the draws.
        p.update_partition_load_stats("t", Some((&[0, 9, 9], &[0, 1, 2], 3)));
        let mut zero = 0;
        for _ in 0..1200 {
            let partition = p.partition("t", None, None, &cluster).expect("partition");
            zero += u32::from(partition == 0);
            p.on_append(&Appended {
                topic: "t",
                partition,
                key_present: false,
                appended_bytes: 1,
                all_batches_full: true,
            });
        }
        assert!((900..1100).contains(&zero), "partition 0 drawn {zero} times of 1200");
        // Equal queues over every partition fall back to uniform draws, like Kafka.
        p.update_partition_load_stats("t", Some((&[2, 2, 2], &[0, 1, 2], 3)));
        assert!(lock(&p.state).topics["t"].load_stats.is_none());
    }

    #[test]
    fn round_robin_walks_available_partitions_per_topic() {
        let p = RoundRobinPartitioner::new();
        let cluster = TopicPartitions { partition_count: 5, available: &[0, 2, 4] };
        let got: Vec<i32> =
            (0..7).map(|_| p.partition("a", Some(b"same key"), None, &cluster).expect("partition")).collect();
        assert_eq!(got, [0, 2, 4, 0, 2, 4, 0]);
        // Another topic has its own counter.
        assert_eq!(p.partition("b", None, None, &cluster), Ok(0));
        let down = TopicPartitions { partition_count: 2, available: &[] };
        assert_eq!(p.partition("c", None, None, &down), Ok(0));
        assert_eq!(p.partition("c", None, None, &down), Ok(1));
        // The counter wraps like Java's AtomicInteger and toPositive keeps the result in range.
        lock(&p.counters).insert("w".into(), i32::MAX);
        assert_eq!(p.partition("w", None, None, &cluster), Ok(cluster.available[(i32::MAX % 3) as usize]));
        assert_eq!(p.partition("w", None, None, &cluster), Ok(0));
    }

    proptest! {
        #[test]
        fn keyed_partition_is_in_range(key in proptest::collection::vec(any::<u8>(), 0..64), n in 1i32..1000) {
            let p = partition_for_key(&key, n).expect("positive count");
            prop_assert!((0..n).contains(&p));
        }

        #[test]
        fn sticky_partition_is_an_available_one(
            available in proptest::collection::btree_set(0i32..64, 1..10),
            seed in any::<u64>(),
            appends in proptest::collection::vec((1usize..400, any::<bool>()), 1..50),
        ) {
            let available: Vec<i32> = available.into_iter().collect();
            let p = DefaultPartitioner::new(DefaultPartitionerConfig { batch_size: 100, ignore_keys: false, seed });
            let cluster = TopicPartitions { partition_count: 64, available: &available };
            for (bytes, full) in appends {
                let partition = p.partition("t", None, None, &cluster).expect("partition");
                prop_assert!(available.contains(&partition));
                p.on_append(&Appended { topic: "t", partition, key_present: false, appended_bytes: bytes, all_batches_full: full });
            }
        }
    }
}
