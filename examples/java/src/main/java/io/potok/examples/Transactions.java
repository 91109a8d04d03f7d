package io.potok.examples;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.IntegerDeserializer;
import org.apache.kafka.common.serialization.IntegerSerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The course's transactions (CURRICULUM.md §3): one transactional producer ({@code transactional.id=
 * Hello-Producer-Trans}) writes to {@code hello-producer-1} and {@code hello-producer-2} (5 partitions,
 * replication factor 3, min.insync.replicas=2). T1 sends keys 1-2 to both topics and commits; T2 sends the same
 * and aborts. A read_committed consumer sees T1's four records only; a read_uncommitted one sees all eight. Same
 * stdout lines as transactions.py.
 *
 * <pre>java ... io.potok.examples.Transactions [--bootstrap-servers HOST:PORT,...] [--count 2]</pre>
 */
public final class Transactions {
    public static void main(String[] args) throws Exception {
        try (Course course = new Course(args, Map.of("topic-prefix", "hello-producer", "transactional-id",
                "Hello-Producer-Trans", "count", "2", "replication-factor", "3", "min-insync-replicas", "2"))) {
            List<String> topics = List.of(course.get("topic-prefix") + "-1", course.get("topic-prefix") + "-2");
            int count = course.getInt("count");
            for (String topic : topics) {
                course.createTopic(topic, 5, course.getInt("replication-factor"),
                        Map.of("min.insync.replicas", course.get("min-insync-replicas")));
            }
            try (KafkaProducer<Integer, String> producer = new KafkaProducer<>(course.props("client.id",
                    "HelloProducer", "transactional.id", course.get("transactional-id")), new IntegerSerializer(),
                    new StringSerializer())) {
                producer.initTransactions();
                Course.log("Starting First Transaction...");
                producer.beginTransaction();
                send(producer, topics, "T1", count);
                producer.commitTransaction();
                Course.log("Starting Second Transaction...");
                producer.beginTransaction();
                send(producer, topics, "T2", count);
                producer.flush();
                producer.abortTransaction();
                Course.log("Aborting Second Transaction...");
            }
            for (String isolation : List.of("read_committed", "read_uncommitted")) {
                int expected = isolation.equals("read_committed") ? 2 * count : 4 * count;
                List<String> rows = read(course, topics, isolation, expected);
                rows.sort(null);
                for (String row : rows) System.out.println(isolation + ": " + row);
                long t1 = rows.stream().filter(r -> r.contains("-T1-")).count();
                long t2 = rows.stream().filter(r -> r.contains("-T2-")).count();
                System.out.println(isolation + " saw " + rows.size() + " records (T1: " + t1 + ", T2: " + t2 + ")");
            }
        }
    }

    static void send(KafkaProducer<Integer, String> producer, List<String> topics, String name, int count) {
        for (int i = 1; i <= count; i++) {
            for (String topic : topics) producer.send(new ProducerRecord<>(topic, i, "Simple Message-" + name + "-" + i));
        }
    }

    /** Everything a fresh group reads from the topics' beginning, until {@code expected} records came and 1 s more. */
    static List<String> read(Course course, List<String> topics, String isolation, int expected) {
        List<String> rows = new ArrayList<>();
        try (KafkaConsumer<Integer, String> consumer = new KafkaConsumer<>(course.props("group.id",
                "txn-reader-" + UUID.randomUUID(), "auto.offset.reset", "earliest", "isolation.level", isolation),
                new IntegerDeserializer(), new StringDeserializer())) {
            consumer.subscribe(topics);
            long deadline = System.nanoTime() + 30_000_000_000L, extra = Long.MAX_VALUE;
            while (System.nanoTime() < Math.min(deadline, extra)) {
                for (ConsumerRecord<Integer, String> r : consumer.poll(Duration.ofMillis(200))) {
                    rows.add(r.topic() + " key " + r.key() + " " + r.value());
                }
                if (rows.size() >= expected && extra == Long.MAX_VALUE) extra = System.nanoTime() + 1_000_000_000L;
            }
        }
        return rows;
    }
}
