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
        long h = Native.brokerNew(Configs.flat(config, List.of()));
        handle = new Handle(h, Native::brokerDestroy, "broker");
        try {
            handle.run(Native::brokerStart);
        } catch (RuntimeException e) {
            handle.destroy();
            throw e;
        }
    }

    /** {@code host:port} for {@code bootstrap.servers}. */
    public String bootstrapServers() {
        return handle.call(Native::brokerBootstrapServers);
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
