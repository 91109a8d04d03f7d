//! The flat record layout hosts exchange with the engine, so that a batch of records costs a few boundary
//! crossings instead of several per record (napi calls in Node, JNI calls in Java, copies into wasm memory).
//!
//! Going out (a send): `data` holds every key, value, header key and header value back to back, `topics` the
//! distinct topic names, and `layout` describes each record as `[topic index, partition (-1: none), key length
//! (-1: null), value length (-1: null), header count, then per header: key length, value length (-1: null)]`;
//! `timestamps` has one entry per record, [`NO_TIMESTAMP`] for "let the producer stamp it". Keys and values
//! become slices of the one `Bytes` that owns `data`, so nothing is copied.
//!
//! Coming back (a poll): the same, with `layout` per record `[topic index, partition, key length, value length,
//! timestamp type (0 create, 1 log append), leader epoch (-1: none), header count, then per header: key length,
//! value length]` and offsets and timestamps in their own `i64` arrays. Offsets stay 64-bit integers all the way:
//! a host hands them on as its exact integer type or as decimal strings, never as a double (which loses
//! offsets above 2^53).

use bytes::Bytes;

use super::HostError;

/// A send record's timestamp slot when the producer is to stamp it.
pub const NO_TIMESTAMP: i64 = -1;

/// Fields per record in a send layout before its headers, and per header.
pub const SEND_FIELDS: usize = 5;
/// Fields per record in a poll layout before its headers.
pub const POLL_FIELDS: usize = 7;
pub const HEADER_FIELDS: usize = 2;

/// One record as a send lays it out; `topic` indexes the batch's topic list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlatRecord {
    pub topic: usize,
    pub partition: Option<i32>,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub timestamp: Option<i64>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// Reads a packed send, checking every index and length against what is actually there.
pub fn unpack_send(
    topic_count: usize,
    layout: &[i32],
    timestamps: &[i64],
    data: Bytes,
) -> Result<Vec<FlatRecord>, HostError> {
    let invalid = |message: &str| HostError::invalid_argument(message);
    let mut records = Vec::with_capacity(timestamps.len().min(layout.len() / SEND_FIELDS));
    let mut at = 0usize;
    let mut fields = layout.iter().copied();
    let mut next = |what: &str| fields.next().ok_or_else(|| invalid(&format!("packed batch ends before {what}")));
    let mut slice = |length: i32| -> Result<Option<Bytes>, HostError> {
        let Ok(length) = usize::try_from(length) else { return Ok(None) };
        let end = at.checked_add(length).filter(|&end| end <= data.len());
        let end = end.ok_or_else(|| invalid("packed batch lengths exceed its data"))?;
        let bytes = data.slice(at..end);
        at = end;
        Ok(Some(bytes))
    };
    for &timestamp in timestamps {
        let topic_index = next("a topic index")?;
        let topic = usize::try_from(topic_index)
            .ok()
            .filter(|&i| i < topic_count)
            .ok_or_else(|| invalid(&format!("topic index {topic_index} out of range")))?;
        let partition = next("a partition")?;
        let (key_length, value_length, header_count) = (next("a key")?, next("a value")?, next("headers")?);
        let key = slice(key_length)?;
        let value = slice(value_length)?;
        // Each header takes two layout fields, so the count is bounded by what the layout holds.
        let mut headers = Vec::with_capacity(usize::try_from(header_count).unwrap_or(0).min(layout.len() / 2));
        for _ in 0..header_count.max(0) {
            let (name_length, value_length) = (next("a header key")?, next("a header value")?);
            let name = slice(name_length)?.unwrap_or_default();
            let name = String::from_utf8(name.to_vec()).map_err(|_| invalid("a header key is not UTF-8"))?;
            headers.push((name, slice(value_length)?));
        }
        records.push(FlatRecord {
            topic,
            partition: (partition >= 0).then_some(partition),
            key,
            value,
            timestamp: (timestamp != NO_TIMESTAMP).then_some(timestamp),
            headers,
        });
    }
    if fields.next().is_some() || at != data.len() {
        return Err(invalid("packed batch has trailing data"));
    }
    Ok(records)
}

/// Records of a poll, packed (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackedRecords {
    pub topics: Vec<String>,
    pub layout: Vec<i32>,
    pub offsets: Vec<i64>,
    pub timestamps: Vec<i64>,
    pub data: Vec<u8>,
}

/// A key's or value's length in the layout (-1 for null); only the native packer uses it.
#[cfg(feature = "native")]
fn length(b: &Option<Bytes>) -> i32 {
    b.as_ref().map_or(-1, |b| i32::try_from(b.len()).unwrap_or(i32::MAX))
}

#[cfg(feature = "native")]
/// Packs polled records (see the module docs).
pub fn pack_poll(records: Vec<crate::client::consumer::ConsumerRecord>) -> PackedRecords {
    use crate::record::TimestampType;
    let size: usize = records
        .iter()
        .map(|r| {
            let headers: usize = r.headers.iter().map(|(k, v)| k.len() + v.as_ref().map_or(0, |v| v.len())).sum();
            r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len()) + headers
        })
        .sum();
    let mut packed = PackedRecords {
        topics: Vec::new(),
        layout: Vec::with_capacity(records.len() * POLL_FIELDS),
        offsets: Vec::with_capacity(records.len()),
        timestamps: Vec::with_capacity(records.len()),
        data: Vec::with_capacity(size),
    };
    for r in records {
        let topic_index = match packed.topics.iter().position(|t| *t == r.topic) {
            Some(i) => i,
            None => {
                packed.topics.push(r.topic.clone());
                packed.topics.len() - 1
            }
        };
        packed.layout.extend_from_slice(&[
            i32::try_from(topic_index).unwrap_or(i32::MAX),
            r.partition,
            length(&r.key),
            length(&r.value),
            i32::from(r.timestamp_type == TimestampType::LogAppendTime),
            r.leader_epoch.unwrap_or(-1),
            i32::try_from(r.headers.len()).unwrap_or(i32::MAX),
        ]);
        for b in [&r.key, &r.value].into_iter().flatten() {
            packed.data.extend_from_slice(b);
        }
        for (name, value) in &r.headers {
            packed.layout.extend_from_slice(&[i32::try_from(name.len()).unwrap_or(i32::MAX), length(value)]);
            packed.data.extend_from_slice(name.as_bytes());
            if let Some(v) = value {
                packed.data.extend_from_slice(v);
            }
        }
        packed.offsets.push(r.offset);
        packed.timestamps.push(r.timestamp);
    }
    packed
}

/// An offset a host passed as decimal text (kafkajs's convention: offsets are strings), e.g. `"9007199254740993"`.
pub fn parse_offset(text: &str) -> Result<i64, HostError> {
    text.trim()
        .parse()
        .map_err(|_| HostError::invalid_argument(format!("offset must be a 64-bit integer, got {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_unpacks_into_slices_of_one_buffer() {
        // Record 0: topic 0, no partition, key "k", value "vv", one header "h" = null; record 1: topic 1,
        // partition 2, null key, empty value, no headers.
        let layout = [0, -1, 1, 2, 1, 1, -1, 1, 2, -1, 0, 0];
        let data = Bytes::from_static(b"kvvh");
        let records =
            unpack_send(2, &layout, &[NO_TIMESTAMP, 1_700_000_000_000], data).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(records[0].key.as_deref(), Some(&b"k"[..]));
        assert_eq!(records[0].value.as_deref(), Some(&b"vv"[..]));
        assert_eq!(records[0].headers, [("h".to_string(), None)]);
        assert_eq!(records[0].timestamp, None);
        assert_eq!((records[1].topic, records[1].partition, records[1].key.clone()), (1, Some(2), None));
        assert_eq!(records[1].value.as_deref(), Some(&b""[..]));
        assert_eq!(records[1].timestamp, Some(1_700_000_000_000));
    }

    #[test]
    fn lying_layouts_are_argument_errors() {
        let data = || Bytes::from_static(b"ab");
        let kind = |r: Result<Vec<FlatRecord>, HostError>| r.err().map(|e| e.kind);
        let invalid = Some(super::super::ErrorKind::InvalidArgument);
        assert_eq!(kind(unpack_send(1, &[0, -1, 5, -1, 0], &[NO_TIMESTAMP], data())), invalid, "length past data");
        assert_eq!(kind(unpack_send(1, &[3, -1, 1, 1, 0], &[NO_TIMESTAMP], data())), invalid, "topic index");
        assert_eq!(kind(unpack_send(1, &[0, -1, 1, 1, i32::MAX], &[NO_TIMESTAMP], data())), invalid, "headers");
        assert_eq!(kind(unpack_send(1, &[0, -1, 1, 0, 0], &[NO_TIMESTAMP], data())), invalid, "trailing data");
        assert_eq!(kind(unpack_send(1, &[0, -1], &[NO_TIMESTAMP], data())), invalid, "short layout");
    }

    #[test]
    fn offsets_parse_exactly_above_two_to_the_53() {
        assert_eq!(parse_offset("9007199254740993").ok(), Some(9_007_199_254_740_993));
        assert_eq!(parse_offset("-1").ok(), Some(-1));
        assert!(parse_offset("1.5").is_err());
        assert!(parse_offset("99999999999999999999").is_err());
    }
}
