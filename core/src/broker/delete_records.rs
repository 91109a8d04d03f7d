//! DeleteRecords: move partitions' log start offset up; whole segments below it are deleted. Offset -1 means
//! the high watermark.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::{storage_error_code, Broker};
use crate::storage;

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
                    let Some(t) = found.filter(|t| t.partition(p.partition_index).is_some()) else {
                        return response.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    let Some(log) = broker.log(&t.name, p.partition_index) else {
                        return response.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    let mut log = storage::lock(&log);
                    let high_watermark = log.log_end_offset();
                    let offset = if p.offset == -1 { high_watermark } else { p.offset };
                    if offset < 0 || offset > high_watermark {
                        return response.with_error_code(ResponseError::OffsetOutOfRange.code());
                    }
                    match log.increment_log_start_offset(offset, high_watermark, now_ms) {
                        Ok(()) => response.with_low_watermark(log.log_start_offset()),
                        Err(e) => response.with_error_code(storage_error_code(&e).code()),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default().with_name(topic.name).with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
