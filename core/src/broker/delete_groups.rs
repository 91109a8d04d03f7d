//! DeleteGroups: remove empty groups and their committed offsets.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::Broker;

pub(super) fn handle(broker: &Broker, request: DeleteGroupsRequest, now_ms: i64) -> DeleteGroupsResponse {
    let mut groups = broker.groups();
    let mut results: Vec<DeletableGroupResult> = request
        .groups_names
        .into_iter()
        .map(|id| {
            let error = groups.delete_group(id.0.as_str()).err();
            DeletableGroupResult::default().with_group_id(id).with_error_code(error.map_or(0, |e| e.code()))
        })
        .collect();
    if let Err(e) = broker.persist_group_writes(&mut groups, now_ms) {
        for r in results.iter_mut().filter(|r| r.error_code == 0) {
            r.error_code = e.code();
        }
    }
    DeleteGroupsResponse::default().with_results(results)
}
