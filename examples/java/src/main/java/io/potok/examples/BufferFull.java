package io.potok.examples;

import io.potok.PotokCluster;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The course's buffer.memory and max.block.ms (CURRICULUM.md §6): records the producer cannot send yet wait in its
 * buffer; when the buffer is full, send() blocks for up to max.block.ms and then fails with a TimeoutException. The
 * program stops its broker to make the buffer fill, so it always runs on an embedded potok cluster (one broker);
 * then it starts the broker again and the buffered records are delivered. Same stdout lines as buffer_full.py,
 * except that here send() itself blocked:
 * {@code buffer full after 64 records of 1000 bytes (buffer.memory=65536): send() blocked 1000 ms, then
 * BufferExhaustedException} (a TimeoutException, handed to the callback and the future rather than thrown).
 *
 * <pre>java ... io.potok.examples.BufferFull [--buffer-memory 65536] [--max-block-ms 1000]</pre>
 */
public final class BufferFull {
    public static void main(String[] args) throws Exception {
        int bufferMemory = 65536, maxBlockMs = 1000, recordBytes = 1000;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--buffer-memory" -> bufferMemory = Integer.parseInt(args[i + 1]);
                case "--max-block-ms" -> maxBlockMs = Integer.parseInt(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        try (PotokCluster cluster = new PotokCluster(1, Map.of())) {
            String topic = "buffer-topic";
            try (Course course = new Course(new String[] {"--bootstrap-servers", cluster.bootstrapServers()}, Map.of())) {
                course.createTopic(topic, 1, 1, Map.of());
            }
            Properties props = new Properties();
            props.put("bootstrap.servers", cluster.bootstrapServers());
            props.put("buffer.memory", String.valueOf(bufferMemory));
            props.put("max.block.ms", String.valueOf(maxBlockMs));
            props.put("linger.ms", "0");
            // Kafka 4's client rebootstraps (metadata.recovery.strategy=rebootstrap, the default) as soon as no
            // broker it knows can be reached, and the bootstrap metadata has no topics: a send() racing that would
            // wait max.block.ms for the topic's metadata instead of filling the buffer. The course's lesson is
            // the buffer, so this producer keeps the metadata it has.
            props.put("metadata.recovery.strategy", "none");
            AtomicInteger delivered = new AtomicInteger(), failed = new AtomicInteger();
            try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props, new ByteArraySerializer(),
                    new ByteArraySerializer())) {
                producer.send(new ProducerRecord<>(topic, "first".getBytes())).get();
                // Killed rather than shut down: the producer keeps the topic's metadata it has and cannot send.
                cluster.killBroker(1);
                System.out.println("broker 1 stopped");
                byte[] value = new byte[recordBytes];
                int buffered = 0;
                while (true) {
                    long started = System.nanoTime();
                    // send() blocks while the buffer is full; after max.block.ms it gives up, and (an ApiException)
                    // the failure comes back through the callback and the returned future rather than thrown.
                    Future<RecordMetadata> sent = producer.send(new ProducerRecord<>(topic, value), (m, e) -> {
                        if (e != null) failed.incrementAndGet();
                        else delivered.incrementAndGet();
                    });
                    long blocked = Math.round((System.nanoTime() - started) / 1e8) * 100;
                    if (sent.isDone()) {
                        try {
                            sent.get();
                        } catch (ExecutionException e) {
                            failed.decrementAndGet(); // the one that never entered the buffer
                            System.out.println("buffer full after " + buffered + " records of " + recordBytes
                                    + " bytes (buffer.memory=" + bufferMemory + "): send() blocked " + blocked
                                    + " ms, then " + e.getCause().getClass().getSimpleName());
                            Course.log("  (" + e.getCause().getMessage() + ")");
                            break;
                        }
                    }
                    buffered++;
                    if (buffered > 10 * bufferMemory / recordBytes) {
                        throw new IllegalStateException("the buffer never filled: " + buffered + " records");
                    }
                }
                cluster.startBroker(1);
                System.out.println("broker 1 started");
                producer.flush();
            }
            System.out.println("delivered " + delivered.get() + " buffered records, failed " + failed.get());
        }
    }

    private BufferFull() {}
}
