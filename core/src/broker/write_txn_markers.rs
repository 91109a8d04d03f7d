//! WriteTxnMarkers: a transaction coordinator on another broker asks this one, as leader of some of a
//! transaction's partitions, to write the transaction's commit or abort marker there (Kafka's inter-broker
//! API). Each marker is a control batch with the producer's id and epoch and the coordinator's epoch; the
//! partition's producer rules fence markers from an older producer or coordinator epoch. A marker in
//! `__consumer_offsets` also makes the transaction's offset commits visible (or drops them) in the group
//! coordinator.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use super::{partition_error_code, Broker, OFFSETS_TOPIC};
use crate::record::{BatchBuilder, ControlType};
use crate::storage::AppendOrigin;

pub(super) fn handle(broker: &Broker, request: WriteTxnMarkersRequest, now_ms: i64) -> WriteTxnMarkersResponse {
    let image = broker.metadata();
    let markers = request
        .markers
        .into_iter()
        .map(|marker| {
            let commit = marker.transaction_result;
            let control = if commit { ControlType::Commit } else { ControlType::Abort };
            let topics = marker
                .topics
                .iter()
                .map(|topic| {
                    let name = topic.name.0.as_str();
                    let partitions = topic
                        .partition_indexes
                        .iter()
                        .map(|&partition| {
                            let result = WritableTxnMarkerPartitionResult::default().with_partition_index(partition);
                            let error = match broker.partition(name, partition) {
                                None => ResponseError::UnknownTopicOrPartition,
                                Some(replica) => {
                                    let built = BatchBuilder::control_marker(
                                        control,
                                        marker.coordinator_epoch,
                                        marker.producer_id.0,
                                        marker.producer_epoch,
                                        now_ms,
                                    )
                                    .build();
                                    let written =
                                        built.map_err(|_| ResponseError::UnknownServerError).and_then(|mut b| {
                                            replica
                                                .append_as_leader(
                                                    &mut b,
                                                    AppendOrigin::Coordinator,
                                                    1,
                                                    1,
                                                    now_ms,
                                                    |_| Ok(()),
                                                )
                                                .map_err(|e| partition_error_code(&e))
                                        });
                                    match written {
                                        Ok(_) => {
                                            if name == OFFSETS_TOPIC {
                                                let count = image
                                                    .topics
                                                    .get(OFFSETS_TOPIC)
                                                    .map_or(1, |t| t.partitions.len() as i32);
                                                broker.groups().complete_txn_offsets(
                                                    marker.producer_id.0,
                                                    commit,
                                                    partition,
                                                    count,
                                                    now_ms,
                                                );
                                            }
                                            return result;
                                        }
                                        Err(e) => e,
                                    }
                                }
                            };
                            result.with_error_code(error.code())
                        })
                        .collect();
                    WritableTxnMarkerTopicResult::default().with_name(topic.name.clone()).with_partitions(partitions)
                })
                .collect();
            WritableTxnMarkerResult::default().with_producer_id(marker.producer_id).with_topics(topics)
        })
        .collect();
    WriteTxnMarkersResponse::default().with_markers(markers)
}
