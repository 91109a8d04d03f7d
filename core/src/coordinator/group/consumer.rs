//! The consumer group protocol of KIP-848 (ConsumerGroupHeartbeat), beside the classic protocol.
//!
//! The broker owns the assignment: every change to membership, subscriptions or the subscribed topics'
//! partition counts bumps the group epoch and recomputes a target assignment with a server-side assignor
//! (`uniform`, the default, or `range`). Each member then converges on its target through its heartbeats:
//! partitions it must give up are withheld from the assignment it is sent (its epoch stays put) until it
//! reports that it no longer owns them; only then does its epoch move to the target epoch, and partitions
//! still owned by another member are handed over once that member has released them.
//!
//! Member state is kept in memory only: after a broker restart members are unknown and rejoin (epoch 0), as
//! clients do on UNKNOWN_MEMBER_ID. Committed offsets are persisted like the classic protocol's.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use uuid::Uuid;

use super::{ClientInfo, Group, GroupCoordinator, GroupState};
use crate::controller::MetadataImage;

/// Partitions by topic id.
pub type TopicAssignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// `group.consumer.heartbeat.interval.ms`
pub const HEARTBEAT_INTERVAL_MS: i32 = 5_000;
/// `group.consumer.session.timeout.ms`
pub const SESSION_TIMEOUT_MS: i64 = 45_000;
const LEAVE_EPOCH: i32 = -1;
const STATIC_LEAVE_EPOCH: i32 = -2;

#[derive(Debug, Clone)]
pub struct ConsumerMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    /// Topics subscribed by name, plus those matching `subscribed_regex`, resolved against the metadata.
    pub subscribed_topics: BTreeSet<String>,
    pub subscribed_names: BTreeSet<String>,
    pub subscribed_regex: Option<regex::Regex>,
    pub server_assignor: Option<String>,
    pub member_epoch: i32,
    previous_member_epoch: i32,
    /// What the member has been told it owns.
    pub assigned: TopicAssignment,
    /// Partitions it was asked to give up and has not yet confirmed releasing.
    pub revoking: TopicAssignment,
    last_heartbeat_ms: i64,
    revoking_since_ms: Option<i64>,
    /// The last assignment sent, so an unchanged one is not sent again.
    sent: Option<TopicAssignment>,
}

/// The consumer-protocol state of a group.
#[derive(Debug, Clone, Default)]
pub struct ConsumerState {
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    pub target: BTreeMap<String, TopicAssignment>,
    /// Partition counts of the subscribed topics when the target was computed.
    partition_counts: BTreeMap<String, i32>,
    pub assignor: String,
}

impl ConsumerState {
    /// Kafka's consumer-group states: empty, assigning (target not yet computed), reconciling (members not
    /// yet at the target), stable.
    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.assignment_epoch < self.group_epoch {
            "Assigning"
        } else if self.members.values().any(|m| m.member_epoch != self.assignment_epoch || !m.revoking.is_empty()) {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    fn owned_by_others(&self, member_id: &str) -> BTreeSet<(Uuid, i32)> {
        self.members
            .values()
            .filter(|m| m.member_id != member_id)
            .flat_map(|m| m.assigned.iter().chain(m.revoking.iter()))
            .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
            .collect()
    }

    fn compute_target(&mut self, image: &MetadataImage) {
        let assignor = self.assignor.clone();
        let mut target: BTreeMap<String, TopicAssignment> =
            self.members.keys().map(|m| (m.clone(), TopicAssignment::new())).collect();
        let topics: BTreeSet<&String> = self.members.values().flat_map(|m| m.subscribed_topics.iter()).collect();
        let mut round_robin: Vec<(Uuid, i32, Vec<&str>)> = Vec::new();
        for topic in topics {
            let Some(t) = image.topics.get(topic) else { continue };
            let subscribers: Vec<&str> = self
                .members
                .values()
                .filter(|m| m.subscribed_topics.contains(topic))
                .map(|m| m.member_id.as_str())
                .collect();
            let n = t.partitions.len() as i32;
            if assignor == "range" {
                let (per, extra) = (n / subscribers.len() as i32, n % subscribers.len() as i32);
                let mut next = 0;
                for (i, member) in subscribers.iter().enumerate() {
                    let count = per + i32::from((i as i32) < extra);
                    let entry = target.get_mut(*member).map(|a| a.entry(t.id).or_default());
                    if let Some(set) = entry {
                        set.extend(next..next + count);
                    }
                    next += count;
                }
            } else {
                round_robin.extend((0..n).map(|p| (t.id, p, subscribers.clone())));
            }
        }
        // uniform: deal the partitions out one by one to the least-loaded subscriber, keeping each member's
        // current partitions where that keeps the load balanced (sticky where it costs nothing).
        let mut load: BTreeMap<&str, usize> = self.members.keys().map(|m| (m.as_str(), 0)).collect();
        let total_subscribers = self.members.len().max(1);
        let quota = round_robin.len().div_ceil(total_subscribers);
        let mut unplaced = Vec::new();
        for (topic, p, subscribers) in &round_robin {
            let current =
                subscribers.iter().find(|m| self.members[**m].assigned.get(topic).is_some_and(|s| s.contains(p)));
            match current {
                Some(m) if load[*m] < quota => {
                    *load.get_mut(*m).expect("member") += 1;
                    target.get_mut(*m).expect("member").entry(*topic).or_default().insert(*p);
                }
                _ => unplaced.push((*topic, *p, subscribers)),
            }
        }
        for (topic, p, subscribers) in unplaced {
            if let Some(m) = subscribers.iter().min_by_key(|m| (load[**m], **m)) {
                *load.get_mut(*m).expect("member") += 1;
                target.get_mut(*m).expect("member").entry(topic).or_default().insert(p);
            }
        }
        for a in target.values_mut() {
            a.retain(|_, ps| !ps.is_empty());
        }
        self.target = target;
        self.assignment_epoch = self.group_epoch;
        self.partition_counts = self.subscribed_partition_counts(image);
    }

    fn subscribed_partition_counts(&self, image: &MetadataImage) -> BTreeMap<String, i32> {
        self.members
            .values()
            .flat_map(|m| m.subscribed_topics.iter())
            .map(|t| (t.clone(), image.topics.get(t).map_or(0, |i| i.partitions.len() as i32)))
            .collect()
    }

    /// Moves a member toward its target (Kafka's current-assignment builder, simplified to whole steps).
    fn reconcile(&mut self, member_id: &str, owned: Option<&TopicAssignment>, now_ms: i64) {
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let others = self.owned_by_others(member_id);
        let epoch = self.assignment_epoch;
        let Some(m) = self.members.get_mut(member_id) else { return };
        if let Some(owned) = owned {
            // Partitions the member reports it no longer owns are released.
            for (t, ps) in m.revoking.iter_mut() {
                let still = owned.get(t);
                ps.retain(|p| still.is_some_and(|s| s.contains(p)));
            }
            m.revoking.retain(|_, ps| !ps.is_empty());
        }
        let to_revoke: TopicAssignment = m
            .assigned
            .iter()
            .map(|(t, ps)| {
                (
                    *t,
                    ps.iter()
                        .filter(|p| !target.get(t).is_some_and(|s| s.contains(p)))
                        .copied()
                        .collect::<BTreeSet<_>>(),
                )
            })
            .filter(|(_, ps): &(Uuid, BTreeSet<i32>)| !ps.is_empty())
            .collect();
        if !to_revoke.is_empty() {
            for (t, ps) in &to_revoke {
                if let Some(a) = m.assigned.get_mut(t) {
                    a.retain(|p| !ps.contains(p));
                }
                m.revoking.entry(*t).or_default().extend(ps.iter().copied());
            }
            m.assigned.retain(|_, ps| !ps.is_empty());
            m.revoking_since_ms.get_or_insert(now_ms);
        }
        if !m.revoking.is_empty() {
            // The epoch moves only once the member has given up what it must.
            return;
        }
        m.revoking_since_ms = None;
        for (t, ps) in &target {
            for p in ps {
                if !others.contains(&(*t, *p)) {
                    m.assigned.entry(*t).or_default().insert(*p);
                }
            }
        }
        if m.member_epoch != epoch {
            m.previous_member_epoch = m.member_epoch;
            m.member_epoch = epoch;
        }
    }
}

fn to_assignment(a: &TopicAssignment) -> Assignment {
    Assignment::default().with_topic_partitions(
        a.iter()
            .map(|(t, ps)| TopicPartitions::default().with_topic_id(*t).with_partitions(ps.iter().copied().collect()))
            .collect(),
    )
}

fn error(e: ResponseError, message: &str) -> ConsumerGroupHeartbeatResponse {
    ConsumerGroupHeartbeatResponse::default()
        .with_error_code(e.code())
        .with_error_message(Some(kafka_protocol::protocol::StrBytes::from_string(message.to_string())))
}

impl GroupCoordinator {
    /// ConsumerGroupHeartbeat: join (epoch 0), heartbeat, or leave (epoch -1/-2).
    pub fn consumer_heartbeat(
        &mut self,
        req: &ConsumerGroupHeartbeatRequest,
        version: i16,
        client: &ClientInfo,
        image: &MetadataImage,
        now_ms: i64,
    ) -> ConsumerGroupHeartbeatResponse {
        let group_id = req.group_id.0.to_string();
        if group_id.is_empty() {
            return error(ResponseError::InvalidRequest, "GroupId can't be empty.");
        }
        let mut member_id = req.member_id.to_string();
        if member_id.is_empty() {
            if version >= 1 || req.member_epoch != 0 {
                return error(ResponseError::InvalidRequest, "MemberId can't be empty.");
            }
            member_id = self.new_member_id("");
        }
        if req.member_epoch == 0 && (req.subscribed_topic_names.is_none() && req.subscribed_topic_regex.is_none()) {
            return error(
                ResponseError::InvalidRequest,
                "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
            );
        }
        // An empty regex is how librdkafka says "no regex".
        let regex = match req.subscribed_topic_regex.as_ref().map(|r| r.as_str()).filter(|r| !r.is_empty()) {
            None => None,
            Some(r) => match regex::Regex::new(&format!("^(?:{r})$")) {
                Ok(re) => Some(re),
                Err(_) => {
                    return error(
                        ResponseError::InvalidRegularExpression,
                        &format!("SubscribedTopicRegex `{r}` is not a valid regular expression."),
                    )
                }
            },
        };
        if let Some(a) = &req.server_assignor {
            if a.as_str() != "uniform" && a.as_str() != "range" {
                return error(
                    ResponseError::UnsupportedAssignor,
                    &format!("Assignor {a} is not supported: use uniform or range."),
                );
            }
        }
        let group = self.groups.entry(group_id.clone()).or_insert_with(|| Group::new(&group_id, now_ms));
        if !group.members.is_empty() || (group.consumer.is_none() && group.state != GroupState::Empty) {
            return error(ResponseError::GroupIdNotFound, &format!("Group {group_id} is not a consumer group."));
        }
        let cg =
            group.consumer.get_or_insert_with(|| ConsumerState { assignor: "uniform".into(), ..Default::default() });

        if req.member_epoch == LEAVE_EPOCH || req.member_epoch == STATIC_LEAVE_EPOCH {
            if cg.members.remove(&member_id).is_some() {
                cg.target.remove(&member_id);
                cg.group_epoch += 1;
            }
            return ConsumerGroupHeartbeatResponse::default()
                .with_member_id(Some(kafka_protocol::protocol::StrBytes::from_string(member_id)))
                .with_member_epoch(req.member_epoch)
                .with_heartbeat_interval_ms(0);
        }

        let joining = req.member_epoch == 0;
        if !joining {
            let Some(m) = cg.members.get(&member_id) else {
                return error(
                    ResponseError::UnknownMemberId,
                    &format!("Member {member_id} is not a member of group {group_id}."),
                );
            };
            if req.member_epoch != m.member_epoch && req.member_epoch != m.previous_member_epoch {
                return error(ResponseError::FencedMemberEpoch, "The member epoch is fenced by the group coordinator.");
            }
        }
        let names: Option<BTreeSet<String>> =
            req.subscribed_topic_names.as_ref().map(|names| names.iter().map(|n| n.0.to_string()).collect());
        let regex_given = req.subscribed_topic_regex.is_some();
        if joining {
            let previous = cg.members.remove(&member_id);
            let m = ConsumerMember {
                member_id: member_id.clone(),
                instance_id: req.instance_id.as_ref().map(|i| i.to_string()),
                rack_id: req.rack_id.as_ref().map(|r| r.to_string()),
                client_id: client.client_id.clone(),
                client_host: client.client_host.clone(),
                rebalance_timeout_ms: req.rebalance_timeout_ms,
                subscribed_topics: BTreeSet::new(),
                subscribed_names: names.clone().unwrap_or_default(),
                subscribed_regex: regex.clone(),
                server_assignor: req.server_assignor.as_ref().map(|a| a.to_string()),
                member_epoch: 0,
                previous_member_epoch: 0,
                // A member rejoining with epoch 0 owns nothing any more.
                assigned: TopicAssignment::new(),
                revoking: previous.map(|p| p.revoking).unwrap_or_default(),
                last_heartbeat_ms: now_ms,
                revoking_since_ms: None,
                sent: None,
            };
            cg.members.insert(member_id.clone(), m);
        }
        let m = cg.members.get_mut(&member_id).expect("present");
        m.last_heartbeat_ms = now_ms;
        if req.rebalance_timeout_ms > 0 {
            m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        }
        if let Some(names) = names {
            m.subscribed_names = names;
        }
        if regex_given {
            m.subscribed_regex = regex;
        }
        // Resolve every member's subscription against the current topics: a new topic matching a regex joins.
        let mut changed = false;
        for member in cg.members.values_mut() {
            let mut topics = member.subscribed_names.clone();
            if let Some(re) = &member.subscribed_regex {
                topics.extend(
                    image.topics.values().filter(|t| !t.is_internal() && re.is_match(&t.name)).map(|t| t.name.clone()),
                );
            }
            if topics != member.subscribed_topics {
                member.subscribed_topics = topics;
                changed = true;
            }
        }
        if changed || joining {
            cg.group_epoch += 1;
        }
        let m = cg.members.get_mut(&member_id).expect("present");
        if let Some(assignor) = &req.server_assignor {
            m.server_assignor = Some(assignor.to_string());
        }
        cg.assignor = cg.members.values().find_map(|m| m.server_assignor.clone()).unwrap_or_else(|| "uniform".into());
        // A subscribed topic that gained partitions (or appeared) needs a new target too.
        if cg.assignment_epoch == cg.group_epoch && cg.partition_counts != cg.subscribed_partition_counts(image) {
            cg.group_epoch += 1;
        }
        if cg.assignment_epoch < cg.group_epoch {
            cg.compute_target(image);
        }
        let owned: Option<TopicAssignment> = req
            .topic_partitions
            .as_ref()
            .map(|tps| tps.iter().map(|tp| (tp.topic_id, tp.partitions.iter().copied().collect())).collect());
        cg.reconcile(&member_id, owned.as_ref(), now_ms);
        let m = cg.members.get_mut(&member_id).expect("present");
        let assignment = m.assigned.clone();
        let send = joining || owned.is_some() || m.sent.as_ref() != Some(&assignment);
        m.sent = Some(assignment.clone());
        ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(kafka_protocol::protocol::StrBytes::from_string(member_id)))
            .with_member_epoch(m.member_epoch)
            .with_heartbeat_interval_ms(HEARTBEAT_INTERVAL_MS)
            .with_assignment(send.then(|| to_assignment(&assignment)))
    }

    /// Expires consumer-protocol members whose session ran out or that held on to partitions past their
    /// rebalance timeout.
    pub fn consumer_tick(&mut self, now_ms: i64) {
        for g in self.groups.values_mut() {
            let Some(cg) = g.consumer.as_mut() else { continue };
            let before = cg.members.len();
            cg.members.retain(|_, m| {
                let alive = now_ms - m.last_heartbeat_ms <= SESSION_TIMEOUT_MS;
                let revoking_ok = m.revoking_since_ms.is_none_or(|t| now_ms - t <= i64::from(m.rebalance_timeout_ms));
                alive && revoking_ok
            });
            if cg.members.len() != before {
                let members = &cg.members;
                cg.target.retain(|id, _| members.contains_key(id));
                cg.group_epoch += 1;
            }
        }
    }

    /// OffsetCommit validation for a consumer-protocol group: the member epoch must be the member's current one.
    pub(super) fn validate_consumer_commit(
        cg: &ConsumerState,
        epoch: i32,
        member_id: &str,
    ) -> Result<(), ResponseError> {
        if epoch < 0 && member_id.is_empty() {
            return if cg.members.is_empty() { Ok(()) } else { Err(ResponseError::UnknownMemberId) };
        }
        let m = cg.members.get(member_id).ok_or(ResponseError::UnknownMemberId)?;
        if epoch != m.member_epoch {
            return Err(ResponseError::StaleMemberEpoch);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{GroupId, TopicName};
    use kafka_protocol::protocol::StrBytes;

    fn image() -> (MetadataImage, Uuid) {
        let mut image = MetadataImage::default();
        let id = Uuid::from_u128(7);
        for record in crate::controller::topic_records(
            "t",
            id,
            &[vec![1], vec![1], vec![1], vec![1]],
            &Default::default(),
            |_| true,
        ) {
            image.apply(&record);
        }
        (image, id)
    }

    fn hb(member: &str, epoch: i32, owned: Option<Vec<i32>>, id: Uuid) -> ConsumerGroupHeartbeatRequest {
        ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str("cg")))
            .with_member_id(StrBytes::from_string(member.into()))
            .with_member_epoch(epoch)
            .with_rebalance_timeout_ms(30_000)
            .with_subscribed_topic_names((epoch == 0).then(|| vec![TopicName(StrBytes::from_static_str("t"))]))
            .with_topic_partitions(owned.map(|ps| {
                vec![TopicPartitions::default().with_topic_id(id).with_partitions(ps)]
                    .into_iter()
                    .map(|t| {
                        kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions::default()
                            .with_topic_id(t.topic_id)
                            .with_partitions(t.partitions)
                    })
                    .collect()
            }))
    }

    fn parts(r: &ConsumerGroupHeartbeatResponse) -> Vec<i32> {
        r.assignment
            .as_ref()
            .map(|a| a.topic_partitions.iter().flat_map(|t| t.partitions.clone()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_second_member_gets_partitions_only_after_the_first_releases_them() {
        let (image, id) = image();
        let mut c = GroupCoordinator::new(Default::default(), 1);
        let client = ClientInfo::default();
        let a = c.consumer_heartbeat(&hb("a", 0, None, id), 1, &client, &image, 0);
        assert_eq!((a.error_code, a.member_epoch, parts(&a)), (0, 1, vec![0, 1, 2, 3]));
        let b = c.consumer_heartbeat(&hb("b", 0, None, id), 1, &client, &image, 10);
        assert_eq!(b.member_epoch, 2);
        assert!(parts(&b).is_empty(), "a still owns everything");
        // a is told to keep only half; its epoch waits for the revocation.
        let a = c.consumer_heartbeat(&hb("a", 1, Some(vec![0, 1, 2, 3]), id), 1, &client, &image, 20);
        assert_eq!((a.member_epoch, parts(&a).len()), (1, 2));
        let kept = parts(&a);
        let a = c.consumer_heartbeat(&hb("a", 1, Some(kept.clone()), id), 1, &client, &image, 30);
        assert_eq!(a.member_epoch, 2);
        let b = c.consumer_heartbeat(&hb("b", 2, Some(vec![]), id), 1, &client, &image, 40);
        let mut all: Vec<i32> = kept.iter().chain(parts(&b).iter()).copied().collect();
        all.sort_unstable();
        assert_eq!(all, vec![0, 1, 2, 3]);
        assert_eq!(c.group("cg").unwrap().consumer.as_ref().unwrap().state_name(), "Stable");
    }

    #[test]
    fn stale_epochs_are_fenced_and_leavers_rebalance() {
        let (image, id) = image();
        let mut c = GroupCoordinator::new(Default::default(), 1);
        let client = ClientInfo::default();
        c.consumer_heartbeat(&hb("a", 0, None, id), 1, &client, &image, 0);
        let r = c.consumer_heartbeat(&hb("a", 7, None, id), 1, &client, &image, 1);
        assert_eq!(r.error_code, ResponseError::FencedMemberEpoch.code());
        let r = c.consumer_heartbeat(&hb("x", 3, None, id), 1, &client, &image, 1);
        assert_eq!(r.error_code, ResponseError::UnknownMemberId.code());
        let r = c.consumer_heartbeat(&hb("a", LEAVE_EPOCH, None, id), 1, &client, &image, 2);
        assert_eq!(r.member_epoch, LEAVE_EPOCH);
        assert_eq!(c.group("cg").unwrap().consumer.as_ref().unwrap().state_name(), "Empty");
    }
}
