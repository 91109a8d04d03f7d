//! The record schemas Kafka uses in `__consumer_offsets`, so potok's offsets topic reads like Kafka's
//! (`kafka-console-consumer --formatter ...OffsetsMessageFormatter` decodes it):
//!
//! - OffsetCommitKey (key version 1): group string, topic string, partition int32.
//!   OffsetCommitValue (version 3): offset int64, leaderEpoch int32, metadata string, commitTimestamp int64.
//! - GroupMetadataKey (key version 2): group string.
//!   GroupMetadataValue (version 3): protocolType string, generation int32, protocol nullable string, leader
//!   nullable string, currentStateTimestamp int64, members [memberId string, groupInstanceId nullable string,
//!   clientId string, clientHost string, rebalanceTimeout int32, sessionTimeout int32, subscription bytes,
//!   assignment bytes].
//!
//! A null value (tombstone) deletes the key. Decoding checks every length against what is left.

use bytes::{BufMut, Bytes};

/// Why a stored record could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad __consumer_offsets record: {0}")]
pub struct SchemaError(pub &'static str);

/// A decoded key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetsKey {
    Offset { group: String, topic: String, partition: i32 },
    Group { group: String },
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

/// One member as the group metadata record stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// A group's membership as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub current_state_timestamp: i64,
    pub members: Vec<StoredMember>,
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.put_i16(s.len() as i16);
    buf.put_slice(s.as_bytes());
}

fn put_nullable_str(buf: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_str(buf, s),
        None => buf.put_i16(-1),
    }
}

fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    buf.put_i32(b.len() as i32);
    buf.put_slice(b);
}

pub fn offset_key(group: &str, topic: &str, partition: i32) -> Vec<u8> {
    let mut buf = Vec::with_capacity(8 + group.len() + topic.len());
    buf.put_i16(1);
    put_str(&mut buf, group);
    put_str(&mut buf, topic);
    buf.put_i32(partition);
    buf
}

pub fn group_key(group: &str) -> Vec<u8> {
    let mut buf = Vec::with_capacity(4 + group.len());
    buf.put_i16(2);
    put_str(&mut buf, group);
    buf
}

pub fn offset_value(v: &OffsetValue) -> Vec<u8> {
    let mut buf = Vec::with_capacity(32 + v.metadata.len());
    buf.put_i16(3);
    buf.put_i64(v.offset);
    buf.put_i32(v.leader_epoch);
    put_str(&mut buf, &v.metadata);
    buf.put_i64(v.commit_timestamp);
    buf
}

pub fn group_value(v: &GroupValue) -> Vec<u8> {
    let mut buf = Vec::with_capacity(64);
    buf.put_i16(3);
    put_str(&mut buf, &v.protocol_type);
    buf.put_i32(v.generation);
    put_nullable_str(&mut buf, v.protocol.as_deref());
    put_nullable_str(&mut buf, v.leader.as_deref());
    buf.put_i64(v.current_state_timestamp);
    buf.put_i32(v.members.len() as i32);
    for m in &v.members {
        put_str(&mut buf, &m.member_id);
        put_nullable_str(&mut buf, m.group_instance_id.as_deref());
        put_str(&mut buf, &m.client_id);
        put_str(&mut buf, &m.client_host);
        buf.put_i32(m.rebalance_timeout_ms);
        buf.put_i32(m.session_timeout_ms);
        put_bytes(&mut buf, &m.subscription);
        put_bytes(&mut buf, &m.assignment);
    }
    buf
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SchemaError> {
        if n > self.0.len() {
            return Err(SchemaError("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn i16(&mut self) -> Result<i16, SchemaError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Result<i32, SchemaError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Result<i64, SchemaError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
    fn nullable_str(&mut self) -> Result<Option<String>, SchemaError> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        let b = self.take(len as usize)?;
        String::from_utf8(b.to_vec()).map(Some).map_err(|_| SchemaError("string is not UTF-8"))
    }
    fn str(&mut self) -> Result<String, SchemaError> {
        self.nullable_str()?.ok_or(SchemaError("null string"))
    }
    fn bytes(&mut self) -> Result<Bytes, SchemaError> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(Bytes::new());
        }
        Ok(Bytes::copy_from_slice(self.take(len as usize)?))
    }
}

pub fn decode_key(key: &[u8]) -> Result<OffsetsKey, SchemaError> {
    let mut r = Reader(key);
    match r.i16()? {
        0 | 1 => Ok(OffsetsKey::Offset { group: r.str()?, topic: r.str()?, partition: r.i32()? }),
        2 => Ok(OffsetsKey::Group { group: r.str()? }),
        _ => Err(SchemaError("unknown key version")),
    }
}

pub fn decode_offset_value(value: &[u8]) -> Result<OffsetValue, SchemaError> {
    let mut r = Reader(value);
    let version = r.i16()?;
    let offset = r.i64()?;
    let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
    let metadata = r.str()?;
    let commit_timestamp = r.i64()?;
    Ok(OffsetValue { offset, leader_epoch, metadata, commit_timestamp })
}

pub fn decode_group_value(value: &[u8]) -> Result<GroupValue, SchemaError> {
    let mut r = Reader(value);
    let version = r.i16()?;
    if !(2..=3).contains(&version) {
        return Err(SchemaError("unsupported group metadata version"));
    }
    let protocol_type = r.str()?;
    let generation = r.i32()?;
    let protocol = r.nullable_str()?;
    let leader = r.nullable_str()?;
    let current_state_timestamp = r.i64()?;
    let count = r.i32()?;
    if count < 0 || count as usize > r.0.len() {
        return Err(SchemaError("bad member count"));
    }
    let mut members = Vec::with_capacity(count as usize);
    for _ in 0..count {
        members.push(StoredMember {
            member_id: r.str()?,
            group_instance_id: if version >= 3 { r.nullable_str()? } else { None },
            client_id: r.str()?,
            client_host: r.str()?,
            rebalance_timeout_ms: r.i32()?,
            session_timeout_ms: r.i32()?,
            subscription: r.bytes()?,
            assignment: r.bytes()?,
        });
    }
    Ok(GroupValue { protocol_type, generation, protocol, leader, current_state_timestamp, members })
}

/// The topics a consumer subscribes to, from its ConsumerProtocolSubscription metadata (version i16, then an
/// array of topic names). Unreadable metadata yields no topics.
pub fn subscribed_topics(subscription: &[u8]) -> Vec<String> {
    let mut r = Reader(subscription);
    let read = |r: &mut Reader<'_>| -> Result<Vec<String>, SchemaError> {
        r.i16()?;
        let n = r.i32()?;
        if n < 0 || n as usize > r.0.len() {
            return Err(SchemaError("bad topic count"));
        }
        (0..n).map(|_| r.str()).collect()
    };
    read(&mut r).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_round_trip() {
        let k = offset_key("g", "t", 3);
        assert_eq!(decode_key(&k).unwrap(), OffsetsKey::Offset { group: "g".into(), topic: "t".into(), partition: 3 });
        assert_eq!(decode_key(&group_key("g")).unwrap(), OffsetsKey::Group { group: "g".into() });
        let v = OffsetValue { offset: 42, leader_epoch: 1, metadata: "m".into(), commit_timestamp: 7 };
        assert_eq!(decode_offset_value(&offset_value(&v)).unwrap(), v);
        let g = GroupValue {
            protocol_type: "consumer".into(),
            generation: 5,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            current_state_timestamp: 9,
            members: vec![StoredMember {
                member_id: "m1".into(),
                group_instance_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300000,
                session_timeout_ms: 45000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"asg"),
            }],
        };
        assert_eq!(decode_group_value(&group_value(&g)).unwrap(), g);
        // Kafka's bytes for OffsetCommitKey v1 ("g", "t", 3).
        assert_eq!(k, vec![0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]);
    }

    #[test]
    fn damaged_records_are_errors() {
        assert!(decode_key(&[0, 1, 0, 9, b'g']).is_err());
        assert!(decode_group_value(&[
            0, 3, 0, 1, b'c', 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0, 0, 0
        ])
        .is_err());
        assert!(subscribed_topics(&[0, 1, 0x7f, 0, 0, 0]).is_empty());
    }
}
