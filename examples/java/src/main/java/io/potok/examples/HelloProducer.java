package io.potok.examples;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.IntegerSerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The course's HelloProducer (CURRICULUM.md §2): 1,000,000 records, key {@code i} (an Integer) and value
 * {@code "Simple Message-i"}, into {@code hello-producer-topic} (5 partitions, replication factor 3). Kafka's
 * default partitioner puts key 1 on partition 0, 2 on 3, 3 on 1, 4 on 3, 5 on 4. Same stdout lines as
 * hello_producer.py: {@code key K -> partition P}, {@code partition P: N records}, {@code sent N records in S s}.
 *
 * <pre>java ... io.potok.examples.HelloProducer [--bootstrap-servers HOST:PORT,...] [--count 1000000]</pre>
 */
public final class HelloProducer {
    public static void main(String[] args) throws Exception {
        try (Course course = new Course(args, Map.of("topic", "hello-producer-topic", "count", "1000000",
                "partitions", "5", "replication-factor", "3", "show", "10"))) {
            String topic = course.get("topic");
            int count = course.getInt("count"), partitions = course.getInt("partitions");
            course.createTopic(topic, partitions, course.getInt("replication-factor"), Map.of());
            List<Future<RecordMetadata>> first = new ArrayList<>();
            long started = System.nanoTime();
            Course.log("Start sending messages...");
            try (KafkaProducer<Integer, String> producer = new KafkaProducer<>(
                    course.props("client.id", "HelloProducer"), new IntegerSerializer(), new StringSerializer())) {
                for (int i = 1; i <= count; i++) {
                    Future<RecordMetadata> sent = producer.send(new ProducerRecord<>(topic, i, "Simple Message-" + i));
                    if (i <= course.getInt("show")) first.add(sent);
                }
                Course.log("Finished - Closing Kafka Producer.");
            }
            double elapsed = (System.nanoTime() - started) / 1e9;
            for (int i = 0; i < first.size(); i++) {
                System.out.println("key " + (i + 1) + " -> partition " + first.get(i).get(30, TimeUnit.SECONDS).partition());
            }
            List<Long> ends = course.endOffsets(topic, partitions);
            for (int p = 0; p < partitions; p++) System.out.println("partition " + p + ": " + ends.get(p) + " records");
            System.out.printf("sent %d records in %.1f s%n", count, elapsed);
        }
    }
}
