//! The native driver of the consumer's sans-IO [`Fetcher`](super::fetcher::Fetcher): one fetch round per call
//! from the consumer's `poll`, on the client runtime. The round polls the fetcher, sends each Fetch it asks for
//! from a task of its own, and waits until every fetch in flight was answered (or a backoff ended). Each task
//! feeds its answer to the fetcher itself and performs the metadata refresh that follows before it reports
//! back, so a round abandoned by a wake-up still has its answers applied and its partitions fetched again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fetcher::{Action, RequestId};
use super::native::ConsumerInner;
use crate::client::error::Result;
use crate::client::producer::lock;
use crate::client::requests::sb;

/// One round of fetches: a Fetch request to each leader of fetchable partitions, answers buffered in the
/// fetcher. Returns the fatal fetch error the round ran into, if any (retriable ones are retried next round).
pub(super) async fn fetch(inner: &Arc<ConsumerInner>, max_wait: Duration) -> Result<()> {
    let metadata = inner.cluster.metadata();
    let max_wait_ms = max_wait.as_millis().min(i32::MAX as u128) as i32;
    let (actions, deadline_ms) = {
        let mut state = lock(&inner.state);
        let actions = state.fetcher.poll(inner.now_ms(), &metadata, max_wait_ms);
        (actions, state.fetcher.next_deadline_ms())
    };
    let mut refreshes = Vec::new();
    let mut sent = false;
    for action in actions {
        match action {
            Action::Fetch { id, node, request } => {
                sent = true;
                let inner = inner.clone();
                // Detached on purpose (see the module documentation): a dropped round leaves it running.
                tokio::spawn(async move { answer(&inner, id, node, request, max_wait).await });
            }
            Action::RefreshMetadata { topics } => {
                let inner = inner.clone();
                refreshes.push(tokio::spawn(async move {
                    let _ = inner.cluster.refresh(Some(&topics), false).await;
                }));
            }
        }
    }
    let refreshed = refreshes.len();
    for refresh in refreshes {
        let _ = refresh.await;
    }
    loop {
        let answered = inner.fetched.notified();
        tokio::pin!(answered);
        answered.as_mut().enable();
        let in_flight = {
            let mut state = lock(&inner.state);
            if let Some(e) = state.fetcher.take_error() {
                return Err(e);
            }
            state.fetcher.in_flight()
        };
        if in_flight == 0 {
            break;
        }
        answered.await;
    }
    if !sent && refreshed == 0 {
        // Nothing could be fetched now because of a backoff: wait for it to end rather than poll in a loop.
        if let Some(ms) = deadline_ms {
            let until = inner.instant(ms).min(Instant::now() + max_wait);
            tokio::time::sleep_until(until.into()).await;
        }
    }
    Ok(())
}

/// Sends one Fetch, hands its outcome to the fetcher, performs the refreshes it asks for, and tells the round.
async fn answer(
    inner: &Arc<ConsumerInner>,
    id: RequestId,
    node: i32,
    request: kafka_protocol::messages::FetchRequest,
    max_wait: Duration,
) {
    let timeout = inner.cluster.config.request_timeout + max_wait;
    let result = inner
        .cluster
        .call_with_timeout(node, timeout, |version| {
            // Fetch v11 added rack_id; below it the field must stay empty to encode.
            if version < 11 {
                request.with_rack_id(sb(""))
            } else {
                request
            }
        })
        .await;
    let actions = lock(&inner.state).fetcher.on_response(id, inner.now_ms(), result);
    for action in actions {
        if let Action::RefreshMetadata { topics } = action {
            // The new leader is known before the next round, or it would ask the lost one again until the
            // metadata grows old (`metadata.max.age.ms`).
            let _ = inner.cluster.refresh(Some(&topics), false).await;
        }
    }
    inner.fetched.notify_waiters();
}
