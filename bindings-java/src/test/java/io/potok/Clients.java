package io.potok;

import java.util.Properties;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;

/** Which client implementation a test runs: Kafka's own Java client, or potok's over the native engine. */
enum Clients {
    KAFKA,
    POTOK;

    <K, V> Producer<K, V> producer(Properties config, Serializer<K> keys, Serializer<V> values) {
        return this == KAFKA ? new KafkaProducer<>(config, keys, values) : new PotokProducer<>(config, keys, values);
    }

    <K, V> Consumer<K, V> consumer(Properties config, Deserializer<K> keys, Deserializer<V> values) {
        return this == KAFKA ? new KafkaConsumer<>(config, keys, values) : new PotokConsumer<>(config, keys, values);
    }
}
