package io.potok.junit;

import io.potok.PotokBroker;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionConfigurationException;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * A JUnit 5 extension that gives tests an embedded potok broker ({@link PotokBroker}, started in milliseconds,
 * data in a temporary directory):
 *
 * <ul>
 *   <li>a {@code static} field {@code @RegisterExtension static PotokExtension potok = new PotokExtension();}
 *       shares one broker with every test of the class;</li>
 *   <li>an instance field {@code @RegisterExtension PotokExtension potok = new PotokExtension();} (or {@code
 *       .brokerPerTest()}) starts a fresh broker for every test;</li>
 *   <li>{@link PotokTest @PotokTest} on the class does the same declaratively.</li>
 * </ul>
 *
 * {@link #bootstrapServers()} is the address for clients and {@link #freshTopic(int)} creates a topic with a name
 * no other test uses; with {@link #schemaRegistry()} the broker serves a schema registry at {@link
 * #schemaRegistryUrl()}. Test methods may also declare a {@link PotokBroker} parameter.
 */
public class PotokExtension
        implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback, AfterEachCallback, ParameterResolver {
    private static final AtomicInteger TOPICS = new AtomicInteger();

    private final Map<String, String> config = new LinkedHashMap<>();
    private boolean perTest;
    private PotokBroker classBroker;
    private PotokBroker testBroker;

    /** A broker per class when the field is static, per test otherwise; potok's default broker config. */
    public PotokExtension() {}

    /** Adds a Kafka broker config key. */
    public PotokExtension config(String key, String value) {
        config.put(key, value);
        return this;
    }

    /** The broker also serves a schema registry ({@link #schemaRegistryUrl()}). */
    public PotokExtension schemaRegistry() {
        config.putIfAbsent(PotokBroker.SCHEMA_REGISTRY_LISTENERS, "http://127.0.0.1:0");
        return this;
    }

    /** A fresh broker for every test, even when registered on a static field. */
    public PotokExtension brokerPerTest() {
        perTest = true;
        return this;
    }

    private void readAnnotation(ExtensionContext context) {
        PotokTest annotation = context.getTestClass().map(c -> c.getAnnotation(PotokTest.class)).orElse(null);
        if (annotation == null) return;
        perTest |= annotation.brokerPerTest();
        if (annotation.schemaRegistry()) schemaRegistry();
        for (String entry : annotation.config()) {
            int eq = entry.indexOf('=');
            if (eq <= 0) {
                throw new ExtensionConfigurationException("@PotokTest config entry must be key=value: " + entry);
            }
            config.putIfAbsent(entry.substring(0, eq).trim(), entry.substring(eq + 1).trim());
        }
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        readAnnotation(context);
        if (!perTest) classBroker = new PotokBroker(config);
    }

    @Override
    public void afterAll(ExtensionContext context) {
        if (classBroker != null) {
            classBroker.close();
            classBroker = null;
        }
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        if (classBroker == null) {
            readAnnotation(context);
            testBroker = new PotokBroker(config);
        }
    }

    @Override
    public void afterEach(ExtensionContext context) {
        if (testBroker != null) {
            testBroker.close();
            testBroker = null;
        }
    }

    /** The broker of the running test (the class's shared one, or the test's own). */
    public PotokBroker broker() {
        PotokBroker broker = testBroker != null ? testBroker : classBroker;
        if (broker == null) throw new IllegalStateException("no potok broker: use it inside a test");
        return broker;
    }

    /** {@code host:port} for {@code bootstrap.servers}. */
    public String bootstrapServers() {
        return broker().bootstrapServers();
    }

    /** The schema registry's URL, for {@code schema.registry.url} (with {@link #schemaRegistry()} or {@code
     * @PotokTest(schemaRegistry = true)}; null otherwise). */
    public String schemaRegistryUrl() {
        return broker().schemaRegistryUrl();
    }

    /** Creates a topic with a name no other test uses and returns the name. */
    public String freshTopic(int partitions) {
        String name = "topic-" + TOPICS.incrementAndGet() + "-" + UUID.randomUUID().toString().substring(0, 8);
        broker().createTopic(name, partitions);
        return name;
    }

    /** {@link #freshTopic(int)} with one partition. */
    public String freshTopic() {
        return freshTopic(1);
    }

    @Override
    public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
        Class<?> type = parameter.getParameter().getType();
        return type == PotokBroker.class || type == PotokExtension.class;
    }

    @Override
    public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
        if (parameter.getParameter().getType() == PotokExtension.class) return this;
        return broker();
    }
}
