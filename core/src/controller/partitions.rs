//! Partition state on the controller: ISR changes that leaders ask for (AlterPartition), leader elections
//! (offline partitions, preferred leaders, the ElectLeaders API behind `kafka-leader-election`) and replica
//! reassignments (`kafka-reassign-partitions`), as Kafka's ReplicationControlManager makes them.

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::alter_partition_response::{PartitionData as AlterResult, TopicData as AlterTopicResult};
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, AlterPartitionRequest,
    AlterPartitionResponse, BrokerId, ElectLeadersRequest, ElectLeadersResponse, ListPartitionReassignmentsRequest,
    ListPartitionReassignmentsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::image::{MetadataImage, PartitionImage};
use super::partition_change::{ChangeBuilder, Election, LEADER_RECOVERED, LEADER_RECOVERING};
use super::quorum::{Draft, QuorumController};
use super::records::{MetadataRecord, PartitionChange};

/// ElectLeaders' election type for an unclean election (0 is preferred).
const UNCLEAN: i8 = 1;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

impl QuorumController {
    /// AlterPartition: a leader's new ISR (shrunk for lagging followers, grown for caught-up ones), accepted
    /// only from the current leader at the current leader and partition epochs, and only with eligible
    /// replicas (registered, unfenced, not shutting down, at their current broker epoch).
    pub(super) fn alter_partition(
        &mut self,
        draft: &mut Draft<'_>,
        request: AlterPartitionRequest,
        version: i16,
    ) -> AlterPartitionResponse {
        let broker_id = request.broker_id.0;
        let epoch_ok = draft.image.brokers.get(&broker_id).is_some_and(|b| b.epoch == request.broker_epoch);
        if !epoch_ok {
            return AlterPartitionResponse::default().with_error_code(ResponseError::StaleBrokerEpoch.code());
        }
        let mut topics = Vec::with_capacity(request.topics.len());
        for t in request.topics {
            // Versions 2+ (all potok speaks) name topics by id.
            let name = draft.image.topic_ids.get(&t.topic_id).cloned();
            let mut partitions = Vec::with_capacity(t.partitions.len());
            for p in t.partitions {
                let result = AlterResult::default().with_partition_index(p.partition_index);
                let Some(name) = &name else {
                    partitions.push(result.with_error_code(ResponseError::UnknownTopicId.code()));
                    continue;
                };
                let new_isr: Vec<(i32, i64)> = if version >= 3 {
                    p.new_isr_with_epochs.iter().map(|b| (b.broker_id.0, b.broker_epoch)).collect()
                } else {
                    p.new_isr.iter().map(|b| (b.0, -1)).collect()
                };
                let topic = &draft.image.topics[name];
                let topic_id = topic.id;
                let checked = validate_alter(&draft.image, broker_id, topic.partition(p.partition_index), &new_isr, &p);
                match checked {
                    Err(e) => {
                        partitions.push(result.with_error_code(e.code()));
                    }
                    Ok(()) => {
                        let mut change = PartitionChange::new(topic_id, p.partition_index);
                        change.isr = Some(new_isr.iter().map(|(id, _)| *id).collect());
                        if p.leader_recovery_state == LEADER_RECOVERED {
                            change.leader_recovery_state = LEADER_RECOVERED;
                        }
                        let current = topic.partition(p.partition_index).map(|x| x.leader_recovery_state);
                        if current == Some(LEADER_RECOVERED) {
                            change.leader_recovery_state = -1;
                        }
                        draft.push(MetadataRecord::PartitionChange(change));
                        let after = &draft.image.topics[name].partitions[p.partition_index as usize];
                        partitions.push(
                            result
                                .with_leader_id(BrokerId(after.leader))
                                .with_leader_epoch(after.leader_epoch)
                                .with_isr(after.isr.iter().map(|r| BrokerId(*r)).collect())
                                .with_leader_recovery_state(after.leader_recovery_state)
                                .with_partition_epoch(after.partition_epoch),
                        );
                    }
                }
            }
            topics.push(AlterTopicResult::default().with_topic_id(t.topic_id).with_partitions(partitions));
        }
        // A reassignment waiting for its new replicas may complete now that they joined the ISR.
        self.complete_reassignments(draft);
        AlterPartitionResponse::default().with_topics(topics)
    }

    /// Gives a leader to every partition without an active one, from its ISR (or, where the topic allows an
    /// unclean election and no in-sync replica is active, from any active replica).
    pub(super) fn elect_offline_leaders(&mut self, draft: &mut Draft<'_>) {
        let mut changes = Vec::new();
        for topic in draft.image.topics.values() {
            let unclean = self.unclean_allowed(&draft.image, &topic.name);
            for p in &topic.partitions {
                if p.leader >= 0 && QuorumController::is_active(&draft.image, p.leader) {
                    continue;
                }
                let image = &draft.image;
                let election = if unclean { Election::Unclean } else { Election::Online };
                let change = ChangeBuilder::new(p, topic.id, |r| QuorumController::is_active(image, r))
                    .election(election)
                    .build()
                    .filter(|c| c.leader >= 0);
                if let Some(change) = change {
                    changes.push(MetadataRecord::PartitionChange(change));
                }
            }
        }
        draft.extend(changes);
    }

    /// Moves leadership back to preferred replicas that are active and in sync
    /// (`auto.leader.rebalance.enable`).
    pub(super) fn balance_leaders(&mut self, draft: &mut Draft<'_>) {
        let mut changes = Vec::new();
        for topic in draft.image.topics.values() {
            for p in topic.partitions.iter().filter(|p| p.replicas.first().is_some_and(|r| *r != p.leader)) {
                let image = &draft.image;
                let change = ChangeBuilder::new(p, topic.id, |r| QuorumController::is_active(image, r))
                    .election(Election::Preferred)
                    .build();
                if let Some(change) = change.filter(|c| c.leader >= 0) {
                    changes.push(MetadataRecord::PartitionChange(change));
                }
            }
        }
        draft.extend(changes);
    }

    /// ElectLeaders: preferred or unclean elections for the named partitions (or all of them).
    pub(super) fn elect_leaders(
        &mut self,
        draft: &mut Draft<'_>,
        request: ElectLeadersRequest,
        version: i16,
    ) -> ElectLeadersResponse {
        let election = if request.election_type == UNCLEAN { Election::Unclean } else { Election::Preferred };
        let all = request.topic_partitions.is_none();
        let wanted: Vec<(String, Vec<i32>)> = match request.topic_partitions {
            Some(topics) => topics.into_iter().map(|t| (t.topic.0.to_string(), t.partitions)).collect(),
            None => draft
                .image
                .topics
                .values()
                .map(|t| (t.name.clone(), t.partitions.iter().map(|p| p.partition).collect()))
                .collect(),
        };
        let mut results = Vec::new();
        for (name, partitions) in wanted {
            let mut partition_results = Vec::new();
            for index in partitions {
                // Kafka's controller names what is missing; the election errors carry no message (null, so
                // that clients show the error's own description).
                let result = PartitionResult::default().with_partition_id(index).with_error_message(None);
                let found = match draft.image.topics.get(&name) {
                    None => Err(format!("No such topic as {name}")),
                    Some(t) => t
                        .partition(index)
                        .map(|p| (t.id, p.clone()))
                        .ok_or(format!("No such partition as {name}-{index}")),
                };
                let (topic_id, p) = match found {
                    Ok(found) => found,
                    Err(message) => {
                        partition_results.push(
                            result
                                .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                                .with_error_message(Some(s(&message))),
                        );
                        continue;
                    }
                };
                let outcome = self.elect_one(draft, topic_id, &p, election);
                if all && outcome == Err(ResponseError::ElectionNotNeeded) {
                    continue;
                }
                partition_results.push(match outcome {
                    Ok(()) => result,
                    Err(e) => result.with_error_code(e.code()),
                });
            }
            if !partition_results.is_empty() {
                results.push(
                    ReplicaElectionResult::default()
                        .with_topic(TopicName(s(&name)))
                        .with_partition_result(partition_results),
                );
            }
        }
        let response = ElectLeadersResponse::default().with_replica_election_results(results);
        if version >= 1 {
            response.with_error_code(0)
        } else {
            response
        }
    }

    fn elect_one(
        &mut self,
        draft: &mut Draft<'_>,
        topic_id: Uuid,
        p: &PartitionImage,
        election: Election,
    ) -> Result<(), ResponseError> {
        let image = &draft.image;
        let active = |r: i32| QuorumController::is_active(image, r);
        match election {
            Election::Preferred => {
                let preferred = p.replicas.first().copied().unwrap_or(-1);
                if p.leader == preferred {
                    return Err(ResponseError::ElectionNotNeeded);
                }
                if !(active(preferred) && p.isr.contains(&preferred)) {
                    return Err(ResponseError::PreferredLeaderNotAvailable);
                }
            }
            _ => {
                if p.leader >= 0 && active(p.leader) {
                    return Err(ResponseError::ElectionNotNeeded);
                }
            }
        }
        let change = ChangeBuilder::new(p, topic_id, active).election(election).build().filter(|c| c.leader >= 0);
        match change {
            Some(change) => {
                draft.push(MetadataRecord::PartitionChange(change));
                Ok(())
            }
            None => Err(ResponseError::EligibleLeadersNotAvailable),
        }
    }

    /// AlterPartitionReassignments: start moving partitions to new replica sets (the new replicas are added
    /// and catch up as followers; once they are all in sync the old ones are removed), or cancel a move.
    pub(super) fn alter_reassignments(
        &mut self,
        draft: &mut Draft<'_>,
        request: AlterPartitionReassignmentsRequest,
    ) -> AlterPartitionReassignmentsResponse {
        let allow_rf_change = request.allow_replication_factor_change;
        let mut responses = Vec::new();
        for t in request.topics {
            let name = t.name.0.to_string();
            let mut partitions = Vec::new();
            for p in t.partitions {
                let result = ReassignablePartitionResponse::default().with_partition_index(p.partition_index);
                let found = draft
                    .image
                    .topics
                    .get(&name)
                    .and_then(|x| x.partition(p.partition_index).map(|q| (x.id, q.clone())));
                let Some((topic_id, partition)) = found else {
                    partitions.push(result.with_error_code(ResponseError::UnknownTopicOrPartition.code()));
                    continue;
                };
                let outcome = match p.replicas {
                    Some(target) => {
                        let target: Vec<i32> = target.iter().map(|b| b.0).collect();
                        self.start_reassignment(draft, topic_id, &partition, target, allow_rf_change)
                    }
                    None => self.cancel_reassignment(draft, topic_id, &partition),
                };
                partitions.push(match outcome {
                    Ok(()) => result,
                    Err((e, m)) => result.with_error_code(e.code()).with_error_message(Some(s(&m))),
                });
            }
            responses
                .push(ReassignableTopicResponse::default().with_name(TopicName(s(&name))).with_partitions(partitions));
        }
        AlterPartitionReassignmentsResponse::default().with_responses(responses)
    }

    fn start_reassignment(
        &mut self,
        draft: &mut Draft<'_>,
        topic_id: Uuid,
        p: &PartitionImage,
        target: Vec<i32>,
        allow_replication_factor_change: bool,
    ) -> Result<(), (ResponseError, String)> {
        if target.is_empty() {
            return Err((
                ResponseError::InvalidReplicaAssignment,
                "The manual partition assignment includes an empty replica list.".into(),
            ));
        }
        let distinct: BTreeSet<i32> = target.iter().copied().collect();
        if distinct.len() != target.len() {
            return Err((
                ResponseError::InvalidReplicaAssignment,
                "The manual partition assignment includes duplicate brokers.".into(),
            ));
        }
        if let Some(missing) = target.iter().find(|b| !draft.image.brokers.contains_key(b)) {
            return Err((
                ResponseError::InvalidReplicaAssignment,
                format!("The manual partition assignment includes broker {missing}, but no such broker is registered."),
            ));
        }
        // Every replica the partition has now, those of a reassignment in progress included (Kafka's
        // changePartitionReassignment starts from the whole replica list): one that is being added but is not in
        // the new target must be removed like any other, not dropped from the replicas while it may be in the ISR.
        let current: Vec<i32> = p.replicas.clone();
        // Version 1 (KIP-860, `--disallow-replication-factor-change`): the count compared is that of the
        // replica set being moved to when a move is in progress, as Kafka compares it.
        let replication_factor = p.replicas.iter().filter(|r| !p.removing_replicas.contains(r)).count();
        if !allow_replication_factor_change && target.len() != replication_factor {
            return Err((
                ResponseError::InvalidReplicationFactor,
                format!("The replication factor is changed from {replication_factor} to {}", target.len()),
            ));
        }
        let adding: Vec<i32> = target.iter().copied().filter(|r| !current.contains(r)).collect();
        let removing: Vec<i32> = current.iter().copied().filter(|r| !target.contains(r)).collect();
        let mut merged = target.clone();
        merged.extend(current.iter().copied().filter(|r| !target.contains(r)));
        let mut change = PartitionChange::new(topic_id, p.partition);
        if adding.is_empty() && removing.is_empty() {
            // Only the order changes: no data moves.
            if target == p.replicas {
                return Ok(());
            }
            change.replicas = Some(target);
            change.adding_replicas = Some(Vec::new());
            change.removing_replicas = Some(Vec::new());
        } else {
            change.replicas = Some(merged);
            // With nothing new to add, the replicas a move in progress is adding stay listed as adding (Kafka's
            // PartitionChangeBuilder keeps them unless the new move names some): the move completes only once
            // they are in sync, and cancelling it still goes back to where the partition was before it.
            change.adding_replicas = Some(if adding.is_empty() { p.adding_replicas.clone() } else { adding });
            change.removing_replicas = Some(removing);
            // Replicas move under a new leader epoch, so followers learn of the new set.
            change.leader = p.leader;
        }
        draft.push(MetadataRecord::PartitionChange(change));
        self.complete_reassignments(draft);
        Ok(())
    }

    fn cancel_reassignment(
        &mut self,
        draft: &mut Draft<'_>,
        topic_id: Uuid,
        p: &PartitionImage,
    ) -> Result<(), (ResponseError, String)> {
        if p.adding_replicas.is_empty() && p.removing_replicas.is_empty() {
            return Err((
                ResponseError::NoReassignmentInProgress,
                "No reassignment is in progress for this partition.".into(),
            ));
        }
        let original: Vec<i32> = p.replicas.iter().copied().filter(|r| !p.adding_replicas.contains(r)).collect();
        let image = &draft.image;
        let isr: Vec<i32> = p.isr.iter().copied().filter(|r| original.contains(r)).collect();
        let change = ChangeBuilder::new(p, topic_id, |r| QuorumController::is_active(image, r))
            .target_replicas(original)
            .target_isr(isr)
            .bump_leader_epoch()
            .build();
        if let Some(mut change) = change {
            change.adding_replicas = Some(Vec::new());
            change.removing_replicas = Some(Vec::new());
            draft.push(MetadataRecord::PartitionChange(change));
        }
        Ok(())
    }

    /// Finishes reassignments whose new replicas are all in sync: the old replicas leave, the leader moves if
    /// it was one of them.
    pub(super) fn complete_reassignments(&mut self, draft: &mut Draft<'_>) {
        let mut changes = Vec::new();
        for topic in draft.image.topics.values() {
            for p in
                topic.partitions.iter().filter(|p| !p.adding_replicas.is_empty() || !p.removing_replicas.is_empty())
            {
                if !p.adding_replicas.iter().all(|r| p.isr.contains(r)) {
                    continue;
                }
                let target: Vec<i32> =
                    p.replicas.iter().copied().filter(|r| !p.removing_replicas.contains(r)).collect();
                let isr: Vec<i32> = p.isr.iter().copied().filter(|r| target.contains(r)).collect();
                // No in-sync replica among the new ones yet (Kafka's maybeCompleteReassignment waits too): the
                // old replicas, which hold the data, stay until one is.
                if isr.is_empty() {
                    continue;
                }
                let image = &draft.image;
                let change =
                    ChangeBuilder::new(p, topic.id, |r| QuorumController::is_active(image, r) && target.contains(&r))
                        .target_replicas(target.clone())
                        .target_isr(isr)
                        .bump_leader_epoch()
                        .build();
                if let Some(mut change) = change {
                    change.adding_replicas = Some(Vec::new());
                    change.removing_replicas = Some(Vec::new());
                    changes.push(MetadataRecord::PartitionChange(change));
                }
            }
        }
        draft.extend(changes);
    }

    /// ListPartitionReassignments: the moves in progress.
    pub(super) fn list_reassignments(
        &self,
        draft: &Draft<'_>,
        request: ListPartitionReassignmentsRequest,
    ) -> ListPartitionReassignmentsResponse {
        let image: &MetadataImage = &draft.image;
        let in_progress = |p: &PartitionImage| !p.adding_replicas.is_empty() || !p.removing_replicas.is_empty();
        let entry = |p: &PartitionImage| {
            OngoingPartitionReassignment::default()
                .with_partition_index(p.partition)
                .with_replicas(p.replicas.iter().map(|r| BrokerId(*r)).collect())
                .with_adding_replicas(p.adding_replicas.iter().map(|r| BrokerId(*r)).collect())
                .with_removing_replicas(p.removing_replicas.iter().map(|r| BrokerId(*r)).collect())
        };
        let mut topics = Vec::new();
        match request.topics {
            Some(wanted) => {
                for t in wanted {
                    let Some(topic) = image.topics.get(t.name.0.as_str()) else { continue };
                    let partitions: Vec<_> = t
                        .partition_indexes
                        .iter()
                        .filter_map(|i| topic.partition(*i))
                        .filter(|p| in_progress(p))
                        .map(entry)
                        .collect();
                    if !partitions.is_empty() {
                        topics.push(OngoingTopicReassignment::default().with_name(t.name).with_partitions(partitions));
                    }
                }
            }
            None => {
                for topic in image.topics.values() {
                    let partitions: Vec<_> = topic.partitions.iter().filter(|p| in_progress(p)).map(entry).collect();
                    if !partitions.is_empty() {
                        topics.push(
                            OngoingTopicReassignment::default()
                                .with_name(TopicName(s(&topic.name)))
                                .with_partitions(partitions),
                        );
                    }
                }
            }
        }
        ListPartitionReassignmentsResponse::default().with_topics(topics)
    }
}

/// Kafka's checks of an AlterPartition entry.
fn validate_alter(
    image: &MetadataImage,
    broker_id: i32,
    partition: Option<&PartitionImage>,
    new_isr: &[(i32, i64)],
    request: &kafka_protocol::messages::alter_partition_request::PartitionData,
) -> Result<(), ResponseError> {
    let p = partition.ok_or(ResponseError::UnknownTopicOrPartition)?;
    // A leader ahead of this controller: likely this one is no longer active.
    if request.leader_epoch > p.leader_epoch || request.partition_epoch > p.partition_epoch {
        return Err(ResponseError::NotController);
    }
    if request.leader_epoch < p.leader_epoch {
        return Err(ResponseError::FencedLeaderEpoch);
    }
    if broker_id != p.leader {
        return Err(ResponseError::InvalidRequest);
    }
    if request.partition_epoch < p.partition_epoch {
        return Err(ResponseError::InvalidUpdateVersion);
    }
    let ids: Vec<i32> = new_isr.iter().map(|(id, _)| *id).collect();
    let distinct: BTreeSet<i32> = ids.iter().copied().collect();
    if ids.is_empty() || distinct.len() != ids.len() || !ids.iter().all(|r| p.replicas.contains(r)) {
        return Err(ResponseError::InvalidRequest);
    }
    if !ids.contains(&p.leader) {
        return Err(ResponseError::InvalidRequest);
    }
    if request.leader_recovery_state == LEADER_RECOVERING && ids.len() > 1 {
        return Err(ResponseError::InvalidRequest);
    }
    if p.leader_recovery_state == LEADER_RECOVERED && request.leader_recovery_state == LEADER_RECOVERING {
        return Err(ResponseError::InvalidRequest);
    }
    for (id, epoch) in new_isr {
        let eligible = image
            .brokers
            .get(id)
            .is_some_and(|b| !b.fenced && !b.in_controlled_shutdown && (*epoch == -1 || *epoch == b.epoch));
        if !eligible {
            return Err(ResponseError::IneligibleReplica);
        }
    }
    Ok(())
}
