//! DescribeQuorum on a broker that is the cluster's only controller: a quorum of one, this node, leading the
//! metadata log it keeps. (A cluster member forwards the request to the active controller, which answers
//! from the Raft quorum.)

use kafka_protocol::messages::describe_quorum_response::{Listener, Node, PartitionData, ReplicaState, TopicData};
use kafka_protocol::messages::{BrokerId, DescribeQuorumResponse, TopicName};

use super::{str_bytes, Broker};
use crate::controller::METADATA_TOPIC;

pub(super) fn handle(broker: &Broker, now_ms: i64) -> DescribeQuorumResponse {
    let end = broker.read().metadata.log_end_offset();
    let me = ReplicaState::default()
        .with_replica_id(BrokerId(broker.node_id()))
        .with_log_end_offset(end)
        .with_last_fetch_timestamp(now_ms)
        .with_last_caught_up_timestamp(now_ms);
    let listener = broker.advertised();
    DescribeQuorumResponse::default()
        .with_topics(vec![TopicData::default().with_topic_name(TopicName(str_bytes(METADATA_TOPIC))).with_partitions(
            vec![PartitionData::default()
                .with_partition_index(0)
                .with_leader_id(BrokerId(broker.node_id()))
                .with_leader_epoch(0)
                .with_high_watermark(end)
                .with_current_voters(vec![me])],
        )])
        .with_nodes(vec![Node::default().with_node_id(BrokerId(broker.node_id())).with_listeners(vec![
            Listener::default()
                .with_name(str_bytes(&listener.name))
                .with_host(str_bytes(&listener.host))
                .with_port(listener.port),
        ])])
}
