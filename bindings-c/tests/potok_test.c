/*
 * The C ABI's tests, in C, against an embedded potok broker: errors (kinds, Kafka codes, config keys, NULL
 * arguments), the broker's life cycle, admin topics, a producer with delivery reports and headers, a consumer
 * by assignment and in a group (rebalance callback, commits, seek, offsets), the course's transactions
 * exercise (T1 committed, T2 aborted, a read_committed reader sees T1 only), the log callback, the schema
 * registry and its serializers, a
 * three-node embedded cluster that loses a partition's leader under acks=all and gets it back, and the course's
 * min-ISR exercise on three brokers beside a dedicated controller (two brokers down: NOT_ENOUGH_REPLICAS).
 * scripts/c-tests.sh builds it with `cc` and runs it plainly and under AddressSanitizer (leaks included).
 * Prints "c-tests: N passed, N failed"; exits non-zero when a check failed.
 */
/* nanosleep and clock_gettime, for the cluster test's bounded waits. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "potok.h"

static int passed, failed;

#define CHECK(cond, ...)                                                                                       \
    do {                                                                                                       \
        if (cond) {                                                                                            \
            passed++;                                                                                          \
        } else {                                                                                               \
            failed++;                                                                                          \
            fprintf(stderr, "FAILED %s:%d: %s: ", __FILE__, __LINE__, #cond);                                \
            fprintf(stderr, __VA_ARGS__);                                                                      \
            fputc('\n', stderr);                                                                               \
        }                                                                                                      \
    } while (0)

/* Checks that a call succeeded; prints and frees its error otherwise. Evaluates to 1 on success. */
static int ok_at(potok_error *e, const char *what, int line) {
    if (e == NULL) {
        passed++;
        return 1;
    }
    failed++;
    fprintf(stderr, "FAILED line %d: %s: %s\n", line, what, potok_error_message(e));
    potok_error_destroy(e);
    return 0;
}
#define OK(call) ok_at((call), #call, __LINE__)

static char *bootstrap;

static void test_errors(void) {
    /* An unknown broker key is a config error naming it, with Kafka's INVALID_CONFIG code. */
    const char *bad[] = {"num.partitions", "3", "no.such.key", "1", NULL};
    potok_broker *broker = (potok_broker *)1;
    potok_error *e = potok_broker_new(bad, &broker);
    CHECK(e != NULL, "an unknown key must fail");
    CHECK(potok_error_kind(e) == POTOK_ERROR_CONFIG, "kind %d", potok_error_kind(e));
    CHECK(potok_error_code(e) == 40, "code %d", potok_error_code(e));
    CHECK(potok_error_config_key(e) && strcmp(potok_error_config_key(e), "no.such.key") == 0, "key");
    CHECK(broker == (potok_broker *)1, "out parameters are written only on success");
    potok_error_destroy(e);

    /* A malformed value, for a client. */
    const char *acks[] = {"bootstrap.servers", "127.0.0.1:1", "acks", "most", NULL};
    potok_producer *producer = NULL;
    e = potok_producer_new(acks, &producer);
    CHECK(e && potok_error_kind(e) == POTOK_ERROR_CONFIG && strcmp(potok_error_config_key(e), "acks") == 0,
          "bad acks: %s", e ? potok_error_message(e) : "no error");
    CHECK(producer == NULL, "no producer made");
    potok_error_destroy(e);

    /* A key without its value. */
    const char *odd[] = {"bootstrap.servers", NULL};
    potok_admin *admin = NULL;
    e = potok_admin_new(odd, &admin);
    CHECK(e && potok_error_kind(e) == POTOK_ERROR_INVALID_ARGUMENT, "a key without value");
    CHECK(potok_error_code(e) == POTOK_ERROR_CODE_NONE, "no Kafka code for a bad argument");
    potok_error_destroy(e);

    /* NULL handles and out parameters are argument errors, not crashes. */
    e = potok_producer_flush(NULL, 0);
    CHECK(e && potok_error_kind(e) == POTOK_ERROR_INVALID_ARGUMENT, "NULL producer");
    potok_error_destroy(e);
    e = potok_broker_new(NULL, NULL);
    CHECK(e && potok_error_kind(e) == POTOK_ERROR_INVALID_ARGUMENT, "NULL out");
    potok_error_destroy(e);
    CHECK(potok_error_kind(NULL) == POTOK_ERROR_OTHER && potok_error_message(NULL) == NULL, "NULL error");
    potok_error_destroy(NULL);
    potok_producer_destroy(NULL);
    potok_consumer_destroy(NULL);
    potok_broker_destroy(NULL);
    potok_string_free(NULL);
}

static void test_broker_life_cycle(void) {
    potok_broker *broker = NULL;
    if (!OK(potok_broker_new(NULL, &broker))) return;
    char *servers = NULL;
    potok_error *e = potok_broker_bootstrap_servers(broker, &servers);
    CHECK(e && potok_error_kind(e) == POTOK_ERROR_STATE, "not running yet");
    potok_error_destroy(e);
    OK(potok_broker_start(broker));
    CHECK(potok_broker_is_running(broker), "running");
    e = potok_broker_start(broker);
    CHECK(e && potok_error_kind(e) == POTOK_ERROR_STATE, "started twice");
    potok_error_destroy(e);
    if (OK(potok_broker_bootstrap_servers(broker, &servers))) {
        CHECK(strncmp(servers, "127.0.0.1:", 10) == 0, "servers %s", servers);
        potok_string_free(servers);
    }
    char *dir = NULL;
    if (OK(potok_broker_log_dir(broker, &dir))) {
        CHECK(strlen(dir) > 0, "a temporary log dir");
        potok_string_free(dir);
    }
    OK(potok_broker_stop(broker));
    OK(potok_broker_stop(broker)); /* stopping a stopped broker does nothing */
    CHECK(!potok_broker_is_running(broker), "stopped");
    OK(potok_broker_start(broker)); /* and it starts again */
    potok_broker_destroy(broker);    /* stops it */
}

static void test_admin(void) {
    const char *config[] = {"bootstrap.servers", bootstrap, NULL};
    potok_admin *admin = NULL;
    if (!OK(potok_admin_new(config, &admin))) return;
    const char *topic_config[] = {"retention.ms", "3600000", NULL};
    OK(potok_admin_create_topic(admin, "c-admin", 3, 1, topic_config, 10000));
    potok_error *e = potok_admin_create_topic(admin, "c-admin", 3, 1, NULL, 10000);
    CHECK(e && potok_error_kind(e) == POTOK_ERROR_KAFKA && potok_error_code(e) == 36 &&
              strcmp(potok_error_name(e), "TOPIC_ALREADY_EXISTS") == 0 && !potok_error_retriable(e),
          "exists: %s", e ? potok_error_message(e) : "no error");
    potok_error_destroy(e);

    potok_topic_description *d = NULL;
    if (OK(potok_admin_describe_topic(admin, "c-admin", 10000, &d))) {
        CHECK(strcmp(potok_topic_description_name(d), "c-admin") == 0, "name");
        CHECK(potok_topic_description_partition_count(d) == 3, "3 partitions");
        potok_partition_info info;
        CHECK(potok_topic_description_partition(d, 2, &info) && info.partition == 2 && info.leader >= 0 &&
                  info.replica_count == 1 && info.isr_count == 1 && info.replicas[0] == info.leader,
              "partition 2");
        CHECK(!potok_topic_description_partition(d, 3, &info), "out of range");
        potok_topic_description_destroy(d);
    }
    e = potok_admin_describe_topic(admin, "c-no-such-topic", 10000, &d);
    CHECK(e && potok_error_code(e) == 3 && potok_error_retriable(e), "unknown topic: %s",
          e ? potok_error_message(e) : "no error");
    potok_error_destroy(e);

    potok_string_list *names = NULL;
    if (OK(potok_admin_list_topics(admin, false, 10000, &names))) {
        int found = 0;
        for (size_t i = 0; i < potok_string_list_count(names); i++)
            found |= strcmp(potok_string_list_get(names, i), "c-admin") == 0;
        CHECK(found, "c-admin listed");
        CHECK(potok_string_list_get(names, potok_string_list_count(names)) == NULL, "past the end");
        potok_string_list_destroy(names);
    }
    OK(potok_admin_delete_topic(admin, "c-admin", 10000));
    potok_admin_destroy(admin);
}

struct reports {
    int ok, failed;
    int64_t offsets[100];
    uint64_t tokens_seen;
};

static void on_delivery(void *opaque, const potok_delivery_report *r) {
    struct reports *reports = opaque;
    if (r->error != NULL) {
        reports->failed++;
        fprintf(stderr, "delivery of %" PRIu64 " failed: %s\n", r->token, potok_error_message(r->error));
        return;
    }
    reports->ok++;
    if (r->token >= 1 && r->token <= 100) reports->offsets[r->token - 1] = r->offset;
    reports->tokens_seen += r->token;
    if (strcmp(r->topic, "c-clients") != 0) reports->failed++;
}

static void produce_100(potok_producer *producer, const char *topic, int partition) {
    char key[16], value[32];
    for (int i = 1; i <= 100; i++) {
        snprintf(key, sizeof key, "%d", i);
        snprintf(value, sizeof value, "Simple Message-%d", i);
        potok_header headers[2] = {{"h", (const uint8_t *)"v", 1}, {"null", NULL, 0}};
        potok_record record = {
            .topic = topic,
            .partition = partition,
            .key = (const uint8_t *)key,
            .key_len = strlen(key),
            .value = (const uint8_t *)value,
            .value_len = strlen(value),
            .timestamp = 1700000000000 + i,
            .headers = headers,
            .header_count = 2,
        };
        if (!OK(potok_producer_send(producer, &record, (uint64_t)i))) return;
    }
}

static void test_producer_and_assigned_consumer(void) {
    const char *config[] = {"bootstrap.servers", bootstrap, "linger.ms", "1", NULL};
    potok_producer *producer = NULL;
    if (!OK(potok_producer_new(config, &producer))) return;
    produce_100(producer, "c-clients", 1);
    OK(potok_producer_flush(producer, 30000));
    CHECK(potok_producer_in_flight(producer) == 0, "all delivered");
    struct reports reports = {0};
    size_t served = 0;
    for (int i = 0; i < 100 && served < 100; i++) served += potok_producer_poll(producer, 1000, on_delivery, &reports);
    CHECK(served == 100 && reports.ok == 100 && reports.failed == 0, "100 reports (%zu, %d ok)", served, reports.ok);
    CHECK(reports.tokens_seen == 5050, "every token once");
    int in_order = 1;
    for (int i = 1; i < 100; i++) in_order &= reports.offsets[i] == reports.offsets[i - 1] + 1;
    CHECK(in_order && reports.offsets[0] == 0, "offsets 0..99 in send order");
    CHECK(potok_producer_poll(producer, 0, on_delivery, &reports) == 0, "nothing left");

    /* A record to a partition that does not exist fails in its report or at send. */
    potok_record bad = {.topic = "c-clients", .partition = 99, .value = (const uint8_t *)"x", .value_len = 1,
                        .timestamp = POTOK_NO_TIMESTAMP};
    potok_error *e = potok_producer_send(producer, &bad, 7);
    if (e == NULL) {
        struct reports r = {0};
        potok_producer_poll(producer, 30000, on_delivery, &r);
        CHECK(r.failed == 1, "partition 99 fails");
    } else {
        CHECK(potok_error_kind(e) != POTOK_ERROR_OTHER, "partition 99: %s", potok_error_message(e));
        potok_error_destroy(e);
    }

    potok_topic_description *d = NULL;
    if (OK(potok_producer_partitions_for(producer, "c-clients", &d))) {
        CHECK(potok_topic_description_partition_count(d) == 3, "auto-created with num.partitions=3");
        potok_topic_description_destroy(d);
    }
    OK(potok_producer_close(producer, 10000));
    e = potok_producer_send(producer, &bad, 0);
    CHECK(e && potok_error_kind(e) == POTOK_ERROR_STATE, "closed: %s", e ? potok_error_message(e) : "none");
    potok_error_destroy(e);
    potok_producer_destroy(producer);

    /* Assign partition 1, seek to 15, read 5 (the course's assign-and-seek exercise). */
    const char *cconfig[] = {"bootstrap.servers", bootstrap, "auto.offset.reset", "earliest", NULL};
    potok_consumer *consumer = NULL;
    if (!OK(potok_consumer_new(cconfig, &consumer))) return;
    potok_topic_partition tp = {"c-clients", 1};
    OK(potok_consumer_assign(consumer, &tp, 1));
    OK(potok_consumer_seek(consumer, "c-clients", 1, 15));
    int64_t expected = 15;
    int good = 1;
    for (int n = 0; n < 5; n++) {
        potok_message *m = NULL;
        if (!OK(potok_consumer_poll(consumer, 10000, &m)) || m == NULL) {
            good = 0;
            break;
        }
        size_t klen = 0, vlen = 0;
        const uint8_t *k = potok_message_key(m, &klen);
        const uint8_t *v = potok_message_value(m, &vlen);
        char want_value[32];
        snprintf(want_value, sizeof want_value, "Simple Message-%" PRId64, expected + 1);
        good &= potok_message_offset(m) == expected && potok_message_partition(m) == 1;
        good &= vlen == strlen(want_value) && memcmp(v, want_value, vlen) == 0 && k != NULL && klen > 0;
        good &= potok_message_timestamp(m) == 1700000000000 + expected + 1 && potok_message_timestamp_type(m) == 0;
        good &= strcmp(potok_message_topic(m), "c-clients") == 0;
        const char *hk;
        const uint8_t *hv;
        size_t hlen;
        good &= potok_message_header_count(m) == 2;
        good &= potok_message_header(m, 0, &hk, &hv, &hlen) && strcmp(hk, "h") == 0 && hlen == 1 && hv[0] == 'v';
        good &= potok_message_header(m, 1, &hk, &hv, &hlen) && strcmp(hk, "null") == 0 && hv == NULL;
        good &= !potok_message_header(m, 2, &hk, &hv, &hlen);
        potok_message_destroy(m);
        expected++;
    }
    CHECK(good, "offsets 15..19 with keys, values, timestamps and headers");
    int64_t position = -1;
    OK(potok_consumer_position(consumer, "c-clients", 1, 5000, &position));
    CHECK(position == 20, "position %" PRId64, position);

    potok_partition_list *list = NULL;
    if (OK(potok_consumer_end_offsets(consumer, &tp, 1, 5000, &list))) {
        potok_partition_offset o;
        CHECK(potok_partition_list_get(list, 0, &o) && o.offset == 100 && o.partition == 1, "end offset 100");
        potok_partition_list_destroy(list);
    }
    potok_partition_offset when = {"c-clients", 1, 1700000000000 + 51, NULL};
    if (OK(potok_consumer_offsets_for_times(consumer, &when, 1, 5000, &list))) {
        potok_partition_offset o;
        CHECK(potok_partition_list_get(list, 0, &o) && o.offset == 50, "offset for time: %" PRId64, o.offset);
        CHECK(potok_partition_list_timestamp(list, 0) == 1700000000000 + 51, "its timestamp");
        potok_partition_list_destroy(list);
    }

    /* A batch: the rest of the partition from offset 20. */
    size_t total = 0;
    for (int i = 0; i < 50 && total < 80; i++) {
        potok_message_batch *batch = NULL;
        if (!OK(potok_consumer_poll_batch(consumer, 1000, 500, &batch))) break;
        if (batch == NULL) continue;
        for (size_t j = 0; j < potok_message_batch_count(batch); j++)
            good &= potok_message_offset(potok_message_batch_get(batch, j)) == 20 + (int64_t)(total + j);
        total += potok_message_batch_count(batch);
        CHECK(potok_message_batch_get(batch, potok_message_batch_count(batch)) == NULL, "past the batch");
        potok_message_batch_destroy(batch);
    }
    CHECK(total == 80 && good, "80 more records in order (%zu)", total);

    /* Without group.id there is nothing to commit to. */
    e = potok_consumer_commit_sync(consumer, NULL, 0, 5000);
    CHECK(e && potok_error_kind(e) == POTOK_ERROR_INVALID_ARGUMENT, "commit without group.id: %s",
          e ? potok_error_message(e) : "none");
    potok_error_destroy(e);
    OK(potok_consumer_close(consumer, 5000));
    potok_consumer_destroy(consumer);
}

struct rebalance {
    int assigned, revoked;
};

static void on_rebalance(void *opaque, potok_rebalance_event event, const potok_partition_list *partitions) {
    struct rebalance *r = opaque;
    int n = (int)potok_partition_list_count(partitions);
    if (event == POTOK_REBALANCE_ASSIGNED) r->assigned += n;
    if (event == POTOK_REBALANCE_REVOKED) r->revoked += n;
}

struct commits {
    int ok, failed, partitions;
};

static void on_commit(void *opaque, const potok_partition_list *offsets, const potok_error *error) {
    struct commits *c = opaque;
    if (error) c->failed++;
    else c->ok++;
    c->partitions += (int)potok_partition_list_count(offsets);
}

static void test_consumer_group(void) {
    const char *config[] = {"bootstrap.servers", bootstrap, "group.id", "c-group", "auto.offset.reset", "earliest",
                            "enable.auto.commit", "false", NULL};
    potok_consumer *consumer = NULL;
    if (!OK(potok_consumer_new(config, &consumer))) return;
    struct rebalance r = {0};
    const char *topics[] = {"c-clients"};
    OK(potok_consumer_subscribe(consumer, topics, 1, on_rebalance, &r));
    potok_string_list *subscription = NULL;
    if (OK(potok_consumer_subscription(consumer, &subscription))) {
        CHECK(potok_string_list_count(subscription) == 1, "subscribed to one topic");
        potok_string_list_destroy(subscription);
    }
    int count = 0;
    for (int i = 0; i < 60 && count < 100; i++) {
        potok_message_batch *batch = NULL;
        if (!OK(potok_consumer_poll_batch(consumer, 500, 1000, &batch))) break;
        count += (int)potok_message_batch_count(batch);
        potok_message_batch_destroy(batch);
    }
    CHECK(count == 100, "the group member read all 100 records (%d)", count);
    CHECK(r.assigned == 3, "3 partitions assigned through the callback (%d)", r.assigned);
    potok_partition_list *assigned = NULL;
    if (OK(potok_consumer_assignment(consumer, &assigned))) {
        CHECK(potok_partition_list_count(assigned) == 3, "assignment");
        potok_partition_list_destroy(assigned);
    }
    OK(potok_consumer_commit_sync(consumer, NULL, 0, 10000));
    potok_topic_partition tps[3] = {{"c-clients", 0}, {"c-clients", 1}, {"c-clients", 2}};
    potok_partition_list *committed = NULL;
    if (OK(potok_consumer_committed(consumer, tps, 3, 10000, &committed))) {
        potok_partition_offset o;
        CHECK(potok_partition_list_get(committed, 1, &o) && o.offset == 100 && o.metadata != NULL, "committed 100");
        /* An empty partition's position (0) is committed too, as Kafka's commitSync() does. */
        CHECK(potok_partition_list_get(committed, 0, &o) && o.offset == 0, "p0 at 0");
        potok_partition_list_destroy(committed);
    }
    potok_partition_offset explicit_offset = {"c-clients", 1, 42, "from C"};
    struct commits c = {0};
    OK(potok_consumer_commit_async(consumer, &explicit_offset, 1, on_commit, &c));
    for (int i = 0; i < 50 && c.ok + c.failed == 0; i++) {
        potok_message *m = NULL;
        OK(potok_consumer_poll(consumer, 100, &m));
        potok_message_destroy(m);
    }
    CHECK(c.ok == 1 && c.partitions == 1, "async commit callback served from poll");
    if (OK(potok_consumer_committed(consumer, &tps[1], 1, 10000, &committed))) {
        potok_partition_offset o;
        CHECK(potok_partition_list_get(committed, 0, &o) && o.offset == 42 && strcmp(o.metadata, "from C") == 0,
              "committed 42 with metadata");
        potok_partition_list_destroy(committed);
    }
    potok_group_metadata *gm = NULL;
    if (OK(potok_consumer_group_metadata(consumer, &gm))) {
        CHECK(strcmp(potok_group_metadata_group_id(gm), "c-group") == 0 && potok_group_metadata_generation_id(gm) > 0,
              "group metadata");
        potok_group_metadata_destroy(gm);
    }
    OK(potok_consumer_close(consumer, 10000));
    CHECK(r.revoked == 3, "revoked on close (%d)", r.revoked);
    potok_message *m = NULL;
    potok_error *e = potok_consumer_poll(consumer, 0, &m);
    CHECK(e && potok_error_kind(e) == POTOK_ERROR_STATE, "poll after close: %s", e ? potok_error_message(e) : "none");
    potok_error_destroy(e);
    potok_consumer_destroy(consumer);
}

/* The course's transactions exercise: T1 sends keys 1-2 to two topics and commits, T2 the same and aborts; a
 * read_committed consumer sees only T1. */
static void test_transactions(void) {
    const char *config[] = {"bootstrap.servers", bootstrap, "transactional.id", "Hello-Producer-Trans", NULL};
    potok_producer *producer = NULL;
    if (!OK(potok_producer_new(config, &producer))) return;
    potok_error *e = potok_producer_begin_transaction(producer);
    CHECK(e && potok_error_kind(e) == POTOK_ERROR_STATE, "begin before init: %s", e ? potok_error_message(e) : "none");
    potok_error_destroy(e);
    OK(potok_producer_init_transactions(producer, 30000));
    const char *topics[] = {"c-hello-producer-1", "c-hello-producer-2"};
    for (int t = 1; t <= 2; t++) {
        OK(potok_producer_begin_transaction(producer));
        for (int k = 1; k <= 2; k++) {
            char value[32];
            snprintf(value, sizeof value, "Simple Message-T%d-%d", t, k);
            for (int i = 0; i < 2; i++) {
                potok_record record = {.topic = topics[i], .partition = POTOK_PARTITION_ANY,
                                       .key = (const uint8_t *)(k == 1 ? "1" : "2"), .key_len = 1,
                                       .value = (const uint8_t *)value, .value_len = strlen(value),
                                       .timestamp = POTOK_NO_TIMESTAMP};
                OK(potok_producer_send(producer, &record, POTOK_NO_REPORT));
            }
        }
        if (t == 1) OK(potok_producer_commit_transaction(producer, 30000));
        else OK(potok_producer_abort_transaction(producer, 30000));
    }
    potok_producer_destroy(producer);

    const char *cconfig[] = {"bootstrap.servers", bootstrap, "group.id", "c-txn-reader", "auto.offset.reset",
                             "earliest", "isolation.level", "read_committed", NULL};
    potok_consumer *consumer = NULL;
    if (!OK(potok_consumer_new(cconfig, &consumer))) return;
    OK(potok_consumer_subscribe(consumer, topics, 2, NULL, NULL));
    int t1 = 0, t2 = 0;
    for (int i = 0; i < 40 && t1 < 4; i++) {
        potok_message_batch *batch = NULL;
        if (!OK(potok_consumer_poll_batch(consumer, 250, 100, &batch))) break;
        for (size_t j = 0; j < potok_message_batch_count(batch); j++) {
            size_t len = 0;
            const uint8_t *v = potok_message_value(potok_message_batch_get(batch, j), &len);
            if (len > 17 && memcmp(v, "Simple Message-T1", 17) == 0) t1++;
            if (len > 17 && memcmp(v, "Simple Message-T2", 17) == 0) t2++;
        }
        potok_message_batch_destroy(batch);
    }
    /* One more poll so that any aborted record would have shown up. */
    potok_message *m = NULL;
    OK(potok_consumer_poll(consumer, 500, &m));
    if (m) t2 += memcmp(potok_message_value(m, NULL), "Simple Message-T2", 17) == 0;
    potok_message_destroy(m);
    CHECK(t1 == 4 && t2 == 0, "read_committed sees T1's 4 records and none of T2 (%d, %d)", t1, t2);
    potok_consumer_destroy(consumer);
}

static atomic_int log_records;

static void on_log(void *opaque, const potok_log_record *record) {
    (void)opaque;
    if (record->logger && record->message && record->timestamp_ms > 0) atomic_fetch_add(&log_records, 1);
}

static void test_log_callback(void) {
    potok_set_log_callback(POTOK_LOG_INFO, on_log, NULL);
    potok_broker *broker = NULL;
    if (OK(potok_broker_new(NULL, &broker))) {
        OK(potok_broker_start(broker));
        potok_broker_destroy(broker);
    }
    potok_set_log_callback(POTOK_LOG_INFO, NULL, NULL);
    CHECK(atomic_load(&log_records) >= 2, "the broker logged its start and stop (%d)", atomic_load(&log_records));
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Partition 0 of `topic` as the cluster sees it now; 0 when it cannot be described (yet). */
static int describe_partition(potok_admin *admin, const char *topic, int32_t *leader, int32_t isr[9],
                              size_t *isr_count) {
    potok_topic_description *d = NULL;
    potok_error *e = potok_admin_describe_topic(admin, topic, 5000, &d);
    if (e != NULL) {
        potok_error_destroy(e);
        return 0;
    }
    potok_partition_info info;
    int found = potok_topic_description_partition(d, 0, &info);
    if (found) {
        *leader = info.leader;
        *isr_count = info.isr_count < 9 ? info.isr_count : 9;
        memcpy(isr, info.isr, *isr_count * sizeof *isr);
    }
    potok_topic_description_destroy(d);
    return found;
}

static int isr_has(const int32_t *isr, size_t count, int32_t id) {
    for (size_t i = 0; i < count; i++)
        if (isr[i] == id) return 1;
    return 0;
}

struct cluster_reports {
    int ok, failed;
};

static void on_cluster_delivery(void *opaque, const potok_delivery_report *r) {
    struct cluster_reports *reports = opaque;
    if (r->error == NULL && r->offset >= 0) {
        reports->ok++;
    } else {
        reports->failed++;
        fprintf(stderr, "cluster delivery %" PRIu64 ": %s\n", r->token, r->error ? potok_error_message(r->error) : "");
    }
}

/* Sends `count` records numbered from `first` with acks=all and waits for every report; returns how many were
 * acknowledged. */
static int produce_acked(potok_producer *producer, const char *topic, int first, int count) {
    char value[32];
    for (int i = first; i < first + count; i++) {
        snprintf(value, sizeof value, "v%d", i);
        potok_record record = {.topic = topic, .partition = 0, .value = (const uint8_t *)value,
                               .value_len = strlen(value), .timestamp = POTOK_NO_TIMESTAMP};
        if (!OK(potok_producer_send(producer, &record, (uint64_t)i + 1))) return 0; /* 0 is POTOK_NO_REPORT */
    }
    OK(potok_producer_flush(producer, 60000));
    struct cluster_reports reports = {0};
    double deadline = now_s() + 60;
    while (reports.ok + reports.failed < count && now_s() < deadline)
        potok_producer_poll(producer, 1000, on_cluster_delivery, &reports);
    return reports.ok;
}

static void test_cluster(void) {
    potok_cluster *cluster = (potok_cluster *)1;
    potok_error *e = potok_cluster_start(0, NULL, &cluster);
    CHECK(e && potok_error_kind(e) == POTOK_ERROR_INVALID_ARGUMENT, "0 brokers");
    potok_error_destroy(e);
    const char *bad[] = {"no.such.key", "1", NULL};
    e = potok_cluster_start(3, bad, &cluster);
    CHECK(e && potok_error_kind(e) == POTOK_ERROR_CONFIG && strcmp(potok_error_config_key(e), "no.such.key") == 0,
          "an unknown key: %s", e ? potok_error_message(e) : "no error");
    potok_error_destroy(e);
    CHECK(cluster == (potok_cluster *)1, "no cluster made");
    potok_cluster_destroy(NULL);

    const char *config[] = {"default.replication.factor", "3", NULL};
    if (!OK(potok_cluster_start(3, config, &cluster))) return;
    int32_t ids[POTOK_CLUSTER_MAX_BROKERS];
    size_t count = 0;
    OK(potok_cluster_running(cluster, ids, POTOK_CLUSTER_MAX_BROKERS, &count));
    CHECK(count == 3 && ids[0] == 1 && ids[1] == 2 && ids[2] == 3, "nodes 1, 2, 3 (%zu)", count);
    OK(potok_cluster_running(cluster, NULL, 0, &count));
    CHECK(count == 3, "the count alone");
    char *log_dir = NULL;
    if (OK(potok_cluster_log_dir(cluster, 2, &log_dir))) {
        size_t len = strlen(log_dir);
        CHECK(len > 2 && strcmp(log_dir + len - 2, "-2") == 0, "node 2's log directory: %s", log_dir);
        potok_string_free(log_dir);
    }
    potok_error *no_node = potok_cluster_log_dir(cluster, 4, &log_dir);
    CHECK(no_node && potok_error_kind(no_node) == POTOK_ERROR_INVALID_ARGUMENT, "no node 4");
    potok_error_destroy(no_node);
    char *registry_url = (char *)1;
    if (OK(potok_cluster_schema_registry_url(cluster, 0, &registry_url))) {
        CHECK(registry_url == NULL, "no schema registry without schema.registry.listeners");
    }
    e = potok_cluster_schema_registry_url(cluster, 42, &registry_url);
    CHECK(e && potok_error_kind(e) == POTOK_ERROR_INVALID_ARGUMENT, "no node 42");
    potok_error_destroy(e);
    char *servers = NULL;
    if (!OK(potok_cluster_bootstrap_servers(cluster, &servers))) {
        potok_cluster_destroy(cluster);
        return;
    }
    int commas = 0;
    for (const char *c = servers; *c; c++) commas += *c == ',';
    CHECK(commas == 2 && strncmp(servers, "127.0.0.1:", 10) == 0, "three addresses: %s", servers);
    e = potok_cluster_stop_broker(cluster, 4);
    CHECK(e && potok_error_kind(e) == POTOK_ERROR_INVALID_ARGUMENT, "no node 4");
    potok_error_destroy(e);

    const char *aconfig[] = {"bootstrap.servers", servers, NULL};
    potok_admin *admin = NULL;
    const char *topic_config[] = {"min.insync.replicas", "2", NULL};
    potok_error *created = NULL;
    /* potok_cluster_start returned once all three brokers were registered and unfenced: replication factor 3
     * is accepted at once. */
    if (OK(potok_admin_new(aconfig, &admin)))
        created = potok_admin_create_topic(admin, "c-cluster", 1, 3, topic_config, 10000);
    if (admin != NULL && OK(created)) {
        int32_t leader = -1, isr[9];
        size_t isr_count = 0;
        double deadline = now_s() + 30;
        while (!(describe_partition(admin, "c-cluster", &leader, isr, &isr_count) && leader > 0 && isr_count == 3) &&
               now_s() < deadline)
            sleep_ms(100);
        CHECK(leader > 0 && isr_count == 3, "a leader and three in-sync replicas (leader %d, isr %zu)", leader,
              isr_count);
        int32_t dead = leader;

        const char *pconfig[] = {"bootstrap.servers", servers, "acks", "all", "linger.ms", "1", NULL};
        potok_producer *producer = NULL;
        if (OK(potok_producer_new(pconfig, &producer))) {
            CHECK(produce_acked(producer, "c-cluster", 0, 50) == 50, "50 acknowledged by all three replicas");

            /* The leader dies without a controlled shutdown; another replica takes over and the ISR shrinks. */
            OK(potok_cluster_kill_broker(cluster, dead));
            e = potok_cluster_kill_broker(cluster, dead);
            CHECK(e && potok_error_kind(e) == POTOK_ERROR_STATE, "killed twice");
            potok_error_destroy(e);
            OK(potok_cluster_running(cluster, ids, POTOK_CLUSTER_MAX_BROKERS, &count));
            CHECK(count == 2 && ids[0] != dead && ids[1] != dead, "two nodes left");
            deadline = now_s() + 30;
            while (!(describe_partition(admin, "c-cluster", &leader, isr, &isr_count) && leader > 0 &&
                     leader != dead && !isr_has(isr, isr_count, dead)) &&
                   now_s() < deadline)
                sleep_ms(100);
            CHECK(leader > 0 && leader != dead, "a new leader (%d, was %d)", leader, dead);
            CHECK(isr_count == 2 && !isr_has(isr, isr_count, dead), "the dead node left the ISR (%zu)", isr_count);

            /* Two in-sync replicas still meet min.insync.replicas=2: acks=all keeps working. */
            CHECK(produce_acked(producer, "c-cluster", 50, 50) == 50, "50 more acknowledged by the two left");
            OK(potok_producer_close(producer, 10000));
            potok_producer_destroy(producer);
        }

        /* Every acknowledged record is there, once, in order. */
        const char *cconfig[] = {"bootstrap.servers", servers, "auto.offset.reset", "earliest", NULL};
        potok_consumer *consumer = NULL;
        if (OK(potok_consumer_new(cconfig, &consumer))) {
            potok_topic_partition tp = {"c-cluster", 0};
            OK(potok_consumer_assign(consumer, &tp, 1));
            size_t total = 0;
            int in_order = 1;
            deadline = now_s() + 60;
            while (total < 100 && now_s() < deadline) {
                potok_message_batch *batch = NULL;
                if (!OK(potok_consumer_poll_batch(consumer, 1000, 500, &batch))) break;
                if (batch == NULL) continue;
                for (size_t j = 0; j < potok_message_batch_count(batch); j++) {
                    const potok_message *m = potok_message_batch_get(batch, j);
                    size_t len = 0;
                    const uint8_t *v = potok_message_value(m, &len);
                    char want[32];
                    snprintf(want, sizeof want, "v%zu", total + j);
                    in_order &= potok_message_offset(m) == (int64_t)(total + j) && len == strlen(want) &&
                                memcmp(v, want, len) == 0;
                }
                total += potok_message_batch_count(batch);
                potok_message_batch_destroy(batch);
            }
            CHECK(total == 100 && in_order, "100 records v0..v99 at offsets 0..99 (%zu)", total);
            OK(potok_consumer_close(consumer, 5000));
            potok_consumer_destroy(consumer);
        }

        /* The node comes back on its address and data, catches up and rejoins the ISR. */
        OK(potok_cluster_start_broker(cluster, dead));
        e = potok_cluster_start_broker(cluster, dead);
        CHECK(e && potok_error_kind(e) == POTOK_ERROR_STATE, "started twice");
        potok_error_destroy(e);
        deadline = now_s() + 60;
        while (!(describe_partition(admin, "c-cluster", &leader, isr, &isr_count) && isr_has(isr, isr_count, dead)) &&
               now_s() < deadline)
            sleep_ms(200);
        CHECK(isr_count == 3 && isr_has(isr, isr_count, dead), "node %d back in the ISR (%zu)", dead, isr_count);
    }
    potok_admin_destroy(admin);
    potok_string_free(servers);

    /* A controlled stop of one node, then of the whole cluster. */
    OK(potok_cluster_stop_broker(cluster, 3));
    OK(potok_cluster_running(cluster, ids, 1, &count));
    CHECK(count == 2 && ids[0] == 1, "nodes 1 and 2 run (%zu)", count);
    OK(potok_cluster_stop(cluster));
    OK(potok_cluster_stop(cluster)); /* stopping a stopped cluster does nothing */
    e = potok_cluster_bootstrap_servers(cluster, &servers);
    CHECK(e && potok_error_kind(e) == POTOK_ERROR_STATE, "stopped");
    potok_error_destroy(e);
    potok_cluster_destroy(cluster);
}

/* One record's delivery report: Kafka's error code and name (0 and "NONE" when acknowledged). */
struct one_report {
    int reported;
    int32_t code;
    char name[64];
};

static void on_one_delivery(void *opaque, const potok_delivery_report *r) {
    struct one_report *report = opaque;
    report->reported = 1;
    report->code = r->error ? potok_error_code(r->error) : 0;
    snprintf(report->name, sizeof report->name, "%s", r->error ? potok_error_name(r->error) : "NONE");
}

/* Sends one record to partition 0 of `topic` with a fresh producer (acks=all, no retries, so a refusal is
 * reported at once) and returns its report; `reported` is 0 when none came within 60 s. */
static struct one_report produce_one(const char *servers, const char *topic, const char *value) {
    struct one_report report = {0, -1, ""};
    const char *pconfig[] = {"bootstrap.servers", servers, "acks", "all", "retries", "0", NULL};
    potok_producer *producer = NULL;
    if (!OK(potok_producer_new(pconfig, &producer))) return report;
    potok_record record = {.topic = topic, .partition = 0, .value = (const uint8_t *)value,
                           .value_len = strlen(value), .timestamp = POTOK_NO_TIMESTAMP};
    if (OK(potok_producer_send(producer, &record, 1))) {
        OK(potok_producer_flush(producer, 60000));
        double deadline = now_s() + 60;
        while (!report.reported && now_s() < deadline) potok_producer_poll(producer, 1000, on_one_delivery, &report);
    }
    OK(potok_producer_close(producer, 10000));
    potok_producer_destroy(producer);
    return report;
}

/* The course's min-ISR exercise: replication factor 3, min.insync.replicas=2, and the two replicas that do not
 * lead stopped. With the quorum on a controller-only node (node 4) the cluster keeps its controller, the ISR
 * shrinks to the leader, and an acks=all write is refused with NOT_ENOUGH_REPLICAS (19); once the brokers are
 * back in the ISR the write goes through. */
static void test_cluster_min_isr(void) {
    potok_cluster *cluster = NULL;
    potok_error *e = potok_cluster_start_with_controllers(3, POTOK_CLUSTER_MAX_BROKERS - 2, NULL, &cluster);
    CHECK(e && potok_error_kind(e) == POTOK_ERROR_INVALID_ARGUMENT, "more than POTOK_CLUSTER_MAX_BROKERS nodes");
    potok_error_destroy(e);
    const char *config[] = {"replica.lag.time.max.ms", "5000", NULL};
    if (!OK(potok_cluster_start_with_controllers(3, 1, config, &cluster))) return;
    int32_t ids[POTOK_CLUSTER_MAX_BROKERS];
    size_t count = 0;
    OK(potok_cluster_running(cluster, ids, POTOK_CLUSTER_MAX_BROKERS, &count));
    CHECK(count == 4 && ids[3] == 4, "brokers 1, 2, 3 and controller 4 (%zu)", count);
    char *servers = NULL;
    potok_admin *admin = NULL;
    if (!OK(potok_cluster_bootstrap_servers(cluster, &servers))) goto done;
    int commas = 0;
    for (const char *c = servers; *c; c++) commas += *c == ',';
    CHECK(commas == 2, "only the three brokers take clients: %s", servers);
    const char *aconfig[] = {"bootstrap.servers", servers, NULL};
    const char *topic_config[] = {"min.insync.replicas", "2", NULL};
    if (!OK(potok_admin_new(aconfig, &admin)) ||
        !OK(potok_admin_create_topic(admin, "c-min-isr", 1, 3, topic_config, 10000)))
        goto done;

    int32_t leader = -1, isr[9];
    size_t isr_count = 0;
    double deadline = now_s() + 30;
    while (!(describe_partition(admin, "c-min-isr", &leader, isr, &isr_count) && leader > 0 && isr_count == 3) &&
           now_s() < deadline)
        sleep_ms(100);
    CHECK(leader > 0 && isr_count == 3, "a leader and three in sync (leader %d, isr %zu)", leader, isr_count);
    if (leader <= 0) goto done;
    int32_t stopped[2], n = 0;
    for (int32_t id = 1; id <= 3; id++)
        if (id != leader) stopped[n++] = id;
    OK(potok_cluster_stop_broker(cluster, stopped[0]));
    OK(potok_cluster_stop_broker(cluster, stopped[1]));
    potok_string_free(servers);
    servers = NULL;
    OK(potok_cluster_bootstrap_servers(cluster, &servers));
    deadline = now_s() + 30;
    while (!(describe_partition(admin, "c-min-isr", &leader, isr, &isr_count) && isr_count == 1) && now_s() < deadline)
        sleep_ms(100);
    CHECK(isr_count == 1, "the ISR down to the leader (%zu)", isr_count);

    struct one_report refused = produce_one(servers, "c-min-isr", "refused");
    CHECK(refused.reported && refused.code == 19 && strcmp(refused.name, "NOT_ENOUGH_REPLICAS") == 0,
          "acks=all below min.insync.replicas: %s (%d)", refused.name, refused.code);

    OK(potok_cluster_start_broker(cluster, stopped[0]));
    OK(potok_cluster_start_broker(cluster, stopped[1]));
    deadline = now_s() + 60;
    while (!(describe_partition(admin, "c-min-isr", &leader, isr, &isr_count) && isr_count == 3) && now_s() < deadline)
        sleep_ms(200);
    CHECK(isr_count == 3, "three in sync again (%zu)", isr_count);
    potok_string_free(servers);
    servers = NULL;
    OK(potok_cluster_bootstrap_servers(cluster, &servers));
    struct one_report accepted = produce_one(servers, "c-min-isr", "accepted");
    CHECK(accepted.reported && accepted.code == 0, "acks=all with the ISR back: %s", accepted.name);

done:
    potok_admin_destroy(admin);
    potok_string_free(servers);
    OK(potok_cluster_stop(cluster));
    potok_cluster_destroy(cluster);
}

/* The schema registry a broker serves (schema.registry.listeners) and the registry serializers: register on first
 * use, the Confluent wire format (magic byte 0, the id big-endian), a compatible evolution, an incompatible one
 * refused with the registry's 409 / 40901, and a round trip by id. */
static void test_schema_registry(void) {
    const char *config[] = {"schema.registry.listeners", "http://127.0.0.1:0", NULL};
    potok_broker *broker = NULL;
    char *url = NULL;
    if (!OK(potok_broker_new(config, &broker))) return;
    if (!OK(potok_broker_start(broker)) || !OK(potok_broker_schema_registry_url(broker, &url)) || url == NULL) {
        CHECK(url != NULL, "a registry URL");
        potok_broker_destroy(broker);
        return;
    }
    CHECK(strncmp(url, "http://127.0.0.1:", 17) == 0, "url %s", url);
    const char *v1 = "{\"type\":\"record\",\"name\":\"Sale\",\"fields\":[{\"name\":\"store\",\"type\":\"string\"}]}";
    const char *v2 = "{\"type\":\"record\",\"name\":\"Sale\",\"fields\":[{\"name\":\"store\",\"type\":\"string\"},"
                     "{\"name\":\"amount\",\"type\":\"double\",\"default\":0}]}";
    const char *bad = "{\"type\":\"record\",\"name\":\"Sale\",\"fields\":[{\"name\":\"store\",\"type\":\"string\"},"
                      "{\"name\":\"till\",\"type\":\"int\"}]}";
    potok_registry_serializer *s1 = NULL, *s2 = NULL, *s3 = NULL;
    potok_registry_deserializer *d = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    if (OK(potok_registry_serializer_new(url, "AVRO", v1, false, NULL, &s1)) &&
        OK(potok_registry_serializer_serialize(s1, "pos", "{\"store\":\"Lyon\"}", &data, &len))) {
        /* Magic byte 0, id 1, then "Lyon" as an Avro string (zig-zag length 8). */
        const uint8_t expected[] = {0, 0, 0, 0, 1, 8, 'L', 'y', 'o', 'n'};
        CHECK(len == sizeof expected && memcmp(data, expected, len) == 0, "frame of %zu bytes", len);
        if (OK(potok_registry_deserializer_new(url, "AVRO", false, &d))) {
            char *json = NULL;
            int32_t id = 0;
            if (OK(potok_registry_deserializer_deserialize(d, data, len, &json, &id))) {
                CHECK(id == 1 && strcmp(json, "{\"store\":\"Lyon\"}") == 0, "id %d, %s", id, json);
                potok_string_free(json);
            }
            potok_error *e = potok_registry_deserializer_deserialize(d, (const uint8_t *)"x", 1, &json, &id);
            CHECK(e && potok_error_kind(e) == POTOK_ERROR_SERIALIZATION && potok_error_registry_status(e) == 0,
                  "not the wire format");
            potok_error_destroy(e);
        }
        potok_bytes_free(data, len);
    }
    if (OK(potok_registry_serializer_new(url, "AVRO", v2, false, NULL, &s2)) &&
        OK(potok_registry_serializer_serialize(s2, "pos", "{\"store\":\"Nice\",\"amount\":2.5}", &data, &len))) {
        CHECK(len > 5 && data[4] == 2, "the evolved schema has id 2");
        potok_bytes_free(data, len);
    }
    if (OK(potok_registry_serializer_new(url, "AVRO", bad, false, NULL, &s3))) {
        potok_error *e = potok_registry_serializer_serialize(s3, "pos", "{\"store\":\"Metz\",\"till\":1}", &data, &len);
        CHECK(e && potok_error_kind(e) == POTOK_ERROR_SERIALIZATION, "incompatible refused");
        CHECK(potok_error_registry_status(e) == 409 && potok_error_registry_code(e) == 40901,
              "status %d code %" PRId64, potok_error_registry_status(e), potok_error_registry_code(e));
        potok_error_destroy(e);
    }
    const char *unknown[] = {"auto.register.schema", "false", NULL};
    potok_registry_serializer *typo = NULL;
    potok_error *e = potok_registry_serializer_new(url, "AVRO", v1, false, unknown, &typo);
    CHECK(e && typo == NULL, "an unknown serializer key is refused");
    potok_error_destroy(e);
    potok_registry_serializer_destroy(s1);
    potok_registry_serializer_destroy(s2);
    potok_registry_serializer_destroy(s3);
    potok_registry_deserializer_destroy(d);
    potok_string_free(url);
    potok_broker_destroy(broker);
}

int main(void) {
    CHECK(strlen(potok_version()) > 0, "version");
    test_errors();
    test_broker_life_cycle();
    const char *config[] = {"num.partitions", "3", NULL};
    potok_broker *broker = NULL;
    if (OK(potok_broker_new(config, &broker)) && OK(potok_broker_start(broker)) &&
        OK(potok_broker_bootstrap_servers(broker, &bootstrap))) {
        test_admin();
        test_producer_and_assigned_consumer();
        test_consumer_group();
        test_transactions();
        potok_string_free(bootstrap);
    }
    OK(potok_broker_stop(broker));
    potok_broker_destroy(broker);
    test_log_callback();
    test_schema_registry();
    test_cluster();
    test_cluster_min_isr();
    printf("c-tests: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
