package io.potok.examples;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The course's "Twitter" producer (CURRICULUM.md §6): tweets into {@code twitter_tweets} (6 partitions, RF 3,
 * min.insync.replicas=2), null key, a callback logging failures, a shutdown hook that flushes and closes the
 * producer. The live stream is gone: it replays examples/data/tweets.jsonl. {@code --profile safe} or
 * {@code high-throughput} (safe plus snappy, linger.ms=20, batch.size=32768). Same stdout lines as
 * twitter_producer.py.
 *
 * <pre>java ... io.potok.examples.TwitterProducer [--bootstrap-servers HOST:PORT,...] [--profile high-throughput]</pre>
 */
public final class TwitterProducer {
    public static void main(String[] args) throws Exception {
        try (Course course = new Course(args, Map.of("topic", "twitter_tweets", "profile", "high-throughput",
                "tweets", Path.of("examples", "data", "tweets.jsonl").toString(), "replication-factor", "3",
                "min-insync-replicas", "2"))) {
            String topic = course.get("topic");
            List<String> tweets = Files.readAllLines(Path.of(course.get("tweets"))).stream()
                    .filter(l -> !l.isBlank()).toList();
            Map<String, String> config = new TreeMap<>(Map.of("enable.idempotence", "true", "acks", "all",
                    "retries", String.valueOf(Integer.MAX_VALUE), "max.in.flight.requests.per.connection", "5"));
            if (course.get("profile").equals("high-throughput")) {
                config.putAll(Map.of("compression.type", "snappy", "linger.ms", "20", "batch.size", "32768"));
            } else if (!course.get("profile").equals("safe")) {
                throw new IllegalArgumentException("--profile is safe or high-throughput");
            }
            course.createTopic(topic, 6, course.getInt("replication-factor"),
                    Map.of("min.insync.replicas", course.get("min-insync-replicas")));
            System.out.println("producer config: " + String.join(" ",
                    config.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList()));
            var props = course.props("client.id", "TwitterProducer");
            props.putAll(config);
            AtomicInteger failed = new AtomicInteger();
            KafkaProducer<String, String> producer = new KafkaProducer<>(props, new StringSerializer(),
                    new StringSerializer());
            // The course's clean shutdown: Ctrl-C runs the hook, which sends what is buffered and closes.
            Thread hook = new Thread(() -> {
                Course.log("stopping: flushing and closing the producer");
                producer.close();
            });
            Runtime.getRuntime().addShutdownHook(hook);
            for (String tweet : tweets) {
                producer.send(new ProducerRecord<>(topic, null, tweet), (metadata, e) -> {
                    if (e != null) {
                        Course.log("Something bad happened: " + e);
                        failed.incrementAndGet();
                    }
                });
            }
            producer.close();
            Runtime.getRuntime().removeShutdownHook(hook);
            System.out.println("sent " + tweets.size() + " tweets, failed " + failed.get());

            long total = course.endOffsets(topic, 6).stream().mapToLong(Long::longValue).sum();
            Map<String, Integer> read = new HashMap<>(), sent = new HashMap<>();
            tweets.forEach(t -> sent.merge(t, 1, Integer::sum));
            int count = 0;
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(course.props(), new StringDeserializer(),
                    new StringDeserializer())) {
                List<TopicPartition> all = new ArrayList<>();
                for (int p = 0; p < 6; p++) all.add(new TopicPartition(topic, p));
                consumer.assign(all);
                consumer.seekToBeginning(all);
                long deadline = System.nanoTime() + 30_000_000_000L;
                while (count < total && System.nanoTime() < deadline) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                        read.merge(r.value(), 1, Integer::sum);
                        count++;
                    }
                }
            }
            System.out.println("read " + count + " tweets, every one as sent: " + (read.equals(sent) ? "yes" : "no"));
            String potok = System.getenv("POTOK_BIN");
            if (course.cluster != null && potok != null) compressionOfBatches(course, topic, potok);
        }
    }

    /** Counts the batches of every partition's first segment on a broker holding it, by codec. */
    static void compressionOfBatches(Course course, String topic, String potok) throws Exception {
        Map<String, Integer> codecs = new TreeMap<>();
        for (int p = 0; p < 6; p++) {
            for (int broker : course.cluster.running()) {
                Path segment = course.cluster.logDir(broker).resolve(topic + "-" + p).resolve("00000000000000000000.log");
                if (!Files.exists(segment)) continue;
                Process dump = new ProcessBuilder(potok, "dump-log", "--files", segment.toString()).start();
                String out = new String(dump.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                dump.waitFor(60, TimeUnit.SECONDS);
                Matcher m = Pattern.compile("compresscodec: (\\w+)").matcher(out);
                while (m.find()) codecs.merge(m.group(1), 1, Integer::sum);
                break;
            }
        }
        int batches = codecs.values().stream().mapToInt(Integer::intValue).sum();
        System.out.println("batches: " + batches + ", " + String.join(", ",
                codecs.entrySet().stream().map(e -> "compresscodec " + e.getKey() + ": " + e.getValue()).toList()));
    }

    private TwitterProducer() {}
}
