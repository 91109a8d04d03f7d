//! A broker that is not a controller (`process.roles=broker`) follows the metadata log as an observer: it
//! fetches the committed entries from the controllers and applies them to its own image, as Kafka's brokers
//! fetch `__cluster_metadata-0` from the quorum's leader without voting.
//!
//! The image is kept in memory and rebuilt from the controllers at every start (Kafka's brokers also keep a
//! copy on disk, so they can answer Metadata while no controller is up; a potok broker-only node answers from
//! an empty image until a controller does). The broker is fenced until its image has caught up anyway.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use openraft::BasicNode;
use tokio::sync::watch;

use super::peer::{PeerClient, PeerRequest, PeerResponse};
use super::state_machine::{apply_entry, image_of};
use super::{MetadataChunk, FETCH_MAX_WAIT};
use crate::controller::image::MetadataImage;

/// What the observer has applied.
struct Applied {
    image: MetadataImage,
    next_offset: i64,
    /// The index of the last entry applied.
    last: Option<u64>,
}

/// A broker's copy of the committed metadata log, fetched from the controllers.
pub struct MetadataObserver {
    node_id: i32,
    voters: BTreeMap<i32, PeerClient>,
    applied: Mutex<Applied>,
    image: watch::Sender<Arc<MetadataImage>>,
    /// The index of the last entry applied, for [`MetadataObserver::wait_applied`].
    index: watch::Sender<Option<u64>>,
    leader: AtomicI32,
}

impl std::fmt::Debug for MetadataObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataObserver").field("node_id", &self.node_id).finish()
    }
}

impl MetadataObserver {
    pub fn new(node_id: i32, voters: &BTreeMap<u64, BasicNode>, cluster_id: &str) -> Self {
        MetadataObserver {
            node_id,
            // Its own connections: a fetch waits on the controller, and must not hold up the broker's calls.
            voters: super::peer::peer_clients(voters, cluster_id),
            applied: Mutex::new(Applied { image: MetadataImage::default(), next_offset: 0, last: None }),
            image: watch::Sender::new(Arc::new(MetadataImage::default())),
            index: watch::Sender::new(None),
            leader: AtomicI32::new(-1),
        }
    }

    /// The image of what has been fetched so far, updated after every fetch that brought entries.
    pub fn image(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.image.subscribe()
    }

    /// The controller the last answer named as the quorum's leader.
    pub fn leader(&self) -> Option<i32> {
        Some(self.leader.load(Ordering::Relaxed)).filter(|l| *l >= 0)
    }

    /// Waits (at most `timeout`) until the entry at `index` is applied here, so a forwarded request's answer
    /// comes after the broker's image has what it changed.
    pub async fn wait_applied(&self, index: u64, timeout: Duration) {
        let mut applied = self.index.subscribe();
        let _ = tokio::time::timeout(timeout, applied.wait_for(|a| a.is_some_and(|a| a >= index))).await;
    }

    /// Applies a fetched chunk (entries that do not follow the last applied one are ignored, as a repeated
    /// answer would be); returns whether the image moved.
    fn apply(&self, chunk: &MetadataChunk) -> bool {
        let mut applied = self.applied.lock().unwrap_or_else(PoisonError::into_inner);
        let before = applied.last;
        if let Some(s) = chunk.snapshot.as_ref().filter(|s| applied.last.is_none_or(|l| l < s.last_index)) {
            applied.image = image_of(&s.records, s.next_offset);
            applied.next_offset = s.next_offset;
            applied.last = Some(s.last_index);
        }
        for entry in &chunk.entries {
            let expected = applied.last.map_or(0, |l| l + 1);
            if entry.log_id.index != expected {
                continue;
            }
            let Applied { image, next_offset, .. } = &mut *applied;
            apply_entry(image, next_offset, &entry.payload);
            applied.last = Some(entry.log_id.index);
        }
        if applied.last == before {
            return false;
        }
        self.image.send_replace(Arc::new(applied.image.clone()));
        self.index.send_replace(applied.last);
        true
    }

    /// One fetch from `target`; `Err` when it did not answer.
    async fn fetch_from(&self, target: i32) -> Result<MetadataChunk, String> {
        let Some(peer) = self.voters.get(&target) else { return Err(format!("controller {target} is unknown")) };
        let after = self.applied.lock().unwrap_or_else(PoisonError::into_inner).last;
        let request =
            PeerRequest::FetchMetadata { node_id: self.node_id, after, max_wait_ms: FETCH_MAX_WAIT.as_millis() as u64 };
        match peer.send(&request, FETCH_MAX_WAIT + Duration::from_secs(5)).await {
            Ok(PeerResponse::FetchMetadata(Ok(chunk))) => Ok(chunk),
            Ok(PeerResponse::FetchMetadata(Err(e))) => Err(e.to_string()),
            Ok(_) => Err(format!("controller {target} answered something else")),
            Err(e) => Err(format!("controller {target}: {e}")),
        }
    }

    /// Fetches until `stop` changes, from the leader when known (its log is the furthest committed), otherwise
    /// from each controller in turn; `changed` is called after every fetch that moved the image.
    pub async fn run(&self, mut stop: watch::Receiver<bool>, changed: impl Fn(Arc<MetadataImage>)) {
        let ids: Vec<i32> = self.voters.keys().copied().collect();
        if ids.is_empty() {
            return;
        }
        let mut next = 0usize;
        let mut failures = 0u32;
        loop {
            let target = match self.leader() {
                Some(l) if self.voters.contains_key(&l) => l,
                _ => {
                    next += 1;
                    ids[(next - 1) % ids.len()]
                }
            };
            let fetched = tokio::select! {
                _ = stop.changed() => return,
                r = self.fetch_from(target) => r,
            };
            match fetched {
                Ok(chunk) => {
                    failures = 0;
                    self.leader.store(chunk.leader.unwrap_or(-1), Ordering::Relaxed);
                    if self.apply(&chunk) {
                        changed(self.image.borrow().clone());
                    }
                }
                Err(e) => {
                    self.leader.store(-1, Ordering::Relaxed);
                    failures += 1;
                    // Every controller in turn, then a pause: nobody answers while the quorum starts or is gone.
                    if failures.is_multiple_of(ids.len() as u32) {
                        if failures == ids.len() as u32 * 10 {
                            tracing::warn!(target: "potok::broker", "no controller answers a metadata fetch: {e}");
                        }
                        tokio::select! {
                            _ = stop.changed() => return,
                            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                        }
                    }
                }
            }
        }
    }
}
