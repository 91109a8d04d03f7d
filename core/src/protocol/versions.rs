//! The API versions potok serves, as ApiVersions advertises them.
//!
//! Each range is the intersection of what the `kafka-protocol` crate can decode and what potok implements;
//! Produce starts at v3 and Fetch at v4 (record batch v2 only), as in Apache Kafka 4.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};
use kafka_protocol::protocol::VersionRange;

/// The APIs the broker implements, with the lowest version it serves. Everything else is not advertised.
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
];

/// The version range potok serves for `api`, or `None` if it does not implement it.
pub fn supported(api: ApiKey) -> Option<VersionRange> {
    let &(_, min) = IMPLEMENTED.iter().find(|(k, _)| *k == api)?;
    let range = api.valid_versions();
    (range.min.max(min) <= range.max).then_some(VersionRange { min: range.min.max(min), max: range.max })
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
