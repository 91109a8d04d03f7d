package io.potok;

import io.potok.internal.Configs;
import io.potok.internal.Handle;
import io.potok.internal.Native;
import io.potok.internal.Partitions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.errors.ApiException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.metrics.KafkaMetric;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.utils.Utils;

/**
 * Kafka's {@link Producer} on potok's native engine, configured with Kafka's producer keys ({@code
 * bootstrap.servers}, {@code acks}, {@code linger.ms}, {@code enable.idempotence}, {@code transactional.id}, ...),
 * against potok or Apache Kafka. Batching, partitioning (murmur2 as Kafka's), retries, idempotence and
 * transactions run in the engine; keys and values are serialized here by Kafka {@link Serializer}s (given, or
 * named by {@code key.serializer}/{@code value.serializer}).
 *
 * <p>As in Kafka, {@code send} returns a future and calls the callback on the producer's I/O thread (here one
 * delivery thread per producer), in send order for records of one partition. Thread-safe. Not supported:
 * metrics (an empty map), client telemetry, and {@code partitioner.class} / {@code interceptor.classes} (accepted
 * and ignored, as the engine partitions itself); {@code PartitionInfo} nodes carry broker ids only.
 */
public final class PotokProducer<K, V> implements Producer<K, V> {
    private static final Logger LOG = Logger.getLogger(PotokProducer.class.getName());
    /** How long the delivery thread waits for reports before checking whether it should stop. */
    private static final long POLL_MS = 100;

    private final Handle handle;
    private final Serializer<K> keySerializer;
    private final Serializer<V> valueSerializer;
    private final Map<Long, Pending> pending = new ConcurrentHashMap<>();
    private final AtomicLong tokens = new AtomicLong();
    private final Object completed = new Object();
    private final Thread delivery;
    private volatile boolean closing;
    private volatile boolean closed;

    private record Pending(CompletableFuture<RecordMetadata> future, Callback callback, String topic, int keySize,
            int valueSize) {}

    public PotokProducer(Properties config) {
        this(Configs.of(config), null, null);
    }

    public PotokProducer(Properties config, Serializer<K> keySerializer, Serializer<V> valueSerializer) {
        this(Configs.of(config), keySerializer, valueSerializer);
    }

    public PotokProducer(Map<String, Object> config) {
        this(config, null, null);
    }

    public PotokProducer(Map<String, Object> config, Serializer<K> keySerializer, Serializer<V> valueSerializer) {
        this.keySerializer = serializer(config, ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, keySerializer, true);
        this.valueSerializer = serializer(config, ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, valueSerializer, false);
        long h = Native.producerNew(Configs.flat(config, List.of()));
        handle = new Handle(h, Native::producerDestroy, "producer");
        delivery = new Thread(this::deliver, "potok-producer-delivery-" + h);
        delivery.setDaemon(true);
        delivery.start();
    }

    @SuppressWarnings("unchecked")
    private static <T> Serializer<T> serializer(Map<String, Object> config, String key, Serializer<T> given,
            boolean isKey) {
        Serializer<T> serializer = given;
        if (serializer == null) {
            Object named = config.get(key);
            if (named == null) {
                throw new org.apache.kafka.common.config.ConfigException(
                        "Missing required configuration \"" + key + "\" which has no default value.");
            }
            try {
                serializer = named instanceof Class<?> c ? Utils.newInstance(c, Serializer.class)
                        : Utils.newInstance(Configs.text(named), Serializer.class);
            } catch (ClassNotFoundException e) {
                throw new org.apache.kafka.common.config.ConfigException(key, named, "Class not found: " + e.getMessage());
            }
            serializer.configure(config, isKey);
        }
        return serializer;
    }

    /** The producer's I/O thread: serves native delivery reports, completes futures and runs callbacks. */
    private void deliver() {
        while (true) {
            boolean stopping = closing;
            Object[] reports;
            try {
                reports = handle.call(h -> Native.producerPoll(h, POLL_MS));
            } catch (IllegalStateException destroyed) {
                return;
            }
            if (reports != null) complete(reports);
            if (stopping && reports == null && pending.isEmpty()) return;
            if (stopping && reports == null && closed) return;
        }
    }

    private void complete(Object[] reports) {
        long[] tokens = (long[]) reports[0];
        int[] partitions = (int[]) reports[1];
        long[] offsets = (long[]) reports[2];
        long[] timestamps = (long[]) reports[3];
        RuntimeException[] errors = (RuntimeException[]) reports[4];
        for (int i = 0; i < tokens.length; i++) {
            Pending p = pending.remove(tokens[i]);
            if (p == null) continue;
            if (errors[i] != null) {
                finish(p, null, errors[i]);
            } else {
                TopicPartition tp = new TopicPartition(p.topic, partitions[i]);
                finish(p, new RecordMetadata(tp, offsets[i], 0, timestamps[i], p.keySize, p.valueSize), null);
            }
        }
        synchronized (completed) {
            completed.notifyAll();
        }
    }

    private static void finish(Pending p, RecordMetadata metadata, RuntimeException error) {
        if (p.callback != null) {
            try {
                p.callback.onCompletion(metadata, error);
            } catch (RuntimeException e) {
                LOG.log(Level.SEVERE, "Error executing user-provided callback on message for topic-partition '"
                        + p.topic + "'", e);
            }
        }
        if (error != null) p.future.completeExceptionally(error);
        else p.future.complete(metadata);
    }

    @Override
    public Future<RecordMetadata> send(ProducerRecord<K, V> record) {
        return send(record, null);
    }

    @Override
    public Future<RecordMetadata> send(ProducerRecord<K, V> record, Callback callback) {
        if (closed || closing) throw new IllegalStateException("Cannot perform operation after producer has been closed");
        byte[] key = keySerializer.serialize(record.topic(), record.headers(), record.key());
        byte[] value = valueSerializer.serialize(record.topic(), record.headers(), record.value());
        Header[] headers = record.headers().toArray();
        String[] headerKeys = new String[headers.length];
        byte[][] headerValues = new byte[headers.length][];
        for (int i = 0; i < headers.length; i++) {
            headerKeys[i] = headers[i].key();
            headerValues[i] = headers[i].value();
        }
        long token = tokens.incrementAndGet();
        CompletableFuture<RecordMetadata> future = new CompletableFuture<>();
        Pending p = new Pending(future, callback, record.topic(), key == null ? -1 : key.length,
                value == null ? -1 : value.length);
        pending.put(token, p);
        int partition = record.partition() == null ? -1 : record.partition();
        long timestamp = record.timestamp() == null ? -1 : record.timestamp();
        try {
            handle.run(h -> Native.producerSend(h, record.topic(), partition, key, value, timestamp, headerKeys,
                    headerValues, token));
        } catch (ApiException e) {
            // As Kafka's producer: an API error before the record was queued (a timeout waiting for metadata or
            // buffer space) goes to the callback and the future.
            pending.remove(token);
            finish(p, null, e);
        } catch (IllegalArgumentException e) {
            pending.remove(token);
            if (partition < 0) throw e;
            // A partition the topic does not have: Kafka's producer waits max.block.ms for it to appear and then
            // fails the callback and the future; the engine refuses it at once, and so the error goes there too.
            finish(p, null, new UnknownTopicOrPartitionException(e.getMessage(), e));
        } catch (RuntimeException e) {
            pending.remove(token);
            throw e;
        }
        return future;
    }

    /** Sends everything queued and waits until every earlier send has completed (callbacks included). */
    @Override
    public void flush() {
        long upTo = tokens.get();
        handle.run(h -> Native.producerFlush(h, -1));
        synchronized (completed) {
            while (pending.keySet().stream().anyMatch(t -> t <= upTo) && delivery.isAlive()) {
                try {
                    completed.wait(POLL_MS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new org.apache.kafka.common.errors.InterruptException(e);
                }
            }
        }
    }

    @Override
    public List<PartitionInfo> partitionsFor(String topic) {
        return Partitions.unpack(topic, handle.call(h -> Native.producerPartitionsFor(h, topic)));
    }

    @Override
    public void initTransactions() {
        handle.run(h -> Native.producerInitTransactions(h, -1));
    }

    @Override
    public void beginTransaction() {
        handle.run(Native::producerBeginTransaction);
    }

    @Override
    public void sendOffsetsToTransaction(Map<TopicPartition, OffsetAndMetadata> offsets,
            ConsumerGroupMetadata groupMetadata) {
        int n = offsets.size();
        String[] topics = new String[n];
        int[] partitions = new int[n];
        long[] values = new long[n];
        String[] metadata = new String[n];
        int i = 0;
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : offsets.entrySet()) {
            topics[i] = e.getKey().topic();
            partitions[i] = e.getKey().partition();
            values[i] = e.getValue().offset();
            metadata[i] = e.getValue().metadata();
            i++;
        }
        handle.run(h -> Native.producerSendOffsetsToTransaction(h, topics, partitions, values, metadata,
                groupMetadata.groupId(), groupMetadata.generationId(), groupMetadata.memberId(),
                groupMetadata.groupInstanceId().orElse(null), -1));
    }

    @Override
    public void commitTransaction() {
        handle.run(h -> Native.producerCommitTransaction(h, -1));
        // Records of the transaction are acknowledged now; let their callbacks run before returning, as Kafka's.
        waitForCallbacks(tokens.get());
    }

    @Override
    public void abortTransaction() {
        handle.run(h -> Native.producerAbortTransaction(h, -1));
    }

    private void waitForCallbacks(long upTo) {
        synchronized (completed) {
            long deadline = System.currentTimeMillis() + 30_000;
            while (pending.keySet().stream().anyMatch(t -> t <= upTo) && delivery.isAlive()
                    && System.currentTimeMillis() < deadline) {
                try {
                    completed.wait(POLL_MS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
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
    public Uuid clientInstanceId(Duration timeout) {
        throw new IllegalStateException("Telemetry is not enabled. Set config `enable.metrics.push` to `true`.");
    }

    @Override
    public void close() {
        close(Duration.ofMillis(Long.MAX_VALUE));
    }

    /** Delivers what is queued (waiting up to {@code timeout}), fails what is left, and frees the producer. */
    @Override
    public void close(Duration timeout) {
        synchronized (this) {
            if (closed) return;
            closing = true;
        }
        long ms = timeout.toMillis() >= Long.MAX_VALUE / 2 ? -1 : Math.max(0, timeout.toMillis());
        try {
            handle.run(h -> Native.producerClose(h, ms));
        } finally {
            try {
                delivery.join(ms < 0 ? 0 : ms + 1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            closed = true;
            handle.destroy();
            List<Pending> left = new ArrayList<>(pending.values());
            pending.clear();
            for (Pending p : left) finish(p, null, new KafkaException("Producer is closed forcefully."));
            keySerializer.close();
            valueSerializer.close();
        }
    }
}
