// A Kafka Streams application with a state store backed by a compacted changelog, run by
// scripts/streams-check.sh against Apache Kafka and against potok:
//
//   java StreamsCheck BOOTSTRAP APP_ID STATE_DIR ROUNDS EXPECTED_PER_WORD
//
// Word count: lines from <APP_ID>-input are split into words and counted in the store "counts", whose
// changelog <APP_ID>-counts-changelog is compacted (segment.ms=100, min.cleanable.dirty.ratio=0.01, so the log
// cleaner gets to it during the run). The program produces ROUNDS rounds of input while the application runs,
// waits after each round until the store has counted it, and at the end checks that every word's count is
// EXPECTED_PER_WORD: a second run with an empty STATE_DIR only gets there if the store was restored from the
// changelog. It prints what it restored and exits 0 on success, 1 on a wrong count or a timeout.
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;

public final class StreamsCheck {
    static final List<String> WORDS = List.of("alpha", "beta", "gamma", "delta");
    static final int LINES_PER_ROUND = 25;

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String appId = args[1];
        String stateDir = args[2];
        int rounds = Integer.parseInt(args[3]);
        long expected = Long.parseLong(args[4]);
        String input = appId + "-input";

        Properties adminProps = new Properties();
        adminProps.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(adminProps)) {
            if (!admin.listTopics().names().get(30, TimeUnit.SECONDS).contains(input)) {
                admin.createTopics(List.of(new NewTopic(input, 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
            }
        }

        StreamsBuilder builder = new StreamsBuilder();
        Map<String, String> changelog = Map.of("segment.ms", "100", "min.cleanable.dirty.ratio", "0.01");
        builder.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
            .flatMapValues(line -> Arrays.asList(line.split(" ")))
            .selectKey((key, word) -> word)
            .groupByKey(Grouped.with(Serdes.String(), Serdes.String()))
            .count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as("counts")
                .withLoggingEnabled(changelog));

        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        props.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
        // Every update goes to the changelog (no caching), and is committed often.
        props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        props.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");

        AtomicLong restored = new AtomicLong();
        KafkaStreams streams = new KafkaStreams(builder.build(), props);
        streams.setGlobalStateRestoreListener(new StateRestoreListener() {
            public void onRestoreStart(TopicPartition tp, String store, long start, long end) {
                System.out.println("streams-check: restoring " + store + " from " + tp + " offsets " + start + " to " + end);
            }
            public void onBatchRestored(TopicPartition tp, String store, long batchEnd, long n) {
                restored.addAndGet(n);
            }
            public void onRestoreEnd(TopicPartition tp, String store, long total) {
                System.out.println("streams-check: restored " + total + " records of " + store);
            }
        });
        streams.start();
        int status = 1;
        Properties producerProps = new Properties();
        producerProps.put("bootstrap.servers", bootstrap);
        try (KafkaProducer<String, String> producer =
                 new KafkaProducer<>(producerProps, new StringSerializer(), new StringSerializer())) {
            waitUntil(() -> streams.state() == KafkaStreams.State.RUNNING && count(streams, WORDS.get(0)) >= 0,
                "the application to run with its store restored");
            long base = count(streams, WORDS.get(0));
            for (int round = 0; round < rounds; round++) {
                for (int i = 0; i < LINES_PER_ROUND; i++) {
                    producer.send(new ProducerRecord<>(input, null, String.join(" ", WORDS))).get();
                }
                long want = base + (long) (round + 1) * LINES_PER_ROUND;
                waitUntil(() -> WORDS.stream().allMatch(w -> count(streams, w) == want), "round " + round);
                // Apart in time, so the changelog's segments roll and the cleaner has sealed ones to clean.
                Thread.sleep(300);
            }
            Map<String, Long> counts = new HashMap<>();
            for (String w : WORDS) counts.put(w, count(streams, w));
            System.out.println("streams-check: counts " + counts + ", " + restored.get() + " changelog records restored");
            status = counts.values().stream().allMatch(c -> c == expected) ? 0 : 1;
            if (status != 0) System.out.println("streams-check: expected " + expected + " for every word");
        } catch (Exception e) {
            System.out.println("streams-check: " + e);
        } finally {
            streams.close(Duration.ofSeconds(30));
        }
        System.exit(status);
    }

    static long count(KafkaStreams streams, String word) {
        try {
            ReadOnlyKeyValueStore<String, Long> store = streams.store(
                StoreQueryParameters.fromNameAndType("counts", QueryableStoreTypes.keyValueStore()));
            Long c = store.get(word);
            return c == null ? 0 : c;
        } catch (Exception e) {
            // The store is not queryable during a rebalance or a restore.
            return -1;
        }
    }

    interface Check {
        boolean ok();
    }

    static void waitUntil(Check check, String what) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (!check.ok()) {
            if (System.nanoTime() > deadline) throw new IllegalStateException("timed out waiting for " + what);
            Thread.sleep(100);
        }
    }
}
