//! The client transport: one TCP connection to one broker. Requests are pipelined; a reader task matches
//! responses to requests by correlation id, so any number of callers can share the connection. The versions
//! the broker supports are learnt once, with ApiVersions, when the connection opens.
//!
//! Reading and writing run in separate tasks: a caller writing a large Produce request must never stop the
//! connection from draining a large Fetch response, or both ends could block on full socket buffers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, ResponseHeader};
use kafka_protocol::protocol::{Decodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use crate::client::error::{ClientError, Result};
use crate::protocol::{check_frame, decode_response, encode_request};

/// How many requests may wait for the writer task before senders wait themselves.
const WRITE_QUEUE_MAX: usize = 256;

type Reply = oneshot::Sender<Result<Bytes>>;

struct Outgoing {
    frame: BytesMut,
    correlation_id: i32,
    reply: Option<Reply>,
}

/// A connection to one broker.
pub struct Connection {
    address: String,
    client_id: StrBytes,
    tx: mpsc::Sender<Outgoing>,
    /// Supported version range per API key, from the broker's ApiVersions answer.
    versions: HashMap<i16, (i16, i16)>,
    next_correlation_id: AtomicI32,
    closed: Arc<AtomicBool>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("address", &self.address).finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects and negotiates versions. `max_response_bytes` bounds every response frame (a larger size
    /// prefix closes the connection before anything is allocated).
    pub async fn connect(
        address: &str,
        client_id: &str,
        max_response_bytes: usize,
        timeout: Duration,
    ) -> Result<Arc<Connection>> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| ClientError::Timeout(format!("connecting to {address}")))?
            .map_err(|e| ClientError::Io(format!("connecting to {address}: {e}")))?;
        let _ = stream.set_nodelay(true);
        let (mut reader, mut writer) = stream.into_split();
        let (tx, mut rx) = mpsc::channel::<Outgoing>(WRITE_QUEUE_MAX);
        let pending: Arc<Mutex<HashMap<i32, Reply>>> = Arc::default();
        let closed = Arc::new(AtomicBool::new(false));

        let fail_all = {
            let pending = pending.clone();
            let closed = closed.clone();
            move |why: String| {
                closed.store(true, Ordering::Release);
                let waiting: Vec<Reply> =
                    pending.lock().unwrap_or_else(PoisonError::into_inner).drain().map(|(_, r)| r).collect();
                for reply in waiting {
                    let _ = reply.send(Err(ClientError::Io(why.clone())));
                }
            }
        };

        let writer_pending = pending.clone();
        let writer_fail = fail_all.clone();
        let writer_closed = closed.clone();
        let writer_address = address.to_string();
        tokio::spawn(async move {
            while let Some(out) = rx.recv().await {
                if let Some(reply) = out.reply {
                    // Checked under the lock `fail_all` drains with: a request registered after the reader gave up
                    // would otherwise wait for its timeout, since a write to a socket the peer closed can succeed.
                    let mut pending = writer_pending.lock().unwrap_or_else(PoisonError::into_inner);
                    if writer_closed.load(Ordering::Acquire) {
                        drop(pending);
                        let _ = reply.send(Err(ClientError::Io(format!("connection to {writer_address} closed"))));
                        continue;
                    }
                    pending.insert(out.correlation_id, reply);
                } else if writer_closed.load(Ordering::Acquire) {
                    continue;
                }
                if let Err(e) = writer.write_all(&out.frame).await {
                    writer_fail(format!("writing to {writer_address}: {e}"));
                    return;
                }
            }
            // Every handle to the connection is gone: close the socket.
            let _ = writer.shutdown().await;
        });

        let reader_address = address.to_string();
        tokio::spawn(async move {
            let why = loop {
                let mut size = [0u8; 4];
                if let Err(e) = reader.read_exact(&mut size).await {
                    break format!("connection to {reader_address} closed: {e}");
                }
                let length = match check_frame(&[size[0], size[1], size[2], size[3]], max_response_bytes) {
                    Ok(_) => i32::from_be_bytes(size) as usize,
                    Err(e) => break format!("bad response frame from {reader_address}: {e}"),
                };
                if length < 4 {
                    break format!("response frame of {length} bytes from {reader_address}");
                }
                let mut frame = BytesMut::zeroed(length);
                if let Err(e) = reader.read_exact(&mut frame).await {
                    break format!("connection to {reader_address} closed: {e}");
                }
                let correlation_id = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
                let reply = pending.lock().unwrap_or_else(PoisonError::into_inner).remove(&correlation_id);
                // A reply nobody waits for any more (the caller timed out) is dropped.
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(frame.freeze()));
                }
            };
            fail_all(why);
        });

        let mut connection = Connection {
            address: address.to_string(),
            client_id: StrBytes::from_string(client_id.to_string()),
            tx,
            versions: HashMap::new(),
            next_correlation_id: AtomicI32::new(0),
            closed,
        };
        let versions = tokio::time::timeout(timeout, connection.api_versions())
            .await
            .map_err(|_| ClientError::Timeout(format!("ApiVersions from {address}")))??;
        connection.versions = versions;
        Ok(Arc::new(connection))
    }

    /// Asks for the broker's versions with ApiVersions v3, falling back to v0 when the broker answers in the v0
    /// format (what a broker does for a version it does not know).
    async fn api_versions(&self) -> Result<HashMap<i16, (i16, i16)>> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("potok"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let frame = self.round_trip(&request, 3, true).await?.ok_or(ClientError::Closed)?;
        let decode = |version: i16| -> Option<ApiVersionsResponse> {
            let mut body = frame.clone();
            ResponseHeader::decode(&mut body, ApiVersionsResponse::header_version(version)).ok()?;
            ApiVersionsResponse::decode(&mut body, version).ok()
        };
        let response = match decode(3) {
            Some(r) if r.error_code == 0 => r,
            _ => decode(0).ok_or_else(|| ClientError::Protocol(format!("bad ApiVersions from {}", self.address)))?,
        };
        ClientError::check(response.error_code)?;
        Ok(response.api_keys.iter().map(|k| (k.api_key, (k.min_version, k.max_version))).collect())
    }

    /// The broker's address as dialled.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Whether the connection broke (every later call fails; the pool dials a new one).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The highest version of `api` both sides support within `[min, max]`.
    pub fn version(&self, api: ApiKey, min: i16, max: i16) -> Result<i16> {
        let (broker_min, broker_max) = self
            .versions
            .get(&(api as i16))
            .copied()
            .ok_or_else(|| ClientError::Protocol(format!("broker {} does not support {api:?}", self.address)))?;
        let version = broker_max.min(max);
        if version < min.max(broker_min) {
            return Err(ClientError::Protocol(format!(
                "broker {} supports {api:?} v{broker_min}-{broker_max}, the client v{min}-{max}",
                self.address
            )));
        }
        Ok(version)
    }

    /// Sends a request and waits for its response.
    pub async fn send<R: Request>(&self, request: &R, version: i16) -> Result<R::Response> {
        self.submit(request, version).await?.wait::<R>(version).await
    }

    /// Queues a request for writing and returns without waiting for the answer. Requests submitted one after
    /// another from one task are written in that order, which a producer pipelining batches of one partition
    /// relies on (the broker checks their sequence numbers in arrival order).
    pub async fn submit<R: Request>(&self, request: &R, version: i16) -> Result<PendingResponse> {
        let rx = self.enqueue(request, version, true).await?.ok_or(ClientError::Closed)?;
        Ok(PendingResponse { rx, address: self.address.clone() })
    }

    /// Sends a request the broker does not answer (Produce with acks=0).
    pub async fn send_oneway<R: Request>(&self, request: &R, version: i16) -> Result<()> {
        self.enqueue(request, version, false).await.map(|_| ())
    }

    async fn round_trip<R: Request>(&self, request: &R, version: i16, expect_reply: bool) -> Result<Option<Bytes>> {
        match self.enqueue(request, version, expect_reply).await? {
            None => Ok(None),
            Some(rx) => PendingResponse { rx, address: self.address.clone() }.frame().await.map(Some),
        }
    }

    async fn enqueue<R: Request>(
        &self,
        request: &R,
        version: i16,
        expect_reply: bool,
    ) -> Result<Option<oneshot::Receiver<Result<Bytes>>>> {
        if self.is_closed() {
            return Err(ClientError::Io(format!("connection to {} is closed", self.address)));
        }
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed) & i32::MAX;
        let frame = encode_request(request, version, correlation_id, &self.client_id)
            .map_err(|e| ClientError::Protocol(format!("encoding {}: {e}", api_name::<R>())))?;
        let (reply, response) = if expect_reply {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        self.tx
            .send(Outgoing { frame, correlation_id, reply })
            .await
            .map_err(|_| ClientError::Io(format!("connection to {} is closed", self.address)))?;
        Ok(response)
    }
}

/// A request on its way; its response arrives through [`PendingResponse::wait`].
#[derive(Debug)]
pub struct PendingResponse {
    rx: oneshot::Receiver<Result<Bytes>>,
    address: String,
}

impl PendingResponse {
    async fn frame(self) -> Result<Bytes> {
        match self.rx.await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Io(format!("connection to {} closed", self.address))),
        }
    }

    /// Waits for the response and decodes it.
    pub async fn wait<R: Request>(self, version: i16) -> Result<R::Response> {
        let frame = self.frame().await?;
        decode_response::<R>(frame, version)
            .map(|(_, response)| response)
            .map_err(|e| ClientError::Protocol(format!("bad {:?} v{version} response: {e}", api_name::<R>())))
    }
}

fn api_name<R: Request>() -> String {
    ApiKey::try_from(R::KEY).map_or_else(|_| format!("API {}", R::KEY), |k| format!("{k:?}"))
}
