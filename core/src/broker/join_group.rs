//! JoinGroup: parked until the rebalance completes; the answer comes from the group coordinator's
//! completions.

use kafka_protocol::messages::JoinGroupRequest;

use super::{Broker, RequestContext};
use crate::coordinator::group::ClientInfo;

pub(super) fn handle(broker: &Broker, request: JoinGroupRequest, version: i16, ctx: &RequestContext, now_ms: i64) {
    let client = ClientInfo { client_id: ctx.client_id.clone(), client_host: ctx.client_host.clone() };
    let group_id = request.group_id.0.to_string();
    broker.change_groups(
        [group_id.as_str()],
        now_ms,
        |groups| groups.join_group(ctx.token, &request, version, &client, now_ms),
        |groups, (), error| groups.fail_join(ctx.token, request.member_id.as_str(), error),
    );
}
