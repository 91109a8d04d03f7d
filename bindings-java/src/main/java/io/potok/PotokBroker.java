package io.potok;

import io.potok.internal.Configs;
import io.potok.internal.Handle;
import io.potok.internal.Native;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * A Kafka broker inside this JVM, on potok's native engine: it starts in milliseconds on 127.0.0.1 and a port the
 * OS picks, with its data in a fresh temporary directory (removed on stop) unless {@code log.dirs} is given. Any
 * Kafka client works against it, Kafka's own Java client unchanged:
 *
 * <pre>{@code
 * try (PotokBroker broker = new PotokBroker(Map.of("num.partitions", "3"))) {
 *     Properties props = new Properties();
 *     props.put("bootstrap.servers", broker.bootstrapServers());
 *     try (KafkaProducer<String, String> producer = new KafkaProducer<>(props, new StringSerializer(), new StringSerializer())) {
 *         producer.send(new ProducerRecord<>("topic", "key", "value")).get();
 *     }
 * }
 * }</pre>
 *
 * Config takes Kafka's {@code server.properties} keys; an unknown key or bad value is a {@link
 * org.apache.kafka.common.config.ConfigException} naming it. Transactions, consumer groups and auto-created topics
 * work with no config at all. Thread-safe. {@link PotokCluster} runs several nodes as one cluster.
 */
public final class PotokBroker implements AutoCloseable {
    /** The broker config key of the schema registry's listener ({@code http://host:port}). */
    public static final String SCHEMA_REGISTRY_LISTENERS = "schema.registry.listeners";

    private final Handle handle;
    private PotokAdmin admin;

    /** Starts a broker with potok's embedded defaults. */
    public PotokBroker() {
        this(Map.of());
    }

    /** Starts a broker with these Kafka broker config keys. */
    public PotokBroker(Properties config) {
        this(Configs.of(config));
    }

    /** Starts a broker with these Kafka broker config keys (values are written as Kafka reads them). */
    public PotokBroker(Map<String, ?> config) {
        this(config, false);
    }

    /**
     * Starts a broker with these Kafka broker config keys and, with {@code schemaRegistry}, a Confluent-compatible
     * schema registry on a free port of 127.0.0.1 ({@link #schemaRegistryUrl()}), its schemas kept in the broker's
     * compacted {@code _schemas} topic. The same as setting {@code schema.registry.listeners} to
     * {@code http://127.0.0.1:0}.
     */
    public PotokBroker(Map<String, ?> config, boolean schemaRegistry) {
        long h = Native.brokerNew(Configs.flat(withRegistry(config, schemaRegistry), List.of()));
        handle = new Handle(h, Native::brokerDestroy, "broker");
        try {
            handle.run(Native::brokerStart);
        } catch (RuntimeException e) {
            handle.destroy();
            throw e;
        }
    }

    /** Starts a broker with potok's embedded defaults and a schema registry ({@link #schemaRegistryUrl()}). */
    public static PotokBroker withSchemaRegistry() {
        return new PotokBroker(Map.of(), true);
    }

    private static Map<String, ?> withRegistry(Map<String, ?> config, boolean schemaRegistry) {
        if (!schemaRegistry || config.containsKey(SCHEMA_REGISTRY_LISTENERS)) return config;
        Map<String, Object> all = new java.util.HashMap<>(config);
        all.put(SCHEMA_REGISTRY_LISTENERS, "http://127.0.0.1:0");
        return all;
    }

    /** {@code host:port} for {@code bootstrap.servers}. */
    public String bootstrapServers() {
        return handle.call(Native::brokerBootstrapServers);
    }

    /**
     * The schema registry's URL ({@code http://host:port}, for Confluent's {@code schema.registry.url}) when the
     * broker serves one ({@code new PotokBroker(config, true)} or {@code schema.registry.listeners}), else null.
     */
    public String schemaRegistryUrl() {
        return handle.call(Native::brokerSchemaRegistryUrl);
    }

    /** The log directory (a fresh temporary one unless {@code log.dirs} was given). */
    public String logDir() {
        return handle.call(Native::brokerLogDir);
    }

    public boolean isRunning() {
        return !handle.isDestroyed() && handle.call(Native::brokerIsRunning);
    }

    /** Stops serving, flushes and closes the logs. The broker can be started again (with {@code log.dirs} set, on
     * the same data). Stopping a stopped broker does nothing. */
    public synchronized void stop() {
        closeAdmin();
        handle.run(Native::brokerStop);
    }

    /** Starts a stopped broker again (on a new port). */
    public synchronized void start() {
        handle.run(Native::brokerStart);
    }

    /** Creates a topic with {@code partitions} partitions (replication factor 1). */
    public void createTopic(String name, int partitions) {
        admin().createTopic(name, partitions, (short) -1, Map.of());
    }

    /** An admin client for this broker (closed with the broker). */
    public synchronized PotokAdmin admin() {
        if (admin == null) admin = new PotokAdmin(Map.of("bootstrap.servers", bootstrapServers()));
        return admin;
    }

    private synchronized void closeAdmin() {
        if (admin != null) {
            admin.close();
            admin = null;
        }
    }

    /** Stops the broker (if running) and frees it. */
    @Override
    public void close() {
        closeAdmin();
        if (handle.isDestroyed()) return;
        try {
            handle.run(Native::brokerStop);
        } finally {
            handle.destroy();
        }
    }

    @Override
    public String toString() {
        return isRunning() ? "PotokBroker(" + bootstrapServers() + ")" : "PotokBroker(stopped)";
    }
}
