package io.potok.internal;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Collectors;
import org.apache.kafka.common.utils.Utils;

/** Kafka config as Properties or a Map, turned into the native config list and read back by key. */
public final class Configs {
    private Configs() {}

    /** As Kafka's clients read Properties: every entry, values of any type (a serializer's Class, an Integer
     * {@code linger.ms}); a key that is not a String is a ConfigException. */
    public static Map<String, Object> of(Properties properties) {
        return Utils.propsToMap(properties);
    }

    /** A config value as Kafka's own config parser reads it: a class by name, a list comma-separated. */
    public static String text(Object value) {
        if (value instanceof Class<?> c) return c.getName();
        if (value instanceof Collection<?> c) {
            return c.stream().map(Configs::text).collect(Collectors.joining(","));
        }
        return String.valueOf(value);
    }

    /** Alternating keys and values, leaving out {@code skip}. */
    public static String[] flat(Map<String, ?> config, Collection<String> skip) {
        List<String> out = new ArrayList<>();
        for (Map.Entry<String, ?> e : config.entrySet()) {
            if (e.getValue() == null || skip.contains(e.getKey())) continue;
            out.add(e.getKey());
            out.add(text(e.getValue()));
        }
        return out.toArray(new String[0]);
    }
}
