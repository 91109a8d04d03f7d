//! One client connection to a [`MemoryBroker`]: the versions learnt with ApiVersions when it opens, request
//! frames encoded with the client's own encoder, and the requests sent on it awaiting their answer, each with
//! what the client needs to read that answer (`T`).

use std::collections::HashMap;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::{Request, StrBytes};

use crate::client::requests::pick_version;
use crate::client::ClientError;
use crate::host::memory::{ConnectionId, MemoryBroker, RequestId};
use crate::host::HostError;
use crate::protocol::{decode_response, encode_request};

/// A request on its way and what reading its answer needs.
#[derive(Debug)]
pub(super) struct Sent<T> {
    pub version: i16,
    pub tag: T,
}

#[derive(Debug)]
pub(super) struct Link<T> {
    pub connection: ConnectionId,
    client_id: StrBytes,
    versions: HashMap<i16, (i16, i16)>,
    next_correlation_id: i32,
    pending: HashMap<RequestId, Sent<T>>,
}

impl<T> Link<T> {
    /// Opens a connection and asks for the broker's versions (answered at once: a broker in memory handles
    /// ApiVersions without waiting). `answer` reads the ApiVersions answer from the host's routed answers.
    pub fn open(
        broker: &mut MemoryBroker,
        client_id: &str,
        now_ms: i64,
        answer: impl FnOnce(&mut MemoryBroker, ConnectionId, RequestId) -> Option<Result<Option<Vec<u8>>, HostError>>,
    ) -> Result<Link<T>, HostError> {
        let connection = broker.connect()?;
        let client_id = StrBytes::from_string(client_id.to_string());
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("potok-page"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let frame = encode_request(&request, 3, 0, &client_id)?;
        let id = broker.submit(connection, frame.freeze(), now_ms)?;
        let frame = answer(broker, connection, id)
            .ok_or_else(|| HostError::from(ClientError::Protocol("no ApiVersions answer".into())))??
            .ok_or_else(|| HostError::from(ClientError::Protocol("an empty ApiVersions answer".into())))?;
        let body = Bytes::from(frame).slice(4..);
        let (_, response) = decode_response::<ApiVersionsRequest>(body, 3)?;
        ClientError::check(response.error_code)?;
        let versions = versions_of(&response);
        Ok(Link { connection, client_id, versions, next_correlation_id: 1, pending: HashMap::new() })
    }

    /// Encodes and submits a request at the highest version both sides speak; `build` gets that version.
    pub fn send<R: Request>(
        &mut self,
        broker: &mut MemoryBroker,
        now_ms: i64,
        tag: T,
        build: impl FnOnce(i16) -> R,
    ) -> Result<RequestId, ClientError> {
        let api = ApiKey::try_from(R::KEY).map_err(|_| ClientError::Protocol(format!("API key {}", R::KEY)))?;
        let version = self.versions.get(&R::KEY).and_then(|range| pick_version(api, *range)).ok_or_else(|| {
            ClientError::Protocol(format!("the broker does not speak a version of {api:?} the client does"))
        })?;
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1) & i32::MAX;
        let frame = encode_request(&build(version), version, correlation_id, &self.client_id)
            .map_err(|e| ClientError::Protocol(format!("encoding {api:?}: {e}")))?;
        let id = broker.submit(self.connection, frame.freeze(), now_ms).map_err(|e| ClientError::Io(e.message))?;
        self.pending.insert(id, Sent { version, tag });
        Ok(id)
    }

    /// What request `id` was, once its answer came (`None` for an answer to nothing sent here).
    pub fn answered(&mut self, id: RequestId) -> Option<Sent<T>> {
        self.pending.remove(&id)
    }

    pub fn is_busy(&self) -> bool {
        !self.pending.is_empty()
    }
}

/// Decodes an answer frame (size prefix included) to request `R` sent at `version`.
pub(super) fn decode<R: Request>(
    frame: Result<Option<Vec<u8>>, HostError>,
    version: i16,
) -> Result<R::Response, ClientError> {
    let frame = match frame {
        Ok(Some(frame)) => frame,
        Ok(None) => return Err(ClientError::Protocol("no answer to a request that expects one".into())),
        Err(e) => return Err(host_to_client(e)),
    };
    if frame.len() < 4 {
        return Err(ClientError::Protocol("a response frame shorter than its size".into()));
    }
    decode_response::<R>(Bytes::from(frame).slice(4..), version)
        .map(|(_, body)| body)
        .map_err(|e| ClientError::Protocol(e.to_string()))
}

/// A failure of the in-memory transport as the client sees it: a closed connection, or (for anything else) a
/// broken one.
pub(super) fn host_to_client(e: HostError) -> ClientError {
    if e.kind == crate::host::ErrorKind::Closed {
        ClientError::Closed
    } else {
        ClientError::Io(e.message)
    }
}

fn versions_of(response: &ApiVersionsResponse) -> HashMap<i16, (i16, i16)> {
    response.api_keys.iter().map(|k| (k.api_key, (k.min_version, k.max_version))).collect()
}
