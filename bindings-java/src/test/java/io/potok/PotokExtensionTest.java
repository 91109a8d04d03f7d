package io.potok;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.potok.junit.PotokExtension;
import io.potok.junit.PotokTest;
import io.potok.serde.KafkaJsonSchemaDeserializer;
import io.potok.serde.KafkaJsonSchemaSerializer;
import java.util.Map;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;

class PotokExtensionTest {
    @Nested
    @TestMethodOrder(MethodOrderer.OrderAnnotation.class)
    class SharedBroker {
        @RegisterExtension
        static final PotokExtension POTOK = new PotokExtension().config("num.partitions", "4");
        static String firstLogDir;

        @Test
        @Order(1)
        void first(PotokBroker broker) {
            assertSame(POTOK.broker(), broker);
            firstLogDir = broker.logDir();
            String topic = POTOK.freshTopic(3);
            assertEquals(3, broker.admin().describeTopic(topic).partitions().size());
            assertNotEquals(topic, POTOK.freshTopic());
        }

        @Test
        @Order(2)
        void second() {
            assertEquals(firstLogDir, POTOK.broker().logDir(), "one broker for the whole class");
            broker4Partitions();
        }

        private void broker4Partitions() {
            POTOK.broker().createTopic("defaulted", -1);
            assertEquals(4, POTOK.broker().admin().describeTopic("defaulted").partitions().size());
        }
    }

    @Nested
    @TestMethodOrder(MethodOrderer.OrderAnnotation.class)
    class BrokerPerTest {
        @RegisterExtension
        final PotokExtension potok = new PotokExtension();
        static String firstLogDir;

        @Test
        @Order(1)
        void first() {
            firstLogDir = potok.broker().logDir();
        }

        @Test
        @Order(2)
        void second() {
            assertNotNull(firstLogDir);
            assertNotEquals(firstLogDir, potok.broker().logDir(), "a fresh broker for every test");
        }
    }

    @PotokTest(config = "num.partitions=2")
    @Nested
    class Annotated {
        @Test
        void brokerParameter(PotokBroker broker, PotokExtension potok) {
            broker.createTopic("two", -1);
            assertEquals(2, broker.admin().describeTopic("two").partitions().size());
            assertSame(broker, potok.broker());
        }
    }

    @PotokTest(schemaRegistry = true)
    @Nested
    class WithSchemaRegistry {
        @Test
        void aRegistryForTheBrokersSerializers(PotokExtension potok) {
            assertEquals(potok.broker().schemaRegistryUrl(), potok.schemaRegistryUrl());
            Map<String, Object> registry = Map.of("schema.registry.url", potok.schemaRegistryUrl());
            try (KafkaJsonSchemaSerializer serializer = new KafkaJsonSchemaSerializer("{\"type\": \"string\"}",
                    registry, false); KafkaJsonSchemaDeserializer deserializer =
                    new KafkaJsonSchemaDeserializer(registry, false)) {
                byte[] framed = serializer.serialize("names", "\"Ada\"");
                assertEquals(0, framed[0], "the Confluent wire format's magic byte");
                assertEquals("\"Ada\"", deserializer.deserialize("names", framed));
            }
        }
    }
}
