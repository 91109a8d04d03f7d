package io.potok;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.potok.junit.PotokExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.ConcurrentModificationException;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** potok's own producer and consumer: what the curriculum tests do not cover (errors, headers, callbacks). */
class PotokClientsTest {
    @RegisterExtension
    static final PotokExtension POTOK = new PotokExtension();

    static Properties props(Object... pairs) {
        Properties p = new Properties();
        p.put("bootstrap.servers", POTOK.bootstrapServers());
        for (int i = 0; i < pairs.length; i += 2) p.put(pairs[i], pairs[i + 1]);
        return p;
    }

    @Test
    void configuredByKafkaKeysWithSerializerClasses() throws Exception {
        String topic = POTOK.freshTopic();
        Properties config = props("key.serializer", StringSerializer.class.getName(), "value.serializer",
                StringSerializer.class, "linger.ms", 0);
        try (PotokProducer<String, String> producer = new PotokProducer<>(config)) {
            RecordMetadata m = producer.send(new ProducerRecord<>(topic, "k", "v")).get(30, TimeUnit.SECONDS);
            assertEquals(topic, m.topic());
            assertEquals(0, m.offset());
            assertEquals(1, m.serializedKeySize());
            assertEquals(1, producer.partitionsFor(topic).size());
        }
        ConfigException bad = assertThrows(ConfigException.class,
                () -> new PotokProducer<>(props("acks", "most"), new StringSerializer(), new StringSerializer()));
        assertTrue(bad.getMessage().contains("acks"), bad.getMessage());
        assertThrows(ConfigException.class, () -> new PotokProducer<String, String>(props()));
    }

    @Test
    void headersNullsAndTimestampsRoundTrip() throws Exception {
        String topic = POTOK.freshTopic();
        RecordHeaders headers = new RecordHeaders();
        headers.add("h", new byte[] {1, 2});
        headers.add("h", null);
        try (PotokProducer<byte[], byte[]> producer =
                new PotokProducer<>(props(), new ByteArraySerializer(), new ByteArraySerializer())) {
            producer.send(new ProducerRecord<>(topic, 0, 1_700_000_000_000L, null, new byte[0], headers));
            producer.send(new ProducerRecord<>(topic, 0, 1_700_000_000_001L, new byte[] {9}, (byte[]) null));
            producer.flush();
        }
        List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();
        try (PotokConsumer<byte[], byte[]> consumer = new PotokConsumer<>(props("auto.offset.reset", "earliest"),
                new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer.assign(List.of(new TopicPartition(topic, 0)));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (records.size() < 2 && System.nanoTime() < deadline) {
                consumer.poll(Duration.ofMillis(200)).forEach(records::add);
            }
            OffsetAndTimestamp found = consumer.offsetsForTimes(Map.of(new TopicPartition(topic, 0), 1_700_000_000_001L))
                    .get(new TopicPartition(topic, 0));
            assertEquals(1, found.offset());
            assertEquals(1_700_000_000_001L, found.timestamp());
        }
        assertEquals(2, records.size());
        ConsumerRecord<byte[], byte[]> first = records.get(0);
        assertNull(first.key());
        assertArrayEquals(new byte[0], first.value());
        assertEquals(1_700_000_000_000L, first.timestamp());
        var h = first.headers().toArray();
        assertEquals(2, h.length);
        assertArrayEquals(new byte[] {1, 2}, h[0].value());
        assertNull(h[1].value());
        assertArrayEquals(new byte[] {9}, records.get(1).key());
        assertNull(records.get(1).value());
    }

    @Test
    void deliveryErrorsGoToCallbackAndFuture() throws Exception {
        String topic = POTOK.freshTopic(1);
        try (PotokProducer<String, String> producer = new PotokProducer<>(props("max.block.ms", 2000,
                "delivery.timeout.ms", 3000, "request.timeout.ms", 1000, "linger.ms", 0), new StringSerializer(),
                new StringSerializer())) {
            AtomicReference<Exception> seen = new AtomicReference<>();
            var future = producer.send(new ProducerRecord<>(topic, 7, "k", "v"), (m, e) -> seen.set(e));
            ExecutionException e = assertThrows(ExecutionException.class, () -> future.get(30, TimeUnit.SECONDS));
            assertInstanceOf(KafkaException.class, e.getCause());
            assertNotNull(seen.get(), "the callback ran before the future completed");
        }
    }

    @Test
    void fencedProducersGetProducerFencedException() throws Exception {
        String topic = POTOK.freshTopic();
        Properties config = props("transactional.id", "fenced-" + topic);
        try (PotokProducer<String, String> old = new PotokProducer<>(config, new StringSerializer(), new StringSerializer());
                PotokProducer<String, String> young =
                        new PotokProducer<>(config, new StringSerializer(), new StringSerializer())) {
            old.initTransactions();
            young.initTransactions();
            old.beginTransaction();
            old.send(new ProducerRecord<>(topic, "k", "v"));
            // As Kafka's producer: fencing is fatal, and every later transactional call throws it again.
            assertThrows(ProducerFencedException.class, old::commitTransaction);
            ExecutionException again = assertThrows(ExecutionException.class,
                    () -> old.send(new ProducerRecord<>(topic, "k", "again")).get(30, TimeUnit.SECONDS));
            assertInstanceOf(ProducerFencedException.class, again.getCause());
        }
    }

    @Test
    void javaPatternsAreTranslatedToTheEngineRegexSyntax() {
        assertEquals("orders\\.eu\\-1", PotokConsumer.engineRegex(Pattern.compile(Pattern.quote("orders.eu-1"))));
        assertEquals("a\\x20b\\(\\)|c.*", PotokConsumer.engineRegex(Pattern.compile("\\Qa b()\\E|c.*")));
        assertEquals("(?i)orders-.*", PotokConsumer.engineRegex(Pattern.compile("orders-.*", Pattern.CASE_INSENSITIVE)));
        assertEquals("x\\.y\\\\Qz", PotokConsumer.engineRegex(Pattern.compile("x\\.y\\\\Qz")));
        assertThrows(IllegalArgumentException.class,
                () -> PotokConsumer.engineRegex(Pattern.compile("a", Pattern.UNICODE_CASE)));
    }

    @Test
    void rebalanceListenerCommitCallbackAndPatternSubscription() throws Exception {
        String topic = POTOK.freshTopic(2);
        try (PotokProducer<String, String> producer =
                new PotokProducer<>(props(), new StringSerializer(), new StringSerializer())) {
            for (int i = 0; i < 10; i++) producer.send(new ProducerRecord<>(topic, "k" + i, "v" + i));
        }
        List<String> events = new ArrayList<>();
        CompletableFuture<Map<TopicPartition, OffsetAndMetadata>> committed = new CompletableFuture<>();
        try (PotokConsumer<String, String> consumer = new PotokConsumer<>(props("group.id", "g-" + topic,
                "auto.offset.reset", "earliest", "enable.auto.commit", "false"), new StringDeserializer(),
                new StringDeserializer())) {
            consumer.subscribe(Pattern.compile(Pattern.quote(topic)), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                    events.add("revoked " + partitions.size());
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    events.add("assigned " + partitions.size());
                }
            });
            int read = 0;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (read < 10 && System.nanoTime() < deadline) read += consumer.poll(Duration.ofMillis(200)).count();
            assertEquals(10, read);
            assertEquals(Map.of(topic, 2), Map.of(topic, consumer.assignment().size()));
            consumer.commitAsync((offsets, e) -> {
                if (e != null) committed.completeExceptionally(e);
                else committed.complete(offsets);
            });
            while (!committed.isDone() && System.nanoTime() < deadline) consumer.poll(Duration.ofMillis(100));
            long total = committed.get(1, TimeUnit.SECONDS).values().stream().mapToLong(OffsetAndMetadata::offset).sum();
            assertEquals(10, total);
            assertEquals("g-" + topic, consumer.groupMetadata().groupId());
            assertTrue(consumer.groupMetadata().generationId() > 0);
        }
        assertEquals(List.of("assigned 2", "revoked 2"), events);
    }

    @Test
    void listenerExceptionsSurfaceFromPoll() {
        String topic = POTOK.freshTopic();
        try (PotokConsumer<String, String> consumer = new PotokConsumer<>(props("group.id", "boom-" + topic),
                new StringDeserializer(), new StringDeserializer())) {
            consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {}

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    throw new IllegalArgumentException("boom");
                }
            });
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            KafkaException thrown = null;
            while (thrown == null && System.nanoTime() < deadline) {
                try {
                    consumer.poll(Duration.ofMillis(200));
                } catch (KafkaException e) {
                    thrown = e;
                }
            }
            assertNotNull(thrown);
            assertInstanceOf(IllegalArgumentException.class, thrown.getCause());
        }
    }

    @Test
    void wakeupInterruptsPollFromAnotherThread() throws Exception {
        String topic = POTOK.freshTopic();
        try (PotokConsumer<String, String> consumer = new PotokConsumer<>(props(), new StringDeserializer(),
                new StringDeserializer())) {
            consumer.assign(List.of(new TopicPartition(topic, 0)));
            Thread waker = new Thread(() -> {
                try {
                    Thread.sleep(300);
                } catch (InterruptedException e) {
                    return;
                }
                consumer.wakeup();
            });
            waker.start();
            assertThrows(WakeupException.class, () -> consumer.poll(Duration.ofSeconds(30)));
            waker.join(5000);
            // As Kafka's: a second thread using the consumer while a call runs is refused.
            Thread poller = new Thread(() -> consumer.poll(Duration.ofSeconds(2)));
            poller.start();
            Thread.sleep(300);
            assertThrows(ConcurrentModificationException.class, consumer::assignment);
            // Its poll(2 s) ends by its timeout; on a loaded machine that has taken over 10 s, so the wait is long.
            poller.join(60_000);
            assertFalse(poller.isAlive(), "the second thread's poll returned");
        }
    }

    @Test
    void closedClientsRefuseCalls() {
        PotokConsumer<String, String> consumer =
                new PotokConsumer<>(props(), new StringDeserializer(), new StringDeserializer());
        consumer.close();
        assertThrows(IllegalStateException.class, () -> consumer.poll(Duration.ZERO));
        PotokProducer<String, String> producer =
                new PotokProducer<>(props(), new StringSerializer(), new StringSerializer());
        producer.close(Duration.ofSeconds(5));
        assertThrows(IllegalStateException.class, () -> producer.send(new ProducerRecord<>("t", "v")));
    }

    @Test
    void unknownTopicTimesOutWithoutAutoCreation() {
        try (PotokConsumer<String, String> consumer = new PotokConsumer<>(props("allow.auto.create.topics", "false",
                "default.api.timeout.ms", 1000), new StringDeserializer(), new StringDeserializer())) {
            RuntimeException e = assertThrows(RuntimeException.class,
                    () -> consumer.partitionsFor("no-such-topic-" + System.nanoTime(), Duration.ofSeconds(1)));
            assertTrue(e instanceof TimeoutException || e instanceof KafkaException, e.toString());
        }
    }
}
