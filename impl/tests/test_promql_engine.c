/* test_promql_engine.c — the PromQL engine over a head filled here: result
 * JSON as /api/v1/query(_range) write it, lookback and staleness, operators,
 * aggregations, errors and limits, annotations; and the promqltest
 * conformance files when ../shared/conformance/promql is present. */
#include "testutil.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/labels.h"
#include "promql/conformance.h"
#include "promql/engine.h"
#include "tsdb/head.h"
#include "util/json.h"

typedef struct fixture {
    head_t *head;
    queryable_t q;
    promql_engine_t *eng;
} fixture_t;

static void add(head_t *h, const char *name, const char *k, const char *v, int64_t t, double val) {
    label_t ls[2] = {{LABEL_METRIC_NAME, name}, {k, v}};
    size_t n = k ? 2 : 1;
    labels_sort(ls, n);
    assert_int_equal(head_append(h, ls, n, t, val, NULL, NULL), HEAD_OK);
}

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof *f);
    f->head = head_new();
    head_queryable(f->head, &f->q);
    promql_engine_opts_t opts = {0};
    f->eng = promql_engine_new(&opts);
    /* every 15s from 0 to 10m */
    for (int64_t t = 0; t <= 600000; t += 15000) {
        add(f->head, "http_requests_total", "job", "api", t, (double)t / 1000.0);     /* 1/s */
        add(f->head, "http_requests_total", "job", "web", t, (double)t / 1000.0 * 2); /* 2/s */
        add(f->head, "gauge", "job", "api", t, 10);
    }
    /* a series that goes stale at 60s */
    add(f->head, "flappy", NULL, NULL, 0, 1);
    add(f->head, "flappy", NULL, NULL, 30000, 2);
    add(f->head, "flappy", NULL, NULL, 60000, pl_stale_nan());
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    promql_engine_free(f->eng);
    head_free(f->head);
    free(f);
    return 0;
}

/* Runs a query and returns the "data" JSON (or "error:<type>:<msg>"). */
static char *run(fixture_t *f, const char *query, int64_t start, int64_t end, int64_t step) {
    promql_result_t res;
    promql_error_t err;
    int rc = step ? promql_exec_range(f->eng, &f->q, query, start, end, step, &res, &err)
                  : promql_exec_instant(f->eng, &f->q, query, start, &res, &err);
    strbuf_t sb = STRBUF_INIT;
    if (rc < 0) {
        strbuf_printf(&sb, "error:%s:%s", promql_errtype_str(err.type), err.msg);
    } else {
        jsonw_t w;
        jw_init(&w, &sb);
        promql_result_write_json(&res, &w);
        for (size_t i = 0; i < res.nwarnings; i++)
            strbuf_printf(&sb, "\nwarn:%s", res.warnings[i]);
        for (size_t i = 0; i < res.ninfos; i++) {
            strbuf_puts(&sb, "\ninfo:");
            promql_annotation_format(&sb, query, res.infos[i], res.info_pos[i]);
        }
    }
    promql_result_free(&res);
    return strbuf_detach(&sb);
}

static void expect(fixture_t *f, const char *query, int64_t start, int64_t end, int64_t step, const char *want) {
    char *got = run(f, query, start, end, step);
    if (strcmp(got, want) != 0) fprintf(stderr, "query %s\n got: %s\nwant: %s\n", query, got, want);
    assert_string_equal(got, want);
    free(got);
}

static void test_instant_selector(void **state) {
    fixture_t *f = *state;
    expect(f, "http_requests_total{job=\"api\"}", 100000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"http_requests_total\",\"job\":\"api\"},"
           "\"value\":[100,\"90\"]}]}");
    /* lookback: the last sample is 5m old at 10m+5m-1ms, gone at exactly 5m (left-open) */
    expect(f, "gauge", 899999, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"gauge\",\"job\":\"api\"},"
           "\"value\":[899.999,\"10\"]}]}");
    expect(f, "gauge", 900000, 0, 0, "{\"resultType\":\"vector\",\"result\":[]}");
    /* staleness ends a series at once */
    expect(f, "flappy", 45000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"flappy\"},\"value\":[45,\"2\"]}]}");
    expect(f, "flappy", 61000, 0, 0, "{\"resultType\":\"vector\",\"result\":[]}");
    /* offset and @ */
    expect(f, "http_requests_total{job=\"api\"} offset 1m", 120000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"http_requests_total\",\"job\":\"api\"},"
           "\"value\":[120,\"60\"]}]}");
    expect(f, "http_requests_total{job=\"api\"} @ 30", 500000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"http_requests_total\",\"job\":\"api\"},"
           "\"value\":[500,\"30\"]}]}");
}

static void test_scalar_string_matrix(void **state) {
    fixture_t *f = *state;
    expect(f, "1 + 2 * 3", 1000, 0, 0, "{\"resultType\":\"scalar\",\"result\":[1,\"7\"]}");
    expect(f, "2 ^ 3 ^ 2", 0, 0, 0, "{\"resultType\":\"scalar\",\"result\":[0,\"512\"]}");
    expect(f, "-2 ^ 2", 0, 0, 0, "{\"resultType\":\"scalar\",\"result\":[0,\"-4\"]}");
    expect(f, "1 / 0", 0, 0, 0, "{\"resultType\":\"scalar\",\"result\":[0,\"+Inf\"]}");
    expect(f, "\"hello\"", 5000, 0, 0, "{\"resultType\":\"string\",\"result\":[5,\"hello\"]}");
    expect(f, "gauge[30s]", 60000, 0, 0,
           "{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"__name__\":\"gauge\",\"job\":\"api\"},"
           "\"values\":[[45,\"10\"],[60,\"10\"]]}]}");
    expect(f, "time()", 0, 60000, 30000,
           "{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},\"values\":[[0,\"0\"],[30,\"30\"],[60,\"60\"]]}]}");
}

static void test_range_query(void **state) {
    fixture_t *f = *state;
    expect(f, "sum by (job) (rate(http_requests_total[1m]))", 120000, 180000, 60000,
           "{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"job\":\"api\"},\"values\":[[120,\"0."
           "9999999999999999\"],[180,"
           "\"0.9999999999999999\"]]},{\"metric\":{\"job\":\"web\"},\"values\":[[120,\"1.9999999999999998\"],[180,"
           "\"1.9999999999999998\"]]}]}");
    expect(f, "flappy", 0, 90000, 30000,
           "{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"__name__\":\"flappy\"},\"values\":[[0,\"1\"],[30,"
           "\"2\"]]}]}");
    expect(f, "gauge[1m]", 0, 60000, 30000,
           "error:bad_data:invalid expression type \"range vector\" for range query, must be Scalar or instant Vector");
}

static void test_operators(void **state) {
    fixture_t *f = *state;
    /* arithmetic drops the name, comparison keeps it, bool drops it */
    expect(f, "gauge * 2", 60000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"job\":\"api\"},\"value\":[60,\"20\"]}]}");
    expect(f, "gauge > 5", 60000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"gauge\",\"job\":\"api\"},\"value\":[60,"
           "\"10\"]}]}");
    expect(f, "gauge > bool 50", 60000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"job\":\"api\"},\"value\":[60,\"0\"]}]}");
    expect(f, "http_requests_total / on(job) gauge", 60000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"job\":\"api\"},\"value\":[60,\"6\"]}]}");
    expect(f, "http_requests_total and on(job) gauge", 60000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"http_requests_total\",\"job\":\"api\"},"
           "\"value\":[60,\"60\"]}]}");
    expect(f, "http_requests_total unless on(job) gauge", 60000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"http_requests_total\",\"job\":\"web\"},"
           "\"value\":[60,\"120\"]}]}");
    /* many-to-many is an error on the one side */
    expect(f, "gauge + on() http_requests_total", 60000, 0, 0,
           "error:execution:found duplicate series for the match group {} on the right hand-side of the operation: "
           "[http_requests_total{job=\"web\"}, http_requests_total{job=\"api\"}];many-to-many matching not allowed: "
           "matching labels must be unique on one side");
    expect(f, "http_requests_total + on() group_left gauge", 60000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"job\":\"api\"},\"value\":[60,\"70\"]},{\"metric\":"
           "{\"job\":\"web\"},\"value\":[60,\"130\"]}]}");
    /* names dropped at the end collide */
    expect(f, "rate({__name__=~\"gauge|http_requests_total\", job=\"api\"}[1m])", 60000, 0, 0,
           "error:execution:vector cannot contain metrics with the same labelset");
}

static void test_aggregations(void **state) {
    fixture_t *f = *state;
    expect(f, "sum(http_requests_total)", 60000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":[60,\"180\"]}]}");
    expect(f, "count without (job) (http_requests_total)", 60000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":[60,\"2\"]}]}");
    expect(f, "topk(1, http_requests_total)", 60000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"http_requests_total\",\"job\":\"web\"},"
           "\"value\":[60,\"120\"]}]}");
    expect(f, "quantile(0.5, http_requests_total)", 60000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":[60,\"90\"]}]}");
    expect(f, "count_values(\"v\", gauge)", 60000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"v\":\"10\"},\"value\":[60,\"1\"]}]}");
    expect(f, "sort_desc(http_requests_total)", 60000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"http_requests_total\",\"job\":\"web\"},"
           "\"value\":[60,\"120\"]},{\"metric\":{\"__name__\":\"http_requests_total\",\"job\":\"api\"},\"value\":[60,"
           "\"60\"]}]}");
    /* The storage fast paths of the head (select hints): groups of an
     * unsorted selection come out sorted by label set; at the head's last
     * sample (600s) the newest sample is read without decoding; before it
     * (60s, 600s+30s lookback) from the chunk; flappy is stale by then. */
    expect(f, "count by (job) ({__name__=~\".+\"})", 600000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"job\":\"api\"},\"value\":[600,\"2\"]},{\"metric\":"
           "{\"job\":\"web\"},\"value\":[600,\"1\"]}]}");
    expect(f, "count by (__name__) ({__name__=~\".+\"})", 45000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"flappy\"},\"value\":[45,\"1\"]},{"
           "\"metric\":{\"__name__\":\"gauge\"},\"value\":[45,\"1\"]},{\"metric\":{\"__name__\":\"http_requests_total\"},"
           "\"value\":[45,\"2\"]}]}");
    expect(f, "sum by (job) (http_requests_total)", 630000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"job\":\"api\"},\"value\":[630,\"600\"]},{\"metric\":{"
           "\"job\":\"web\"},\"value\":[630,\"1200\"]}]}");
    expect(f, "max(http_requests_total)", 52000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":[52,\"90\"]}]}");
}

static void test_functions_and_annotations(void **state) {
    fixture_t *f = *state;
    expect(f, "rate(gauge[1m])", 60000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"job\":\"api\"},\"value\":[60,\"0\"]}]}\n"
           "info:PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "
           "\"gauge\" (1:6)");
    expect(f, "label_replace(gauge, \"dst\", \"x-$1\", \"job\", \"(a.*)\")", 60000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"gauge\",\"dst\":\"x-api\",\"job\":"
           "\"api\"},\"value\":[60,\"10\"]}]}");
    expect(f, "absent(nonexistent{job=\"x\"})", 60000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"job\":\"x\"},\"value\":[60,\"1\"]}]}");
    expect(f, "scalar(gauge) + 1", 60000, 0, 0, "{\"resultType\":\"scalar\",\"result\":[60,\"11\"]}");
    expect(f, "max_over_time(rate(http_requests_total{job=\"web\"}[1m])[2m:30s])", 300000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"job\":\"web\"},\"value\":[300,\"1.9999999999999998\"]"
           "}]}");
    expect(f, "year(vector(0))", 0, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":[0,\"1970\"]}]}");
    expect(f, "sort(gauge)", 0, 60000, 60000,
           "{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"__name__\":\"gauge\",\"job\":\"api\"},\"values\":[[0,"
           "\"10\"],[60,\"10\"]]}]}\nwarn:PromQL warning: sort is ineffective for range queries since results are "
           "always ordered by labels");
}

static void test_annotation_format(void **state) {
    (void)state;
    strbuf_t sb = STRBUF_INIT;
    promql_annotation_format(&sb, "sum(\n  rate(gauge[1m]))", "PromQL info: x", 7);
    assert_string_equal(sb.data, "PromQL info: x (2:3)");
    strbuf_reset(&sb);
    promql_annotation_format(&sb, "", "PromQL info: x", 9);
    assert_string_equal(sb.data, "PromQL info: x");
    strbuf_free(&sb);
}

static void test_errors_and_limits(void **state) {
    fixture_t *f = *state;
    expect(f, "rate(gauge)", 0, 0, 0,
           "error:bad_data:1:6: parse error: expected type range vector in call to function \"rate\", got instant "
           "vector");
    expect(f, "gauge", 60000, 0, -1,
           "error:bad_data:zero or negative query resolution step widths are not accepted. Try a positive integer");
    promql_engine_opts_t opts = {.max_samples = 10};
    promql_engine_t *small = promql_engine_new(&opts);
    promql_engine_t *saved = f->eng;
    f->eng = small;
    expect(f, "http_requests_total[5m]", 600000, 0, 0,
           "error:execution:query processing would load too many samples into memory in query execution");
    expect(f, "gauge", 600000, 0, 0,
           "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"gauge\",\"job\":\"api\"},\"value\":[600,"
           "\"10\"]}]}");
    f->eng = saved;
    promql_engine_free(small);
}

static bool always_canceled(void *ctx) {
    (void)ctx;
    return true;
}

static void test_cancel(void **state) {
    fixture_t *f = *state;
    promql_engine_opts_t opts = {.canceled = always_canceled};
    promql_engine_t *e = promql_engine_new(&opts);
    promql_engine_t *saved = f->eng;
    f->eng = e;
    /* a long range query polls the hook */
    expect(f, "sum(rate(http_requests_total[1m]))", 0, 600000, 1000,
           "error:canceled:query was canceled in expression evaluation");
    f->eng = saved;
    promql_engine_free(e);
}

static void test_conformance(void **state) {
    (void)state;
    const char *dir = getenv("PROMQL_CONFORMANCE_DIR");
    if (!dir) dir = "../shared/conformance/promql";
    struct stat st;
    if (stat(dir, &st) != 0) {
        fprintf(stderr, "# %s not present, conformance skipped\n", dir);
        skip();
    }
    promqltest_counts_t c = {0};
    FILE *out = fopen("/dev/null", "w");
    promql_conformance_run(&dir, 1, getenv("PROMQL_CONFORMANCE_VERBOSE") ? stderr : out, &c);
    fclose(out);
    fprintf(stderr, "# conformance: %zu passed, %zu failed, %zu skipped\n", c.passed, c.failed, c.skipped);
    /* Every non-native-histogram eval passes (native histograms are skipped). */
    assert_true(c.passed >= 815);
    assert_int_equal(c.failed, 0);
}

/* Only evals that read native histogram samples are skipped: a float series
 * next to a histogram one, a histogram outside the read window, and
 * load_with_nhcb's derived series. */
static void test_conformance_histogram_skips(void **state) {
    (void)state;
    char path[] = "/tmp/promlab-pqt-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "load 1m\n"
                       "  m{t=\"f\"} 1 2 3\n"
                       "  m{t=\"h\"} _ _ _ _ _ _ {{schema:0 sum:1 count:1}}\n"
                       "\n"
                       "eval instant at 2m m{t=\"f\"}\n"
                       "  m{t=\"f\"} 3\n"
                       "\n"
                       "eval instant at 2m m\n" /* the histogram is at 6m: outside (−3m, 2m] */
                       "  m{t=\"f\"} 3\n"
                       "\n"
                       "eval instant at 7m count(m)\n" /* reads the histogram: skipped */
                       "  {} 99\n"
                       "\n"
                       "clear\n"
                       "load_with_nhcb 1m\n"
                       "  x_bucket{le=\"1\"} 1 2\n"
                       "  x_bucket{le=\"+Inf\"} 2 3\n"
                       "\n"
                       "eval instant at 1m x_bucket{le=\"1\"}\n"
                       "  x_bucket{le=\"1\"} 2\n"
                       "\n"
                       "eval instant at 1m x\n" /* the derived NHCB series: skipped */
                       "  x 99\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    promqltest_counts_t c = {0};
    const char *p = path;
    FILE *out = fopen("/dev/null", "w");
    promql_conformance_run(&p, 1, out, &c);
    fclose(out);
    unlink(path);
    assert_int_equal(c.passed, 3);
    assert_int_equal(c.skipped, 2);
    assert_int_equal(c.failed, 0);
}


/* count and group straight over a selector are streamed from storage
 * (eval_count_selector), with the head's projection and newest-sample
 * hints; with label_replace in between they take the general path. Both
 * must agree, series for series and bit for bit, over a head with gaps,
 * stale markers and labels some series lack, through the hinted head and
 * through a plain select. */
static int cmp_result_series(const void *a, const void *b) {
    const promql_series_t *x = a, *y = b;
    return labels_compare(x->labels, x->nlabels, y->labels, y->nlabels);
}

static void check_same_answer(promql_engine_t *eng, const queryable_t *qf, const queryable_t *qs, const char *fast,
                              const char *slow,
                              int64_t start, int64_t end, int64_t step) {
    promql_result_t r[2];
    promql_error_t err;
    const char *qstr[2] = {fast, slow};
    for (int i = 0; i < 2; i++) {
        const queryable_t *q = i ? qs : qf;
        int rc = step ? promql_exec_range(eng, q, qstr[i], start, end, step, &r[i], &err)
                      : promql_exec_instant(eng, q, qstr[i], start, &r[i], &err);
        if (rc != 0) fprintf(stderr, "%s: %s\n", qstr[i], err.msg);
        assert_int_equal(rc, 0);
        qsort(r[i].series, r[i].nseries, sizeof *r[i].series, cmp_result_series);
    }
    if (r[0].nseries != r[1].nseries)
        fprintf(stderr, "%s: %zu series, %s: %zu\n", fast, r[0].nseries, slow, r[1].nseries);
    assert_int_equal(r[0].nseries, r[1].nseries);
    for (size_t i = 0; i < r[0].nseries; i++) {
        const promql_series_t *a = &r[0].series[i], *b = &r[1].series[i];
        assert_true(labels_equal(a->labels, a->nlabels, b->labels, b->nlabels));
        assert_int_equal(a->nsamples, b->nsamples);
        for (size_t k = 0; k < a->nsamples; k++) {
            assert_int_equal(a->samples[k].t, b->samples[k].t);
            assert_memory_equal(&a->samples[k].v, &b->samples[k].v, sizeof(double));
        }
    }
    promql_result_free(&r[0]);
    promql_result_free(&r[1]);
}

static void test_count_streamed_matches_general(void **state) {
    (void)state;
    head_t *h = head_new();
    unsigned rng = 7;
    head_set_chunk_range(h, 300000); /* chunks cut every 5m: newest samples in closed chunks too */
    static const char *names[] = {"m1", "m2", "m3"}, *as[] = {NULL, "x", "y", "z"};
    char bv[16];
    for (int s = 0; s < 300; s++) {
        snprintf(bv, sizeof bv, "b%d", s); /* unique: every s its own series */
        label_t ls[3];
        size_t n = 0;
        ls[n++] = (label_t){LABEL_METRIC_NAME, names[s % 3]};
        if (as[s % 4]) ls[n++] = (label_t){"a", as[s % 4]};
        ls[n++] = (label_t){"b", bv};
        labels_sort(ls, n);
        for (int64_t t = (s % 7) * 10000; t <= 1200000; t += 10000 + (int64_t)(s % 3) * 5000) {
            rng = rng * 1103515245u + 12345u;
            unsigned r = rng >> 16;
            if (r % 13 == 0) t += 400000; /* a gap longer than the lookback */
            double v = r % 29 == 0 ? pl_stale_nan() : (double)(r % 100);
            if (t <= 1200000) assert_int_equal(head_append(h, ls, n, t, v, NULL, NULL), HEAD_OK);
        }
    }
    queryable_t hinted, plain;
    head_queryable(h, &hinted);
    plain = hinted;
    plain.select_hinted = NULL;
    promql_engine_opts_t opts = {0};
    promql_engine_t *eng = promql_engine_new(&opts);
    static const char *sels[] = {"m1", "{__name__=~\"m.*\"}", "{__name__=~\".+\", a!=\"y\"}", "m2{b=~\"b1.*\"}",
                                 "m3 offset 2m", "{__name__=~\"m[12]\"} @ 300", "nothing"};
    static const char *groupings[] = {"", "by (a)", "by (__name__)", "by (a, b)", "by (__name__, a)", "by (zzz)"};
    char fast[256], slow[256];
    for (int qb = 0; qb < 2; qb++)
        for (size_t si = 0; si < sizeof sels / sizeof *sels; si++)
            for (size_t gi = 0; gi < sizeof groupings / sizeof *groupings; gi++)
                for (int op = 0; op < 2; op++) {
                    const char *o = op ? "group" : "count";
                    snprintf(fast, sizeof fast, "%s %s (%s)", o, groupings[gi], sels[si]);
                    snprintf(slow, sizeof slow, "%s %s (label_replace(%s, \"zz\", \"1\", \"\", \"\"))", o,
                             groupings[gi], sels[si]);
                    /* the streamed one through the hinted head and the general one
                     * through a plain select, and the other way round */
                    const queryable_t *qf = qb ? &plain : &hinted, *qs = qb ? &hinted : &plain;
                    for (int64_t t = 0; t <= 1300000; t += 97000) check_same_answer(eng, qf, qs, fast, slow, t, 0, 0);
                    check_same_answer(eng, qf, qs, fast, slow, 0, 1300000, 30000);
                    check_same_answer(eng, qf, qs, fast, slow, 125000, 1000000, 7000);
                }
    /* sum/count/group/min/max by (...) over a range function, aggregated as
     * storage streams (range queries): against the same with "* 1" in
     * between, which takes the general path */
    static const char *ops[] = {"sum", "count", "group", "min", "max"};
    static const char *fns[] = {"rate", "increase", "delta", "irate", "changes", "avg_over_time", "last_over_time",
                                "stddev_over_time", "count_over_time"};
    static const char *rsels[] = {"m1[2m]", "{__name__=~\"m.*\", a!=\"y\"}[90s]", "m3[5m] offset 1m", "nothing[1m]"};
    static const char *rgroupings[] = {"", "by (a)", "by (a, b)", "by (zzz)"};
    for (int qb = 0; qb < 2; qb++)
        for (size_t oi = 0; oi < sizeof ops / sizeof *ops; oi++)
            for (size_t fi = 0; fi < sizeof fns / sizeof *fns; fi++)
                for (size_t si = 0; si < sizeof rsels / sizeof *rsels; si++)
                    for (size_t gi = 0; gi < sizeof rgroupings / sizeof *rgroupings; gi++) {
                        snprintf(fast, sizeof fast, "%s %s (%s(%s))", ops[oi], rgroupings[gi], fns[fi], rsels[si]);
                        snprintf(slow, sizeof slow, "%s %s (%s(%s) * 1)", ops[oi], rgroupings[gi], fns[fi], rsels[si]);
                        const queryable_t *qf = qb ? &plain : &hinted, *qs = qb ? &hinted : &plain;
                        check_same_answer(eng, qf, qs, fast, slow, 0, 1300000, 30000);
                        check_same_answer(eng, qf, qs, fast, slow, 125000, 1000000, 7000);
                    }
    /* more groups x steps than the streamed aggregation keeps (2^23): it
     * gives up and the general path answers */
    check_same_answer(eng, &hinted, &plain, "sum by (b) (rate({__name__=~\"m.*\"}[2m]))",
                      "sum by (b) (rate({__name__=~\"m.*\"}[2m]) * 1)", 0, 1200000, 40); /* 300 x 30001 */
    promql_engine_free(eng);
    head_free(h);
}

PL_TEST_MAIN(cmocka_unit_test_setup_teardown(test_instant_selector, setup, teardown),
             cmocka_unit_test_setup_teardown(test_scalar_string_matrix, setup, teardown),
             cmocka_unit_test_setup_teardown(test_range_query, setup, teardown),
             cmocka_unit_test_setup_teardown(test_operators, setup, teardown),
             cmocka_unit_test_setup_teardown(test_aggregations, setup, teardown),
             cmocka_unit_test_setup_teardown(test_functions_and_annotations, setup, teardown),
             cmocka_unit_test_setup_teardown(test_errors_and_limits, setup, teardown),
             cmocka_unit_test(test_annotation_format), cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
             cmocka_unit_test(test_count_streamed_matches_general), cmocka_unit_test(test_conformance_histogram_skips),
             cmocka_unit_test(test_conformance))
