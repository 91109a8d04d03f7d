package io.potok;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.potok.serde.KafkaAvroDeserializer;
import io.potok.serde.KafkaAvroSerializer;
import io.potok.serde.KafkaJsonSchemaDeserializer;
import io.potok.serde.KafkaJsonSchemaSerializer;
import io.potok.serde.SchemaRegistryException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * potok's registry-aware serializers (io.potok.serde) against the schema registry a PotokBroker serves, with Kafka's
 * own Java client (and potok's) producing and consuming: register, evolve compatibly, refuse an incompatible change
 * with the registry's 409, and read back by the id in the Confluent wire format.
 */
class SchemaRegistryTest {
    static final String POS_V1 = """
            {"type": "record", "name": "Sale", "namespace": "pos", "fields": [
              {"name": "store", "type": "string"},
              {"name": "amount", "type": "double"}]}""";
    /** V1 plus a field with a default: BACKWARD compatible (a V2 reader fills it in for V1 data). */
    static final String POS_V2 = """
            {"type": "record", "name": "Sale", "namespace": "pos", "fields": [
              {"name": "store", "type": "string"},
              {"name": "amount", "type": "double"},
              {"name": "currency", "type": "string", "default": "EUR"}]}""";
    /** A new field without a default: a reader of it cannot read V2 data, so BACKWARD refuses it. */
    static final String POS_INCOMPATIBLE = """
            {"type": "record", "name": "Sale", "namespace": "pos", "fields": [
              {"name": "store", "type": "string"},
              {"name": "amount", "type": "double"},
              {"name": "cashier", "type": "int"}]}""";

    static PotokBroker broker;
    static String url;
    static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    @BeforeAll
    static void start() {
        broker = PotokBroker.withSchemaRegistry();
        url = broker.schemaRegistryUrl();
    }

    @AfterAll
    static void stop() {
        broker.close();
    }

    static Map<String, Object> registry(Object... extra) {
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("schema.registry.url", url);
        for (int i = 0; i < extra.length; i += 2) config.put((String) extra[i], extra[i + 1]);
        return config;
    }

    static Properties clientConfig() {
        Properties props = new Properties();
        props.put("bootstrap.servers", broker.bootstrapServers());
        return props;
    }

    static String get(String path) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url + path))
                .timeout(Duration.ofSeconds(30)).GET().build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), path + ": " + r.body());
        return r.body();
    }

    static int intField(String json, String field) {
        Matcher m = Pattern.compile("\"" + field + "\":(-?\\d+)").matcher(json);
        assertTrue(m.find(), field + " in " + json);
        return Integer.parseInt(m.group(1));
    }

    /** Every record of partition 0 of {@code topic}, from the beginning, until {@code count} have come. */
    static <V> List<ConsumerRecord<String, V>> readAll(Clients clients, String topic, int count,
            Deserializer<V> values) {
        Properties props = clientConfig();
        List<ConsumerRecord<String, V>> out = new ArrayList<>();
        try (Consumer<String, V> consumer = clients.consumer(props, new StringDeserializer(), values)) {
            TopicPartition tp = new TopicPartition(topic, 0);
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (out.size() < count && System.nanoTime() < deadline) {
                consumer.poll(Duration.ofMillis(200)).forEach(out::add);
            }
        }
        assertEquals(count, out.size(), "records read back from " + topic);
        return out;
    }

    @Test
    void aBrokerServesARegistryOnlyWhenAsked() throws Exception {
        assertTrue(url.startsWith("http://127.0.0.1:"), url);
        assertEquals("[\"JSON\",\"AVRO\"]", get("/schemas/types"));
        try (PotokBroker plain = new PotokBroker()) {
            assertNull(plain.schemaRegistryUrl());
        }
    }

    @ParameterizedTest
    @EnumSource(Clients.class)
    void avroRegisterEvolveRefuseAndReadBackById(Clients clients) throws Exception {
        String topic = "pos-" + clients.name().toLowerCase();
        String subject = topic + "-value";
        Map<String, Object> sale1 = new LinkedHashMap<>(Map.of("store", "Lyon", "amount", 12.5));
        try (Producer<String, Object> v1 = clients.producer(clientConfig(), new StringSerializer(),
                new KafkaAvroSerializer(POS_V1, registry(), false))) {
            v1.send(new ProducerRecord<>(topic, "k1", sale1)).get(30, TimeUnit.SECONDS);
            // JSON text is a value too.
            v1.send(new ProducerRecord<>(topic, "k2", "{\"store\": \"Nantes\", \"amount\": 3}")).get(30, TimeUnit.SECONDS);
        }
        try (Producer<String, Object> v2 = clients.producer(clientConfig(), new StringSerializer(),
                new KafkaAvroSerializer(POS_V2, registry(), false))) {
            v2.send(new ProducerRecord<>(topic, "k3", Map.of("store", "Paris", "amount", 7.25, "currency", "USD")))
                    .get(30, TimeUnit.SECONDS);
        }
        assertEquals("[1,2]", get("/subjects/" + subject + "/versions"));
        int id1 = intField(get("/subjects/" + subject + "/versions/1"), "id");
        int id2 = intField(get("/subjects/" + subject + "/versions/latest"), "id");
        assertTrue(id1 != id2, "an evolved schema gets a new id");

        // BACKWARD (the default level) refuses a new field without a default: the registry's 409, as the cause of
        // the SerializationException that send throws, and nothing is written.
        try (Producer<String, Object> bad = clients.producer(clientConfig(), new StringSerializer(),
                new KafkaAvroSerializer(POS_INCOMPATIBLE, registry(), false))) {
            SerializationException e = assertThrows(SerializationException.class, () -> bad
                    .send(new ProducerRecord<>(topic, "k4", Map.of("store", "Lille", "amount", 1.0, "cashier", 4)))
                    .get(30, TimeUnit.SECONDS));
            SchemaRegistryException refused = assertInstanceOf(SchemaRegistryException.class, e.getCause(),
                    e.toString());
            assertEquals(409, refused.status());
            assertEquals(40901, refused.errorCode());
        }
        assertEquals("[1,2]", get("/subjects/" + subject + "/versions"));

        // The Confluent wire format: magic byte 0, then the id of the schema each record was written with.
        List<ConsumerRecord<String, byte[]>> raw = readAll(clients, topic, 3, new ByteArrayDeserializer());
        int[] ids = {id1, id1, id2};
        for (int i = 0; i < 3; i++) {
            ByteBuffer frame = ByteBuffer.wrap(raw.get(i).value());
            assertEquals(0, frame.get(), "magic byte");
            assertEquals(ids[i], frame.getInt(), "schema id of record " + i);
        }
        // The registry gives the writer's schema by id.
        assertTrue(get("/schemas/ids/" + id2).contains("currency"));

        // Read back by id, each record with the schema it was written with.
        List<ConsumerRecord<String, String>> read = readAll(clients, topic, 3,
                new KafkaAvroDeserializer(registry(), false));
        assertEquals("{\"amount\":12.5,\"store\":\"Lyon\"}", read.get(0).value());
        assertEquals("{\"amount\":3.0,\"store\":\"Nantes\"}", read.get(1).value());
        assertEquals("{\"amount\":7.25,\"currency\":\"USD\",\"store\":\"Paris\"}", read.get(2).value());
    }

    @Test
    void aValueThatDoesNotFitTheSchemaIsRefusedBeforeTheRegistryIsAsked() throws Exception {
        try (KafkaAvroSerializer avro = new KafkaAvroSerializer(POS_V1, registry(), false)) {
            SerializationException e = assertThrows(SerializationException.class,
                    () -> avro.serialize("fits", Map.of("store", "Lyon", "amount", "twelve")));
            assertNull(e.getCause(), "not a registry refusal");
            assertTrue(e.getMessage().contains("amount"), e.getMessage());
        }
    }

    @Test
    void jsonSchemaValuesAreValidatedFramedAndReadBack() throws Exception {
        String schema = """
                {"type": "object", "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
                 "required": ["sku", "qty"]}""";
        String topic = "stock";
        try (Producer<String, Object> producer = Clients.KAFKA.producer(clientConfig(), new StringSerializer(),
                new KafkaJsonSchemaSerializer(schema, registry(), false))) {
            producer.send(new ProducerRecord<>(topic, "a", Map.of("sku", "A-1", "qty", 3))).get(30, TimeUnit.SECONDS);
            SerializationException invalid = assertThrows(SerializationException.class, () -> producer
                    .send(new ProducerRecord<>(topic, "b", Map.of("sku", "A-2", "qty", 0))).get(30, TimeUnit.SECONDS));
            assertTrue(invalid.getMessage().contains("qty"), invalid.getMessage());
        }
        String registered = get("/subjects/stock-value/versions/1");
        assertTrue(registered.contains("\"schemaType\":\"JSON\""), registered);
        int id = intField(registered, "id");
        List<ConsumerRecord<String, byte[]>> raw = readAll(Clients.KAFKA, topic, 1, new ByteArrayDeserializer());
        byte[] frame = raw.get(0).value();
        assertArrayEquals(new byte[] {0, (byte) (id >>> 24), (byte) (id >>> 16), (byte) (id >>> 8), (byte) id},
                java.util.Arrays.copyOf(frame, 5));
        assertEquals("{\"qty\":3,\"sku\":\"A-1\"}", new String(frame, 5, frame.length - 5,
                java.nio.charset.StandardCharsets.UTF_8).replace(" ", ""));
        List<ConsumerRecord<String, String>> read = readAll(Clients.KAFKA, topic, 1,
                new KafkaJsonSchemaDeserializer(registry(), false));
        assertEquals("{\"qty\":3,\"sku\":\"A-1\"}", read.get(0).value());
    }

    @Test
    void withoutAutoRegistrationTheSchemaMustBeRegisteredAndLatestVersionIsUsedByName() throws Exception {
        // auto.register.schemas=false: the schema is looked up, and an unknown subject is the registry's 40401.
        try (KafkaAvroSerializer lookup = new KafkaAvroSerializer(POS_V1,
                registry("auto.register.schemas", "false"), false)) {
            SerializationException e = assertThrows(SerializationException.class,
                    () -> lookup.serialize("unregistered", Map.of("store", "Lyon", "amount", 1.0)));
            SchemaRegistryException refused = assertInstanceOf(SchemaRegistryException.class, e.getCause());
            assertEquals(404, refused.status());
            assertEquals(40401, refused.errorCode());
        }
        try (KafkaAvroSerializer register = new KafkaAvroSerializer(POS_V2, registry(), false)) {
            register.serialize("latest", Map.of("store", "Lyon", "amount", 1.0));
        }
        int latestId = intField(get("/subjects/latest-value/versions/latest"), "id");
        // Made by class name as Kafka's producer makes it, with use.latest.version: no schema of its own.
        Properties props = clientConfig();
        props.put("key.serializer", StringSerializer.class.getName());
        props.put("value.serializer", KafkaAvroSerializer.class.getName());
        props.put("schema.registry.url", url);
        props.put("use.latest.version", "true");
        try (Producer<String, Object> producer = new org.apache.kafka.clients.producer.KafkaProducer<>(props)) {
            producer.send(new ProducerRecord<>("latest", "k", Map.of("store", "Metz", "amount", 2.0)))
                    .get(30, TimeUnit.SECONDS);
        }
        List<ConsumerRecord<String, byte[]>> raw = readAll(Clients.KAFKA, "latest", 1, new ByteArrayDeserializer());
        assertEquals(latestId, ByteBuffer.wrap(raw.get(0).value(), 1, 4).getInt());
        try (KafkaAvroDeserializer avro = new KafkaAvroDeserializer(registry(), false)) {
            // Written with the latest schema (V2), so the missing field got its default.
            assertEquals("{\"amount\":2.0,\"currency\":\"EUR\",\"store\":\"Metz\"}",
                    avro.deserialize("latest", raw.get(0).value()));
        }
    }

    @Test
    void onAClusterTheSchemasOutliveTheBrokerLeadingThem() throws Exception {
        try (PotokCluster cluster = PotokCluster.withSchemaRegistry(3)) {
            String urls = cluster.schemaRegistryUrl();
            assertEquals(3, urls.split(",").length, urls);
            Properties props = new Properties();
            props.put("bootstrap.servers", cluster.bootstrapServers());
            Map<String, Object> registry = Map.of("schema.registry.url", urls);
            try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(props)) {
                admin.createTopics(List.of(new org.apache.kafka.clients.admin.NewTopic("sales", 1, (short) 3)))
                        .all().get(30, TimeUnit.SECONDS);
            }
            try (Producer<String, Object> producer = Clients.KAFKA.producer(props, new StringSerializer(),
                    new KafkaAvroSerializer(POS_V1, registry, false))) {
                producer.send(new ProducerRecord<>("sales", "a", Map.of("store", "Lyon", "amount", 1.5)))
                        .get(30, TimeUnit.SECONDS);
            }
            int leader;
            try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(props)) {
                var schemas = admin.describeTopics(List.of("_schemas")).allTopicNames().get(30, TimeUnit.SECONDS)
                        .get("_schemas").partitions().get(0);
                assertEquals(3, schemas.replicas().size(), "_schemas is on every broker");
                leader = schemas.leader().id();
            }
            String lostUrl = cluster.schemaRegistryUrl(leader);
            cluster.killBroker(leader);
            assertNull(cluster.schemaRegistryUrl(leader), "a killed broker serves no registry");
            props.put("bootstrap.servers", cluster.bootstrapServers());

            // The lost broker's registry first in the list: the serializers move on to the next one. V2 registers
            // once _schemas has a new leader (the ISR shrinks when the lost broker's session times out).
            Map<String, Object> withLost = Map.of("schema.registry.url", lostUrl + "," + cluster.schemaRegistryUrl());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            try (Producer<String, Object> producer = Clients.KAFKA.producer(props, new StringSerializer(),
                    new KafkaAvroSerializer(POS_V2, withLost, false))) {
                while (true) {
                    try {
                        producer.send(new ProducerRecord<>("sales", "b", Map.of("store", "Nice", "amount", 2.5)))
                                .get(30, TimeUnit.SECONDS);
                        break;
                    } catch (SerializationException e) {
                        if (System.nanoTime() > deadline) throw e;
                        Thread.sleep(200);
                    }
                }
            }
            Properties consumerProps = new Properties();
            consumerProps.put("bootstrap.servers", cluster.bootstrapServers());
            List<String> values = new ArrayList<>();
            try (Consumer<String, String> consumer = Clients.KAFKA.consumer(consumerProps, new StringDeserializer(),
                    new KafkaAvroDeserializer(withLost, false))) {
                TopicPartition tp = new TopicPartition("sales", 0);
                consumer.assign(List.of(tp));
                consumer.seekToBeginning(List.of(tp));
                while (values.size() < 2 && System.nanoTime() < deadline + TimeUnit.SECONDS.toNanos(30)) {
                    consumer.poll(Duration.ofMillis(200)).forEach(r -> values.add(r.value()));
                }
            }
            assertEquals(List.of("{\"amount\":1.5,\"store\":\"Lyon\"}",
                    "{\"amount\":2.5,\"currency\":\"EUR\",\"store\":\"Nice\"}"), values);
        }
    }
}
