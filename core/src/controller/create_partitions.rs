//! CreatePartitions on the controller: grow a topic to `count` partitions (never shrink it), placing the new
//! partitions' replicas as new topics' are placed, or where the request assigns them.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::create_topics::{usable_brokers, validate_manual_assignment};
use super::placement::Placer;
use super::quorum::{Draft, QuorumController};
use crate::broker::str_bytes;

impl QuorumController {
    pub(super) fn create_partitions(
        &mut self,
        draft: &mut Draft<'_>,
        request: CreatePartitionsRequest,
    ) -> CreatePartitionsResponse {
        let mut results = Vec::with_capacity(request.topics.len());
        for t in request.topics {
            let name = t.name.0.to_string();
            let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            let refuse = |error: ResponseError, msg: String| {
                CreatePartitionsTopicResult::default()
                    .with_name(t.name.clone())
                    .with_error_code(error.code())
                    .with_error_message(Some(str_bytes(msg)))
            };
            let Some(topic) = draft.image.topics.get(&name) else {
                results.push(refuse(
                    ResponseError::UnknownTopicOrPartition,
                    format!("The topic '{name}' does not exist."),
                ));
                continue;
            };
            let (topic_id, current) = (topic.id, topic.partitions.len() as i32);
            let replication_factor = topic.partitions.first().map_or(1, |p| p.replicas.len());
            if t.count == current {
                results.push(refuse(
                    ResponseError::InvalidPartitions,
                    format!("Topic already has {current} partition(s)."),
                ));
                continue;
            }
            if t.count < current {
                results.push(refuse(
                    ResponseError::InvalidPartitions,
                    format!(
                        "The topic {name} currently has {current} partition(s); {} would not be an increase.",
                        t.count
                    ),
                ));
                continue;
            }
            let additional = (t.count - current) as usize;
            let image = &draft.image;
            let active = |r: i32| QuorumController::is_active(image, r);
            let assignments = match &t.assignments {
                Some(given) => {
                    if given.len() != additional {
                        results.push(refuse(
                            ResponseError::InvalidReplicaAssignment,
                            format!(
                                "Attempted to add {additional} additional partition(s), but only {} assignment(s) were specified.",
                                given.len()
                            ),
                        ));
                        continue;
                    }
                    let mut assignments = Vec::with_capacity(additional);
                    let mut refused = None;
                    for (i, a) in given.iter().enumerate() {
                        let replicas: Vec<i32> = a.broker_ids.iter().map(|b| b.0).collect();
                        if let Err((e, m)) = validate_manual_assignment(image, &replicas, Some(replication_factor)) {
                            refused = Some(refuse(e, m));
                            break;
                        }
                        if !replicas.iter().any(|r| active(*r)) {
                            refused = Some(refuse(
                                ResponseError::InvalidReplicaAssignment,
                                format!(
                                    "All brokers specified in the manual partition assignment for partition {} are fenced or in controlled shutdown.",
                                    current as usize + i
                                ),
                            ));
                            break;
                        }
                        assignments.push(replicas);
                    }
                    if let Some(r) = refused {
                        results.push(r);
                        continue;
                    }
                    assignments
                }
                None => {
                    let rf = replication_factor as i32;
                    let mut placer = Placer::new(&mut self.rng, usable_brokers(image));
                    let placed: Result<Vec<Vec<i32>>, _> = (0..additional).map(|_| placer.place(rf)).collect();
                    match placed {
                        Ok(a) => a,
                        Err(e) => {
                            results.push(refuse(
                                ResponseError::InvalidReplicationFactor,
                                format!("Unable to replicate the partition {rf} time(s): {}", e.0),
                            ));
                            continue;
                        }
                    }
                }
            };
            if request.validate_only {
                results.push(result);
                continue;
            }
            let records = super::partition_records(topic_id, current, &assignments, active);
            draft.extend(records);
            results.push(result);
        }
        CreatePartitionsResponse::default().with_results(results)
    }
}
