package io.potok.examples;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The course's record timestamps (CURRICULUM.md §2): a topic with message.timestamp.type=CreateTime keeps the
 * timestamp the producer set on each record; one with LogAppendTime replaces it with the broker's clock. The same
 * records, each stamped 1600000000000, go to both topics and are read back. Same stdout lines as timestamps.py.
 *
 * <pre>java ... io.potok.examples.Timestamps [--bootstrap-servers HOST:PORT,...] [--count 3]</pre>
 */
public final class Timestamps {
    static final long STAMP = 1_600_000_000_000L;

    public static void main(String[] args) throws Exception {
        long started = System.currentTimeMillis();
        try (Course course = new Course(args, Map.of("topic-prefix", "timestamps", "count", "3",
                "replication-factor", "3"))) {
            int count = course.getInt("count");
            Map<String, String> topics = Map.of(course.get("topic-prefix") + "-create-time", "CreateTime",
                    course.get("topic-prefix") + "-log-append-time", "LogAppendTime");
            for (var t : topics.entrySet()) {
                course.createTopic(t.getKey(), 1, course.getInt("replication-factor"),
                        Map.of("message.timestamp.type", t.getValue()));
            }
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(course.props(), new StringSerializer(),
                    new StringSerializer())) {
                for (String topic : topics.keySet()) {
                    for (int i = 0; i < count; i++) producer.send(new ProducerRecord<>(topic, null, STAMP, null, "record " + i));
                }
            }
            List<ConsumerRecord<String, String>> read = new ArrayList<>();
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(course.props(), new StringDeserializer(),
                    new StringDeserializer())) {
                List<TopicPartition> partitions = topics.keySet().stream().map(t -> new TopicPartition(t, 0)).toList();
                consumer.assign(partitions);
                consumer.seekToBeginning(partitions);
                long deadline = System.nanoTime() + 30_000_000_000L;
                while (read.size() < 2 * count && System.nanoTime() < deadline) {
                    consumer.poll(Duration.ofMillis(500)).forEach(read::add);
                }
            }
            long finished = System.currentTimeMillis();
            read.sort(Comparator.comparing((ConsumerRecord<String, String> r) -> r.topic()).thenComparing(r -> r.offset()));
            boolean within = false, outside = false;
            for (ConsumerRecord<String, String> r : read) {
                String kind = r.timestampType() == TimestampType.LOG_APPEND_TIME ? "LogAppendTime" : "CreateTime";
                System.out.println(r.topic() + " offset " + r.offset() + ": " + kind + " " + r.timestamp());
                if (r.timestampType() == TimestampType.LOG_APPEND_TIME) {
                    if (r.timestamp() >= started && r.timestamp() <= finished) within = true;
                    else outside = true;
                }
            }
            System.out.println("log append times within the run: " + (within && !outside ? "yes" : "no"));
        }
    }
}
