package io.potok.examples;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.IntegerSerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The course's multi-threaded producer (CURRICULUM.md §3): one thread-safe KafkaProducer shared by a Dispatcher
 * thread per CSV file of NSE end-of-day prices; each sends its file's lines (the header left out) as values with a
 * null key to {@code nse-eod-topic} (5 partitions, replication factor 3). Same stdout lines as
 * multithreaded_producer.py; the files are synthetic, with the course's columns (examples/data).
 *
 * <pre>java ... io.potok.examples.MultiThreadedProducer [--bootstrap-servers HOST:PORT,...] [--files a.csv,b.csv]</pre>
 */
public final class MultiThreadedProducer {
    /** The course's Dispatcher: reads one file and sends each line. */
    static final class Dispatcher extends Thread {
        final KafkaProducer<Integer, String> producer;
        final String topic;
        final Path file;
        final Map<String, Integer> sent;
        volatile Exception error;

        Dispatcher(KafkaProducer<Integer, String> producer, String topic, Path file, Map<String, Integer> sent) {
            super(file.getFileName().toString());
            this.producer = producer;
            this.topic = topic;
            this.file = file;
            this.sent = sent;
        }

        @Override
        public void run() {
            try {
                List<String> lines = lines(file);
                for (String line : lines) {
                    producer.send(new ProducerRecord<>(topic, null, line));
                    sent.merge(line, 1, Integer::sum);
                }
                System.out.println("dispatcher " + getName() + ": sent " + lines.size() + " lines");
            } catch (Exception e) {
                error = e;
            }
        }
    }

    static List<String> lines(Path file) throws IOException {
        List<String> all = Files.readAllLines(file);
        return all.subList(1, all.size()).stream().filter(l -> !l.isBlank()).toList();
    }

    public static void main(String[] args) throws Exception {
        String data = Path.of("examples", "data").toString();
        try (Course course = new Course(args, Map.of("topic", "nse-eod-topic", "replication-factor", "3", "files",
                Path.of(data, "NSE05NOV2018BHAV.csv") + "," + Path.of(data, "NSE06NOV2018BHAV.csv")))) {
            String topic = course.get("topic");
            course.createTopic(topic, 5, course.getInt("replication-factor"), Map.of());
            Map<String, Integer> sent = new ConcurrentHashMap<>();
            try (KafkaProducer<Integer, String> producer = new KafkaProducer<>(course.props("client.id",
                    "MultiThreadProducer"), new IntegerSerializer(), new StringSerializer())) {
                List<Dispatcher> dispatchers = new ArrayList<>();
                for (String file : course.get("files").split(",")) {
                    Dispatcher d = new Dispatcher(producer, topic, Path.of(file), sent);
                    d.start();
                    dispatchers.add(d);
                }
                for (Dispatcher d : dispatchers) {
                    d.join();
                    if (d.error != null) throw d.error;
                }
            }
            List<Long> ends = course.endOffsets(topic, 5);
            for (int p = 0; p < 5; p++) System.out.println("partition " + p + ": " + ends.get(p) + " records");
            long total = ends.stream().mapToLong(Long::longValue).sum();
            Map<String, Integer> read = new HashMap<>();
            int count = 0;
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(course.props(), new StringDeserializer(),
                    new StringDeserializer())) {
                List<TopicPartition> all = new ArrayList<>();
                for (int p = 0; p < 5; p++) all.add(new TopicPartition(topic, p));
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
            System.out.println("read " + count + " lines, each sent line once: " + (read.equals(sent) ? "yes" : "no"));
        }
    }
}
