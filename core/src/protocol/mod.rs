//! The Kafka wire protocol: size-prefixed frames carrying a request header and body, answered by a response
//! header and body. Message schemas come from the `kafka-protocol` crate (generated from Kafka's own JSON
//! specs); this module adds framing with a size limit enforced before allocating, version negotiation, and
//! the decode/encode boundary the broker and the client share.

mod frame;
pub mod versions;

pub use frame::{encode_response_parts, FileRecords, FramePart, ResponseFrame};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};

/// Why a frame could not be turned into a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    #[error("frame of {size} bytes exceeds the maximum of {max} bytes")]
    FrameTooLarge { size: i64, max: usize },
    #[error("negative frame size {0}")]
    NegativeFrameSize(i32),
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("unsupported version {version} of API {api:?}")]
    UnsupportedVersion { api: ApiKey, version: i16 },
    #[error("malformed {what}: {message}")]
    Malformed { what: &'static str, message: String },
}

/// Whether `buf` starts with a whole frame: `Ok(Some(n))` when the first `4 + n` bytes are one, `Ok(None)` when
/// more bytes are needed. A declared size above `max_size` is an error before anything is allocated.
pub fn check_frame(buf: &[u8], max_size: usize) -> Result<Option<usize>, ProtocolError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if size < 0 {
        return Err(ProtocolError::NegativeFrameSize(size));
    }
    let size = size as usize;
    if size > max_size {
        return Err(ProtocolError::FrameTooLarge { size: size as i64, max: max_size });
    }
    Ok((buf.len() >= 4 + size).then_some(size))
}

/// A decoded request, with what is needed to answer it.
#[derive(Debug)]
pub struct Request {
    pub api_key: ApiKey,
    pub header: RequestHeader,
    pub body: RequestKind,
}

/// The first four bytes of a request body: API key and version (readable even when the version is not).
pub fn peek_api(frame: &[u8]) -> Result<(i16, i16), ProtocolError> {
    if frame.len() < 4 {
        return Err(ProtocolError::Malformed { what: "request header", message: "shorter than 4 bytes".into() });
    }
    Ok((i16::from_be_bytes([frame[0], frame[1]]), i16::from_be_bytes([frame[2], frame[3]])))
}

/// Decodes a request frame (without its size prefix). Versions outside what potok supports are refused here
/// (ApiVersions callers handle that case themselves, see [`versions::api_versions_fallback`]).
pub fn decode_request(mut frame: Bytes) -> Result<Request, ProtocolError> {
    let (key, version) = peek_api(&frame)?;
    let api_key = ApiKey::try_from(key).map_err(|_| ProtocolError::UnknownApiKey(key))?;
    if !versions::supported(api_key).is_some_and(|r| r.min <= version && version <= r.max) {
        return Err(ProtocolError::UnsupportedVersion { api: api_key, version });
    }
    let header = RequestHeader::decode(&mut frame, api_key.request_header_version(version))
        .map_err(|e| ProtocolError::Malformed { what: "request header", message: e.to_string() })?;
    let body = RequestKind::decode(api_key, &mut frame, version)
        .map_err(|e| ProtocolError::Malformed { what: "request body", message: e.to_string() })?;
    // Bytes after the body are ignored, as Apache Kafka ignores them: librdkafka, for one, sends Metadata
    // requests with trailing bytes that Kafka accepts.
    Ok(Request { api_key, header, body })
}

/// Encodes a client's request frame, size prefix included: the header (API key, `version`, `correlation_id`,
/// `client_id`) and the body, exactly as a socket carries it. Shared by the network client and the in-page
/// clients that hand frames to a broker in memory.
pub fn encode_request<R: kafka_protocol::protocol::Request>(
    request: &R,
    version: i16,
    correlation_id: i32,
    client_id: &kafka_protocol::protocol::StrBytes,
) -> Result<BytesMut, ProtocolError> {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(client_id.clone()));
    let header_version = R::header_version(version);
    let malformed = |e: anyhow::Error| ProtocolError::Malformed { what: "request", message: e.to_string() };
    let size =
        header.compute_size(header_version).map_err(malformed)? + request.compute_size(version).map_err(malformed)?;
    let mut frame = BytesMut::with_capacity(4 + size);
    frame.put_i32(size as i32);
    header.encode(&mut frame, header_version).map_err(malformed)?;
    request.encode(&mut frame, version).map_err(malformed)?;
    Ok(frame)
}

/// Decodes a response frame (without its size prefix) to request `R` sent at `version`; returns the header's
/// correlation id and the body.
pub fn decode_response<R: kafka_protocol::protocol::Request>(
    mut frame: Bytes,
    version: i16,
) -> Result<(i32, R::Response), ProtocolError> {
    use kafka_protocol::protocol::HeaderVersion;
    let malformed = |e: anyhow::Error| ProtocolError::Malformed { what: "response", message: e.to_string() };
    let header = ResponseHeader::decode(&mut frame, R::Response::header_version(version)).map_err(malformed)?;
    let body = R::Response::decode(&mut frame, version).map_err(malformed)?;
    Ok((header.correlation_id, body))
}

/// Encodes a response frame, size prefix included.
pub fn encode_response(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<BytesMut, ProtocolError> {
    // Fetch responses carry the record bytes: size the buffer once instead of growing it by doubling (which
    // copied a multi-megabyte response several times over).
    let capacity = match body {
        ResponseKind::Fetch(f) => f.compute_size(version).unwrap_or(0) + 64,
        _ => 256,
    };
    let mut buf = BytesMut::with_capacity(capacity);
    buf.put_i32(0);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let malformed = |e: anyhow::Error| ProtocolError::Malformed { what: "response", message: e.to_string() };
    header.encode(&mut buf, api_key.response_header_version(version)).map_err(malformed)?;
    body.encode(&mut buf, version).map_err(malformed)?;
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_checked_before_allocation() {
        assert!(check_frame(&[0, 0], 100).unwrap().is_none());
        assert_eq!(check_frame(&[0, 0, 0, 2, 9, 9], 100).unwrap(), Some(2));
        assert!(check_frame(&[0, 0, 0, 3, 9, 9], 100).unwrap().is_none());
        assert!(matches!(check_frame(&[0x7f, 0xff, 0xff, 0xff], 100), Err(ProtocolError::FrameTooLarge { .. })));
        assert!(matches!(check_frame(&[0xff, 0xff, 0xff, 0xff], 100), Err(ProtocolError::NegativeFrameSize(-1))));
    }

    #[test]
    fn garbage_requests_are_errors() {
        assert!(decode_request(Bytes::from_static(&[0, 3])).is_err());
        assert!(matches!(
            decode_request(Bytes::from_static(&[0x7f, 0x00, 0, 0, 0, 0, 0, 1])),
            Err(ProtocolError::UnknownApiKey(0x7f00))
        ));
        // Metadata v12 with a header that claims a 300-byte client id in a 10-byte frame.
        assert!(decode_request(Bytes::from_static(&[0, 3, 0, 12, 0, 0, 0, 1, 1, 44])).is_err());
    }
}
