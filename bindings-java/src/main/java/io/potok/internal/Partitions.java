package io.potok.internal;

import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;

/** A topic's partitions as the JNI glue packs them. */
public final class Partitions {
    private Partitions() {}

    /**
     * {@code packed}: {@code [count, is internal (0/1), then per partition: partition, leader, replica count, replicas..., isr count,
     * isr...]}. Nodes carry the broker id only (potok's clients do not report broker addresses here).
     */
    public static List<PartitionInfo> unpack(String topic, int[] packed) {
        List<PartitionInfo> out = new ArrayList<>();
        int at = 2;
        for (int i = 0; i < packed[0]; i++) {
            int partition = packed[at++];
            int leader = packed[at++];
            Node[] replicas = nodes(packed, at);
            at += 1 + replicas.length;
            Node[] isr = nodes(packed, at);
            at += 1 + isr.length;
            out.add(new PartitionInfo(topic, partition, leader < 0 ? null : node(leader), replicas, isr));
        }
        return out;
    }

    /** Whether the packed topic is internal ({@code __consumer_offsets}, {@code __transaction_state}). */
    public static boolean isInternal(int[] packed) {
        return packed[1] != 0;
    }

    private static Node[] nodes(int[] packed, int at) {
        Node[] nodes = new Node[packed[at]];
        for (int i = 0; i < nodes.length; i++) nodes[i] = node(packed[at + 1 + i]);
        return nodes;
    }

    private static Node node(int id) {
        return new Node(id, "", -1);
    }
}
