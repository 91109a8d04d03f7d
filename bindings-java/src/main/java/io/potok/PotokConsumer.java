package io.potok;

import io.potok.internal.ConsumerCallbacks;
import io.potok.internal.Configs;
import io.potok.internal.Handle;
import io.potok.internal.Native;
import io.potok.internal.Partitions;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.ConcurrentModificationException;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.consumer.OffsetCommitCallback;
import org.apache.kafka.clients.consumer.SubscriptionPattern;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.metrics.KafkaMetric;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.utils.Utils;

/**
 * Kafka's {@link Consumer} on potok's native engine, configured with Kafka's consumer keys ({@code
 * bootstrap.servers}, {@code group.id}, {@code auto.offset.reset}, {@code enable.auto.commit}, {@code
 * isolation.level}, {@code group.protocol}, ...), against potok or Apache Kafka. Group membership (the classic and
 * the KIP-848 protocols, Kafka's assignors), fetching, positions and commits run in the engine; keys and values
 * are deserialized here by Kafka {@link Deserializer}s.
 *
 * <p>As Kafka's, it is used from one thread at a time ({@link ConcurrentModificationException} otherwise), except
 * {@link #wakeup()}; rebalance listeners and commit callbacks run inside {@code poll} (and {@code commitSync},
 * {@code close}) on that thread. Not supported: {@link #subscribe(SubscriptionPattern)} (broker-side regular
 * expressions; {@link #subscribe(Pattern)} works), {@link #enforceRebalance()}, {@link #currentLag} (always
 * empty), metrics (an empty map) and client telemetry.
 */
public final class PotokConsumer<K, V> implements Consumer<K, V> {
    private static final long NO_CURRENT_THREAD = -1L;
    private static final long OFFSET_NONE = -1001;

    private final Handle handle;
    private final Deserializer<K> keyDeserializer;
    private final Deserializer<V> valueDeserializer;
    private final int maxPollRecords;
    private final Callbacks callbacks = new Callbacks();
    private final AtomicLong currentThread = new AtomicLong(NO_CURRENT_THREAD);
    private final AtomicInteger refcount = new AtomicInteger();

    public PotokConsumer(Properties config) {
        this(Configs.of(config), null, null);
    }

    public PotokConsumer(Properties config, Deserializer<K> keyDeserializer, Deserializer<V> valueDeserializer) {
        this(Configs.of(config), keyDeserializer, valueDeserializer);
    }

    public PotokConsumer(Map<String, Object> config) {
        this(config, null, null);
    }

    public PotokConsumer(Map<String, Object> config, Deserializer<K> keyDeserializer,
            Deserializer<V> valueDeserializer) {
        this.keyDeserializer = deserializer(config, ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, keyDeserializer, true);
        this.valueDeserializer =
                deserializer(config, ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, valueDeserializer, false);
        Object max = config.get(ConsumerConfig.MAX_POLL_RECORDS_CONFIG);
        this.maxPollRecords = max == null ? 500 : Integer.parseInt(Configs.text(max).trim());
        long h = Native.consumerNew(Configs.flat(config, List.of()), callbacks);
        handle = new Handle(h, Native::consumerDestroy, "consumer");
    }

    @SuppressWarnings("unchecked")
    private static <T> Deserializer<T> deserializer(Map<String, Object> config, String key, Deserializer<T> given,
            boolean isKey) {
        Deserializer<T> deserializer = given;
        if (deserializer == null) {
            Object named = config.get(key);
            if (named == null) {
                throw new org.apache.kafka.common.config.ConfigException(
                        "Missing required configuration \"" + key + "\" which has no default value.");
            }
            try {
                deserializer = named instanceof Class<?> c ? Utils.newInstance(c, Deserializer.class)
                        : Utils.newInstance(Configs.text(named), Deserializer.class);
            } catch (ClassNotFoundException e) {
                throw new org.apache.kafka.common.config.ConfigException(key, named, "Class not found: " + e.getMessage());
            }
            deserializer.configure(config, isKey);
        }
        return deserializer;
    }

    /** The native consumer's callbacks: the rebalance listener and commitAsync callbacks, on the polling thread. */
    private final class Callbacks implements ConsumerCallbacks {
        ConsumerRebalanceListener listener;
        final Map<Long, OffsetCommitCallback> commits = new HashMap<>();
        long nextCommit;
        RuntimeException listenerError;

        @Override
        public void onRebalance(int event, String[] topics, int[] partitions) {
            if (listener == null) return;
            List<TopicPartition> tps = topicPartitions(topics, partitions);
            try {
                switch (event) {
                    case 1 -> listener.onPartitionsAssigned(tps);
                    case 2 -> listener.onPartitionsRevoked(tps);
                    default -> listener.onPartitionsLost(tps);
                }
            } catch (RuntimeException e) {
                if (listenerError == null) listenerError = e;
            }
        }

        @Override
        public void onCommit(long token, String[] topics, int[] partitions, long[] offsets, String[] metadata,
                RuntimeException error) {
            OffsetCommitCallback callback = commits.remove(token);
            if (callback == null) return;
            Map<TopicPartition, OffsetAndMetadata> committed = new LinkedHashMap<>();
            for (int i = 0; i < topics.length; i++) {
                committed.put(new TopicPartition(topics[i], partitions[i]), new OffsetAndMetadata(offsets[i], metadata[i]));
            }
            callback.onComplete(committed, error);
        }

        void rethrow() {
            RuntimeException e = listenerError;
            listenerError = null;
            if (e == null) return;
            if (e instanceof KafkaException) throw e;
            throw new KafkaException("User rebalance callback throws an error", e);
        }
    }

    /** Kafka's light lock: a second thread using the consumer at once gets ConcurrentModificationException. */
    private void acquire() {
        long thread = Thread.currentThread().getId();
        if (thread != currentThread.get() && !currentThread.compareAndSet(NO_CURRENT_THREAD, thread)) {
            throw new ConcurrentModificationException("KafkaConsumer is not safe for multi-threaded access");
        }
        refcount.incrementAndGet();
    }

    private void release() {
        if (refcount.decrementAndGet() == 0) currentThread.set(NO_CURRENT_THREAD);
    }

    private <T> T locked(java.util.function.LongFunction<T> call) {
        acquire();
        try {
            return handle.call(call);
        } finally {
            release();
        }
    }

    private void lockedRun(java.util.function.LongConsumer call) {
        locked(h -> {
            call.accept(h);
            return null;
        });
    }

    private static long millis(Duration timeout) {
        if (timeout.isNegative()) throw new IllegalArgumentException("Timeout must not be negative");
        try {
            return timeout.toMillis();
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
        }
    }

    private static List<TopicPartition> topicPartitions(String[] topics, int[] partitions) {
        List<TopicPartition> out = new ArrayList<>(topics.length);
        for (int i = 0; i < topics.length; i++) out.add(new TopicPartition(topics[i], partitions[i]));
        return out;
    }

    /** Parallel arrays for a collection of partitions. */
    private record Tps(String[] topics, int[] partitions) {
        static Tps of(Collection<TopicPartition> tps) {
            String[] topics = new String[tps.size()];
            int[] partitions = new int[tps.size()];
            int i = 0;
            for (TopicPartition tp : tps) {
                topics[i] = tp.topic();
                partitions[i++] = tp.partition();
            }
            return new Tps(topics, partitions);
        }
    }

    private record Offsets(String[] topics, int[] partitions, long[] offsets, String[] metadata) {
        static Offsets of(Map<TopicPartition, OffsetAndMetadata> map) {
            int n = map.size(), i = 0;
            Offsets o = new Offsets(new String[n], new int[n], new long[n], new String[n]);
            for (Map.Entry<TopicPartition, OffsetAndMetadata> e : map.entrySet()) {
                o.topics[i] = e.getKey().topic();
                o.partitions[i] = e.getKey().partition();
                o.offsets[i] = e.getValue().offset();
                o.metadata[i++] = e.getValue().metadata();
            }
            return o;
        }
    }

    @Override
    public Set<TopicPartition> assignment() {
        Object[] list = locked(Native::consumerAssignment);
        return new LinkedHashSet<>(topicPartitions((String[]) list[0], (int[]) list[1]));
    }

    @Override
    public Set<String> subscription() {
        return new LinkedHashSet<>(List.of(locked(Native::consumerSubscription)));
    }

    @Override
    public void subscribe(Collection<String> topics) {
        subscribe(topics, null);
    }

    @Override
    public void subscribe(Collection<String> topics, ConsumerRebalanceListener listener) {
        for (String topic : topics) {
            if (topic == null || topic.isBlank()) {
                throw new IllegalArgumentException("Topic collection to subscribe to cannot contain null or empty topic");
            }
        }
        subscribeNative(topics.toArray(new String[0]), listener);
    }

    private void subscribeNative(String[] topics, ConsumerRebalanceListener listener) {
        acquire();
        try {
            callbacks.listener = listener;
            handle.run(h -> Native.consumerSubscribe(h, topics, true));
        } finally {
            release();
        }
    }

    @Override
    public void subscribe(Pattern pattern, ConsumerRebalanceListener listener) {
        if (pattern == null) throw new IllegalArgumentException("Topic pattern to subscribe to cannot be null");
        // Kafka matches the whole topic name against the pattern.
        subscribeNative(new String[] {"^(?:" + engineRegex(pattern) + ")$"}, listener);
    }

    /**
     * A Java pattern in the engine's regex syntax (Rust's regex crate, which reads most of Java's): {@code \Q...\E}
     * quoting (what {@link Pattern#quote} writes) becomes escaped text, and the flags CASE_INSENSITIVE, MULTILINE,
     * DOTALL and COMMENTS become inline flags. What Rust's regex lacks (look-around, back-references, possessive
     * quantifiers) the engine refuses with an IllegalArgumentException naming the pattern.
     */
    static String engineRegex(Pattern pattern) {
        StringBuilder out = new StringBuilder();
        int flags = pattern.flags();
        int known = Pattern.CASE_INSENSITIVE | Pattern.MULTILINE | Pattern.DOTALL | Pattern.COMMENTS;
        if ((flags & ~known) != 0) {
            throw new IllegalArgumentException("potok's consumer supports the pattern flags CASE_INSENSITIVE, "
                    + "MULTILINE, DOTALL and COMMENTS, not " + flags + " (of " + pattern + ")");
        }
        if (flags != 0) {
            out.append("(?");
            if ((flags & Pattern.CASE_INSENSITIVE) != 0) out.append('i');
            if ((flags & Pattern.MULTILINE) != 0) out.append('m');
            if ((flags & Pattern.DOTALL) != 0) out.append('s');
            if ((flags & Pattern.COMMENTS) != 0) out.append('x');
            out.append(')');
        }
        String text = pattern.pattern();
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c != '\\' || i + 1 >= text.length()) {
                out.append(c);
            } else if (text.charAt(i + 1) != 'Q') {
                out.append(c).append(text.charAt(++i));
            } else {
                int end = text.indexOf("\\E", i + 2);
                String quoted = text.substring(i + 2, end < 0 ? text.length() : end);
                for (char q : quoted.toCharArray()) {
                    if (q == ' ') {
                        out.append("\\x20"); // literal in COMMENTS mode too
                        continue;
                    }
                    if ("\\.+*?()|[]{}^$#&-~".indexOf(q) >= 0) out.append('\\');
                    out.append(q);
                }
                i = end < 0 ? text.length() : end + 1;
            }
        }
        return out.toString();
    }

    @Override
    public void subscribe(Pattern pattern) {
        subscribe(pattern, null);
    }

    @Override
    public void subscribe(SubscriptionPattern pattern, ConsumerRebalanceListener callback) {
        throw new UnsupportedOperationException("potok's consumer subscribes to java.util.regex.Pattern (client-side "
                + "matching); broker-side SubscriptionPattern (KIP-848 RE2J) is not supported");
    }

    @Override
    public void subscribe(SubscriptionPattern pattern) {
        subscribe(pattern, null);
    }

    @Override
    public void assign(Collection<TopicPartition> partitions) {
        Tps tps = Tps.of(partitions);
        lockedRun(h -> Native.consumerAssign(h, tps.topics, tps.partitions));
    }

    @Override
    public void unsubscribe() {
        acquire();
        try {
            handle.run(Native::consumerUnsubscribe);
            callbacks.rethrow();
        } finally {
            release();
        }
    }

    @Override
    public ConsumerRecords<K, V> poll(Duration timeout) {
        long ms = millis(timeout);
        acquire();
        try {
            Object[] packed;
            try {
                packed = handle.call(h -> Native.consumerPoll(h, ms, maxPollRecords));
            } finally {
                callbacks.rethrow();
            }
            return packed == null ? ConsumerRecords.empty() : records(packed);
        } finally {
            release();
        }
    }

    /** Unpacks records in core's layout ({@code potok::host::records}) and deserializes them. */
    private ConsumerRecords<K, V> records(Object[] packed) {
        String[] topics = (String[]) packed[0];
        int[] layout = (int[]) packed[1];
        long[] offsets = (long[]) packed[2];
        long[] timestamps = (long[]) packed[3];
        ByteBuffer data = ByteBuffer.wrap((byte[]) packed[4]);
        Map<TopicPartition, List<ConsumerRecord<K, V>>> byPartition = new LinkedHashMap<>();
        Map<TopicPartition, OffsetAndMetadata> next = new LinkedHashMap<>();
        int at = 0;
        for (int i = 0; i < offsets.length; i++) {
            String topic = topics[layout[at]];
            int partition = layout[at + 1];
            int keyLength = layout[at + 2], valueLength = layout[at + 3];
            TimestampType type = layout[at + 4] == 1 ? TimestampType.LOG_APPEND_TIME : TimestampType.CREATE_TIME;
            int leaderEpoch = layout[at + 5];
            int headerCount = layout[at + 6];
            at += 7;
            byte[] key = take(data, keyLength);
            byte[] value = take(data, valueLength);
            RecordHeaders headers = new RecordHeaders();
            for (int j = 0; j < headerCount; j++) {
                byte[] name = take(data, layout[at]);
                headers.add(new String(name, java.nio.charset.StandardCharsets.UTF_8), take(data, layout[at + 1]));
                at += 2;
            }
            Optional<Integer> epoch = leaderEpoch < 0 ? Optional.empty() : Optional.of(leaderEpoch);
            ConsumerRecord<K, V> record = new ConsumerRecord<>(topic, partition, offsets[i],
                    timestamps[i] < 0 ? ConsumerRecord.NO_TIMESTAMP : timestamps[i],
                    timestamps[i] < 0 ? TimestampType.NO_TIMESTAMP_TYPE : type, keyLength, valueLength,
                    keyDeserializer.deserialize(topic, headers, key), valueDeserializer.deserialize(topic, headers, value),
                    headers, epoch);
            TopicPartition tp = new TopicPartition(topic, partition);
            byPartition.computeIfAbsent(tp, t -> new ArrayList<>()).add(record);
            next.put(tp, new OffsetAndMetadata(offsets[i] + 1, epoch, ""));
        }
        return new ConsumerRecords<>(byPartition, next);
    }

    private static byte[] take(ByteBuffer data, int length) {
        if (length < 0) return null;
        byte[] out = new byte[length];
        data.get(out);
        return out;
    }

    @Override
    public void commitSync() {
        commit(null, null);
    }

    @Override
    public void commitSync(Duration timeout) {
        commit(null, timeout);
    }

    @Override
    public void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets) {
        commit(offsets, null);
    }

    @Override
    public void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets, Duration timeout) {
        commit(offsets, timeout);
    }

    private void commit(Map<TopicPartition, OffsetAndMetadata> offsets, Duration timeout) {
        long ms = timeout == null ? -1 : millis(timeout);
        Offsets o = Offsets.of(offsets == null ? Map.of() : offsets);
        if (offsets != null && offsets.isEmpty()) return;
        lockedRun(h -> Native.consumerCommitSync(h, o.topics, o.partitions, o.offsets, o.metadata, ms));
    }

    @Override
    public void commitAsync() {
        commitAsync(null);
    }

    @Override
    public void commitAsync(OffsetCommitCallback callback) {
        commitAsync(null, callback);
    }

    @Override
    public void commitAsync(Map<TopicPartition, OffsetAndMetadata> offsets, OffsetCommitCallback callback) {
        Offsets o = Offsets.of(offsets == null ? Map.of() : offsets);
        acquire();
        try {
            long token = ++callbacks.nextCommit;
            if (callback != null) callbacks.commits.put(token, callback);
            try {
                handle.run(h -> Native.consumerCommitAsync(h, o.topics, o.partitions, o.offsets, o.metadata, token));
            } catch (RuntimeException e) {
                callbacks.commits.remove(token);
                throw e;
            }
        } finally {
            release();
        }
    }

    @Override
    public void seek(TopicPartition partition, long offset) {
        if (offset < 0) throw new IllegalArgumentException("seek offset must not be a negative number");
        lockedRun(h -> Native.consumerSeek(h, partition.topic(), partition.partition(), offset));
    }

    @Override
    public void seek(TopicPartition partition, OffsetAndMetadata offsetAndMetadata) {
        seek(partition, offsetAndMetadata.offset());
    }

    @Override
    public void seekToBeginning(Collection<TopicPartition> partitions) {
        Tps tps = Tps.of(partitions);
        lockedRun(h -> Native.consumerPartitionsCall(h, 0, tps.topics, tps.partitions));
    }

    @Override
    public void seekToEnd(Collection<TopicPartition> partitions) {
        Tps tps = Tps.of(partitions);
        lockedRun(h -> Native.consumerPartitionsCall(h, 1, tps.topics, tps.partitions));
    }

    @Override
    public long position(TopicPartition partition) {
        return locked(h -> Native.consumerPosition(h, partition.topic(), partition.partition(), -1));
    }

    @Override
    public long position(TopicPartition partition, Duration timeout) {
        long ms = millis(timeout);
        return locked(h -> Native.consumerPosition(h, partition.topic(), partition.partition(), ms));
    }

    @Override
    public Map<TopicPartition, OffsetAndMetadata> committed(Set<TopicPartition> partitions) {
        return committed(partitions, null);
    }

    @Override
    public Map<TopicPartition, OffsetAndMetadata> committed(Set<TopicPartition> partitions, Duration timeout) {
        long ms = timeout == null ? -1 : millis(timeout);
        Tps tps = Tps.of(partitions);
        Object[] list = locked(h -> Native.consumerCommitted(h, tps.topics, tps.partitions, ms));
        long[] offsets = (long[]) list[2];
        String[] metadata = (String[]) list[3];
        int[] epochs = (int[]) list[4];
        Map<TopicPartition, OffsetAndMetadata> out = new HashMap<>();
        for (int i = 0; i < offsets.length; i++) {
            TopicPartition tp = new TopicPartition(tps.topics[i], tps.partitions[i]);
            Optional<Integer> epoch = epochs[i] < 0 ? Optional.empty() : Optional.of(epochs[i]);
            out.put(tp, offsets[i] == OFFSET_NONE ? null : new OffsetAndMetadata(offsets[i], epoch, metadata[i]));
        }
        return out;
    }

    @Override
    public List<PartitionInfo> partitionsFor(String topic) {
        return partitionsFor(topic, -1);
    }

    @Override
    public List<PartitionInfo> partitionsFor(String topic, Duration timeout) {
        return partitionsFor(topic, millis(timeout));
    }

    private List<PartitionInfo> partitionsFor(String topic, long ms) {
        return Partitions.unpack(topic, locked(h -> Native.consumerPartitionsFor(h, topic, ms)));
    }

    @Override
    public Map<String, List<PartitionInfo>> listTopics() {
        return listTopics(-1);
    }

    @Override
    public Map<String, List<PartitionInfo>> listTopics(Duration timeout) {
        return listTopics(millis(timeout));
    }

    private Map<String, List<PartitionInfo>> listTopics(long ms) {
        Map<String, List<PartitionInfo>> out = new LinkedHashMap<>();
        for (String topic : locked(h -> Native.consumerListTopics(h, ms))) out.put(topic, partitionsFor(topic, ms));
        return out;
    }

    @Override
    public Set<TopicPartition> paused() {
        Object[] list = locked(Native::consumerPaused);
        return new LinkedHashSet<>(topicPartitions((String[]) list[0], (int[]) list[1]));
    }

    @Override
    public void pause(Collection<TopicPartition> partitions) {
        Tps tps = Tps.of(partitions);
        lockedRun(h -> Native.consumerPartitionsCall(h, 2, tps.topics, tps.partitions));
    }

    @Override
    public void resume(Collection<TopicPartition> partitions) {
        Tps tps = Tps.of(partitions);
        lockedRun(h -> Native.consumerPartitionsCall(h, 3, tps.topics, tps.partitions));
    }

    @Override
    public Map<TopicPartition, OffsetAndTimestamp> offsetsForTimes(Map<TopicPartition, Long> timestamps) {
        return offsetsForTimes(timestamps, null);
    }

    @Override
    public Map<TopicPartition, OffsetAndTimestamp> offsetsForTimes(Map<TopicPartition, Long> timestamps,
            Duration timeout) {
        long ms = timeout == null ? -1 : millis(timeout);
        Tps tps = Tps.of(timestamps.keySet());
        long[] query = new long[tps.topics.length];
        for (int i = 0; i < query.length; i++) {
            query[i] = timestamps.get(new TopicPartition(tps.topics[i], tps.partitions[i]));
            if (query[i] < 0) throw new IllegalArgumentException("The target time for partition "
                    + tps.topics[i] + "-" + tps.partitions[i] + " is " + query[i] + ". The target time cannot be negative.");
        }
        Object[] list = locked(h -> Native.consumerListOffsets(h, 2, tps.topics, tps.partitions, query, ms));
        long[] offsets = (long[]) list[2];
        int[] epochs = (int[]) list[4];
        long[] found = (long[]) list[5];
        Map<TopicPartition, OffsetAndTimestamp> out = new HashMap<>();
        for (int i = 0; i < offsets.length; i++) {
            TopicPartition tp = new TopicPartition(tps.topics[i], tps.partitions[i]);
            Optional<Integer> epoch = epochs[i] < 0 ? Optional.empty() : Optional.of(epochs[i]);
            out.put(tp, offsets[i] < 0 ? null : new OffsetAndTimestamp(offsets[i], found[i], epoch));
        }
        return out;
    }

    @Override
    public Map<TopicPartition, Long> beginningOffsets(Collection<TopicPartition> partitions) {
        return listOffsets(0, partitions, null);
    }

    @Override
    public Map<TopicPartition, Long> beginningOffsets(Collection<TopicPartition> partitions, Duration timeout) {
        return listOffsets(0, partitions, timeout);
    }

    @Override
    public Map<TopicPartition, Long> endOffsets(Collection<TopicPartition> partitions) {
        return listOffsets(1, partitions, null);
    }

    @Override
    public Map<TopicPartition, Long> endOffsets(Collection<TopicPartition> partitions, Duration timeout) {
        return listOffsets(1, partitions, timeout);
    }

    private Map<TopicPartition, Long> listOffsets(int what, Collection<TopicPartition> partitions, Duration timeout) {
        long ms = timeout == null ? -1 : millis(timeout);
        Tps tps = Tps.of(partitions);
        Object[] list = locked(h -> Native.consumerListOffsets(h, what, tps.topics, tps.partitions, null, ms));
        long[] offsets = (long[]) list[2];
        Map<TopicPartition, Long> out = new HashMap<>();
        for (int i = 0; i < offsets.length; i++) {
            out.put(new TopicPartition(tps.topics[i], tps.partitions[i]), offsets[i]);
        }
        return out;
    }

    /** Always empty: potok's consumer does not track the lag from fetch responses. */
    @Override
    public OptionalLong currentLag(TopicPartition topicPartition) {
        return OptionalLong.empty();
    }

    @Override
    public ConsumerGroupMetadata groupMetadata() {
        Object[] m = locked(Native::consumerGroupMetadata);
        return new ConsumerGroupMetadata((String) m[0], (Integer) m[1], (String) m[2], Optional.ofNullable((String) m[3]));
    }

    @Override
    public void enforceRebalance() {
        throw new UnsupportedOperationException("enforceRebalance is not supported by potok's consumer");
    }

    @Override
    public void enforceRebalance(String reason) {
        enforceRebalance();
    }

    @Override
    public Uuid clientInstanceId(Duration timeout) {
        throw new IllegalStateException("Telemetry is not enabled. Set config `enable.metrics.push` to `true`.");
    }

    @Override
    public Map<MetricName, ? extends Metric> metrics() {
        return Map.of();
    }

    @Override
    public void registerMetricForSubscription(KafkaMetric metric) {}

    @Override
    public void unregisterMetricFromSubscription(KafkaMetric metric) {}

    @Override
    public void close() {
        closeWithin(Duration.ofSeconds(30));
    }

    /** @deprecated as Kafka's: use {@link #close(CloseOptions)}. */
    @Deprecated
    @Override
    public void close(Duration timeout) {
        closeWithin(timeout);
    }

    private void closeWithin(Duration timeout) {
        long ms = millis(timeout);
        if (handle.isDestroyed()) return;
        acquire();
        try {
            try {
                handle.run(h -> Native.consumerClose(h, ms));
                callbacks.rethrow();
            } finally {
                handle.destroy();
                keyDeserializer.close();
                valueDeserializer.close();
            }
        } finally {
            release();
        }
    }

    @Override
    public void close(CloseOptions option) {
        closeWithin(option.timeout().orElse(Duration.ofSeconds(30)));
    }

    /** Interrupts a blocking call on another thread: it throws {@link org.apache.kafka.common.errors.WakeupException}. */
    @Override
    public void wakeup() {
        if (!handle.isDestroyed()) handle.run(Native::consumerWakeup);
    }
}
