/** What `Cluster.inspect()` returns: the controller's committed metadata and each broker's logs. */
export interface ClusterView {
  clusterId: string;
  controller: { id: number; state: NodeState; /** Offset of the last committed metadata record. */ metadataOffset: number };
  brokers: ClusterBrokerView[];
  /** Cut links, each as [lower id, higher id]. */
  cuts: [number, number][];
  topics: ClusterTopicView[];
}

/** `stopping`: in controlled shutdown; `stopped`: stopped cleanly; `killed`: crashed. */
export type NodeState = "running" | "stopping" | "stopped" | "killed";

export interface ClusterBrokerView {
  id: number;
  state: NodeState;
  /** Whether the controller has it registered, and fenced (it may not lead or be in an ISR). */
  registered: boolean;
  fenced: boolean;
  inControlledShutdown: boolean;
  brokerEpoch: number;
  /** The metadata offset this broker has applied (-1 while down). */
  metadataOffset: number;
}

export interface ClusterTopicView {
  name: string;
  id: string;
  internal: boolean;
  configs: Record<string, string>;
  partitions: ClusterPartitionView[];
}

export interface ClusterPartitionView {
  partition: number;
  /** -1 when no replica may lead (offline). */
  leader: number;
  leaderEpoch: number;
  partitionEpoch: number;
  replicas: number[];
  isr: number[];
  /** The leader's high watermark (-1 while the leader is down or there is none). */
  highWatermark: number;
  /** Each replica's log, in the order of `replicas` (null fields while its broker is down). */
  logs: ReplicaLogView[];
}

export interface ReplicaLogView {
  broker: number;
  logStartOffset: number | null;
  logEndOffset: number | null;
  /** The high watermark this replica knows (a follower learns it from its fetches). */
  highWatermark: number | null;
  leaderEpoch: number | null;
}
