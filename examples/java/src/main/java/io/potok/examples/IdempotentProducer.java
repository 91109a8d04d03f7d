package io.potok.examples;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The course's idempotent producer (CURRICULUM.md §3): {@code enable.idempotence=true} (implying acks=all,
 * retries=MAX, max.in.flight.requests.per.connection<=5) makes the broker drop a batch it already has when the
 * producer retries it. On the embedded cluster the broker leading partition 0 is stopped halfway, so requests in
 * flight are retried to the new leader; the topic is then read back. Same stdout lines as idempotent_producer.py.
 *
 * <pre>java ... io.potok.examples.IdempotentProducer [--bootstrap-servers HOST:PORT,...] [--count 100000]</pre>
 */
public final class IdempotentProducer {
    public static void main(String[] args) throws Exception {
        try (Course course = new Course(args, Map.of("topic", "idempotent-topic", "count", "100000",
                "partitions", "3", "replication-factor", "3"))) {
            String topic = course.get("topic");
            int count = course.getInt("count"), partitions = course.getInt("partitions");
            course.createTopic(topic, partitions, course.getInt("replication-factor"), Map.of());
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(course.props("enable.idempotence",
                    "true", "acks", "all", "linger.ms", "5", "client.id", "IdempotentProducer"),
                    new StringSerializer(), new StringSerializer())) {
                for (int i = 0; i < count; i++) {
                    if (course.cluster != null && i == count / 2) {
                        int leader;
                        try (Admin admin = Admin.create(course.props())) {
                            leader = admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS)
                                    .get(topic).partitions().get(0).leader().id();
                        }
                        course.cluster.stopBroker(leader);
                        System.out.println("stopped broker " + leader + " after " + i + " records");
                    }
                    producer.send(new ProducerRecord<>(topic, String.valueOf(i), "record " + i));
                }
            }
            Set<Integer> seen = new HashSet<>();
            Map<Integer, Integer> last = new HashMap<>();
            int read = 0, duplicates = 0, outOfOrder = 0;
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(course.props(), new StringDeserializer(),
                    new StringDeserializer())) {
                List<TopicPartition> all = new ArrayList<>();
                for (int p = 0; p < partitions; p++) all.add(new TopicPartition(topic, p));
                consumer.assign(all);
                consumer.seekToBeginning(all);
                long deadline = System.nanoTime() + 60_000_000_000L, extra = Long.MAX_VALUE;
                while (System.nanoTime() < Math.min(deadline, extra)) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                        int key = Integer.parseInt(r.key());
                        read++;
                        if (!seen.add(key)) duplicates++;
                        if (last.getOrDefault(r.partition(), -1) > key) outOfOrder++;
                        last.put(r.partition(), key);
                    }
                    // Anything beyond the count (a duplicate) would show within a second more.
                    if (read >= count && extra == Long.MAX_VALUE) extra = System.nanoTime() + 1_000_000_000L;
                }
            }
            System.out.println("sent " + count + " records, read " + read + ", duplicates " + duplicates
                    + ", missing " + (count - seen.size()) + ", out of order " + outOfOrder);
        }
    }
}
