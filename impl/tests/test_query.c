/* test_query.c — the global view: Thanos's penalty deduplication (gaps,
 * switches, equal timestamps, phase offsets, counters) and the fan-out over
 * leaves (replicas merged or shown raw, leaves chosen by external labels,
 * a leaf that is down giving a warning or failing the select). */
#include "testutil.h"

#include <math.h>

#include "promql/memstore.h"
#include "query/query.h"
#include "util/strbuf.h"

/* Samples every `step` ms from t0 up to (excluding) t1, value = t / 1000 + off. */
static size_t series(sample_t *out, int64_t t0, int64_t t1, int64_t step, double off) {
    size_t n = 0;
    for (int64_t t = t0; t < t1; t += step) out[n++] = (sample_t){t, (double)t / 1000.0 + off};
    return n;
}

/* ---- dedup ---- */

static void test_dedup_equal_timestamps(void **state) {
    (void)state;
    sample_t a[100], b[100], out[200];
    size_t na = series(a, 0, 60000, 1000, 0), nb = series(b, 0, 60000, 1000, 100);
    size_t n = dedup_penalty(a, na, b, nb, false, out);
    assert_int_equal(n, 60); /* one sample per timestamp */
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(out[i].t, (int64_t)i * 1000);
        assert_true(out[i].v == a[i].v); /* a wins ties and then stays */
    }
}

static void test_dedup_phase_offset_stays_on_one_replica(void **state) {
    (void)state;
    /* b is scraped 400 ms after a: a naive merge would double the rate. */
    sample_t a[100], b[100], out[200];
    size_t na = series(a, 0, 30000, 1000, 0), nb = series(b, 400, 30400, 1000, 100);
    size_t n = dedup_penalty(a, na, b, nb, false, out);
    assert_int_equal(n, 30);
    for (size_t i = 0; i < n; i++) assert_true(out[i].v < 100); /* all from a */
    /* b first: the answer starts on b and stays there. */
    size_t nb2 = series(b, 0, 30000, 1000, 100), na2 = series(a, 600, 30600, 1000, 0);
    n = dedup_penalty(a, na2, b, nb2, false, out);
    assert_int_equal(n, 30);
    for (size_t i = 0; i < n; i++) assert_true(out[i].v >= 100);
}

static void test_dedup_gap_filled_by_other_replica(void **state) {
    (void)state;
    /* a has a 20 s gap (a restart); b is scraped at another phase. */
    sample_t a[200], b[200], out[400];
    size_t na = series(a, 0, 10000, 1000, 0);
    na += series(a + na, 30000, 60000, 1000, 0);
    size_t nb = series(b, 300, 60300, 1000, 100);
    size_t n = dedup_penalty(a, na, b, nb, false, out);
    /* 0..9000 from a; then b from the first sample past 9000 + 1 + 2 s penalty. */
    size_t i = 0;
    for (; i < 10; i++) assert_true(out[i].t == (int64_t)i * 1000 && out[i].v < 100);
    assert_int_equal(out[10].t, 11300); /* 10300 is within the penalty of 2 x 1000 ms */
    assert_true(out[10].v >= 100);
    /* Having switched, the answer stays on b even when a is back. */
    for (; i < n; i++) assert_true(out[i].v >= 100);
    assert_int_equal(out[n - 1].t, 59300);
    for (size_t k = 1; k < n; k++) assert_true(out[k].t > out[k - 1].t);
    /* Gaps shorter than the penalty are not filled: stay on a. */
    na = series(a, 0, 10000, 1000, 0);
    na += series(a + na, 11000, 20000, 1000, 0); /* 2 s step at 9000 -> 11000 */
    nb = series(b, 500, 20500, 1000, 100);
    n = dedup_penalty(a, na, b, nb, false, out);
    for (size_t k = 0; k < n; k++) assert_true(out[k].v < 100);
}

static void test_dedup_initial_penalty_and_empty(void **state) {
    (void)state;
    sample_t a[5] = {{0, 1}, {10000, 2}, {20000, 3}, {30000, 4}, {60000, 5}};
    sample_t b[6] = {{1000, 10}, {4000, 11}, {5001, 12}, {15000, 13}, {16000, 14}, {17000, 15}};
    sample_t out[10];
    size_t n = dedup_penalty(a, 5, b, 6, false, out);
    /* After a@0, b must wait until 0 + 1 + 5000: its 5001 sample wins (earlier than a@10000).
     * Then a may come back only after 5001 + 1 + 2 x 5001 = 15004: b@15000 wins; the
     * penalty of a grows to 2 x 9999, its cursor passes 20000 and 30000, and b stays
     * until it ends, when a@60000 takes over. */
    int64_t want_t[] = {0, 5001, 15000, 16000, 17000, 60000};
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++) assert_int_equal(out[i].t, want_t[i]);
    assert_true(out[5].v == 5);
    assert_int_equal(dedup_penalty(a, 0, b, 0, false, out), 0);
    assert_int_equal(dedup_penalty(a, 5, b, 0, false, out), 5);
    assert_int_equal(dedup_penalty(a, 0, b, 6, false, out), 6);
    assert_true(out[0].v == 10);
}

static void test_dedup_counter_adjustment(void **state) {
    (void)state;
    /* Replica b's counter is lower than a's (it restarted earlier). a stops. */
    sample_t a[3] = {{0, 100}, {1000, 110}, {2000, 120}};
    sample_t b[8] = {{300, 5}, {1300, 15}, {2300, 25}, {3300, 35}, {4300, 45}, {5300, 55}, {6300, 65}, {7300, 75}};
    sample_t out[11];
    size_t n = dedup_penalty(a, 3, b, 8, true, out);
    /* a until 2000; b's cursor passed 0 + 1 + 5000 at the first pick, so it
     * continues at 5300 (value 55), lifted to continue from 120. */
    assert_int_equal(n, 6);
    assert_true(out[2].v == 120);
    assert_int_equal(out[3].t, 5300);
    assert_true(out[3].v == 120);
    assert_true(out[4].v == 130);
    assert_true(out[5].v == 140);
    for (size_t i = 1; i < n; i++) assert_true(out[i].v >= out[i - 1].v); /* never a false reset */
    /* Without the counter flag values are as stored. */
    n = dedup_penalty(a, 3, b, 8, false, out);
    assert_true(out[3].v == 55);
    /* A stale marker keeps its bits. */
    sample_t c[2] = {{0, 10}, {1000, pl_stale_nan()}};
    n = dedup_penalty(c, 2, NULL, 0, true, out);
    assert_true(pl_is_stale_nan(out[1].v));
    assert_true(dedup_is_counter_name("http_requests_total"));
    assert_true(dedup_is_counter_name("x_bucket"));
    assert_false(dedup_is_counter_name("node_load1"));
    assert_false(dedup_is_counter_name(NULL));
}

/* ---- fan-out ---- */

typedef struct leaf_stub {
    queryable_t inner; /* memstore */
    int calls;
    bool down;
    const char *cluster, *replica; /* what its label APIs answer */
} leaf_stub_t;

static int stub_select(void *impl, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt, storage_series_fn fn,
                       void *ctx, pl_err_t *err) {
    leaf_stub_t *l = impl;
    __atomic_add_fetch(&l->calls, 1, __ATOMIC_SEQ_CST);
    if (l->down) return pl_err_set(err, "connection refused");
    return l->inner.select(l->inner.impl, ms, nms, mint, maxt, fn, ctx, err);
}
static int stub_names(void *impl, storage_string_fn fn, void *ctx, pl_err_t *err) {
    leaf_stub_t *l = impl;
    if (l->down) return pl_err_set(err, "connection refused");
    int rc = fn(ctx, "__name__");
    if (!rc) rc = fn(ctx, "cluster");
    return rc ? rc : fn(ctx, "replica");
}
static int stub_values(void *impl, const char *name, storage_string_fn fn, void *ctx, pl_err_t *err) {
    leaf_stub_t *l = impl;
    if (l->down) return pl_err_set(err, "connection refused");
    if (!strcmp(name, "cluster")) return fn(ctx, l->cluster);
    if (!strcmp(name, "replica")) return fn(ctx, l->replica);
    return 0;
}

typedef struct world {
    memstore_t *ms[3];
    leaf_stub_t stub[3];
    query_fanout_t *f;
} world_t;

/* Leaves A and B: replicas (replica label differs) of node_load1 and of a
 * counter, A with a gap 20..40 s; leaf C: another cluster, down unless said. */
static void world_init(world_t *w, bool c_down) {
    memset(w, 0, sizeof *w);
    pl_err_t err = {{0}};
    const char *rep[3] = {"A", "B", "C"};
    query_leaf_t leaves[3];
    for (int i = 0; i < 3; i++) {
        w->ms[i] = memstore_new();
        label_t load[] = {{"__name__", "node_load1"}, {"cluster", i == 2 ? "c2" : "c1"}, {"replica", rep[i]}};
        sample_t s[120];
        size_t n;
        if (i == 0) {
            n = series(s, 0, 20000, 1000, 0);
            n += series(s + n, 40000, 60000, 1000, 0);
        } else {
            n = series(s, 500, 60500, 1000, 100 * i);
        }
        assert_int_equal(memstore_append(w->ms[i], load, 3, s, n, &err), 0);
        memstore_queryable(w->ms[i], &w->stub[i].inner);
        w->stub[i].down = i == 2 && c_down;
        w->stub[i].cluster = i == 2 ? "c2" : "c1";
        w->stub[i].replica = rep[i];
        leaves[i] = (query_leaf_t){.name = i == 0 ? "http://a" : i == 1 ? "http://b" : "http://c",
                                   .q = {&w->stub[i], stub_select, stub_names, stub_values}};
    }
    const char *rl[] = {"replica"};
    w->f = query_fanout_new(leaves, 3, rl, 1);
    assert_non_null(w->f);
    for (int i = 0; i < 3; i++) {
        strbuf_t ext = STRBUF_INIT;
        strbuf_append(&ext, "cluster", 8);
        strbuf_append(&ext, i == 2 ? "c2" : "c1", 3);
        strbuf_append(&ext, "replica", 8);
        strbuf_append(&ext, rep[i], 2);
        query_fanout_set_leaf_info(w->f, (size_t)i, ext.data, 2, INT64_MIN, INT64_MAX, true);
        strbuf_free(&ext);
    }
}

static void world_free(world_t *w) {
    query_fanout_free(w->f);
    for (int i = 0; i < 3; i++) memstore_free(w->ms[i]);
}

typedef struct out {
    strbuf_t sb;
    sample_t s[400];
    size_t ns;
} out_t;

static int out_fn(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    out_t *o = ctx;
    labels_format_braces(&o->sb, ls, n);
    strbuf_printf(&o->sb, " %zu\n", ns);
    if (ns <= 400) {
        memcpy(o->s, s, ns * sizeof *s);
        o->ns = ns;
    }
    return 0;
}

static int do_select(query_request_t *r, const char *selector, out_t *o, pl_err_t *err) {
    matcher_t *ms;
    size_t nms;
    assert_int_equal(selector_parse(selector, &ms, &nms, err), 0);
    queryable_t q;
    query_request_queryable(r, &q);
    strbuf_init(&o->sb);
    o->ns = 0;
    int rc = q.select(q.impl, ms, nms, 0, 100000, out_fn, o, err);
    matchers_free(ms, nms);
    return rc;
}

static void test_fanout_dedup_and_raw(void **state) {
    (void)state;
    world_t w;
    world_init(&w, false);
    pl_err_t err = {{0}};
    out_t o;
    query_request_t *r = query_request_new(w.f, true, true);
    assert_int_equal(do_select(r, "node_load1{cluster=\"c1\"}", &o, &err), 0);
    /* One series, no replica label, A's gap filled from B. */
    assert_string_equal(o.sb.data, "{__name__=\"node_load1\", cluster=\"c1\"} 59\n");
    bool from_b = false;
    for (size_t i = 0; i < o.ns; i++) {
        if (o.s[i].t > 20000 && o.s[i].t < 40000) from_b = true;
        if (i) assert_true(o.s[i].t > o.s[i - 1].t);
    }
    assert_true(from_b);
    assert_int_equal(w.stub[2].calls, 0); /* cluster c2 not asked for c1 */
    const char *const *warn;
    assert_int_equal(query_request_warnings(r, &warn), 0);
    strbuf_free(&o.sb);
    query_request_free(r);

    /* dedup=false: each replica as it is. */
    r = query_request_new(w.f, false, true);
    assert_int_equal(do_select(r, "node_load1", &o, &err), 0);
    assert_string_equal(o.sb.data, "{__name__=\"node_load1\", cluster=\"c1\", replica=\"A\"} 40\n"
                                   "{__name__=\"node_load1\", cluster=\"c1\", replica=\"B\"} 60\n"
                                   "{__name__=\"node_load1\", cluster=\"c2\", replica=\"C\"} 60\n");
    strbuf_free(&o.sb);
    /* A matcher on the replica label picks the leaf. */
    int calls_a = w.stub[0].calls;
    assert_int_equal(do_select(r, "node_load1{replica=\"B\"}", &o, &err), 0);
    assert_string_equal(o.sb.data, "{__name__=\"node_load1\", cluster=\"c1\", replica=\"B\"} 60\n");
    assert_int_equal(w.stub[0].calls, calls_a);
    strbuf_free(&o.sb);
    query_request_free(r);
    world_free(&w);
}

static void test_fanout_down_leaf(void **state) {
    (void)state;
    world_t w;
    world_init(&w, true);
    pl_err_t err = {{0}};
    out_t o;
    /* Partial response: the others answer, the request carries a warning. */
    query_request_t *r = query_request_new(w.f, true, true);
    assert_int_equal(do_select(r, "node_load1", &o, &err), 0);
    assert_string_equal(o.sb.data, "{__name__=\"node_load1\", cluster=\"c1\"} 59\n");
    strbuf_free(&o.sb);
    assert_int_equal(do_select(r, "node_load1", &o, &err), 0); /* the same warning once */
    strbuf_free(&o.sb);
    const char *const *warn;
    assert_int_equal(query_request_warnings(r, &warn), 1);
    assert_string_equal(warn[0], "endpoint http://c: connection refused");
    query_request_free(r);
    /* Without partial response the select fails, naming the leaf. */
    r = query_request_new(w.f, true, false);
    assert_int_equal(do_select(r, "node_load1", &o, &err), -1);
    assert_string_equal(err.msg, "endpoint http://c: connection refused");
    strbuf_free(&o.sb);
    /* A select that does not need the down leaf still works. */
    assert_int_equal(do_select(r, "node_load1{cluster=\"c1\"}", &o, &err), 0);
    strbuf_free(&o.sb);
    query_request_free(r);
    world_free(&w);
}

static int collect_str(void *ctx, const char *s) {
    strbuf_printf(ctx, "%s,", s);
    return 0;
}

static void test_fanout_labels(void **state) {
    (void)state;
    world_t w;
    world_init(&w, true);
    pl_err_t err = {{0}};
    queryable_t q;
    query_request_t *r = query_request_new(w.f, true, true);
    query_request_queryable(r, &q);
    strbuf_t sb = STRBUF_INIT;
    assert_int_equal(q.label_names(q.impl, collect_str, &sb, &err), 0);
    assert_string_equal(sb.data, "__name__,cluster,"); /* replica hidden when deduplicating */
    strbuf_reset(&sb);
    assert_int_equal(q.label_values(q.impl, "cluster", collect_str, &sb, &err), 0);
    assert_string_equal(sb.data, "c1,"); /* c2's leaf is down */
    query_request_free(r);
    r = query_request_new(w.f, false, true);
    query_request_queryable(r, &q);
    strbuf_reset(&sb);
    assert_int_equal(q.label_values(q.impl, "replica", collect_str, &sb, &err), 0);
    assert_string_equal(sb.data, "A,B,");
    strbuf_free(&sb);
    query_request_free(r);
    world_free(&w);
}

static void test_fanout_same_series_merged(void **state) {
    (void)state;
    /* Two leaves without replica labels holding the same series (e.g. a
     * server and the store of its old blocks): merged, first leaf wins. */
    pl_err_t err = {{0}};
    memstore_t *m1 = memstore_new(), *m2 = memstore_new();
    label_t ls[] = {{"__name__", "x"}};
    sample_t s1[] = {{0, 1}, {1000, 2}}, s2[] = {{1000, 20}, {2000, 30}};
    assert_int_equal(memstore_append(m1, ls, 1, s1, 2, &err), 0);
    assert_int_equal(memstore_append(m2, ls, 1, s2, 2, &err), 0);
    query_leaf_t leaves[2] = {{.name = "1"}, {.name = "2"}};
    memstore_queryable(m1, &leaves[0].q);
    memstore_queryable(m2, &leaves[1].q);
    query_fanout_t *f = query_fanout_new(leaves, 2, NULL, 0);
    query_request_t *r = query_request_new(f, true, true);
    out_t o;
    assert_int_equal(do_select(r, "x", &o, &err), 0);
    assert_string_equal(o.sb.data, "{__name__=\"x\"} 3\n");
    assert_true(o.s[1].v == 2 && o.s[2].v == 30);
    strbuf_free(&o.sb);
    query_request_free(r);
    query_fanout_free(f);
    memstore_free(m1);
    memstore_free(m2);
}

static void test_dynamic_lookback(void **state) {
    (void)state;
    const int64_t m = 60 * 1000, h = 60 * m;
    assert_int_equal(query_lookback_for_resolution(5 * m, 0, true), 5 * m);      /* raw */
    assert_int_equal(query_lookback_for_resolution(5 * m, 5 * m, true), 5 * m);  /* 5m points: 5m reaches one */
    assert_int_equal(query_lookback_for_resolution(5 * m, 6 * m, true), h);      /* may read 1h data */
    assert_int_equal(query_lookback_for_resolution(5 * m, h, true), h);
    assert_int_equal(query_lookback_for_resolution(m, 5 * m, true), 5 * m);      /* a 1m lookback grows to 5m */
    assert_int_equal(query_lookback_for_resolution(m, 2 * m, true), 5 * m);
    assert_int_equal(query_lookback_for_resolution(m, m, true), m);
    assert_int_equal(query_lookback_for_resolution(2 * h, h, true), 2 * h);      /* never shrinks */
    assert_int_equal(query_lookback_for_resolution(5 * m, h, false), 5 * m);     /* dynamic off */
}

PL_TEST_MAIN(cmocka_unit_test(test_dedup_equal_timestamps), cmocka_unit_test(test_dynamic_lookback), cmocka_unit_test(test_dedup_phase_offset_stays_on_one_replica),
             cmocka_unit_test(test_dedup_gap_filled_by_other_replica),
             cmocka_unit_test(test_dedup_initial_penalty_and_empty), cmocka_unit_test(test_dedup_counter_adjustment),
             cmocka_unit_test(test_fanout_dedup_and_raw), cmocka_unit_test(test_fanout_down_leaf),
             cmocka_unit_test(test_fanout_labels), cmocka_unit_test(test_fanout_same_series_merged))
