package io.potok;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.errors.NotEnoughReplicasException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/** PotokCluster seen through Kafka's own Java client: a partition's leader killed under acks=all, and the
 * course's min-ISR exercise on brokers beside a dedicated controller. */
class PotokClusterTest {
    /** Calls {@code check} until it returns non-null (exceptions count as not yet), failing after {@code timeout}. */
    private static <T> T waitFor(String what, Duration timeout, Callable<T> check) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        Exception last = null;
        while (System.nanoTime() < deadline) {
            try {
                T value = check.call();
                if (value != null) return value;
            } catch (Exception e) {
                // A cluster still electing or fencing a node answers with retriable errors for a moment.
                last = e;
            }
            Thread.sleep(200);
        }
        throw new AssertionError("timed out waiting for " + what + (last == null ? "" : " (last error: " + last + ")"));
    }

    private static TopicPartitionInfo partition0(Admin admin, String topic) throws Exception {
        return admin.describeTopics(List.of(topic)).allTopicNames().get(10, TimeUnit.SECONDS).get(topic).partitions().get(0);
    }

    private static List<Integer> ids(List<Node> nodes) {
        return nodes.stream().map(Node::id).sorted().toList();
    }

    @Test
    void acksAllContinuesWhenThePartitionLeaderIsKilled() throws Exception {
        try (PotokCluster cluster = new PotokCluster(3)) {
            assertEquals(List.of(1, 2, 3), cluster.running());
            assertTrue(java.nio.file.Files.isDirectory(cluster.logDir(2)), cluster.logDir(2).toString());
            assertNotEquals(cluster.logDir(1), cluster.logDir(2));
            assertThrows(IllegalArgumentException.class, () -> cluster.logDir(4));
            assertEquals(3, cluster.bootstrapServers().split(",").length, cluster.bootstrapServers());
            Properties props = new Properties();
            props.put("bootstrap.servers", cluster.bootstrapServers());
            try (Admin admin = Admin.create(props)) {
                // The cluster started once every broker was registered and unfenced.
                assertEquals(List.of(1, 2, 3), ids(new ArrayList<>(admin.describeCluster().nodes().get(10, TimeUnit.SECONDS))));
                String topic = "invoices";
                admin.createTopics(List.of(new NewTopic(topic, 1, (short) 3).configs(Map.of("min.insync.replicas", "2"))))
                        .all().get(30, TimeUnit.SECONDS);
                TopicPartitionInfo before = waitFor("a leader and three in-sync replicas", Duration.ofSeconds(30), () -> {
                    TopicPartitionInfo p = partition0(admin, topic);
                    return p.leader() != null && p.isr().size() == 3 ? p : null;
                });
                assertEquals(List.of(1, 2, 3), ids(before.replicas()));

                Properties producerProps = new Properties();
                producerProps.putAll(props);
                producerProps.put("acks", "all");
                producerProps.put("linger.ms", "1");
                try (KafkaProducer<String, String> producer =
                        new KafkaProducer<>(producerProps, new StringSerializer(), new StringSerializer())) {
                    for (int i = 0; i < 50; i++) {
                        RecordMetadata m = producer.send(new ProducerRecord<>(topic, 0, "k" + i, "v" + i)).get(30, TimeUnit.SECONDS);
                        assertEquals(i, m.offset());
                    }

                    // The leader dies without a controlled shutdown.
                    int dead = before.leader().id();
                    cluster.killBroker(dead);
                    assertFalse(cluster.running().contains(dead));
                    assertEquals(2, cluster.running().size());
                    assertThrows(IllegalStateException.class, () -> cluster.killBroker(dead));
                    TopicPartitionInfo after = waitFor("a new leader and " + dead + " out of the ISR", Duration.ofSeconds(30), () -> {
                        TopicPartitionInfo p = partition0(admin, topic);
                        return p.leader() != null && p.leader().id() != dead && !ids(p.isr()).contains(dead) ? p : null;
                    });
                    assertEquals(2, after.isr().size(), after.toString());

                    // Two in-sync replicas meet min.insync.replicas=2: acks=all sends still succeed.
                    for (int i = 50; i < 100; i++) {
                        RecordMetadata m = producer.send(new ProducerRecord<>(topic, 0, "k" + i, "v" + i)).get(60, TimeUnit.SECONDS);
                        assertEquals(i, m.offset());
                    }

                    Properties consumerProps = new Properties();
                    consumerProps.putAll(props);
                    consumerProps.put("auto.offset.reset", "earliest");
                    List<String> values = new ArrayList<>();
                    try (KafkaConsumer<String, String> consumer =
                            new KafkaConsumer<>(consumerProps, new StringDeserializer(), new StringDeserializer())) {
                        consumer.assign(List.of(new TopicPartition(topic, 0)));
                        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                        while (values.size() < 100 && System.nanoTime() < deadline) {
                            for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                                assertEquals(values.size(), r.offset());
                                values.add(r.value());
                            }
                        }
                    }
                    List<String> expected = new ArrayList<>();
                    for (int i = 0; i < 100; i++) expected.add("v" + i);
                    assertEquals(expected, values);

                    // Back on its address and data, the node catches up and rejoins the ISR.
                    cluster.startBroker(dead);
                    assertEquals(List.of(1, 2, 3), cluster.running());
                    assertThrows(IllegalStateException.class, () -> cluster.startBroker(dead));
                    waitFor(dead + " back in the ISR", Duration.ofSeconds(60), () -> {
                        TopicPartitionInfo p = partition0(admin, topic);
                        return ids(p.isr()).equals(List.of(1, 2, 3)) ? p : null;
                    });
                }
            }
        }
    }

    private static KafkaProducer<String, String> strictProducer(String bootstrapServers) {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrapServers);
        props.put("acks", "all");
        props.put("retries", "0");
        return new KafkaProducer<>(props, new StringSerializer(), new StringSerializer());
    }

    /**
     * The course's min-ISR exercise: replication factor 3, min.insync.replicas=2, the two replicas that do not lead
     * stopped. With the quorum on a controller-only node (node 4) the ISR shrinks to the leader and an acks=all
     * send fails with NotEnoughReplicasException; once the brokers are back in the ISR the send succeeds.
     */
    @Test
    void belowMinInsyncReplicasAcksAllIsRefusedWithDedicatedControllers() throws Exception {
        try (PotokCluster cluster = new PotokCluster(3, 1, Map.of("replica.lag.time.max.ms", "5000"))) {
            assertEquals(List.of(1, 2, 3, 4), cluster.running());
            assertEquals(3, cluster.bootstrapServers().split(",").length, "only the brokers take clients");
            Properties props = new Properties();
            props.put("bootstrap.servers", cluster.bootstrapServers());
            try (Admin admin = Admin.create(props)) {
                // No waiting for the brokers: the cluster started once all three were registered and unfenced.
                String topic = "min-isr";
                admin.createTopics(List.of(new NewTopic(topic, 1, (short) 3).configs(Map.of("min.insync.replicas", "2"))))
                        .all().get(30, TimeUnit.SECONDS);
                int leader = waitFor("a leader and three in-sync replicas", Duration.ofSeconds(30), () -> {
                    TopicPartitionInfo p = partition0(admin, topic);
                    return p.leader() != null && p.isr().size() == 3 ? p.leader().id() : null;
                });
                List<Integer> others = List.of(1, 2, 3).stream().filter(id -> id != leader).toList();
                for (int id : others) cluster.stopBroker(id);
                waitFor("the ISR down to the leader", Duration.ofSeconds(30), () -> {
                    TopicPartitionInfo p = partition0(admin, topic);
                    return ids(p.isr()).equals(List.of(leader)) ? p : null;
                });

                try (KafkaProducer<String, String> producer = strictProducer(cluster.bootstrapServers())) {
                    ExecutionException refused = assertThrows(ExecutionException.class,
                            () -> producer.send(new ProducerRecord<>(topic, 0, "k", "refused")).get(30, TimeUnit.SECONDS));
                    assertTrue(refused.getCause() instanceof NotEnoughReplicasException, refused.getCause().toString());
                }

                for (int id : others) cluster.startBroker(id);
                waitFor("three in sync again", Duration.ofSeconds(60), () -> {
                    TopicPartitionInfo p = partition0(admin, topic);
                    return p.isr().size() == 3 ? p : null;
                });
                try (KafkaProducer<String, String> producer = strictProducer(cluster.bootstrapServers())) {
                    RecordMetadata m = producer.send(new ProducerRecord<>(topic, 0, "k", "accepted")).get(30, TimeUnit.SECONDS);
                    assertEquals(0, m.offset());
                }
            }
        }
    }

    @Test
    void badSizesKeysAndIdsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new PotokCluster(0));
        assertThrows(IllegalArgumentException.class, () -> new PotokCluster(10));
        assertThrows(IllegalArgumentException.class, () -> new PotokCluster(3, 7, Map.of()));
        assertThrows(IllegalArgumentException.class, () -> new PotokCluster(3, -1, Map.of()));
        ConfigException unknown = assertThrows(ConfigException.class, () -> new PotokCluster(1, Map.of("no.such.key", "1")));
        assertTrue(unknown.getMessage().contains("no.such.key"), unknown.getMessage());
        PotokCluster cluster = new PotokCluster(1);
        try {
            assertThrows(IllegalArgumentException.class, () -> cluster.stopBroker(2));
            cluster.stopBroker(1);
            assertEquals(List.of(), cluster.running());
            assertThrows(IllegalStateException.class, () -> cluster.killBroker(1));
            cluster.stop();
            cluster.stop();
            assertThrows(IllegalStateException.class, cluster::bootstrapServers);
            assertEquals("PotokCluster(stopped)", cluster.toString());
        } finally {
            cluster.close();
        }
        cluster.close();
        assertThrows(IllegalStateException.class, cluster::running);
    }
}
