//! ListGroups: every group with its protocol type, state (v4+) and type (v5+), optionally filtered.

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::{str_bytes, Broker};

pub(super) fn handle(broker: &Broker, request: ListGroupsRequest, version: i16) -> ListGroupsResponse {
    let groups = broker.groups();
    let states: Vec<String> = request.states_filter.iter().map(|s| s.to_lowercase()).collect();
    let types: Vec<String> = request.types_filter.iter().map(|s| s.to_lowercase()).collect();
    let mut listed: Vec<ListedGroup> = groups
        .groups()
        .filter(|g| states.is_empty() || states.contains(&g.state_name().to_lowercase()))
        .filter(|g| types.is_empty() || types.iter().any(|t| t == g.group_type()))
        .map(|g| {
            let l = ListedGroup::default().with_group_id(GroupId(str_bytes(&g.group_id))).with_protocol_type(
                str_bytes(if g.consumer.is_some() {
                    "consumer".to_string()
                } else {
                    g.protocol_type.clone().unwrap_or_default()
                }),
            );
            let l = if version >= 4 { l.with_group_state(str_bytes(g.state_name())) } else { l };
            if version >= 5 {
                l.with_group_type(str_bytes(g.group_type()))
            } else {
                l
            }
        })
        .collect();
    listed.sort_by(|a, b| a.group_id.0.as_str().cmp(b.group_id.0.as_str()));
    ListGroupsResponse::default().with_groups(listed)
}
