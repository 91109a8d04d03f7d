package io.potok.serde;

import java.util.Map;

/**
 * Writes values as JSON text validated against a JSON Schema in the Confluent wire format with the id the schema registry gives the schema, as
 * Confluent's {@code KafkaJsonSchemaSerializer} does. See {@link RegistrySerializer} for values and config.
 */
public class KafkaJsonSchemaSerializer extends RegistrySerializer {
    /** With no schema of its own: writes with the subject's latest schema ({@code use.latest.version=true}). */
    public KafkaJsonSchemaSerializer() {
        super("JSON", null);
    }

    /** Writes with {@code schema} (its JSON text); configure it before use. */
    public KafkaJsonSchemaSerializer(String schema) {
        super("JSON", schema);
    }

    /** Writes with {@code schema}, configured with {@code config} for keys ({@code isKey}) or values. */
    public KafkaJsonSchemaSerializer(String schema, Map<String, ?> config, boolean isKey) {
        super("JSON", schema, config, isKey);
    }
}
