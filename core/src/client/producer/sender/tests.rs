//! The sender in virtual time: records are appended, time and broker answers are fed in, and each test asserts
//! on the actions the sender emits. No clock, socket or runtime is involved.

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::ProducerId;

use super::*;
use crate::client::metadata::TopicMetadata;
use crate::client::producer::accumulator::Thunk;
use crate::record::Compression;

const BACKOFF_MS: u64 = 100;
const DELIVERY_TIMEOUT_MS: u64 = 30_000;

fn config(idempotent: bool) -> SenderConfig {
    SenderConfig {
        acks: if idempotent { -1 } else { 1 },
        idempotent,
        transactional_id: None,
        retries: u32::MAX,
        max_request_size: 1 << 20,
        request_timeout_ms: 30_000,
        retry_backoff_ms: BACKOFF_MS,
        accumulator: AccumulatorConfig {
            batch_size: 16 * 1024,
            linger_ms: 0,
            compression: Compression::None,
            max_in_flight: 5,
            delivery_timeout_ms: DELIVERY_TIMEOUT_MS,
            retry_backoff_ms: BACKOFF_MS,
            retry_backoff_max_ms: 1000,
            idempotent,
        },
    }
}

/// Topic `t` with partition 0 led by broker 1 and partition 1 by broker 2; topic `u` with partition 0 on 1.
fn metadata() -> Metadata {
    Metadata::with_leaders(&[("t", &[1, 2]), ("u", &[1])])
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

fn append(sender: &mut Sender, tp: &TopicPartition, now_ms: u64) {
    let thunk = Thunk::Callback(Box::new(|_| {}));
    sender.accumulator_mut().append(tp, now_ms as i64, None, Some(b"value"), &[], 100, thunk, now_ms);
}

fn poll(sender: &mut Sender, now_ms: u64) -> Vec<Action> {
    sender.poll(now_ms, &metadata(), false, |_| true)
}

/// A Produce request: its id, its broker, and its partitions with their batch bytes.
type Produce = (RequestId, i32, Vec<(TopicPartition, bytes::Bytes)>);

/// The Produce requests among `actions`.
fn produces(actions: &[Action]) -> Vec<Produce> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { id, node: Some(node), request: Request::Produce(r) } => {
                let partitions = r
                    .topic_data
                    .iter()
                    .flat_map(|t| {
                        t.partition_data
                            .iter()
                            .map(|p| (tp(t.name.0.as_str(), p.index), p.records.clone().unwrap_or_default()))
                    })
                    .collect();
                Some((*id, *node, partitions))
            }
            _ => None,
        })
        .collect()
}

/// The one InitProducerId request among `actions`, if any.
fn init_producer_id(actions: &[Action]) -> Option<RequestId> {
    actions.iter().find_map(|a| match a {
        Action::Send { id, node: None, request: Request::InitProducerId(_) } => Some(*id),
        _ => None,
    })
}

/// The completions among `actions`: (partition, records, result).
fn completions(actions: &[Action]) -> Vec<(TopicPartition, usize, Result<Delivered, ClientError>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Complete { batch, result } => Some((batch.tp.clone(), batch.record_count(), result.clone())),
            _ => None,
        })
        .collect()
}

/// Producer id, epoch and base sequence from a record batch's header.
fn batch_producer(batch: &[u8]) -> (i64, i16, i32) {
    let pid = i64::from_be_bytes(batch[43..51].try_into().unwrap_or_default());
    let epoch = i16::from_be_bytes(batch[51..53].try_into().unwrap_or_default());
    let sequence = i32::from_be_bytes(batch[53..57].try_into().unwrap_or_default());
    (pid, epoch, sequence)
}

fn produce_answer(tp: &TopicPartition, error_code: i16, base_offset: i64) -> Result<Response, ClientError> {
    let partition = PartitionProduceResponse::default()
        .with_index(tp.partition)
        .with_error_code(error_code)
        .with_base_offset(base_offset);
    let topic = TopicProduceResponse::default()
        .with_name(TopicName(StrBytes::from_string(tp.topic.clone())))
        .with_partition_responses(vec![partition]);
    Ok(Response::Produce(ProduceResponse::default().with_responses(vec![topic])))
}

fn producer_id_answer(producer_id: i64, error_code: i16) -> Result<Response, ClientError> {
    let response = InitProducerIdResponse::default()
        .with_error_code(error_code)
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(0);
    Ok(Response::InitProducerId(response))
}

/// An idempotent sender that already holds producer id 7 (as after its InitProducerId).
fn idempotent_sender() -> Sender {
    let mut sender = Sender::new(config(true));
    sender.set_producer_id(7, 0);
    sender
}

#[test]
fn idempotent_producer_gets_an_id_before_its_first_produce() {
    let mut sender = Sender::new(config(true));
    assert!(poll(&mut sender, 0).is_empty(), "no producer id is asked for while nothing is queued");
    append(&mut sender, &tp("t", 0), 0);
    let actions = poll(&mut sender, 0);
    assert_eq!(actions.len(), 1);
    let request = init_producer_id(&actions).expect("InitProducerId first");
    assert!(poll(&mut sender, 5).is_empty(), "one InitProducerId at a time, and no Produce without an id");

    // A retriable error (COORDINATOR_LOAD_IN_PROGRESS) asks again after retry.backoff.ms.
    assert!(sender.on_response(request, 10, producer_id_answer(-1, 14)).is_empty());
    assert!(poll(&mut sender, 10 + BACKOFF_MS - 1).is_empty());
    assert_eq!(sender.next_deadline_ms(), Some(10 + BACKOFF_MS));
    let request = init_producer_id(&poll(&mut sender, 10 + BACKOFF_MS)).expect("InitProducerId again");

    assert!(sender.on_response(request, 120, producer_id_answer(7, 0)).is_empty());
    assert_eq!(sender.producer_id(), (7, 0));
    let actions = poll(&mut sender, 120);
    let sent = produces(&actions);
    assert_eq!(sent.len(), 1);
    let (id, node, partitions) = &sent[0];
    assert_eq!(*node, 1);
    assert_eq!(partitions[0].0, tp("t", 0));
    assert_eq!(batch_producer(&partitions[0].1), (7, 0, 0));

    let done = completions(&sender.on_response(*id, 130, produce_answer(&tp("t", 0), 0, 42)));
    assert_eq!(done, vec![(tp("t", 0), 1, Ok(Delivered { base_offset: 42, log_append_time_ms: -1 }))]);
    assert_eq!(sender.incomplete_batches(), 0);
}

#[test]
fn a_fatal_producer_id_error_fails_the_queued_records() {
    let mut sender = Sender::new(config(true));
    append(&mut sender, &tp("t", 0), 0);
    let request = init_producer_id(&poll(&mut sender, 0)).expect("InitProducerId");
    // CLUSTER_AUTHORIZATION_FAILED is not retriable.
    let done = completions(&sender.on_response(request, 1, producer_id_answer(-1, 31)));
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].2.as_ref().map_err(|e| e.code()), Err(Some(31)));
    assert_eq!(sender.incomplete_batches(), 0);
}

#[test]
fn batches_linger_then_leave_in_one_request_per_leader() {
    let mut cfg = config(false);
    cfg.accumulator.linger_ms = 10;
    let mut sender = Sender::new(cfg);
    append(&mut sender, &tp("t", 0), 0);
    append(&mut sender, &tp("u", 0), 0);
    append(&mut sender, &tp("t", 1), 4);
    assert!(poll(&mut sender, 5).is_empty());
    assert_eq!(sender.next_deadline_ms(), Some(10));
    let sent = produces(&poll(&mut sender, 10));
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (_, node, partitions) = &sent[0];
    let partitions: Vec<&TopicPartition> = partitions.iter().map(|(tp, _)| tp).collect();
    assert_eq!((*node, partitions), (1, vec![&tp("t", 0), &tp("u", 0)]), "one request for leader 1's partitions");
    assert_eq!(sender.next_deadline_ms(), Some(14));
    let sent = produces(&poll(&mut sender, 14));
    assert_eq!(sent.iter().map(|(_, node, ps)| (*node, ps.len())).collect::<Vec<_>>(), vec![(2, 1)]);
}

#[test]
fn a_flush_sends_without_waiting_for_linger() {
    let mut cfg = config(false);
    cfg.accumulator.linger_ms = 1000;
    let mut sender = Sender::new(cfg);
    append(&mut sender, &tp("t", 0), 0);
    assert!(poll(&mut sender, 1).is_empty());
    let sent = produces(&sender.poll(2, &metadata(), true, |_| true));
    assert_eq!(sent.len(), 1);
}

#[test]
fn partitions_not_allowed_to_send_keep_their_batches() {
    let mut sender = Sender::new(config(false));
    append(&mut sender, &tp("t", 0), 0);
    append(&mut sender, &tp("t", 1), 0);
    let sent = produces(&sender.poll(0, &metadata(), false, |tp| tp.partition == 1));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].2[0].0, tp("t", 1));
    assert_eq!(produces(&poll(&mut sender, 1)).len(), 1, "t-0 goes once allowed");
}

#[test]
fn a_retriable_error_is_retried_after_the_backoff_with_the_same_sequence() {
    let mut sender = idempotent_sender();
    append(&mut sender, &tp("t", 0), 0);
    let sent = produces(&poll(&mut sender, 0));
    let (id, _, partitions) = &sent[0];
    let first_bytes = partitions[0].1.clone();
    assert_eq!(batch_producer(&first_bytes), (7, 0, 0));

    // NOT_LEADER_OR_FOLLOWER: the leader moved, so metadata is refreshed and the batch waits for its backoff.
    let actions = sender.on_response(*id, 50, produce_answer(&tp("t", 0), 6, -1));
    assert!(completions(&actions).is_empty());
    assert!(
        matches!(&actions[..], [Action::RefreshMetadata { topics }] if topics == &["t".to_string()]),
        "{actions:?}"
    );
    assert!(poll(&mut sender, 50 + BACKOFF_MS - 1).is_empty());
    assert_eq!(sender.next_deadline_ms(), Some(50 + BACKOFF_MS));
    let sent = produces(&poll(&mut sender, 50 + BACKOFF_MS));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].2[0].1, first_bytes, "the retry carries the same bytes, sequence included");

    let done = completions(&sender.on_response(sent[0].0, 200, produce_answer(&tp("t", 0), 0, 0)));
    assert_eq!(done.len(), 1);
    assert!(done[0].2.is_ok());
}

#[test]
fn a_request_without_an_answer_is_retried_with_its_sequence() {
    let mut sender = idempotent_sender();
    append(&mut sender, &tp("t", 0), 0);
    let sent = produces(&poll(&mut sender, 0));
    append(&mut sender, &tp("t", 0), 1);
    let second = produces(&poll(&mut sender, 1));
    assert_eq!(batch_producer(&second[0].2[0].1).2, 1, "the second batch has sequence 1");

    // The first request got no answer in time; the second was written.
    let actions = sender.on_response(sent[0].0, 10, Err(ClientError::Timeout("Produce".into())));
    assert!(completions(&actions).is_empty());
    assert_eq!(completions(&sender.on_response(second[0].0, 11, produce_answer(&tp("t", 0), 0, 1))).len(), 1);
    let retry = produces(&poll(&mut sender, 10 + BACKOFF_MS));
    assert_eq!(batch_producer(&retry[0].2[0].1), (7, 0, 0));
}

#[test]
fn queued_batches_expire_after_the_delivery_timeout() {
    let mut sender = Sender::new(config(false));
    append(&mut sender, &tp("gone", 0), 0);
    let actions = poll(&mut sender, 0);
    assert!(
        matches!(&actions[..], [Action::RefreshMetadata { topics }] if topics == &["gone".to_string()]),
        "{actions:?}"
    );
    assert!(poll(&mut sender, 1).is_empty(), "metadata is asked for again only after the backoff");
    assert_eq!(sender.next_deadline_ms(), Some(BACKOFF_MS));
    assert!(completions(&poll(&mut sender, DELIVERY_TIMEOUT_MS - 1)).is_empty());
    let done = completions(&poll(&mut sender, DELIVERY_TIMEOUT_MS));
    assert_eq!(done.len(), 1);
    assert!(matches!(done[0].2, Err(ClientError::Timeout(_))), "{done:?}");
    assert_eq!(sender.incomplete_batches(), 0);
}

#[test]
fn a_retriable_error_past_the_delivery_timeout_fails_the_batch() {
    let mut sender = Sender::new(config(false));
    append(&mut sender, &tp("t", 0), 0);
    let sent = produces(&poll(&mut sender, 0));
    let done = completions(&sender.on_response(
        sent[0].0,
        DELIVERY_TIMEOUT_MS,
        Err(ClientError::Io("connection reset".into())),
    ));
    assert_eq!(done.len(), 1);
    assert!(matches!(done[0].2, Err(ClientError::Io(_))));
}

#[test]
fn max_in_flight_requests_per_partition_are_respected() {
    let mut cfg = config(false);
    cfg.accumulator.max_in_flight = 2;
    // Every record fills a batch of its own.
    cfg.accumulator.batch_size = 1;
    let mut sender = Sender::new(cfg);
    for now in 0..4 {
        append(&mut sender, &tp("t", 0), now);
    }
    let first = produces(&poll(&mut sender, 4));
    let second = produces(&poll(&mut sender, 4));
    assert_eq!((first.len(), second.len()), (1, 1), "one batch per partition per poll");
    assert!(produces(&poll(&mut sender, 5)).is_empty(), "two requests in flight: the partition waits");
    sender.on_response(first[0].0, 6, produce_answer(&tp("t", 0), 0, 0));
    assert_eq!(produces(&poll(&mut sender, 6)).len(), 1, "an answer frees a slot");
    assert!(produces(&poll(&mut sender, 6)).is_empty());
}

#[test]
fn out_of_order_behind_an_earlier_unresolved_batch_is_retried() {
    let mut sender = idempotent_sender();
    append(&mut sender, &tp("t", 0), 0);
    let first = produces(&poll(&mut sender, 0));
    append(&mut sender, &tp("t", 0), 1);
    let second = produces(&poll(&mut sender, 1));
    // The first batch was refused by a leader that lost leadership; so the second is out of order.
    assert!(completions(&sender.on_response(first[0].0, 2, produce_answer(&tp("t", 0), 6, -1))).is_empty());
    assert!(completions(&sender.on_response(second[0].0, 3, produce_answer(&tp("t", 0), 45, -1))).is_empty());
    assert_eq!(sender.producer_id(), (7, 0), "no new producer id: nothing was lost");
    let retry = produces(&poll(&mut sender, 2 + BACKOFF_MS));
    assert_eq!(batch_producer(&retry[0].2[0].1), (7, 0, 0), "sequence 0 goes first");
    assert!(produces(&poll(&mut sender, 3 + BACKOFF_MS)).is_empty(), "the retry is not overtaken");
    sender.on_response(retry[0].0, 300, produce_answer(&tp("t", 0), 0, 0));
    let next = produces(&poll(&mut sender, 300));
    assert_eq!(batch_producer(&next[0].2[0].1), (7, 0, 1));
}

#[test]
fn out_of_order_for_the_earliest_batch_takes_a_new_producer_id_and_renumbers() {
    let mut sender = idempotent_sender();
    append(&mut sender, &tp("t", 0), 0);
    let sent = produces(&poll(&mut sender, 0));
    let actions = sender.on_response(sent[0].0, 1, produce_answer(&tp("t", 0), 45, -1));
    assert!(completions(&actions).is_empty(), "the batch is kept: it was never written");
    assert_eq!(sender.producer_id(), (-1, -1));
    let request = init_producer_id(&poll(&mut sender, 1)).expect("a new producer id");
    sender.on_response(request, 2, producer_id_answer(8, 0));
    let retry = produces(&poll(&mut sender, 1 + BACKOFF_MS));
    assert_eq!(batch_producer(&retry[0].2[0].1), (8, 0, 0), "renumbered under the new id");
}

#[test]
fn out_of_order_after_a_possible_write_fails_the_batch() {
    let mut sender = idempotent_sender();
    append(&mut sender, &tp("t", 0), 0);
    let sent = produces(&poll(&mut sender, 0));
    // REQUEST_TIMED_OUT: the leader may have appended the batch, so a later gap cannot be renumbered away.
    sender.on_response(sent[0].0, 1, produce_answer(&tp("t", 0), 7, -1));
    let retry = produces(&poll(&mut sender, 1 + BACKOFF_MS));
    let done = completions(&sender.on_response(retry[0].0, 200, produce_answer(&tp("t", 0), 45, -1)));
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].2.as_ref().map_err(|e| e.code()), Err(Some(45)));
    assert_eq!(sender.producer_id(), (-1, -1), "the sequence has a gap: a new producer id is taken");
}

#[test]
fn unknown_producer_id_fails_the_batch_and_takes_a_new_id() {
    let mut sender = idempotent_sender();
    append(&mut sender, &tp("t", 0), 0);
    let sent = produces(&poll(&mut sender, 0));
    append(&mut sender, &tp("t", 0), 1);
    let done = completions(&sender.on_response(sent[0].0, 1, produce_answer(&tp("t", 0), 59, -1)));
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].2.as_ref().map_err(|e| e.code()), Err(Some(59)));
    let request = init_producer_id(&poll(&mut sender, 2)).expect("a new producer id");
    sender.on_response(request, 3, producer_id_answer(9, 0));
    let next = produces(&poll(&mut sender, 3));
    assert_eq!(batch_producer(&next[0].2[0].1), (9, 0, 0), "the next batch starts a fresh sequence");
}

#[test]
fn a_duplicate_sequence_counts_as_written() {
    let mut sender = idempotent_sender();
    append(&mut sender, &tp("t", 0), 0);
    let sent = produces(&poll(&mut sender, 0));
    let done = completions(&sender.on_response(sent[0].0, 1, produce_answer(&tp("t", 0), 46, -1)));
    assert_eq!(done, vec![(tp("t", 0), 1, Ok(Delivered { base_offset: -1, log_append_time_ms: -1 }))]);
}

#[test]
fn acks_zero_completes_once_written() {
    let mut cfg = config(false);
    cfg.acks = 0;
    let mut sender = Sender::new(cfg);
    append(&mut sender, &tp("t", 0), 0);
    let actions = poll(&mut sender, 0);
    let Some(Action::Send { id, request, .. }) = actions.first() else { panic!("a Produce: {actions:?}") };
    assert!(!request.expects_response());
    let done = completions(&sender.on_response(*id, 1, Ok(Response::Written)));
    assert_eq!(done, vec![(tp("t", 0), 1, Ok(Delivered { base_offset: -1, log_append_time_ms: -1 }))]);
}

#[test]
fn requests_stay_under_max_request_size() {
    let mut cfg = config(false);
    // Each batch reserves 100 bytes (see `append`): two fit in one request, a third does not.
    cfg.max_request_size = 250;
    let mut sender = Sender::new(cfg);
    append(&mut sender, &tp("t", 0), 0);
    append(&mut sender, &tp("u", 0), 0);
    let mut extra = metadata();
    extra.topics.insert("v".into(), TopicMetadata { name: "v".into(), ..extra.topics["u"].clone() });
    append(&mut sender, &tp("v", 0), 0);
    let sent = produces(&sender.poll(0, &extra, false, |_| true));
    let sizes: Vec<(i32, usize)> = sent.iter().map(|(_, node, ps)| (*node, ps.len())).collect();
    assert_eq!(sizes, vec![(1, 2), (1, 1)]);
}
