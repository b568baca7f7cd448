/* test_loadgen_gen.c — promlab-loadgen's series generator: avalanche 0.7's
 * names and label sets, the exposed series count for every metric type, churn
 * through cycle_id, the series operation modes, the bad-metric scenarios, and
 * both exposition formats (parsed back with libpromlab's parser). */
#include "testutil.h"

#include "loadgen.h"


static lg_gen_t *gen_with(lg_config_t *c) {
    pl_err_t err = {{0}};
    lg_gen_t *g = lg_gen_new(c, &err);
    if (!g) fprintf(stderr, "lg_gen_new: %s\n", err.msg);
    assert_non_null(g);
    return g;
}

/* Parses a rendered body; returns the number of samples, fails the test on a parse error. */
static size_t parse_count(const char *body, size_t len, enum textparse_format fmt, const char *must_have_name) {
    textparse_t *p = textparse_new(fmt, body, len);
    textparse_sample_t s;
    pl_err_t err = {{0}};
    enum textparse_entry e;
    size_t n = 0;
    bool seen = must_have_name == NULL;
    while ((e = textparse_next(p, &s, &err)) != TEXTPARSE_EOF) {
        if (e == TEXTPARSE_ERROR) fprintf(stderr, "parse: %s\n", err.msg);
        assert_int_not_equal(e, TEXTPARSE_ERROR);
        if (e == TEXTPARSE_SAMPLE) {
            n++;
            if (must_have_name && !strcmp(s.name, must_have_name)) seen = true;
        }
    }
    textparse_free(p);
    assert_true(seen);
    return n;
}

static void test_defaults_are_avalanche(void **state) {
    (void)state;
    lg_config_t c;
    lg_config_defaults(&c);
    assert_int_equal(c.gauge_count, 500);
    assert_int_equal(c.series_count, 100);
    assert_int_equal(c.label_count, 10);
    assert_int_equal(c.metricname_length, 5);
    assert_int_equal(c.value_interval, 30);
    assert_int_equal(c.series_interval, 60);
    assert_int_equal(c.metric_interval, 0);
    assert_int_equal(c.histogram_buckets, 7);
    assert_int_equal(lg_config_exposed_series(&c, c.series_count), 50000);
}

static void test_first_line_shape(void **state) {
    (void)state;
    lg_config_t c;
    lg_config_defaults(&c);
    c.gauge_count = 1;
    c.series_count = 2;
    c.label_count = 2;
    lg_gen_t *g = gen_with(&c);
    strbuf_t sb = STRBUF_INIT;
    lg_gen_render(g, TEXTPARSE_PROM, -1, false, &sb);
    const char *want = "\navalanche_gauge_metric_mmmmm_0_0{cycle_id=\"0\",label_key_kkkkk_0=\"label_val_vvvvv_0\","
                       "label_key_kkkkk_1=\"label_val_vvvvv_1\",series_id=\"1\"} ";
    assert_non_null(strstr(sb.data, want));
    assert_non_null(strstr(sb.data, "# TYPE avalanche_gauge_metric_mmmmm_0_0 gauge\n"));
    strbuf_free(&sb);
    lg_gen_free(g);
}

static void test_counts_every_type(void **state) {
    (void)state;
    lg_config_t c;
    lg_config_defaults(&c);
    c.gauge_count = 3;
    c.counter_count = 2;
    c.histogram_count = 2;
    c.histogram_buckets = 4;
    c.summary_count = 1;
    c.summary_objectives = 3;
    c.series_count = 7;
    c.label_count = 3;
    assert_int_equal(lg_config_add_const_label(&c, "env=prod", NULL), 0);
    lg_gen_t *g = gen_with(&c);
    /* 7 * (3 + 2 + 2*(4+1+2) + (3+2)) */
    assert_int_equal(lg_gen_exposed_series(g), 7 * (3 + 2 + 14 + 5));
    strbuf_t sb = STRBUF_INIT;
    lg_gen_render(g, TEXTPARSE_PROM, -1, false, &sb);
    assert_int_equal(parse_count(sb.data, sb.len, TEXTPARSE_PROM, "avalanche_counter_metric_mmmmm_0_1_total"),
                     lg_gen_exposed_series(g));
    assert_non_null(strstr(sb.data, "env=\"prod\",label_key_kkkkk_0"));
    assert_non_null(strstr(sb.data, "# TYPE avalanche_counter_metric_mmmmm_0_0_total counter\n"));
    strbuf_reset(&sb);
    lg_gen_render(g, TEXTPARSE_OPENMETRICS, -1, false, &sb);
    assert_int_equal(parse_count(sb.data, sb.len, TEXTPARSE_OPENMETRICS, "avalanche_histogram_metric_mmmmm_0_1_bucket"),
                     lg_gen_exposed_series(g));
    /* OpenMetrics: the counter family is named without _total; the body ends with # EOF */
    assert_non_null(strstr(sb.data, "# TYPE avalanche_counter_metric_mmmmm_0_0 counter\n"));
    assert_true(sb.len > 6 && !strcmp(sb.data + sb.len - 6, "# EOF\n"));
    strbuf_free(&sb);
    lg_gen_free(g);
    lg_config_free(&c);
}

typedef struct {
    char **keys;
    size_t n, cap;
    double inf_bucket, count;
} keys_t;

static void collect(void *ctx, size_t family, const label_t *ls, size_t n, double v) {
    (void)family;
    keys_t *k = ctx;
    strbuf_t sb = STRBUF_INIT;
    labels_format(&sb, ls, n);
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 64;
        k->keys = realloc(k->keys, k->cap * sizeof *k->keys);
    }
    k->keys[k->n++] = strbuf_detach(&sb);
    const char *le = labels_get(ls, n, "le");
    if (le && !strcmp(le, "+Inf")) k->inf_bucket += v;
    const char *name = labels_get(ls, n, "__name__");
    if (name && strstr(name, "_count")) k->count += v;
}

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void keys_free(keys_t *k) {
    for (size_t i = 0; i < k->n; i++) free(k->keys[i]);
    free(k->keys);
    memset(k, 0, sizeof *k);
}

static size_t count_common(keys_t *a, keys_t *b) {
    qsort(a->keys, a->n, sizeof *a->keys, cmpstr);
    size_t common = 0;
    for (size_t i = 0; i < b->n; i++)
        if (bsearch(&b->keys[i], a->keys, a->n, sizeof *a->keys, cmpstr)) common++;
    return common;
}

static void test_churn_replaces_every_series(void **state) {
    (void)state;
    lg_config_t c;
    lg_config_defaults(&c);
    c.gauge_count = 2;
    c.histogram_count = 1;
    c.series_count = 50;
    c.label_count = 1;
    lg_gen_t *g = gen_with(&c);
    keys_t a = {0}, b = {0}, a2 = {0};
    lg_gen_foreach(g, collect, &a);
    assert_int_equal(a.n, lg_gen_exposed_series(g));
    lg_gen_tick_values(g);
    lg_gen_foreach(g, collect, &a2);
    assert_int_equal(count_common(&a, &a2), a.n); /* values change, series stay */
    lg_gen_tick_series(g);
    assert_int_equal(lg_gen_series_cycle(g), 1);
    lg_gen_foreach(g, collect, &b);
    assert_int_equal(b.n, a.n);
    assert_int_equal(count_common(&a, &b), 0); /* every series replaced */
    /* all unique within a cycle */
    qsort(b.keys, b.n, sizeof *b.keys, cmpstr);
    for (size_t i = 1; i < b.n; i++) assert_int_not_equal(strcmp(b.keys[i - 1], b.keys[i]), 0);
    assert_non_null(strstr(b.keys[0], "cycle_id=\"1\""));
    /* histogram: +Inf bucket equals count */
    assert_true(b.inf_bucket > 0);
    assert_true(b.inf_bucket == b.count);
    keys_free(&a);
    keys_free(&a2);
    keys_free(&b);
    lg_gen_free(g);
}

static void test_metric_cycle_renames(void **state) {
    (void)state;
    lg_config_t c;
    lg_config_defaults(&c);
    c.gauge_count = 1;
    c.series_count = 1;
    c.label_count = 0;
    lg_gen_t *g = gen_with(&c);
    lg_gen_tick_metric(g);
    strbuf_t sb = STRBUF_INIT;
    lg_gen_render(g, TEXTPARSE_PROM, 1700000000123, false, &sb);
    assert_non_null(strstr(sb.data, "avalanche_gauge_metric_mmmmm_1_0{cycle_id=\"0\",series_id=\"0\"} "));
    assert_non_null(strstr(sb.data, " 1700000000123\n"));
    strbuf_reset(&sb);
    lg_gen_render(g, TEXTPARSE_OPENMETRICS, 1700000000123, false, &sb);
    assert_non_null(strstr(sb.data, " 1700000000.123\n"));
    strbuf_free(&sb);
    lg_gen_free(g);
}

static void test_modes(void **state) {
    (void)state;
    lg_config_t c;
    lg_config_defaults(&c);
    c.gauge_count = 1;
    c.label_count = 0;
    c.mode = LG_MODE_GRADUAL;
    c.min_series_count = 100;
    c.max_series_count = 300;
    c.series_change_rate = 150;
    lg_gen_t *g = gen_with(&c);
    int want_gradual[] = {100, 250, 300, 150, 100, 250};
    assert_int_equal(lg_gen_series_count(g), want_gradual[0]);
    for (int i = 1; i < 6; i++) {
        lg_gen_tick_change(g);
        assert_int_equal(lg_gen_series_count(g), want_gradual[i]);
    }
    lg_gen_free(g);

    c.mode = LG_MODE_DOUBLE_HALVE;
    c.series_count = 10;
    g = gen_with(&c);
    int want_dh[] = {10, 20, 10, 20, 10};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(lg_gen_series_count(g), want_dh[i]);
        assert_int_equal(lg_gen_exposed_series(g), (uint64_t)want_dh[i]);
        lg_gen_tick_change(g);
    }
    lg_gen_free(g);

    c.mode = LG_MODE_SPIKE;
    c.series_count = 100;
    c.spike_multiplier = 1.5;
    g = gen_with(&c);
    int want_spike[] = {100, 150, 100, 150};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(lg_gen_series_count(g), want_spike[i]);
        lg_gen_tick_change(g);
    }
    lg_gen_free(g);

    c.mode = LG_MODE_DEFAULT;
    g = gen_with(&c);
    lg_gen_tick_change(g);
    assert_int_equal(lg_gen_series_count(g), 100);
    lg_gen_free(g);
}

static void test_scenarios(void **state) {
    (void)state;
    lg_config_t c;
    lg_config_defaults(&c);
    c.series_count = 480;
    c.scenario = LG_SCN_HTTP_USER_ID;
    lg_gen_t *g = gen_with(&c);
    assert_int_equal(lg_gen_exposed_series(g), 480);
    strbuf_t sb = STRBUF_INIT;
    lg_gen_render(g, TEXTPARSE_PROM, -1, false, &sb);
    assert_int_equal(parse_count(sb.data, sb.len, TEXTPARSE_PROM, "http_requests_total"), 480);
    assert_non_null(strstr(sb.data, "http_requests_total{endpoint=\"/api/e0\",method=\"GET\",status=\"200\",user_id=\"10000\"} "));
    assert_non_null(strstr(sb.data, "user_id=\"10009\""));
    keys_t k = {0};
    lg_gen_foreach(g, collect, &k);
    qsort(k.keys, k.n, sizeof *k.keys, cmpstr);
    for (size_t i = 1; i < k.n; i++) assert_int_not_equal(strcmp(k.keys[i - 1], k.keys[i]), 0);
    keys_free(&k);
    lg_gen_free(g);

    c.scenario = LG_SCN_SESSION_ID;
    c.series_count = 100;
    g = gen_with(&c);
    keys_t s0 = {0}, s1 = {0};
    lg_gen_foreach(g, collect, &s0);
    lg_gen_tick_series(g);
    lg_gen_foreach(g, collect, &s1);
    assert_int_equal(s0.n, 100);
    assert_int_equal(count_common(&s0, &s1), 0); /* new sessions every cycle */
    keys_free(&s0);
    keys_free(&s1);
    lg_gen_free(g);

    c.scenario = LG_SCN_HISTOGRAM_BUCKETS;
    c.histogram_buckets = 60;
    c.series_count = 10;
    g = gen_with(&c);
    assert_int_equal(lg_gen_exposed_series(g), 10 * 63);
    strbuf_reset(&sb);
    lg_gen_render(g, TEXTPARSE_OPENMETRICS, -1, false, &sb);
    assert_int_equal(parse_count(sb.data, sb.len, TEXTPARSE_OPENMETRICS, "http_request_duration_seconds_bucket"), 630);
    strbuf_free(&sb);
    lg_gen_free(g);
}

static void test_config_errors(void **state) {
    (void)state;
    lg_config_t c;
    lg_config_defaults(&c);
    pl_err_t err = {{0}};
    assert_int_equal(lg_config_add_const_label(&c, "novalue", &err), -1);
    assert_non_null(strstr(err.msg, "labelName=labelValue"));
    assert_int_equal(lg_config_add_const_label(&c, "a=b=c", &err), -1);
    assert_int_equal(lg_config_add_const_label(&c, "1bad=x", &err), -1);
    assert_int_equal(lg_config_add_const_label(&c, "cycle_id=x", &err), 0);
    assert_int_equal(lg_config_validate(&c, &err), -1);
    assert_non_null(strstr(err.msg, "clashes"));
    lg_config_free(&c);
    lg_config_defaults(&c);
    c.min_series_count = 2000;
    assert_int_equal(lg_config_validate(&c, &err), -1);
    assert_non_null(strstr(err.msg, "--max-series-count"));
    lg_config_defaults(&c);
    c.mode = LG_MODE_SPIKE;
    c.spike_multiplier = 0.5;
    assert_int_equal(lg_config_validate(&c, &err), -1);
    enum lg_mode m;
    assert_int_equal(lg_parse_mode("double-halve", &m), 0);
    assert_int_equal(m, LG_MODE_DOUBLE_HALVE);
    assert_int_equal(lg_parse_mode("triple", &m), -1);
    enum lg_scenario s;
    assert_int_equal(lg_parse_scenario("http_requests_user_id", &s), 0);
    assert_int_equal(lg_parse_scenario("nope", &s), -1);
}

static void test_flags_like_avalanche(void **state) {
    (void)state;
    flag_def_t d[48];
    size_t n = lg_gen_flag_defs(d);
    char *argv[] = {"--gauge-metric-count=3", "--series-count", "4", "--const-label=a=b", "--const-label=c=d",
                    "--series-operation-mode=spike", "--spike-multiplier=2"};
    pl_err_t err = {{0}};
    assert_int_equal(flags_parse(d, n, 7, argv, NULL, NULL, &err), 0);
    lg_config_t c;
    lg_config_defaults(&c);
    assert_int_equal(lg_config_from_flags(d, n, &c, &err), 0);
    assert_int_equal(c.gauge_count, 3);
    assert_int_equal(c.series_count, 4);
    assert_int_equal(c.nconst, 2);
    assert_int_equal(c.mode, LG_MODE_SPIKE);
    assert_true(c.spike_multiplier == 2);
    lg_config_free(&c);
    flags_free(d, n);
    /* the deprecated --metric-count together with --gauge-metric-count is refused, as avalanche does */
    n = lg_gen_flag_defs(d);
    char *argv2[] = {"--metric-count=3", "--gauge-metric-count=4"};
    assert_int_equal(flags_parse(d, n, 2, argv2, NULL, NULL, &err), 0);
    lg_config_defaults(&c);
    assert_int_equal(lg_config_from_flags(d, n, &c, &err), -1);
    assert_non_null(strstr(err.msg, "deprecated"));
    lg_config_free(&c);
    flags_free(d, n);
}

PL_TEST_MAIN(cmocka_unit_test(test_defaults_are_avalanche), cmocka_unit_test(test_first_line_shape),
             cmocka_unit_test(test_counts_every_type), cmocka_unit_test(test_churn_replaces_every_series),
             cmocka_unit_test(test_metric_cycle_renames), cmocka_unit_test(test_modes), cmocka_unit_test(test_scenarios),
             cmocka_unit_test(test_config_errors), cmocka_unit_test(test_flags_like_avalanche))
