package io.potok.examples;

import java.time.Duration;
import java.util.ArrayList;
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
 * The course's PosValidator (CURRICULUM.md §5), consume-transform-produce: a consumer in the group
 * {@code PosValidatorGroup} (auto.offset.reset=earliest) reads JSON invoices from {@code pos}; a HOME-DELIVERY
 * invoice with an empty ContactNumber goes to {@code invalid-pos}, every other one to {@code valid-pos}, keyed by
 * StoreID. {@code --produce N} first sends N invoices (500 on the embedded cluster); the validator stops after
 * {@code --idle} seconds without an invoice (0: never), then both topics are read back. Same stdout lines as
 * pos_validator.py.
 *
 * <pre>java ... io.potok.examples.PosValidator [--bootstrap-servers HOST:PORT,...] [--produce 500] [--idle 5]</pre>
 */
public final class PosValidator {
    public static void main(String[] args) throws Exception {
        try (Course course = new Course(args, Map.of("source", "pos", "valid-topic", "valid-pos", "invalid-topic",
                "invalid-pos", "group", "PosValidatorGroup", "produce", "-1", "idle", "5", "replication-factor", "3"))) {
            int rf = course.getInt("replication-factor");
            for (String topic : List.of(course.get("source"), course.get("valid-topic"), course.get("invalid-topic"))) {
                course.createTopic(topic, 3, rf, Map.of("min.insync.replicas", String.valueOf(Math.min(2, rf))));
            }
            int count = course.getInt("produce") >= 0 ? course.getInt("produce") : course.cluster != null ? 500 : 0;
            if (count > 0) produceInvoices(course, course.get("source"), count);
            validate(course, Double.parseDouble(course.get("idle")));
            List<Map<String, Object>> valid = readBack(course, course.get("valid-topic"));
            List<Map<String, Object>> invalid = readBack(course, course.get("invalid-topic"));
            System.out.println(course.get("valid-topic") + ": " + valid.size() + " records, every one passes the rule: "
                    + (valid.stream().noneMatch(PosInvoices::isInvalid) ? "yes" : "no"));
            System.out.println(course.get("invalid-topic") + ": " + invalid.size()
                    + " records, every one HOME-DELIVERY without ContactNumber: "
                    + (invalid.stream().allMatch(PosInvoices::isInvalid) ? "yes" : "no"));
        }
    }

    /** Sends {@code count} random invoices keyed by StoreID, as the course's POS simulator does. */
    static void produceInvoices(Course course, String topic, int count) {
        PosInvoices generator = new PosInvoices(7);
        int invalid = 0;
        try (KafkaProducer<String, Map<String, Object>> producer = new KafkaProducer<>(course.props("client.id",
                "PosSimulator"), new StringSerializer(), new PosInvoices.JsonSerializer())) {
            for (int i = 0; i < count; i++) {
                Map<String, Object> invoice = generator.next();
                if (PosInvoices.isInvalid(invoice)) invalid++;
                producer.send(new ProducerRecord<>(topic, (String) invoice.get("StoreID"), invoice));
            }
        }
        System.out.println("produced " + count + " invoices (invalid: " + invalid + ")");
    }

    static void validate(Course course, double idleSeconds) {
        int valid = 0, invalid = 0;
        try (KafkaConsumer<String, Map<String, Object>> consumer = new KafkaConsumer<>(course.props("group.id",
                course.get("group"), "client.id", "PosValidator", "auto.offset.reset", "earliest"),
                new StringDeserializer(), new PosInvoices.JsonDeserializer());
                KafkaProducer<String, Map<String, Object>> producer = new KafkaProducer<>(course.props("client.id",
                        "PosValidator"), new StringSerializer(), new PosInvoices.JsonSerializer())) {
            consumer.subscribe(List.of(course.get("source")));
            Course.log("PosValidator reading " + course.get("source") + " in group " + course.get("group") + "...");
            long last = System.nanoTime();
            while (idleSeconds <= 0 || System.nanoTime() - last < idleSeconds * 1e9) {
                var records = consumer.poll(Duration.ofMillis(500));
                // The idle clock starts once the group has given this member its partitions.
                if (records.isEmpty() && consumer.assignment().isEmpty()) last = System.nanoTime();
                for (ConsumerRecord<String, Map<String, Object>> r : records) {
                    last = System.nanoTime();
                    boolean bad = PosInvoices.isInvalid(r.value());
                    String topic = course.get(bad ? "invalid-topic" : "valid-topic");
                    producer.send(new ProducerRecord<>(topic, (String) r.value().get("StoreID"), r.value()));
                    if (bad) invalid++;
                    else valid++;
                }
            }
            producer.flush();
            consumer.commitSync();
        }
        System.out.println("validated " + (valid + invalid) + " invoices: valid " + valid + ", invalid " + invalid);
    }

    static List<Map<String, Object>> readBack(Course course, String topic) throws Exception {
        long expected = course.endOffsets(topic, 3).stream().mapToLong(Long::longValue).sum();
        List<Map<String, Object>> got = new ArrayList<>();
        try (KafkaConsumer<String, Map<String, Object>> consumer = new KafkaConsumer<>(course.props(),
                new StringDeserializer(), new PosInvoices.JsonDeserializer())) {
            List<TopicPartition> all = List.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1),
                    new TopicPartition(topic, 2));
            consumer.assign(all);
            consumer.seekToBeginning(all);
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (got.size() < expected && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, Map<String, Object>> r : consumer.poll(Duration.ofMillis(500))) {
                    if (!r.key().equals(r.value().get("StoreID"))) {
                        throw new IllegalStateException(topic + ": key " + r.key() + " is not the StoreID");
                    }
                    got.add(r.value());
                }
            }
        }
        return got;
    }
}
