//! How controllers and brokers reach each other: a frame on the controller listener carrying Raft's messages
//! or a request for the active controller, and the client that sends them.
//!
//! The frame looks like a Kafka request (size, then API key, version and correlation id) with a private API
//! key, so the listener tells it apart before decoding; its body is JSON (Raft's own serde types, and Kafka's
//! encoding of the request a broker sends the controller). Kafka speaks its own Raft RPCs (Vote, Fetch,
//! BeginQuorumEpoch) here; potok's quorum is openraft's, so the messages are openraft's.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::BasicNode;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{ControllerNode, TypeConfig};

/// The API key of potok's quorum frames (outside Kafka's range of keys).
pub const RAFT_API_KEY: i16 = 30_000;
/// The largest quorum frame accepted (a batch of Raft entries carrying metadata records).
pub const MAX_PEER_FRAME: usize = 64 << 20;

/// Whom a quorum frame is meant for: the sender's cluster and the node it means to reach. A node refuses a
/// frame meant for another cluster or node, as Kafka's quorum answers INCONSISTENT_CLUSTER_ID: a node that
/// took over the address of another cluster's node (a port freed and bound again) must not be sent that
/// cluster's votes and entries, nor vote in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addressee {
    pub cluster_id: String,
    pub node_id: i32,
}

/// The body of a quorum frame: the request first (so a frame's kind shows at its start), then its addressee.
/// Frames of version 0 (potok before the addressee was added) hold the bare request.
#[derive(Debug, Serialize, Deserialize)]
pub struct Addressed<R> {
    pub request: R,
    pub to: Addressee,
}

/// The frame version that carries an [`Addressed`] request.
pub const ADDRESSED_VERSION: i16 = 1;

/// A message from another node.
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerRequest {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<u64>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A Kafka request for the active controller (BrokerRegistration, BrokerHeartbeat, CreateTopics, ...),
    /// in Kafka's encoding of `api_key` at `version`.
    Call {
        api_key: i16,
        version: i16,
        body: Vec<u8>,
    },
    /// A broker that is not a controller (`process.roles=broker`) reading the committed metadata log, as
    /// Kafka's brokers fetch `__cluster_metadata-0` as observers: the entries after index `after` (from the
    /// first when `None`), waiting at most `max_wait_ms` for one to be committed.
    FetchMetadata {
        node_id: i32,
        after: Option<u64>,
        max_wait_ms: u64,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub enum PeerResponse {
    AppendEntries(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    InstallSnapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    /// The answer in Kafka's encoding, and the log index its records were committed at.
    Call(Result<(Vec<u8>, Option<u64>), CallError>),
    FetchMetadata(Result<MetadataChunk, CallError>),
}

/// Committed entries of the metadata log for an observer, and who leads the quorum. When the entries it asked
/// for were purged, the snapshot covering them comes first (the entries then follow it).
#[derive(Debug, Serialize, Deserialize)]
pub struct MetadataChunk {
    #[serde(default)]
    pub snapshot: Option<ObserverSnapshot>,
    pub entries: Vec<openraft::Entry<TypeConfig>>,
    pub leader: Option<i32>,
}

/// A snapshot of the image for an observer: the last entry it covers, the Kafka offset after it, its records.
#[derive(Debug, Serialize, Deserialize)]
pub struct ObserverSnapshot {
    pub last_index: u64,
    pub next_offset: i64,
    pub records: Vec<Vec<u8>>,
}

/// Why a request for the controller was not answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CallError {
    /// This node does not lead the quorum (Kafka's NOT_CONTROLLER); `leader` is who does, if known.
    #[error("not the active controller (the leader is {leader:?})")]
    NotController { leader: Option<i32> },
    #[error("the controller is unavailable: {0}")]
    Unavailable(String),
    #[error("bad request for the controller: {0}")]
    BadRequest(String),
}

/// Answers a controller call that arrived as a frame.
pub(super) async fn serve_call(
    node: &ControllerNode,
    api_key: i16,
    version: i16,
    body: Vec<u8>,
    now_ms: i64,
) -> Result<(Vec<u8>, Option<u64>), CallError> {
    let key = ApiKey::try_from(api_key).map_err(|_| CallError::BadRequest(format!("unknown API key {api_key}")))?;
    let mut bytes = Bytes::from(body);
    let request = RequestKind::decode(key, &mut bytes, version).map_err(|e| CallError::BadRequest(e.to_string()))?;
    let (response, index) = node.handle(request, version, now_ms).await?;
    let mut out = BytesMut::new();
    response.encode(&mut out, version).map_err(|e| CallError::BadRequest(e.to_string()))?;
    Ok((out.to_vec(), index))
}

/// A request frame: size, API key, version, correlation id, body.
pub fn encode_frame(version: i16, correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(body.len() + 12);
    frame.extend_from_slice(&((body.len() + 8) as i32).to_be_bytes());
    frame.extend_from_slice(&RAFT_API_KEY.to_be_bytes());
    frame.extend_from_slice(&version.to_be_bytes());
    frame.extend_from_slice(&correlation_id.to_be_bytes());
    frame.extend_from_slice(body);
    frame
}

/// Splits a request frame (without its size) into version, correlation id and body.
pub fn decode_frame(frame: &[u8]) -> Option<(i16, i32, &[u8])> {
    let version = frame.get(2..4)?;
    let id = frame.get(4..8)?;
    Some((i16::from_be_bytes([version[0], version[1]]), i32::from_be_bytes([id[0], id[1], id[2], id[3]]), &frame[8..]))
}

/// Reads a request frame's body: the request, and whom it is meant for (`None` in a version 0 frame).
pub fn decode_request(version: i16, body: &[u8]) -> serde_json::Result<(PeerRequest, Option<Addressee>)> {
    if version >= ADDRESSED_VERSION {
        let Addressed { request, to } = serde_json::from_slice(body)?;
        Ok((request, Some(to)))
    } else {
        Ok((serde_json::from_slice(body)?, None))
    }
}

/// The answer frame: size, correlation id, body.
pub fn encode_answer(correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(body.len() + 8);
    frame.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    frame.extend_from_slice(&correlation_id.to_be_bytes());
    frame.extend_from_slice(body);
    frame
}

/// One connection to another node, reopened when it fails; one message at a time.
#[derive(Debug)]
pub struct PeerClient {
    addr: String,
    to: Addressee,
    conn: tokio::sync::Mutex<Option<TcpStream>>,
    correlation: AtomicI32,
}

impl PeerClient {
    /// A client for node `to.node_id` of cluster `to.cluster_id`, reached at `addr`.
    pub fn new(addr: String, to: Addressee) -> Self {
        PeerClient { addr, to, conn: tokio::sync::Mutex::new(None), correlation: AtomicI32::new(0) }
    }

    pub async fn send(&self, request: &PeerRequest, timeout: Duration) -> std::io::Result<PeerResponse> {
        let addressed = Addressed { request, to: self.to.clone() };
        let body = serde_json::to_vec(&addressed).map_err(std::io::Error::other)?;
        let id = self.correlation.fetch_add(1, Ordering::Relaxed);
        let mut conn = self.conn.lock().await;
        // The connection is taken out for the exchange and put back only after a whole answer was read: if the
        // caller drops this future half-way (openraft cancels replication calls), the stream goes with it
        // instead of being reused with half a frame written, which would corrupt the next frame on it.
        let stream = conn.take();
        let exchange = async move {
            let mut stream = match stream {
                Some(stream) => stream,
                None => {
                    let stream = TcpStream::connect(&self.addr).await?;
                    let _ = stream.set_nodelay(true);
                    stream
                }
            };
            stream.write_all(&encode_frame(ADDRESSED_VERSION, id, &body)).await?;
            let mut size = [0u8; 4];
            stream.read_exact(&mut size).await?;
            let size = i32::from_be_bytes(size);
            if size < 4 || size as usize > MAX_PEER_FRAME {
                return Err(std::io::Error::other(format!("answer of {size} bytes")));
            }
            let mut frame = vec![0u8; size as usize];
            stream.read_exact(&mut frame).await?;
            if frame[..4] != id.to_be_bytes() {
                return Err(std::io::Error::other("answer to another request"));
            }
            let answer = serde_json::from_slice(&frame[4..]).map_err(std::io::Error::other)?;
            Ok((stream, answer))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok((stream, answer))) => {
                *conn = Some(stream);
                Ok(answer)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in time")),
        }
    }
}

/// openraft's network: a client per peer of the cluster `cluster_id`.
pub(super) struct Network {
    pub(super) cluster_id: String,
}

pub(super) struct PeerNetwork {
    target: u64,
    client: PeerClient,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerNetwork;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> PeerNetwork {
        let to = Addressee { cluster_id: self.cluster_id.clone(), node_id: target as i32 };
        PeerNetwork { target, client: PeerClient::new(node.addr.clone(), to) }
    }
}

type RpcResult<T, E = openraft::error::Infallible> = Result<T, RPCError<u64, BasicNode, RaftError<u64, E>>>;

impl PeerNetwork {
    async fn rpc(&self, request: PeerRequest, option: &RPCOption) -> Result<PeerResponse, std::io::Error> {
        self.client.send(&request, option.hard_ttl()).await
    }

    fn unexpected<E: std::error::Error>(&self) -> RPCError<u64, BasicNode, E> {
        RPCError::Network(NetworkError::new(&std::io::Error::other("unexpected answer")))
    }
}

impl RaftNetwork<TypeConfig> for PeerNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<u64>> {
        match self.rpc(PeerRequest::AppendEntries(rpc), &option).await {
            Ok(PeerResponse::AppendEntries(Ok(r))) => Ok(r),
            Ok(PeerResponse::AppendEntries(Err(e))) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            Ok(_) => Err(self.unexpected()),
            Err(e) => Err(RPCError::Unreachable(Unreachable::new(&e))),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<u64>, InstallSnapshotError> {
        match self.rpc(PeerRequest::InstallSnapshot(rpc), &option).await {
            Ok(PeerResponse::InstallSnapshot(Ok(r))) => Ok(r),
            Ok(PeerResponse::InstallSnapshot(Err(e))) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            Ok(_) => Err(self.unexpected()),
            Err(e) => Err(RPCError::Unreachable(Unreachable::new(&e))),
        }
    }

    async fn vote(&mut self, rpc: VoteRequest<u64>, option: RPCOption) -> RpcResult<VoteResponse<u64>> {
        match self.rpc(PeerRequest::Vote(rpc), &option).await {
            Ok(PeerResponse::Vote(Ok(r))) => Ok(r),
            Ok(PeerResponse::Vote(Err(e))) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            Ok(_) => Err(self.unexpected()),
            Err(e) => Err(RPCError::Unreachable(Unreachable::new(&e))),
        }
    }
}

/// A broker's way to the active controller: the controller in this process when it leads, else the voter
/// that leads (learned from NOT_CONTROLLER answers, or found by asking each in turn).
#[derive(Debug)]
pub struct ControllerClient {
    local: Option<Arc<ControllerNode>>,
    voters: BTreeMap<i32, PeerClient>,
    leader_hint: AtomicI32,
}

impl ControllerClient {
    pub fn new(local: Option<Arc<ControllerNode>>, voters: &BTreeMap<u64, BasicNode>, cluster_id: &str) -> Self {
        ControllerClient { local, voters: peer_clients(voters, cluster_id), leader_hint: AtomicI32::new(-1) }
    }

    /// Sends one request to the active controller and returns its answer (and the log index its records were
    /// committed at), trying until `timeout` passes.
    pub async fn call(
        &self,
        request: &RequestKind,
        version: i16,
        timeout: Duration,
    ) -> Result<(ResponseKind, Option<u64>), CallError> {
        let key = api_key_of(request);
        let deadline = Instant::now() + timeout;
        let mut body = BytesMut::new();
        request.encode(&mut body, version).map_err(|e| CallError::BadRequest(e.to_string()))?;
        let ids: Vec<i32> = self.voters.keys().copied().collect();
        let mut next = 0usize;
        let mut last_error = CallError::Unavailable("no controller answered".into());
        while Instant::now() < deadline {
            let hint = self.leader_hint.load(Ordering::Relaxed);
            let target = if hint >= 0 && self.voters.contains_key(&hint) {
                hint
            } else {
                next += 1;
                ids[(next - 1) % ids.len().max(1)]
            };
            let answer = match &self.local {
                Some(local) if local.id() == target => {
                    match local.handle(request.clone(), version, crate::net::now_ms()).await {
                        Ok((response, index)) => {
                            self.leader_hint.store(target, Ordering::Relaxed);
                            return Ok((response, index));
                        }
                        Err(e) => Err(e),
                    }
                }
                _ => {
                    let Some(peer) = self.voters.get(&target) else { break };
                    let call = PeerRequest::Call { api_key: key as i16, version, body: body.to_vec() };
                    match peer.send(&call, Duration::from_secs(5)).await {
                        Ok(PeerResponse::Call(r)) => r,
                        Ok(_) => Err(CallError::Unavailable("unexpected answer".into())),
                        Err(e) => Err(CallError::Unavailable(format!("controller {target}: {e}"))),
                    }
                }
            };
            match answer {
                Ok((bytes, index)) => {
                    self.leader_hint.store(target, Ordering::Relaxed);
                    let mut bytes = Bytes::from(bytes);
                    return ResponseKind::decode(key, &mut bytes, version)
                        .map(|r| (r, index))
                        .map_err(|e| CallError::BadRequest(e.to_string()));
                }
                Err(CallError::NotController { leader }) => {
                    self.leader_hint.store(leader.filter(|l| *l != target).unwrap_or(-1), Ordering::Relaxed);
                    last_error = CallError::NotController { leader };
                    if leader.is_none() || leader == Some(target) {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                Err(e @ CallError::BadRequest(_)) => return Err(e),
                Err(e) => {
                    self.leader_hint.store(-1, Ordering::Relaxed);
                    last_error = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        Err(last_error)
    }
}

/// A client for each voter of the cluster `cluster_id`.
pub fn peer_clients(voters: &BTreeMap<u64, BasicNode>, cluster_id: &str) -> BTreeMap<i32, PeerClient> {
    voters
        .iter()
        .map(|(id, n)| {
            let to = Addressee { cluster_id: cluster_id.to_string(), node_id: *id as i32 };
            (*id as i32, PeerClient::new(n.addr.clone(), to))
        })
        .collect()
}

/// The API key of a request a broker sends the controller (ApiVersions for any other kind).
pub fn api_key_of(request: &RequestKind) -> ApiKey {
    match request {
        RequestKind::BrokerRegistration(_) => ApiKey::BrokerRegistration,
        RequestKind::BrokerHeartbeat(_) => ApiKey::BrokerHeartbeat,
        RequestKind::UnregisterBroker(_) => ApiKey::UnregisterBroker,
        RequestKind::AlterPartition(_) => ApiKey::AlterPartition,
        RequestKind::AllocateProducerIds(_) => ApiKey::AllocateProducerIds,
        RequestKind::CreateTopics(_) => ApiKey::CreateTopics,
        RequestKind::CreatePartitions(_) => ApiKey::CreatePartitions,
        RequestKind::DeleteTopics(_) => ApiKey::DeleteTopics,
        RequestKind::AlterConfigs(_) => ApiKey::AlterConfigs,
        RequestKind::IncrementalAlterConfigs(_) => ApiKey::IncrementalAlterConfigs,
        RequestKind::ElectLeaders(_) => ApiKey::ElectLeaders,
        RequestKind::AlterPartitionReassignments(_) => ApiKey::AlterPartitionReassignments,
        RequestKind::ListPartitionReassignments(_) => ApiKey::ListPartitionReassignments,
        RequestKind::DescribeQuorum(_) => ApiKey::DescribeQuorum,
        _ => ApiKey::ApiVersions,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use tokio::net::TcpListener;

    use super::*;

    /// A call dropped half-way through writing its frame (openraft cancels replication calls) must not leave
    /// half a frame on a connection the next call uses: the peer would read the next frame inside this one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_dropped_mid_frame_does_not_corrupt_the_next_one() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (unreadable, answered) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (hold_tx, hold_rx) = tokio::sync::watch::channel(true);
        let (u, a) = (unreadable.clone(), answered.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                let (u, a, mut hold) = (u.clone(), a.clone(), hold_rx.clone());
                tokio::spawn(async move {
                    for n in 0.. {
                        // After the first frame, reads nothing until released, so the large one cannot be
                        // written whole.
                        if n == 1 {
                            let _ = hold.wait_for(|h| !h).await;
                        }
                        let mut size = [0u8; 4];
                        if stream.read_exact(&mut size).await.is_err() {
                            return;
                        }
                        let mut frame = vec![0u8; i32::from_be_bytes(size) as usize];
                        if stream.read_exact(&mut frame).await.is_err() {
                            return;
                        }
                        let (version, id, body) = decode_frame(&frame).unwrap();
                        if decode_request(version, body).is_err() {
                            u.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        a.fetch_add(1, Ordering::Relaxed);
                        let answer = serde_json::to_vec(&PeerResponse::Call(Ok((vec![], None)))).unwrap();
                        if stream.write_all(&encode_answer(id, &answer)).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let client = PeerClient::new(addr, Addressee { cluster_id: "c".into(), node_id: 1 });
        let call = |len: usize| PeerRequest::Call { api_key: 0, version: 0, body: vec![7; len] };
        // A first call opens the connection the client keeps.
        assert!(matches!(client.send(&call(10), Duration::from_secs(10)).await, Ok(PeerResponse::Call(Ok(_)))));
        // Far more than the socket buffers hold: the write blocks, and the caller gives up on it.
        let big = call(16 << 20);
        let dropped = tokio::time::timeout(Duration::from_secs(2), client.send(&big, Duration::from_secs(60))).await;
        assert!(dropped.is_err(), "the large call should still have been writing");
        hold_tx.send_replace(false);
        let answer = client.send(&call(10), Duration::from_secs(10)).await;
        assert!(matches!(answer, Ok(PeerResponse::Call(Ok(_)))), "{answer:?}");
        assert_eq!(unreadable.load(Ordering::Relaxed), 0, "a frame arrived with another inside it");
        assert_eq!(answered.load(Ordering::Relaxed), 2);
    }
}
