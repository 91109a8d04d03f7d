//! JoinGroup: parked until the rebalance completes; the answer comes from the group coordinator's
//! completions.

use kafka_protocol::messages::JoinGroupRequest;

use super::{Broker, RequestContext};
use crate::coordinator::group::ClientInfo;

pub(super) fn handle(broker: &Broker, request: JoinGroupRequest, version: i16, ctx: &RequestContext, now_ms: i64) {
    let client = ClientInfo { client_id: ctx.client_id.clone(), client_host: ctx.client_host.clone() };
    let mut groups = broker.groups();
    groups.join_group(ctx.token, &request, version, &client, now_ms);
    // Membership changes reach __consumer_offsets with the completion; a failed write is logged by the caller.
    let _ = broker.persist_group_writes(&mut groups, now_ms);
}
