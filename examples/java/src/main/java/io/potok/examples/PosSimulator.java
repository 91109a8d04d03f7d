package io.potok.examples;

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
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The course's JSON POS simulator (CURRICULUM.md §4): a pool of producer threads shares one KafkaProducer and
 * sends random invoices to a topic, keyed by StoreID, with the course's Jackson JsonSerializer. Arguments as the
 * course's: {@code pos 3 500} (topic, producer threads, ms between a thread's invoices); {@code --count N} stops
 * after N invoices in all (60 by default on the embedded cluster, otherwise until Ctrl-C). Same stdout lines as
 * pos_simulator.py.
 *
 * <pre>java ... io.potok.examples.PosSimulator [pos 3 500] [--bootstrap-servers HOST:PORT,...] [--count N]</pre>
 */
public final class PosSimulator {
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
        try (Course course = new Course(options.toArray(String[]::new), Map.of("count", "-1", "replication-factor", "3"))) {
            int rf = course.getInt("replication-factor");
            course.createTopic(topic, 3, rf, Map.of("min.insync.replicas", String.valueOf(Math.min(2, rf))));
            int count = course.getInt("count") >= 0 ? course.getInt("count") : course.cluster != null ? 60 : Integer.MAX_VALUE;
            AtomicInteger remaining = new AtomicInteger(count), failed = new AtomicInteger();
            PosInvoices generator = new PosInvoices(11);
            try (KafkaProducer<String, Map<String, Object>> producer = new KafkaProducer<>(course.props("client.id",
                    "PosSimulator"), new StringSerializer(), new PosInvoices.JsonSerializer())) {
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
                                if (e != null) failed.incrementAndGet();
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
            int read = 0, good = 0;
            try (KafkaConsumer<String, Map<String, Object>> consumer = new KafkaConsumer<>(course.props(),
                    new StringDeserializer(), new PosInvoices.JsonDeserializer())) {
                List<TopicPartition> all = List.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1),
                        new TopicPartition(topic, 2));
                consumer.assign(all);
                consumer.seekToBeginning(all);
                long deadline = System.nanoTime() + 30_000_000_000L;
                while (read < total && System.nanoTime() < deadline) {
                    for (ConsumerRecord<String, Map<String, Object>> r : consumer.poll(Duration.ofMillis(500))) {
                        read++;
                        if (r.key().equals(r.value().get("StoreID")) && r.value().get("InvoiceLineItems") instanceof List<?>) good++;
                    }
                }
            }
            System.out.println("read " + read + " invoices, every one keyed by its StoreID and valid: "
                    + (good == read ? "yes" : "no"));
        }
    }

    private PosSimulator() {}
}
