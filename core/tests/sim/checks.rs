//! The invariants the simulation checks, during the run and once everything has healed.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use potok::broker::Broker;
use potok::controller::MetadataImage;
use potok::partition::{Isolation, Partition};
use potok::record::{decode_records, Batches, DecodeLimits};

use super::quorum::MetadataLog;
use super::Produced;

/// A broken invariant, in words.
#[derive(Debug)]
pub struct Violation(pub String);

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail<T>(message: String) -> Result<T, Violation> {
    Err(Violation(message))
}

/// What the checks remember between looks.
#[derive(Debug, Default)]
pub struct State {
    /// A violation found where it could not be returned at once.
    pub deferred: Option<Violation>,
    /// (topic id, partition, leader epoch) → the leader the committed log names for it.
    pub committed_epochs: BTreeMap<(uuid::Uuid, i32, i32), i32>,
    /// (topic, partition, leader epoch) → the broker seen leading it.
    leaders: BTreeMap<(String, i32, i32), i32>,
    /// (broker, topic, partition) → the leader epoch and high watermark last seen while it led (this start).
    leader_hw: BTreeMap<(i32, String, i32), (i32, i64)>,
    /// Per partition, the committed records (below some replica's high watermark) by offset: once committed,
    /// an offset's record never changes on any replica.
    history: BTreeMap<(String, i32), BTreeMap<i64, Option<Bytes>>>,
    /// The metadata offset each broker's image had at the last look (this start).
    image_offsets: BTreeMap<i32, i64>,
    /// (broker, topic, partition) → the replica's log end offset at the last look (this start).
    log_ends: BTreeMap<(i32, String, i32), i64>,
    /// How often a replica's log end offset was seen to go back (a follower truncating a diverged suffix).
    pub truncations: u64,
}

impl State {
    pub fn broker_started(&mut self, id: i32) {
        self.leader_hw.retain(|(b, _, _), _| *b != id);
        self.image_offsets.remove(&id);
        self.log_ends.retain(|(b, _, _), _| *b != id);
    }

    /// At most one active controller per epoch.
    pub fn activated(&mut self, activations: &mut BTreeMap<u64, i32>, epoch: u64, ctrl: i32) -> Result<(), Violation> {
        match activations.insert(epoch, ctrl) {
            Some(other) if other != ctrl => {
                fail(format!("controllers {other} and {ctrl} were both active in epoch {epoch}"))
            }
            _ => Ok(()),
        }
    }

    /// Looks at every live broker: its image, its replicas' leadership, high watermarks and committed records.
    pub fn check_brokers(&mut self, live: &[(i32, u32, &Broker)], log: &MetadataLog) -> Result<(), Violation> {
        for (id, _inc, broker) in live {
            let id = *id;
            let image = broker.metadata();
            check_prefix(id, &image, log)?;
            let last = self.image_offsets.insert(id, image.offset).unwrap_or(-1);
            if image.offset < last {
                return fail(format!("broker {id}'s metadata went back from offset {last} to {}", image.offset));
            }
            for topic in log.image().topics.values() {
                for p in &topic.partitions {
                    let Some(replica) = broker.partition(&topic.name, p.partition) else { continue };
                    self.check_replica(id, &topic.name, p.partition, &replica)?;
                }
            }
        }
        // What a leader counts as committed is on every member of its ISR that follows it in its leader epoch:
        // none of them may end before the leader's high watermark. (A deposed leader that has not heard yet
        // may name members that have since left the partition, or restarted and not followed anyone yet.)
        for (id, _, broker) in live {
            for topic in log.image().topics.values() {
                for p in &topic.partitions {
                    let Some(replica) = broker.partition(&topic.name, p.partition) else { continue };
                    let state = replica.replica_state();
                    if !state.is_leader() {
                        continue;
                    }
                    let high_watermark = replica.high_watermark();
                    for member in state.isr.iter().filter(|m| *m != id) {
                        let Some((_, _, other)) = live.iter().find(|(b, _, _)| b == member) else { continue };
                        let Some(copy) = other.partition(&topic.name, p.partition) else { continue };
                        let follows = copy.replica_state();
                        if follows.leader != *id || follows.leader_epoch != state.leader_epoch {
                            continue;
                        }
                        if copy.log_end_offset() < high_watermark {
                            return fail(format!(
                                "{}-{}: leader {id}'s high watermark is {high_watermark} but ISR member {member}'s log \
                                 ends at {} (leader {state:?}; member {:?}, high watermark {})",
                                topic.name,
                                p.partition,
                                copy.log_end_offset(),
                                copy.replica_state(),
                                copy.high_watermark()
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn check_replica(&mut self, id: i32, topic: &str, partition: i32, replica: &Partition) -> Result<(), Violation> {
        let state = replica.replica_state();
        let high_watermark = replica.high_watermark();
        let key = (id, topic.to_string(), partition);
        let log_end = replica.log_end_offset();
        let log_start = replica.log_start_offset();
        if !(log_start <= high_watermark && high_watermark <= log_end) {
            return fail(format!(
                "{topic}-{partition} on broker {id}: log start {log_start}, high watermark {high_watermark}, log end \
                 {log_end} out of order"
            ));
        }
        if self.log_ends.insert(key.clone(), log_end).is_some_and(|last| log_end < last) {
            self.truncations += 1;
        }
        if state.is_leader() {
            let epoch = state.leader_epoch;
            let first = *self.leaders.entry((topic.to_string(), partition, epoch)).or_insert(id);
            if first != id {
                return fail(format!("{topic}-{partition}: brokers {first} and {id} both led in leader epoch {epoch}"));
            }
            if let Some((last_epoch, last_hw)) = self.leader_hw.insert(key, (epoch, high_watermark)) {
                if last_epoch == epoch && high_watermark < last_hw {
                    return fail(format!(
                        "{topic}-{partition}: leader {id}'s high watermark went back from {last_hw} to {high_watermark} in epoch {epoch}"
                    ));
                }
            }
        } else {
            self.leader_hw.remove(&key);
        }
        let history = self.history.entry((topic.to_string(), partition)).or_default();
        for (offset, value) in read_log(replica, high_watermark)? {
            match history.get(&offset) {
                Some(committed) if *committed != value => {
                    return fail(format!(
                        "{topic}-{partition}: broker {id} has {} at committed offset {offset}, which held {}",
                        show(&value),
                        show(committed)
                    ));
                }
                Some(_) => {}
                None => {
                    history.insert(offset, value);
                }
            }
        }
        Ok(())
    }
}

fn show(value: &Option<Bytes>) -> String {
    value.as_ref().map_or("null".into(), |v| String::from_utf8_lossy(v).into_owned())
}

/// A broker's image is the committed log's image at some offset: metadata never diverges.
fn check_prefix(id: i32, image: &Arc<MetadataImage>, log: &MetadataLog) -> Result<(), Violation> {
    let k = log.images.partition_point(|i| i.offset < image.offset);
    let Some(committed) = log.images.get(k).filter(|i| i.offset == image.offset) else {
        return fail(format!("broker {id}'s metadata at offset {} is no committed prefix", image.offset));
    };
    if !Arc::ptr_eq(committed, image) && committed.to_records() != image.to_records() {
        return fail(format!("broker {id}'s metadata at offset {} differs from the committed log's", image.offset));
    }
    Ok(())
}

/// A replica's records: offset and value.
type LogRecords = Vec<(i64, Option<Bytes>)>;

/// Every record of a replica's log below `upto`, by offset.
fn read_log(replica: &Partition, upto: i64) -> Result<LogRecords, Violation> {
    let tp = replica.topic_partition().clone();
    let mut out = Vec::new();
    let mut offset = replica.log_start_offset();
    while offset < upto {
        let data = replica
            .read(offset, 16 << 20, Isolation::LogEnd, true)
            .map_err(|e| Violation(format!("{tp}: reading offset {offset}: {e}")))?;
        if data.records.is_empty() {
            break;
        }
        for batch in Batches::new(&data.records) {
            let batch = batch.map_err(|e| Violation(format!("{tp}: a bad batch: {e}")))?;
            let (header, records) =
                decode_records(batch, DecodeLimits::default()).map_err(|e| Violation(format!("{tp}: {e}")))?;
            for r in records.into_iter().filter(|r| r.offset < upto) {
                out.push((r.offset, r.value));
            }
            offset = header.next_offset();
        }
    }
    Ok(out)
}

/// Every committed image: a partition's leader is a registered, unfenced broker in its ISR, the ISR is among
/// the replicas, and a leader epoch names one leader in the whole log (`epochs`: (topic id, partition, leader
/// epoch) → leader, over every image so far).
pub fn committed_image(
    image: &MetadataImage,
    epochs: &mut BTreeMap<(uuid::Uuid, i32, i32), i32>,
) -> Result<(), Violation> {
    for topic in image.topics.values() {
        for p in &topic.partitions {
            let name = format!("{}-{}", topic.name, p.partition);
            let first = *epochs.entry((topic.id, p.partition, p.leader_epoch)).or_insert(p.leader);
            if first != p.leader {
                return fail(format!(
                    "{name}: leader epoch {} names leader {first} and later {} (offset {})",
                    p.leader_epoch, p.leader, image.offset
                ));
            }
            if let Some(outside) = p.isr.iter().find(|r| !p.replicas.contains(r)) {
                return fail(format!("{name}: ISR member {outside} is not a replica (offset {}): {p:?}", image.offset));
            }
            if p.leader < 0 {
                continue;
            }
            if !p.isr.contains(&p.leader) {
                return fail(format!(
                    "{name}: leader {} is not in the ISR {:?} (offset {})",
                    p.leader, p.isr, image.offset
                ));
            }
            match image.brokers.get(&p.leader) {
                None => {
                    return fail(format!("{name}: leader {} is not registered (offset {})", p.leader, image.offset))
                }
                Some(b) if b.fenced => {
                    return fail(format!("{name}: leader {} is fenced (offset {})", p.leader, image.offset))
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// After healing and quiescing: every partition has a leader, and every acknowledged record is on every ISR
/// member, once, at the offset it was acknowledged at.
pub fn final_state(
    live: &BTreeMap<i32, &Broker>,
    image: &MetadataImage,
    produced: &[Produced],
) -> Result<(), Violation> {
    let mut logs: BTreeMap<(i32, String, i32), LogRecords> = BTreeMap::new();
    if let Some(b) = image.brokers.values().find(|b| b.fenced) {
        return fail(format!("broker {} is still fenced after healing", b.id));
    }
    for topic in image.topics.values() {
        for p in &topic.partitions {
            if p.leader < 0 {
                let brokers: Vec<String> = image
                    .brokers
                    .values()
                    .map(|b| format!("{}{}", b.id, if b.fenced { " fenced" } else { "" }))
                    .collect();
                return fail(format!(
                    "{}-{} has no leader after healing (replicas {:?}, ISR {:?}, leader epoch {}; brokers {brokers:?})",
                    topic.name, p.partition, p.replicas, p.isr, p.leader_epoch
                ));
            }
            if p.isr.len() != p.replicas.len() {
                let replicas: Vec<String> = p
                    .replicas
                    .iter()
                    .map(|r| match live.get(r).and_then(|b| b.partition(&topic.name, p.partition)) {
                        Some(replica) => format!(
                            "{r}: log end {}, high watermark {}, {:?}",
                            replica.log_end_offset(),
                            replica.high_watermark(),
                            replica.replica_state()
                        ),
                        None => format!("{r}: no replica"),
                    })
                    .collect();
                return fail(format!(
                    "{}-{}: the ISR {:?} did not grow back to the replicas {:?} after healing (leader {}, epoch {}); {}",
                    topic.name,
                    p.partition,
                    p.isr,
                    p.replicas,
                    p.leader,
                    p.leader_epoch,
                    replicas.join("; ")
                ));
            }
            for member in &p.isr {
                let broker = live.get(member).ok_or_else(|| Violation(format!("ISR member {member} is down")))?;
                let replica = broker.partition(&topic.name, p.partition).ok_or_else(|| {
                    Violation(format!("{}-{}: ISR member {member} has no replica", topic.name, p.partition))
                })?;
                logs.insert((*member, topic.name.clone(), p.partition), read_log(&replica, i64::MAX)?);
            }
        }
    }
    for record in produced {
        let Some(offset) = record.acked_at else { continue };
        let p = image
            .topics
            .get(&record.topic)
            .and_then(|t| t.partition(record.partition))
            .ok_or_else(|| Violation(format!("{} is gone", record.topic)))?;
        for member in &p.isr {
            let log = &logs[&(*member, record.topic.clone(), record.partition)];
            let value = Some(Bytes::from(record.value.clone()));
            let copies = log.iter().filter(|(_, v)| *v == value).count();
            let at = log.iter().find(|(o, _)| *o == offset).map(|(_, v)| v.clone());
            if at.as_ref() != Some(&value) || copies != 1 {
                return fail(format!(
                    "{}-{}: acknowledged {} at offset {offset}, but ISR member {member} has {} there and {copies} copies",
                    record.topic,
                    record.partition,
                    record.value,
                    at.map_or("nothing".into(), |v| show(&v))
                ));
            }
        }
    }
    Ok(())
}
