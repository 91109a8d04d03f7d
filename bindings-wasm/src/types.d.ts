/** What `Broker.inspect()` returns (offsets are numbers: safe integers). */
export interface Inspection {
  clusterId: string;
  nodeId: number;
  topics: TopicView[];
  groups: GroupView[];
  transactions: TransactionView[];
}

export interface TopicView {
  name: string;
  /** Kafka's text form of the topic id. */
  id: string;
  internal: boolean;
  /** Configs set on the topic (defaults are not listed). */
  configs: Record<string, string>;
  partitions: PartitionView[];
}

export interface PartitionView {
  partition: number;
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
  logStartOffset: number;
  highWatermark: number;
  lastStableOffset: number;
  logEndOffset: number;
  sizeBytes: number;
  segmentBytes: number;
  indexIntervalBytes: number;
  segments: SegmentView[];
}

export interface SegmentView {
  baseOffset: number;
  nextOffset: number;
  /** The `.log` file's name, e.g. `00000000000000000000.log`. */
  file: string;
  sizeBytes: number;
  batchCount: number;
  recordCount: number;
  /** The sparse `.index` (at most `indexEntriesPerSegment` entries; `indexEntries` counts them all). */
  index: { offset: number; position: number }[];
  indexEntries: number;
  /** The `.timeindex`. */
  timeIndex: { timestamp: number; offset: number }[];
  timeIndexEntries: number;
  /** At most `batchesPerSegment` batches; `batchCount` counts them all. */
  batches: BatchView[];
}

export interface BatchView {
  /** Where the batch starts in its segment's `.log`. */
  position: number;
  sizeBytes: number;
  baseOffset: number;
  lastOffset: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  compression: "none" | "gzip" | "snappy" | "lz4" | "zstd" | "unknown";
  timestampType: "CreateTime" | "LogAppendTime";
  transactional: boolean;
  control: boolean;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

export interface GroupView {
  groupId: string;
  type: "classic" | "consumer";
  state: string;
  protocolType: string | null;
  protocol: string | null;
  generation: number;
  leader: string | null;
  members: {
    memberId: string;
    groupInstanceId: string | null;
    clientId: string;
    clientHost: string;
    assignment: { topic: string; partition: number }[];
  }[];
  offsets: {
    topic: string;
    partition: number;
    offset: number;
    metadata: string;
    commitTimestamp: number;
    highWatermark: number | null;
    /** High watermark minus the committed offset. */
    lag: number | null;
  }[];
}

export interface TransactionView {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
  state: string;
  timeoutMs: number;
  startMs: number;
  partitions: { topic: string; partition: number }[];
}

/** One of Kafka's fields in a segment's bytes: `bytes.subarray(start, end)`. */
export interface Field {
  name: string;
  start: number;
  end: number;
  /** The decoded value; null for a null or non-UTF-8 key/value. */
  value: number | string | null;
}

/** What `Broker.segmentBytes()` returns. */
export interface AnnotatedSegment {
  topic: string;
  partition: number;
  baseOffset: number;
  sizeBytes: number;
  /** Whether `bytes` stops before the segment's end (at a batch boundary). */
  truncated: boolean;
  bytes: Uint8Array;
  batches: {
    start: number;
    end: number;
    header: BatchView;
    /** The 61-byte header's fields (and, for a compressed batch, one `records` field). */
    fields: Field[];
    /** An uncompressed batch's records. */
    records: { offset: number; start: number; end: number; fields: Field[] }[];
    error: string | null;
  }[];
}

/** The errors potok rejects with. */
export interface PotokError extends Error {
  name: "PotokError";
  /** Kafka's error name, e.g. `INVALID_CONFIG`, `INVALID_REQUEST`, or the client's own such as `ILLEGAL_STATE`. */
  code: string;
  /** Kafka's numeric error code, null when Kafka has none. */
  errorCode: number | null;
  kind: string;
  retriable: boolean;
  /** The config key, for config errors. */
  key: string | null;
}

/** A partition of a topic. */
export interface TopicPartition {
  topic: string;
  partition: number;
}

/** Keys, values and header values: a string (sent as UTF-8), bytes, or null. */
export type Bytes = string | Uint8Array | null;

/** What `Producer.send` takes. */
export interface ProducerRecord {
  topic: string;
  key?: Bytes;
  value: Bytes;
  /** `{name: value}`, or a list that keeps duplicate names. */
  headers?: Record<string, Bytes> | { key: string; value: Bytes }[];
  /** Chosen by the default partitioner (murmur2 of the key, sticky for keyless records) when absent. */
  partition?: number;
  /** Milliseconds since the epoch; `Date.now()` when absent. */
  timestamp?: number;
}

/** Where a record was written. `offset` is -1 with `acks=0`. */
export interface RecordMetadata {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
}

/** A record a consumer's poll returns. */
export interface ConsumerRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  timestampType: "CreateTime" | "LogAppendTime";
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: { key: string; value: Uint8Array | null }[];
  leaderEpoch: number | null;
}

/** An offset to commit. */
export interface OffsetToCommit extends TopicPartition {
  offset: number;
  metadata?: string;
}

/** A committed offset (the next offset to read). */
export interface CommittedOffset extends TopicPartition {
  offset: number;
  leaderEpoch: number | null;
  metadata: string;
}

/** A topic to create: -1 or absent counts take the broker's defaults. */
export interface NewTopic {
  name: string;
  numPartitions?: number;
  replicationFactor?: number;
  configs?: Record<string, string | number | boolean>;
}

export interface TopicDescription {
  name: string;
  topicId: string;
  internal: boolean;
  partitions: { partition: number; leader: number; leaderEpoch: number; replicas: number[]; isr: number[] }[];
}

export interface ConfigResource {
  type: "topic" | "broker" | "group";
  name: string;
}

export interface ConfigDescription extends ConfigResource {
  configs: {
    name: string;
    value: string | null;
    /** Kafka's `ConfigSource`: `DYNAMIC_TOPIC_CONFIG`, `STATIC_BROKER_CONFIG`, `DEFAULT_CONFIG`, ... */
    source: string;
    isDefault: boolean;
    readOnly: boolean;
    sensitive: boolean;
  }[];
}

/** An incremental config change (IncrementalAlterConfigs): values to set and keys to delete (back to default). */
export interface ConfigChange extends ConfigResource {
  set?: Record<string, string | number>;
  delete?: string[];
}

export interface GroupListing {
  groupId: string;
  protocolType: string;
  state: string;
  type: string;
}

export interface GroupDescription {
  groupId: string;
  state: string;
  protocolType: string;
  protocol: string;
  members: {
    memberId: string;
    groupInstanceId: string | null;
    clientId: string;
    host: string;
    assignment: TopicPartition[];
  }[];
}

/** A ListOffsets query: `spec` is `earliest`, `latest`, `maxTimestamp` or a timestamp (ms). */
export interface OffsetQuery extends TopicPartition {
  spec: "earliest" | "latest" | "maxTimestamp" | number;
}

export interface ListedOffset extends TopicPartition {
  offset: number;
  timestamp: number;
  leaderEpoch: number | null;
}

/** A change of a subscribed consumer's assignment (`consumer.rebalances()`). */
export type RebalanceEvent =
  | { type: "assigned"; partitions: TopicPartition[]; added: TopicPartition[] }
  | { type: "revoked"; partitions: TopicPartition[] }
  | { type: "lost"; partitions: TopicPartition[] };

/** A group member's identity (`consumer.groupMetadata()`), for `sendOffsetsToTransaction`. */
export interface ConsumerGroupMetadata {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
}
