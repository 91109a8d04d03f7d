//! ConsumerGroupHeartbeat (KIP-848): the consumer protocol's single call for joining, heartbeating,
//! reconciling the server-computed assignment and leaving.

use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};

use super::{Broker, RequestContext};
use crate::coordinator::group::ClientInfo;

pub(super) fn handle(
    broker: &Broker,
    request: ConsumerGroupHeartbeatRequest,
    version: i16,
    ctx: &RequestContext,
    now_ms: i64,
) -> ConsumerGroupHeartbeatResponse {
    let client = ClientInfo { client_id: ctx.client_id.clone(), client_host: ctx.client_host.clone() };
    let image = broker.metadata();
    let mut groups = broker.groups();
    groups.consumer_heartbeat(&request, version, &client, &image, now_ms)
}
