package io.potok.examples;

import com.fasterxml.jackson.databind.JsonNode;
import io.potok.serde.KafkaAvroDeserializer;
import io.potok.serde.KafkaAvroSerializer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The course's Avro POS simulator (CURRICULUM.md §4): a pool of producer threads shares one KafkaProducer and sends
 * random invoices to a topic, keyed by StoreID, with an Avro serializer that registers the PosInvoice schema
 * (examples/data/pos-invoice.avsc: every field ["null", T], LineItem and DeliveryAddress as named records) in a schema
 * registry under the subject {@code <topic>-value} and writes the Confluent wire format (magic byte 0, the schema id,
 * the Avro binary).
 *
 * <p>The course used Confluent's {@code KafkaAvroSerializer} with classes generated from the schema; it is not on
 * Maven Central, so this program uses potok's {@code io.potok.serde.KafkaAvroSerializer} (in the potok jar), which
 * writes the same bytes and talks to any Confluent-compatible registry. Its values are maps (the invoices of
 * {@link PosInvoices}) or JSON text; its deserializer gives the records back as JSON text.
 *
 * <p>Arguments as the course's: {@code pos 3 500} (topic, producer threads, ms between a thread's invoices); {@code
 * --count N} stops after N invoices in all (60 by default on the embedded cluster, otherwise until Ctrl-C). Without
 * {@code --bootstrap-servers} it starts an embedded potok cluster whose brokers also serve the schema registry; with
 * it, {@code --schema-registry http://HOST:PORT} names the registry. Same stdout lines as avro_pos_simulator.mjs.
 *
 * <pre>java ... io.potok.examples.AvroPosSimulator [pos 3 500] [--count N]
 *     [--bootstrap-servers HOST:PORT,... --schema-registry http://HOST:PORT]</pre>
 */
public final class AvroPosSimulator {
    static final Path SCHEMA = Path.of("examples", "data", "pos-invoice.avsc");

    public static void main(String[] args) throws Exception {
        List<String> positional = new ArrayList<>(), options = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            if (args[i].startsWith("--")) {
                options.add(args[i]);
                options.add(args[++i]);
            } else {
                positional.add(args[i]);
            }
        }
        String topic = positional.size() > 0 ? positional.get(0) : "pos";
        int threads = positional.size() > 1 ? Integer.parseInt(positional.get(1)) : 3;
        int speedMs = positional.size() > 2 ? Integer.parseInt(positional.get(2)) : 500;
        String schema = Files.readString(SCHEMA, StandardCharsets.UTF_8);
        try (Course course = new Course(options.toArray(String[]::new),
                Map.of("count", "-1", "replication-factor", "3"), true)) {
            int rf = course.getInt("replication-factor");
            course.createTopic(topic, 3, rf, Map.of("min.insync.replicas", String.valueOf(Math.min(2, rf))));
            int count = course.getInt("count") >= 0 ? course.getInt("count") : course.cluster != null ? 60 : Integer.MAX_VALUE;
            Map<String, Object> registry = Map.of(KafkaAvroSerializer.SCHEMA_REGISTRY_URL_CONFIG, course.schemaRegistryUrl);
            AtomicInteger remaining = new AtomicInteger(count), failed = new AtomicInteger();
            PosInvoices generator = new PosInvoices(13);
            // The serializer registers the schema on its first record (auto.register.schemas, true by default) and
            // caches the id the registry gave it.
            try (KafkaProducer<String, Object> producer = new KafkaProducer<>(course.props("client.id",
                    "AvroPosSimulator", "acks", "all", "enable.idempotence", "true"), new StringSerializer(),
                    new KafkaAvroSerializer(schema, registry, false))) {
                List<Thread> pool = new ArrayList<>();
                for (int n = 1; n <= threads; n++) {
                    int id = n;
                    Thread t = new Thread(() -> {
                        int sent = 0;
                        while (remaining.getAndDecrement() > 0) {
                            Map<String, Object> invoice;
                            synchronized (generator) {
                                invoice = generator.next();
                            }
                            producer.send(new ProducerRecord<>(topic, (String) invoice.get("StoreID"), invoice), (m, e) -> {
                                if (e != null) {
                                    Course.log("failed: " + e);
                                    failed.incrementAndGet();
                                }
                            });
                            sent++;
                            try {
                                Thread.sleep(speedMs);
                            } catch (InterruptedException e) {
                                break;
                            }
                        }
                        System.out.println("producer thread " + id + ": sent " + sent + " invoices");
                    });
                    t.start();
                    pool.add(t);
                }
                for (Thread t : pool) t.join();
            }
            long total = course.endOffsets(topic, 3).stream().mapToLong(Long::longValue).sum();
            System.out.println("sent " + (count == Integer.MAX_VALUE ? total : count) + " invoices, failed " + failed.get());

            // The registry's side: the subject the serializer registered, its versions and the latest one's id.
            String subject = topic + "-value";
            String registryUrl = course.schemaRegistryUrl.split(",")[0].trim();
            JsonNode latest = get(registryUrl, "/subjects/" + subject + "/versions/latest");
            int schemaId = latest.get("id").asInt();
            System.out.println("subject " + subject + ": schema id " + schemaId);
            System.out.println("subject " + subject + ": versions " + get(registryUrl, "/subjects/" + subject + "/versions"));

            // Each value names its schema id after the magic byte; the deserializer fetches that schema from the
            // registry and decodes the Avro binary to JSON text.
            int read = 0, good = 0, framed = 0;
            try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(course.props(), new StringDeserializer(),
                    new ByteArrayDeserializer());
                    KafkaAvroDeserializer fromAvro = new KafkaAvroDeserializer(registry, false)) {
                List<TopicPartition> all = List.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1),
                        new TopicPartition(topic, 2));
                consumer.assign(all);
                consumer.seekToBeginning(all);
                long deadline = System.nanoTime() + 30_000_000_000L;
                while (read < total && System.nanoTime() < deadline) {
                    for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                        read++;
                        ByteBuffer frame = ByteBuffer.wrap(r.value());
                        if (frame.get() == 0 && frame.getInt() == schemaId) framed++;
                        JsonNode invoice = PosInvoices.JSON.readTree(fromAvro.deserialize(topic, r.value()));
                        if (r.key().equals(invoice.path("StoreID").asText()) && invoice.path("InvoiceLineItems").isArray()) {
                            good++;
                        }
                    }
                }
            }
            System.out.println("read " + read + " invoices, every one keyed by its StoreID and valid: "
                    + (good == read ? "yes" : "no"));
            System.out.println("every value in the Confluent wire format with schema id " + schemaId + ": "
                    + (framed == read ? "yes" : "no"));
        }
    }

    /** A GET of the registry's REST API, as JSON. */
    private static JsonNode get(String registryUrl, String path) throws Exception {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        HttpResponse<String> answer = http.send(HttpRequest.newBuilder(URI.create(registryUrl + path))
                .timeout(Duration.ofSeconds(30)).GET().build(), HttpResponse.BodyHandlers.ofString());
        if (answer.statusCode() != 200) {
            throw new IllegalStateException("GET " + path + ": HTTP " + answer.statusCode() + " " + answer.body());
        }
        return PosInvoices.JSON.readTree(answer.body());
    }

    private AvroPosSimulator() {}
}
