//! SyncGroup: the leader hands in the assignment; every member gets its own. Parked until the leader's
//! assignment arrives.

use kafka_protocol::messages::SyncGroupRequest;

use super::{Broker, RequestContext};

pub(super) fn handle(broker: &Broker, request: SyncGroupRequest, version: i16, ctx: &RequestContext, now_ms: i64) {
    let mut groups = broker.groups();
    groups.sync_group(ctx.token, &request, version, now_ms);
    let _ = broker.persist_group_writes(&mut groups, now_ms);
}
