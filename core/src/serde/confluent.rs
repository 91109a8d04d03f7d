//! The Confluent wire format: magic byte 0, the schema's registry id as a 4-byte big-endian int, then the
//! payload (Avro binary, or JSON text for JSON Schema). Schema-registry serializers on every platform frame
//! record values this way; the registry client itself does IO and lives elsewhere.

/// The first byte of a framed value.
pub const MAGIC_BYTE: u8 = 0;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 5;

/// Why bytes are not a framed value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireFormatError {
    /// Confluent's deserializers say exactly this.
    #[error("Unknown magic byte!")]
    UnknownMagicByte,
    #[error("{len} bytes are too few for the 5-byte schema registry header")]
    TooShort { len: usize },
    #[error("value was written with schema id {actual}, expected {expected}")]
    UnexpectedSchemaId { expected: i32, actual: i32 },
}

/// Frames `payload` written with schema `schema_id`.
pub fn frame(schema_id: i32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.push(MAGIC_BYTE);
    out.extend_from_slice(&schema_id.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The schema id and the payload of a framed value.
pub fn unframe(data: &[u8]) -> Result<(i32, &[u8]), WireFormatError> {
    // Confluent checks the magic byte first, so an empty or one-byte value with a wrong first byte reads as that.
    match data.first() {
        Some(&MAGIC_BYTE) => {}
        Some(_) => return Err(WireFormatError::UnknownMagicByte),
        None => return Err(WireFormatError::TooShort { len: 0 }),
    }
    let Some((id, payload)) = data.get(1..).and_then(|rest| rest.split_first_chunk::<4>()) else {
        return Err(WireFormatError::TooShort { len: data.len() });
    };
    Ok((i32::from_be_bytes(*id), payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_unframes() {
        let framed = frame(42, b"payload");
        assert_eq!(&framed[..5], &[0, 0, 0, 0, 42]);
        assert_eq!(unframe(&framed), Ok((42, &b"payload"[..])));
        assert_eq!(unframe(&[1, 0, 0, 0, 1]), Err(WireFormatError::UnknownMagicByte));
        assert_eq!(unframe(&[0, 0, 0]), Err(WireFormatError::TooShort { len: 3 }));
        assert_eq!(unframe(&[]), Err(WireFormatError::TooShort { len: 0 }));
        assert_eq!(unframe(&frame(-1, b"")), Ok((-1, &b""[..])));
    }
}
