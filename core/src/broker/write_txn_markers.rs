//! WriteTxnMarkers: a transaction coordinator on another broker asks this one, as leader of some of a
//! transaction's partitions, to write the transaction's commit or abort marker there (Kafka's inter-broker
//! API). Each marker is a control batch with the producer's id and epoch and the coordinator's epoch; the
//! partition's producer rules fence markers from an older producer or coordinator epoch.
//!
//! As in Kafka, a marker is appended with acks=all: refused with NOT_ENOUGH_REPLICAS while the ISR is smaller
//! than `min.insync.replicas`, and answered only once every in-sync replica has it. A marker acknowledged
//! before that could be truncated away by a leader change after the coordinator completed the transaction,
//! leaving its records to whatever marker comes next. A marker in `__consumer_offsets` makes the transaction's
//! offset commits visible (or drops them) in the group coordinator once it is replicated.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use super::produce::replication_status;
use super::{partition_error_code, Broker, OFFSETS_TOPIC};
use crate::record::{BatchBuilder, ControlType};
use crate::storage::{AppendOrigin, TopicPartition};

/// How long a marker waits for the in-sync replicas before the answer is REQUEST_TIMED_OUT (and the coordinator
/// tries again): within the coordinator's call timeout, so the answer arrives before it gives up on the call.
pub(super) const MARKER_REPLICATION_TIMEOUT_MS: i64 = 20_000;

/// The answer to a WriteTxnMarkers request: now, or once the markers it wrote are replicated.
pub(super) enum Written {
    Respond(WriteTxnMarkersResponse),
    Wait(WaitingMarkers),
}

/// One written marker waiting for the in-sync replicas.
#[derive(Debug)]
struct Pending {
    /// Where its result is in the response: marker, topic, partition.
    at: (usize, usize, usize),
    tp: TopicPartition,
    required_offset: i64,
    min_insync_replicas: i32,
    producer_id: i64,
    commit: bool,
}

/// A WriteTxnMarkers request whose answer waits for its markers to be replicated (Kafka's DelayedProduce).
#[derive(Debug)]
pub(super) struct WaitingMarkers {
    response: WriteTxnMarkersResponse,
    pending: Vec<Pending>,
}

impl WaitingMarkers {
    /// The partitions whose changes may complete it.
    pub(super) fn partitions(&self) -> Vec<TopicPartition> {
        self.pending.iter().map(|p| p.tp.clone()).collect()
    }
}

pub(super) fn handle(broker: &Broker, request: WriteTxnMarkersRequest, now_ms: i64) -> Written {
    let image = broker.metadata();
    let mut pending = Vec::new();
    let mut markers = Vec::with_capacity(request.markers.len());
    for (m, marker) in request.markers.into_iter().enumerate() {
        let commit = marker.transaction_result;
        let control = if commit { ControlType::Commit } else { ControlType::Abort };
        let mut topics = Vec::with_capacity(marker.topics.len());
        for (t, topic) in marker.topics.iter().enumerate() {
            let name = topic.name.0.as_str();
            let mut partitions = Vec::with_capacity(topic.partition_indexes.len());
            for (p, &partition) in topic.partition_indexes.iter().enumerate() {
                let result = WritableTxnMarkerPartitionResult::default().with_partition_index(partition);
                let (Some(replica), Some(topic_image)) = (broker.partition(name, partition), image.topics.get(name))
                else {
                    partitions.push(result.with_error_code(ResponseError::UnknownTopicOrPartition.code()));
                    continue;
                };
                let min_isr = broker.min_insync_replicas(topic_image, &image);
                let built = BatchBuilder::control_marker(
                    control,
                    marker.coordinator_epoch,
                    marker.producer_id.0,
                    marker.producer_epoch,
                    now_ms,
                )
                .build();
                let written = built.map_err(|_| ResponseError::UnknownServerError).and_then(|b| {
                    replica
                        .append_as_leader(&b, AppendOrigin::Coordinator, -1, min_isr, now_ms, |_| Ok(()))
                        .map_err(|e| partition_error_code(&e))
                });
                match written {
                    Ok(info) => pending.push(Pending {
                        at: (m, t, p),
                        tp: TopicPartition { topic: name.to_string(), partition },
                        required_offset: info.last_offset + 1,
                        min_insync_replicas: min_isr,
                        producer_id: marker.producer_id.0,
                        commit,
                    }),
                    Err(e) => {
                        partitions.push(result.with_error_code(e.code()));
                        continue;
                    }
                }
                partitions.push(result);
            }
            topics.push(
                WritableTxnMarkerTopicResult::default().with_name(topic.name.clone()).with_partitions(partitions),
            );
        }
        markers.push(WritableTxnMarkerResult::default().with_producer_id(marker.producer_id).with_topics(topics));
    }
    let waiting = WaitingMarkers { response: WriteTxnMarkersResponse::default().with_markers(markers), pending };
    if settled(broker, &waiting) {
        return Written::Respond(complete(broker, waiting, now_ms));
    }
    Written::Wait(waiting)
}

fn status(broker: &Broker, p: &Pending) -> Option<Result<(), ResponseError>> {
    replication_status(broker, &p.tp, p.required_offset, p.min_insync_replicas)
}

/// Whether every written marker is decided (replicated, or its partition moved or lost in-sync replicas).
pub(super) fn settled(broker: &Broker, waiting: &WaitingMarkers) -> bool {
    waiting.pending.iter().all(|p| status(broker, p).is_some())
}

/// The answer, now: a marker still waiting is REQUEST_TIMED_OUT. Replicated markers in `__consumer_offsets`
/// complete the transaction's offset commits.
pub(super) fn complete(broker: &Broker, waiting: WaitingMarkers, now_ms: i64) -> WriteTxnMarkersResponse {
    let WaitingMarkers { mut response, pending } = waiting;
    for p in pending {
        let error = match status(broker, &p) {
            Some(Ok(())) => {
                if p.tp.topic == OFFSETS_TOPIC {
                    let count = broker.metadata().topics.get(OFFSETS_TOPIC).map_or(1, |t| t.partitions.len() as i32);
                    broker.groups().complete_txn_offsets(p.producer_id, p.commit, p.tp.partition, count, now_ms);
                }
                continue;
            }
            Some(Err(e)) => e,
            None => ResponseError::RequestTimedOut,
        };
        tracing::warn!(target: "potok::coordinator", "{}: the marker at offset {} was not replicated: {error:?}", p.tp, p.required_offset - 1);
        let (m, t, i) = p.at;
        if let Some(r) =
            response.markers.get_mut(m).and_then(|m| m.topics.get_mut(t)).and_then(|t| t.partitions.get_mut(i))
        {
            r.error_code = error.code();
        }
    }
    response
}
