//! ApiVersions: which APIs and versions this broker serves. (A request of a version newer than potok knows
//! is answered by the network layer with [`crate::protocol::versions::api_versions_fallback`].)

use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use crate::protocol::versions;

pub(super) fn handle(_request: ApiVersionsRequest, _version: i16) -> ApiVersionsResponse {
    versions::api_versions_response()
}
