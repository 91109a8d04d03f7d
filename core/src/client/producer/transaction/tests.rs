//! The transactional producer in virtual time: a transactional [`Sender`] gets the user's calls, time and broker
//! answers, and each test asserts on the actions it emits (which request goes where, in which order, and what
//! each call's outcome is). No clock, socket or runtime is involved.

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnResponse, AddPartitionsToTxnResponse, BrokerId, EndTxnResponse, FindCoordinatorResponse,
    InitProducerIdResponse, ProduceResponse, TxnOffsetCommitResponse,
};

use super::*;
use crate::client::metadata::Metadata;
use crate::client::producer::accumulator::{AccumulatorConfig, Thunk};
use crate::client::producer::sender::{Delivered, RequestId, Sender, SenderConfig};
use crate::record::Compression;

const BACKOFF_MS: u64 = 100;
const TIMEOUT_MS: u64 = 60_000;
/// The transaction coordinator the tests' FindCoordinator answers name.
const COORDINATOR: i32 = 3;
const PRODUCER_ID: i64 = 7;
const EPOCH: i16 = 2;

fn config(linger_ms: u64) -> SenderConfig {
    SenderConfig {
        acks: -1,
        idempotent: true,
        transactional_id: Some("tx".into()),
        retries: u32::MAX,
        max_request_size: 1 << 20,
        request_timeout_ms: 30_000,
        retry_backoff_ms: BACKOFF_MS,
        accumulator: AccumulatorConfig {
            batch_size: 16 * 1024,
            linger_ms,
            compression: Compression::None,
            max_in_flight: 5,
            delivery_timeout_ms: 120_000,
            retry_backoff_ms: BACKOFF_MS,
            retry_backoff_max_ms: 1000,
            idempotent: true,
        },
    }
}

/// Topic `t`: partition 0 led by broker 1, partition 1 by broker 2.
fn metadata() -> Metadata {
    Metadata::with_leaders(&[("t", &[1, 2])])
}

fn tp(partition: i32) -> TopicPartition {
    TopicPartition::new("t", partition)
}

fn append(sender: &mut Sender, tp: &TopicPartition, now_ms: u64) {
    let thunk = Thunk::Callback(Box::new(|_| {}));
    sender.accumulator_mut().append(tp, now_ms as i64, None, Some(b"value"), &[], 100, thunk, now_ms);
}

fn poll(sender: &mut Sender, now_ms: u64) -> Vec<Action> {
    sender.poll(now_ms, &metadata(), false, |_| true)
}

/// The requests among `actions`: (id, broker, request).
fn sends(actions: &[Action]) -> Vec<(RequestId, Option<i32>, Request)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { id, node, request } => Some((*id, *node, request.clone())),
            _ => None,
        })
        .collect()
}

/// The one request among `actions`, which must be the only request.
fn only_send(actions: &[Action]) -> (RequestId, Option<i32>, Request) {
    let mut sent = sends(actions);
    assert_eq!(sent.len(), 1, "exactly one request expected: {actions:?}");
    sent.remove(0)
}

/// The Produce requests among `actions`: (id, broker, partitions).
fn produces(actions: &[Action]) -> Vec<(RequestId, i32, Vec<TopicPartition>)> {
    sends(actions)
        .into_iter()
        .filter_map(|(id, node, request)| match request {
            Request::Produce(r) => {
                let partitions = r
                    .topic_data
                    .iter()
                    .flat_map(|t| t.partition_data.iter().map(|p| TopicPartition::new(t.name.0.as_str(), p.index)))
                    .collect();
                Some((id, node.unwrap_or(-1), partitions))
            }
            _ => None,
        })
        .collect()
}

/// The outcomes of transactional calls among `actions`.
fn outcomes(actions: &[Action]) -> Vec<(TxnCall, Result<(), Option<i16>>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Transaction { call, result } => Some((*call, result.clone().map_err(|e| e.code()))),
            _ => None,
        })
        .collect()
}

/// The failed completions among `actions`: (partition, error).
fn failures(actions: &[Action]) -> Vec<(TopicPartition, ClientError)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Complete { batch, result: Err(e) } => Some((batch.tp.clone(), e.clone())),
            _ => None,
        })
        .collect()
}

fn find_coordinator_answer(node: i32, error_code: i16) -> Result<Response, ClientError> {
    let coordinator = Coordinator::default().with_node_id(BrokerId(node)).with_error_code(error_code);
    Ok(Response::FindCoordinator(FindCoordinatorResponse::default().with_coordinators(vec![coordinator])))
}

fn producer_id_answer(error_code: i16) -> Result<Response, ClientError> {
    Ok(Response::InitProducerId(
        InitProducerIdResponse::default()
            .with_error_code(error_code)
            .with_producer_id(ProducerId(if error_code == 0 { PRODUCER_ID } else { -1 }))
            .with_producer_epoch(if error_code == 0 { EPOCH } else { -1 }),
    ))
}

fn add_partitions_answer(partitions: &[TopicPartition], error_code: i16) -> Result<Response, ClientError> {
    let mut by_topic: BTreeMap<&str, Vec<AddPartitionsToTxnPartitionResult>> = BTreeMap::new();
    for tp in partitions {
        by_topic.entry(&tp.topic).or_default().push(
            AddPartitionsToTxnPartitionResult::default()
                .with_partition_index(tp.partition)
                .with_partition_error_code(error_code),
        );
    }
    let topics = by_topic
        .into_iter()
        .map(|(t, ps)| {
            AddPartitionsToTxnTopicResult::default().with_name(TopicName(sb(t))).with_results_by_partition(ps)
        })
        .collect();
    Ok(Response::AddPartitionsToTxn(AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(topics)))
}

fn produce_answer(tp: &TopicPartition, error_code: i16) -> Result<Response, ClientError> {
    let partition = PartitionProduceResponse::default().with_index(tp.partition).with_error_code(error_code);
    let topic =
        TopicProduceResponse::default().with_name(TopicName(sb(&tp.topic))).with_partition_responses(vec![partition]);
    Ok(Response::Produce(ProduceResponse::default().with_responses(vec![topic])))
}

fn end_txn_answer(error_code: i16) -> Result<Response, ClientError> {
    Ok(Response::EndTxn(EndTxnResponse::default().with_error_code(error_code)))
}

/// A transactional sender through `init_transactions` (coordinator 3, producer id 7, epoch 2).
fn initialized(linger_ms: u64) -> Sender {
    let mut sender = Sender::new(config(linger_ms));
    sender.init_transactions(0, TIMEOUT_MS).unwrap();
    let (id, _, _) = only_send(&poll(&mut sender, 0));
    sender.on_response(id, 0, find_coordinator_answer(COORDINATOR, 0));
    let (id, _, _) = only_send(&poll(&mut sender, 0));
    let actions = sender.on_response(id, 0, producer_id_answer(0));
    assert_eq!(outcomes(&actions), vec![(TxnCall::InitTransactions, Ok(()))]);
    sender
}

/// An initialized sender in a transaction whose partition `t-0` was added and has one batch in flight; returns
/// the Produce's request id.
fn with_batch_in_flight() -> (Sender, RequestId) {
    let mut sender = initialized(0);
    sender.begin_transaction().unwrap();
    append(&mut sender, &tp(0), 0);
    let (id, _, _) = only_send(&poll(&mut sender, 0));
    sender.on_response(id, 1, add_partitions_answer(&[tp(0)], 0));
    let sent = produces(&poll(&mut sender, 1));
    assert_eq!(sent.len(), 1);
    (sender, sent[0].0)
}

#[test]
fn init_finds_the_coordinator_then_gets_a_producer_id_for_the_transactional_id() {
    let mut sender = Sender::new(config(0));
    assert!(poll(&mut sender, 0).is_empty(), "nothing before init_transactions");
    assert_eq!(
        sender.check_can_send().map_err(|e| e.name()),
        Err("ILLEGAL_STATE".to_string()),
        "no send before init_transactions"
    );
    sender.init_transactions(0, TIMEOUT_MS).unwrap();

    let (id, node, request) = only_send(&poll(&mut sender, 0));
    let Request::FindCoordinator(find) = &request else { panic!("FindCoordinator first, got {request:?}") };
    assert_eq!((node, find.key_type, find.key.as_str()), (None, 1, "tx"));
    let v4 = match request.clone().for_version(4) {
        Request::FindCoordinator(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!((v4.key.as_str(), v4.coordinator_keys.len()), ("", 1), "v4+ names the key in coordinator_keys");
    assert!(sender.on_response(id, 5, find_coordinator_answer(COORDINATOR, 0)).is_empty());

    let (id, node, request) = only_send(&poll(&mut sender, 5));
    let Request::InitProducerId(init) = &request else { panic!("InitProducerId next, got {request:?}") };
    assert_eq!(node, Some(COORDINATOR));
    assert_eq!(init.transactional_id.as_ref().map(|t| t.0.as_str()), Some("tx"));
    assert_eq!(init.transaction_timeout_ms, 60_000);
    assert!(poll(&mut sender, 6).is_empty(), "one transactional request at a time");

    // The coordinator is still loading its log: the same request again after the backoff.
    assert!(sender.on_response(id, 10, producer_id_answer(14)).is_empty());
    assert!(poll(&mut sender, 10 + BACKOFF_MS - 1).is_empty());
    let (id, node, request) = only_send(&poll(&mut sender, 10 + BACKOFF_MS));
    assert!(matches!(request, Request::InitProducerId(_)) && node == Some(COORDINATOR));
    let actions = sender.on_response(id, 200, producer_id_answer(0));
    assert_eq!(outcomes(&actions), vec![(TxnCall::InitTransactions, Ok(()))]);
    assert_eq!(sender.producer_id(), (PRODUCER_ID, EPOCH));
    assert_eq!(
        sender.init_transactions(200, TIMEOUT_MS).map_err(|e| e.name()),
        Err("ILLEGAL_STATE".to_string()),
        "init only once"
    );
}

#[test]
fn a_partition_joins_the_transaction_before_its_first_batch_is_produced() {
    let mut sender = initialized(0);
    assert!(sender.check_can_send().is_err(), "no send outside a transaction");
    sender.begin_transaction().unwrap();
    sender.check_can_send().unwrap();
    append(&mut sender, &tp(0), 0);
    append(&mut sender, &tp(1), 0);

    let actions = poll(&mut sender, 0);
    let (id, node, request) = only_send(&actions);
    let Request::AddPartitionsToTxn(add) = &request else { panic!("AddPartitionsToTxn before Produce: {request:?}") };
    assert_eq!(node, Some(COORDINATOR));
    assert_eq!((add.v3_and_below_producer_id.0, add.v3_and_below_producer_epoch), (PRODUCER_ID, EPOCH));
    let added: Vec<(String, Vec<i32>)> =
        add.v3_and_below_topics.iter().map(|t| (t.name.0.to_string(), t.partitions.clone())).collect();
    assert_eq!(added, vec![("t".to_string(), vec![0, 1])]);
    assert!(poll(&mut sender, 1).is_empty(), "no Produce until the partitions are in the transaction");

    assert!(sender.on_response(id, 2, add_partitions_answer(&[tp(0), tp(1)], 0)).is_empty());
    let sent = produces(&poll(&mut sender, 2));
    assert_eq!(
        sent.iter().map(|(_, node, ps)| (*node, ps.clone())).collect::<Vec<_>>(),
        vec![(1, vec![tp(0)]), (2, vec![tp(1)])]
    );
    assert!(poll(&mut sender, 2).is_empty());

    // A partition already in the transaction sends its next batch without asking again.
    append(&mut sender, &tp(0), 3);
    let actions = poll(&mut sender, 3);
    assert_eq!(produces(&actions).len(), 1, "{actions:?}");
    assert_eq!(sends(&actions).len(), 1, "no second AddPartitionsToTxn");
}

#[test]
fn produce_requests_of_a_transactional_producer_carry_its_id() {
    let (mut sender, _) = with_batch_in_flight();
    append(&mut sender, &tp(0), 2);
    let sent = sends(&poll(&mut sender, 2));
    let Some((_, _, Request::Produce(produce))) = sent.first() else { panic!("{sent:?}") };
    assert_eq!(produce.transactional_id.as_ref().map(|t| t.0.as_str()), Some("tx"));
}

#[test]
fn commit_sends_queued_batches_waits_for_them_then_ends_the_transaction() {
    let mut sender = initialized(10_000);
    sender.begin_transaction().unwrap();
    append(&mut sender, &tp(0), 0);
    let (id, _, _) = only_send(&poll(&mut sender, 0));
    sender.on_response(id, 1, add_partitions_answer(&[tp(0)], 0));
    assert!(produces(&poll(&mut sender, 1)).is_empty(), "the batch lingers (linger.ms=10000)");

    sender.commit_transaction(2, TIMEOUT_MS).unwrap();
    assert!(sender.check_can_send().is_err(), "no send while committing");
    let actions = poll(&mut sender, 2);
    let sent = produces(&actions);
    assert_eq!(sent.len(), 1, "commit flushes the lingering batch: {actions:?}");
    assert_eq!(sends(&actions).len(), 1, "and no EndTxn while it is in flight");
    assert!(poll(&mut sender, 3).is_empty());

    let actions = sender.on_response(sent[0].0, 4, produce_answer(&tp(0), 0));
    assert!(actions.iter().any(|a| matches!(a, Action::Complete { result: Ok(Delivered { .. }), .. })));
    let (id, node, request) = only_send(&poll(&mut sender, 4));
    let Request::EndTxn(end) = &request else { panic!("EndTxn once acknowledged: {request:?}") };
    assert_eq!((node, end.committed, end.producer_id.0, end.producer_epoch), (Some(COORDINATOR), true, 7, 2));

    let actions = sender.on_response(id, 5, end_txn_answer(0));
    assert_eq!(outcomes(&actions), vec![(TxnCall::CommitTransaction, Ok(()))]);
    sender.begin_transaction().unwrap();
    append(&mut sender, &tp(0), 6);
    let (_, _, request) = only_send(&poll(&mut sender, 6));
    assert!(matches!(request, Request::AddPartitionsToTxn(_)), "a new transaction adds its partitions again");
}

#[test]
fn a_transaction_that_touched_nothing_commits_without_end_txn() {
    let mut sender = initialized(0);
    sender.begin_transaction().unwrap();
    sender.commit_transaction(0, TIMEOUT_MS).unwrap();
    let actions = poll(&mut sender, 0);
    assert!(sends(&actions).is_empty());
    assert_eq!(outcomes(&actions), vec![(TxnCall::CommitTransaction, Ok(()))]);
    sender.begin_transaction().unwrap();
}

#[test]
fn abort_fails_queued_batches_waits_for_those_in_flight_then_ends_the_transaction() {
    let (mut sender, produce_id) = with_batch_in_flight();
    append(&mut sender, &tp(1), 2);
    let (add_id, _, request) = only_send(&poll(&mut sender, 2));
    assert!(matches!(request, Request::AddPartitionsToTxn(_)));

    sender.abort_transaction(3, TIMEOUT_MS).unwrap();
    let actions = poll(&mut sender, 3);
    let failed = failures(&actions);
    assert_eq!(failed.len(), 1, "{actions:?}");
    assert_eq!(failed[0].0, tp(1), "the queued batch of t-1 fails");
    assert!(sends(&actions).is_empty());
    // The answer to the AddPartitionsToTxn still in flight changes nothing.
    sender.on_response(add_id, 4, add_partitions_answer(&[tp(1)], 0));
    assert!(sends(&poll(&mut sender, 4)).is_empty(), "no EndTxn while t-0's batch is in flight");

    sender.on_response(produce_id, 5, produce_answer(&tp(0), 0));
    let (id, _, request) = only_send(&poll(&mut sender, 5));
    let Request::EndTxn(end) = &request else { panic!("EndTxn(abort): {request:?}") };
    assert!(!end.committed);
    assert_eq!(outcomes(&sender.on_response(id, 6, end_txn_answer(0))), vec![(TxnCall::AbortTransaction, Ok(()))]);
    sender.begin_transaction().unwrap();
}

#[test]
fn a_fenced_producer_gets_producer_fenced_from_every_later_call() {
    let (mut sender, produce_id) = with_batch_in_flight();
    sender.on_response(produce_id, 2, produce_answer(&tp(0), 0));
    sender.commit_transaction(3, TIMEOUT_MS).unwrap();
    let (id, _, _) = only_send(&poll(&mut sender, 3));
    // Another producer took the transactional id: older coordinators say INVALID_PRODUCER_EPOCH.
    let actions = sender.on_response(id, 4, end_txn_answer(47));
    assert_eq!(outcomes(&actions), vec![(TxnCall::CommitTransaction, Err(Some(90)))]);
    assert_eq!(sender.begin_transaction().map_err(|e| e.code()), Err(Some(90)));
    assert_eq!(sender.check_can_send().map_err(|e| e.code()), Err(Some(90)));
    assert_eq!(sender.abort_transaction(5, TIMEOUT_MS).map_err(|e| e.code()), Err(Some(90)));
    assert!(sends(&poll(&mut sender, 6)).is_empty());
}

#[test]
fn a_produce_answered_producer_fenced_is_fatal() {
    let (mut sender, produce_id) = with_batch_in_flight();
    append(&mut sender, &tp(0), 2);
    let actions = sender.on_response(produce_id, 2, produce_answer(&tp(0), 90));
    assert_eq!(failures(&actions).len(), 1);
    let failed = failures(&poll(&mut sender, 3));
    assert_eq!(failed.iter().map(|(tp, e)| (tp.clone(), e.code())).collect::<Vec<_>>(), vec![(tp(0), Some(90))]);
    assert_eq!(sender.commit_transaction(4, TIMEOUT_MS).map_err(|e| e.code()), Err(Some(90)));
}

#[test]
fn not_coordinator_sends_the_next_attempt_to_the_coordinator_found_again() {
    let mut sender = initialized(0);
    sender.begin_transaction().unwrap();
    append(&mut sender, &tp(0), 0);
    let (id, _, _) = only_send(&poll(&mut sender, 0));
    sender.on_response(id, 1, add_partitions_answer(&[tp(0)], 16));
    assert!(poll(&mut sender, 1).is_empty(), "backoff first");
    let (id, node, request) = only_send(&poll(&mut sender, 1 + BACKOFF_MS));
    assert!(matches!(&request, Request::FindCoordinator(f) if f.key_type == 1), "{request:?}");
    assert_eq!(node, None);
    sender.on_response(id, 120, find_coordinator_answer(4, 0));
    let (id, node, request) = only_send(&poll(&mut sender, 120));
    assert!(matches!(request, Request::AddPartitionsToTxn(_)));
    assert_eq!(node, Some(4), "the new coordinator");
    // A broken connection to it: looked up again too.
    sender.on_response(id, 121, Err(ClientError::Io("reset".into())));
    let actions = poll(&mut sender, 121 + 2 * BACKOFF_MS);
    assert!(matches!(only_send(&actions).2, Request::FindCoordinator(_)), "{actions:?}");
}

#[test]
fn concurrent_transactions_at_a_transaction_start_is_retried_soon() {
    let mut sender = initialized(0);
    sender.begin_transaction().unwrap();
    append(&mut sender, &tp(0), 0);
    let (id, _, _) = only_send(&poll(&mut sender, 0));
    // The previous transaction is still completing on the coordinator.
    sender.on_response(id, 1, add_partitions_answer(&[tp(0)], 51));
    assert!(poll(&mut sender, 1).is_empty());
    assert_eq!(sender.next_deadline_ms(), Some(1 + ADD_PARTITIONS_RETRY_BACKOFF_MS));
    let (_, _, request) = only_send(&poll(&mut sender, 1 + ADD_PARTITIONS_RETRY_BACKOFF_MS));
    assert!(matches!(request, Request::AddPartitionsToTxn(_)));
}

#[test]
fn after_an_abortable_error_only_abort_is_possible() {
    let (mut sender, produce_id) = with_batch_in_flight();
    // INVALID_RECORD is not retriable: the batch fails, and with it the transaction.
    let actions = sender.on_response(produce_id, 2, produce_answer(&tp(0), 87));
    assert_eq!(failures(&actions).len(), 1);
    let error = sender.check_can_send().unwrap_err();
    assert!(matches!(&error, ClientError::IllegalState(m) if m.contains("INVALID_RECORD")), "{error}");
    let error = sender.commit_transaction(3, TIMEOUT_MS).unwrap_err();
    assert!(matches!(&error, ClientError::IllegalState(m) if m.contains("abort")), "{error}");
    assert!(sender.begin_transaction().is_err());

    sender.abort_transaction(4, TIMEOUT_MS).unwrap();
    let (id, _, request) = only_send(&poll(&mut sender, 4));
    assert!(matches!(&request, Request::EndTxn(e) if !e.committed), "{request:?}");
    // The failed batch had sequence 0: t-0's sequence has a gap, so the abort takes a new epoch before it
    // completes, and numbering starts again from 0 (KIP-360).
    assert!(outcomes(&sender.on_response(id, 5, end_txn_answer(0))).is_empty());
    let (id, node, request) = only_send(&poll(&mut sender, 5));
    assert!(matches!(&request, Request::InitProducerId(_)) && node == Some(COORDINATOR), "{request:?}");
    assert!(sender.begin_transaction().is_err(), "not before the new epoch");
    let bumped =
        InitProducerIdResponse::default().with_producer_id(ProducerId(PRODUCER_ID)).with_producer_epoch(EPOCH + 1);
    let actions = sender.on_response(id, 6, Ok(Response::InitProducerId(bumped)));
    assert_eq!(outcomes(&actions), vec![(TxnCall::AbortTransaction, Ok(()))]);
    assert_eq!(sender.producer_id(), (PRODUCER_ID, EPOCH + 1));
    sender.begin_transaction().unwrap();
    sender.check_can_send().unwrap();
    append(&mut sender, &tp(0), 7);
    let (id, _, _) = only_send(&poll(&mut sender, 7));
    sender.on_response(id, 8, add_partitions_answer(&[tp(0)], 0));
    let sent = sends(&poll(&mut sender, 8));
    let Some((_, _, Request::Produce(produce))) = sent.first() else { panic!("{sent:?}") };
    let batch = produce.topic_data[0].partition_data[0].records.clone().unwrap_or_default();
    let epoch = i16::from_be_bytes([batch[51], batch[52]]);
    let sequence = i32::from_be_bytes([batch[53], batch[54], batch[55], batch[56]]);
    assert_eq!((epoch, sequence), (EPOCH + 1, 0));
}

#[test]
fn an_abort_with_nothing_numbered_keeps_the_epoch() {
    let (mut sender, produce_id) = with_batch_in_flight();
    sender.on_response(produce_id, 2, produce_answer(&tp(0), 0));
    sender.abort_transaction(3, TIMEOUT_MS).unwrap();
    let (id, _, _) = only_send(&poll(&mut sender, 3));
    assert_eq!(outcomes(&sender.on_response(id, 4, end_txn_answer(0))), vec![(TxnCall::AbortTransaction, Ok(()))]);
    assert!(sends(&poll(&mut sender, 4)).is_empty(), "no InitProducerId");
    assert_eq!(sender.producer_id(), (PRODUCER_ID, EPOCH));
}

#[test]
fn a_partition_that_cannot_join_fails_its_batches_and_the_commit() {
    let mut sender = initialized(0);
    sender.begin_transaction().unwrap();
    append(&mut sender, &tp(0), 0);
    let (id, _, _) = only_send(&poll(&mut sender, 0));
    sender.commit_transaction(1, TIMEOUT_MS).unwrap();
    // TOPIC_AUTHORIZATION_FAILED.
    let actions = sender.on_response(id, 2, add_partitions_answer(&[tp(0)], 29));
    assert!(matches!(&outcomes(&actions)[..], [(TxnCall::CommitTransaction, Err(_))]), "{actions:?}");
    let actions = poll(&mut sender, 2);
    assert_eq!(failures(&actions).len(), 1, "the batch that can never be sent fails: {actions:?}");
    assert!(produces(&actions).is_empty());
    assert_eq!(sender.incomplete_batches(), 0);
    sender.abort_transaction(3, TIMEOUT_MS).unwrap();
    let actions = poll(&mut sender, 3);
    assert_eq!(outcomes(&actions), vec![(TxnCall::AbortTransaction, Ok(()))], "nothing was added: no EndTxn");
}

#[test]
fn send_offsets_adds_the_group_then_commits_at_its_coordinator() {
    let mut sender = initialized(0);
    sender.begin_transaction().unwrap();
    let mut offsets = BTreeMap::new();
    offsets.insert(
        TopicPartition::new("in", 1),
        OffsetAndMetadata { offset: 42, leader_epoch: Some(5), metadata: "m".into() },
    );
    let group = ConsumerGroupMetadata {
        group_id: "g".into(),
        generation_id: 9,
        member_id: "member".into(),
        group_instance_id: None,
    };
    sender.send_offsets_to_transaction(offsets, group, 0, TIMEOUT_MS).unwrap();

    let (id, node, request) = only_send(&poll(&mut sender, 0));
    let Request::AddOffsetsToTxn(add) = &request else { panic!("AddOffsetsToTxn first: {request:?}") };
    assert_eq!((node, add.group_id.0.as_str(), add.producer_id.0), (Some(COORDINATOR), "g", PRODUCER_ID));
    sender.on_response(id, 1, Ok(Response::AddOffsetsToTxn(AddOffsetsToTxnResponse::default())));

    let (id, node, request) = only_send(&poll(&mut sender, 1));
    assert!(matches!(&request, Request::FindCoordinator(f) if f.key_type == 0 && f.key.as_str() == "g"), "{request:?}");
    assert_eq!(node, None);
    sender.on_response(id, 2, find_coordinator_answer(5, 0));

    let (id, node, request) = only_send(&poll(&mut sender, 2));
    let Request::TxnOffsetCommit(commit) = &request else { panic!("TxnOffsetCommit: {request:?}") };
    assert_eq!(node, Some(5), "to the group's coordinator");
    assert_eq!((commit.generation_id, commit.member_id.as_str()), (9, "member"));
    let partition = &commit.topics[0].partitions[0];
    assert_eq!((partition.partition_index, partition.committed_offset, partition.committed_leader_epoch), (1, 42, 5));
    let Request::TxnOffsetCommit(v1) = request.clone().for_version(1) else { unreachable!() };
    assert_eq!((v1.generation_id, v1.topics[0].partitions[0].committed_leader_epoch), (-1, -1));

    // The group coordinator moved: found again, then the commit succeeds.
    let moved = TxnOffsetCommitResponse::default().with_topics(vec![TxnOffsetCommitResponseTopic::default()
        .with_name(TopicName(sb("in")))
        .with_partitions(vec![TxnOffsetCommitResponsePartition::default()
            .with_partition_index(1)
            .with_error_code(16)])]);
    assert!(outcomes(&sender.on_response(id, 3, Ok(Response::TxnOffsetCommit(moved)))).is_empty());
    let (id, _, request) = only_send(&poll(&mut sender, 3 + BACKOFF_MS));
    assert!(matches!(&request, Request::FindCoordinator(f) if f.key_type == 0), "{request:?}");
    sender.on_response(id, 200, find_coordinator_answer(6, 0));
    let (id, node, _) = only_send(&poll(&mut sender, 200));
    assert_eq!(node, Some(6));
    let actions = sender.on_response(id, 201, Ok(Response::TxnOffsetCommit(TxnOffsetCommitResponse::default())));
    assert_eq!(outcomes(&actions), vec![(TxnCall::SendOffsetsToTransaction, Ok(()))]);

    // Offsets alone make the transaction worth an EndTxn.
    sender.commit_transaction(202, TIMEOUT_MS).unwrap();
    let (_, node, request) = only_send(&poll(&mut sender, 202));
    assert!(matches!(&request, Request::EndTxn(e) if e.committed) && node == Some(COORDINATOR), "{request:?}");
}

#[test]
fn an_illegal_generation_fails_send_offsets_and_leaves_only_abort() {
    let mut sender = initialized(0);
    sender.begin_transaction().unwrap();
    let offsets = BTreeMap::from([(TopicPartition::new("in", 0), OffsetAndMetadata::new(1))]);
    sender.send_offsets_to_transaction(offsets, ConsumerGroupMetadata::new("g"), 0, TIMEOUT_MS).unwrap();
    let (id, _, _) = only_send(&poll(&mut sender, 0));
    sender.on_response(id, 1, Ok(Response::AddOffsetsToTxn(AddOffsetsToTxnResponse::default())));
    let (id, _, _) = only_send(&poll(&mut sender, 1));
    sender.on_response(id, 2, find_coordinator_answer(5, 0));
    let (id, _, _) = only_send(&poll(&mut sender, 2));
    let stale = TxnOffsetCommitResponse::default().with_topics(vec![TxnOffsetCommitResponseTopic::default()
        .with_name(TopicName(sb("in")))
        .with_partitions(vec![TxnOffsetCommitResponsePartition::default().with_error_code(22)])]);
    let actions = sender.on_response(id, 3, Ok(Response::TxnOffsetCommit(stale)));
    assert_eq!(outcomes(&actions), vec![(TxnCall::SendOffsetsToTransaction, Err(Some(22)))]);
    assert!(sender.commit_transaction(4, TIMEOUT_MS).is_err());
    sender.abort_transaction(4, TIMEOUT_MS).unwrap();
    let (_, _, request) = only_send(&poll(&mut sender, 4));
    assert!(matches!(&request, Request::EndTxn(e) if !e.committed), "AddOffsetsToTxn started it: {request:?}");
}

#[test]
fn a_call_that_times_out_goes_on_and_can_be_waited_for_again() {
    let mut sender = Sender::new(config(0));
    sender.init_transactions(0, 500).unwrap();
    let (id, _, _) = only_send(&poll(&mut sender, 0));
    // No broker answers: FindCoordinator is retried with a growing backoff.
    sender.on_response(id, 300, Err(ClientError::Timeout("FindCoordinator".into())));
    assert!(poll(&mut sender, 399).is_empty());
    assert_eq!(sender.next_deadline_ms(), Some(400));
    let (id, _, _) = only_send(&poll(&mut sender, 400));
    let actions = poll(&mut sender, 500);
    assert_eq!(outcomes(&actions), vec![(TxnCall::InitTransactions, Err(Some(7)))], "REQUEST_TIMED_OUT at 500");
    assert!(sends(&actions).is_empty(), "FindCoordinator still in flight");

    // The work goes on; the answers arrive after the caller gave up.
    sender.on_response(id, 600, find_coordinator_answer(COORDINATOR, 0));
    let (id, _, _) = only_send(&poll(&mut sender, 600));
    assert!(outcomes(&sender.on_response(id, 700, producer_id_answer(0))).is_empty(), "nobody waits");
    assert_eq!(sender.producer_id(), (PRODUCER_ID, EPOCH));
    // Calling again gets the outcome of the same work.
    sender.init_transactions(800, 500).unwrap();
    assert_eq!(outcomes(&poll(&mut sender, 800)), vec![(TxnCall::InitTransactions, Ok(()))]);
    sender.begin_transaction().unwrap();
}

#[test]
fn a_batch_that_expires_fails_the_transaction() {
    let (mut sender, produce_id) = with_batch_in_flight();
    append(&mut sender, &tp(0), 1);
    // The second batch waits behind the first's retry and passes delivery.timeout.ms.
    sender.on_response(produce_id, 2, produce_answer(&tp(0), 6));
    let actions = poll(&mut sender, 200_000);
    assert!(!failures(&actions).is_empty(), "{actions:?}");
    assert!(sender.check_can_send().is_err());
}

#[test]
fn a_producer_without_transactional_id_refuses_transactional_calls() {
    let mut cfg = config(0);
    cfg.transactional_id = None;
    let mut sender = Sender::new(cfg);
    sender.check_can_send().unwrap();
    assert!(sender.transaction().is_none());
    assert!(matches!(sender.init_transactions(0, 1).unwrap_err(), ClientError::IllegalState(_)));
    assert!(matches!(sender.begin_transaction().unwrap_err(), ClientError::IllegalState(_)));
}
