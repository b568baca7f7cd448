/* test_head_truncate.c — head truncation and garbage collection: chunks
 * before mint go, series left without samples are deleted (refs listed,
 * lookups, postings, label names and values forgotten, memory returned,
 * symbols rebuilt when most are dead), later appends before mint are
 * refused, queries never see samples before mint (even inside a chunk that
 * straddles it), and truncation runs safely against concurrent appenders
 * and readers. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "model/labels.h"
#include "model/matcher.h"
#include "testutil.h"
#include "tsdb/head.h"

typedef struct count_ctx {
    size_t series, samples;
    int64_t min_t, max_t;
    char last_value[64]; /* value of label "i" of the last series */
} count_ctx_t;

static int count_cb(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    count_ctx_t *c = ctx;
    c->series++;
    c->samples += ns;
    for (size_t i = 0; i < ns; i++) {
        if (s[i].t < c->min_t) c->min_t = s[i].t;
        if (s[i].t > c->max_t) c->max_t = s[i].t;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(ls[i].name, "i") == 0) snprintf(c->last_value, sizeof c->last_value, "%s", ls[i].value);
    return 0;
}

static count_ctx_t select_all(head_t *h, const char *name) {
    matcher_t m;
    pl_err_t err;
    assert_int_equal(matcher_init(&m, MATCH_EQUAL, "__name__", name, &err), 0);
    count_ctx_t c = {0, 0, INT64_MAX, INT64_MIN, ""};
    assert_int_equal(head_select(h, &m, 1, INT64_MIN, INT64_MAX, count_cb, &c, &err), 0);
    matcher_free(&m);
    return c;
}

static int count_str(void *ctx, const char *s) {
    (void)s;
    (*(size_t *)ctx)++;
    return 0;
}

static series_ref_t append(head_t *h, const char *name, const char *i, int64_t t, double v) {
    label_t ls[] = {{"__name__", name}, {"i", i}};
    series_ref_t ref = 0;
    int rc = head_append(h, ls, 2, t, v, &ref, NULL);
    assert_int_equal(rc, HEAD_OK);
    return ref;
}

/* Old series (samples only before 1000) are deleted; live ones keep their
 * samples from 1000 on; the deleted refs come back sorted. */
static void test_truncate_deletes_old_series(void **state) {
    (void)state;
    head_t *h = head_new();
    head_set_chunk_range(h, 100);
    series_ref_t old_refs[10], live_refs[10];
    char iv[16];
    for (int k = 0; k < 10; k++) {
        snprintf(iv, sizeof iv, "old%d", k);
        for (int64_t t = 0; t < 900; t += 10) old_refs[k] = append(h, "old", iv, t, (double)t);
        snprintf(iv, sizeof iv, "live%d", k);
        for (int64_t t = 0; t < 2000; t += 10) live_refs[k] = append(h, "live", iv, t, (double)t);
    }
    head_stats_t st;
    head_get_stats(h, &st);
    assert_int_equal(st.num_series, 20);
    uint64_t chunks_before = st.num_chunks;

    head_truncate_result_t res;
    pl_err_t err;
    assert_int_equal(head_truncate(h, 1000, &res, &err), 0);
    assert_int_equal(res.ndeleted, 10);
    assert_false(res.deleted_overflow);
    for (size_t i = 0; i < res.ndeleted; i++) {
        assert_int_equal(res.deleted[i], old_refs[i]);
        if (i) assert_true(res.deleted[i] > res.deleted[i - 1]);
    }
    for (int k = 0; k < 10; k++) {
        assert_false(head_series_exists(h, old_refs[k]));
        assert_true(head_series_exists(h, live_refs[k]));
    }
    head_truncate_result_free(&res);

    count_ctx_t c = select_all(h, "old");
    assert_int_equal(c.series, 0);
    c = select_all(h, "live");
    assert_int_equal(c.series, 10);
    assert_int_equal(c.samples, 10 * 100); /* 1000..1990 */
    assert_int_equal(c.min_t, 1000);
    assert_int_equal(c.max_t, 1990);

    head_get_stats(h, &st);
    assert_int_equal(st.num_series, 10);
    assert_int_equal(st.series_removed, 10);
    assert_true(st.num_chunks < chunks_before);
    assert_int_equal(st.min_time, 1000);
    assert_int_equal(st.min_valid_time, 1000);

    /* The old metric name and the old values are gone from the label index. */
    size_t n = 0;
    assert_int_equal(head_label_values(h, "__name__", count_str, &n), 0);
    assert_int_equal(n, 1);
    n = 0;
    assert_int_equal(head_label_values(h, "i", count_str, &n), 0);
    assert_int_equal(n, 10);

    /* Appends before mint are refused; by ref, a deleted series is unknown;
     * by labels it comes back with a new ref. */
    assert_int_equal(head_append_ref(h, live_refs[0], 999, 1), HEAD_ERR_OUT_OF_BOUNDS);
    assert_int_equal(head_append_ref(h, old_refs[0], 5000, 1), HEAD_ERR_NOT_FOUND);
    label_t ls[] = {{"__name__", "old"}, {"i", "old0"}};
    assert_int_equal(head_append(h, ls, 2, 500, 1, NULL, NULL), HEAD_ERR_OUT_OF_BOUNDS);
    series_ref_t again = append(h, "old", "old0", 5000, 1);
    assert_true(again > live_refs[9]);
    c = select_all(h, "old");
    assert_int_equal(c.series, 1);
    assert_int_equal(c.samples, 1);
    head_free(h);
}

/* A chunk that straddles mint stays in memory, but its samples before mint
 * are never returned. */
static void test_truncate_straddling_chunk(void **state) {
    (void)state;
    head_t *h = head_new(); /* 2h chunk range: one chunk holds 0..119 */
    for (int64_t t = 0; t < 100; t++) append(h, "m", "a", t, 1);
    head_truncate_result_t res;
    pl_err_t err;
    assert_int_equal(head_truncate(h, 50, &res, &err), 0);
    assert_int_equal(res.ndeleted, 0);
    head_truncate_result_free(&res);
    count_ctx_t c = select_all(h, "m");
    assert_int_equal(c.samples, 50);
    assert_int_equal(c.min_t, 50);
    head_stats_t st;
    head_get_stats(h, &st);
    assert_int_equal(st.min_time, 50);
    head_free(h);
}

/* Churn: 20k short-lived series die; the memory of their records, labels,
 * lookup, postings, symbols and chunks goes back, and the survivors still
 * answer with the right labels after the symbol table was rebuilt. */
static void test_truncate_releases_memory(void **state) {
    (void)state;
    head_t *h = head_new();
    head_set_chunk_range(h, 1000);
    char iv[64];
    for (int k = 0; k < 20000; k++) {
        snprintf(iv, sizeof iv, "churn-%d-with-a-long-unique-value", k);
        for (int64_t t = 0; t < 900; t += 10) append(h, "churn", iv, t, (double)(k * t));
    }
    for (int k = 0; k < 100; k++) {
        snprintf(iv, sizeof iv, "keep%d", k);
        append(h, "keep", iv, 0, 1);
        append(h, "keep", iv, 3000, (double)k);
    }
    head_stats_t before, after;
    head_get_stats(h, &before);
    head_truncate_result_t res;
    pl_err_t err;
    assert_int_equal(head_truncate(h, 1000, &res, &err), 0);
    assert_int_equal(res.ndeleted, 20000);
    assert_true(res.symbols_rebuilt);
    head_truncate_result_free(&res);
    head_get_stats(h, &after);
    assert_int_equal(after.num_series, 100);
    assert_true(after.num_symbols < 110);
    print_message("symbols %llu -> %llu, postings %llu -> %llu, series %llu -> %llu, chunks %llu -> %llu\n", (unsigned long long)before.bytes_symbols, (unsigned long long)after.bytes_symbols, (unsigned long long)before.bytes_postings, (unsigned long long)after.bytes_postings, (unsigned long long)before.bytes_series, (unsigned long long)after.bytes_series, (unsigned long long)before.bytes_chunks, (unsigned long long)after.bytes_chunks);
    assert_true(after.bytes_symbols < before.bytes_symbols / 2); /* a fixed ~350 KB of tables stays */
    assert_true(after.bytes_postings < before.bytes_postings / 4);
    assert_true(after.bytes_series < before.bytes_series);
    assert_true(after.bytes_chunks < before.bytes_chunks);

    /* The survivors: labels intact, values exact, lookup by labels finds the same ref. */
    matcher_t m[2];
    assert_int_equal(matcher_init(&m[0], MATCH_EQUAL, "__name__", "keep", &err), 0);
    assert_int_equal(matcher_init(&m[1], MATCH_EQUAL, "i", "keep42", &err), 0);
    count_ctx_t c = {0, 0, INT64_MAX, INT64_MIN, ""};
    assert_int_equal(head_select(h, m, 2, INT64_MIN, INT64_MAX, count_cb, &c, &err), 0);
    assert_int_equal(c.series, 1);
    assert_int_equal(c.samples, 1);
    assert_string_equal(c.last_value, "keep42");
    matcher_free(&m[0]);
    matcher_free(&m[1]);
    label_t ls[] = {{"__name__", "keep"}, {"i", "keep7"}};
    bool created = true;
    assert_int_equal(head_append(h, ls, 2, 4000, 1, NULL, &created), HEAD_OK);
    assert_false(created);
    c = select_all(h, "churn");
    assert_int_equal(c.series, 0);
    /* New series after the rebuild get fresh symbols and are found. */
    append(h, "churn", "new", 5000, 1);
    c = select_all(h, "churn");
    assert_int_equal(c.series, 1);
    head_free(h);
}

/* Appenders, readers and a truncating thread at once (ASan/TSan find the
 * races): nothing crashes and the samples after the last mint are all there. */
typedef struct race {
    head_t *h;
    int id;
    _Atomic int stop;
} race_t;

static void *race_appender(void *arg) {
    race_t *r = arg;
    char iv[32];
    for (int64_t t = 0; t < 3000; t++) {
        for (int k = 0; k < 20; k++) {
            /* Half the series live shortly (churn), half for ever. */
            if (k % 2)
                snprintf(iv, sizeof iv, "w%d-c%lld", r->id, (long long)(t / 100 * 100 + k));
            else
                snprintf(iv, sizeof iv, "w%d-s%d", r->id, k);
            label_t ls[] = {{"__name__", "race"}, {"i", iv}};
            int rc = head_append(r->h, ls, 2, t, (double)t, NULL, NULL);
            if (rc != HEAD_OK && rc != HEAD_ERR_OUT_OF_BOUNDS) fail_msg("append: %d", rc);
        }
    }
    return NULL;
}

static void *race_reader(void *arg) {
    race_t *r = arg;
    while (!atomic_load(&r->stop)) {
        count_ctx_t c = select_all(r->h, "race");
        (void)c;
        size_t n = 0;
        head_label_values(r->h, "i", count_str, &n);
    }
    return NULL;
}

static void test_truncate_concurrent(void **state) {
    (void)state;
    head_t *h = head_new();
    head_set_chunk_range(h, 100);
    race_t w[2] = {{h, 0, 0}, {h, 1, 0}}, rd = {h, 9, 0};
    pthread_t tw[2], tr;
    for (int i = 0; i < 2; i++) pthread_create(&tw[i], NULL, race_appender, &w[i]);
    pthread_create(&tr, NULL, race_reader, &rd);
    pl_err_t err;
    for (int k = 1; k <= 20; k++) {
        head_stats_t st;
        head_get_stats(h, &st);
        int64_t mint = st.max_time > 200 ? st.max_time - 200 : 0;
        head_truncate_result_t res;
        assert_int_equal(head_truncate(h, mint, &res, &err), 0);
        head_truncate_result_free(&res);
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < 2; i++) pthread_join(tw[i], NULL);
    atomic_store(&rd.stop, 1);
    pthread_join(tr, NULL);
    /* The 20 stable series of both writers have every sample from min_valid on. */
    int64_t mv = head_min_valid(h);
    count_ctx_t c = select_all(h, "race");
    assert_true(c.series >= 20);
    assert_true(c.min_t >= mv);
    assert_int_equal(c.max_t, 2999);
    head_free(h);
}

PL_TEST_MAIN(cmocka_unit_test(test_truncate_deletes_old_series), cmocka_unit_test(test_truncate_straddling_chunk),
             cmocka_unit_test(test_truncate_releases_memory), cmocka_unit_test(test_truncate_concurrent))
