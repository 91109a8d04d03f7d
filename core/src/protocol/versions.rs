//! The API versions potok serves, as ApiVersions advertises them.
//!
//! Each range is the intersection of what the `kafka-protocol` crate can decode and what potok implements;
//! Produce starts at v3 and Fetch at v4 (record batch v2 only), as in Apache Kafka 4.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};
use kafka_protocol::protocol::VersionRange;

/// The APIs the broker implements, with the lowest version it serves. Everything else is not advertised.
/// EndTxn and TxnOffsetCommit stop below version 5, which means transaction.version 2 (an epoch bump per
/// transaction, partitions added implicitly): potok's coordinator speaks transaction.version 1, which is what
/// clients use when the broker does not finalize the transaction.version feature.
const IMPLEMENTED: &[(ApiKey, i16)] = &[
    (ApiKey::Produce, 3),
    (ApiKey::Fetch, 4),
    (ApiKey::ListOffsets, 1),
    (ApiKey::Metadata, 0),
    (ApiKey::ApiVersions, 0),
    (ApiKey::CreateTopics, 2),
    (ApiKey::DeleteTopics, 1),
    (ApiKey::DeleteRecords, 0),
    (ApiKey::OffsetForLeaderEpoch, 2),
    (ApiKey::DescribeConfigs, 1),
    (ApiKey::AlterConfigs, 0),
    (ApiKey::CreatePartitions, 0),
    (ApiKey::IncrementalAlterConfigs, 0),
    (ApiKey::DescribeCluster, 0),
    (ApiKey::ElectLeaders, 0),
    (ApiKey::AlterPartitionReassignments, 0),
    (ApiKey::ListPartitionReassignments, 0),
    (ApiKey::DescribeQuorum, 0),
    (ApiKey::FindCoordinator, 0),
    (ApiKey::JoinGroup, 0),
    (ApiKey::SyncGroup, 0),
    (ApiKey::Heartbeat, 0),
    (ApiKey::LeaveGroup, 0),
    (ApiKey::OffsetCommit, 2),
    (ApiKey::OffsetFetch, 1),
    (ApiKey::ListGroups, 0),
    (ApiKey::DescribeGroups, 0),
    (ApiKey::DeleteGroups, 0),
    (ApiKey::OffsetDelete, 0),
    (ApiKey::InitProducerId, 0),
    (ApiKey::AddPartitionsToTxn, 0),
    (ApiKey::AddOffsetsToTxn, 0),
    (ApiKey::EndTxn, 0),
    (ApiKey::TxnOffsetCommit, 0),
    (ApiKey::WriteTxnMarkers, 1),
    (ApiKey::DescribeTransactions, 0),
    (ApiKey::ListTransactions, 0),
    (ApiKey::ConsumerGroupHeartbeat, 0),
    (ApiKey::ConsumerGroupDescribe, 0),
];

/// The versions the crate can decode for a request type. (`ApiKey::valid_versions` can run ahead of the
/// request schema: the crate knows OffsetFetch responses up to v10 but requests only up to v9.)
fn request_versions(api: ApiKey) -> VersionRange {
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::Message;
    match api {
        ApiKey::Produce => ProduceRequest::VERSIONS,
        ApiKey::Fetch => FetchRequest::VERSIONS,
        ApiKey::ListOffsets => ListOffsetsRequest::VERSIONS,
        ApiKey::Metadata => MetadataRequest::VERSIONS,
        ApiKey::OffsetCommit => OffsetCommitRequest::VERSIONS,
        ApiKey::OffsetFetch => OffsetFetchRequest::VERSIONS,
        ApiKey::FindCoordinator => FindCoordinatorRequest::VERSIONS,
        ApiKey::JoinGroup => JoinGroupRequest::VERSIONS,
        ApiKey::Heartbeat => HeartbeatRequest::VERSIONS,
        ApiKey::LeaveGroup => LeaveGroupRequest::VERSIONS,
        ApiKey::SyncGroup => SyncGroupRequest::VERSIONS,
        ApiKey::DescribeGroups => DescribeGroupsRequest::VERSIONS,
        ApiKey::ListGroups => ListGroupsRequest::VERSIONS,
        ApiKey::ApiVersions => ApiVersionsRequest::VERSIONS,
        ApiKey::CreateTopics => CreateTopicsRequest::VERSIONS,
        ApiKey::DeleteTopics => DeleteTopicsRequest::VERSIONS,
        ApiKey::DeleteRecords => DeleteRecordsRequest::VERSIONS,
        ApiKey::OffsetForLeaderEpoch => OffsetForLeaderEpochRequest::VERSIONS,
        ApiKey::DescribeConfigs => DescribeConfigsRequest::VERSIONS,
        ApiKey::AlterConfigs => AlterConfigsRequest::VERSIONS,
        ApiKey::CreatePartitions => CreatePartitionsRequest::VERSIONS,
        ApiKey::DeleteGroups => DeleteGroupsRequest::VERSIONS,
        ApiKey::IncrementalAlterConfigs => IncrementalAlterConfigsRequest::VERSIONS,
        ApiKey::OffsetDelete => OffsetDeleteRequest::VERSIONS,
        ApiKey::DescribeCluster => DescribeClusterRequest::VERSIONS,
        ApiKey::ElectLeaders => ElectLeadersRequest::VERSIONS,
        ApiKey::AlterPartitionReassignments => AlterPartitionReassignmentsRequest::VERSIONS,
        ApiKey::ListPartitionReassignments => ListPartitionReassignmentsRequest::VERSIONS,
        ApiKey::DescribeQuorum => DescribeQuorumRequest::VERSIONS,
        ApiKey::InitProducerId => InitProducerIdRequest::VERSIONS,
        ApiKey::AddPartitionsToTxn => AddPartitionsToTxnRequest::VERSIONS,
        ApiKey::AddOffsetsToTxn => AddOffsetsToTxnRequest::VERSIONS,
        ApiKey::EndTxn => EndTxnRequest::VERSIONS,
        ApiKey::TxnOffsetCommit => TxnOffsetCommitRequest::VERSIONS,
        ApiKey::WriteTxnMarkers => WriteTxnMarkersRequest::VERSIONS,
        ApiKey::DescribeTransactions => DescribeTransactionsRequest::VERSIONS,
        ApiKey::ListTransactions => ListTransactionsRequest::VERSIONS,
        ApiKey::ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest::VERSIONS,
        ApiKey::ConsumerGroupDescribe => ConsumerGroupDescribeRequest::VERSIONS,
        other => other.valid_versions(),
    }
}

/// The highest version potok serves where that is below what the crate can decode.
fn max_version(api: ApiKey) -> i16 {
    match api {
        ApiKey::EndTxn | ApiKey::TxnOffsetCommit => 4,
        _ => i16::MAX,
    }
}

/// The version range potok serves for `api`, or `None` if it does not implement it.
pub fn supported(api: ApiKey) -> Option<VersionRange> {
    let &(_, min) = IMPLEMENTED.iter().find(|(k, _)| *k == api)?;
    let (keys, request) = (api.valid_versions(), request_versions(api));
    let (min, max) = (keys.min.max(request.min).max(min), keys.max.min(request.max).min(max_version(api)));
    (min <= max).then_some(VersionRange { min, max })
}

/// The ApiVersions response body listing every supported API.
pub fn api_versions_response() -> ApiVersionsResponse {
    let mut keys: Vec<ApiVersion> = IMPLEMENTED
        .iter()
        .filter_map(|(api, _)| {
            supported(*api).map(|r| {
                ApiVersion::default().with_api_key(*api as i16).with_min_version(r.min).with_max_version(r.max)
            })
        })
        .collect();
    keys.sort_by_key(|k| k.api_key);
    ApiVersionsResponse::default().with_api_keys(keys)
}

/// What Kafka answers an ApiVersions request of a version it does not know: UNSUPPORTED_VERSION with the
/// supported ranges, encoded as version 0 so any client can read it and retry with a version it shares.
pub fn api_versions_fallback() -> ApiVersionsResponse {
    api_versions_response().with_error_code(kafka_protocol::error::ResponseError::UnsupportedVersion.code())
}
