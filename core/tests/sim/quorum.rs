//! The controller quorum as the simulation models it. Raft itself (openraft) is a library potok trusts, so it
//! is not simulated message by message: the committed metadata log is one append-only list of entries shared
//! by every node, and an election is a decision the model takes when the leader is dead or cut off from a
//! majority — a new epoch, led by a live voter that reaches a majority, whose first entry is the blank entry
//! (Kafka's LeaderChange) a new Raft leader commits. What runs for real on top is potok's sans-IO
//! [`QuorumController`], activated for each epoch over the committed image as `ControllerNode::lead` does,
//! deciding on that image and committing what it decides only while its epoch is current and it reaches a
//! majority (a deposed leader's writes never commit, as in Raft).

use std::sync::Arc;

use potok::controller::{MetadataImage, MetadataRecord, QuorumController};

/// One entry of the metadata log: one Raft entry, as potok's quorum writes them.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A blank entry (a new leader's LeaderChange, or the initial membership): one offset, no record.
    Blank { epoch: u64 },
    /// One controller decision: a batch of records, one offset each.
    Records { epoch: u64, records: Vec<MetadataRecord> },
}

/// The committed metadata log and the image after each of its prefixes.
pub struct MetadataLog {
    pub entries: Vec<Entry>,
    /// `images[k]`: the image after the first `k` entries.
    pub images: Vec<Arc<MetadataImage>>,
    next_offset: i64,
}

impl MetadataLog {
    pub fn new() -> Self {
        let mut log =
            MetadataLog { entries: Vec::new(), images: vec![Arc::new(MetadataImage::default())], next_offset: 0 };
        // The initial membership (KRaftVoters) entry every quorum starts with.
        log.append(Entry::Blank { epoch: 0 });
        log
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn image(&self) -> &Arc<MetadataImage> {
        self.images.last().expect("the log has an image for its empty prefix")
    }

    /// Appends a committed entry and returns its index. The image is built as potok's state machine applies
    /// entries (`apply_entry`): a blank entry moves the offset on, each record is applied at its own offset.
    pub fn append(&mut self, entry: Entry) -> usize {
        let epoch_of = |e: &Entry| match e {
            Entry::Blank { epoch } | Entry::Records { epoch, .. } => *epoch,
        };
        if let Some(last) = self.entries.last() {
            assert!(epoch_of(&entry) >= epoch_of(last), "the metadata log's epochs never go back");
        }
        let mut image = (**self.image()).clone();
        match &entry {
            Entry::Blank { .. } => {
                image.skip_to(self.next_offset);
                self.next_offset += 1;
            }
            Entry::Records { records, .. } => {
                for record in records {
                    // Committed records go through their encoding, as they do between real nodes.
                    let decoded = MetadataRecord::decode(&record.encode()).expect("a committed record decodes");
                    image.apply_at(&decoded, self.next_offset);
                    self.next_offset += 1;
                }
            }
        }
        self.entries.push(entry);
        self.images.push(Arc::new(image));
        self.entries.len() - 1
    }
}

/// One voter of the quorum (a `process.roles=controller` node).
pub struct ControllerSim {
    pub id: i32,
    pub alive: bool,
    /// The epoch this node believes it leads (it may have been deposed without knowing yet).
    pub leading: Option<u64>,
    /// The latest epoch this node knows of.
    pub known_epoch: u64,
    /// How many entries of the committed log this node has (a node cut off from the leader lags).
    pub known_len: usize,
    /// The active controller's state: created when the node starts, activated per epoch.
    pub controller: QuorumController,
    /// The epoch `controller` was last activated for.
    pub activated: Option<u64>,
    /// The log length a deposed leader still sees (it was cut off when the next epoch began).
    pub frozen_len: Option<usize>,
    /// The leader this node would name to a caller.
    pub leader_hint: Option<i32>,
}
