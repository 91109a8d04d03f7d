package io.potok.examples;

import io.potok.PotokCluster;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/**
 * What every exercise shares: the command line ({@code --bootstrap-servers} and the exercise's own
 * {@code --name value} options), the cluster it runs on (an embedded potok cluster of three brokers when no
 * servers are named; for the registry exercises, with a schema registry on each broker) and topic creation.
 */
final class Course implements AutoCloseable {
    private final Map<String, String> options = new HashMap<>();
    /** The embedded cluster, or null when {@code --bootstrap-servers} named one. */
    final PotokCluster cluster;
    final String bootstrap;
    /** The schema registry's URLs (comma-separated) when the exercise asked for one, otherwise null. */
    final String schemaRegistryUrl;

    /** Parses {@code args} against {@code defaults} (option name without dashes to its default value; a default
     * of "false" makes a flag that takes no value) and starts the cluster. */
    Course(String[] args, Map<String, String> defaults) {
        this(args, defaults, false);
    }

    /** As {@link #Course(String[], Map)}; with {@code schemaRegistry}, the embedded cluster also serves a schema
     * registry on every broker, and with {@code --bootstrap-servers} the exercise needs {@code --schema-registry
     * URL} (Confluent's Schema Registry, or {@code potok broker --override schema.registry.listeners=...}). */
    Course(String[] args, Map<String, String> defaults, boolean schemaRegistry) {
        options.putAll(defaults);
        String servers = null, registry = null;
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--")) throw new IllegalArgumentException("unexpected argument " + args[i]);
            String name = args[i].substring(2);
            if (name.equals("bootstrap-servers")) {
                servers = args[++i];
            } else if (schemaRegistry && name.equals("schema-registry")) {
                registry = args[++i];
            } else if (!defaults.containsKey(name)) {
                throw new IllegalArgumentException("unknown option --" + name + "; options: --bootstrap-servers "
                        + String.join(" ", defaults.keySet().stream().map(k -> "--" + k).toList()));
            } else if ("false".equals(defaults.get(name))) {
                options.put(name, "true");
            } else {
                options.put(name, args[++i]);
            }
        }
        if (servers == null) {
            long started = System.nanoTime();
            // The course's brokers wait 3 s before a new group's first rebalance; an exercise has no one to wait for.
            cluster = new PotokCluster(3, Map.of("group.initial.rebalance.delay.ms", "0"), schemaRegistry);
            bootstrap = cluster.bootstrapServers();
            schemaRegistryUrl = schemaRegistry ? cluster.schemaRegistryUrl() : null;
            log(String.format("embedded potok cluster of 3 broker(s) at %s (started in %.1f s)%s", bootstrap,
                    (System.nanoTime() - started) / 1e9, schemaRegistry ? ", schema registry at " + schemaRegistryUrl : ""));
        } else {
            if (schemaRegistry && registry == null) {
                throw new IllegalArgumentException("--bootstrap-servers needs --schema-registry http://HOST:PORT");
            }
            cluster = null;
            bootstrap = servers;
            schemaRegistryUrl = registry;
        }
    }

    String get(String name) {
        return options.get(name);
    }

    int getInt(String name) {
        return Integer.parseInt(options.get(name));
    }

    boolean flag(String name) {
        return Boolean.parseBoolean(options.get(name));
    }

    /** Client properties: bootstrap.servers and these key-value pairs. */
    Properties props(Object... pairs) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        for (int i = 0; i < pairs.length; i += 2) p.put(String.valueOf(pairs[i]), String.valueOf(pairs[i + 1]));
        return p;
    }

    /** Creates the topic as {@code kafka-topics --create} does (an existing one is kept) and waits until every
     * partition's leader answers ListOffsets, so that the first records do not meet a leader still being elected. */
    void createTopic(String name, int partitions, int replicationFactor, Map<String, String> config) throws Exception {
        try (Admin admin = Admin.create(props())) {
            try {
                admin.createTopics(List.of(new NewTopic(name, partitions, (short) replicationFactor).configs(config)))
                        .all().get(30, TimeUnit.SECONDS);
                log("created topic " + name + ": " + partitions + " partition(s), replication factor "
                        + replicationFactor + (config.isEmpty() ? "" : ", " + config));
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) throw e;
                log("topic " + name + " exists already; kept as it is");
            }
            Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
            for (int p = 0; p < partitions; p++) latest.put(new TopicPartition(name, p), OffsetSpec.latest());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (true) {
                try {
                    admin.listOffsets(latest).all().get(30, TimeUnit.SECONDS);
                    return;
                } catch (ExecutionException e) {
                    // A broker that has not learnt of the new topic yet answers UNKNOWN_TOPIC_OR_PARTITION, which
                    // the Admin client does not retry.
                    if (!(e.getCause() instanceof UnknownTopicOrPartitionException) || System.nanoTime() > deadline) {
                        throw e;
                    }
                    Thread.sleep(100);
                }
            }
        }
    }

    /** The log end offset of each partition of {@code topic}. */
    List<Long> endOffsets(String topic, int partitions) throws Exception {
        try (Admin admin = Admin.create(props())) {
            Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
            for (int p = 0; p < partitions; p++) latest.put(new TopicPartition(topic, p), OffsetSpec.latest());
            var found = admin.listOffsets(latest).all().get(30, TimeUnit.SECONDS);
            List<Long> ends = new ArrayList<>();
            for (int p = 0; p < partitions; p++) ends.add(found.get(new TopicPartition(topic, p)).offset());
            return ends;
        }
    }

    /** Progress for the learner, on stderr (stdout holds the lines the exercise is about). */
    static void log(String message) {
        System.err.println(message);
    }

    @Override
    public void close() {
        if (cluster != null) cluster.close();
    }
}
