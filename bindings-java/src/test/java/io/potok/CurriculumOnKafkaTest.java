package io.potok;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.BeforeAll;

/** The same exercises against Apache Kafka 4.1.1 at $POTOK_KAFKA_BOOTSTRAP (scripts/java-tests.sh starts one). */
class CurriculumOnKafkaTest extends Curriculum {
    static final String KAFKA = System.getenv("POTOK_KAFKA_BOOTSTRAP");

    @BeforeAll
    static void kafka() {
        assumeTrue(KAFKA != null && !KAFKA.isEmpty(), "POTOK_KAFKA_BOOTSTRAP names no Apache Kafka");
    }

    @Override
    String bootstrap() {
        return KAFKA;
    }
}
