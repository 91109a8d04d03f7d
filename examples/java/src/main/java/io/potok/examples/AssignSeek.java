package io.potok.examples;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The course's assign and seek (CURRICULUM.md §5): a consumer without a group assigns itself partition 0, seeks
 * to offset 15 and reads 5 records (offsets 15 to 19). It first writes {@code --produce} records (30) to partition
 * 0 of {@code assign-seek-topic} (3 partitions). Same stdout lines as assign_seek.py.
 *
 * <pre>java ... io.potok.examples.AssignSeek [--bootstrap-servers HOST:PORT,...] [--offset 15] [--read 5]</pre>
 */
public final class AssignSeek {
    public static void main(String[] args) throws Exception {
        try (Course course = new Course(args, Map.of("topic", "assign-seek-topic", "produce", "30", "offset", "15",
                "read", "5", "replication-factor", "3"))) {
            String topic = course.get("topic");
            course.createTopic(topic, 3, course.getInt("replication-factor"), Map.of());
            long base = course.endOffsets(topic, 3).get(0);
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(course.props(), new StringSerializer(),
                    new StringSerializer())) {
                for (int i = 0; i < course.getInt("produce"); i++) {
                    producer.send(new ProducerRecord<>(topic, 0, null, "record " + (base + i)));
                }
            }
            int wanted = course.getInt("read"), read = 0;
            // No group.id: assign() and seek() need none, and nothing is committed.
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(course.props("enable.auto.commit",
                    "false"), new StringDeserializer(), new StringDeserializer())) {
                TopicPartition partition = new TopicPartition(topic, 0);
                consumer.assign(List.of(partition));
                consumer.seek(partition, course.getInt("offset"));
                long deadline = System.nanoTime() + 30_000_000_000L;
                while (read < wanted && System.nanoTime() < deadline) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                        if (read == wanted) break;
                        System.out.println("partition " + r.partition() + " offset " + r.offset() + ": " + r.value());
                        read++;
                    }
                }
            }
            System.out.println("read " + read + " records from offset " + course.get("offset")
                    + " (no group, nothing committed)");
        }
    }
}
