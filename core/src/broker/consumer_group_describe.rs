//! ConsumerGroupDescribe (KIP-848): epochs, assignor, and each member's subscription, current assignment and
//! target assignment.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_describe_response::{Assignment, DescribedGroup, Member, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName};

use super::describe_groups::GROUP_AUTHORIZED_OPERATIONS;
use super::{str_bytes, Broker, AUTHORIZED_OPERATIONS_OMITTED};
use crate::controller::MetadataImage;
use crate::coordinator::group::TopicAssignment;

fn assignment(a: &TopicAssignment, image: &MetadataImage) -> Assignment {
    Assignment::default().with_topic_partitions(
        a.iter()
            .map(|(id, ps)| {
                let name = image.topic_by_id(id).map(|t| t.name.clone()).unwrap_or_default();
                TopicPartitions::default()
                    .with_topic_id(*id)
                    .with_topic_name(TopicName(str_bytes(name)))
                    .with_partitions(ps.iter().copied().collect())
            })
            .collect(),
    )
}

pub(super) fn handle(
    broker: &Broker,
    request: ConsumerGroupDescribeRequest,
    version: i16,
) -> ConsumerGroupDescribeResponse {
    let image = broker.metadata();
    let groups = broker.groups();
    let described = request
        .group_ids
        .into_iter()
        .map(|id| {
            let found = groups.group(id.0.as_str());
            let Some(cg) = found.and_then(|g| g.consumer.as_ref()) else {
                let message = match found {
                    Some(_) => format!("Group {} is not a consumer group.", id.0.as_str()),
                    None => format!("Group {} not found.", id.0.as_str()),
                };
                return DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(ResponseError::GroupIdNotFound.code())
                    .with_error_message(Some(str_bytes(message)));
            };
            let members = cg
                .members
                .values()
                .map(|m| {
                    let target = cg.target.get(&m.member_id).cloned().unwrap_or_default();
                    let member = Member::default()
                        .with_member_id(str_bytes(&m.member_id))
                        .with_instance_id(m.instance_id.as_deref().map(str_bytes))
                        .with_rack_id(m.rack_id.as_deref().map(str_bytes))
                        .with_member_epoch(m.member_epoch)
                        .with_client_id(str_bytes(&m.client_id))
                        .with_client_host(str_bytes(&m.client_host))
                        .with_subscribed_topic_names(
                            m.subscribed_topics.iter().map(|t| TopicName(str_bytes(t))).collect(),
                        )
                        .with_assignment(assignment(&m.assigned, &image))
                        .with_target_assignment(assignment(&target, &image));
                    // Version 1 says which protocol the member speaks: 1 is the consumer protocol.
                    if version >= 1 {
                        member.with_member_type(1)
                    } else {
                        member
                    }
                })
                .collect();
            DescribedGroup::default()
                .with_group_id(id)
                .with_group_state(str_bytes(cg.state_name()))
                .with_group_epoch(cg.group_epoch)
                .with_assignment_epoch(cg.assignment_epoch)
                .with_assignor_name(str_bytes(&cg.assignor))
                .with_members(members)
                .with_authorized_operations(if request.include_authorized_operations {
                    GROUP_AUTHORIZED_OPERATIONS
                } else {
                    AUTHORIZED_OPERATIONS_OMITTED
                })
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(described)
}
