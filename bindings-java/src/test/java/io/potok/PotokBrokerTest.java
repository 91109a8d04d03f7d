package io.potok;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PotokBrokerTest {
    @Test
    void startsOnLoopbackWithATemporaryLogDir() {
        String logDir;
        try (PotokBroker broker = new PotokBroker()) {
            assertTrue(broker.isRunning());
            assertTrue(broker.bootstrapServers().startsWith("127.0.0.1:"), broker.bootstrapServers());
            logDir = broker.logDir();
            assertTrue(Files.isDirectory(Path.of(logDir)));
        }
        assertFalse(Files.exists(Path.of(logDir)), "the temporary log dir is removed on close");
    }

    @Test
    void configErrorsNameTheKey() {
        ConfigException unknown = assertThrows(ConfigException.class, () -> new PotokBroker(Map.of("no.such.key", "1")));
        assertTrue(unknown.getMessage().contains("no.such.key"), unknown.getMessage());
        Properties bad = new Properties();
        bad.put("num.partitions", "many");
        ConfigException malformed = assertThrows(ConfigException.class, () -> new PotokBroker(bad));
        assertTrue(malformed.getMessage().contains("num.partitions"), malformed.getMessage());
    }

    @Test
    void kafkasJavaClientWorksUnchanged() throws Exception {
        try (PotokBroker broker = new PotokBroker(Map.of("num.partitions", 3))) {
            Properties props = new Properties();
            props.put("bootstrap.servers", broker.bootstrapServers());
            try (Admin admin = Admin.create(props)) {
                assertEquals(1, admin.describeCluster().nodes().get(30, TimeUnit.SECONDS).size());
                admin.createTopics(List.of(new NewTopic("orders", 2, (short) 1))).all().get(30, TimeUnit.SECONDS);
                var e = assertThrows(java.util.concurrent.ExecutionException.class, () -> admin
                        .createTopics(List.of(new NewTopic("orders", 2, (short) 1))).all().get(30, TimeUnit.SECONDS));
                assertTrue(e.getCause() instanceof TopicExistsException, e.toString());
            }
            try (KafkaProducer<String, String> producer =
                    new KafkaProducer<>(props, new StringSerializer(), new StringSerializer())) {
                RecordMetadata m = producer.send(new ProducerRecord<>("auto-created", "k", "v")).get(30, TimeUnit.SECONDS);
                assertEquals(0, m.offset());
            }
            assertEquals(3, broker.admin().describeTopic("auto-created").partitions().size(), "num.partitions");
        }
    }

    @Test
    void restartsOnItsDataWithLogDirs(@TempDir Path dir) throws Exception {
        try (PotokBroker broker = new PotokBroker(Map.of("log.dirs", dir.toString()))) {
            broker.createTopic("kept", 2);
            broker.stop();
            assertFalse(broker.isRunning());
            broker.stop();
            broker.start();
            assertEquals(2, broker.admin().describeTopic("kept").partitions().size());
        }
        assertTrue(Files.exists(dir.resolve("kept-0")), "a given log.dirs is kept");
    }

    @Test
    void adminErrorsAreKafkasExceptions() {
        try (PotokBroker broker = new PotokBroker()) {
            broker.createTopic("t", 1);
            assertThrows(TopicExistsException.class, () -> broker.createTopic("t", 1));
            assertThrows(UnknownTopicOrPartitionException.class, () -> broker.admin().describeTopic("nope"));
            assertTrue(broker.admin().listTopics(false).contains("t"));
            broker.admin().deleteTopic("t");
        }
    }

    @Test
    void closedBrokersRefuseCalls() {
        PotokBroker broker = new PotokBroker();
        broker.close();
        broker.close();
        assertFalse(broker.isRunning());
        assertThrows(IllegalStateException.class, broker::bootstrapServers);
    }
}
