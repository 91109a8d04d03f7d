//! DeleteTopics on the controller: remove topics (by name, or by id from v6); brokers delete the partition logs
//! when they apply the record.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use uuid::Uuid;

use super::quorum::{Draft, QuorumController};
use super::MetadataRecord;
use crate::broker::str_bytes;

impl QuorumController {
    pub(super) fn delete_topics(
        &mut self,
        draft: &mut Draft<'_>,
        request: DeleteTopicsRequest,
        version: i16,
    ) -> DeleteTopicsResponse {
        let wanted: Vec<(Option<String>, Uuid)> = if version >= 6 {
            request.topics.into_iter().map(|t| (t.name.map(|n| n.0.to_string()), t.topic_id)).collect()
        } else {
            request.topic_names.into_iter().map(|n| (Some(n.0.to_string()), Uuid::nil())).collect()
        };
        let responses = wanted
            .into_iter()
            .map(|(name, id)| {
                let image = &draft.image;
                let found = match &name {
                    Some(n) => image.topics.get(n),
                    None => image.topic_by_id(&id),
                };
                let result = DeletableTopicResult::default()
                    .with_name(name.clone().map(|n| TopicName(str_bytes(n))))
                    .with_topic_id(id);
                let Some(topic) = found else {
                    let error = if name.is_some() {
                        ResponseError::UnknownTopicOrPartition
                    } else {
                        ResponseError::UnknownTopicId
                    };
                    return result.with_error_code(error.code());
                };
                let result = result.with_name(Some(TopicName(str_bytes(&topic.name)))).with_topic_id(topic.id);
                if !self.config.delete_topic_enable {
                    return result.with_error_code(ResponseError::TopicDeletionDisabled.code());
                }
                let topic_id = topic.id;
                draft.push(MetadataRecord::RemoveTopic { topic_id });
                result
            })
            .collect();
        let mut responses: Vec<DeletableTopicResult> = responses;
        for r in &mut responses {
            if version < 5 {
                r.error_message = None;
            }
            if version < 6 {
                r.topic_id = Uuid::nil();
            }
        }
        DeleteTopicsResponse::default().with_responses(responses)
    }
}
