//! DeleteGroups: remove empty groups and their committed offsets.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::Broker;

pub(super) fn handle(broker: &Broker, request: DeleteGroupsRequest, now_ms: i64) -> DeleteGroupsResponse {
    let results: Vec<DeletableGroupResult> = request
        .groups_names
        .into_iter()
        .map(|id| {
            // Each group is deleted, stored and (if the store fails) restored on its own.
            let error = broker.change_groups(
                [id.0.as_str()],
                now_ms,
                |groups| groups.delete_group(id.0.as_str()).err(),
                |_, _, error| Some(error),
            );
            DeletableGroupResult::default().with_group_id(id).with_error_code(error.map_or(0, |e| e.code()))
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
