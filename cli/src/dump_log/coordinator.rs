//! `--offsets-decoder` and `--transaction-log-decoder`: the records of `__consumer_offsets` and
//! `__transaction_state` as the JSON Kafka's DumpLogSegments prints (its generated JSON converters: fields in
//! schema order, only those of the record's version, bytes as base64, tagged fields only when not default).
//!
//! The decoders read Kafka's schemas version by version, including the flexible versions (compact lengths and
//! tagged fields) that potok does not write itself but Apache Kafka may, so files from either read alike.
//! Every length is checked against what is left before anything is taken.

use base64::Engine;

/// A JSON text being built, field by field, in the order Kafka's converters write them.
#[derive(Debug, Default)]
struct Obj(Vec<String>);

impl Obj {
    fn field(&mut self, name: &str, json: String) -> &mut Obj {
        self.0.push(format!("{}:{json}", quote(name)));
        self
    }

    fn done(&self) -> String {
        format!("{{{}}}", self.0.join(","))
    }
}

/// A JSON string literal (escaped as Jackson escapes: `"`, `\` and control characters).
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn nullable_quote(text: Option<&str>) -> String {
    text.map_or_else(|| "null".into(), quote)
}

fn base64(bytes: &[u8]) -> String {
    quote(&base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn list<T>(items: &[T], each: impl Fn(&T) -> String) -> String {
    format!("[{}]", items.iter().map(each).collect::<Vec<_>>().join(","))
}

/// Why a record could not be read (Kafka prints its exception's message in the same place).
#[derive(Debug)]
pub struct DecodeError(String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Result<T> = std::result::Result<T, DecodeError>;

/// Kafka's protocol primitives over a byte slice; `flexible` switches to compact lengths.
struct Reader<'a> {
    buf: &'a [u8],
    flexible: bool,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, flexible: false }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.buf.len() {
            return Err(DecodeError(format!("record truncated: {n} bytes wanted, {} left", self.buf.len())));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn i8(&mut self) -> Result<i8> {
        Ok(self.take(1)?[0] as i8)
    }

    fn i16(&mut self) -> Result<i16> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Result<i32> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i64(&mut self) -> Result<i64> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(i64::from_be_bytes(a))
    }

    fn varuint(&mut self) -> Result<u32> {
        let mut value = 0u32;
        for shift in (0..35).step_by(7) {
            let b = self.take(1)?[0];
            value |= u32::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError("varint is too long".into()))
    }

    /// A length: i16 (strings) or i32 (bytes, arrays), or a compact unsigned varint minus one; -1 is null.
    fn length(&mut self, wide: bool) -> Result<i64> {
        if self.flexible {
            return Ok(i64::from(self.varuint()?) - 1);
        }
        Ok(if wide { i64::from(self.i32()?) } else { i64::from(self.i16()?) })
    }

    fn nullable_string(&mut self) -> Result<Option<String>> {
        let len = self.length(false)?;
        if len < 0 {
            return Ok(None);
        }
        let bytes = self.take(len as usize)?;
        String::from_utf8(bytes.to_vec()).map(Some).map_err(|_| DecodeError("string is not UTF-8".into()))
    }

    fn string(&mut self) -> Result<String> {
        self.nullable_string()?.ok_or_else(|| DecodeError("non-nullable field was serialized as null".into()))
    }

    fn nullable_bytes(&mut self) -> Result<Option<&'a [u8]>> {
        let len = self.length(true)?;
        if len < 0 {
            return Ok(None);
        }
        self.take(len as usize).map(Some)
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        self.nullable_bytes()?.ok_or_else(|| DecodeError("non-nullable field was serialized as null".into()))
    }

    /// An array's element count (-1: null), checked against the bytes left (every element takes one at least).
    fn count(&mut self) -> Result<Option<usize>> {
        let len = self.length(true)?;
        if len < 0 {
            return Ok(None);
        }
        if len as usize > self.buf.len() {
            return Err(DecodeError(format!("array of {len} elements does not fit in {} bytes", self.buf.len())));
        }
        Ok(Some(len as usize))
    }

    fn array<T>(&mut self, mut each: impl FnMut(&mut Reader<'a>) -> Result<T>) -> Result<Option<Vec<T>>> {
        let Some(n) = self.count()? else { return Ok(None) };
        (0..n).map(|_| each(self)).collect::<Result<Vec<T>>>().map(Some)
    }

    fn int32s(&mut self) -> Result<Vec<i32>> {
        self.array(Reader::i32)?.ok_or_else(|| DecodeError("non-nullable array was serialized as null".into()))
    }

    /// The tagged fields of a flexible struct, as (tag, bytes).
    fn tagged_fields(&mut self) -> Result<Vec<(u32, &'a [u8])>> {
        if !self.flexible {
            return Ok(Vec::new());
        }
        let n = self.varuint()?;
        let mut fields = Vec::new();
        for _ in 0..n {
            let tag = self.varuint()?;
            let size = self.varuint()? as usize;
            fields.push((tag, self.take(size)?));
        }
        Ok(fields)
    }
}

/// A `{topic, partitions}` entry of the consumer protocol.
fn topic_partitions(r: &mut Reader<'_>) -> Result<String> {
    let topic = r.string()?;
    let partitions = r.int32s()?;
    Ok(Obj::default().field("topic", quote(&topic)).field("partitions", list(&partitions, i32::to_string)).done())
}

/// ConsumerProtocolSubscription (versions 0-3) as JSON, or `None` when the bytes do not decode.
fn subscription_json(bytes: &[u8]) -> Option<String> {
    let read = || -> Result<String> {
        let mut r = Reader::new(bytes);
        let version = r.i16()?;
        if !(0..=3).contains(&version) {
            return Err(DecodeError(format!("unsupported version {version}")));
        }
        let topics = r.array(Reader::string)?.ok_or_else(|| DecodeError("null topics".into()))?;
        let mut obj = Obj::default();
        obj.field("topics", list(&topics, |t| quote(t)));
        let user_data = r.nullable_bytes()?;
        obj.field("userData", user_data.map_or_else(|| "null".into(), base64));
        if version >= 1 {
            let owned = r.array(topic_partitions)?.ok_or_else(|| DecodeError("null ownedPartitions".into()))?;
            obj.field("ownedPartitions", format!("[{}]", owned.join(",")));
        }
        if version >= 2 {
            obj.field("generationId", r.i32()?.to_string());
        }
        if version >= 3 {
            obj.field("rackId", nullable_quote(r.nullable_string()?.as_deref()));
        }
        Ok(obj.done())
    };
    read().ok()
}

/// ConsumerProtocolAssignment (versions 0-3) as JSON, or `None` when the bytes do not decode.
fn assignment_json(bytes: &[u8]) -> Option<String> {
    let read = || -> Result<String> {
        let mut r = Reader::new(bytes);
        let version = r.i16()?;
        if !(0..=3).contains(&version) {
            return Err(DecodeError(format!("unsupported version {version}")));
        }
        let assigned = r.array(topic_partitions)?.ok_or_else(|| DecodeError("null assignedPartitions".into()))?;
        let user_data = r.nullable_bytes()?;
        Ok(Obj::default()
            .field("assignedPartitions", format!("[{}]", assigned.join(",")))
            .field("userData", user_data.map_or_else(|| "null".into(), base64))
            .done())
    };
    read().ok()
}

/// OffsetCommitValue (versions 0-4).
fn offset_commit_value(r: &mut Reader<'_>, version: i16) -> Result<String> {
    if !(0..=4).contains(&version) {
        return Err(DecodeError(format!("Unknown offset message version: {version}")));
    }
    r.flexible = version >= 4;
    let mut obj = Obj::default();
    obj.field("offset", r.i64()?.to_string());
    if version >= 3 {
        obj.field("leaderEpoch", r.i32()?.to_string());
    }
    obj.field("metadata", quote(&r.string()?));
    obj.field("commitTimestamp", r.i64()?.to_string());
    if version == 1 {
        obj.field("expireTimestamp", r.i64()?.to_string());
    }
    r.tagged_fields()?;
    Ok(obj.done())
}

/// GroupMetadataValue (versions 0-4); the members' subscription and assignment decoded when the group uses
/// the consumer protocol (kept as base64 when they do not decode, as Kafka does).
fn group_metadata_value(r: &mut Reader<'_>, version: i16) -> Result<String> {
    if !(0..=4).contains(&version) {
        return Err(DecodeError(format!("Unknown group metadata message version: {version}")));
    }
    r.flexible = version >= 4;
    let protocol_type = r.string()?;
    let consumer = protocol_type == "consumer";
    let mut obj = Obj::default();
    obj.field("protocolType", quote(&protocol_type));
    obj.field("generation", r.i32()?.to_string());
    obj.field("protocol", nullable_quote(r.nullable_string()?.as_deref()));
    obj.field("leader", nullable_quote(r.nullable_string()?.as_deref()));
    if version >= 2 {
        obj.field("currentStateTimestamp", r.i64()?.to_string());
    }
    let members = r
        .array(|r| {
            let mut m = Obj::default();
            m.field("memberId", quote(&r.string()?));
            if version >= 3 {
                m.field("groupInstanceId", nullable_quote(r.nullable_string()?.as_deref()));
            }
            m.field("clientId", quote(&r.string()?));
            m.field("clientHost", quote(&r.string()?));
            if version >= 1 {
                m.field("rebalanceTimeout", r.i32()?.to_string());
            }
            m.field("sessionTimeout", r.i32()?.to_string());
            let subscription = r.bytes()?;
            let assignment = r.bytes()?;
            let decoded = |bytes: &[u8], decode: fn(&[u8]) -> Option<String>| {
                consumer.then(|| decode(bytes)).flatten().unwrap_or_else(|| base64(bytes))
            };
            m.field("subscription", decoded(subscription, subscription_json));
            m.field("assignment", decoded(assignment, assignment_json));
            r.tagged_fields()?;
            Ok(m.done())
        })?
        .ok_or_else(|| DecodeError("null members".into()))?;
    obj.field("members", format!("[{}]", members.join(",")));
    r.tagged_fields()?;
    Ok(obj.done())
}

/// `--offsets-decoder`: (key, payload) of a `__consumer_offsets` record as Kafka's OffsetsMessageParser
/// prints them. Record types other than offset commits (0, 1) and classic group metadata (2) are reported as
/// unknown: potok writes no others.
pub fn offsets(offset: i64, key: Option<&[u8]>, value: Option<&[u8]>) -> (Option<String>, Option<String>) {
    let Some(key) = key else {
        return (
            Some(format!(
                "Failed to decode message at offset {offset} using offset topic decoder (message had a missing key)"
            )),
            None,
        );
    };
    let parse = || -> Result<(Option<String>, Option<String>)> {
        let mut k = Reader::new(key);
        let record_type = k.i16()?;
        let key_json = match record_type {
            0 | 1 => {
                let group = k.string()?;
                let topic = k.string()?;
                let partition = k.i32()?;
                Obj::default()
                    .field("group", quote(&group))
                    .field("topic", quote(&topic))
                    .field("partition", partition.to_string())
                    .done()
            }
            2 => Obj::default().field("group", quote(&k.string()?)).done(),
            other => return Ok((Some(format!("Unknown record type {other} at offset {offset}, skipping.")), None)),
        };
        let key_text = Obj::default().field("type", quote(&record_type.to_string())).field("data", key_json).done();
        let Some(value) = value else { return Ok((Some(key_text), Some("<DELETE>".into()))) };
        let mut v = Reader::new(value);
        let version = v.i16()?;
        let data = if record_type == 2 {
            group_metadata_value(&mut v, version)?
        } else {
            offset_commit_value(&mut v, version)?
        };
        let value_text = Obj::default().field("version", quote(&version.to_string())).field("data", data).done();
        Ok((Some(key_text), Some(value_text)))
    };
    parse().unwrap_or_else(|e| (Some(format!("Error at offset {offset}, skipping. {e}")), None))
}

/// TransactionLogValue (versions 0-1): tagged fields (previousProducerId, nextProducerId,
/// clientTransactionVersion) are written only when they differ from their defaults, in schema order.
fn transaction_log_value(r: &mut Reader<'_>, version: i16) -> Result<String> {
    r.flexible = version >= 1;
    let producer_id = r.i64()?;
    let producer_epoch = r.i16()?;
    let timeout_ms = r.i32()?;
    let status = r.i8()?;
    let partitions = r.array(|r| {
        let topic = r.string()?;
        let ids = r.int32s()?;
        r.tagged_fields()?;
        Ok(Obj::default().field("topic", quote(&topic)).field("partitionIds", list(&ids, i32::to_string)).done())
    })?;
    let last_update_ms = r.i64()?;
    let start_ms = r.i64()?;
    let (mut previous_producer_id, mut next_producer_id, mut client_version) = (-1i64, -1i64, 0i16);
    for (tag, bytes) in r.tagged_fields()? {
        let mut t = Reader::new(bytes);
        match tag {
            0 => previous_producer_id = t.i64()?,
            1 => next_producer_id = t.i64()?,
            2 => client_version = t.i16()?,
            _ => {}
        }
    }
    let mut obj = Obj::default();
    obj.field("producerId", producer_id.to_string());
    if version >= 1 && previous_producer_id != -1 {
        obj.field("previousProducerId", previous_producer_id.to_string());
    }
    if version >= 1 && next_producer_id != -1 {
        obj.field("nextProducerId", next_producer_id.to_string());
    }
    obj.field("producerEpoch", producer_epoch.to_string());
    obj.field("transactionTimeoutMs", timeout_ms.to_string());
    obj.field("transactionStatus", status.to_string());
    obj.field("transactionPartitions", partitions.map_or_else(|| "null".into(), |p| format!("[{}]", p.join(","))));
    obj.field("transactionLastUpdateTimestampMs", last_update_ms.to_string());
    obj.field("transactionStartTimestampMs", start_ms.to_string());
    if version >= 1 && client_version != 0 {
        obj.field("clientTransactionVersion", client_version.to_string());
    }
    Ok(obj.done())
}

/// `--transaction-log-decoder`: (key, payload) of a `__transaction_state` record as Kafka's
/// TransactionLogMessageParser prints them.
pub fn transaction_log(offset: i64, key: Option<&[u8]>, value: Option<&[u8]>) -> (Option<String>, Option<String>) {
    let parse = || -> Result<(Option<String>, Option<String>)> {
        let mut k = Reader::new(key.ok_or_else(|| DecodeError("the record has no key".into()))?);
        let key_version = k.i16()?;
        let key_data = match key_version {
            0 => Obj::default().field("transactionalId", quote(&k.string()?)).done(),
            _ => quote("unknown"),
        };
        let key_text = Obj::default().field("type", quote(&key_version.to_string())).field("data", key_data).done();
        let Some(value) = value else { return Ok((Some(key_text), Some("<DELETE>".into()))) };
        let mut v = Reader::new(value);
        let version = v.i16()?;
        let data = match version {
            0 | 1 => transaction_log_value(&mut v, version)?,
            _ => quote("unknown"),
        };
        let value_text = Obj::default().field("version", quote(&version.to_string())).field("data", data).done();
        Ok((Some(key_text), Some(value_text)))
    };
    parse().unwrap_or_else(|e| (Some(format!("Error at offset {offset}, skipping. {e}")), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_records_read_as_kafka_prints_them() {
        let key = potok::coordinator::offsets_schema::offset_key("g", "t", 3);
        let value =
            potok::coordinator::offsets_schema::offset_value(&potok::coordinator::offsets_schema::OffsetValue {
                offset: 50,
                leader_epoch: 0,
                metadata: "m\"x".into(),
                commit_timestamp: 7,
            });
        let (k, v) = offsets(1, Some(&key), Some(&value));
        assert_eq!(k.unwrap(), r#"{"type":"1","data":{"group":"g","topic":"t","partition":3}}"#);
        assert_eq!(
            v.unwrap(),
            r#"{"version":"3","data":{"offset":50,"leaderEpoch":0,"metadata":"m\"x","commitTimestamp":7}}"#
        );
        let (_, v) = offsets(1, Some(&key), None);
        assert_eq!(v.unwrap(), "<DELETE>");
        let (k, v) = offsets(9, Some(&[0, 7, 0, 0]), Some(b"x"));
        assert_eq!(k.unwrap(), "Unknown record type 7 at offset 9, skipping.");
        assert!(v.is_none());
        let (k, _) = offsets(9, Some(&[0, 1, 0, 9, b'g']), None);
        assert!(k.unwrap().starts_with("Error at offset 9, skipping. "));
    }

    #[test]
    fn consumer_protocol_members_are_decoded() {
        // Subscription v1 (topics [t], no user data, owned t:[0]); assignment v0 (t:[0, 1], empty user data).
        let subscription =
            [0, 1, 0, 0, 0, 1, 0, 1, b't', 255, 255, 255, 255, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(
            subscription_json(&subscription).unwrap(),
            r#"{"topics":["t"],"userData":null,"ownedPartitions":[{"topic":"t","partitions":[0]}]}"#
        );
        let assignment = [0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(
            assignment_json(&assignment).unwrap(),
            r#"{"assignedPartitions":[{"topic":"t","partitions":[0,1]}],"userData":""}"#
        );
        assert!(assignment_json(&assignment[..10]).is_none());
    }
}
