//! DescribeGroups: state, protocol and members (with their metadata and assignment) of groups.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use super::{str_bytes, Broker, AUTHORIZED_OPERATIONS_OMITTED};
use crate::coordinator::group::GroupState;

/// READ, DELETE, DESCRIBE, DESCRIBE_CONFIGS and ALTER_CONFIGS, the operations a group resource supports in
/// Kafka 4 (group configs came with KIP-848), as a bit set.
pub(super) const GROUP_AUTHORIZED_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8) | (1 << 10) | (1 << 11);

pub(super) fn handle(broker: &Broker, request: DescribeGroupsRequest, version: i16) -> DescribeGroupsResponse {
    let groups = broker.groups();
    let described = request
        .groups
        .into_iter()
        .map(|id| {
            let operations = if version >= 3 && request.include_authorized_operations {
                GROUP_AUTHORIZED_OPERATIONS
            } else {
                AUTHORIZED_OPERATIONS_OMITTED
            };
            let Some(g) = groups.group(id.0.as_str()).filter(|g| g.consumer.is_none()) else {
                let d = DescribedGroup::default()
                    .with_group_id(id)
                    .with_group_state(str_bytes(GroupState::Dead.name()))
                    .with_authorized_operations(operations);
                return if version >= 6 {
                    d.with_error_code(ResponseError::GroupIdNotFound.code())
                        .with_error_message(Some(str_bytes("Group not found.")))
                } else {
                    d
                };
            };
            let protocol = g.protocol.clone().unwrap_or_default();
            let stable = g.state == GroupState::Stable;
            let members = g
                .members
                .iter()
                .map(|m| {
                    let meta =
                        m.protocols.iter().find(|(n, _)| *n == protocol).map(|(_, b)| b.clone()).unwrap_or_default();
                    DescribedGroupMember::default()
                        .with_member_id(str_bytes(&m.member_id))
                        .with_group_instance_id(if version >= 4 {
                            m.group_instance_id.as_deref().map(str_bytes)
                        } else {
                            None
                        })
                        .with_client_id(str_bytes(&m.client_id))
                        .with_client_host(str_bytes(&m.client_host))
                        .with_member_metadata(if stable { meta } else { Default::default() })
                        .with_member_assignment(if stable { m.assignment.clone() } else { Default::default() })
                })
                .collect();
            DescribedGroup::default()
                .with_group_id(id)
                .with_group_state(str_bytes(g.state.name()))
                .with_protocol_type(str_bytes(g.protocol_type.clone().unwrap_or_default()))
                .with_protocol_data(str_bytes(protocol))
                .with_members(members)
                .with_authorized_operations(operations)
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(described)
}
