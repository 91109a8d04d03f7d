//! Consumer-group partition assignors and the consumer protocol's metadata bytes.
//!
//! In the classic group protocol the group leader runs the assignment: JoinGroup hands it every member's
//! `ConsumerProtocolSubscription` bytes and it returns one `ConsumerProtocolAssignment` per member in SyncGroup.
//! For potok consumers to share a group with the Java client and librdkafka, both the bytes ([`encode_subscription`],
//! [`decode_subscription`], [`encode_assignment`], [`decode_assignment`]) and the assignments must be Kafka's:
//! [`RangeAssignor`], [`RoundRobinAssignor`] and [`CooperativeStickyAssignor`] follow the Java client's algorithms
//! step for step, including the places where the Java code's result depends on the iteration order of a
//! `java.util.HashMap` (see [`java_hash_map_order`]), so the same inputs give the same assignment.
//!
//! Decoding never trusts a length: every count is checked against the bytes that remain before anything is
//! allocated, and garbage is a typed [`ConsumerProtocolError`], never a panic.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bytes::Bytes;

use super::TopicPartition;

/// The protocol type of consumer groups in JoinGroup.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";
/// Lowest ConsumerProtocolSubscription / ConsumerProtocolAssignment version.
pub const CONSUMER_PROTOCOL_LOWEST_VERSION: i16 = 0;
/// Highest version this code (and Kafka 4.1) writes; newer versions are read as this one, as Kafka does.
pub const CONSUMER_PROTOCOL_HIGHEST_VERSION: i16 = 3;
/// The generation a member reports when it has none (Kafka's `DEFAULT_GENERATION`).
pub const DEFAULT_GENERATION: i32 = -1;
/// The most partitions one assignment run handles; partition counts come from metadata, so this bounds what a
/// misbehaving cluster can make the leader allocate.
pub const MAX_ASSIGNED_PARTITIONS: usize = 1 << 21;

/// Why consumer protocol bytes could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumerProtocolError {
    #[error("Unsupported {what} version: {version}")]
    UnsupportedVersion { what: &'static str, version: i16 },
    #[error("Buffer underflow while parsing consumer protocol's {what}")]
    Underflow { what: &'static str },
    #[error("non-nullable field {field} was serialized as null")]
    NullField { field: &'static str },
    #[error("Tried to allocate a collection of size {size}, but there are only {remaining} bytes remaining.")]
    CollectionTooLarge { size: i32, remaining: usize },
    #[error("string field {field} is {len} bytes long, more than 32767")]
    StringTooLong { field: &'static str, len: usize },
    #[error("collection field {field} has {len} elements, more than 2147483647")]
    CollectionTooLong { field: &'static str, len: usize },
}

/// What a member sends as its JoinGroup protocol metadata (Kafka's `ConsumerPartitionAssignor.Subscription`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscription {
    pub topics: Vec<String>,
    pub user_data: Option<Bytes>,
    /// Partitions the member owned in its last generation (version 1+).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation those partitions were owned in (version 2+); `None` is Kafka's `-1`, any negative value
    /// read from the wire counts as none.
    pub generation_id: Option<i32>,
    /// `client.rack` (version 3+); an empty rack reads as none, as in Kafka.
    pub rack_id: Option<String>,
    /// `group.instance.id` of a static member. Not part of the bytes: the leader takes it from the JoinGroup
    /// member list, and the range and round-robin assignors order static members by it.
    pub group_instance_id: Option<String>,
}

impl Subscription {
    pub fn new(topics: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Subscription { topics: topics.into_iter().map(Into::into).collect(), ..Subscription::default() }
    }
}

/// What the leader sends each member in SyncGroup (Kafka's `ConsumerPartitionAssignor.Assignment`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assignment {
    pub partitions: Vec<TopicPartition>,
    pub user_data: Option<Bytes>,
}

fn check_version(what: &'static str, version: i16) -> Result<i16, ConsumerProtocolError> {
    if version < CONSUMER_PROTOCOL_LOWEST_VERSION {
        Err(ConsumerProtocolError::UnsupportedVersion { what, version })
    } else {
        // Kafka's rule for the consumer protocol: later versions only append fields, so a newer version is read
        // (and written) as the newest known one.
        Ok(version.min(CONSUMER_PROTOCOL_HIGHEST_VERSION))
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn i16(&mut self, v: i16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn len(&mut self, field: &'static str, len: usize) -> Result<(), ConsumerProtocolError> {
        let len = i32::try_from(len).map_err(|_| ConsumerProtocolError::CollectionTooLong { field, len })?;
        self.i32(len);
        Ok(())
    }
    fn str(&mut self, field: &'static str, s: &str) -> Result<(), ConsumerProtocolError> {
        let len = i16::try_from(s.len()).map_err(|_| ConsumerProtocolError::StringTooLong { field, len: s.len() })?;
        self.i16(len);
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
    fn nullable_bytes(&mut self, field: &'static str, b: Option<&Bytes>) -> Result<(), ConsumerProtocolError> {
        match b {
            None => self.i32(-1),
            Some(b) => {
                self.len(field, b.len())?;
                self.0.extend_from_slice(b);
            }
        }
        Ok(())
    }
    /// Topic-grouped partitions, in the order the groups are given.
    fn topic_partitions(
        &mut self,
        field: &'static str,
        groups: &[(&str, Vec<i32>)],
    ) -> Result<(), ConsumerProtocolError> {
        self.len(field, groups.len())?;
        for (topic, partitions) in groups {
            self.str("topic", topic)?;
            self.len("partitions", partitions.len())?;
            for &p in partitions {
                self.i32(p);
            }
        }
        Ok(())
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ConsumerProtocolError> {
        if self.buf.len() < n {
            return Err(ConsumerProtocolError::Underflow { what: self.what });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    fn i16(&mut self) -> Result<i16, ConsumerProtocolError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Result<i32, ConsumerProtocolError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A non-nullable array length, refused when it could not fit in the bytes left (Kafka's own check).
    fn array_len(&mut self, field: &'static str) -> Result<usize, ConsumerProtocolError> {
        let n = self.i32()?;
        if n < 0 {
            return Err(ConsumerProtocolError::NullField { field });
        }
        if n as usize > self.buf.len() {
            return Err(ConsumerProtocolError::CollectionTooLarge { size: n, remaining: self.buf.len() });
        }
        Ok(n as usize)
    }
    fn nullable_str(&mut self) -> Result<Option<String>, ConsumerProtocolError> {
        let n = self.i16()?;
        if n < 0 {
            return Ok(None);
        }
        // Java decodes strings with replacement of malformed UTF-8, so a bad byte is not an error there either.
        Ok(Some(String::from_utf8_lossy(self.take(n as usize)?).into_owned()))
    }
    fn str(&mut self, field: &'static str) -> Result<String, ConsumerProtocolError> {
        self.nullable_str()?.ok_or(ConsumerProtocolError::NullField { field })
    }
    fn nullable_bytes(&mut self) -> Result<Option<Bytes>, ConsumerProtocolError> {
        let n = self.i32()?;
        if n < 0 {
            return Ok(None);
        }
        Ok(Some(Bytes::copy_from_slice(self.take(n as usize)?)))
    }
    fn topic_partitions(&mut self, field: &'static str) -> Result<Vec<TopicPartition>, ConsumerProtocolError> {
        let topics = self.array_len(field)?;
        let mut out = Vec::new();
        for _ in 0..topics {
            let topic = self.str("topic")?;
            let count = self.array_len("partitions")?;
            out.reserve(count);
            for _ in 0..count {
                out.push(TopicPartition::new(topic.clone(), self.i32()?));
            }
        }
        Ok(out)
    }
}

/// Groups partitions by topic in order of first appearance, as Kafka's `serializeAssignment` does.
fn group_by_topic_in_order(partitions: &[TopicPartition]) -> Vec<(&str, Vec<i32>)> {
    let mut groups: Vec<(&str, Vec<i32>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for tp in partitions {
        let i = *index.entry(tp.topic.as_str()).or_insert_with(|| {
            groups.push((tp.topic.as_str(), Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push(tp.partition);
    }
    groups
}

/// ConsumerProtocolSubscription bytes with the leading version, as Kafka's `ConsumerProtocol.serializeSubscription`
/// writes them: topics sorted, owned partitions sorted by topic and partition and grouped by topic.
pub fn encode_subscription(subscription: &Subscription, version: i16) -> Result<Vec<u8>, ConsumerProtocolError> {
    let version = check_version("subscription", version)?;
    let mut w = Writer(Vec::new());
    w.i16(version);
    let mut topics: Vec<&str> = subscription.topics.iter().map(String::as_str).collect();
    topics.sort_by(|a, b| java_cmp(a, b));
    w.len("topics", topics.len())?;
    for topic in topics {
        w.str("topics", topic)?;
    }
    w.nullable_bytes("user_data", subscription.user_data.as_ref())?;
    if version >= 1 {
        let mut owned = subscription.owned_partitions.clone();
        owned.sort_by(|a, b| java_cmp(&a.topic, &b.topic).then(a.partition.cmp(&b.partition)));
        w.topic_partitions("owned_partitions", &group_by_topic_in_order(&owned))?;
    }
    if version >= 2 {
        w.i32(subscription.generation_id.unwrap_or(DEFAULT_GENERATION));
    }
    if version >= 3 {
        match &subscription.rack_id {
            Some(rack) => w.str("rack_id", rack)?,
            None => w.i16(-1),
        }
    }
    Ok(w.0)
}

/// Reads ConsumerProtocolSubscription bytes (leading version included). Bytes after the known fields are
/// ignored, as Kafka ignores them, so a newer client's metadata still reads.
pub fn decode_subscription(bytes: &[u8]) -> Result<Subscription, ConsumerProtocolError> {
    let mut r = Reader { buf: bytes, what: "header" };
    let version = check_version("subscription", r.i16()?)?;
    r.what = "subscription";
    let topics = {
        let n = r.array_len("topics")?;
        let mut topics = Vec::with_capacity(n);
        for _ in 0..n {
            topics.push(r.str("topics")?);
        }
        topics
    };
    let user_data = r.nullable_bytes()?;
    let owned_partitions = if version >= 1 { r.topic_partitions("owned_partitions")? } else { Vec::new() };
    let generation_id = if version >= 2 { r.i32()? } else { DEFAULT_GENERATION };
    let rack_id = if version >= 3 { r.nullable_str()? } else { None };
    Ok(Subscription {
        topics,
        user_data,
        owned_partitions,
        generation_id: (generation_id >= 0).then_some(generation_id),
        rack_id: rack_id.filter(|r| !r.is_empty()),
        group_instance_id: None,
    })
}

/// ConsumerProtocolAssignment bytes with the leading version, partitions grouped by topic in order of first
/// appearance (Kafka's `serializeAssignment`).
pub fn encode_assignment(assignment: &Assignment, version: i16) -> Result<Vec<u8>, ConsumerProtocolError> {
    let version = check_version("assignment", version)?;
    let mut w = Writer(Vec::new());
    w.i16(version);
    w.topic_partitions("assigned_partitions", &group_by_topic_in_order(&assignment.partitions))?;
    w.nullable_bytes("user_data", assignment.user_data.as_ref())?;
    Ok(w.0)
}

/// Reads ConsumerProtocolAssignment bytes (leading version included); trailing bytes are ignored as in Kafka.
pub fn decode_assignment(bytes: &[u8]) -> Result<Assignment, ConsumerProtocolError> {
    let mut r = Reader { buf: bytes, what: "header" };
    check_version("assignment", r.i16()?)?;
    r.what = "assignment";
    let partitions = r.topic_partitions("assigned_partitions")?;
    let user_data = r.nullable_bytes()?;
    Ok(Assignment { partitions, user_data })
}

/// The rebalance protocols of KIP-429, with Kafka's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RebalanceProtocol {
    /// Every member revokes everything before each rebalance.
    Eager,
    /// Members keep what they keep and revoke only what moves, in a follow-up rebalance.
    Cooperative,
}

impl RebalanceProtocol {
    pub fn id(self) -> i8 {
        match self {
            RebalanceProtocol::Eager => 0,
            RebalanceProtocol::Cooperative => 1,
        }
    }
}

/// Why an assignment could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssignError {
    #[error("member {member} appears twice in the group subscription")]
    DuplicateMember { member: String },
    #[error("topic {topic} has a negative partition count {count}")]
    NegativePartitionCount { topic: String, count: i32 },
    #[error("{total} partitions to assign, more than the limit of {limit}")]
    TooManyPartitions { total: usize, limit: usize },
    /// The algorithm reached a state Kafka's code treats as a bug (`IllegalStateException` there).
    #[error("assignment failed: {0}")]
    IllegalState(String),
}

/// Partitions per member; every member of the group has an entry, lists are sorted by topic and partition.
pub type GroupAssignment = BTreeMap<String, Vec<TopicPartition>>;

/// A consumer partition assignor, as Kafka's `ConsumerPartitionAssignor`.
pub trait Assignor: Send + Sync + std::fmt::Debug {
    /// The name on the wire, in JoinGroup's protocol list (`partition.assignment.strategy`).
    fn name(&self) -> &'static str;

    /// The rebalance protocols this assignor can run under, preferred first.
    fn supported_protocols(&self) -> &'static [RebalanceProtocol] {
        &[RebalanceProtocol::Eager]
    }

    /// User data a member puts in its subscription, given the generation it last joined (none by default).
    fn subscription_user_data(&self, _topics: &[String], _generation: i32) -> Option<Bytes> {
        None
    }

    /// Assigns the partitions of `partitions_per_topic` (topics the leader found in metadata, with their partition
    /// counts) to the members of `subscriptions`, given in the order the JoinGroup response listed them: the Java
    /// client iterates those members through a `HashMap`, and where its result depends on that order this code
    /// reproduces it from the same list.
    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &[(String, Subscription)],
    ) -> Result<GroupAssignment, AssignError>;
}

/// `String.compareTo` in Java: UTF-16 code unit order, which differs from Rust's byte order for characters above
/// U+FFFF against U+E000..U+FFFF.
pub fn java_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// `String.hashCode` in Java.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// `HashMap.hash`: the high half folded into the low half before bucketing.
fn java_spread(h: i32) -> u32 {
    let h = h as u32;
    h ^ (h >> 16)
}

/// The table size of a `new HashMap<>()` after `n` distinct keys were put into it (resized past 3/4 full).
fn java_table_size(n: usize) -> usize {
    let mut capacity = 16usize;
    while n > capacity / 4 * 3 {
        capacity *= 2;
    }
    capacity
}

/// The order in which a `java.util.HashMap` built with `new HashMap<>()` and `put` in the given order iterates
/// its string keys: by bucket (`spread(hashCode) & (capacity - 1)`), and within a bucket in insertion order, which
/// resizes preserve. (A bucket of more than eight colliding keys would be turned into a tree and iterate
/// differently; member ids do not collide like that outside of crafted input.) Returns indexes into `keys`.
pub fn java_hash_map_order<S: AsRef<str>>(keys: &[S]) -> Vec<usize> {
    let mask = java_table_size(keys.len()) as u32 - 1;
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| (java_spread(java_string_hash(keys[i].as_ref())) & mask, i));
    order
}

/// The group's members after the checks every assignor makes, in JoinGroup order and in Java `HashMap` order.
struct Members {
    /// The subscriptions with each topic listed once. Java and librdkafka never repeat a topic; a repeated one
    /// would make Kafka's sticky assignor see equal subscriptions where they differ and hand out topics a member
    /// did not subscribe to.
    subscriptions: Vec<(String, Subscription)>,
    /// Indexes into `subscriptions` in the order Java iterates its `HashMap<String, Subscription>`.
    java_order: Vec<usize>,
}

fn members(subscriptions: &[(String, Subscription)]) -> Result<Members, AssignError> {
    let mut seen = HashSet::new();
    for (member, _) in subscriptions {
        if !seen.insert(member.as_str()) {
            return Err(AssignError::DuplicateMember { member: member.clone() });
        }
    }
    let ids: Vec<&str> = subscriptions.iter().map(|(m, _)| m.as_str()).collect();
    let java_order = java_hash_map_order(&ids);
    let subscriptions = subscriptions
        .iter()
        .map(|(member, subscription)| {
            let mut seen = HashSet::new();
            let topics = subscription.topics.iter().filter(|t| seen.insert(t.as_str())).cloned().collect();
            (member.clone(), Subscription { topics, ..subscription.clone() })
        })
        .collect();
    Ok(Members { subscriptions, java_order })
}

/// The subscribed topics with at least one partition, after the limits. Kafka's leader builds its map from the
/// subscribed topics found in metadata; a topic nobody subscribes to would skew the sticky assignor's quotas, so
/// one in `partitions_per_topic` is left out here.
fn checked_topics<'a>(
    partitions_per_topic: &'a BTreeMap<String, i32>,
    subscriptions: &[(String, Subscription)],
) -> Result<BTreeMap<&'a str, i32>, AssignError> {
    let subscribed: HashSet<&str> =
        subscriptions.iter().flat_map(|(_, s)| s.topics.iter().map(String::as_str)).collect();
    let mut total = 0usize;
    let mut topics = BTreeMap::new();
    for (topic, &count) in partitions_per_topic {
        if !subscribed.contains(topic.as_str()) {
            continue;
        }
        if count < 0 {
            return Err(AssignError::NegativePartitionCount { topic: topic.clone(), count });
        }
        if count == 0 {
            continue;
        }
        total += count as usize;
        if total > MAX_ASSIGNED_PARTITIONS {
            return Err(AssignError::TooManyPartitions { total, limit: MAX_ASSIGNED_PARTITIONS });
        }
        topics.insert(topic.as_str(), count);
    }
    Ok(topics)
}

/// Kafka's `MemberInfo` order: static members (with a group instance id) first, by instance id, then dynamic
/// members by member id.
fn member_info_cmp(a: (&str, &Subscription), b: (&str, &Subscription)) -> Ordering {
    match (&a.1.group_instance_id, &b.1.group_instance_id) {
        (Some(x), Some(y)) => java_cmp(x, y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => java_cmp(a.0, b.0),
    }
}

fn empty_assignment(subscriptions: &[(String, Subscription)]) -> GroupAssignment {
    subscriptions.iter().map(|(m, _)| (m.clone(), Vec::new())).collect()
}

fn sorted(mut assignment: GroupAssignment) -> GroupAssignment {
    for partitions in assignment.values_mut() {
        partitions.sort_by(|a, b| java_cmp(&a.topic, &b.topic).then(a.partition.cmp(&b.partition)));
    }
    assignment
}

/// Kafka's `RangeAssignor` ("range"): per topic, the members subscribed to it in `MemberInfo` order each take a
/// contiguous range, the first `partitions % members` of them one partition more.
#[derive(Debug, Default, Clone)]
pub struct RangeAssignor;

impl Assignor for RangeAssignor {
    fn name(&self) -> &'static str {
        "range"
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &[(String, Subscription)],
    ) -> Result<GroupAssignment, AssignError> {
        let members = members(subscriptions)?;
        let subscriptions = &members.subscriptions[..];
        let topics = checked_topics(partitions_per_topic, subscriptions)?;
        let mut assignment = empty_assignment(subscriptions);
        for (&topic, &count) in &topics {
            // Members subscribed to the topic, first in Java's iteration order so the stable sort breaks ties as
            // Java's does, then deduplicated as Kafka's LinkedHashMap of consumers does.
            let mut consumers: Vec<usize> = Vec::new();
            for &i in &members.java_order {
                let (_, sub) = &subscriptions[i];
                for t in &sub.topics {
                    if t == topic {
                        consumers.push(i);
                    }
                }
            }
            consumers.sort_by(|&a, &b| {
                member_info_cmp((&subscriptions[a].0, &subscriptions[a].1), (&subscriptions[b].0, &subscriptions[b].1))
            });
            let mut unique = HashSet::new();
            consumers.retain(|&i| unique.insert(i));
            if consumers.is_empty() {
                continue;
            }
            let per_consumer = count as usize / consumers.len();
            let with_extra = count as usize % consumers.len();
            let mut next = 0i32;
            for (k, &i) in consumers.iter().enumerate() {
                let n = per_consumer + usize::from(k < with_extra);
                let list = assignment.entry(subscriptions[i].0.clone()).or_default();
                for _ in 0..n {
                    list.push(TopicPartition::new(topic, next));
                    next += 1;
                }
            }
        }
        Ok(sorted(assignment))
    }
}

/// Kafka's `RoundRobinAssignor` ("roundrobin"): all subscribed topic-partitions sorted, dealt in turn to the
/// members in `MemberInfo` order, skipping members not subscribed to the partition's topic.
#[derive(Debug, Default, Clone)]
pub struct RoundRobinAssignor;

impl Assignor for RoundRobinAssignor {
    fn name(&self) -> &'static str {
        "roundrobin"
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &[(String, Subscription)],
    ) -> Result<GroupAssignment, AssignError> {
        let members = members(subscriptions)?;
        let subscriptions = &members.subscriptions[..];
        let topics = checked_topics(partitions_per_topic, subscriptions)?;
        let mut assignment = empty_assignment(subscriptions);
        let mut ring = members.java_order.clone();
        ring.sort_by(|&a, &b| {
            member_info_cmp((&subscriptions[a].0, &subscriptions[a].1), (&subscriptions[b].0, &subscriptions[b].1))
        });
        let mut all_topics: Vec<&str> =
            subscriptions.iter().flat_map(|(_, s)| s.topics.iter().map(String::as_str)).collect();
        all_topics.sort_by(|a, b| java_cmp(a, b));
        all_topics.dedup();
        let mut cursor = 0usize;
        for topic in all_topics {
            let Some(&count) = topics.get(topic) else { continue };
            for partition in 0..count {
                // A topic in the union has at least one subscriber, so this walk ends within one turn.
                while !subscriptions[ring[cursor]].1.topics.iter().any(|t| t == topic) {
                    cursor = (cursor + 1) % ring.len();
                }
                let member = &subscriptions[ring[cursor]].0;
                cursor = (cursor + 1) % ring.len();
                assignment.entry(member.clone()).or_default().push(TopicPartition::new(topic, partition));
            }
        }
        Ok(sorted(assignment))
    }
}

/// Kafka's `CooperativeStickyAssignor` ("cooperative-sticky"), the `AbstractStickyAssignor` algorithm: a balanced
/// assignment that keeps as many owned partitions in place as balance allows, trusting the highest generation
/// when two members claim one partition, and (for the cooperative protocol) withholding a partition that moves
/// to a new owner until its old owner has revoked it in a follow-up rebalance.
#[derive(Debug, Default, Clone)]
pub struct CooperativeStickyAssignor;

impl CooperativeStickyAssignor {
    /// The user data the Java client sends with this assignor: its last generation as an INT32, which leaders that
    /// predate subscription version 2 read instead of the generation field.
    pub fn user_data(generation: i32) -> Bytes {
        Bytes::copy_from_slice(&generation.to_be_bytes())
    }

    /// Kafka's `CooperativeStickyAssignor.memberData`: the owned partitions and the generation they were owned in,
    /// from the generation field when present, else from the user data (unreadable user data counts as
    /// generation -1, missing user data as no generation at all).
    fn member_generation(subscription: &Subscription) -> Option<i32> {
        if let Some(generation) = subscription.generation_id {
            return Some(generation);
        }
        let data = subscription.user_data.as_ref()?;
        Some(match data.get(..4) {
            Some(b) => i32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            None => DEFAULT_GENERATION,
        })
    }
}

impl Assignor for CooperativeStickyAssignor {
    fn name(&self) -> &'static str {
        "cooperative-sticky"
    }

    fn supported_protocols(&self) -> &'static [RebalanceProtocol] {
        &[RebalanceProtocol::Cooperative, RebalanceProtocol::Eager]
    }

    fn subscription_user_data(&self, _topics: &[String], generation: i32) -> Option<Bytes> {
        Some(Self::user_data(generation))
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &[(String, Subscription)],
    ) -> Result<GroupAssignment, AssignError> {
        let members = members(subscriptions)?;
        let subscriptions = &members.subscriptions[..];
        let topics = checked_topics(partitions_per_topic, subscriptions)?;
        if subscriptions.is_empty() {
            return Ok(GroupAssignment::new());
        }
        let mut sticky = Sticky::new(&topics, &members);
        let all_equal = sticky.all_subscriptions_equal();
        let (mut assignment, transferring) = if all_equal {
            let (assignment, transferring) = sticky.constrained_assign()?;
            (assignment, transferring)
        } else {
            let assignment = sticky.general_assign();
            let transferring = sticky.compute_partitions_transferring_ownership(&assignment);
            (assignment, transferring)
        };
        // The cooperative protocol: a partition changing owner is first revoked by its old owner, so the new owner
        // does not get it this round (the old owner rejoins after revoking and the next assignment hands it over).
        for (tp, member) in transferring {
            let list = &mut assignment[member];
            if let Some(pos) = list.iter().position(|&p| p == tp) {
                list.remove(pos);
            }
        }
        let mut out = GroupAssignment::new();
        for (m, (member, _)) in subscriptions.iter().enumerate() {
            let list = assignment[m].iter().map(|&(t, p)| TopicPartition::new(sticky.topics[t as usize], p)).collect();
            out.insert(member.clone(), list);
        }
        Ok(sorted(out))
    }
}

/// A partition inside the sticky algorithm: the topic as an index into the sorted topic list, and the partition.
type Tp = (u32, i32);

/// The part of a `java.util.HashSet<TopicPartition>` the sticky algorithm observes: which element its iterator
/// returns first. Elements iterate by bucket, then in the order they (last) went into the bucket; the table
/// doubles past 3/4 full and never shrinks.
#[derive(Debug, Clone)]
struct JavaHashSet {
    entries: HashMap<Tp, u64>,
    next_seq: u64,
    capacity: usize,
}

impl JavaHashSet {
    fn new() -> Self {
        JavaHashSet { entries: HashMap::new(), next_seq: 0, capacity: 16 }
    }
    fn insert(&mut self, tp: Tp) {
        if self.entries.contains_key(&tp) {
            return;
        }
        self.entries.insert(tp, self.next_seq);
        self.next_seq += 1;
        if self.entries.len() > self.capacity / 4 * 3 {
            self.capacity *= 2;
        }
    }
    fn remove(&mut self, tp: &Tp) {
        self.entries.remove(tp);
    }
    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    fn first(&self, hash: impl Fn(Tp) -> i32) -> Option<Tp> {
        let mask = self.capacity as u32 - 1;
        self.entries.iter().min_by_key(|(&tp, &seq)| (java_spread(hash(tp)) & mask, seq)).map(|(&tp, _)| tp)
    }
}

/// Kafka's `PartitionMovements`: which partitions moved between which members during this assignment, so a
/// partition that would move back along a pair is swapped for one that already moved the other way.
#[derive(Debug, Default)]
struct PartitionMovements {
    /// Per topic, per (source, destination) member pair, the partitions that moved.
    by_topic: HashMap<u32, HashMap<(usize, usize), JavaHashSet>>,
    movements: HashMap<Tp, (usize, usize)>,
}

impl PartitionMovements {
    fn remove_record(&mut self, tp: Tp) -> Option<(usize, usize)> {
        let pair = self.movements.remove(&tp)?;
        if let Some(pairs) = self.by_topic.get_mut(&tp.0) {
            if let Some(set) = pairs.get_mut(&pair) {
                set.remove(&tp);
                if set.is_empty() {
                    pairs.remove(&pair);
                }
            }
            if pairs.is_empty() {
                self.by_topic.remove(&tp.0);
            }
        }
        Some(pair)
    }

    fn add_record(&mut self, tp: Tp, pair: (usize, usize)) {
        self.movements.insert(tp, pair);
        self.by_topic.entry(tp.0).or_default().entry(pair).or_insert_with(JavaHashSet::new).insert(tp);
    }

    fn move_partition(&mut self, tp: Tp, old: usize, new: usize) {
        if let Some(existing) = self.remove_record(tp) {
            // Moving back to where it came from cancels the movement.
            if existing.0 != new {
                self.add_record(tp, (existing.0, new));
            }
        } else {
            self.add_record(tp, (old, new));
        }
    }

    fn actual_partition_to_move(&self, tp: Tp, old: usize, new: usize, hash: impl Fn(Tp) -> i32) -> Tp {
        let Some(pairs) = self.by_topic.get(&tp.0) else { return tp };
        let old = self.movements.get(&tp).map_or(old, |&(src, _)| src);
        match pairs.get(&(new, old)) {
            Some(set) => set.first(hash).unwrap_or(tp),
            None => tp,
        }
    }
}

/// The shared state of one sticky assignment run. Members are indexes into the JoinGroup-ordered subscriptions.
struct Sticky<'a> {
    /// Topics with partitions, sorted by name.
    topics: Vec<&'a str>,
    topic_index: HashMap<&'a str, u32>,
    topic_hash: Vec<i32>,
    counts: Vec<i32>,
    total_partitions: usize,
    subscriptions: &'a [(String, Subscription)],
    java_order: Vec<usize>,
    /// Each member's position among all members in Java string order of member ids.
    rank: Vec<usize>,
    /// Per member: owned partitions still valid after resolving claims of several members (Kafka's
    /// `consumerToOwnedPartitions`).
    owned: Vec<Vec<Tp>>,
    partitions_with_multiple_previous_owners: HashSet<Tp>,
    max_generation: i32,
}

impl<'a> Sticky<'a> {
    fn new(topics: &BTreeMap<&'a str, i32>, members: &'a Members) -> Self {
        let mut names: Vec<&'a str> = topics.keys().copied().collect();
        names.sort_by(|a, b| java_cmp(a, b));
        let topic_index = names.iter().enumerate().map(|(i, &t)| (t, i as u32)).collect();
        let topic_hash = names.iter().map(|t| java_string_hash(t)).collect();
        let counts: Vec<i32> = names.iter().map(|t| topics[t]).collect();
        let total_partitions = counts.iter().map(|&c| c as usize).sum();
        let subscriptions = &members.subscriptions[..];
        let mut by_id: Vec<usize> = (0..subscriptions.len()).collect();
        by_id.sort_by(|&a, &b| java_cmp(&subscriptions[a].0, &subscriptions[b].0));
        let mut rank = vec![0; subscriptions.len()];
        for (r, &m) in by_id.iter().enumerate() {
            rank[m] = r;
        }
        Sticky {
            topics: names,
            topic_index,
            topic_hash,
            counts,
            total_partitions,
            subscriptions,
            java_order: members.java_order.clone(),
            rank,
            owned: vec![Vec::new(); subscriptions.len()],
            partitions_with_multiple_previous_owners: HashSet::new(),
            max_generation: DEFAULT_GENERATION,
        }
    }

    /// Java's `TopicPartition.hashCode`.
    fn tp_hash(&self, tp: Tp) -> i32 {
        31i32.wrapping_add(tp.1).wrapping_mul(31).wrapping_add(self.topic_hash[tp.0 as usize])
    }

    /// A valid partition of a known topic. Kafka only checks the topic; a claimed partition number past the
    /// topic's count would make its assignment hand out partitions twice, so such claims are dropped here.
    fn tp(&self, tp: &TopicPartition) -> Option<Tp> {
        let &t = self.topic_index.get(tp.topic.as_str())?;
        (tp.partition >= 0 && tp.partition < self.counts[t as usize]).then_some((t, tp.partition))
    }

    fn topic_of(&self, name: &str) -> Option<u32> {
        self.topic_index.get(name).copied()
    }

    fn java_cmp_tp(&self, a: &Tp, b: &Tp) -> Ordering {
        // Topic indexes follow Java's name order.
        a.cmp(b)
    }

    /// Kafka's `allSubscriptionsEqual`: whether every member subscribes to the same topics, and on the way each
    /// member's valid owned partitions, resolving partitions claimed by several members by generation.
    fn all_subscriptions_equal(&mut self) -> bool {
        let mut all_equal = true;
        let mut subscribed: HashSet<&str> = HashSet::new();
        let mut owner_of: HashMap<Tp, usize> = HashMap::new();
        for k in 0..self.java_order.len() {
            let m = self.java_order[k];
            let subscription = &self.subscriptions[m].1;
            if subscribed.is_empty() {
                subscribed.extend(subscription.topics.iter().map(String::as_str));
            } else if all_equal
                && !(subscription.topics.len() == subscribed.len()
                    && subscription.topics.iter().all(|t| subscribed.contains(t.as_str())))
            {
                all_equal = false;
            }
            let generation = CooperativeStickyAssignor::member_generation(subscription).unwrap_or(DEFAULT_GENERATION);
            self.max_generation = self.max_generation.max(generation);
            for claimed in &subscription.owned_partitions {
                let Some(tp) = self.tp(claimed) else { continue };
                match owner_of.get(&tp).copied() {
                    None => {
                        self.owned[m].push(tp);
                        owner_of.insert(tp, m);
                    }
                    Some(other) => {
                        // Kafka compares with the other member's subscription generation field here, not its
                        // user-data generation.
                        let other_generation = self.subscriptions[other].1.generation_id.unwrap_or(DEFAULT_GENERATION);
                        if generation == other_generation {
                            self.partitions_with_multiple_previous_owners.insert(tp);
                            remove_first(&mut self.owned[other], tp);
                            owner_of.insert(tp, m);
                        } else if generation > other_generation {
                            self.owned[m].push(tp);
                            remove_first(&mut self.owned[other], tp);
                            owner_of.insert(tp, m);
                        }
                    }
                }
            }
        }
        all_equal
    }

    fn all_partitions_sorted(&self) -> Vec<Tp> {
        let mut all = Vec::with_capacity(self.total_partitions);
        for (t, &count) in self.counts.iter().enumerate() {
            all.extend((0..count).map(|p| (t as u32, p)));
        }
        all
    }

    /// Kafka's `ConstrainedAssignmentBuilder` (every member subscribes to the same topics), without racks.
    /// Returns the assignment per member and the partitions whose ownership transfers (to withhold).
    #[allow(clippy::type_complexity)]
    fn constrained_assign(&mut self) -> Result<(Vec<Vec<Tp>>, Vec<(Tp, usize)>), AssignError> {
        let n = self.subscriptions.len();
        let total = self.total_partitions;
        let min_quota = total / n;
        let max_quota = total.div_ceil(n);
        let expected_over_min = total % n;
        let mut current_over_min = 0usize;
        let mut assignment: Vec<Vec<Tp>> = vec![Vec::new(); n];
        let mut assigned: HashSet<Tp> = HashSet::new();
        let mut maybe_revoked: HashMap<Tp, usize> = HashMap::new();
        let mut under_min: Vec<usize> = Vec::new();
        let mut exactly_min: Vec<usize> = Vec::new();
        let mut transferring: HashMap<Tp, usize> = HashMap::new();

        for k in 0..self.java_order.len() {
            let m = self.java_order[k];
            let mut owned = self.owned[m].clone();
            // Sorted by partition, then topic: a member keeps its lowest-numbered partitions across topics.
            owned.sort_by(|a, b| a.1.cmp(&b.1).then(self.java_cmp_tp(&(a.0, 0), &(b.0, 0))));
            for tp in &self.partitions_with_multiple_previous_owners {
                remove_first(&mut owned, *tp);
            }
            let keep = if owned.len() < min_quota {
                under_min.push(m);
                owned.len()
            } else if owned.len() >= max_quota && current_over_min < expected_over_min {
                current_over_min += 1;
                if current_over_min == expected_over_min {
                    exactly_min.clear();
                }
                max_quota
            } else {
                if current_over_min < expected_over_min {
                    exactly_min.push(m);
                }
                min_quota
            };
            for &tp in &owned[..keep] {
                assignment[m].push(tp);
                assigned.insert(tp);
            }
            for &tp in &owned[keep..] {
                maybe_revoked.insert(tp, m);
            }
        }

        let unassigned: Vec<Tp> =
            self.all_partitions_sorted().into_iter().filter(|tp| !assigned.contains(tp)).collect();
        under_min.sort_by_key(|&m| self.rank[m]);
        exactly_min.sort_by_key(|&m| self.rank[m]);

        // Kafka's assignRoundRobin: deal the unassigned partitions to members under the minimum quota in turn,
        // then one each to members at the minimum while more members may exceed it.
        let mut cursor = 0usize;
        for &tp in &unassigned {
            // `walk_pos` is where the member sits in `under_min` when the walk returned it.
            let (m, walk_pos) = if cursor < under_min.len() {
                cursor += 1;
                (under_min[cursor - 1], Some(cursor - 1))
            } else if under_min.is_empty() && exactly_min.is_empty() {
                return Err(AssignError::IllegalState("No more unfilled consumers to be assigned.".into()));
            } else if under_min.is_empty() {
                (exactly_min.remove(0), None)
            } else {
                cursor = 1;
                (under_min[0], Some(0))
            };
            assignment[m].push(tp);
            if maybe_revoked.get(&tp).is_some_and(|&owner| owner != m)
                || self.partitions_with_multiple_previous_owners.contains(&tp)
            {
                transferring.insert(tp, m);
            }
            let count = assignment[m].len();
            if count == min_quota {
                // The member came from the under-minimum walk (a member from the other list already had the
                // minimum), so remove it where the walk last returned it.
                if let Some(pos) = walk_pos {
                    under_min.remove(pos);
                    cursor = pos;
                }
                exactly_min.push(m);
            } else if count == max_quota {
                current_over_min += 1;
            }
        }

        // Kafka's verifyUnfilledMembers.
        if !under_min.is_empty() {
            if current_over_min != expected_over_min {
                return Err(AssignError::IllegalState(
                    "We haven't reached the expected number of members with more than the minQuota partitions, \
                     but no more partitions to be assigned"
                        .into(),
                ));
            }
            for &m in &under_min {
                if assignment[m].len() != min_quota {
                    return Err(AssignError::IllegalState(format!(
                        "Consumer: [{}] doesn't reach minQuota partitions, and no more partitions to be assigned",
                        self.subscriptions[m].0
                    )));
                }
            }
        }
        Ok((assignment, transferring.into_iter().collect()))
    }

    /// Kafka's `computePartitionsTransferringOwnership` for the general case: partitions newly assigned to one
    /// member that another member (by its subscription) owned and no longer gets.
    fn compute_partitions_transferring_ownership(&self, assignment: &[Vec<Tp>]) -> Vec<(Tp, usize)> {
        let mut added: HashMap<Tp, usize> = HashMap::new();
        let mut revoked: HashSet<Tp> = HashSet::new();
        for (m, assigned) in assignment.iter().enumerate() {
            let owned: HashSet<Tp> =
                self.subscriptions[m].1.owned_partitions.iter().filter_map(|tp| self.tp(tp)).collect();
            let assigned_set: HashSet<Tp> = assigned.iter().copied().collect();
            for &tp in assigned {
                if !owned.contains(&tp) {
                    added.insert(tp, m);
                }
            }
            for &tp in &owned {
                if !assigned_set.contains(&tp) {
                    revoked.insert(tp);
                }
            }
        }
        added.into_iter().filter(|(tp, _)| revoked.contains(tp)).collect()
    }

    /// Kafka's `GeneralAssignmentBuilder` (members subscribe to different topics), without racks.
    fn general_assign(&mut self) -> Vec<Vec<Tp>> {
        General::new(self).build()
    }
}

fn remove_first(list: &mut Vec<Tp>, tp: Tp) {
    if let Some(pos) = list.iter().position(|&p| p == tp) {
        list.remove(pos);
    }
}

/// The state of Kafka's `GeneralAssignmentBuilder`.
struct General<'s, 'a> {
    s: &'s Sticky<'a>,
    /// Per member, the subscribed topics that exist, in subscription order (duplicates kept, as in Kafka).
    consumer_topics: Vec<Vec<u32>>,
    /// Per topic, the members subscribed to it.
    topic_consumers: Vec<Vec<usize>>,
    current: Vec<Vec<Tp>>,
    /// Members taken out of the balancing because nothing of theirs can move (`fixedAssignments`).
    fixed: Vec<bool>,
    current_partition_consumer: HashMap<Tp, usize>,
    sorted_all_partitions: Vec<Tp>,
    /// Kafka's `sortedCurrentSubscriptions`: members by assignment size, then member id.
    sorted_members: BTreeSet<(usize, usize)>,
    by_rank: Vec<usize>,
    revocation_required: bool,
    movements: PartitionMovements,
}

impl<'s, 'a> General<'s, 'a> {
    fn new(s: &'s Sticky<'a>) -> Self {
        let n = s.subscriptions.len();
        let mut consumer_topics = vec![Vec::new(); n];
        let mut topic_consumers = vec![Vec::new(); s.topics.len()];
        for &m in &s.java_order {
            for topic in &s.subscriptions[m].1.topics {
                if let Some(t) = s.topic_of(topic) {
                    consumer_topics[m].push(t);
                    topic_consumers[t as usize].push(m);
                }
            }
        }
        let current = s.owned.clone();
        let mut current_partition_consumer = HashMap::new();
        for (m, partitions) in current.iter().enumerate() {
            for &tp in partitions {
                current_partition_consumer.insert(tp, m);
            }
        }
        // Topics with the fewest potential consumers first, then by name (Kafka's TopicComparator).
        let mut topic_order: Vec<u32> = (0..s.topics.len() as u32).collect();
        topic_order.sort_by_key(|&t| (topic_consumers[t as usize].len(), t));
        let mut sorted_all_partitions = Vec::with_capacity(s.total_partitions);
        for t in topic_order {
            sorted_all_partitions.extend((0..s.counts[t as usize]).map(|p| (t, p)));
        }
        let mut by_rank = vec![0; n];
        for (m, &r) in s.rank.iter().enumerate() {
            by_rank[r] = m;
        }
        General {
            s,
            consumer_topics,
            topic_consumers,
            current,
            fixed: vec![false; n],
            current_partition_consumer,
            sorted_all_partitions,
            sorted_members: BTreeSet::new(),
            by_rank,
            revocation_required: false,
            movements: PartitionMovements::default(),
        }
    }

    fn size(&self, m: usize) -> usize {
        self.current[m].len()
    }

    fn sorted_remove(&mut self, m: usize) {
        self.sorted_members.remove(&(self.current[m].len(), self.s.rank[m]));
    }

    fn sorted_add(&mut self, m: usize) {
        self.sorted_members.insert((self.current[m].len(), self.s.rank[m]));
    }

    fn sorted_iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.sorted_members.iter().map(|&(_, r)| self.by_rank[r])
    }

    fn subscribes(&self, m: usize, t: u32) -> bool {
        self.consumer_topics[m].contains(&t)
    }

    fn max_assignment_size(&self, m: usize) -> usize {
        let topics = &self.consumer_topics[m];
        if topics.len() == self.s.topics.len() {
            self.s.total_partitions
        } else {
            topics.iter().map(|&t| self.s.counts[t as usize] as usize).sum()
        }
    }

    fn build(mut self) -> Vec<Vec<Tp>> {
        let prev = self.previous_assignment();
        let assigned = self.assign_owned_partitions();
        let unassigned: Vec<Tp> =
            self.sorted_all_partitions.iter().copied().filter(|tp| !assigned.contains(tp)).collect();
        for m in 0..self.current.len() {
            self.sorted_add(m);
        }
        self.balance(&prev, unassigned);
        self.current
    }

    /// Kafka's `prepopulateCurrentAssignments`: partitions members owned in generations older than the newest,
    /// with the owner from the latest such generation (the first member listed wins a tie).
    fn previous_assignment(&self) -> HashMap<Tp, (usize, i32)> {
        let mut prev: HashMap<Tp, (usize, i32)> = HashMap::new();
        let max_generation = self.s.max_generation;
        for &m in &self.s.java_order {
            let subscription = &self.s.subscriptions[m].1;
            let generation = match CooperativeStickyAssignor::member_generation(subscription) {
                Some(g) if g < max_generation => g,
                None if max_generation > DEFAULT_GENERATION => DEFAULT_GENERATION,
                _ => continue,
            };
            for claimed in &subscription.owned_partitions {
                let Some(tp) = self.s.tp(claimed) else { continue };
                match prev.get(&tp) {
                    Some(&(_, g)) if generation <= g => {}
                    _ => {
                        prev.insert(tp, (m, generation));
                    }
                }
            }
        }
        prev
    }

    /// Keeps each member's owned partitions of topics it still subscribes to.
    fn assign_owned_partitions(&mut self) -> HashSet<Tp> {
        let mut assigned = HashSet::new();
        for m in 0..self.current.len() {
            let topics = &self.s.subscriptions[m].1.topics;
            let mut kept = Vec::with_capacity(self.current[m].len());
            for &tp in &self.current[m] {
                if topics.iter().any(|t| t == self.s.topics[tp.0 as usize]) {
                    kept.push(tp);
                    assigned.insert(tp);
                } else {
                    self.revocation_required = true;
                }
            }
            self.current[m] = kept;
        }
        assigned
    }

    fn assign_partition(&mut self, tp: Tp) {
        let candidate = self.sorted_iter().find(|&m| self.subscribes(m, tp.0));
        if let Some(m) = candidate {
            self.sorted_remove(m);
            self.current[m].push(tp);
            self.current_partition_consumer.insert(tp, m);
            self.sorted_add(m);
        }
    }

    fn can_consumer_participate(&self, m: usize) -> bool {
        if self.size(m) < self.max_assignment_size(m) {
            return true;
        }
        self.current[m].iter().any(|tp| self.topic_consumers[tp.0 as usize].len() >= 2)
    }

    fn balance_score(assignment: &[Vec<Tp>], fixed: &[bool]) -> i64 {
        let sizes: Vec<i64> = assignment.iter().zip(fixed).filter(|(_, &f)| !f).map(|(a, _)| a.len() as i64).collect();
        let mut score = 0;
        for i in 0..sizes.len() {
            for j in i + 1..sizes.len() {
                score += (sizes[i] - sizes[j]).abs();
            }
        }
        score
    }

    fn balance(&mut self, prev: &HashMap<Tp, (usize, i32)>, mut unassigned: Vec<Tp>) {
        let initializing = self.sorted_iter().last().is_none_or(|m| self.current[m].is_empty());
        for &tp in &unassigned {
            if !self.topic_consumers[tp.0 as usize].is_empty() {
                self.assign_partition(tp);
            }
        }
        // Only partitions of topics with two or more potential consumers can move.
        let movable_topic: Vec<bool> = self.topic_consumers.iter().map(|c| c.len() >= 2).collect();
        self.sorted_all_partitions.retain(|tp| movable_topic[tp.0 as usize]);
        unassigned.retain(|tp| movable_topic[tp.0 as usize]);
        for m in 0..self.current.len() {
            if !self.can_consumer_participate(m) {
                self.sorted_remove(m);
                self.fixed[m] = true;
            }
        }
        let pre_balance = self.current.clone();
        let pre_balance_partition_consumer = self.current_partition_consumer.clone();
        if !self.revocation_required {
            self.perform_reassignments(prev, &unassigned);
        }
        let all = std::mem::take(&mut self.sorted_all_partitions);
        let reassignment_performed = self.perform_reassignments(prev, &all);
        if !initializing
            && reassignment_performed
            && Self::balance_score(&self.current, &self.fixed) >= Self::balance_score(&pre_balance, &self.fixed)
        {
            self.current = pre_balance;
            self.current_partition_consumer = pre_balance_partition_consumer;
        }
    }

    fn is_balanced(&self) -> bool {
        let (Some(first), Some(last)) = (self.sorted_iter().next(), self.sorted_iter().last()) else {
            return true;
        };
        if self.size(first) + 1 >= self.size(last) {
            return true;
        }
        let mut owner: HashMap<Tp, usize> = HashMap::with_capacity(self.s.total_partitions);
        for (m, partitions) in self.current.iter().enumerate() {
            if !self.fixed[m] {
                for &tp in partitions {
                    owner.insert(tp, m);
                }
            }
        }
        for m in self.sorted_iter() {
            let count = self.size(m);
            if count == self.max_assignment_size(m) {
                continue;
            }
            for &t in &self.consumer_topics[m] {
                for p in 0..self.s.counts[t as usize] {
                    if let Some(&other) = owner.get(&(t, p)) {
                        if other != m && count + 1 < self.size(other) {
                            return false;
                        }
                    }
                }
            }
        }
        true
    }

    fn perform_reassignments(&mut self, prev: &HashMap<Tp, (usize, i32)>, partitions: &[Tp]) -> bool {
        let mut performed = false;
        loop {
            let mut modified = false;
            for &tp in partitions {
                if self.is_balanced() {
                    break;
                }
                let Some(&consumer) = self.current_partition_consumer.get(&tp) else { continue };
                if let Some(&(prev_consumer, _)) = prev.get(&tp) {
                    // Kafka would fail on a previous owner that left the balancing; such a member cannot take the
                    // partition back, so the rule does not apply to it.
                    if !self.fixed[prev_consumer] && self.size(consumer) > self.size(prev_consumer) + 1 {
                        self.reassign_partition_to(tp, prev_consumer);
                        performed = true;
                        modified = true;
                        continue;
                    }
                }
                let consumer_size = self.size(consumer);
                let better =
                    self.topic_consumers[tp.0 as usize].iter().any(|&other| consumer_size > self.size(other) + 1);
                if better {
                    let new = self.sorted_iter().find(|&m| self.subscribes(m, tp.0));
                    if let Some(new) = new {
                        self.reassign_partition_to(tp, new);
                    }
                    performed = true;
                    modified = true;
                }
            }
            if !modified {
                return performed;
            }
        }
    }

    fn reassign_partition_to(&mut self, tp: Tp, new: usize) {
        let Some(&consumer) = self.current_partition_consumer.get(&tp) else { return };
        let s = self.s;
        let moved = self.movements.actual_partition_to_move(tp, consumer, new, |p| s.tp_hash(p));
        let Some(&old) = self.current_partition_consumer.get(&moved) else { return };
        self.sorted_remove(old);
        self.sorted_remove(new);
        self.movements.move_partition(moved, old, new);
        remove_first(&mut self.current[old], moved);
        self.current[new].push(moved);
        self.current_partition_consumer.insert(moved, new);
        self.sorted_add(new);
        self.sorted_add(old);
    }
}

/// An assignor by the name `partition.assignment.strategy` gives (short or Kafka's class name).
pub fn assignor_by_name(name: &str) -> Result<std::sync::Arc<dyn Assignor>, super::ClientError> {
    let short = name.trim().rsplit('.').next().unwrap_or_default();
    Ok(match short {
        "range" | "RangeAssignor" => std::sync::Arc::new(RangeAssignor),
        "roundrobin" | "RoundRobinAssignor" => std::sync::Arc::new(RoundRobinAssignor),
        "cooperative-sticky" | "CooperativeStickyAssignor" => std::sync::Arc::new(CooperativeStickyAssignor),
        other => {
            return Err(super::ClientError::config(
                "partition.assignment.strategy",
                format!("{other:?} is not one of range, roundrobin, cooperative-sticky"),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    /// Inputs and the Java client's outputs, from Kafka 4.1.1's own classes (scripts/golden/ClientVectors.java,
    /// regenerated by scripts/gen-client-vectors.sh).
    const JAVA_VECTORS: &str = include_str!("testdata/assignor-vectors.json");

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test hex")).collect()
    }

    fn tps(v: &Value) -> Vec<TopicPartition> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|tp| TopicPartition::new(tp[0].as_str().expect("topic"), tp[1].as_i64().expect("partition") as i32))
            .collect()
    }

    fn strings(v: &Value) -> Vec<String> {
        v.as_array().expect("array").iter().map(|s| s.as_str().expect("string").to_string()).collect()
    }

    fn assignor(name: &str) -> Box<dyn Assignor> {
        match name {
            "range" => Box::new(RangeAssignor),
            "roundrobin" => Box::new(RoundRobinAssignor),
            _ => Box::new(CooperativeStickyAssignor),
        }
    }

    fn generation(v: &Value) -> Option<i32> {
        Some(v.as_i64().expect("generation") as i32).filter(|&g| g >= 0)
    }

    #[test]
    fn assignments_match_the_java_client() {
        let root: Value = serde_json::from_str(JAVA_VECTORS).expect("vectors parse");
        let cases = root["cases"].as_array().expect("cases");
        let mut counted: HashMap<&str, usize> = HashMap::new();
        for case in cases {
            let name = case["assignor"].as_str().expect("assignor");
            let partitions: BTreeMap<String, i32> = case["partitions"]
                .as_object()
                .expect("partitions")
                .iter()
                .map(|(t, n)| (t.clone(), n.as_i64().expect("count") as i32))
                .collect();
            let members: Vec<(String, Subscription)> = case["members"]
                .as_array()
                .expect("members")
                .iter()
                .map(|m| {
                    let subscription = Subscription {
                        topics: strings(&m["topics"]),
                        user_data: m["user_data"].as_str().map(|h| Bytes::from(unhex(h))),
                        owned_partitions: tps(&m["owned"]),
                        generation_id: generation(&m["generation"]),
                        rack_id: None,
                        group_instance_id: m["instance"].as_str().map(str::to_string),
                    };
                    (m["id"].as_str().expect("id").to_string(), subscription)
                })
                .collect();
            let expected: GroupAssignment = case["assignment"]
                .as_object()
                .expect("assignment")
                .iter()
                .map(|(m, parts)| (m.clone(), tps(parts)))
                .collect();
            let got = assignor(name).assign(&partitions, &members).expect("assign");
            assert_eq!(got, expected, "{name} {}", case["label"]);
            *counted.entry(name).or_default() += 1;
        }
        assert!(counted.len() == 3 && counted.values().all(|&n| n >= 40), "cases per assignor: {counted:?}");
    }

    #[test]
    fn consumer_protocol_bytes_match_the_java_client() {
        let root: Value = serde_json::from_str(JAVA_VECTORS).expect("vectors parse");
        for v in root["codec"].as_array().expect("codec") {
            let version = v["version"].as_i64().expect("version") as i16;
            let bytes = unhex(v["hex"].as_str().expect("hex"));
            let user_data = v["user_data"].as_str().map(|h| Bytes::from(unhex(h)));
            if v["kind"] == "subscription" {
                let subscription = Subscription {
                    topics: strings(&v["topics"]),
                    user_data,
                    owned_partitions: tps(&v["owned"]),
                    generation_id: generation(&v["generation"]),
                    rack_id: v["rack"].as_str().map(str::to_string),
                    group_instance_id: None,
                };
                assert_eq!(encode_subscription(&subscription, version).expect("encode"), bytes, "{v}");
                let decoded = decode_subscription(&bytes).expect("decode");
                let mut topics = subscription.topics.clone();
                topics.sort();
                assert_eq!(decoded.topics, topics);
                assert_eq!(decoded.user_data, subscription.user_data);
                if version >= 1 {
                    let mut owned = subscription.owned_partitions.clone();
                    owned.sort();
                    assert_eq!(decoded.owned_partitions, owned);
                }
                if version >= 2 {
                    assert_eq!(decoded.generation_id, subscription.generation_id);
                }
                if version >= 3 {
                    assert_eq!(decoded.rack_id, subscription.rack_id);
                }
            } else {
                let assignment = Assignment { partitions: tps(&v["partitions"]), user_data };
                assert_eq!(encode_assignment(&assignment, version).expect("encode"), bytes, "{v}");
                // Decoding yields the partitions grouped by topic, as they are on the wire.
                let grouped: Vec<TopicPartition> = group_by_topic_in_order(&assignment.partitions)
                    .into_iter()
                    .flat_map(|(t, ps)| ps.into_iter().map(move |p| TopicPartition::new(t, p)))
                    .collect();
                assert_eq!(
                    decode_assignment(&bytes).expect("decode"),
                    Assignment { partitions: grouped, ..assignment }
                );
            }
        }
    }

    #[test]
    fn bytes_agree_with_the_kafka_protocol_crate() {
        use kafka_protocol::messages::consumer_protocol_subscription::{
            ConsumerProtocolSubscription, TopicPartition as Owned,
        };
        use kafka_protocol::messages::TopicName;
        use kafka_protocol::protocol::{Encodable, StrBytes};
        let subscription = Subscription {
            topics: vec!["a".into(), "b".into()],
            user_data: Some(Bytes::from_static(b"\x00\x00\x00\x05")),
            owned_partitions: vec![TopicPartition::new("a", 0), TopicPartition::new("a", 3)],
            generation_id: Some(5),
            rack_id: Some("r1".into()),
            group_instance_id: None,
        };
        let theirs = ConsumerProtocolSubscription::default()
            .with_topics(vec![StrBytes::from_static_str("a"), StrBytes::from_static_str("b")])
            .with_user_data(subscription.user_data.clone())
            .with_owned_partitions(vec![Owned::default()
                .with_topic(TopicName(StrBytes::from_static_str("a")))
                .with_partitions(vec![0, 3])])
            .with_generation_id(5)
            .with_rack_id(Some(StrBytes::from_static_str("r1")));
        let mut expected = 3i16.to_be_bytes().to_vec();
        theirs.encode(&mut expected, 3).expect("encode");
        assert_eq!(encode_subscription(&subscription, 3).expect("encode"), expected);
    }

    #[test]
    fn versions_outside_the_range() {
        assert_eq!(
            decode_subscription(&[0xff, 0xff]),
            Err(ConsumerProtocolError::UnsupportedVersion { what: "subscription", version: -1 })
        );
        assert!(encode_assignment(&Assignment::default(), -2).is_err());
        // A newer version is read as version 3 and its extra bytes ignored.
        let mut bytes = encode_subscription(&Subscription::new(["t"]), 3).expect("encode");
        bytes[1] = 9;
        bytes.extend_from_slice(b"future fields");
        assert_eq!(decode_subscription(&bytes).expect("decode").topics, ["t"]);
        // Writing at version 9 writes version 3.
        assert_eq!(encode_subscription(&Subscription::new(["t"]), 9).expect("encode")[..2], [0, 3]);
    }

    #[test]
    fn garbage_is_a_typed_error() {
        assert_eq!(decode_subscription(&[0]), Err(ConsumerProtocolError::Underflow { what: "header" }));
        // Two billion topics announced in six bytes.
        assert_eq!(
            decode_subscription(&[0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0]),
            Err(ConsumerProtocolError::CollectionTooLarge { size: i32::MAX, remaining: 2 })
        );
        assert_eq!(
            decode_subscription(&[0, 0, 0xff, 0xff, 0xff, 0xff]),
            Err(ConsumerProtocolError::NullField { field: "topics" })
        );
        assert_eq!(
            decode_subscription(&[0, 0, 0, 0, 0, 1, 0xff, 0xff]),
            Err(ConsumerProtocolError::NullField { field: "topics" })
        );
        assert_eq!(
            decode_assignment(&[0, 1, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 9]),
            Err(ConsumerProtocolError::CollectionTooLarge { size: 9, remaining: 0 })
        );
        let long = "x".repeat(40_000);
        assert!(matches!(
            encode_subscription(&Subscription::new([long]), 0),
            Err(ConsumerProtocolError::StringTooLong { .. })
        ));
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_subscription(&bytes);
            let _ = decode_assignment(&bytes);
        }

        #[test]
        fn subscriptions_round_trip(
            topics in proptest::collection::btree_set("[a-z]{1,8}", 0..5),
            owned in proptest::collection::btree_set(("[a-z]{1,4}", 0i32..50), 0..8),
            generation in proptest::option::of(0i32..1000),
            rack in proptest::option::of("[a-z]{1,5}"),
            user_data in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
        ) {
            let subscription = Subscription {
                topics: topics.into_iter().collect(),
                user_data: user_data.map(Bytes::from),
                owned_partitions: owned.into_iter().map(|(t, p)| TopicPartition::new(t, p)).collect(),
                generation_id: generation,
                rack_id: rack,
                group_instance_id: None,
            };
            let bytes = encode_subscription(&subscription, 3).expect("encode");
            prop_assert_eq!(decode_subscription(&bytes).expect("decode"), subscription);
        }

        #[test]
        fn every_assignor_hands_out_each_subscribed_partition_once(
            counts in proptest::collection::vec(1i32..12, 1..4),
            member_topics in proptest::collection::vec(proptest::collection::btree_set(0usize..3, 1..3), 1..7),
        ) {
            let partitions: BTreeMap<String, i32> =
                counts.iter().enumerate().map(|(i, &n)| (format!("t{i}"), n)).collect();
            let members: Vec<(String, Subscription)> = member_topics
                .iter()
                .enumerate()
                .map(|(i, ts)| {
                    let topics: Vec<String> = ts.iter().map(|t| format!("t{}", t % counts.len())).collect();
                    (format!("member-{i}"), Subscription::new(topics))
                })
                .collect();
            for name in ["range", "roundrobin", "cooperative-sticky"] {
                let got = assignor(name).assign(&partitions, &members).expect("assign");
                prop_assert_eq!(got.len(), members.len());
                let mut seen = HashSet::new();
                for (member, parts) in &got {
                    let subscription = &members.iter().find(|(m, _)| m == member).expect("member").1;
                    for tp in parts {
                        prop_assert!(subscription.topics.contains(&tp.topic));
                        prop_assert!(seen.insert(tp.clone()), "{} assigned twice by {}", tp.topic, name);
                    }
                }
                let subscribed: HashSet<&String> = members.iter().flat_map(|(_, s)| &s.topics).collect();
                let expected: usize = partitions.iter().filter(|(t, _)| subscribed.contains(t)).map(|(_, &n)| n as usize).sum();
                prop_assert_eq!(seen.len(), expected);
            }
        }
    }

    #[test]
    fn cooperative_sticky_withholds_a_moving_partition_and_keeps_owned_ones() {
        let partitions = BTreeMap::from([("t".to_string(), 4)]);
        let owner = |owned: &[i32], generation| Subscription {
            topics: vec!["t".into()],
            owned_partitions: owned.iter().map(|&p| TopicPartition::new("t", p)).collect(),
            generation_id: Some(generation),
            ..Subscription::default()
        };
        // a owned everything; b joins: two partitions move to b, but only after a revoked them.
        let members = vec![("a".to_string(), owner(&[0, 1, 2, 3], 3)), ("b".to_string(), Subscription::new(["t"]))];
        let got = CooperativeStickyAssignor.assign(&partitions, &members).expect("assign");
        assert_eq!(got["a"].len(), 2);
        assert!(got["b"].is_empty(), "b gets its partitions in the follow-up rebalance: {got:?}");
        // The follow-up: a reports the two it kept, b gets the two a revoked.
        let kept: Vec<i32> = got["a"].iter().map(|tp| tp.partition).collect();
        let members = vec![("a".to_string(), owner(&kept, 4)), ("b".to_string(), owner(&[], 4))];
        let got = CooperativeStickyAssignor.assign(&partitions, &members).expect("assign");
        assert_eq!(got["a"].iter().map(|tp| tp.partition).collect::<Vec<_>>(), kept);
        assert_eq!(got["b"].len(), 2);
        // A stale owner (older generation) loses a partition claimed in a newer generation.
        let members = vec![("a".to_string(), owner(&[0, 1], 2)), ("b".to_string(), owner(&[1, 2, 3], 5))];
        let got = CooperativeStickyAssignor.assign(&partitions, &members).expect("assign");
        assert!(got["b"].contains(&TopicPartition::new("t", 1)) || !got["a"].contains(&TopicPartition::new("t", 1)));
        assert!(!got["a"].contains(&TopicPartition::new("t", 1)));
    }

    #[test]
    fn range_and_round_robin_on_the_curriculum_topics() {
        let partitions = BTreeMap::from([("numbers".to_string(), 5), ("pos".to_string(), 3)]);
        let members = vec![
            ("c2".to_string(), Subscription::new(["numbers", "pos"])),
            ("c1".to_string(), Subscription::new(["numbers", "pos"])),
        ];
        let range = RangeAssignor.assign(&partitions, &members).expect("assign");
        let tp = TopicPartition::new;
        assert_eq!(range["c1"], [tp("numbers", 0), tp("numbers", 1), tp("numbers", 2), tp("pos", 0), tp("pos", 1)]);
        assert_eq!(range["c2"], [tp("numbers", 3), tp("numbers", 4), tp("pos", 2)]);
        let rr = RoundRobinAssignor.assign(&partitions, &members).expect("assign");
        assert_eq!(rr["c1"], [tp("numbers", 0), tp("numbers", 2), tp("numbers", 4), tp("pos", 1)]);
        assert_eq!(rr["c2"], [tp("numbers", 1), tp("numbers", 3), tp("pos", 0), tp("pos", 2)]);
        assert_eq!(
            RangeAssignor.assign(&partitions, &[members[0].clone(), members[0].clone()]),
            Err(AssignError::DuplicateMember { member: "c2".into() })
        );
    }

    #[test]
    fn duplicate_topics_in_a_subscription() {
        let partitions = BTreeMap::from([("t0".to_string(), 1), ("t1".to_string(), 2)]);
        let members = vec![
            ("member-0".to_string(), Subscription::new(["t0", "t0"])),
            ("member-1".to_string(), Subscription::new(["t1", "t0"])),
        ];
        let got = CooperativeStickyAssignor.assign(&partitions, &members).expect("assign");
        assert!(got["member-0"].iter().all(|tp| tp.topic == "t0"), "{got:?}");
    }

    #[test]
    fn java_hash_map_order_matches_java() {
        // "Aa" and "BB" share Java hash 2112: same bucket, so insertion order decides.
        assert_eq!(java_string_hash("Aa"), java_string_hash("BB"));
        assert_eq!(java_hash_map_order(&["BB", "Aa"]), [0, 1]);
        assert_eq!(java_hash_map_order(&["Aa", "BB"]), [0, 1]);
        assert_eq!(java_string_hash("hello"), 99162322);
        assert_eq!(java_table_size(12), 16);
        assert_eq!(java_table_size(13), 32);
        assert_eq!(java_cmp("\u{ffff}", "\u{10000}"), Ordering::Greater);
    }
}
