// Produces potok's golden records with the Kafka Java client (run by scripts/gen-golden.sh).
//   GoldenProducer produce BOOTSTRAP TOPIC CODEC SPEC   the spec's records, flushed after first_batch_records
//   GoldenProducer txn BOOTSTRAP TOPIC SPEC             txn.records: commit the first 3, abort the rest
// SPEC is the JSON written by golden.py spec; byte fields are base64 or null.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Future;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class GoldenProducer {
    private static byte[] bytes(JsonNode n) {
        return n == null || n.isNull() ? null : Base64.getDecoder().decode(n.asText());
    }

    private static ProducerRecord<byte[], byte[]> record(String topic, JsonNode r) {
        List<org.apache.kafka.common.header.Header> headers = new ArrayList<>();
        for (JsonNode h : r.get("headers")) {
            headers.add(new RecordHeader(h.get("key").asText(), bytes(h.get("value"))));
        }
        return new ProducerRecord<>(topic, 0, r.get("timestamp").asLong(), bytes(r.get("key")),
                bytes(r.get("value")), headers);
    }

    private static Properties config(String bootstrap) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        p.put("linger.ms", "1000"); // flush() and commit, not linger, end each batch
        return p;
    }

    private static void produce(String bootstrap, String topic, String codec, JsonNode spec) throws Exception {
        Properties p = config(bootstrap);
        p.put("compression.type", codec);
        int firstBatch = spec.get("first_batch_records").asInt();
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            int i = 0;
            for (JsonNode r : spec.get("records")) {
                sent.add(producer.send(record(topic, r)));
                if (++i == firstBatch) producer.flush();
            }
            producer.flush();
            for (Future<RecordMetadata> f : sent) f.get(); // throws if any send failed
        }
    }

    private static void txn(String bootstrap, String topic, JsonNode spec) throws Exception {
        Properties p = config(bootstrap);
        p.put("transactional.id", "potok-golden-txn");
        JsonNode txn = spec.get("txn");
        int committed = txn.get("committed").asInt();
        JsonNode recs = txn.get("records");
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            producer.initTransactions();
            producer.beginTransaction();
            for (int i = 0; i < committed; i++) producer.send(record(topic, recs.get(i)));
            producer.commitTransaction();
            producer.beginTransaction();
            for (int i = committed; i < recs.size(); i++) producer.send(record(topic, recs.get(i)));
            producer.flush(); // the aborted records must reach the log before the abort
            producer.abortTransaction();
        }
        // EndTxn returns before the coordinator has written the markers; wait for the last stable
        // offset to cover both markers (records + 2 control records), at most 30 s.
        long want = recs.size() + 2;
        Properties c = new Properties();
        c.put("bootstrap.servers", bootstrap);
        c.put("key.deserializer", ByteArrayDeserializer.class.getName());
        c.put("value.deserializer", ByteArrayDeserializer.class.getName());
        c.put("isolation.level", "read_committed");
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(c)) {
            long deadline = System.currentTimeMillis() + 30_000;
            while (true) {
                Map<TopicPartition, Long> end = consumer.endOffsets(List.of(tp));
                if (end.get(tp) >= want) return;
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("last stable offset " + end.get(tp) + " < " + want);
                }
                Thread.sleep(100);
            }
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 5 && args[0].equals("produce")) {
            produce(args[1], args[2], args[3], new ObjectMapper().readTree(new File(args[4])));
        } else if (args.length == 4 && args[0].equals("txn")) {
            txn(args[1], args[2], new ObjectMapper().readTree(new File(args[3])));
        } else {
            System.err.println("usage: GoldenProducer produce BOOTSTRAP TOPIC CODEC SPEC | txn BOOTSTRAP TOPIC SPEC");
            System.exit(2);
        }
    }
}
