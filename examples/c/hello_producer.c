/*
 * The course's HelloProducer in C: Integer keys 1..N (Kafka's IntegerSerializer: 4 bytes, big-endian) and values
 * "Simple Message-i" to topic `hello-producer-topic` (5 partitions), then read back by a consumer group.
 * Integer keys are murmur2-hashed as the Java client does: 1 -> p0, 2 -> p3, 3 -> p1, 4 -> p3, 5 -> p4.
 *
 *   cc examples/c/hello_producer.c -Iinclude target/debug/libpotok.a -lpthread -ldl -lm -o hello_producer
 *   ./hello_producer [BOOTSTRAP_SERVERS] [RECORDS]
 *
 * Without BOOTSTRAP_SERVERS it starts an embedded potok broker in the process; with one, it runs against
 * that cluster (potok or Apache Kafka) unchanged.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "potok.h"

static int fail(potok_error *e, const char *what) {
    fprintf(stderr, "%s: %s (kind %d, Kafka code %d %s)\n", what, potok_error_message(e), potok_error_kind(e),
            potok_error_code(e), potok_error_name(e));
    potok_error_destroy(e);
    return 1;
}

struct report {
    int delivered, failed;
    int32_t first_partitions[6];
};

static void on_delivery(void *opaque, const potok_delivery_report *r) {
    struct report *report = opaque;
    if (r->error) {
        report->failed++;
        return;
    }
    report->delivered++;
    if (r->token <= 5) report->first_partitions[r->token] = r->partition;
}

int main(int argc, char **argv) {
    int records = argc > 2 ? atoi(argv[2]) : 1000;
    potok_broker *broker = NULL;
    char *servers = NULL;
    potok_error *e;
    if (argc > 1) {
        servers = strdup(argv[1]);
    } else {
        const char *broker_config[] = {"num.partitions", "5", NULL};
        if ((e = potok_broker_new(broker_config, &broker)) || (e = potok_broker_start(broker)) ||
            (e = potok_broker_bootstrap_servers(broker, &servers)))
            return fail(e, "embedded broker");
        printf("embedded broker on %s\n", servers);
    }

    const char *admin_config[] = {"bootstrap.servers", servers, NULL};
    potok_admin *admin = NULL;
    if ((e = potok_admin_new(admin_config, &admin))) return fail(e, "admin");
    e = potok_admin_create_topic(admin, "hello-producer-topic", 5, -1, NULL, 30000);
    if (e && potok_error_code(e) != 36 /* TOPIC_ALREADY_EXISTS */) return fail(e, "create topic");
    potok_error_destroy(e);
    potok_admin_destroy(admin);

    const char *producer_config[] = {"bootstrap.servers", servers, "client.id", "HelloProducer", NULL};
    potok_producer *producer = NULL;
    if ((e = potok_producer_new(producer_config, &producer))) return fail(e, "producer");
    struct report report = {0};
    for (int i = 1; i <= records; i++) {
        uint8_t key[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        char value[32];
        snprintf(value, sizeof value, "Simple Message-%d", i);
        potok_record record = {.topic = "hello-producer-topic", .partition = POTOK_PARTITION_ANY,
                               .key = key, .key_len = 4, .value = (const uint8_t *)value,
                               .value_len = strlen(value), .timestamp = POTOK_NO_TIMESTAMP};
        if ((e = potok_producer_send(producer, &record, (uint64_t)i))) return fail(e, "send");
        potok_producer_poll(producer, 0, on_delivery, &report);
    }
    if ((e = potok_producer_flush(producer, 60000))) return fail(e, "flush");
    while (potok_producer_poll(producer, 0, on_delivery, &report) > 0) {
    }
    potok_producer_destroy(producer);
    printf("delivered %d, failed %d; keys 1..5 went to partitions %d %d %d %d %d\n", report.delivered,
           report.failed, report.first_partitions[1], report.first_partitions[2], report.first_partitions[3],
           report.first_partitions[4], report.first_partitions[5]);

    char group[64]; /* a fresh group, so a second run against the same cluster reads from the start */
    snprintf(group, sizeof group, "hello-consumer-%ld", (long)time(NULL));
    const char *consumer_config[] = {"bootstrap.servers", servers, "group.id", group,
                                     "auto.offset.reset", "earliest", NULL};
    potok_consumer *consumer = NULL;
    if ((e = potok_consumer_new(consumer_config, &consumer))) return fail(e, "consumer");
    const char *topics[] = {"hello-producer-topic"};
    if ((e = potok_consumer_subscribe(consumer, topics, 1, NULL, NULL))) return fail(e, "subscribe");
    int per_partition[5] = {0}, consumed = 0;
    for (int idle = 0; consumed < report.delivered && idle < 20;) {
        potok_message_batch *batch = NULL;
        if ((e = potok_consumer_poll_batch(consumer, 500, 500, &batch))) return fail(e, "poll");
        idle = batch ? 0 : idle + 1;
        for (size_t i = 0; i < potok_message_batch_count(batch); i++) {
            int32_t p = potok_message_partition(potok_message_batch_get(batch, i));
            if (p >= 0 && p < 5) per_partition[p]++;
            consumed++;
        }
        potok_message_batch_destroy(batch);
    }
    if ((e = potok_consumer_close(consumer, 10000))) return fail(e, "close");
    potok_consumer_destroy(consumer);
    printf("consumed %d: per partition %d %d %d %d %d\n", consumed, per_partition[0], per_partition[1],
           per_partition[2], per_partition[3], per_partition[4]);

    potok_string_free(servers);
    if (broker && (e = potok_broker_stop(broker))) return fail(e, "stop");
    potok_broker_destroy(broker);
    int expected_partitions = report.first_partitions[1] == 0 && report.first_partitions[2] == 3 &&
                              report.first_partitions[3] == 1 && report.first_partitions[4] == 3 &&
                              report.first_partitions[5] == 4;
    return report.failed == 0 && consumed >= records && expected_partitions ? 0 : 1;
}
