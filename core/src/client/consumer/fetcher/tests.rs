//! The fetcher in virtual time: partitions are assigned and positioned, time, metadata and Fetch answers are
//! fed in, and each test asserts on the actions the fetcher emits and the records it hands out. No clock,
//! socket or runtime is involved.

use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::ProducerId;

use super::*;
use crate::record::{BatchBuilder, Compression, ControlType};

const BACKOFF_MS: u64 = 100;
const MAX_WAIT_MS: i32 = 500;

fn config(isolation_level: IsolationLevel, reset: ResetPolicy) -> FetcherConfig {
    FetcherConfig {
        fetch_min_bytes: 1,
        fetch_max_bytes: 50 * 1024 * 1024,
        max_partition_fetch_bytes: 1024 * 1024,
        isolation_level,
        reset,
        client_rack: None,
        retry_backoff_ms: BACKOFF_MS,
    }
}

fn fetcher() -> Fetcher {
    Fetcher::new(config(IsolationLevel::ReadUncommitted, ResetPolicy::Earliest))
}

/// Topic `t` with partition 0 led by broker 1 and partitions 1 and 2 by broker 2; topic `u` with partition 0
/// on broker 1.
fn metadata() -> Metadata {
    Metadata::with_leaders(&[("t", &[1, 2, 2]), ("u", &[1])])
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

/// Assigns `partitions`, each positioned at `offset`.
fn assigned(fetcher: &mut Fetcher, partitions: &[TopicPartition], offset: i64) {
    fetcher.assign(partitions);
    for tp in partitions {
        assert!(fetcher.seek(tp, offset));
    }
}

/// A Fetch request among actions: its id, its broker, and its partitions with their fetch offsets.
type Fetch = (RequestId, i32, Vec<(TopicPartition, i64)>);

fn fetches(actions: &[Action]) -> Vec<Fetch> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Fetch { id, node, request } => {
                let partitions = request
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| (tp(t.topic.0.as_str(), p.partition), p.fetch_offset)))
                    .collect();
                Some((*id, *node, partitions))
            }
            Action::RefreshMetadata { .. } => None,
        })
        .collect()
}

fn refreshes(actions: &[Action]) -> Vec<Vec<String>> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::RefreshMetadata { topics } => Some(topics.clone()),
            Action::Fetch { .. } => None,
        })
        .collect()
}

/// A batch of `values` starting at `base_offset` (plain, or transactional for `producer_id`).
fn batch(base_offset: i64, values: &[&str], transactional_producer: Option<i64>) -> Vec<u8> {
    let mut builder = BatchBuilder::new(Compression::None).base_offset(base_offset).partition_leader_epoch(3);
    if let Some(producer_id) = transactional_producer {
        builder.set_producer(producer_id, 0, 0, true);
    }
    for v in values {
        builder.append(1_000, None, Some(v.as_bytes()), &[]);
    }
    builder.build().unwrap()
}

fn marker(offset: i64, control: ControlType, producer_id: i64) -> Vec<u8> {
    BatchBuilder::control_marker(control, 0, producer_id, 0, 1_000).base_offset(offset).build().unwrap()
}

/// One partition's answer: an error code, the batches, the high watermark and the aborted transactions.
fn partition(p: i32, error_code: i16, data: Vec<u8>, high_watermark: i64, aborted: &[(i64, i64)]) -> PartitionData {
    let aborted = aborted
        .iter()
        .map(|&(pid, first)| AbortedTransaction::default().with_producer_id(ProducerId(pid)).with_first_offset(first))
        .collect();
    PartitionData::default()
        .with_partition_index(p)
        .with_error_code(error_code)
        .with_high_watermark(high_watermark)
        .with_aborted_transactions(Some(aborted))
        .with_records(Some(data.into()))
}

fn response(topic: &str, partitions: Vec<PartitionData>) -> FetchResponse {
    FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
        .with_topic(TopicName(StrBytes::from_string(topic.into())))
        .with_partitions(partitions)])
}

fn values(records: &[ConsumerRecord]) -> Vec<(String, i64, String)> {
    records
        .iter()
        .map(|r| {
            let value = String::from_utf8(r.value.as_deref().unwrap_or_default().to_vec()).unwrap();
            (r.topic.clone(), r.offset, value)
        })
        .collect()
}

#[test]
fn one_fetch_per_leader_with_the_configured_limits() {
    let mut f = Fetcher::new(FetcherConfig {
        client_rack: Some("rack-a".into()),
        ..config(IsolationLevel::ReadCommitted, ResetPolicy::Earliest)
    });
    assigned(&mut f, &[tp("t", 0), tp("t", 1), tp("t", 2), tp("u", 0)], 7);
    let actions = f.poll(0, &metadata(), MAX_WAIT_MS);
    assert!(refreshes(&actions).is_empty());
    let fetches = fetches(&actions);
    assert_eq!(fetches.len(), 2, "{actions:?}");
    let by_node: BTreeMap<i32, Vec<(TopicPartition, i64)>> = fetches.into_iter().map(|(_, n, p)| (n, p)).collect();
    assert_eq!(by_node[&1], vec![(tp("t", 0), 7), (tp("u", 0), 7)]);
    assert_eq!(by_node[&2], vec![(tp("t", 1), 7), (tp("t", 2), 7)]);
    let Action::Fetch { request, .. } = &actions[0] else { panic!("{actions:?}") };
    assert_eq!(request.max_wait_ms, MAX_WAIT_MS);
    assert_eq!(request.min_bytes, 1);
    assert_eq!(request.max_bytes, 50 * 1024 * 1024);
    assert_eq!(request.isolation_level, 1);
    assert_eq!(request.replica_id, BrokerId(-1));
    assert_eq!(request.rack_id.as_str(), "rack-a");
    let partition = &request.topics[0].partitions[0];
    assert_eq!(partition.partition_max_bytes, 1024 * 1024);
    assert_eq!(partition.current_leader_epoch, -1);
    assert_eq!(f.in_flight(), 2);
    // Partitions in flight are not fetched again.
    assert!(f.poll(1, &metadata(), MAX_WAIT_MS).is_empty());
}

#[test]
fn records_are_decoded_and_positions_advance_as_they_are_taken() {
    let mut f = fetcher();
    assigned(&mut f, &[tp("t", 0)], 0);
    let actions = f.poll(0, &metadata(), MAX_WAIT_MS);
    let [(id, 1, _)] = fetches(&actions)[..] else { panic!("{actions:?}") };
    let mut data = batch(0, &["a", "b"], None);
    data.extend(batch(2, &["c"], None));
    let out = f.on_response(id, 5, Ok(response("t", vec![partition(0, 0, data, 10, &[])])));
    assert!(out.is_empty(), "{out:?}");
    let state = f.partition(&tp("t", 0)).unwrap();
    assert_eq!((state.position, state.fetch_position, state.high_watermark), (Some(0), Some(3), 10));
    // Buffered records: no new fetch for the partition until they are handed out.
    assert!(fetches(&f.poll(6, &metadata(), MAX_WAIT_MS)).is_empty());
    let first = f.take(2);
    assert_eq!(values(&first), vec![("t".into(), 0, "a".into()), ("t".into(), 1, "b".into())]);
    assert_eq!(first[0].leader_epoch, Some(3));
    assert_eq!(f.partition(&tp("t", 0)).unwrap().position, Some(2));
    assert_eq!(values(&f.take(10)), vec![("t".into(), 2, "c".into())]);
    assert_eq!(f.partition(&tp("t", 0)).unwrap().position, Some(3));
    assert_eq!(f.partition(&tp("t", 0)).unwrap().leader_epoch, Some(3));
    // Everything handed out: the next poll fetches from the new fetch position.
    let actions = f.poll(7, &metadata(), MAX_WAIT_MS);
    assert_eq!(fetches(&actions)[0].2, vec![(tp("t", 0), 3)]);
}

#[test]
fn offset_out_of_range_resets_by_policy() {
    for (reset, expected) in [
        (ResetPolicy::Earliest, Some(OffsetSpec::Earliest)),
        (ResetPolicy::Latest, Some(OffsetSpec::Latest)),
        (ResetPolicy::None, None),
    ] {
        let mut f = Fetcher::new(config(IsolationLevel::ReadUncommitted, reset));
        assigned(&mut f, &[tp("t", 0)], 42);
        let actions = f.poll(0, &metadata(), MAX_WAIT_MS);
        let [(id, _, _)] = fetches(&actions)[..] else { panic!("{actions:?}") };
        let out = f.on_response(id, 1, Ok(response("t", vec![partition(0, OFFSET_OUT_OF_RANGE, vec![], -1, &[])])));
        assert!(out.is_empty(), "{out:?}");
        let state = f.partition(&tp("t", 0)).unwrap();
        match expected {
            Some(spec) => {
                assert_eq!(f.pending_resets(), vec![(tp("t", 0), spec)], "{reset:?}");
                assert_eq!((state.position, state.fetch_position), (None, None));
                assert!(f.take_error().is_none());
                // Nothing to fetch until the lookup gives a position, then fetching goes on from it.
                assert!(f.poll(2, &metadata(), MAX_WAIT_MS).is_empty());
                f.reset_done(&tp("t", 0), 5);
                assert!(f.pending_resets().is_empty());
                assert_eq!(fetches(&f.poll(3, &metadata(), MAX_WAIT_MS))[0].2, vec![(tp("t", 0), 5)]);
            }
            None => {
                assert!(f.pending_resets().is_empty());
                assert_eq!(state.position, Some(42));
                assert_eq!(f.take_error().and_then(|e| e.code()), Some(OFFSET_OUT_OF_RANGE));
            }
        }
    }
}

#[test]
fn not_leader_refreshes_metadata_and_retries_after_the_backoff() {
    let mut f = fetcher();
    assigned(&mut f, &[tp("t", 0), tp("u", 0)], 0);
    let actions = f.poll(0, &metadata(), MAX_WAIT_MS);
    let [(id, 1, _)] = fetches(&actions)[..] else { panic!("{actions:?}") };
    // NOT_LEADER_OR_FOLLOWER for t-0; u-0 answers with a record.
    let answer = FetchResponse::default().with_responses(vec![
        FetchableTopicResponse::default()
            .with_topic(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(vec![partition(0, 6, vec![], -1, &[])]),
        FetchableTopicResponse::default()
            .with_topic(TopicName(StrBytes::from_static_str("u")))
            .with_partitions(vec![partition(0, 0, batch(0, &["x"], None), 1, &[])]),
    ]);
    let out = f.on_response(id, 10, Ok(answer));
    assert_eq!(refreshes(&out), vec![vec!["t".to_string()]]);
    assert!(f.take_error().is_none());
    assert_eq!(values(&f.take(10)), vec![("u".into(), 0, "x".into())]);
    // Within the backoff t-0 waits (u-0 is fetched again), and the deadline says when it may go.
    let actions = f.poll(10 + BACKOFF_MS - 1, &metadata(), MAX_WAIT_MS);
    assert_eq!(fetches(&actions).iter().map(|f| f.2.clone()).collect::<Vec<_>>(), vec![vec![(tp("u", 0), 1)]]);
    assert_eq!(f.next_deadline_ms(), Some(10 + BACKOFF_MS));
    // After it, t-0 goes to its leader as the refreshed metadata now names it (broker 2).
    let mut moved = metadata();
    moved.topics.get_mut("t").unwrap().partitions[0].leader = 2;
    let actions = f.poll(10 + BACKOFF_MS, &moved, MAX_WAIT_MS);
    assert_eq!(fetches(&actions).into_iter().map(|f| (f.1, f.2)).collect::<Vec<_>>(), vec![(2, vec![(tp("t", 0), 0)])]);
}

#[test]
fn a_failed_request_backs_off_and_refreshes_its_topics() {
    let mut f = fetcher();
    assigned(&mut f, &[tp("t", 1), tp("t", 2)], 4);
    let actions = f.poll(0, &metadata(), MAX_WAIT_MS);
    let [(id, 2, _)] = fetches(&actions)[..] else { panic!("{actions:?}") };
    let lost = ClientError::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset).to_string());
    let out = f.on_response(id, 20, Err(lost));
    assert_eq!(refreshes(&out), vec![vec!["t".to_string()]]);
    assert!(f.take_error().is_none());
    assert!(f.poll(21, &metadata(), MAX_WAIT_MS).is_empty());
    let actions = f.poll(20 + BACKOFF_MS, &metadata(), MAX_WAIT_MS);
    let [(id, 2, ref partitions)] = fetches(&actions)[..] else { panic!("{actions:?}") };
    assert_eq!(partitions, &vec![(tp("t", 1), 4), (tp("t", 2), 4)]);
    // A request that got no answer in time is retried after the backoff, with no refresh: the leader answered
    // before and nothing says it moved.
    let out = f.on_response(id, 200, Err(ClientError::Timeout("Fetch request to broker 2".into())));
    assert!(out.is_empty(), "{out:?}");
    assert!(f.take_error().is_none());
    assert!(f.poll(200 + BACKOFF_MS - 1, &metadata(), MAX_WAIT_MS).is_empty());
    assert_eq!(fetches(&f.poll(200 + BACKOFF_MS, &metadata(), MAX_WAIT_MS)).len(), 1);
}

#[test]
fn partitions_without_a_leader_ask_for_metadata_at_most_once_per_backoff() {
    let mut f = fetcher();
    assigned(&mut f, &[tp("t", 0), tp("gone", 0)], 0);
    let actions = f.poll(0, &metadata(), MAX_WAIT_MS);
    assert_eq!(refreshes(&actions), vec![vec!["gone".to_string()]]);
    assert_eq!(fetches(&actions).len(), 1, "the known leader is still fetched: {actions:?}");
    assert!(refreshes(&f.poll(1, &metadata(), MAX_WAIT_MS)).is_empty());
    assert_eq!(f.next_deadline_ms(), Some(BACKOFF_MS));
    assert_eq!(refreshes(&f.poll(BACKOFF_MS, &metadata(), MAX_WAIT_MS)), vec![vec!["gone".to_string()]]);
}

#[test]
fn read_committed_drops_aborted_transactions_and_control_batches() {
    let mut f = Fetcher::new(config(IsolationLevel::ReadCommitted, ResetPolicy::Earliest));
    assigned(&mut f, &[tp("t", 0)], 0);
    let actions = f.poll(0, &metadata(), MAX_WAIT_MS);
    let [(id, _, _)] = fetches(&actions)[..] else { panic!("{actions:?}") };
    // Producer 7 writes 0-1 and aborts (marker at 2); producer 8 writes 3 and commits (marker at 4); a plain
    // record at 5; producer 9 writes 6 and aborts (marker at 7).
    let mut data = batch(0, &["aborted-1", "aborted-2"], Some(7));
    data.extend(marker(2, ControlType::Abort, 7));
    data.extend(batch(3, &["committed"], Some(8)));
    data.extend(marker(4, ControlType::Commit, 8));
    data.extend(batch(5, &["plain"], None));
    data.extend(batch(6, &["aborted-3"], Some(9)));
    data.extend(marker(7, ControlType::Abort, 9));
    let out = f.on_response(id, 1, Ok(response("t", vec![partition(0, 0, data.clone(), 8, &[(7, 0), (9, 6)])])));
    assert!(out.is_empty());
    assert_eq!(values(&f.take(10)), vec![("t".into(), 3, "committed".into()), ("t".into(), 5, "plain".into())]);
    // The aborted records and the marker after the last record are consumed with it.
    assert_eq!(f.partition(&tp("t", 0)).unwrap().position, Some(8));

    // read_uncommitted hands out every data record, never a control record.
    let mut f = fetcher();
    assigned(&mut f, &[tp("t", 0)], 0);
    let actions = f.poll(0, &metadata(), MAX_WAIT_MS);
    let [(id, _, _)] = fetches(&actions)[..] else { panic!("{actions:?}") };
    f.on_response(id, 1, Ok(response("t", vec![partition(0, 0, data, 8, &[(7, 0), (9, 6)])])));
    let offsets: Vec<i64> = f.take(10).iter().map(|r| r.offset).collect();
    assert_eq!(offsets, vec![0, 1, 3, 5, 6]);
}

#[test]
fn only_aborted_records_move_the_position_past_them() {
    let mut f = Fetcher::new(config(IsolationLevel::ReadCommitted, ResetPolicy::Earliest));
    assigned(&mut f, &[tp("t", 0)], 0);
    let actions = f.poll(0, &metadata(), MAX_WAIT_MS);
    let [(id, _, _)] = fetches(&actions)[..] else { panic!("{actions:?}") };
    let mut data = batch(0, &["aborted"], Some(7));
    data.extend(marker(1, ControlType::Abort, 7));
    f.on_response(id, 1, Ok(response("t", vec![partition(0, 0, data, 2, &[(7, 0)])])));
    assert!(f.take(10).is_empty());
    let state = f.partition(&tp("t", 0)).unwrap();
    assert_eq!((state.position, state.fetch_position), (Some(2), Some(2)));
}

#[test]
fn a_seek_discards_data_in_flight_and_buffered_for_that_partition() {
    let mut f = fetcher();
    assigned(&mut f, &[tp("t", 0), tp("u", 0)], 0);
    let actions = f.poll(0, &metadata(), MAX_WAIT_MS);
    let [(id, 1, _)] = fetches(&actions)[..] else { panic!("{actions:?}") };
    assert!(f.seek(&tp("t", 0), 100));
    let answer = FetchResponse::default().with_responses(vec![
        FetchableTopicResponse::default()
            .with_topic(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(vec![partition(0, 0, batch(0, &["stale"], None), 1, &[])]),
        FetchableTopicResponse::default()
            .with_topic(TopicName(StrBytes::from_static_str("u")))
            .with_partitions(vec![partition(0, 0, batch(0, &["fresh", "more"], None), 2, &[])]),
    ]);
    f.on_response(id, 1, Ok(answer));
    let state = f.partition(&tp("t", 0)).unwrap();
    assert_eq!((state.position, state.fetch_position), (Some(100), Some(100)));
    assert_eq!(values(&f.take(1)), vec![("u".into(), 0, "fresh".into())]);
    // A seek also drops what is buffered: the rest of u-0 is fetched again from the new offset.
    assert!(f.seek(&tp("u", 0), 0));
    assert!(f.take(10).is_empty());
    let actions = f.poll(2, &metadata(), MAX_WAIT_MS);
    assert_eq!(fetches(&actions)[0].2, vec![(tp("t", 0), 100), (tp("u", 0), 0)]);
    // An out-of-range answer for a partition sought meanwhile does not reset it either.
    let [(id, _, _)] = fetches(&actions)[..] else { panic!("{actions:?}") };
    assert!(f.seek(&tp("t", 0), 50));
    f.on_response(id, 3, Ok(response("t", vec![partition(0, OFFSET_OUT_OF_RANGE, vec![], -1, &[])])));
    assert!(f.pending_resets().is_empty());
    assert_eq!(f.partition(&tp("t", 0)).unwrap().position, Some(50));
}

#[test]
fn paused_partitions_are_neither_fetched_nor_handed_out() {
    let mut f = fetcher();
    assigned(&mut f, &[tp("t", 0), tp("u", 0)], 0);
    assert!(f.set_paused(&tp("t", 0), true));
    let actions = f.poll(0, &metadata(), MAX_WAIT_MS);
    let [(id, 1, ref partitions)] = fetches(&actions)[..] else { panic!("{actions:?}") };
    assert_eq!(partitions, &vec![(tp("u", 0), 0)]);
    f.on_response(id, 1, Ok(response("u", vec![partition(0, 0, batch(0, &["x"], None), 1, &[])])));
    // Paused after its records arrived: they stay buffered, not handed out, until it resumes.
    assert!(f.set_paused(&tp("u", 0), true));
    assert!(f.take(10).is_empty());
    assert!(!f.has_fetchable());
    assert!(fetches(&f.poll(2, &metadata(), MAX_WAIT_MS)).is_empty());
    assert!(f.set_paused(&tp("u", 0), false));
    assert_eq!(values(&f.take(10)), vec![("u".into(), 0, "x".into())]);
    assert!(!f.set_paused(&tp("nope", 0), true));
}

#[test]
fn reassignment_drops_what_was_fetched_for_partitions_given_up() {
    let mut f = fetcher();
    assigned(&mut f, &[tp("t", 0), tp("u", 0)], 0);
    let actions = f.poll(0, &metadata(), MAX_WAIT_MS);
    let [(id, _, _)] = fetches(&actions)[..] else { panic!("{actions:?}") };
    f.on_response(id, 1, Ok(response("u", vec![partition(0, 0, batch(0, &["x"], None), 1, &[])])));
    f.assign(&[tp("t", 0)]);
    assert!(f.take(10).is_empty());
    assert_eq!(f.partitions().keys().cloned().collect::<Vec<_>>(), vec![tp("t", 0)]);
    assert_eq!(f.missing_positions(), Vec::<TopicPartition>::new());
    f.assign(&[tp("t", 0), tp("t", 1)]);
    assert_eq!(f.missing_positions(), vec![tp("t", 1)]);
    f.set_committed_position(&tp("t", 1), 9, Some(2));
    let state = f.partition(&tp("t", 1)).unwrap();
    assert_eq!((state.position, state.fetch_position, state.leader_epoch), (Some(9), Some(9), Some(2)));
}

#[test]
fn a_fatal_partition_error_is_reported_once() {
    let mut f = fetcher();
    assigned(&mut f, &[tp("t", 0)], 0);
    let actions = f.poll(0, &metadata(), MAX_WAIT_MS);
    let [(id, _, _)] = fetches(&actions)[..] else { panic!("{actions:?}") };
    // TOPIC_AUTHORIZATION_FAILED is not retriable.
    let out = f.on_response(id, 1, Ok(response("t", vec![partition(0, 29, vec![], -1, &[])])));
    assert!(out.is_empty());
    assert_eq!(f.take_error().and_then(|e| e.code()), Some(29));
    assert!(f.take_error().is_none());
    // An answer to a request the fetcher does not know (answered already) changes nothing.
    assert!(f.on_response(id, 2, Ok(response("t", vec![partition(0, 29, vec![], -1, &[])]))).is_empty());
    assert!(f.take_error().is_none());
}
