//! Building v2 batches, as a producer or the broker (control batches) writes them.

use super::compression::{self, Compression};
use super::varint::{put_varint, put_varlong, varint_len, varlong_len};
use super::{
    ControlType, Header, RecordError, TimestampType, ATTRIBUTES_OFFSET, CONTROL_MASK, CRC_OFFSET, CURRENT_MAGIC,
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, RECORD_BATCH_OVERHEAD,
    TIMESTAMP_TYPE_MASK, TRANSACTIONAL_MASK,
};

/// Accumulates records into one batch. Records get consecutive offsets from `base_offset`.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    compression: Compression,
    timestamp_type: TimestampType,
    base_offset: i64,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    control: bool,
    base_timestamp: Option<i64>,
    max_timestamp: i64,
    count: i32,
    /// Uncompressed record bytes.
    records: Vec<u8>,
}

impl BatchBuilder {
    pub fn new(compression: Compression) -> Self {
        BatchBuilder {
            compression,
            timestamp_type: TimestampType::CreateTime,
            base_offset: 0,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            transactional: false,
            control: false,
            base_timestamp: None,
            max_timestamp: super::NO_TIMESTAMP,
            count: 0,
            records: Vec::new(),
        }
    }

    pub fn base_offset(mut self, base_offset: i64) -> Self {
        self.base_offset = base_offset;
        self
    }

    pub fn timestamp_type(mut self, timestamp_type: TimestampType) -> Self {
        self.timestamp_type = timestamp_type;
        self
    }

    pub fn partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }

    /// Marks the batch as written by an idempotent (and, with `transactional`, transactional) producer.
    pub fn producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32, transactional: bool) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self.transactional = transactional;
        self
    }

    /// Sets the producer fields of a batch being built (the producer learns its sequence only when it sends).
    pub fn set_producer(&mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32, transactional: bool) {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self.transactional = transactional;
    }

    /// A control batch holding one transaction marker, as the transaction coordinator has the broker write.
    pub fn control_marker(
        control_type: ControlType,
        coordinator_epoch: i32,
        producer_id: i64,
        producer_epoch: i16,
        timestamp_ms: i64,
    ) -> Self {
        let mut builder = BatchBuilder::new(Compression::None).producer(producer_id, producer_epoch, NO_SEQUENCE, true);
        builder.control = true;
        let mut key = Vec::with_capacity(4);
        key.extend_from_slice(&0i16.to_be_bytes());
        key.extend_from_slice(&control_type.id().to_be_bytes());
        let mut value = Vec::with_capacity(6);
        value.extend_from_slice(&0i16.to_be_bytes());
        value.extend_from_slice(&coordinator_epoch.to_be_bytes());
        builder.append(timestamp_ms, Some(&key), Some(&value), &[]);
        builder
    }

    /// A control batch holding one control record of `control_type` (Kafka's `ControlRecordType` id) whose
    /// value is `value`, as KRaft writes LeaderChange and KRaftVoters records into the metadata log.
    pub fn control_record(control_type: i16, value: &[u8], timestamp_ms: i64) -> Self {
        let mut builder = BatchBuilder::new(Compression::None);
        builder.control = true;
        let mut key = Vec::with_capacity(4);
        key.extend_from_slice(&0i16.to_be_bytes());
        key.extend_from_slice(&control_type.to_be_bytes());
        builder.append(timestamp_ms, Some(&key), Some(value), &[]);
        builder
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn record_count(&self) -> i32 {
        self.count
    }

    /// Uncompressed size of the batch so far, header included: what `batch.size` is measured against.
    pub fn estimated_size(&self) -> usize {
        RECORD_BATCH_OVERHEAD + self.records.len()
    }

    /// The bytes a record would add, so a producer can decide whether it still fits.
    pub fn record_size(&self, timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) -> usize {
        let body = self.record_body_len(timestamp, key, value, headers);
        varint_len(body as i32) + body
    }

    fn record_body_len(&self, timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) -> usize {
        let delta = timestamp.wrapping_sub(self.base_timestamp.unwrap_or(timestamp));
        let bytes_len = |b: Option<&[u8]>| match b {
            None => varint_len(-1),
            Some(b) => varint_len(b.len() as i32) + b.len(),
        };
        let mut len = 1 + varlong_len(delta) + varint_len(self.count) + bytes_len(key) + bytes_len(value);
        len += varint_len(headers.len() as i32);
        for h in headers {
            len += varint_len(h.key.len() as i32) + h.key.len() + bytes_len(h.value.as_deref());
        }
        len
    }

    /// Appends a record with the next offset.
    pub fn append(&mut self, timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) {
        let base_timestamp = *self.base_timestamp.get_or_insert(timestamp);
        let body_len = self.record_body_len(timestamp, key, value, headers);
        let put_bytes = |buf: &mut Vec<u8>, b: Option<&[u8]>| match b {
            None => put_varint(buf, -1),
            Some(b) => {
                put_varint(buf, b.len() as i32);
                buf.extend_from_slice(b);
            }
        };
        let buf = &mut self.records;
        put_varint(buf, body_len as i32);
        buf.push(0);
        put_varlong(buf, timestamp.wrapping_sub(base_timestamp));
        put_varint(buf, self.count);
        put_bytes(buf, key);
        put_bytes(buf, value);
        put_varint(buf, headers.len() as i32);
        for h in headers {
            put_varint(buf, h.key.len() as i32);
            buf.extend_from_slice(h.key.as_bytes());
            put_bytes(buf, h.value.as_deref());
        }
        self.max_timestamp = self.max_timestamp.max(timestamp);
        self.count += 1;
    }

    /// Encodes the batch: header, CRC and (compressed) records.
    pub fn build(&self) -> Result<Vec<u8>, RecordError> {
        let body = compression::compress(self.compression, &self.records)?;
        let mut out = Vec::with_capacity(RECORD_BATCH_OVERHEAD + body.len());
        let batch_length = (RECORD_BATCH_OVERHEAD - super::LOG_OVERHEAD + body.len()) as i32;
        let mut attributes = self.compression.id();
        if self.timestamp_type == TimestampType::LogAppendTime {
            attributes |= TIMESTAMP_TYPE_MASK;
        }
        if self.transactional {
            attributes |= TRANSACTIONAL_MASK;
        }
        if self.control {
            attributes |= CONTROL_MASK;
        }
        let base_timestamp = self.base_timestamp.unwrap_or(super::NO_TIMESTAMP);
        out.extend_from_slice(&self.base_offset.to_be_bytes());
        out.extend_from_slice(&batch_length.to_be_bytes());
        out.extend_from_slice(&self.partition_leader_epoch.to_be_bytes());
        out.push(CURRENT_MAGIC as u8);
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&attributes.to_be_bytes());
        out.extend_from_slice(&(self.count - 1).max(0).to_be_bytes());
        out.extend_from_slice(&base_timestamp.to_be_bytes());
        out.extend_from_slice(&self.max_timestamp.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.producer_epoch.to_be_bytes());
        out.extend_from_slice(&self.base_sequence.to_be_bytes());
        out.extend_from_slice(&self.count.to_be_bytes());
        out.extend_from_slice(&body);
        let crc = crc32c::crc32c(&out[ATTRIBUTES_OFFSET..]);
        out[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        Ok(out)
    }
}
