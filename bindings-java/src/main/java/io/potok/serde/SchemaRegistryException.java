package io.potok.serde;

import org.apache.kafka.common.KafkaException;

/**
 * The schema registry refused a registry serializer's request: the cause of the {@link
 * org.apache.kafka.common.errors.SerializationException} the serializer throws, as Confluent's serializers wrap
 * their {@code RestClientException}. {@link #status()} is the HTTP status (409 for a schema the subject's
 * compatibility level refuses, 404 for an unknown subject or schema, 422 for an invalid schema) and {@link
 * #errorCode()} Confluent's error code (40901 incompatible, 40401, 40403, 42201...).
 */
public class SchemaRegistryException extends KafkaException {
    private final int status;
    private final int errorCode;

    public SchemaRegistryException(int status, int errorCode, String message) {
        super(message);
        this.status = status;
        this.errorCode = errorCode;
    }

    /** The HTTP status of the registry's answer. */
    public int status() {
        return status;
    }

    /** Confluent's {@code error_code} of the registry's answer (-1 when the answer had none). */
    public int errorCode() {
        return errorCode;
    }

    /** As Confluent's {@code RestClientException.getStatus()}. */
    public int getStatus() {
        return status;
    }

    /** As Confluent's {@code RestClientException.getErrorCode()}. */
    public int getErrorCode() {
        return errorCode;
    }
}
