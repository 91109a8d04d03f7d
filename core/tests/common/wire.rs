//! Raw Kafka frames over TCP, for tests that talk to a broker without a client library.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// Connects with a read timeout, so a test never waits forever for an answer.
pub fn connect(address: std::net::SocketAddr) -> TcpStream {
    let s = TcpStream::connect(address).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("read timeout");
    s
}

/// The bytes of one request frame, size prefix included.
pub fn frame(api: ApiKey, version: i16, correlation_id: i32, body: &RequestKind) -> Vec<u8> {
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("robustness-test")));
    header.encode(&mut buf, api.request_header_version(version)).expect("encode header");
    body.encode(&mut buf, version).expect("encode body");
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    buf.to_vec()
}

pub fn send(stream: &mut TcpStream, api: ApiKey, version: i16, body: RequestKind) {
    stream.write_all(&frame(api, version, 7, &body)).expect("send");
}

pub fn receive(stream: &mut TcpStream, api: ApiKey, version: i16) -> ResponseKind {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).expect("response size");
    let mut frame = vec![0u8; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut frame).expect("response body");
    let mut bytes = Bytes::from(frame);
    let header = ResponseHeader::decode(&mut bytes, api.response_header_version(version)).expect("header");
    assert_eq!(header.correlation_id, 7);
    ResponseKind::decode(api, &mut bytes, version).expect("response")
}

pub fn call(stream: &mut TcpStream, api: ApiKey, version: i16, body: RequestKind) -> ResponseKind {
    send(stream, api, version, body);
    receive(stream, api, version)
}

/// True once the peer has closed the connection (a read returns 0 or fails with something other than a
/// timeout), waiting at most the stream's read timeout.
pub fn closed_by_peer(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}
