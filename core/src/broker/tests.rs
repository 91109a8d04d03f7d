//! The broker driven directly, without a network: requests in, outcomes out.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    ApiKey, DeleteGroupsRequest, GroupId, OffsetCommitRequest, OffsetFetchRequest, RequestHeader, TopicName,
};

use super::*;
use crate::storage::MemoryBackend;

const NOW: i64 = 1_700_000_000_000;

fn broker(backend: &MemoryBackend) -> Broker {
    let listener = Listener { name: "PLAINTEXT".into(), host: "127.0.0.1".into(), port: 9092 };
    // One offsets partition keeps the in-memory files small.
    let config = BrokerConfig { offsets_topic_num_partitions: 1, ..BrokerConfig::default() };
    Broker::open(config, Arc::new(backend.clone()), Path::new("/logs"), listener, 7, NOW).unwrap()
}

fn request(api_key: ApiKey, version: i16, body: RequestKind) -> Request {
    let header = RequestHeader::default().with_request_api_key(api_key as i16).with_request_api_version(version);
    Request { api_key, header, body }
}

fn respond(broker: &Broker, request: Request) -> ResponseKind {
    match broker.handle(request, &RequestContext::default(), NOW) {
        Outcome::Respond(r) => r,
        other => panic!("expected an answer, got {other:?}"),
    }
}

fn commit(broker: &Broker, group: &str, offset: i64) -> i16 {
    let partition = OffsetCommitRequestPartition::default().with_partition_index(0).with_committed_offset(offset);
    let topic =
        OffsetCommitRequestTopic::default().with_name(TopicName(str_bytes("t"))).with_partitions(vec![partition]);
    let body = OffsetCommitRequest::default()
        .with_group_id(GroupId(str_bytes(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![topic]);
    match respond(broker, request(ApiKey::OffsetCommit, 8, RequestKind::OffsetCommit(body))) {
        ResponseKind::OffsetCommit(r) => r.topics[0].partitions[0].error_code,
        other => panic!("{other:?}"),
    }
}

fn committed(broker: &Broker, group: &str) -> i64 {
    let topic = OffsetFetchRequestTopic::default().with_name(TopicName(str_bytes("t"))).with_partition_indexes(vec![0]);
    let body = OffsetFetchRequest::default().with_group_id(GroupId(str_bytes(group))).with_topics(Some(vec![topic]));
    match respond(broker, request(ApiKey::OffsetFetch, 7, RequestKind::OffsetFetch(body))) {
        ResponseKind::OffsetFetch(r) => r.topics[0].partitions[0].committed_offset,
        other => panic!("{other:?}"),
    }
}

/// An offset commit whose record cannot be stored changes nothing, and the client hears why; nor does a
/// group deletion that cannot be stored, and both work once the disk has room again.
#[test]
fn group_changes_apply_only_after_their_records_are_stored() {
    let backend = MemoryBackend::new();
    let broker = broker(&backend);
    let image = broker.metadata();
    assert!(image.topics.is_empty());
    broker.create_topic("t", 1, Default::default(), NOW).unwrap();
    assert_eq!(commit(&broker, "g", 5), 0);
    assert_eq!(committed(&broker, "g"), 5);

    backend.set_full(true);
    assert_eq!(
        commit(&broker, "g", 9),
        ResponseError::NotCoordinator.code(),
        "a storage failure moves the coordinator"
    );
    assert_eq!(committed(&broker, "g"), 5, "the failed commit left nothing behind");
    let delete = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(str_bytes("g"))]);
    match respond(&broker, request(ApiKey::DeleteGroups, 2, RequestKind::DeleteGroups(delete.clone()))) {
        ResponseKind::DeleteGroups(r) => assert_eq!(r.results[0].error_code, ResponseError::NotCoordinator.code()),
        other => panic!("{other:?}"),
    }
    assert_eq!(committed(&broker, "g"), 5, "the group and its offsets are still there");

    backend.set_full(false);
    assert_eq!(commit(&broker, "g", 9), 0);
    assert_eq!(committed(&broker, "g"), 9);
    match respond(&broker, request(ApiKey::DeleteGroups, 2, RequestKind::DeleteGroups(delete))) {
        ResponseKind::DeleteGroups(r) => assert_eq!(r.results[0].error_code, 0),
        other => panic!("{other:?}"),
    }
    assert_eq!(committed(&broker, "g"), -1);
    // What was stored is what a restart finds.
    drop(broker);
    let broker = self::broker(&backend);
    assert_eq!(committed(&broker, "g"), -1);
}
