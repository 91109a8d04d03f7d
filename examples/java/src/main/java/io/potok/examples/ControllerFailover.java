package io.potok.examples;

import io.potok.PotokCluster;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The controller fails over (CURRICULUM.md §1): in a KRaft cluster one node of the controller quorum is the active
 * controller, which decides placements, leaders and ISRs. Three nodes here are each a broker and a voter of the
 * quorum ({@code process.roles=broker,controller}, as the course's three-node cluster). The program finds the active
 * controller, kills that node (as SIGKILL would), and watches the two remaining voters elect a new one; the topic
 * stays available: its partitions get leaders on the live nodes and acks=all writes go on. It kills a node, so it
 * always runs on an embedded cluster.
 *
 * <p>The controller comes from each live broker's DescribeCluster answer ({@code Admin.describeCluster().controller()});
 * potok names the active controller there when it is a broker too, as {@code kafka-metadata-quorum.sh describe
 * --status} names it (LeaderId) on Kafka, whose brokers name a random broker. Same stdout lines as
 * controller_failover.py.
 *
 * <pre>java ... io.potok.examples.ControllerFailover [--records 10]</pre>
 */
public final class ControllerFailover {
    static final String TOPIC = "failover-topic";

    public static void main(String[] args) throws Exception {
        int records = args.length == 2 && args[0].equals("--records") ? Integer.parseInt(args[1]) : 10;
        try (PotokCluster cluster = new PotokCluster(3, Map.of())) {
            Course.log("embedded potok cluster: nodes 1-3 (broker and controller each) at " + cluster.bootstrapServers());
            try (Course course = new Course(new String[] {"--bootstrap-servers", cluster.bootstrapServers()}, Map.of())) {
                course.createTopic(TOPIC, 3, 3, Map.of("min.insync.replicas", "2"));
            }
            int controller = agreedController(cluster, -1);
            System.out.println("active controller: node " + controller);
            produce(cluster.bootstrapServers(), records, 0);

            long started = System.nanoTime();
            cluster.killBroker(controller);
            System.out.println("killed node " + controller + ", the active controller");
            int elected = agreedController(cluster, controller);
            Course.log(String.format("  (elected %.1f s after the kill)", (System.nanoTime() - started) / 1e9));
            System.out.println("new active controller: node " + elected);

            // The new controller fences the dead node once its session times out and moves its leaderships.
            String live = cluster.bootstrapServers();
            try (Admin admin = Admin.create(props(live))) {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                List<TopicPartitionInfo> partitions;
                while (true) {
                    partitions = describe(admin);
                    if (partitions.size() == 3 && partitions.stream().allMatch(p -> p.leader() != null
                            && p.leader().id() != controller && p.isr().stream().noneMatch(n -> n.id() == controller))) {
                        break;
                    }
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("node " + controller + " still leads or is in sync after 30 s");
                    }
                    Thread.sleep(200);
                }
                for (TopicPartitionInfo p : partitions) {
                    System.out.println("Topic: " + TOPIC + "\tPartition: " + p.partition() + "\tLeader: " + p.leader().id()
                            + "\tReplicas: " + ids(p.replicas()) + "\tIsr: " + ids(p.isr()));
                }
            }
            produce(live, records, records);
            try (Course course = new Course(new String[] {"--bootstrap-servers", live}, Map.of())) {
                long total = course.endOffsets(TOPIC, 3).stream().mapToLong(Long::longValue).sum();
                System.out.println("the topic holds " + total + " records");
            }

            cluster.startBroker(controller);
            int after = agreedController(cluster, -1);
            System.out.println("node " + controller + " started again: it rejoins the quorum, the active controller "
                    + (after == elected ? "stays" : "is now") + " node " + after);
        }
    }

    static Properties props(String bootstrap) {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("default.api.timeout.ms", "5000");
        props.put("request.timeout.ms", "4000");
        return props;
    }

    /** Waits until every running broker names the same live node (not {@code otherThan}) as the controller; a
     * broker in the middle of an election names itself or no one, so agreement is what tells the election is over.
     * Each broker is asked by a fresh client bootstrapped from it alone, so the answer is that broker's view. */
    static int agreedController(PotokCluster cluster, int otherThan) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            Set<Integer> named = new HashSet<>();
            for (String address : cluster.bootstrapServers().split(",")) {
                try (Admin admin = Admin.create(props(address))) {
                    Node node = admin.describeCluster().controller().get(5, TimeUnit.SECONDS);
                    named.add(node == null ? -1 : node.id());
                } catch (Exception e) {
                    named.add(-1);
                }
            }
            if (named.size() == 1) {
                int controller = named.iterator().next();
                if (cluster.running().contains(controller) && controller != otherThan) return controller;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the brokers did not agree on a controller within 30 s: " + named);
            }
            Thread.sleep(200);
        }
    }

    static List<TopicPartitionInfo> describe(Admin admin) {
        try {
            TopicDescription d = admin.describeTopics(List.of(TOPIC)).allTopicNames().get(10, TimeUnit.SECONDS).get(TOPIC);
            return d.partitions();
        } catch (Exception e) {
            return List.of(); // asked while metadata moves: the next round asks again
        }
    }

    static String ids(List<Node> nodes) {
        return String.join(",", nodes.stream().map(n -> String.valueOf(n.id())).toList());
    }

    static void produce(String bootstrap, int records, int start) throws Exception {
        Properties props = props(bootstrap);
        props.put("acks", "all");
        props.put("linger.ms", "0");
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props, new StringSerializer(), new StringSerializer())) {
            List<Future<RecordMetadata>> sent = new ArrayList<>();
            for (int i = start; i < start + records; i++) {
                sent.add(producer.send(new ProducerRecord<>(TOPIC, String.valueOf(i), "record " + i)));
            }
            for (Future<RecordMetadata> f : sent) f.get(60, TimeUnit.SECONDS); // throws the first failure
        }
        System.out.println("acks=all: " + records + " records delivered");
    }

    private ControllerFailover() {}
}
