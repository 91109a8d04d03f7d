package io.potok;

import io.potok.internal.Configs;
import io.potok.internal.Handle;
import io.potok.internal.Native;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * A cluster of potok nodes inside this JVM, each a broker and a voter of the controller quorum (as nodes started
 * from Kafka's KRaft {@code server.properties} with {@code process.roles=broker,controller}), on 127.0.0.1 with
 * their data in a temporary directory removed on close. Nodes are numbered 1 to {@code brokers}: {@link
 * #stopBroker} stops one as SIGTERM does (its leaderships move first), {@link #killBroker} as SIGKILL does, and
 * {@link #startBroker} brings it back on the same address and data. Starting the cluster or a broker returns once
 * every broker is registered and unfenced in the cluster's metadata, so a topic with a replication factor of
 * {@code brokers} can be created at once:
 *
 * <pre>{@code
 * try (PotokCluster cluster = new PotokCluster(3, Map.of("min.insync.replicas", "2"))) {
 *     Properties props = new Properties();
 *     props.put("bootstrap.servers", cluster.bootstrapServers());
 *     // ... create a topic with replication factor 3, produce with acks=all ...
 *     cluster.killBroker(2);
 * }
 * }</pre>
 *
 * Config takes Kafka's {@code server.properties} keys, applied to every node ({@code node.id}, {@code listeners},
 * {@code log.dirs} and the quorum keys are the cluster's own); an unknown key or bad value is a {@link
 * org.apache.kafka.common.config.ConfigException} naming it. A broker count outside 1 to 9 or an unknown node id
 * is an {@link IllegalArgumentException}; stopping a node that is not running, or starting one that is, an
 * {@link IllegalStateException}. Thread-safe: calls take turns.
 *
 * <p>With dedicated controllers ({@code new PotokCluster(3, 1, config)}), nodes 1 to {@code brokers} are
 * broker-only ({@code process.roles=broker}) and the next {@code controllers} nodes controller-only ({@code
 * process.roles=controller}), as a production KRaft cluster runs: stopping two of three brokers then leaves the
 * quorum up, so the ISR shrinks and an {@code acks=all} producer gets {@link
 * org.apache.kafka.common.errors.NotEnoughReplicasException} below {@code min.insync.replicas}. Only the brokers
 * take clients. At most 9 nodes in all.
 */
public final class PotokCluster implements AutoCloseable {
    private final Handle handle;

    /** Starts {@code brokers} nodes with potok's embedded defaults; returns once all are registered and unfenced. */
    public PotokCluster(int brokers) {
        this(brokers, 0, Map.of());
    }

    /** Starts {@code brokers} nodes with these Kafka broker config keys. */
    public PotokCluster(int brokers, Properties config) {
        this(brokers, 0, Configs.of(config));
    }

    /** Starts {@code brokers} nodes with these Kafka broker config keys (values are written as Kafka reads them). */
    public PotokCluster(int brokers, Map<String, ?> config) {
        this(brokers, 0, config);
    }

    /** Starts {@code brokers} broker-only nodes beside {@code controllers} controller-only nodes (0: every node is
     * both) with these Kafka broker config keys. */
    public PotokCluster(int brokers, int controllers, Properties config) {
        this(brokers, controllers, Configs.of(config));
    }

    /** Starts {@code brokers} broker-only nodes beside {@code controllers} controller-only nodes (0: every node is
     * both) with these Kafka broker config keys (values are written as Kafka reads them). */
    public PotokCluster(int brokers, int controllers, Map<String, ?> config) {
        handle = new Handle(Native.clusterStart(brokers, controllers, Configs.flat(config, List.of())),
                Native::clusterDestroy, "cluster");
    }

    /**
     * Starts {@code brokers} nodes with these Kafka broker config keys and, with {@code schemaRegistry}, a
     * Confluent-compatible schema registry on every broker ({@link #schemaRegistryUrl()}), all sharing the
     * cluster's compacted {@code _schemas} topic (replicated on up to 3 brokers, so the schemas outlive a broker's
     * loss). The same as setting {@code schema.registry.listeners} to {@code http://127.0.0.1:0}.
     */
    public PotokCluster(int brokers, Map<String, ?> config, boolean schemaRegistry) {
        this(brokers, 0, schemaRegistry && !config.containsKey(PotokBroker.SCHEMA_REGISTRY_LISTENERS)
                ? withRegistry(config) : config);
    }

    private static Map<String, Object> withRegistry(Map<String, ?> config) {
        Map<String, Object> all = new java.util.HashMap<>(config);
        all.put(PotokBroker.SCHEMA_REGISTRY_LISTENERS, "http://127.0.0.1:0");
        return all;
    }

    /** Starts {@code brokers} nodes with potok's embedded defaults and a schema registry on each. */
    public static PotokCluster withSchemaRegistry(int brokers) {
        return new PotokCluster(brokers, Map.of(), true);
    }

    /**
     * The schema registry URLs of the running brokers, comma-separated, for Confluent's {@code schema.registry.url}
     * (a client tries the next one when one cannot be reached); null when the cluster serves no registry.
     */
    public String schemaRegistryUrl() {
        return handle.call(h -> Native.clusterSchemaRegistryUrl(h, 0));
    }

    /** Broker {@code id}'s schema registry URL ({@code http://host:port}, the same after a restart); null when it
     * is not running or the cluster serves no registry. */
    public String schemaRegistryUrl(int id) {
        return handle.call(h -> Native.clusterSchemaRegistryUrl(h, id));
    }

    /** {@code host:port,...} of the running brokers, for {@code bootstrap.servers}. */
    public String bootstrapServers() {
        return handle.call(Native::clusterBootstrapServers);
    }

    /** The ids of the running nodes, ascending. */
    public List<Integer> running() {
        return Arrays.stream(handle.call(Native::clusterRunning)).boxed().toList();
    }

    /** The log directory of node {@code id}, running or not: {@code <topic>-<partition>/} in it holds that
     * partition's segment files. An id that is not one of the cluster's nodes is an {@link
     * IllegalArgumentException}. */
    public Path logDir(int id) {
        String dir = handle.call(h -> Native.clusterLogDir(h, id));
        return Path.of(dir);
    }

    /** Stops node {@code id} as SIGTERM does: its partition leaderships move to other nodes first. */
    public void stopBroker(int id) {
        handle.run(h -> Native.clusterStopBroker(h, id));
    }

    /** Stops node {@code id} as SIGKILL does: nothing flushed; the others notice when its session times out. */
    public void killBroker(int id) {
        handle.run(h -> Native.clusterKillBroker(h, id));
    }

    /** Starts a stopped or killed node again on its address and data; returns once it accepts connections and, for
     * a broker, is registered and unfenced in every running broker's metadata (after 30 s, an {@link
     * IllegalStateException} saying what did not happen). */
    public void startBroker(int id) {
        handle.run(h -> Native.clusterStartBroker(h, id));
    }

    /** Stops every node and removes the cluster's data; later calls but {@code stop} and {@code close} are an
     * {@link IllegalStateException}. Stopping a stopped cluster does nothing. */
    public void stop() {
        if (!handle.isDestroyed()) handle.run(Native::clusterStop);
    }

    /** Stops the cluster (if running) and frees it. */
    @Override
    public void close() {
        if (handle.isDestroyed()) return;
        try {
            handle.run(Native::clusterStop);
        } finally {
            handle.destroy();
        }
    }

    @Override
    public String toString() {
        if (handle.isDestroyed()) return "PotokCluster(closed)";
        try {
            return "PotokCluster(" + bootstrapServers() + ")";
        } catch (IllegalStateException e) {
            return "PotokCluster(stopped)";
        }
    }
}
