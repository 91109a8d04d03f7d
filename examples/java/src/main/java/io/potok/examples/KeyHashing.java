package io.potok.examples;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The course's key hashing (CURRICULUM.md §6): String keys id_0..id_9 on 3 partitions land on 1, 0, 2, 0, 2, 2, 0,
 * 2, 1, 2; after the topic grows to 4 partitions the same keys are sent again and some move. Same stdout lines as
 * key_hashing.py.
 *
 * <pre>java ... io.potok.examples.KeyHashing [--bootstrap-servers HOST:PORT,...] [--topic first_topic]</pre>
 */
public final class KeyHashing {
    public static void main(String[] args) throws Exception {
        try (Course course = new Course(args, Map.of("topic", "first_topic", "replication-factor", "3"))) {
            String topic = course.get("topic");
            course.createTopic(topic, 3, course.getInt("replication-factor"), Map.of());
            List<Integer> before = send(course, topic);
            for (int i = 0; i < 10; i++) System.out.println("3 partitions: key id_" + i + " -> partition " + before.get(i));
            try (Admin admin = Admin.create(course.props())) {
                admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(4))).all().get(30, TimeUnit.SECONDS);
            }
            course.createTopic(topic, 4, course.getInt("replication-factor"), Map.of()); // waits for the new leader
            // A new producer asks for the topic's metadata at once (a running one would learn of the new partition
            // with its next metadata refresh, metadata.max.age.ms).
            List<Integer> after = send(course, topic);
            int moved = 0;
            for (int i = 0; i < 10; i++) {
                System.out.println("4 partitions: key id_" + i + " -> partition " + after.get(i));
                if (!before.get(i).equals(after.get(i))) moved++;
            }
            System.out.println("keys that moved: " + moved + " of 10");
        }
    }

    static List<Integer> send(Course course, String topic) throws Exception {
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(course.props(), new StringSerializer(),
                new StringSerializer())) {
            for (int i = 0; i < 10; i++) sent.add(producer.send(new ProducerRecord<>(topic, "id_" + i, "hello world " + i)));
        }
        List<Integer> partitions = new ArrayList<>();
        for (Future<RecordMetadata> f : sent) partitions.add(f.get(30, TimeUnit.SECONDS).partition());
        return partitions;
    }

    private KeyHashing() {}
}
