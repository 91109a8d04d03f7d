//! A response frame as parts in wire order: encoded bytes, and the record ranges of a Fetch response that stay
//! in segment files until the connection sends them (with `sendfile(2)`, as Kafka sends `FileRecords` through
//! a `TransferableChannel`), so record bytes never pass through user space.
//!
//! Invariants: the parts, concatenated, are exactly the bytes [`super::encode_response`] produces for the same
//! response with the file ranges read into its records; the size prefix at the start of the first part counts
//! every part after it; the length prefix of a records field is in the bytes part just before its file part.

use std::io;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::FetchableTopicResponse;
use kafka_protocol::messages::{ApiKey, FetchResponse, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Encodable;

use super::ProtocolError;
use crate::storage::FileSlice;

/// One piece of a response frame.
#[derive(Debug, Clone)]
pub enum FramePart {
    Bytes(Bytes),
    File(FileSlice),
}

impl FramePart {
    pub fn len(&self) -> usize {
        match self {
            FramePart::Bytes(b) => b.len(),
            FramePart::File(f) => f.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A whole response frame, size prefix included, as parts to write in order.
#[derive(Debug, Clone, Default)]
pub struct ResponseFrame {
    pub parts: Vec<FramePart>,
}

impl ResponseFrame {
    /// The frame's length in bytes, size prefix included.
    pub fn len(&self) -> usize {
        self.parts.iter().map(FramePart::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The frame as one buffer, file ranges read in (for a caller that cannot send files, and tests).
    pub fn to_bytes(&self) -> io::Result<BytesMut> {
        let mut out = BytesMut::with_capacity(self.len());
        for part in &self.parts {
            match part {
                FramePart::Bytes(b) => out.extend_from_slice(b),
                FramePart::File(f) => out.extend_from_slice(&f.read_to_vec()?),
            }
        }
        Ok(out)
    }
}

impl From<BytesMut> for ResponseFrame {
    fn from(bytes: BytesMut) -> Self {
        ResponseFrame { parts: vec![FramePart::Bytes(bytes.freeze())] }
    }
}

/// The records of a Fetch response that are still in segment files: for a partition at (topic index,
/// partition index) of the response, the file range its `records` field holds. That partition's `records`
/// in the response itself is empty.
#[derive(Debug, Clone, Default)]
pub struct FileRecords {
    /// By (topic index, partition index), in the order the response lists them.
    entries: Vec<((usize, usize), FileSlice)>,
}

impl FileRecords {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds the records of the partition at `(topic, partition)` indexes; called in response order.
    pub fn push(&mut self, topic: usize, partition: usize, slice: FileSlice) {
        debug_assert!(self.entries.last().is_none_or(|(at, _)| *at < (topic, partition)));
        self.entries.push(((topic, partition), slice));
    }

    fn get(&self, topic: usize, partition: usize) -> Option<&FileSlice> {
        self.entries.binary_search_by_key(&(topic, partition), |(at, _)| *at).ok().map(|i| &self.entries[i].1)
    }

    /// Reads the file ranges into `response`'s records, for a caller that writes the response as one buffer.
    /// A range that cannot be read (an I/O error on the segment file) leaves its partition answered with
    /// KAFKA_STORAGE_ERROR and no records, as a read error at fetch time would.
    pub fn materialize(&self, response: &mut FetchResponse) {
        for ((t, p), slice) in &self.entries {
            let Some(data) = response.responses.get_mut(*t).and_then(|topic| topic.partitions.get_mut(*p)) else {
                continue;
            };
            match slice.read_to_vec() {
                Ok(bytes) => data.records = Some(Bytes::from(bytes)),
                Err(e) => {
                    tracing::warn!("cannot read fetched records from a segment file: {e}");
                    data.error_code = ResponseError::KafkaStorageError.code();
                    data.records = Some(Bytes::new());
                }
            }
        }
    }
}

fn malformed(e: impl std::fmt::Display) -> ProtocolError {
    ProtocolError::Malformed { what: "response", message: e.to_string() }
}

/// Encodes a response frame as parts: one bytes part, unless `files` holds record ranges of this (Fetch)
/// response, which then follow their length prefixes as file parts.
pub fn encode_response_parts(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
    files: &FileRecords,
) -> Result<ResponseFrame, ProtocolError> {
    let fetch = match body {
        ResponseKind::Fetch(fetch) if !files.is_empty() => fetch,
        _ if files.is_empty() => return super::encode_response(api_key, version, correlation_id, body).map(Into::into),
        _ => return Err(malformed("file records in a response that is not a Fetch")),
    };
    // Tagged fields of the response and its topics are rare (potok sets none): such a response is written
    // whole, file ranges read in, rather than encoding every tagged field here.
    let tagged = !fetch.unknown_tagged_fields.is_empty()
        || (version >= 16 && !fetch.node_endpoints.is_empty())
        || fetch.responses.iter().any(|t| !t.unknown_tagged_fields.is_empty());
    if tagged {
        let mut whole = fetch.clone();
        files.materialize(&mut whole);
        return super::encode_response(api_key, version, correlation_id, &ResponseKind::Fetch(whole)).map(Into::into);
    }
    encode_fetch_parts(api_key.response_header_version(version), version, correlation_id, fetch, files)
}

/// Writes a length or count the way `version` does: an unsigned varint of `n + 1` in flexible versions, an
/// int32 before.
fn put_length(buf: &mut BytesMut, flexible: bool, n: usize) -> Result<(), ProtocolError> {
    if flexible {
        let mut n = u32::try_from(n + 1).map_err(malformed)?;
        while n >= 0x80 {
            buf.put_u8((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        buf.put_u8(n as u8);
    } else {
        buf.put_i32(i32::try_from(n).map_err(malformed)?);
    }
    Ok(())
}

/// Encodes `value` (a struct whose last fields are an empty array and, in flexible versions, no tagged fields)
/// and drops that tail: what is left are the fields before the array, encoded by the schema crate.
fn put_fields_before_array(
    buf: &mut BytesMut,
    value: &impl Encodable,
    version: i16,
    flexible: bool,
) -> Result<(), ProtocolError> {
    let start = buf.len();
    value.encode(buf, version).map_err(malformed)?;
    let tail: &[u8] = if flexible { &[1, 0] } else { &[0, 0, 0, 0] };
    if !buf[start..].ends_with(tail) {
        return Err(malformed("a struct's encoding does not end with its empty array"));
    }
    buf.truncate(buf.len() - tail.len());
    Ok(())
}

/// The Fetch response schema's top two levels (response, topic) are laid out here around fields the schema
/// crate encodes; each partition is encoded by the crate with empty records, whose empty length prefix is then
/// replaced by the file range's.
fn encode_fetch_parts(
    header_version: i16,
    version: i16,
    correlation_id: i32,
    fetch: &FetchResponse,
    files: &FileRecords,
) -> Result<ResponseFrame, ProtocolError> {
    let flexible = version >= 12;
    // The encoding of an empty records field and of a partition without tagged fields after it.
    let empty_records: &[u8] = if flexible { &[1, 0] } else { &[0, 0, 0, 0] };
    let mut parts = Vec::with_capacity(2 * files.len() + 1);
    let mut buf = BytesMut::with_capacity(256);
    buf.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, header_version)
        .map_err(malformed)?;
    let top = FetchResponse::default()
        .with_throttle_time_ms(fetch.throttle_time_ms)
        .with_error_code(fetch.error_code)
        .with_session_id(fetch.session_id);
    put_fields_before_array(&mut buf, &top, version, flexible)?;
    put_length(&mut buf, flexible, fetch.responses.len())?;
    for (t, topic) in fetch.responses.iter().enumerate() {
        let head = FetchableTopicResponse::default().with_topic(topic.topic.clone()).with_topic_id(topic.topic_id);
        put_fields_before_array(&mut buf, &head, version, flexible)?;
        put_length(&mut buf, flexible, topic.partitions.len())?;
        for (p, data) in topic.partitions.iter().enumerate() {
            let Some(slice) = files.get(t, p) else {
                data.encode(&mut buf, version).map_err(malformed)?;
                continue;
            };
            let plain = data.records.as_ref().is_some_and(Bytes::is_empty)
                && data.diverging_epoch == Default::default()
                && data.current_leader == Default::default()
                && data.snapshot_id == Default::default()
                && data.unknown_tagged_fields.is_empty();
            if !plain {
                return Err(malformed("a partition answered from a file has records or tagged fields of its own"));
            }
            data.encode(&mut buf, version).map_err(malformed)?;
            if !buf.ends_with(empty_records) {
                return Err(malformed("a partition's encoding does not end with its records"));
            }
            buf.truncate(buf.len() - empty_records.len());
            put_length(&mut buf, flexible, slice.len)?;
            parts.push(FramePart::Bytes(buf.split().freeze()));
            parts.push(FramePart::File(slice.clone()));
            if flexible {
                // The partition's tagged fields: none.
                buf.put_u8(0);
            }
        }
        if flexible {
            // The topic's tagged fields: none (a response with some is encoded whole).
            buf.put_u8(0);
        }
    }
    if flexible {
        // The response's tagged fields: none (as for topics).
        buf.put_u8(0);
    }
    if !buf.is_empty() {
        parts.push(FramePart::Bytes(buf.freeze()));
    }
    let mut frame = ResponseFrame { parts };
    let size = i32::try_from(frame.len() - 4).map_err(malformed)?;
    // The first part holds the size prefix; it is small (the header and the fields before the first records).
    if let Some(FramePart::Bytes(first)) = frame.parts.first_mut() {
        let mut with_size = BytesMut::from(&first[..]);
        with_size[..4].copy_from_slice(&size.to_be_bytes());
        *first = with_size.freeze();
    }
    Ok(frame)
}
