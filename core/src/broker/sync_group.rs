//! SyncGroup: the leader hands in the assignment; every member gets its own. Parked until the leader's
//! assignment arrives and is stored.

use kafka_protocol::messages::SyncGroupRequest;

use super::{Broker, RequestContext};

pub(super) fn handle(broker: &Broker, request: SyncGroupRequest, version: i16, ctx: &RequestContext, now_ms: i64) {
    let group_id = request.group_id.0.to_string();
    broker.change_groups(
        [group_id.as_str()],
        now_ms,
        |groups| groups.sync_group(ctx.token, &request, version, now_ms),
        |groups, (), error| groups.fail_sync(ctx.token, error),
    );
}
