package io.potok.examples;

import java.util.Map;
import org.apache.kafka.clients.producer.Partitioner;
import org.apache.kafka.common.Cluster;

/** The course's custom partitioner: an Integer key's partition is the key modulo 2 (the topic has 2 partitions). */
public final class OddEvenPartitioner implements Partitioner {
    @Override
    public int partition(String topic, Object key, byte[] keyBytes, Object value, byte[] valueBytes, Cluster cluster) {
        if (!(key instanceof Integer)) throw new IllegalArgumentException("OddEvenPartitioner needs Integer keys");
        return Math.floorMod((Integer) key, 2);
    }

    @Override
    public void close() {}

    @Override
    public void configure(Map<String, ?> configs) {}
}
