//! DeleteRecords: move partitions' log start offset up; whole segments below it are deleted. Offset -1 means
//! the high watermark.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::{partition_error_code, Broker};

pub(super) fn handle(broker: &Broker, request: DeleteRecordsRequest, now_ms: i64) -> DeleteRecordsResponse {
    let image = broker.metadata();
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let found = image.topics.get(topic.name.0.as_str());
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let response = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(-1);
                    let Some(replica) = found
                        .filter(|t| t.partition(p.partition_index).is_some())
                        .and_then(|t| broker.partition(&t.name, p.partition_index))
                    else {
                        return response.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    match replica.delete_records_before(p.offset, now_ms) {
                        Ok(low_watermark) => response.with_low_watermark(low_watermark),
                        Err(e) => response.with_error_code(partition_error_code(&e).code()),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default().with_name(topic.name).with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
