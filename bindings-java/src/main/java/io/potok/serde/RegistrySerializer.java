package io.potok.serde;

import io.potok.internal.Handle;
import io.potok.internal.Json;
import io.potok.internal.Native;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Serializer;

/**
 * A schema-registry-aware serializer in the Confluent wire format (magic byte 0, the schema id as 4 bytes
 * big-endian, the payload), the bytes Confluent's {@code KafkaAvroSerializer} and {@code
 * KafkaJsonSchemaSerializer} write: {@link KafkaAvroSerializer} (Avro binary) and {@link KafkaJsonSchemaSerializer}
 * (JSON text validated against the schema). Registering, looking up, caching ids, validating and encoding are
 * potok's core ({@code potok::serde::registry}), reached through the native library.
 *
 * <p>A value is JSON text (a {@link String}) or a tree of {@link Map}, {@link List}, {@link String}, {@link
 * Number}, {@link Boolean} and null; Avro {@code bytes} and {@code fixed} values may be {@code byte[]}. The schema
 * is given to the constructor; a serializer made by class name (Kafka's {@code value.serializer}) has none and
 * writes with the subject's latest schema, which needs {@code use.latest.version=true}.
 *
 * <p>Config, with Confluent's names: {@code schema.registry.url} (required), {@code auto.register.schemas}
 * (default true), {@code use.latest.version} (default false; as in Confluent's Java serializer it takes precedence
 * over {@code auto.register.schemas}), {@code normalize.schemas} (default false). Subjects follow Confluent's
 * default {@code TopicNameStrategy}: {@code <topic>-key} and {@code <topic>-value}. A registry refusal is a {@link
 * org.apache.kafka.common.errors.SerializationException} caused by a {@link SchemaRegistryException}. Thread-safe.
 */
public abstract class RegistrySerializer implements Serializer<Object> {
    public static final String SCHEMA_REGISTRY_URL_CONFIG = "schema.registry.url";
    public static final String AUTO_REGISTER_SCHEMAS = "auto.register.schemas";
    public static final String USE_LATEST_VERSION = "use.latest.version";
    public static final String NORMALIZE_SCHEMAS = "normalize.schemas";

    private final String schemaType;
    private final String schema;
    private Handle handle;

    RegistrySerializer(String schemaType, String schema) {
        this.schemaType = schemaType;
        this.schema = schema;
    }

    RegistrySerializer(String schemaType, String schema, Map<String, ?> config, boolean isKey) {
        this(schemaType, schema);
        configure(config, isKey);
    }

    @Override
    public synchronized void configure(Map<String, ?> configs, boolean isKey) {
        Object url = configs.get(SCHEMA_REGISTRY_URL_CONFIG);
        if (url == null) throw new ConfigException("Missing required configuration \"" + SCHEMA_REGISTRY_URL_CONFIG
                + "\" which has no default value.");
        List<String> pairs = new ArrayList<>();
        boolean latest = flag(configs, USE_LATEST_VERSION);
        for (String key : List.of(AUTO_REGISTER_SCHEMAS, USE_LATEST_VERSION, NORMALIZE_SCHEMAS)) {
            Object value = configs.get(key);
            if (value == null) continue;
            // Confluent's Java serializer ignores auto.register.schemas when use.latest.version is set.
            if (latest && key.equals(AUTO_REGISTER_SCHEMAS)) continue;
            pairs.add(key);
            pairs.add(String.valueOf(value));
        }
        if (latest) {
            pairs.add(AUTO_REGISTER_SCHEMAS);
            pairs.add("false");
        }
        if (handle != null) handle.destroy();
        long h = Native.registrySerializerNew(String.valueOf(url), schemaType, schema, isKey,
                pairs.toArray(new String[0]));
        handle = new Handle(h, Native::registrySerializerDestroy, "serializer");
    }

    private static boolean flag(Map<String, ?> configs, String key) {
        Object value = configs.get(key);
        return value != null && String.valueOf(value).trim().equalsIgnoreCase("true");
    }

    private synchronized Handle handle() {
        if (handle == null) throw new IllegalStateException("The serializer is not configured (schema.registry.url)");
        return handle;
    }

    @Override
    public byte[] serialize(String topic, Object data) {
        if (data == null) return null;
        String json;
        try {
            json = data instanceof String s ? s : Json.write(data);
        } catch (IllegalArgumentException e) {
            throw new SerializationException("Error serializing a " + data.getClass().getName() + ": " + e.getMessage(), e);
        }
        return handle().call(h -> Native.registrySerializerSerialize(h, topic, json));
    }

    @Override
    public synchronized void close() {
        if (handle != null) handle.destroy();
    }
}
