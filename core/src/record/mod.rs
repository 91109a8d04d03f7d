//! Record batch v2 (magic 2): the unit Kafka stores, replicates and serves.
//!
//! A batch is a 61-byte header followed by records, compressed as one block when the batch is compressed:
//!
//! ```text
//! baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 | magic i8 | crc u32 | attributes i16 |
//! lastOffsetDelta i32 | baseTimestamp i64 | maxTimestamp i64 | producerId i64 | producerEpoch i16 |
//! baseSequence i32 | recordCount i32 | records...
//! ```
//!
//! The CRC32C covers everything from `attributes` to the end, so the log can rewrite `baseOffset` and
//! `partitionLeaderEpoch` in place and keep the bytes the producer sent. [`validate_batch`] is the gate every
//! batch passes before it is stored; it checks framing, magic and CRC without decompressing.

mod builder;
pub mod compression;
mod retain;
pub mod varint;

use bytes::Bytes;

pub use builder::BatchBuilder;
pub use compression::Compression;
pub use retain::{empty_batch, retain_records, RecordView, RetainResult, Retained};

/// Bytes in a v2 batch header, up to and including the record count.
pub const RECORD_BATCH_OVERHEAD: usize = 61;
/// The bytes before `batchLength` counts from: baseOffset and batchLength itself.
pub const LOG_OVERHEAD: usize = 12;
/// The only batch format potok stores.
pub const CURRENT_MAGIC: i8 = 2;
/// `producerId` of a batch written without idempotence.
pub const NO_PRODUCER_ID: i64 = -1;
/// `producerEpoch` of a batch written without idempotence.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// `baseSequence` of a batch written without idempotence.
pub const NO_SEQUENCE: i32 = -1;
/// `partitionLeaderEpoch` before the log stamps one.
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;
/// A timestamp that is not set.
pub const NO_TIMESTAMP: i64 = -1;

const BASE_OFFSET_OFFSET: usize = 0;
const LENGTH_OFFSET: usize = 8;
const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
const MAGIC_OFFSET: usize = 16;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const MAX_TIMESTAMP_OFFSET: usize = 35;

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_MASK: i16 = 0x08;
const TRANSACTIONAL_MASK: i16 = 0x10;
const CONTROL_MASK: i16 = 0x20;
const DELETE_HORIZON_MASK: i16 = 0x40;

/// Why a batch or record could not be read or written.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    #[error("record data truncated while reading {0}")]
    Truncated(&'static str),
    #[error("batch length {length} is invalid (a batch needs {RECORD_BATCH_OVERHEAD} bytes of header)")]
    InvalidLength { length: i64 },
    #[error("unsupported record batch magic {0} (only magic 2 is supported)")]
    UnsupportedMagic(i8),
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("unknown compression codec id {0}")]
    UnknownCompression(i16),
    #[error("invalid varint")]
    InvalidVarint,
    #[error("invalid record: {0}")]
    InvalidRecord(&'static str),
    #[error("record count {declared} does not match the {actual} records present")]
    RecordCountMismatch { declared: i32, actual: i32 },
    #[error("decompressed data exceeds the limit of {limit} bytes")]
    DecompressedTooLarge { limit: usize },
    #[error("{codec} decompression failed: {message}")]
    Decompression { codec: &'static str, message: String },
    #[error("{codec} compression failed: {message}")]
    CompressionFailed { codec: &'static str, message: String },
    #[error("batch is larger than the maximum of {max} bytes")]
    BatchTooLarge { max: usize },
    /// Well-formed records the leader's rules refuse (see [`RecordRules`]): each one's index in its batch and why.
    #[error("{} records of the batch were refused, the first: {:?}", .0.len(), .0.first())]
    RecordsRefused(Vec<(i32, RecordProblem)>),
}

/// What a leader requires of each record of a data batch beyond its structure, as Kafka's `LogValidator`
/// does for producers' writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordRules {
    /// Every record has a key (a compacted topic).
    pub require_keys: bool,
    /// The earliest and latest CreateTime timestamp accepted, both included: the broker's time less
    /// `message.timestamp.before.max.ms` and plus `message.timestamp.after.max.ms`. `None` in a LogAppendTime
    /// topic, where the broker sets the timestamps.
    pub timestamps: Option<(i64, i64)>,
}

/// Why [`RecordRules`] refused a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordProblem {
    /// No key, in a compacted topic.
    NoKey,
    /// A timestamp outside the accepted range; `offset` is the record's offset as the batch was sent.
    Timestamp { timestamp: i64, offset: i64, earliest: i64, latest: i64 },
}

/// How a batch's timestamps were set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    /// Set by the producer.
    CreateTime,
    /// Set by the broker when it appended the batch.
    LogAppendTime,
}

/// The parsed 61-byte header of a v2 batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

impl BatchHeader {
    /// Parses the header fields from the first [`RECORD_BATCH_OVERHEAD`] bytes of `buf`. Checks nothing but
    /// the length of `buf`; see [`validate_batch`] for the checks a stored batch must pass.
    pub fn parse(buf: &[u8]) -> Result<Self, RecordError> {
        if buf.len() < RECORD_BATCH_OVERHEAD {
            return Err(RecordError::Truncated("batch header"));
        }
        Ok(BatchHeader {
            base_offset: be_i64(buf, BASE_OFFSET_OFFSET),
            batch_length: be_i32(buf, LENGTH_OFFSET),
            partition_leader_epoch: be_i32(buf, PARTITION_LEADER_EPOCH_OFFSET),
            magic: buf[MAGIC_OFFSET] as i8,
            crc: be_i32(buf, CRC_OFFSET) as u32,
            attributes: be_i16(buf, ATTRIBUTES_OFFSET),
            last_offset_delta: be_i32(buf, 23),
            base_timestamp: be_i64(buf, 27),
            max_timestamp: be_i64(buf, MAX_TIMESTAMP_OFFSET),
            producer_id: be_i64(buf, 43),
            producer_epoch: be_i16(buf, 51),
            base_sequence: be_i32(buf, 53),
            records_count: be_i32(buf, 57),
        })
    }

    /// Total bytes of the batch, header included. (A negative length, which only an unchecked header has,
    /// counts as zero; callers that walk a file check lengths before trusting them.)
    pub fn size_in_bytes(&self) -> usize {
        usize::try_from(self.batch_length).unwrap_or(0) + LOG_OVERHEAD
    }

    /// Saturating, like [`BatchHeader::next_offset`]: an unchecked header may hold any base offset and delta.
    pub fn last_offset(&self) -> i64 {
        self.base_offset.saturating_add(i64::from(self.last_offset_delta))
    }

    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }

    pub fn compression(&self) -> Result<Compression, RecordError> {
        Compression::from_id(self.attributes & COMPRESSION_MASK)
    }

    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & TIMESTAMP_TYPE_MASK != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_MASK != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_MASK != 0
    }

    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & DELETE_HORIZON_MASK != 0
    }

    pub fn has_producer_id(&self) -> bool {
        self.producer_id > NO_PRODUCER_ID
    }
}

/// Reads the total size of the batch starting at `buf` from its length field, without validating it.
/// Returns `None` when fewer than [`LOG_OVERHEAD`] bytes are present.
pub fn batch_size(buf: &[u8]) -> Option<i64> {
    if buf.len() < LOG_OVERHEAD {
        return None;
    }
    Some(i64::from(be_i32(buf, LENGTH_OFFSET)) + LOG_OVERHEAD as i64)
}

/// Checks that `batch` is exactly one well-formed v2 batch: a length that matches the slice, magic 2, a
/// matching CRC32C, a known codec and sane counts. Does not decompress.
pub fn validate_batch(batch: &[u8]) -> Result<BatchHeader, RecordError> {
    let header = BatchHeader::parse(batch)?;
    let size = i64::from(header.batch_length) + LOG_OVERHEAD as i64;
    if size < RECORD_BATCH_OVERHEAD as i64 || size != batch.len() as i64 {
        return Err(RecordError::InvalidLength { length: i64::from(header.batch_length) });
    }
    if header.magic != CURRENT_MAGIC {
        return Err(RecordError::UnsupportedMagic(header.magic));
    }
    let computed = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    if computed != header.crc {
        return Err(RecordError::CrcMismatch { stored: header.crc, computed });
    }
    header.compression()?;
    if header.records_count < 0 || header.last_offset_delta < 0 {
        return Err(RecordError::InvalidRecord("negative record count or offset delta"));
    }
    // A batch always covers at least as many offsets as it holds records; compaction can leave fewer records
    // than offsets, never more.
    if i64::from(header.records_count) > i64::from(header.last_offset_delta) + 1 {
        return Err(RecordError::InvalidRecord("more records than the offset range covers"));
    }
    Ok(header)
}

/// Splits a buffer of concatenated batches (a produce request's records, a log read) into batches, checking
/// only that each length field fits. Use [`validate_batch`] on each before trusting its contents.
#[derive(Debug, Clone)]
pub struct Batches<'a> {
    rest: &'a [u8],
}

impl<'a> Batches<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Batches { rest: buf }
    }
}

impl<'a> Iterator for Batches<'a> {
    type Item = Result<&'a [u8], RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let Some(size) = batch_size(self.rest) else {
            self.rest = &[];
            return Some(Err(RecordError::Truncated("batch length")));
        };
        if size < RECORD_BATCH_OVERHEAD as i64 || size > self.rest.len() as i64 {
            self.rest = &[];
            return Some(Err(RecordError::InvalidLength { length: size - LOG_OVERHEAD as i64 }));
        }
        let (batch, rest) = self.rest.split_at(size as usize);
        self.rest = rest;
        Some(Ok(batch))
    }
}

/// Rewrites the base offset of a batch in place (not covered by the CRC).
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[BASE_OFFSET_OFFSET..BASE_OFFSET_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Rewrites the partition leader epoch of a batch in place (not covered by the CRC).
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4].copy_from_slice(&epoch.to_be_bytes());
}

/// Marks a batch as LogAppendTime with `timestamp_ms` as its max timestamp, as Kafka does for topics with
/// `message.timestamp.type=LogAppendTime`, and recomputes the CRC. Records keep their deltas; readers take the
/// batch's max timestamp for every record of a LogAppendTime batch.
pub fn set_log_append_time(batch: &mut [u8], timestamp_ms: i64) {
    let attributes = be_i16(batch, ATTRIBUTES_OFFSET) | TIMESTAMP_TYPE_MASK;
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&timestamp_ms.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// A record header. Keys are strings in Kafka; values are bytes and may be null. Headers form an ordered list
/// and a key may repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: String,
    pub value: Option<Bytes>,
}

/// One decoded record with its absolute offset and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
}

/// The kind of a control record (the key of a record in a control batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlType {
    Abort,
    Commit,
    Unknown(i16),
}

impl ControlType {
    pub fn id(self) -> i16 {
        match self {
            ControlType::Abort => 0,
            ControlType::Commit => 1,
            ControlType::Unknown(id) => id,
        }
    }

    /// Parses a control record key: version i16 then type i16.
    pub fn from_key(key: &[u8]) -> Result<Self, RecordError> {
        if key.len() < 4 {
            return Err(RecordError::InvalidRecord("control record key shorter than 4 bytes"));
        }
        Ok(match be_i16(key, 2) {
            0 => ControlType::Abort,
            1 => ControlType::Commit,
            other => ControlType::Unknown(other),
        })
    }
}

/// What a transaction marker (the one record of a commit or abort control batch) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTxnMarker {
    pub control_type: ControlType,
    /// The epoch of the transaction coordinator that wrote the marker.
    pub coordinator_epoch: i32,
}

/// Reads the transaction marker of a control batch: the key is (version i16, type i16), the value
/// (version i16, coordinator epoch i32), as Kafka's `EndTransactionMarker` lays them out.
pub fn end_txn_marker(batch: &[u8]) -> Result<EndTxnMarker, RecordError> {
    let (header, records) = decode_records(batch, DecodeLimits::default())?;
    if !header.is_control() {
        return Err(RecordError::InvalidRecord("not a control batch"));
    }
    let record = records.first().ok_or(RecordError::InvalidRecord("control batch holds no record"))?;
    let key = record.key.as_deref().ok_or(RecordError::InvalidRecord("control record without a key"))?;
    let control_type = ControlType::from_key(key)?;
    let value = record.value.as_deref().unwrap_or_default();
    let coordinator_epoch = match control_type {
        ControlType::Abort | ControlType::Commit if value.len() >= 6 => be_i32(value, 2),
        ControlType::Abort | ControlType::Commit => {
            return Err(RecordError::InvalidRecord("transaction marker value shorter than 6 bytes"))
        }
        ControlType::Unknown(_) => -1,
    };
    Ok(EndTxnMarker { control_type, coordinator_epoch })
}

/// Limits that bound the memory a decode may use, whatever the input claims.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// The most bytes a compressed batch may inflate to.
    pub max_decompressed_bytes: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        // Kafka bounds a batch by message.max.bytes (1 MiB by default) compressed; 64 MiB inflated leaves room
        // for very compressible data while keeping a decompression bomb harmless.
        DecodeLimits { max_decompressed_bytes: 64 << 20 }
    }
}

/// Decodes every record of a batch (validating it and decompressing if needed). Offsets and timestamps are
/// absolute; in a LogAppendTime batch every record takes the batch's max timestamp, as Kafka's readers do.
pub fn decode_records(batch: &[u8], limits: DecodeLimits) -> Result<(BatchHeader, Vec<Record>), RecordError> {
    let header = validate_batch(batch)?;
    let mut records = Vec::new();
    for_each_record(&header, batch, limits, |raw| {
        let timestamp = match header.timestamp_type() {
            TimestampType::LogAppendTime => header.max_timestamp,
            TimestampType::CreateTime => header.base_timestamp.wrapping_add(raw.timestamp_delta),
        };
        let mut headers = Vec::with_capacity(raw.header_count);
        let mut rest = raw.headers;
        while !rest.is_empty() {
            let (key, value) = read_header(&mut rest)?;
            headers.push(Header {
                key: String::from_utf8_lossy(key).into_owned(),
                value: value.map(Bytes::copy_from_slice),
            });
        }
        records.push(Record {
            offset: header.base_offset + i64::from(raw.offset_delta),
            timestamp,
            key: raw.key.map(Bytes::copy_from_slice),
            value: raw.value.map(Bytes::copy_from_slice),
            headers,
        });
        Ok(())
    })?;
    Ok((header, records))
}

/// Checks the records inside a batch the way Kafka's broker does before storing it: the batch holds at least
/// one record, exactly as many as its count says, with offset deltas 0, 1, 2, ... matching its last offset
/// delta, and every record is well formed. Compressed batches are decompressed (bounded by `limits`).
/// `header` is what [`validate_batch`] returned for `batch` (its length and CRC are not checked again).
/// A data batch whose records are sound but break `rules` is refused with [`RecordError::RecordsRefused`],
/// naming every record that breaks them (a key's absence first, as Kafka's `LogValidator` reports it), in
/// the same pass over the records.
pub fn validate_records(
    header: &BatchHeader,
    batch: &[u8],
    limits: DecodeLimits,
    rules: RecordRules,
) -> Result<(), RecordError> {
    if header.records_count == 0 {
        return Err(RecordError::InvalidRecord("batch holds no records"));
    }
    if header.last_offset_delta != header.records_count - 1 {
        return Err(RecordError::InvalidRecord("last offset delta does not match the record count"));
    }
    let rules = if header.is_control() { RecordRules::default() } else { rules };
    let log_append_time = header.timestamp_type() == TimestampType::LogAppendTime;
    let mut refused = Vec::new();
    let mut expected_delta = 0;
    for_each_record(header, batch, limits, |raw| {
        if raw.offset_delta != expected_delta {
            return Err(RecordError::InvalidRecord("record offset deltas are not consecutive"));
        }
        if rules.require_keys && raw.key.is_none() {
            refused.push((expected_delta, RecordProblem::NoKey));
        } else if let Some((earliest, latest)) = rules.timestamps {
            // A LogAppendTime batch's records read as its max timestamp; -1 is "no timestamp".
            let timestamp = if log_append_time {
                header.max_timestamp
            } else {
                header.base_timestamp.wrapping_add(raw.timestamp_delta)
            };
            if timestamp != -1 && !(earliest..=latest).contains(&timestamp) {
                let offset = header.base_offset.wrapping_add(i64::from(expected_delta));
                refused.push((expected_delta, RecordProblem::Timestamp { timestamp, offset, earliest, latest }));
            }
        }
        expected_delta += 1;
        Ok(())
    })?;
    if refused.is_empty() {
        Ok(())
    } else {
        Err(RecordError::RecordsRefused(refused))
    }
}

/// A record's fields as slices of the (decompressed) batch data.
struct RawRecord<'a> {
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    header_count: usize,
    /// The encoded headers, already checked to parse into `header_count` headers.
    headers: &'a [u8],
}

fn for_each_record(
    header: &BatchHeader,
    batch: &[u8],
    limits: DecodeLimits,
    mut f: impl FnMut(RawRecord<'_>) -> Result<(), RecordError>,
) -> Result<(), RecordError> {
    let compression = header.compression()?;
    let body = &batch[RECORD_BATCH_OVERHEAD..];
    let inflated;
    let mut data: &[u8] = if compression == Compression::None {
        body
    } else {
        inflated = compression::decompress(compression, body, limits.max_decompressed_bytes)?;
        &inflated
    };
    let mut actual = 0i32;
    while !data.is_empty() {
        if actual == header.records_count {
            return Err(RecordError::RecordCountMismatch { declared: header.records_count, actual: actual + 1 });
        }
        f(read_record(&mut data)?)?;
        actual += 1;
    }
    if actual != header.records_count {
        return Err(RecordError::RecordCountMismatch { declared: header.records_count, actual });
    }
    Ok(())
}

fn read_bytes<'a>(buf: &mut &'a [u8], what: &'static str) -> Result<Option<&'a [u8]>, RecordError> {
    let len = varint::get_varint(buf)?;
    if len < 0 {
        return Ok(None);
    }
    let len = len as usize;
    if len > buf.len() {
        return Err(RecordError::Truncated(what));
    }
    let (value, rest) = buf.split_at(len);
    *buf = rest;
    Ok(Some(value))
}

fn read_header<'a>(buf: &mut &'a [u8]) -> Result<(&'a [u8], Option<&'a [u8]>), RecordError> {
    let key = read_bytes(buf, "header key")?.ok_or(RecordError::InvalidRecord("null header key"))?;
    let value = read_bytes(buf, "header value")?;
    Ok((key, value))
}

fn read_record<'a>(data: &mut &'a [u8]) -> Result<RawRecord<'a>, RecordError> {
    let length = varint::get_varint(data)?;
    if length < 0 || length as usize > data.len() {
        return Err(RecordError::Truncated("record"));
    }
    let (mut body, rest) = data.split_at(length as usize);
    *data = rest;
    let buf = &mut body;
    let (_attributes, rest) = buf.split_first().ok_or(RecordError::Truncated("record attributes"))?;
    *buf = rest;
    let timestamp_delta = varint::get_varlong(buf)?;
    let offset_delta = varint::get_varint(buf)?;
    let key = read_bytes(buf, "record key")?;
    let value = read_bytes(buf, "record value")?;
    let header_count = varint::get_varint(buf)?;
    if header_count < 0 {
        return Err(RecordError::InvalidRecord("negative header count"));
    }
    let headers = *buf;
    for _ in 0..header_count {
        read_header(buf)?;
    }
    if !buf.is_empty() {
        return Err(RecordError::InvalidRecord("record length does not match its fields"));
    }
    Ok(RawRecord { timestamp_delta, offset_delta, key, value, header_count: header_count as usize, headers })
}

#[cfg(test)]
mod tests;
