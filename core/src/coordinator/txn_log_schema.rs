//! The record schemas Kafka uses in `__transaction_state`, so potok's transaction log reads like Kafka's
//! (`kafka-dump-log --transaction-log-decoder` decodes it):
//!
//! - TransactionLogKey (version 0): transactionalId string.
//! - TransactionLogValue (version 0, what Kafka writes below transaction.version 2): producerId int64,
//!   producerEpoch int16, transactionTimeoutMs int32, transactionStatus int8, transactionPartitions nullable
//!   array of [topic string, partitionIds array of int32] (null in the Empty state), lastUpdateTimestampMs int64,
//!   startTimestampMs int64. Version 1 (flexible: compact strings and arrays, tagged fields) is read too.
//!
//! A null value (tombstone) deletes the transactional id. Decoding checks every length against what is left.

use std::collections::BTreeSet;

use bytes::BufMut;

use super::transaction::{TxnMetadata, TxnState};

/// Why a stored record could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad __transaction_state record: {0}")]
pub struct TxnSchemaError(pub &'static str);

pub fn key(transactional_id: &str) -> Vec<u8> {
    let mut buf = Vec::with_capacity(4 + transactional_id.len());
    buf.put_i16(0);
    buf.put_i16(transactional_id.len() as i16);
    buf.put_slice(transactional_id.as_bytes());
    buf
}

pub fn value(m: &TxnMetadata) -> Vec<u8> {
    let mut buf = Vec::with_capacity(64);
    buf.put_i16(0);
    buf.put_i64(m.producer_id);
    buf.put_i16(m.producer_epoch);
    buf.put_i32(m.timeout_ms);
    buf.put_i8(m.state.id());
    if m.state == TxnState::Empty {
        buf.put_i32(-1);
    } else {
        let topics: BTreeSet<&str> = m.partitions.iter().map(|(t, _)| t.as_str()).collect();
        buf.put_i32(topics.len() as i32);
        for topic in topics {
            buf.put_i16(topic.len() as i16);
            buf.put_slice(topic.as_bytes());
            let ids: Vec<i32> = m.partitions.iter().filter(|(t, _)| t == topic).map(|(_, p)| *p).collect();
            buf.put_i32(ids.len() as i32);
            for p in ids {
                buf.put_i32(p);
            }
        }
    }
    buf.put_i64(m.last_update_ms);
    buf.put_i64(m.start_ms);
    buf
}

struct Reader<'a> {
    buf: &'a [u8],
    flexible: bool,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TxnSchemaError> {
        if n > self.buf.len() {
            return Err(TxnSchemaError("truncated"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn i8(&mut self) -> Result<i8, TxnSchemaError> {
        Ok(self.take(1)?[0] as i8)
    }
    fn i16(&mut self) -> Result<i16, TxnSchemaError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Result<i32, TxnSchemaError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Result<i64, TxnSchemaError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(i64::from_be_bytes(a))
    }
    fn uvarint(&mut self) -> Result<u32, TxnSchemaError> {
        let mut value = 0u32;
        for shift in (0..35).step_by(7) {
            let b = self.take(1)?[0];
            value |= u32::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(TxnSchemaError("bad varint"))
    }
    /// An array or string length: -1 for null. Compact lengths (flexible versions) are stored plus one.
    fn len(&mut self, classic_i16: bool) -> Result<i64, TxnSchemaError> {
        if self.flexible {
            Ok(i64::from(self.uvarint()?) - 1)
        } else if classic_i16 {
            Ok(i64::from(self.i16()?))
        } else {
            Ok(i64::from(self.i32()?))
        }
    }
    fn string(&mut self) -> Result<String, TxnSchemaError> {
        let len = self.len(true)?;
        if len < 0 {
            return Err(TxnSchemaError("null string"));
        }
        String::from_utf8(self.take(len as usize)?.to_vec()).map_err(|_| TxnSchemaError("string is not UTF-8"))
    }
    /// An element count, checked against the bytes left (each element takes at least `min_bytes`).
    fn count(&mut self, min_bytes: usize) -> Result<Option<usize>, TxnSchemaError> {
        let n = self.len(false)?;
        if n < 0 {
            return Ok(None);
        }
        if (n as usize).saturating_mul(min_bytes) > self.buf.len() {
            return Err(TxnSchemaError("array count larger than the record"));
        }
        Ok(Some(n as usize))
    }
    fn skip_tagged_fields(&mut self) -> Result<(), TxnSchemaError> {
        if !self.flexible {
            return Ok(());
        }
        let n = self.uvarint()?;
        for _ in 0..n {
            self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.take(size)?;
        }
        Ok(())
    }
}

pub fn decode_key(key: &[u8]) -> Result<String, TxnSchemaError> {
    let mut r = Reader { buf: key, flexible: false };
    if r.i16()? != 0 {
        return Err(TxnSchemaError("unknown key version"));
    }
    r.string()
}

pub fn decode_value(transactional_id: &str, value: &[u8]) -> Result<TxnMetadata, TxnSchemaError> {
    let mut r = Reader { buf: value, flexible: false };
    let version = r.i16()?;
    if !(0..=1).contains(&version) {
        return Err(TxnSchemaError("unknown value version"));
    }
    r.flexible = version >= 1;
    let producer_id = r.i64()?;
    let producer_epoch = r.i16()?;
    let timeout_ms = r.i32()?;
    let state = TxnState::from_id(r.i8()?).ok_or(TxnSchemaError("unknown transaction status"))?;
    let mut partitions = BTreeSet::new();
    if let Some(topics) = r.count(3)? {
        for _ in 0..topics {
            let topic = r.string()?;
            let ids = r.count(4)?.unwrap_or(0);
            for _ in 0..ids {
                partitions.insert((topic.clone(), r.i32()?));
            }
            r.skip_tagged_fields()?;
        }
    }
    let last_update_ms = r.i64()?;
    let start_ms = r.i64()?;
    r.skip_tagged_fields()?;
    if state == TxnState::Empty {
        partitions.clear();
    }
    Ok(TxnMetadata {
        transactional_id: transactional_id.to_string(),
        producer_id,
        previous_producer_id: -1,
        producer_epoch,
        last_producer_epoch: -1,
        timeout_ms,
        state,
        partitions,
        start_ms,
        last_update_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_kafka_bytes() {
        let mut m = TxnMetadata::new("tx", 42, 60_000, 5);
        m.producer_epoch = 3;
        m.state = TxnState::Ongoing;
        m.partitions.insert(("a".into(), 1));
        m.partitions.insert(("a".into(), 0));
        m.partitions.insert(("b".into(), 2));
        m.start_ms = 7;
        m.last_update_ms = 9;
        let v = value(&m);
        let back = decode_value("tx", &v).unwrap();
        assert_eq!((back.producer_id, back.producer_epoch, back.state), (42, 3, TxnState::Ongoing));
        assert_eq!(back.partitions, m.partitions);
        assert_eq!((back.start_ms, back.last_update_ms, back.timeout_ms), (7, 9, 60_000));
        assert_eq!(decode_key(&key("tx")).unwrap(), "tx");
        // Kafka's TransactionLogKey v0 bytes for "tx", and the head of a v0 value.
        assert_eq!(key("tx"), vec![0, 0, 0, 2, b't', b'x']);
        assert_eq!(&v[..2], &[0, 0]);
        assert_eq!(v[16], 1, "status byte: Ongoing");
        // Empty writes a null partition array.
        let mut e = m.clone();
        e.state = TxnState::Empty;
        let v = value(&e);
        assert_eq!(&v[17..21], &[0xff, 0xff, 0xff, 0xff]);
        assert!(decode_value("tx", &v).unwrap().partitions.is_empty());
    }

    #[test]
    fn flexible_version_is_read() {
        // Version 1: compact array of one topic "t" with partitions [0, 3], then tagged fields.
        let mut v = vec![0, 1];
        v.extend_from_slice(&5i64.to_be_bytes());
        v.extend_from_slice(&1i16.to_be_bytes());
        v.extend_from_slice(&1000i32.to_be_bytes());
        v.push(2);
        v.extend_from_slice(&[2, 2, b't', 3]);
        v.extend_from_slice(&0i32.to_be_bytes());
        v.extend_from_slice(&3i32.to_be_bytes());
        v.push(0);
        v.extend_from_slice(&11i64.to_be_bytes());
        v.extend_from_slice(&10i64.to_be_bytes());
        v.extend_from_slice(&[1, 2, 2, 0, 2]);
        let m = decode_value("x", &v).unwrap();
        assert_eq!(m.state, TxnState::PrepareCommit);
        assert_eq!(m.partitions.len(), 2);
        assert_eq!((m.last_update_ms, m.start_ms), (11, 10));
    }

    #[test]
    fn damaged_records_are_errors() {
        assert!(decode_key(&[0, 1, 0, 9, b'g']).is_err());
        let mut v = value(&TxnMetadata::new("tx", 1, 1000, 0));
        v[16] = 42;
        assert!(decode_value("tx", &v).is_err(), "unknown status");
        let mut v = value(&TxnMetadata::new("tx", 1, 1000, 0));
        v[16] = 1;
        v[17..21].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(decode_value("tx", &v).is_err(), "a count larger than the record");
    }
}
