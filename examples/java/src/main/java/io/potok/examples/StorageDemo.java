package io.potok.examples;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.apache.kafka.common.serialization.IntegerSerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The course's storage demo (CURRICULUM.md §1): 500,000 Integer-keyed records into {@code invoice} (5 partitions,
 * replication factor 3, segment.bytes=1000000), then a look at the brokers' files: on the embedded cluster every
 * broker's {@code invoice-N} directories, and {@code potok dump-log} ($POTOK_BIN) on partition 0's first segment
 * and its sparse offset index. Same stdout lines as storage_demo.py.
 *
 * <pre>java ... io.potok.examples.StorageDemo [--bootstrap-servers HOST:PORT,...] [--count 500000] [--segment-bytes 1000000]</pre>
 */
public final class StorageDemo {
    public static void main(String[] args) throws Exception {
        try (Course course = new Course(args, Map.of("topic", "invoice", "count", "500000", "partitions", "5",
                "replication-factor", "3", "segment-bytes", "1000000"))) {
            String topic = course.get("topic");
            int count = course.getInt("count"), partitions = course.getInt("partitions");
            try {
                course.createTopic(topic, partitions, course.getInt("replication-factor"),
                        Map.of("segment.bytes", course.get("segment-bytes")));
            } catch (ExecutionException e) {
                if (e.getCause() instanceof InvalidConfigurationException) {
                    System.err.println(e.getCause().getMessage()
                            + "\n(Kafka 4 refuses segment.bytes below 1048576: pass --segment-bytes 1048576)");
                    System.exit(2);
                }
                throw e;
            }
            try (KafkaProducer<Integer, String> producer = new KafkaProducer<>(course.props("client.id",
                    "StorageDemo", "acks", "all"), new IntegerSerializer(), new StringSerializer())) {
                for (int i = 1; i <= count; i++) producer.send(new ProducerRecord<>(topic, i, "Simple Message-" + i));
            }
            System.out.println("produced " + count + " records");
            try (Admin admin = Admin.create(course.props())) {
                TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS).get(topic);
                for (TopicPartitionInfo p : d.partitions()) {
                    System.out.println("Topic: " + topic + "\tPartition: " + p.partition() + "\tLeader: " + p.leader().id()
                            + "\tReplicas: " + ids(p.replicas()) + "\tIsr: " + ids(p.isr()));
                }
            }
            if (course.cluster != null) {
                showSegments(course, topic, partitions);
            } else {
                Course.log("look into each broker's log.dirs: <topic>-<partition>/ holds the segments; "
                        + "kafka-dump-log.sh --files <segment>.log --print-data-log shows the batches");
            }
        }
    }

    static String ids(List<Node> nodes) {
        return String.join(",", nodes.stream().map(n -> String.valueOf(n.id())).toList());
    }

    static void showSegments(Course course, String topic, int partitions) throws Exception {
        Path firstLog = null;
        for (int broker : course.cluster.running()) {
            Path dir = course.cluster.logDir(broker);
            for (int p = 0; p < partitions; p++) {
                Path d = dir.resolve(topic + "-" + p);
                if (!Files.isDirectory(d)) continue;
                List<String> files;
                try (Stream<Path> list = Files.list(d)) {
                    files = list.map(f -> f.getFileName().toString()).sorted().toList();
                }
                List<String> logs = files.stream().filter(f -> f.endsWith(".log")).toList();
                System.out.println("broker " + broker + " " + topic + "-" + p + ": " + logs.size() + " segments: "
                        + String.join(" ", logs));
                if (p == 0 && firstLog == null) {
                    firstLog = d.resolve(logs.get(0));
                    System.out.println("broker " + broker + " " + topic + "-" + p + " files: " + String.join(" ", files));
                }
            }
        }
        String potok = System.getenv("POTOK_BIN");
        if (firstLog == null || potok == null) {
            if (potok == null) Course.log("no $POTOK_BIN: skipping dump-log");
            return;
        }
        String name = topic + "-0";
        String out = run(potok, "dump-log", "--files", firstLog.toString());
        List<Long> bases = numbers(out, "baseOffset: (\\d+)"), lasts = numbers(out, "lastOffset: (\\d+)");
        System.out.println("dump-log " + name + " " + firstLog.getFileName() + ": " + bases.size() + " batches, offsets "
                + bases.stream().mapToLong(Long::longValue).min().orElse(-1) + ".."
                + lasts.stream().mapToLong(Long::longValue).max().orElse(-1));
        String index = firstLog.toString().replaceAll("\\.log$", ".index");
        List<String> entries = run(potok, "dump-log", "--files", index).lines()
                .filter(l -> l.matches("offset: \\d+ position: \\d+.*")).toList();
        System.out.println("dump-log " + name + " " + Path.of(index).getFileName() + ": " + entries.size() + " entries");
        entries.stream().limit(3).forEach(l -> System.out.println("  " + l));
    }

    static List<Long> numbers(String text, String regex) {
        List<Long> out = new ArrayList<>();
        Matcher m = Pattern.compile(regex).matcher(text);
        while (m.find()) out.add(Long.parseLong(m.group(1)));
        return out;
    }

    static String run(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " failed");
        }
        return out;
    }
}
