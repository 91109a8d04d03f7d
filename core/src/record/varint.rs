//! Zig-zag varints as Kafka's record format uses them (protobuf encoding, signed values zig-zagged).
//!
//! Decoding never reads past the slice and refuses encodings longer than the type allows.

use super::RecordError;

/// Appends `value` zig-zag encoded as a varint (at most 5 bytes).
pub fn put_varint(buf: &mut Vec<u8>, value: i32) {
    put_unsigned(buf, ((value << 1) ^ (value >> 31)) as u32 as u64);
}

/// Appends `value` zig-zag encoded as a varlong (at most 10 bytes).
pub fn put_varlong(buf: &mut Vec<u8>, value: i64) {
    put_unsigned(buf, ((value << 1) ^ (value >> 63)) as u64);
}

fn put_unsigned(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// The number of bytes [`put_varint`] writes for `value`.
pub fn varint_len(value: i32) -> usize {
    unsigned_len(((value << 1) ^ (value >> 31)) as u32 as u64)
}

/// The number of bytes [`put_varlong`] writes for `value`.
pub fn varlong_len(value: i64) -> usize {
    unsigned_len(((value << 1) ^ (value >> 63)) as u64)
}

fn unsigned_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Most varints in a record (lengths of short fields, small deltas, header counts) are one byte: that case is
/// inlined into the caller, the rest go through the loop.
#[inline]
fn get_unsigned(buf: &mut &[u8], max_bytes: usize) -> Result<u64, RecordError> {
    match buf.split_first() {
        Some((&b, rest)) if b < 0x80 => {
            *buf = rest;
            Ok(u64::from(b))
        }
        _ => get_unsigned_multi(buf, max_bytes),
    }
}

fn get_unsigned_multi(buf: &mut &[u8], max_bytes: usize) -> Result<u64, RecordError> {
    let mut value = 0u64;
    for i in 0..max_bytes {
        let (&b, rest) = buf.split_first().ok_or(RecordError::Truncated("varint"))?;
        *buf = rest;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(RecordError::InvalidVarint)
}

/// Reads a zig-zag varint from the front of `buf`, advancing it.
#[inline]
pub fn get_varint(buf: &mut &[u8]) -> Result<i32, RecordError> {
    let raw = get_unsigned(buf, 5)?;
    if raw > u64::from(u32::MAX) {
        return Err(RecordError::InvalidVarint);
    }
    let raw = raw as u32;
    Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// Reads a zig-zag varlong from the front of `buf`, advancing it.
#[inline]
pub fn get_varlong(buf: &mut &[u8]) -> Result<i64, RecordError> {
    let raw = get_unsigned(buf, 10)?;
    Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_encodings() {
        // Values and bytes from Kafka's ByteUtilsTest.
        let cases: &[(i32, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (i32::MAX, &[0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for (value, bytes) in cases {
            let mut buf = Vec::new();
            put_varint(&mut buf, *value);
            assert_eq!(&buf[..], *bytes, "encoding {value}");
            assert_eq!(varint_len(*value), bytes.len());
            let mut slice = &buf[..];
            assert_eq!(get_varint(&mut slice).unwrap(), *value);
            assert!(slice.is_empty());
        }
    }

    #[test]
    fn varlong_extremes_round_trip() {
        for value in [0, -1, 1, i64::MAX, i64::MIN, 1 << 40, -(1 << 40)] {
            let mut buf = Vec::new();
            put_varlong(&mut buf, value);
            assert_eq!(varlong_len(value), buf.len());
            let mut slice = &buf[..];
            assert_eq!(get_varlong(&mut slice).unwrap(), value);
        }
    }

    #[test]
    fn malformed_varints_are_errors() {
        assert!(get_varint(&mut &[0x80u8, 0x80][..]).is_err());
        assert!(get_varint(&mut &[0xffu8, 0xff, 0xff, 0xff, 0xff, 0x01][..]).is_err());
        assert!(get_varlong(&mut &[0xffu8; 11][..]).is_err());
    }
}
