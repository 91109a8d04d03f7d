package io.potok.examples;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The course's consumer groups (CURRICULUM.md §5): PosValidator instances join {@code PosValidatorGroup} one after
 * another and the group reassigns {@code pos}'s 3 partitions among them; then one instance leaves (stopped with
 * {@code wakeup()}, as the course stops a consumer thread) and its partition moves. The group's offsets and lag
 * are shown as {@code kafka-consumer-groups --describe} shows them. Same stdout lines as consumer_groups.py.
 *
 * <pre>java ... io.potok.examples.ConsumerGroups [--bootstrap-servers HOST:PORT,...] [--instances 3] [--produce 300]</pre>
 */
public final class ConsumerGroups {
    /** One PosValidator in its own thread: polls, forwards, commits; {@link #shutdown} wakes it up to stop. */
    static final class Instance extends Thread {
        final KafkaConsumer<String, Map<String, Object>> consumer;
        final KafkaProducer<String, Map<String, Object>> producer;
        final Course course;
        final Set<Integer> assigned = java.util.Collections.synchronizedSet(new TreeSet<>());
        final AtomicInteger validated;
        volatile Throwable error;

        Instance(Course course, String name, AtomicInteger validated) {
            super(name);
            this.course = course;
            this.validated = validated;
            consumer = new KafkaConsumer<>(course.props("group.id", course.get("group"), "client.id", name,
                    "auto.offset.reset", "earliest", "enable.auto.commit", "false", "heartbeat.interval.ms",
                    course.get("heartbeat-interval-ms")), new StringDeserializer(),
                    new PosInvoices.JsonDeserializer());
            producer = new KafkaProducer<>(course.props("client.id", name), new StringSerializer(),
                    new PosInvoices.JsonSerializer());
        }

        @Override
        public void run() {
            try {
                consumer.subscribe(List.of(course.get("source")), new ConsumerRebalanceListener() {
                    @Override
                    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                        partitions.forEach(tp -> assigned.remove(tp.partition()));
                    }

                    @Override
                    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                        partitions.forEach(tp -> assigned.add(tp.partition()));
                    }
                });
                while (true) {
                    ConsumerRecords<String, Map<String, Object>> records = consumer.poll(Duration.ofMillis(200));
                    for (ConsumerRecord<String, Map<String, Object>> r : records) {
                        String topic = course.get(PosInvoices.isInvalid(r.value()) ? "invalid-topic" : "valid-topic");
                        producer.send(new ProducerRecord<>(topic, (String) r.value().get("StoreID"), r.value()));
                    }
                    if (!records.isEmpty()) {
                        // At least once: what was read is forwarded before its offsets are committed.
                        producer.flush();
                        consumer.commitSync();
                        validated.addAndGet(records.count());
                    }
                }
            } catch (WakeupException e) {
                // shutdown(): leave the group.
            } catch (Throwable e) {
                error = e;
            } finally {
                consumer.close();
                producer.close();
            }
        }

        void shutdown() throws InterruptedException {
            consumer.wakeup();
            join(30_000);
        }

        String share() {
            synchronized (assigned) {
                return getName() + "=" + assigned.stream().map(p -> "pos-" + p).collect(Collectors.joining(","));
            }
        }
    }

    public static void main(String[] args) throws Exception {
        try (Course course = new Course(args, Map.of("source", "pos", "valid-topic", "valid-pos", "invalid-topic",
                "invalid-pos", "group", "PosValidatorGroup", "instances", "3", "produce", "300",
                "heartbeat-interval-ms", "3000", "replication-factor", "3"))) {
            for (String topic : List.of(course.get("source"), course.get("valid-topic"), course.get("invalid-topic"))) {
                course.createTopic(topic, 3, course.getInt("replication-factor"), Map.of());
            }
            int produce = course.getInt("produce");
            if (produce > 0) PosValidator.produceInvoices(course, course.get("source"), produce);
            AtomicInteger validated = new AtomicInteger();
            List<Instance> instances = new ArrayList<>();
            try {
                for (int n = 1; n <= course.getInt("instances"); n++) {
                    Instance instance = new Instance(course, "validator-" + n, validated);
                    instance.start();
                    instances.add(instance);
                    System.out.println(n + " instance(s): " + waitBalanced(instances));
                }
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (validated.get() < produce && System.nanoTime() < deadline) Thread.sleep(100);
                System.out.println("validated " + validated.get() + " invoices");
                describe(course);
                String potok = System.getenv("POTOK_BIN");
                if (potok != null) {
                    Process p = new ProcessBuilder(potok, "consumer-groups", "--bootstrap-server", course.bootstrap,
                            "--describe", "--group", course.get("group")).redirectErrorStream(true).start();
                    System.out.print(new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
                    p.waitFor(60, TimeUnit.SECONDS);
                }
                if (instances.size() > 1) {
                    Instance leaving = instances.remove(instances.size() - 1);
                    leaving.shutdown();
                    System.out.println("after " + leaving.getName() + " left: " + waitBalanced(instances));
                }
            } finally {
                for (Instance i : instances) i.shutdown();
            }
        }
    }

    /** Waits until every partition is assigned once and each instance has a share; returns the assignment. */
    static String waitBalanced(List<Instance> instances) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            for (Instance i : instances) {
                if (i.error != null) throw new IllegalStateException(i.getName() + " failed", i.error);
            }
            List<Integer> owned = new ArrayList<>();
            boolean fair = true;
            for (int n = 0; n < instances.size(); n++) {
                synchronized (instances.get(n).assigned) {
                    owned.addAll(instances.get(n).assigned);
                    if (n < 3 && instances.get(n).assigned.isEmpty()) fair = false;
                }
            }
            owned.sort(null);
            if (fair && owned.equals(List.of(0, 1, 2))) {
                return instances.stream().map(Instance::share).collect(Collectors.joining(" "));
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("no balanced assignment within 30 s: "
                        + instances.stream().map(Instance::share).collect(Collectors.joining(" ")));
            }
            Thread.sleep(100);
        }
    }

    static void describe(Course course) throws Exception {
        String group = course.get("group"), topic = course.get("source");
        try (Admin admin = Admin.create(course.props())) {
            ConsumerGroupDescription description = admin.describeConsumerGroups(List.of(group)).all()
                    .get(30, TimeUnit.SECONDS).get(group);
            Map<Integer, String> owner = new HashMap<>();
            for (MemberDescription m : description.members()) {
                m.assignment().topicPartitions().forEach(tp -> owner.put(tp.partition(), m.consumerId()));
            }
            Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(group)
                    .partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
            Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
            for (int p = 0; p < 3; p++) latest.put(new TopicPartition(topic, p), OffsetSpec.latest());
            var ends = admin.listOffsets(latest).all().get(30, TimeUnit.SECONDS);
            for (int p = 0; p < 3; p++) {
                TopicPartition tp = new TopicPartition(topic, p);
                long current = committed.containsKey(tp) ? committed.get(tp).offset() : 0;
                long end = ends.get(tp).offset();
                System.out.println(group + " " + topic + " " + p + " CURRENT-OFFSET " + current + " LOG-END-OFFSET "
                        + end + " LAG " + (end - current) + " CONSUMER-ID " + owner.getOrDefault(p, "-"));
            }
        }
    }

    private ConsumerGroups() {}

}
