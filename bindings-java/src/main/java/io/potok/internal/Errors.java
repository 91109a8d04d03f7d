package io.potok.internal;

import io.potok.serde.SchemaRegistryException;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.errors.WakeupException;

/**
 * Builds the Java exception for a native error (called from the JNI glue): Kafka's own classes, so that code
 * catching {@code UnknownTopicOrPartitionException}, {@code ProducerFencedException} or {@code TimeoutException}
 * works unchanged. Which failure is which (kind, Kafka code and name, retriable) is decided once in potok's core
 * ({@code potok::host::error}); this only picks the class.
 */
public final class Errors {
    /** {@code potok_error_kind} values (include/potok.h). */
    static final int KAFKA = 1, TIMEOUT = 2, CONFIG = 3, CONNECTION = 4, PROTOCOL = 5, CLOSED = 6, WAKEUP = 7,
            SERIALIZATION = 8, INVALID_ARGUMENT = 9, STATE = 10, BROKER = 11;
    /** {@code POTOK_ERROR_CODE_NONE}: Kafka has no code for the failure. */
    static final int CODE_NONE = -32768;

    private Errors() {}

    /** {@code registryStatus} and {@code registryCode}: the schema registry's HTTP status and Confluent error code
     * behind a registry serializer's failure (0 and -1 for any other error). */
    public static RuntimeException create(int kind, int code, String name, String message, boolean retriable,
            String configKey, int registryStatus, long registryCode) {
        switch (kind) {
            case CONFIG:
                return new ConfigException(message);
            case SERIALIZATION:
                // As Confluent's serializers do: a SerializationException caused by the registry's refusal.
                if (registryStatus > 0) {
                    return new SerializationException(message,
                            new SchemaRegistryException(registryStatus, (int) registryCode, message));
                }
                return new SerializationException(message);
            case WAKEUP:
                return new WakeupException();
            case TIMEOUT:
                return new TimeoutException(message);
            case CLOSED:
            case STATE:
                return new IllegalStateException(message);
            case INVALID_ARGUMENT:
                return new IllegalArgumentException(message);
            case KAFKA:
            case CONNECTION:
            case BROKER:
                if (code != CODE_NONE) {
                    org.apache.kafka.common.protocol.Errors error =
                            org.apache.kafka.common.protocol.Errors.forCode((short) code);
                    if (error != org.apache.kafka.common.protocol.Errors.UNKNOWN_SERVER_ERROR || code == -1) {
                        return error.exception(message);
                    }
                }
                return new KafkaException(message);
            default:
                return new KafkaException(message);
        }
    }
}
