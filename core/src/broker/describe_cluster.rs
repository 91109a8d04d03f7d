//! DescribeCluster: the cluster id, the controller, and the brokers with their endpoints — or, on a controller
//! listener (what `--bootstrap-controller` reaches), the controllers with their controller endpoints and the
//! quorum's leader, as Kafka's controllers answer it.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::{str_bytes, Broker, AUTHORIZED_OPERATIONS_OMITTED, CLUSTER_AUTHORIZED_OPERATIONS};

/// Kafka's endpoint types: brokers (1) and controllers (2).
const BROKER_ENDPOINTS: i8 = 1;
const CONTROLLER_ENDPOINTS: i8 = 2;

pub(super) fn handle(
    broker: &Broker,
    request: DescribeClusterRequest,
    version: i16,
    controller_listener: bool,
) -> DescribeClusterResponse {
    let asked = if version >= 1 { request.endpoint_type } else { BROKER_ENDPOINTS };
    let served = if controller_listener { CONTROLLER_ENDPOINTS } else { BROKER_ENDPOINTS };
    let response = DescribeClusterResponse::default()
        .with_endpoint_type(asked)
        .with_cluster_id(str_bytes(broker.cluster_id()))
        .with_cluster_authorized_operations(if request.include_cluster_authorized_operations {
            CLUSTER_AUTHORIZED_OPERATIONS
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        });
    if asked != served {
        let error = ResponseError::MismatchedEndpointType;
        let message = if served == CONTROLLER_ENDPOINTS {
            "The request was sent to a controller endpoint but asked for brokers."
        } else {
            "The request was sent to a broker endpoint but asked for controllers."
        };
        return response.with_error_code(error.code()).with_error_message(Some(str_bytes(message)));
    }
    if served == CONTROLLER_ENDPOINTS {
        // The voters at their controller listeners, and the one leading the quorum (-1 during an election).
        let controllers = broker
            .config()
            .controller_quorum_voters
            .iter()
            .map(|v| {
                DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(v.id))
                    .with_host(str_bytes(&v.host))
                    .with_port(i32::from(v.port))
            })
            .collect();
        return response.with_controller_id(BrokerId(broker.quorum_leader().unwrap_or(-1))).with_brokers(controllers);
    }
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
    response.with_controller_id(BrokerId(broker.controller_id())).with_brokers(brokers)
}
