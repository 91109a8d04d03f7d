//! The cleaner's key => last offset map (Kafka's `SkimpyOffsetMap`): a fixed-size open-addressing table of
//! (SHA-256 digest of the key, offset) slots. Only digests are stored, so the memory a map takes is fixed by
//! `log.cleaner.dedupe.buffer.size` whatever the key sizes; two keys with the same 32-byte digest would be taken
//! for one, which SHA-256 makes practically impossible, as in Kafka.
//!
//! Invariants: `entries <= slots`; a slot is empty exactly when its stored offset is 0 (offsets are stored
//! plus one); `latest_offset` is the largest offset put or announced with [`OffsetMap::update_latest_offset`].

use sha2::{Digest, Sha256};

/// Bytes of a key digest.
const HASH_BYTES: usize = 32;
/// Bytes of one slot: the digest and the offset (plus one, so 0 means empty).
pub const SLOT_BYTES: usize = HASH_BYTES + 8;

#[derive(Debug)]
pub struct OffsetMap {
    slots: Vec<u8>,
    slot_count: usize,
    entries: usize,
    latest_offset: i64,
}

impl OffsetMap {
    /// A map with room for `slot_count` keys (at least one).
    pub fn with_slots(slot_count: usize) -> Self {
        let slot_count = slot_count.max(1);
        // vec! of zeros is a lazily zeroed allocation: a large map costs memory only where it is used.
        OffsetMap { slots: vec![0; slot_count * SLOT_BYTES], slot_count, entries: 0, latest_offset: -1 }
    }

    /// A map whose slots fit in `buffer_bytes`.
    pub fn with_buffer(buffer_bytes: usize) -> Self {
        Self::with_slots(buffer_bytes / SLOT_BYTES)
    }

    pub fn slots(&self) -> usize {
        self.slot_count
    }

    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The share of slots in use.
    pub fn utilization(&self) -> f64 {
        self.entries as f64 / self.slot_count as f64
    }

    pub fn latest_offset(&self) -> i64 {
        self.latest_offset
    }

    /// Notes that the map describes the log up to `offset` even where no keyed record was there.
    pub fn update_latest_offset(&mut self, offset: i64) {
        self.latest_offset = self.latest_offset.max(offset);
    }

    fn digest(key: &[u8]) -> [u8; HASH_BYTES] {
        Sha256::digest(key).into()
    }

    /// The slot holding `hash`, or the empty slot where it would go. Linear probing from a start the digest
    /// picks; the map is never full when this is called (callers keep a load factor below one).
    fn find(&self, hash: &[u8; HASH_BYTES]) -> usize {
        let mut start = [0u8; 8];
        start.copy_from_slice(&hash[..8]);
        let mut slot = (u64::from_le_bytes(start) % self.slot_count as u64) as usize;
        loop {
            let at = slot * SLOT_BYTES;
            if self.offset_at(at) == 0 || self.slots[at..at + HASH_BYTES] == hash[..] {
                return slot;
            }
            slot = (slot + 1) % self.slot_count;
        }
    }

    fn offset_at(&self, at: usize) -> i64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.slots[at + HASH_BYTES..at + SLOT_BYTES]);
        i64::from_le_bytes(b)
    }

    /// Records that `key`'s latest record is at `offset`. Returns false (and changes nothing) when the key is
    /// new and the map is full.
    pub fn put(&mut self, key: &[u8], offset: i64) -> bool {
        let hash = Self::digest(key);
        let slot = self.find(&hash);
        let at = slot * SLOT_BYTES;
        if self.offset_at(at) == 0 {
            if self.entries + 1 >= self.slot_count {
                return false;
            }
            self.entries += 1;
            self.slots[at..at + HASH_BYTES].copy_from_slice(&hash);
        }
        self.slots[at + HASH_BYTES..at + SLOT_BYTES].copy_from_slice(&(offset + 1).to_le_bytes());
        self.update_latest_offset(offset);
        true
    }

    /// The latest offset recorded for `key`, or -1.
    pub fn get(&self, key: &[u8]) -> i64 {
        let hash = Self::digest(key);
        let at = self.find(&hash) * SLOT_BYTES;
        self.offset_at(at) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_offset_per_key_and_capacity() {
        let mut map = OffsetMap::with_slots(8);
        assert!(map.put(b"a", 3));
        assert!(map.put(b"b", 4));
        assert!(map.put(b"a", 9));
        assert_eq!((map.get(b"a"), map.get(b"b"), map.get(b"c")), (9, 4, -1));
        assert_eq!((map.len(), map.latest_offset()), (2, 9));
        for i in 0..5u8 {
            assert!(map.put(&[i], 20 + i64::from(i)));
        }
        assert!(!map.put(b"one too many", 30), "a full map refuses a new key");
        assert!(map.put(b"a", 31), "but takes a newer offset for a key it has");
        assert_eq!(map.get(b"a"), 31);
        assert_eq!(map.get(b"one too many"), -1);
        map.update_latest_offset(40);
        assert_eq!(map.latest_offset(), 40);
        assert_eq!(OffsetMap::with_buffer(SLOT_BYTES * 100).slots(), 100);
    }

    #[test]
    fn many_keys_keep_their_offsets() {
        let mut map = OffsetMap::with_slots(20_000);
        for i in 0..15_000i64 {
            assert!(map.put(format!("key-{i}").as_bytes(), i));
        }
        for i in 0..15_000i64 {
            assert_eq!(map.get(format!("key-{i}").as_bytes()), i);
        }
        assert!(map.utilization() > 0.7);
    }
}
