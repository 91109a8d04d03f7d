//! DescribeCluster: the cluster id, the controller, and the brokers with their endpoints.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::{str_bytes, Broker, AUTHORIZED_OPERATIONS_OMITTED, CLUSTER_AUTHORIZED_OPERATIONS};

pub(super) fn handle(broker: &Broker, request: DescribeClusterRequest, version: i16) -> DescribeClusterResponse {
    let image = broker.metadata();
    let listener = &broker.advertised().name;
    // Fenced brokers are listed only when asked for (version 2+), as Kafka lists them.
    let brokers = image
        .brokers
        .values()
        .filter(|b| !b.fenced || (version >= 2 && request.include_fenced_brokers))
        .filter_map(|b| {
            let e = b.endpoint(listener).or_else(|| b.endpoints.first())?;
            Some(
                DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(b.id))
                    .with_host(str_bytes(&e.host))
                    .with_port(i32::from(e.port))
                    .with_rack(b.rack.as_deref().map(str_bytes))
                    .with_is_fenced(b.fenced),
            )
        })
        .collect();
    DescribeClusterResponse::default()
        .with_endpoint_type(if version >= 1 { request.endpoint_type } else { 1 })
        .with_cluster_id(str_bytes(broker.cluster_id()))
        .with_controller_id(BrokerId(broker.controller_id()))
        .with_brokers(brokers)
        .with_cluster_authorized_operations(if request.include_cluster_authorized_operations {
            CLUSTER_AUTHORIZED_OPERATIONS
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        })
}
