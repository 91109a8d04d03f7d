package io.potok.internal;

/**
 * The native methods of potok's JNI glue (bindings-c/src/jni), each one call of the C ABI declared in
 * include/potok.h. Handles are the C ABI's pointers; {@link Handle} guarantees none is used during or after its
 * destroy call. Failures are thrown as the exceptions {@link Errors#create} builds. Config is a String[] of
 * alternating Kafka keys and values. Timeouts are in milliseconds, negative for the call's default.
 */
public final class Native {
    static {
        NativeLibrary.load();
    }

    private Native() {}

    /** Loads the library (and so checks it is there). */
    public static void init() {}

    public static native long brokerNew(String[] config);
    public static native void brokerStart(long broker);
    public static native void brokerStop(long broker);
    public static native boolean brokerIsRunning(long broker);
    public static native String brokerBootstrapServers(long broker);
    public static native String brokerLogDir(long broker);
    public static native void brokerDestroy(long broker);
    /** {@code http://host:port}, or null when the broker serves no schema registry. */
    public static native String brokerSchemaRegistryUrl(long broker);

    /** {@code schema} may be null (with {@code use.latest.version}); config is Confluent's serializer keys. */
    public static native long registrySerializerNew(String url, String schemaType, String schema, boolean isKey,
            String[] config);
    /** The value as JSON text in, the Confluent wire format out. */
    public static native byte[] registrySerializerSerialize(long serializer, String topic, String json);
    public static native void registrySerializerDestroy(long serializer);
    public static native long registryDeserializerNew(String url, String schemaType, boolean isKey);
    /** The Confluent wire format in, the value as JSON text out. */
    public static native String registryDeserializerDeserialize(long deserializer, byte[] data);
    public static native void registryDeserializerDestroy(long deserializer);

    public static native long clusterStart(int brokers, int controllers, String[] config);
    public static native String clusterBootstrapServers(long cluster);
    /** The running node ids, ascending. */
    public static native int[] clusterRunning(long cluster);
    public static native String clusterLogDir(long cluster, int id);
    public static native void clusterStopBroker(long cluster, int id);
    public static native void clusterKillBroker(long cluster, int id);
    public static native void clusterStartBroker(long cluster, int id);
    public static native void clusterStop(long cluster);
    public static native void clusterDestroy(long cluster);
    /** Broker {@code id}'s registry URL, or with 0 every running broker's, comma-separated; null when none. */
    public static native String clusterSchemaRegistryUrl(long cluster, int id);

    public static native long adminNew(String[] config);
    public static native void adminCreateTopic(long admin, String name, int partitions, short replicationFactor,
            String[] configs, long timeoutMs);
    public static native void adminDeleteTopic(long admin, String name, long timeoutMs);
    /** Packed partitions, see {@link Partitions#unpack}. */
    public static native int[] adminDescribeTopic(long admin, String name, long timeoutMs);
    public static native String[] adminListTopics(long admin, boolean includeInternal, long timeoutMs);
    public static native void adminDestroy(long admin);

    public static native long producerNew(String[] config);
    public static native void producerSend(long producer, String topic, int partition, byte[] key, byte[] value,
            long timestamp, String[] headerKeys, byte[][] headerValues, long token);
    /** {long[] tokens, int[] partitions, long[] offsets, long[] timestamps, RuntimeException[] errors} or null. */
    public static native Object[] producerPoll(long producer, long timeoutMs);
    public static native void producerFlush(long producer, long timeoutMs);
    public static native int[] producerPartitionsFor(long producer, String topic);
    public static native void producerClose(long producer, long timeoutMs);
    public static native void producerDestroy(long producer);
    public static native void producerInitTransactions(long producer, long timeoutMs);
    public static native void producerBeginTransaction(long producer);
    public static native void producerCommitTransaction(long producer, long timeoutMs);
    public static native void producerAbortTransaction(long producer, long timeoutMs);
    public static native void producerSendOffsetsToTransaction(long producer, String[] topics, int[] partitions,
            long[] offsets, String[] metadata, String groupId, int generationId, String memberId,
            String groupInstanceId, long timeoutMs);

    public static native long consumerNew(String[] config, ConsumerCallbacks callbacks);
    public static native void consumerSubscribe(long consumer, String[] topics, boolean withListener);
    public static native void consumerUnsubscribe(long consumer);
    public static native void consumerAssign(long consumer, String[] topics, int[] partitions);
    /** Partition lists come back as {String[] topics, int[] partitions, long[] offsets, String[] metadata,
     * int[] leaderEpochs, long[] timestamps}. */
    public static native Object[] consumerAssignment(long consumer);
    public static native Object[] consumerPaused(long consumer);
    public static native String[] consumerSubscription(long consumer);
    /** {String[] topics, int[] layout, long[] offsets, long[] timestamps, byte[] data} or null. */
    public static native Object[] consumerPoll(long consumer, long timeoutMs, int maxRecords);
    public static native void consumerCommitSync(long consumer, String[] topics, int[] partitions, long[] offsets,
            String[] metadata, long timeoutMs);
    public static native void consumerCommitAsync(long consumer, String[] topics, int[] partitions, long[] offsets,
            String[] metadata, long token);
    public static native Object[] consumerCommitted(long consumer, String[] topics, int[] partitions, long timeoutMs);
    public static native long consumerPosition(long consumer, String topic, int partition, long timeoutMs);
    public static native void consumerSeek(long consumer, String topic, int partition, long offset);
    /** {@code what}: 0 seek to beginning, 1 seek to end, 2 pause, 3 resume. */
    public static native void consumerPartitionsCall(long consumer, int what, String[] topics, int[] partitions);
    /** {@code what}: 0 beginning offsets, 1 end offsets, 2 offsets for times (of {@code timestamps}). */
    public static native Object[] consumerListOffsets(long consumer, int what, String[] topics, int[] partitions,
            long[] timestamps, long timeoutMs);
    /** {groupId, Integer generationId, memberId, groupInstanceId}. */
    public static native Object[] consumerGroupMetadata(long consumer);
    public static native int[] consumerPartitionsFor(long consumer, String topic, long timeoutMs);
    public static native String[] consumerListTopics(long consumer, long timeoutMs);
    public static native void consumerWakeup(long consumer);
    public static native void consumerClose(long consumer, long timeoutMs);
    public static native void consumerDestroy(long consumer);
}
