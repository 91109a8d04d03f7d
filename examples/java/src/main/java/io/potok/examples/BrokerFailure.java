package io.potok.examples;

import io.potok.PotokCluster;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.errors.NotEnoughReplicasException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The course's broker failure and min ISR (CURRICULUM.md §1): a topic with replication factor 3 and
 * min.insync.replicas=2 on three brokers. Stopping one broker shrinks the ISR and moves its leaderships, and
 * acks=all still succeeds; stopping a second leaves one replica in sync and acks=all is refused with
 * NOT_ENOUGH_REPLICAS (with retries the producer keeps trying until delivery.timeout.ms). Started again, the
 * brokers rejoin the ISR. Always on an embedded cluster of three brokers beside a dedicated controller
 * ({@code new PotokCluster(3, 1, config)}), whose quorum survives two brokers going down. Same stdout lines as
 * broker_failure.py.
 *
 * <pre>java ... io.potok.examples.BrokerFailure [--delivery-timeout-ms 3000]</pre>
 */
public final class BrokerFailure {
    static final String TOPIC = "min-isr-topic";

    public static void main(String[] args) throws Exception {
        int timeoutMs = args.length == 2 && args[0].equals("--delivery-timeout-ms") ? Integer.parseInt(args[1]) : 3000;
        try (PotokCluster cluster = new PotokCluster(3, 1, Map.of())) {
            String bootstrap = cluster.bootstrapServers();
            Course.log("embedded potok cluster: brokers 1-3 at " + bootstrap + ", controller 4");
            Properties props = new Properties();
            props.put("bootstrap.servers", bootstrap);
            try (Admin admin = Admin.create(props)) {
                admin.createTopics(List.of(new NewTopic(TOPIC, 3, (short) 3).configs(Map.of("min.insync.replicas", "2"))))
                        .all().get(30, TimeUnit.SECONDS);
                waitFor(admin, "3 in sync", p -> p.isr().size() == 3);
                produce(bootstrap, "3 in sync", Map.of());

                cluster.stopBroker(1);
                System.out.println("stopped broker 1");
                waitFor(admin, "broker 1 out of every ISR", p -> p.isr().stream().noneMatch(n -> n.id() == 1)
                        && p.leader() != null && p.leader().id() != 1);
                produce(bootstrap, "2 in sync", Map.of());

                cluster.stopBroker(2);
                System.out.println("stopped broker 2");
                waitFor(admin, "only broker 3 in sync", p -> p.isr().size() == 1 && p.isr().get(0).id() == 3);
                produce(bootstrap, "1 in sync, retries=0", Map.of("retries", "0"));
                produce(bootstrap, "1 in sync, retrying", Map.of("delivery.timeout.ms", String.valueOf(timeoutMs),
                        "request.timeout.ms", String.valueOf(Math.max(1, timeoutMs - 5)), "linger.ms", "0"));

                cluster.startBroker(1);
                cluster.startBroker(2);
                System.out.println("started brokers 1 and 2");
                waitFor(admin, "3 in sync again", p -> p.isr().size() == 3);
                produce(bootstrap, "3 in sync", Map.of());
            }
        }
    }

    /** Waits (30 s at most) until every partition satisfies {@code ok}, then prints them as kafka-topics does. */
    static void waitFor(Admin admin, String what, Predicate<TopicPartitionInfo> ok) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            try {
                TopicDescription d = admin.describeTopics(List.of(TOPIC)).allTopicNames().get(10, TimeUnit.SECONDS).get(TOPIC);
                if (d.partitions().stream().allMatch(ok)) {
                    for (TopicPartitionInfo p : d.partitions()) {
                        System.out.println("Topic: " + TOPIC + "\tPartition: " + p.partition() + "\tLeader: "
                                + p.leader().id() + "\tReplicas: " + ids(p.replicas()) + "\tIsr: " + ids(p.isr()));
                    }
                    return;
                }
            } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
                // A broker that just stopped may have been asked; ask again.
            }
            if (System.nanoTime() > deadline) throw new IllegalStateException("not within 30 s: " + what);
            Thread.sleep(200);
        }
    }

    static String ids(List<Node> nodes) {
        return String.join(",", nodes.stream().map(n -> String.valueOf(n.id())).toList());
    }

    static void produce(String bootstrap, String label, Map<String, String> extra) throws InterruptedException {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("acks", "all");
        props.putAll(extra);
        long started = System.nanoTime();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props, new StringSerializer(),
                new StringSerializer())) {
            producer.send(new ProducerRecord<>(TOPIC, 0, null, "a record")).get();
            System.out.println("acks=all with " + label + ": delivered");
        } catch (ExecutionException e) {
            long ms = Math.round((System.nanoTime() - started) / 1e9) * 1000;
            if (e.getCause() instanceof NotEnoughReplicasException) {
                System.out.println("acks=all with " + label + ": NOT_ENOUGH_REPLICAS");
            } else if (e.getCause() instanceof TimeoutException) {
                System.out.println("acks=all with " + label + ": _TIMED_OUT after " + ms + " ms");
            } else {
                System.out.println("acks=all with " + label + ": " + e.getCause());
            }
            Course.log("  (" + e.getCause().getMessage() + ")");
        }
    }

    private BrokerFailure() {}
}
