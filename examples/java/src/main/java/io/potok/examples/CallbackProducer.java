package io.potok.examples;

import java.util.Map;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.IntegerSerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The course's callback and synchronous producers (CURRICULUM.md §2): records into {@code hello-producer}
 * (1 partition), each acknowledgement printed as "Message i persisted with offset X and timestamp T". By default
 * {@code send(record, callback)}; with {@code --sync}, {@code send(record).get()} before the next record.
 *
 * <pre>java ... io.potok.examples.CallbackProducer [--bootstrap-servers HOST:PORT,...] [--count 10] [--sync]</pre>
 */
public final class CallbackProducer {
    public static void main(String[] args) throws Exception {
        try (Course course = new Course(args, Map.of("topic", "hello-producer", "count", "10",
                "replication-factor", "3", "sync", "false"))) {
            String topic = course.get("topic");
            course.createTopic(topic, 1, course.getInt("replication-factor"), Map.of());
            try (KafkaProducer<Integer, String> producer = new KafkaProducer<>(
                    course.props("client.id", "CallbackProducer"), new IntegerSerializer(), new StringSerializer())) {
                for (int i = 1; i <= course.getInt("count"); i++) {
                    ProducerRecord<Integer, String> record = new ProducerRecord<>(topic, i, "Simple Message-" + i);
                    int n = i;
                    if (course.flag("sync")) {
                        print(n, producer.send(record).get());
                    } else {
                        producer.send(record, (metadata, e) -> {
                            if (e != null) System.out.println("Message " + n + " failed: " + e);
                            else print(n, metadata);
                        });
                    }
                }
            }
        }
    }

    static void print(int i, RecordMetadata metadata) {
        System.out.println("Message " + i + " persisted with offset " + metadata.offset() + " and timestamp "
                + metadata.timestamp());
    }
}
