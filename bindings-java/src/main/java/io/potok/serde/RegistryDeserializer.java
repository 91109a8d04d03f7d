package io.potok.serde;

import io.potok.internal.Handle;
import io.potok.internal.Native;
import java.util.Map;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.serialization.Deserializer;

/**
 * Reads values in the Confluent wire format: the schema id in the frame names the writer's schema, fetched from
 * the registry (and cached) and used to decode, as Confluent's {@code KafkaAvroDeserializer} and {@code
 * KafkaJsonSchemaDeserializer} do. The value comes back as JSON text (Avro records as JSON objects, {@code bytes}
 * and {@code fixed} as strings of code points U+0000..U+00FF). Config: {@code schema.registry.url}. Thread-safe.
 */
public abstract class RegistryDeserializer implements Deserializer<String> {
    private final String schemaType;
    private Handle handle;

    RegistryDeserializer(String schemaType) {
        this.schemaType = schemaType;
    }

    RegistryDeserializer(String schemaType, Map<String, ?> config, boolean isKey) {
        this(schemaType);
        configure(config, isKey);
    }

    @Override
    public synchronized void configure(Map<String, ?> configs, boolean isKey) {
        Object url = configs.get(RegistrySerializer.SCHEMA_REGISTRY_URL_CONFIG);
        if (url == null) throw new ConfigException("Missing required configuration \""
                + RegistrySerializer.SCHEMA_REGISTRY_URL_CONFIG + "\" which has no default value.");
        if (handle != null) handle.destroy();
        long h = Native.registryDeserializerNew(String.valueOf(url), schemaType, isKey);
        handle = new Handle(h, Native::registryDeserializerDestroy, "deserializer");
    }

    private synchronized Handle handle() {
        if (handle == null) {
            throw new IllegalStateException("The deserializer is not configured (schema.registry.url)");
        }
        return handle;
    }

    @Override
    public String deserialize(String topic, byte[] data) {
        if (data == null) return null;
        return handle().call(h -> Native.registryDeserializerDeserialize(h, data));
    }

    @Override
    public synchronized void close() {
        if (handle != null) handle.destroy();
    }
}
