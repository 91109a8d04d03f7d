//! The native driver of the consumer's sans-IO group membership
//! ([`ConsumerCoordinator`](super::coordinator::ConsumerCoordinator)): one task per consumer on the client
//! runtime runs the machine's timers (heartbeats, the session and poll timers, coordinator lookups and join
//! retries), every request the machine asks for is sent from a task of its own whose answer is fed back, and
//! the consumer's `poll` (on the application's thread) runs the callback actions. Waiters learn about answers
//! through `ConsumerInner::group_changed` and the `group_events` count.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::coordinator::{
    join_group_for_version, leave_group_for_version, sync_group_for_version, Action, Request, RequestId, Response,
};
use super::native::ConsumerInner;
use crate::client::error::{ClientError, Result};
use crate::client::find_coordinator_for_version;
use crate::client::producer::lock;

/// The longest the group task sleeps with nothing due: it wakes earlier when told to.
const IDLE_WAIT: Duration = Duration::from_secs(1);
const MIN_WAIT: Duration = Duration::from_millis(1);

/// Sends the requests among `actions`, each from a task of its own (the machine's `poll` and `on_response`
/// emit nothing else).
pub(super) fn dispatch(inner: &Arc<ConsumerInner>, actions: Vec<Action>) {
    for action in actions {
        match action {
            Action::Send { id, node, timeout_ms, request } => {
                let inner = inner.clone();
                crate::client::runtime::handle()
                    .spawn(async move { send(&inner, id, node, timeout_ms, request).await });
            }
            other => debug_assert!(false, "a callback action reached the IO side: {other:?}"),
        }
    }
}

/// Sends one request, feeds its outcome to the machine, sends what follows, and tells the waiters.
pub(super) async fn send(
    inner: &Arc<ConsumerInner>,
    id: RequestId,
    node: Option<i32>,
    timeout_ms: Option<u64>,
    request: Request,
) {
    let result = execute(inner, node, timeout_ms, request).await;
    let Some(coordinator) = inner.coordinator.as_ref() else { return };
    let actions = lock(coordinator).on_response(id, inner.now_ms(), result);
    dispatch(inner, actions);
    inner.group_events.fetch_add(1, Ordering::AcqRel);
    inner.group_changed.notify_waiters();
    inner.group_task.notify_one();
}

async fn execute(
    inner: &ConsumerInner,
    node: Option<i32>,
    timeout_ms: Option<u64>,
    request: Request,
) -> Result<Response> {
    let cluster = &inner.cluster;
    let timeout = timeout_ms.map(Duration::from_millis).unwrap_or(cluster.config.request_timeout);
    let coordinator = || node.ok_or_else(|| ClientError::IllegalState("a group request without a coordinator".into()));
    Ok(match request {
        Request::FindCoordinator(r) => {
            let response = cluster.call(node, |v| find_coordinator_for_version(r, v)).await?;
            // The coordinator may not be in the metadata yet: remember where it listens.
            let found = match response.coordinators.first() {
                Some(c) => (c.error_code, c.node_id.0, c.host.to_string(), c.port),
                None => (response.error_code, response.node_id.0, response.host.to_string(), response.port),
            };
            if let (0, node, host, port) = found {
                cluster.learn_broker(node, &host, port);
            }
            Response::FindCoordinator(response)
        }
        Request::JoinGroup(r) => Response::JoinGroup(
            cluster.call_with_timeout(coordinator()?, timeout, |v| join_group_for_version(r, v)).await?,
        ),
        Request::SyncGroup(r) => Response::SyncGroup(
            cluster.call_with_timeout(coordinator()?, timeout, |v| sync_group_for_version(r, v)).await?,
        ),
        Request::Heartbeat(r) => Response::Heartbeat(cluster.call_with_timeout(coordinator()?, timeout, |_| r).await?),
        Request::LeaveGroup(r) => Response::LeaveGroup(
            cluster.call_with_timeout(coordinator()?, timeout, |v| leave_group_for_version(r, v)).await?,
        ),
        Request::Metadata { topics } => {
            let metadata = cluster.refresh(Some(&topics), inner.config.allow_auto_create_topics).await?;
            let counts: BTreeMap<String, i32> = topics
                .iter()
                .filter_map(|t| metadata.topics.get(t).map(|m| (t.clone(), m.partitions.len() as i32)))
                .collect();
            Response::Metadata(counts)
        }
    })
}

/// The consumer's group task: runs the machine's timers until the consumer closes.
pub(super) async fn run(inner: Arc<ConsumerInner>) {
    let Some(coordinator) = inner.coordinator.as_ref() else { return };
    while !inner.is_closed() {
        let (actions, deadline_ms) = {
            let mut c = lock(coordinator);
            let actions = c.poll(inner.now_ms());
            (actions, c.next_deadline_ms())
        };
        dispatch(&inner, actions);
        let now = std::time::Instant::now();
        // At least a millisecond, so a deadline the machine has nothing to do at cannot make this loop spin.
        let until = deadline_ms.map_or(now + IDLE_WAIT, |ms| inner.instant(ms)).clamp(now + MIN_WAIT, now + IDLE_WAIT);
        tokio::select! {
            _ = inner.group_task.notified() => {}
            _ = tokio::time::sleep_until(until.into()) => {}
        }
    }
}
