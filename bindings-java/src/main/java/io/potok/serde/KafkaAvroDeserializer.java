package io.potok.serde;

import java.util.Map;

/**
 * Reads values written by {@link KafkaAvroSerializer} (or Confluent's) with the writer's schema fetched by its id,
 * as JSON text. See {@link RegistryDeserializer}.
 */
public class KafkaAvroDeserializer extends RegistryDeserializer {
    public KafkaAvroDeserializer() {
        super("AVRO");
    }

    public KafkaAvroDeserializer(Map<String, ?> config, boolean isKey) {
        super("AVRO", config, isKey);
    }
}
