package io.potok.serde;

import java.util.Map;

/**
 * Writes values as Avro binary in the Confluent wire format with the id the schema registry gives the schema, as
 * Confluent's {@code KafkaAvroSerializer} does. See {@link RegistrySerializer} for values and config.
 */
public class KafkaAvroSerializer extends RegistrySerializer {
    /** With no schema of its own: writes with the subject's latest schema ({@code use.latest.version=true}). */
    public KafkaAvroSerializer() {
        super("AVRO", null);
    }

    /** Writes with {@code schema} (its JSON text); configure it before use. */
    public KafkaAvroSerializer(String schema) {
        super("AVRO", schema);
    }

    /** Writes with {@code schema}, configured with {@code config} for keys ({@code isKey}) or values. */
    public KafkaAvroSerializer(String schema, Map<String, ?> config, boolean isKey) {
        super("AVRO", schema, config, isKey);
    }
}
