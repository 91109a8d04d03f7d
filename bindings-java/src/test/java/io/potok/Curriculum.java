package io.potok;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.IntegerDeserializer;
import org.apache.kafka.common.serialization.IntegerSerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The Java client exercises of the course (../shared/CURRICULUM.md), run with Kafka's own Java client and with
 * potok's, against the broker a subclass names: an embedded PotokBroker, or Apache Kafka.
 */
abstract class Curriculum {
    /** {@code host:port} of the cluster under test. */
    abstract String bootstrap();

    final String id = UUID.randomUUID().toString().substring(0, 8);

    Properties props(Object... pairs) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap());
        for (int i = 0; i < pairs.length; i += 2) p.put(pairs[i], String.valueOf(pairs[i + 1]));
        return p;
    }

    void createTopics(int partitions, String... names) throws Exception {
        try (Admin admin = Admin.create(props())) {
            List<NewTopic> topics = new ArrayList<>();
            for (String name : names) topics.add(new NewTopic(name, partitions, (short) 1));
            admin.createTopics(topics).all().get(30, TimeUnit.SECONDS);
            // Ready when every partition's leader answers ListOffsets (the Admin client retries until then).
            // Apache Kafka 4.1 answers Metadata with the new leader before that broker has become the leader, and
            // an idempotent producer whose first request fails NOT_LEADER_OR_FOLLOWER while a later one lands
            // then retries OUT_OF_ORDER_SEQUENCE_NUMBER until delivery.timeout.ms (KAFKA-15591).
            Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
            for (String name : names) {
                for (int p = 0; p < partitions; p++) latest.put(new TopicPartition(name, p), OffsetSpec.latest());
            }
            // A broker whose metadata has not caught up with the creation yet answers UNKNOWN_TOPIC_OR_PARTITION,
            // which the Admin client does not retry: ask again until the deadline.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (true) {
                try {
                    admin.listOffsets(latest).all().get(30, TimeUnit.SECONDS);
                    break;
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof UnknownTopicOrPartitionException) || System.nanoTime() > deadline) throw e;
                    Thread.sleep(100);
                }
            }
        }
    }

    /** HelloProducer: Integer keys, "Simple Message-i" values, 5 partitions; murmur2 places keys 1..5 on partitions
     * 0, 3, 1, 3, 4 and order holds per partition. */
    @ParameterizedTest
    @EnumSource(Clients.class)
    void helloProducer(Clients clients) throws Exception {
        String topic = "hello-producer-topic-" + clients + "-" + id;
        createTopics(5, topic);
        int count = 10_000;
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        try (Producer<Integer, String> producer = clients.producer(props("client.id", "HelloProducer"),
                new IntegerSerializer(), new StringSerializer())) {
            for (int i = 1; i <= count; i++) sent.add(producer.send(new ProducerRecord<>(topic, i, "Simple Message-" + i)));
        }
        int[] firstPartitions = new int[5];
        for (int i = 0; i < 5; i++) firstPartitions[i] = sent.get(i).get(30, TimeUnit.SECONDS).partition();
        assertEquals(List.of(0, 3, 1, 3, 4), List.of(firstPartitions[0], firstPartitions[1], firstPartitions[2],
                firstPartitions[3], firstPartitions[4]));

        List<TopicPartition> partitions = new ArrayList<>();
        for (int p = 0; p < 5; p++) partitions.add(new TopicPartition(topic, p));
        Map<Integer, Integer> lastKey = new HashMap<>();
        int read = 0;
        try (Consumer<Integer, String> consumer = clients.consumer(props(), new IntegerDeserializer(),
                new StringDeserializer())) {
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (read < count && System.nanoTime() < deadline) {
                for (ConsumerRecord<Integer, String> r : consumer.poll(Duration.ofMillis(500))) {
                    assertEquals("Simple Message-" + r.key(), r.value());
                    Integer previous = lastKey.put(r.partition(), r.key());
                    assertTrue(previous == null || previous < r.key(), "order within partition " + r.partition());
                    read++;
                }
            }
        }
        assertEquals(count, read);
    }

    /** The callback producer: "Message i persisted with offset X and timestamp T", offsets 0..9 in order. */
    @ParameterizedTest
    @EnumSource(Clients.class)
    void callbackProducer(Clients clients) throws Exception {
        String topic = "hello-producer-" + clients + "-" + id;
        createTopics(1, topic);
        List<String> lines = Collections.synchronizedList(new ArrayList<>());
        try (Producer<Integer, String> producer = clients.producer(props(), new IntegerSerializer(),
                new StringSerializer())) {
            for (int i = 0; i < 10; i++) {
                int n = i;
                producer.send(new ProducerRecord<>(topic, i, "Simple Message-" + i), (metadata, e) -> {
                    lines.add(e != null ? "failed: " + e
                            : "Message " + n + " persisted with offset " + metadata.offset() + " and timestamp "
                                    + metadata.timestamp());
                });
            }
            producer.flush();
            assertEquals(10, lines.size(), "flush waits for the callbacks");
        }
        for (int i = 0; i < 10; i++) {
            assertTrue(lines.get(i).startsWith("Message " + i + " persisted with offset " + i + " and timestamp "),
                    lines.get(i));
        }
    }

    /** Transactions: T1 sends keys 1-2 to two topics and commits, T2 the same and aborts; a read_committed consumer
     * sees T1 only, a read_uncommitted one sees both. */
    @ParameterizedTest
    @EnumSource(Clients.class)
    void transactions(Clients clients) throws Exception {
        String t1 = "hello-producer-1-" + clients + "-" + id, t2 = "hello-producer-2-" + clients + "-" + id;
        createTopics(5, t1, t2);
        try (Producer<Integer, String> producer = clients.producer(
                props("transactional.id", "Hello-Producer-Trans-" + clients + "-" + id), new IntegerSerializer(),
                new StringSerializer())) {
            producer.initTransactions();
            producer.beginTransaction();
            for (int i = 1; i <= 2; i++) {
                producer.send(new ProducerRecord<>(t1, i, "Simple Message-T1-" + i));
                producer.send(new ProducerRecord<>(t2, i, "Simple Message-T1-" + i));
            }
            producer.commitTransaction();
            producer.beginTransaction();
            for (int i = 1; i <= 2; i++) {
                producer.send(new ProducerRecord<>(t1, i, "Simple Message-T2-" + i));
                producer.send(new ProducerRecord<>(t2, i, "Simple Message-T2-" + i));
            }
            producer.flush();
            producer.abortTransaction();
        }
        List<String> committed = readAll(clients, "read_committed", 4, t1, t2);
        assertEquals(4, committed.size(), committed.toString());
        assertTrue(committed.stream().allMatch(v -> v.startsWith("Simple Message-T1-")), committed.toString());
        List<String> uncommitted = readAll(clients, "read_uncommitted", 8, t1, t2);
        assertEquals(8, uncommitted.size(), uncommitted.toString());
    }

    /** Reads {@code topics} from the beginning in a fresh group until {@code expected} records came (and then
     * 1 s more, so that extra records would show). */
    private List<String> readAll(Clients clients, String isolation, int expected, String... topics) {
        List<String> values = new ArrayList<>();
        Properties config = props("group.id", "txn-reader-" + isolation + "-" + UUID.randomUUID(),
                "auto.offset.reset", "earliest", "isolation.level", isolation);
        try (Consumer<Integer, String> consumer = clients.consumer(config, new IntegerDeserializer(),
                new StringDeserializer())) {
            consumer.subscribe(List.of(topics));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            long extra = Long.MAX_VALUE;
            while (System.nanoTime() < Math.min(deadline, extra)) {
                for (ConsumerRecord<Integer, String> r : consumer.poll(Duration.ofMillis(200))) values.add(r.value());
                if (values.size() >= expected && extra == Long.MAX_VALUE) extra = System.nanoTime() + 1_000_000_000L;
            }
        }
        return values;
    }

    /** A consumer group: two members in group `nums` share topic `numbers` (5 partitions); every record is read
     * once, each member commits what it processed, and a later member of the group starts after it. */
    @ParameterizedTest
    @EnumSource(Clients.class)
    void consumerGroup(Clients clients) throws Exception {
        String topic = "numbers-" + clients + "-" + id, group = "nums-" + clients + "-" + id;
        createTopics(5, topic);
        int count = 100;
        try (Producer<String, String> producer = clients.producer(props("acks", "all"), new StringSerializer(),
                new StringSerializer())) {
            for (int i = 0; i < count; i++) producer.send(new ProducerRecord<>(topic, "k" + i, "v" + i));
        }
        Set<String> seen = ConcurrentHashMap.newKeySet();
        Map<Integer, Set<TopicPartition>> assigned = new ConcurrentHashMap<>();
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<?>> members = new ArrayList<>();
            for (int m = 0; m < 2; m++) {
                int member = m;
                members.add(pool.submit(() -> {
                    Properties config = props("group.id", group, "auto.offset.reset", "earliest",
                            "enable.auto.commit", "false");
                    try (Consumer<String, String> consumer = clients.consumer(config, new StringDeserializer(),
                            new StringDeserializer())) {
                        consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                            @Override
                            public void onPartitionsRevoked(java.util.Collection<TopicPartition> partitions) {
                                commit(consumer);
                            }

                            @Override
                            public void onPartitionsAssigned(java.util.Collection<TopicPartition> partitions) {
                                assigned.computeIfAbsent(member, x -> ConcurrentHashMap.newKeySet()).addAll(partitions);
                            }
                        });
                        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
                        while (seen.size() < count && System.nanoTime() < deadline) {
                            ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(200));
                            for (ConsumerRecord<String, String> r : records) {
                                seen.add(r.value());
                            }
                            if (!records.isEmpty()) commit(consumer);
                        }
                        // Keep polling a little so that the other member's rebalance can finish.
                        for (int i = 0; i < 3; i++) consumer.poll(Duration.ofMillis(100));
                    }
                    return null;
                }));
            }
            for (Future<?> member : members) member.get(150, TimeUnit.SECONDS);
        } finally {
            pool.shutdownNow();
        }
        // Every record was read; a rebalance may hand a partition over after records were read but before their
        // commit, and then Kafka redelivers them (at-least-once), so duplicates are allowed.
        assertEquals(count, seen.size());
        assertFalse(assigned.isEmpty());

        try (Consumer<String, String> later = clients.consumer(props("group.id", group, "auto.offset.reset",
                "earliest"), new StringDeserializer(), new StringDeserializer())) {
            Set<TopicPartition> tps = new HashSet<>();
            for (int p = 0; p < 5; p++) tps.add(new TopicPartition(topic, p));
            Map<TopicPartition, OffsetAndMetadata> committed = later.committed(tps, Duration.ofSeconds(30));
            long total = committed.values().stream().mapToLong(o -> o == null ? 0 : o.offset()).sum();
            assertEquals(count, total, "the group committed every record: " + committed);
        }
    }

    /** Commits what was consumed; a commit refused because the group is rebalancing is left to the next one. */
    private static void commit(Consumer<?, ?> consumer) {
        try {
            consumer.commitSync();
        } catch (CommitFailedException | RebalanceInProgressException e) {
            // The partitions' new owner resumes from the last successful commit.
        }
    }

    /** Assign and seek without a group: partition 0, offset 15, read 5. */
    @ParameterizedTest
    @EnumSource(Clients.class)
    void assignAndSeek(Clients clients) throws Exception {
        String topic = "seek-" + clients + "-" + id;
        createTopics(1, topic);
        try (Producer<String, String> producer = clients.producer(props(), new StringSerializer(),
                new StringSerializer())) {
            for (int i = 0; i < 30; i++) producer.send(new ProducerRecord<>(topic, "k" + i, "v" + i));
        }
        TopicPartition tp = new TopicPartition(topic, 0);
        List<Long> offsets = new ArrayList<>();
        try (Consumer<String, String> consumer = clients.consumer(props(), new StringDeserializer(),
                new StringDeserializer())) {
            consumer.assign(List.of(tp));
            consumer.seek(tp, 15);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (offsets.size() < 5 && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    if (offsets.size() < 5) offsets.add(r.offset());
                }
            }
            assertEquals(30L, consumer.endOffsets(List.of(tp)).get(tp));
            assertEquals(0L, consumer.beginningOffsets(List.of(tp)).get(tp));
        }
        assertEquals(List.of(15L, 16L, 17L, 18L, 19L), offsets);
    }
}
