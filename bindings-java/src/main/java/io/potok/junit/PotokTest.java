package io.potok.junit;

import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Runs a test class with an embedded potok broker ({@link PotokExtension}): test methods, constructors and
 * lifecycle methods may take a {@link io.potok.PotokBroker} (or the {@link PotokExtension}) parameter.
 *
 * <pre>{@code
 * @PotokTest(config = "num.partitions=3")
 * class OrdersTest {
 *     @Test
 *     void sends(PotokBroker broker) { ... broker.bootstrapServers() ... }
 * }
 * }</pre>
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Inherited
@ExtendWith(PotokExtension.class)
public @interface PotokTest {
    /** Kafka broker config as {@code key=value} strings. */
    String[] config() default {};

    /** A fresh broker for every test method instead of one for the whole class. */
    boolean brokerPerTest() default false;

    /** The broker also serves a schema registry ({@code PotokExtension.schemaRegistryUrl()}). */
    boolean schemaRegistry() default false;
}
