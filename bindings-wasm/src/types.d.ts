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
