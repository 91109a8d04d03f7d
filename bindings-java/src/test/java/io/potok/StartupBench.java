package io.potok;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * Startup figures, not a test (its name does not end in Test, so the default Surefire run skips it): the time from
 * starting a broker to the first send acknowledged to Kafka's own Java producer, for {@code new PotokBroker()} and
 * for Apache Kafka 4.1.1 started the usual way for tests outside a container (scripts/kafka.sh: a KRaft
 * broker+controller JVM, storage formatted first). Both include the producer's start, its metadata request and the
 * topic's auto-creation. Run with {@code scripts/java-tests.sh --bench}; prints one line per run.
 */
class StartupBench {
    static final int RUNS = Integer.getInteger("potok.bench.runs", 5);

    /** Sends one record with a fresh KafkaProducer and returns when it is acknowledged. */
    static void firstAck(String bootstrap) throws Exception {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        try (KafkaProducer<String, String> producer =
                new KafkaProducer<>(props, new StringSerializer(), new StringSerializer())) {
            RecordMetadata m = producer.send(new ProducerRecord<>("startup", "first")).get(120, TimeUnit.SECONDS);
            assertEquals(0, m.offset());
        }
    }

    static String millis(long nanos) {
        return String.format("%.1f ms", nanos / 1e6);
    }

    @Test
    void potokBroker() throws Exception {
        List<Long> runs = new ArrayList<>();
        for (int i = 0; i < RUNS; i++) {
            long start = System.nanoTime();
            long started;
            try (PotokBroker broker = new PotokBroker()) {
                started = System.nanoTime();
                firstAck(broker.bootstrapServers());
            }
            long acked = System.nanoTime();
            runs.add(acked - start);
            System.out.printf("bench: new PotokBroker() %s, to first ack %s%s%n", millis(started - start),
                    millis(acked - start), i == 0 ? " (first run: loads the native library)" : "");
        }
    }

    @Test
    void apacheKafka() throws Exception {
        String port = System.getenv("POTOK_BENCH_KAFKA_PORT");
        assumeTrue(port != null && !port.isEmpty(), "POTOK_BENCH_KAFKA_PORT is not set");
        Path script = Path.of("..", "scripts", "kafka.sh").toAbsolutePath().normalize();
        for (int i = 0; i < Math.min(RUNS, 3); i++) {
            Path dir = Files.createTempDirectory("potok-bench-kafka-");
            long start = System.nanoTime();
            try {
                run(script.toString(), "start", dir.toString(), port);
                long listening = System.nanoTime();
                firstAck("127.0.0.1:" + port);
                long acked = System.nanoTime();
                System.out.printf("bench: Apache Kafka listening %s, to first ack %s%n", millis(listening - start),
                        millis(acked - start));
            } finally {
                run(script.toString(), "stop", dir.toString());
                run("rm", "-rf", dir.toString());
            }
        }
    }

    private static void run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).inheritIO().start();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException(String.join(" ", command) + " did not finish in 120 s");
        }
        assertEquals(0, p.exitValue(), String.join(" ", command));
    }
}
