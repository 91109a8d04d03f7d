//! LeaveGroup: one member (v0-2) or a batch of members by member id or group instance id (v3+).

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::Broker;

pub(super) fn handle(broker: &Broker, request: LeaveGroupRequest, version: i16, now_ms: i64) -> LeaveGroupResponse {
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| (m.member_id.to_string(), m.group_instance_id.as_ref().map(|i| i.to_string())))
            .collect()
    } else {
        vec![(request.member_id.to_string(), None)]
    };
    let group_id = request.group_id.0.as_str();
    let (group_error, results) = broker.change_groups(
        [group_id],
        now_ms,
        |groups| groups.leave_group(group_id, &members, now_ms),
        |_, (_, results), error| (Some(error), vec![Some(error); results.len()]),
    );
    if version < 3 {
        let error = group_error.or(results.first().copied().flatten());
        return LeaveGroupResponse::default().with_error_code(error.map_or(0, |e| e.code()));
    }
    let member_results = request
        .members
        .into_iter()
        .zip(results)
        .map(|(m, r)| {
            MemberResponse::default()
                .with_member_id(m.member_id)
                .with_group_instance_id(m.group_instance_id)
                .with_error_code(r.map_or(0, |e| e.code()))
        })
        .collect();
    LeaveGroupResponse::default().with_error_code(group_error.map_or(0, |e| e.code())).with_members(member_results)
}
