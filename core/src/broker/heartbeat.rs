//! Heartbeat: keeps a member's session alive and tells it when to rejoin (REBALANCE_IN_PROGRESS).

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::Broker;

pub(super) fn handle(broker: &Broker, request: HeartbeatRequest, now_ms: i64) -> HeartbeatResponse {
    broker.groups().heartbeat(&request, now_ms)
}
