package io.potok.serde;

import java.util.Map;

/**
 * Reads values written by {@link KafkaJsonSchemaSerializer} (or Confluent's) with the writer's schema fetched by its id,
 * as JSON text. See {@link RegistryDeserializer}.
 */
public class KafkaJsonSchemaDeserializer extends RegistryDeserializer {
    public KafkaJsonSchemaDeserializer() {
        super("JSON");
    }

    public KafkaJsonSchemaDeserializer(Map<String, ?> config, boolean isKey) {
        super("JSON", config, isKey);
    }
}
