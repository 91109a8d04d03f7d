//! The follower's fetchers: one task per leader broker this broker follows partitions from (Kafka's replica
//! fetcher threads with the default `num.replica.fetchers=1`), each with its own connection. What to fetch
//! and what to do with the answer is the broker's ([`Broker::replica_fetch_request`],
//! [`Broker::replica_fetch_answer`]); a task only sends, waits and reconnects.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::{ApiKey, FetchRequest};
use kafka_protocol::protocol::Message;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::client::Connection;
use super::{now_ms, Shared};
use crate::broker::ReplicaFetch;

/// How often the set of leaders to fetch from is compared with the running fetchers.
const RESCAN: Duration = Duration::from_millis(100);
/// `replica.socket.timeout.ms`'s default: the longest a fetch answer may take beyond its own wait.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest fetch answer read (a replica fetch asks for at most 10 MiB; one batch may exceed it).
const MAX_RESPONSE_BYTES: usize = 256 << 20;

/// Starts and stops fetchers as leaderships move, until `stop`.
pub(super) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut running: HashMap<i32, JoinHandle<()>> = HashMap::new();
    let mut tick = tokio::time::interval(RESCAN);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {}
        }
        running.retain(|_, task| !task.is_finished());
        for leader in shared.broker.replica_fetch_leaders() {
            running.entry(leader).or_insert_with(|| tokio::spawn(fetch_from(shared.clone(), leader, stop.clone())));
        }
    }
    for task in running.values() {
        task.abort();
    }
}

/// Fetches from `leader` until this broker follows nothing from it.
async fn fetch_from(shared: Arc<Shared>, leader: i32, mut stop: watch::Receiver<bool>) {
    let config = shared.broker.config();
    let backoff = Duration::from_millis(config.replica_fetch_backoff_ms.clamp(10, 60_000) as u64);
    let wait = Duration::from_millis(config.replica_fetch_wait_max_ms.max(0) as u64);
    let client_id = format!("potok-replica-fetcher-{}-from-{leader}", config.node_id);
    let mut connection: Option<Arc<Connection>> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        let conn = match connection.as_ref().filter(|c| !c.is_closed()) {
            Some(c) => c.clone(),
            None => {
                connection = None;
                // A leader that died stays registered (fenced) while its partitions move: stop once nothing is
                // followed from it any more, rather than dialling it forever.
                if !shared.broker.replica_fetch_leaders().contains(&leader) {
                    return;
                }
                let Some(address) = shared.broker.broker_address(leader) else {
                    pause(&mut stop, backoff).await;
                    continue;
                };
                match Connection::connect(&address, &client_id, MAX_RESPONSE_BYTES, Duration::from_secs(10)).await {
                    Ok(c) => {
                        connection = Some(c.clone());
                        c
                    }
                    Err(e) => {
                        tracing::debug!(target: "potok::replication", "cannot reach broker {leader} at {address}: {e}");
                        pause(&mut stop, backoff).await;
                        continue;
                    }
                }
            }
        };
        let Ok(version) = conn.version(ApiKey::Fetch, 12, FetchRequest::VERSIONS.max) else {
            tracing::warn!(target: "potok::replication", "broker {leader} does not speak Fetch v12 or later");
            connection = None;
            pause(&mut stop, backoff).await;
            continue;
        };
        let request = match shared.broker.replica_fetch_request(leader, version, now_ms()) {
            ReplicaFetch::Done => return,
            ReplicaFetch::Idle => {
                pause(&mut stop, backoff.min(Duration::from_millis(100))).await;
                continue;
            }
            ReplicaFetch::Send(request) => request,
        };
        let answer = tokio::select! {
            _ = stop.changed() => return,
            answer = tokio::time::timeout(wait + SOCKET_TIMEOUT, conn.send(&request, version)) => match answer {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("no answer in time".to_string()),
            },
        };
        let failed = answer.is_err();
        shared.broker.replica_fetch_answer(leader, &request, version, answer, now_ms());
        // The driver sends the ISR changes and answers the waiting requests this may have decided.
        shared.wake.notify_one();
        if failed {
            connection = None;
            pause(&mut stop, backoff).await;
        }
    }
}

async fn pause(stop: &mut watch::Receiver<bool>, duration: Duration) {
    tokio::select! {
        _ = stop.changed() => {}
        _ = tokio::time::sleep(duration) => {}
    }
}
