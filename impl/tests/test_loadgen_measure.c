/* test_loadgen_measure.c — promlab-loadgen's measuring and judging: latency
 * quantiles (nearest rank), the weighted query pick, gate verdicts at the
 * tolerance edge in both directions, tolerance syntax, and compare's table. */
#include <math.h>

#include "testutil.h"

#include "loadgen.h"

static void test_quantiles_nearest_rank(void **state) {
    (void)state;
    lg_latencies_t l = {0};
    assert_true(isnan(lg_quantile(&l, 0.5)));
    /* 1..100 ms in a shuffled order */
    for (int i = 0; i < 100; i++) lg_lat_add(&l, ((i * 37) % 100 + 1) / 1000.0);
    assert_true(fabs(lg_quantile(&l, 0.5) - 0.050) < 1e-12);
    assert_true(fabs(lg_quantile(&l, 0.9) - 0.090) < 1e-12);
    assert_true(fabs(lg_quantile(&l, 0.99) - 0.099) < 1e-12);
    assert_true(fabs(lg_quantile(&l, 1) - 0.100) < 1e-12);
    assert_true(fabs(lg_quantile(&l, 0) - 0.001) < 1e-12);
    assert_true(fabs(lg_lat_max(&l) - 0.100) < 1e-12);
    lg_lat_free(&l);
    /* a single slow query among ten: p90 misses it, p99 sees it */
    for (int i = 0; i < 9; i++) lg_lat_add(&l, 0.010);
    lg_lat_add(&l, 2.0);
    assert_true(lg_quantile(&l, 0.9) == 0.010);
    assert_true(lg_quantile(&l, 0.99) == 2.0);
    assert_true(lg_quantile(&l, 0.5) == 0.010);
    lg_lat_free(&l);
    lg_lat_add(&l, 0.25);
    assert_true(lg_quantile(&l, 0.5) == 0.25 && lg_quantile(&l, 0.99) == 0.25);
    lg_lat_free(&l);
}

static void test_weighted_pick(void **state) {
    (void)state;
    lg_query_t q[3] = {{.weight = 1}, {.weight = 3}, {.weight = 6}};
    lg_queryset_t qs = {q, 3};
    assert_int_equal(lg_queryset_pick(&qs, 0.0), 0);
    assert_int_equal(lg_queryset_pick(&qs, 0.099), 0);
    assert_int_equal(lg_queryset_pick(&qs, 0.1), 1);
    assert_int_equal(lg_queryset_pick(&qs, 0.399), 1);
    assert_int_equal(lg_queryset_pick(&qs, 0.4), 2);
    assert_int_equal(lg_queryset_pick(&qs, 0.999999), 2);
}

static void test_tolerance_syntax(void **state) {
    (void)state;
    double t;
    assert_int_equal(lg_parse_tolerance("10%", &t, NULL), 0);
    assert_true(fabs(t - 0.10) < 1e-12);
    assert_int_equal(lg_parse_tolerance("0.25", &t, NULL), 0);
    assert_true(fabs(t - 0.25) < 1e-12);
    assert_int_equal(lg_parse_tolerance("5", &t, NULL), 0);
    assert_true(fabs(t - 0.05) < 1e-12);
    pl_err_t err;
    assert_int_equal(lg_parse_tolerance("ten", &t, &err), -1);
    assert_int_equal(lg_parse_tolerance("10%%", &t, &err), -1);
    assert_int_equal(lg_parse_tolerance("-1", &t, &err), -1);
}

/* A report.json with one step. */
static char *report(double bps, double p99, double ingest, double cpu) {
    char *s = malloc(600);
    snprintf(s, 600,
             "{\"scenario\":\"t\",\"server\":{\"kind\":\"promlab\",\"version\":\"x\"},\"steps\":[{\"target_series\":1000,"
             "\"head_series\":1000,\"rss_bytes\":1e6,\"bytes_per_series\":%.17g,\"ingest_samples_per_second\":%.17g,"
             "\"cpu_us_per_sample\":%.17g,\"query\":{\"p50_seconds\":0.001,\"p99_seconds\":%.17g,\"errors\":0}}]}",
             bps, ingest, cpu, p99);
    return s;
}

static bool gate(const char *b, const char *c, double tol, const char *figure, bool *row_regressed) {
    lg_gate_t g;
    pl_err_t err = {{0}};
    assert_int_equal(lg_gate_compare(b, c, tol, &g, &err), 0);
    bool failed = g.failed;
    for (size_t i = 0; i < g.n && figure; i++)
        if (!strcmp(g.rows[i].figure, figure)) *row_regressed = g.rows[i].regression;
    lg_gate_free(&g);
    return failed;
}

static void test_gate_edges(void **state) {
    (void)state;
    char *base = report(1000, 0.100, 10000, 2.0);
    bool reg = false;
    /* itself: passes */
    assert_false(gate(base, base, 0.10, NULL, &reg));
    /* memory +10% exactly: at the edge, passes; +10.1%: fails on that figure */
    char *c1 = report(1100, 0.100, 10000, 2.0), *c2 = report(1101, 0.100, 10000, 2.0);
    assert_false(gate(base, c1, 0.10, "bytes/series", &reg));
    assert_false(reg);
    assert_true(gate(base, c2, 0.10, "bytes/series", &reg));
    assert_true(reg);
    /* ingestion is lower-is-worse: -10% passes, -10.1% fails, +50% is no regression */
    char *c3 = report(1000, 0.100, 9000, 2.0), *c4 = report(1000, 0.100, 8990, 2.0), *c5 = report(1000, 0.100, 15000, 2.0);
    assert_false(gate(base, c3, 0.10, "samples/s", &reg));
    assert_true(gate(base, c4, 0.10, "samples/s", &reg));
    assert_true(reg);
    assert_false(gate(base, c5, 0.10, "samples/s", &reg));
    /* p99 latency doubling fails; halving passes */
    char *c6 = report(1000, 0.200, 10000, 2.0), *c7 = report(1000, 0.050, 10000, 2.0);
    assert_true(gate(base, c6, 0.10, "query p99 s", &reg));
    assert_true(reg);
    assert_false(gate(base, c7, 0.10, "query p99 s", &reg));
    /* a wider tolerance lets the doubling pass */
    assert_false(gate(base, c6, 1.0, NULL, &reg));
    /* a current run with fewer steps fails */
    const char *empty = "{\"steps\":[]}";
    assert_true(gate(base, empty, 0.10, NULL, &reg));
    /* not a report */
    lg_gate_t g;
    pl_err_t err;
    assert_int_equal(lg_gate_compare("{}", base, 0.1, &g, &err), -1);
    assert_non_null(strstr(err.msg, "steps"));
    assert_int_equal(lg_gate_compare("{nope", base, 0.1, &g, &err), -1);
    /* the table names the verdict */
    assert_int_equal(lg_gate_compare(base, c2, 0.10, &g, &err), 0);
    strbuf_t sb = STRBUF_INIT;
    lg_gate_table(&g, 0.10, &sb);
    assert_non_null(strstr(sb.data, "REGRESSION"));
    assert_non_null(strstr(sb.data, "FAIL: 1 regression"));
    lg_gate_free(&g);
    strbuf_free(&sb);
    const char *names[] = {"a", "b"};
    const char *jsons[] = {base, c6};
    assert_int_equal(lg_compare_md(names, jsons, 2, &sb, &err), 0);
    assert_non_null(strstr(sb.data, "| 1 | a | 1000 |"));
    assert_non_null(strstr(sb.data, "| 1 | b |"));
    strbuf_free(&sb);
    free(base), free(c1), free(c2), free(c3), free(c4), free(c5), free(c6), free(c7);
}

PL_TEST_MAIN(cmocka_unit_test(test_quantiles_nearest_rank), cmocka_unit_test(test_weighted_pick),
             cmocka_unit_test(test_tolerance_syntax), cmocka_unit_test(test_gate_edges))
