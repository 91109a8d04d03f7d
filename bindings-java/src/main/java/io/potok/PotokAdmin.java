package io.potok;

import io.potok.internal.Configs;
import io.potok.internal.Handle;
import io.potok.internal.Native;
import io.potok.internal.Partitions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartitionInfo;

/**
 * The topic subset of Kafka's admin client on potok's native engine, against potok or Apache Kafka: create,
 * delete, describe and list topics. Kafka config keys ({@code bootstrap.servers} required). Errors are Kafka's
 * exceptions ({@code TopicExistsException}, {@code UnknownTopicOrPartitionException}, ...). Thread-safe.
 *
 * <p>It does not implement Kafka's {@code Admin} interface: that interface has about a hundred methods returning
 * futures of result objects; for the full admin API use Kafka's {@code AdminClient}, which works against potok.
 */
public final class PotokAdmin implements AutoCloseable {
    private static final long DEFAULT_TIMEOUT = -1;
    private final Handle handle;

    public PotokAdmin(Properties config) {
        this(Configs.of(config));
    }

    public PotokAdmin(Map<String, ?> config) {
        handle = new Handle(Native.adminNew(Configs.flat(config, List.of())), Native::adminDestroy, "admin client");
    }

    /** Creates a topic; {@code partitions} or {@code replicationFactor} -1 take the broker's defaults. */
    public void createTopic(String name, int partitions, short replicationFactor, Map<String, String> configs) {
        String[] flat = Configs.flat(configs, List.of());
        handle.run(h -> Native.adminCreateTopic(h, name, partitions, replicationFactor, flat, DEFAULT_TIMEOUT));
    }

    public void deleteTopic(String name) {
        handle.run(h -> Native.adminDeleteTopic(h, name, DEFAULT_TIMEOUT));
    }

    /** The topic's partitions with leader, replicas and ISR (nodes carry broker ids). */
    public TopicDescription describeTopic(String name) {
        int[] packed = handle.call(h -> Native.adminDescribeTopic(h, name, DEFAULT_TIMEOUT));
        List<TopicPartitionInfo> partitions = new ArrayList<>();
        for (PartitionInfo p : Partitions.unpack(name, packed)) {
            partitions.add(new TopicPartitionInfo(p.partition(), p.leader(), List.of(p.replicas()),
                    List.of(p.inSyncReplicas())));
        }
        return new TopicDescription(name, Partitions.isInternal(packed), partitions);
    }

    /** Topic names, sorted; internal topics only when asked. */
    public Set<String> listTopics(boolean includeInternal) {
        return new LinkedHashSet<>(List.of(handle.call(h -> Native.adminListTopics(h, includeInternal, DEFAULT_TIMEOUT))));
    }

    @Override
    public void close() {
        handle.destroy();
    }

    /** As {@link #close()}; the native client closes at once. */
    public void close(Duration timeout) {
        close();
    }
}
