package io.potok.examples;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.IntegerDeserializer;
import org.apache.kafka.common.serialization.IntegerSerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The course's custom partitioner (CURRICULUM.md §2): {@code partitioner.class=OddEvenPartitioner} on a topic of
 * 2 partitions puts odd keys in partition 1 and even keys in partition 0. Same stdout lines as key_partitioner.py.
 *
 * <pre>java ... io.potok.examples.KeyPartitioner [--bootstrap-servers HOST:PORT,...] [--count 10]</pre>
 */
public final class KeyPartitioner {
    public static void main(String[] args) throws Exception {
        try (Course course = new Course(args, Map.of("topic", "odd-even-topic", "count", "10",
                "replication-factor", "3"))) {
            String topic = course.get("topic");
            int count = course.getInt("count");
            course.createTopic(topic, 2, course.getInt("replication-factor"), Map.of());
            List<Future<RecordMetadata>> sent = new ArrayList<>();
            try (KafkaProducer<Integer, String> producer = new KafkaProducer<>(course.props("partitioner.class",
                    OddEvenPartitioner.class.getName()), new IntegerSerializer(), new StringSerializer())) {
                for (int key = 1; key <= count; key++) {
                    sent.add(producer.send(new ProducerRecord<>(topic, key, "Simple Message-" + key)));
                }
            }
            for (int key = 1; key <= count; key++) {
                System.out.println("key " + key + " -> partition " + sent.get(key - 1).get(30, TimeUnit.SECONDS).partition());
            }
            Map<Integer, TreeSet<Integer>> held = new TreeMap<>(Map.of(0, new TreeSet<>(), 1, new TreeSet<>()));
            try (KafkaConsumer<Integer, String> consumer = new KafkaConsumer<>(course.props(),
                    new IntegerDeserializer(), new StringDeserializer())) {
                List<TopicPartition> both = List.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1));
                consumer.assign(both);
                consumer.seekToBeginning(both);
                long deadline = System.nanoTime() + 30_000_000_000L;
                int read = 0;
                while (read < count && System.nanoTime() < deadline) {
                    for (ConsumerRecord<Integer, String> r : consumer.poll(Duration.ofMillis(500))) {
                        held.get(r.partition()).add(r.key());
                        read++;
                    }
                }
            }
            for (var e : held.entrySet()) {
                System.out.println("partition " + e.getKey() + " holds keys "
                        + String.join(" ", e.getValue().stream().map(String::valueOf).toList()));
            }
        }
    }
}
