/* test_head.c — the in-memory head: append rules, selection with every
 * matcher type, ordering, chunk cutting, stats, a 50k-series comparison with
 * a brute-force model, concurrent appenders and readers, and the memory
 * building blocks underneath (slabs, paged arrays, big blocks). */
#include <math.h>
#include <pthread.h>

#include "model/labels.h"
#include "model/matcher.h"
#include "testutil.h"
#include "tsdb/chunkenc.h"
#include "tsdb/head.h"
#include "tsdb/headmem.h"
#include "util/strbuf.h"

static uint64_t rng = 0x243f6a8885a308d3ULL;
static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint64_t bits_of(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static double from_bits(uint64_t b) {
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

/* ---- result collection ------------------------------------------------- */

typedef struct got_series {
    char *labels; /* {a="b", ...} */
    sample_t *s;
    size_t n;
} got_series_t;

typedef struct got {
    got_series_t *v;
    size_t n, cap;
    label_t *prev; /* labels of the previous series, to check the order */
    size_t prev_n;
    strbuf_t prev_store;
    int stop_after; /* return 7 after this many series (0 = never) */
} got_t;

static char *fmt_labels(const label_t *ls, size_t n) {
    strbuf_t sb = STRBUF_INIT;
    labels_format_braces(&sb, ls, n);
    return strbuf_detach(&sb);
}

static int collect(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    got_t *g = ctx;
    assert_true(ns > 0);
    for (size_t i = 1; i < ns; i++) assert_true(s[i - 1].t < s[i].t);
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 16;
        g->v = realloc(g->v, g->cap * sizeof *g->v);
    }
    got_series_t *gs = &g->v[g->n++];
    gs->labels = fmt_labels(ls, n);
    gs->s = malloc(ns * sizeof *s);
    memcpy(gs->s, s, ns * sizeof *s);
    gs->n = ns;
    /* Output is sorted by label set. */
    if (g->prev) assert_true(labels_compare(g->prev, g->prev_n, ls, n) < 0);
    free(g->prev);
    g->prev = malloc(n * sizeof *ls);
    memcpy(g->prev, ls, n * sizeof *ls); /* strings live as long as the head */
    g->prev_n = n;
    if (g->stop_after && (int)g->n == g->stop_after) return 7;
    return 0;
}

static void got_free(got_t *g) {
    for (size_t i = 0; i < g->n; i++) {
        free(g->v[i].labels);
        free(g->v[i].s);
    }
    free(g->v);
    free(g->prev);
    memset(g, 0, sizeof *g);
}

/* Runs a selector string through head_select. */
static int sel(head_t *h, const char *selector, int64_t mint, int64_t maxt, got_t *g) {
    matcher_t *ms;
    size_t n;
    pl_err_t err;
    int rc = selector_parse(selector, &ms, &n, &err);
    if (rc != 0) fail_msg("selector %s: %s", selector, err.msg);
    memset(g, 0, sizeof *g);
    rc = head_select(h, ms, n, mint, maxt, collect, g, &err);
    matchers_free(ms, n);
    return rc;
}

/* Checks the selector returns exactly the label sets in want (sorted). */
static void expect(head_t *h, const char *selector, const char *const *want, size_t nwant) {
    got_t g;
    assert_int_equal(sel(h, selector, INT64_MIN, INT64_MAX, &g), 0);
    if (g.n != nwant) {
        for (size_t i = 0; i < g.n; i++) print_message("got %s\n", g.v[i].labels);
        fail_msg("%s: got %zu series, want %zu", selector, g.n, nwant);
    }
    for (size_t i = 0; i < nwant; i++) assert_string_equal(g.v[i].labels, want[i]);
    got_free(&g);
}

/* Like expect, with matchers given directly (selector_parse refuses sets in
 * which every matcher matches "", which head_select handles). */
typedef struct mspec {
    enum matcher_type type;
    const char *name, *value;
} mspec_t;

static void expect_m(head_t *h, const mspec_t *spec, size_t nspec, const char *const *want, size_t nwant) {
    matcher_t ms[4];
    pl_err_t err;
    for (size_t i = 0; i < nspec; i++)
        assert_int_equal(matcher_init(&ms[i], spec[i].type, spec[i].name, spec[i].value, &err), 0);
    got_t g = {0};
    assert_int_equal(head_select(h, ms, nspec, INT64_MIN, INT64_MAX, collect, &g, &err), 0);
    if (g.n != nwant) {
        for (size_t i = 0; i < g.n; i++) print_message("got %s\n", g.v[i].labels);
        fail_msg("%s%s\"%s\": got %zu series, want %zu", spec[0].name, matcher_type_str(spec[0].type), spec[0].value,
                 g.n, nwant);
    }
    for (size_t i = 0; i < nwant; i++) assert_string_equal(g.v[i].labels, want[i]);
    got_free(&g);
    for (size_t i = 0; i < nspec; i++) matcher_free(&ms[i]);
}

#define L(...) ((label_t[]){__VA_ARGS__})
#define NL(...) (sizeof((label_t[]){__VA_ARGS__}) / sizeof(label_t))
#define APPEND(h, t, v, ...) head_append(h, L(__VA_ARGS__), NL(__VA_ARGS__), t, v, NULL, NULL)
#define EXPECT(h, sel, ...)                                        \
    do {                                                           \
        static const char *const w_[] = {__VA_ARGS__};             \
        expect(h, sel, w_, sizeof w_ / sizeof w_[0]);              \
    } while (0)
#define EXPECT_NONE(h, sel) expect(h, sel, NULL, 0)
#define M(...) ((const mspec_t[]){__VA_ARGS__}), (sizeof((mspec_t[]){__VA_ARGS__}) / sizeof(mspec_t))
#define EXPECT_M(h, spec, ...)                                     \
    do {                                                           \
        static const char *const w_[] = {__VA_ARGS__};             \
        expect_m(h, spec, w_, sizeof w_ / sizeof w_[0]);           \
    } while (0)

/* ---- tests ------------------------------------------------------------- */

static void test_append_and_refs(void **state) {
    (void)state;
    head_t *h = head_new();
    assert_non_null(h);
    series_ref_t r1 = 0, r2 = 0, r3 = 0;
    bool created = false;
    assert_int_equal(head_append(h, L({"__name__", "up"}, {"job", "a"}), 2, 1000, 1, &r1, &created), HEAD_OK);
    assert_true(created);
    assert_true(r1 != 0);
    assert_int_equal(head_append(h, L({"__name__", "up"}, {"job", "a"}), 2, 2000, 1, &r2, &created), HEAD_OK);
    assert_false(created);
    assert_int_equal(r1, r2);
    assert_int_equal(head_append(h, L({"__name__", "up"}, {"job", "b"}), 2, 1000, 0, &r3, &created), HEAD_OK);
    assert_true(created);
    assert_true(r3 != r1);
    assert_int_equal(head_append_ref(h, r1, 3000, 0), HEAD_OK);
    assert_int_equal(head_append_ref(h, 0, 3000, 0), HEAD_ERR_NOT_FOUND);
    assert_int_equal(head_append_ref(h, r3 + 1, 3000, 0), HEAD_ERR_NOT_FOUND);
    assert_int_equal(head_append_ref(h, UINT64_MAX, 3000, 0), HEAD_ERR_NOT_FOUND);
    assert_int_equal(head_append_ref(h, (series_ref_t)1 << 40, 3000, 0), HEAD_ERR_NOT_FOUND);

    got_t g;
    assert_int_equal(sel(h, "up", INT64_MIN, INT64_MAX, &g), 0);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.v[0].labels, "{__name__=\"up\", job=\"a\"}");
    assert_int_equal(g.v[0].n, 3);
    assert_int_equal(g.v[0].s[0].t, 1000);
    assert_int_equal(g.v[0].s[2].t, 3000);
    assert_true(g.v[0].s[2].v == 0);
    assert_string_equal(g.v[1].labels, "{__name__=\"up\", job=\"b\"}");
    assert_int_equal(g.v[1].n, 1);
    got_free(&g);

    head_stats_t st;
    head_get_stats(h, &st);
    assert_int_equal(st.num_series, 2);
    assert_int_equal(st.series_created, 2);
    assert_int_equal(st.samples_appended, 4);
    assert_int_equal(st.num_chunks, 2);
    assert_int_equal(st.min_time, 1000);
    assert_int_equal(st.max_time, 3000);
    assert_int_equal(st.num_symbols, 5); /* __name__ up job a b */
    head_free(h);
}

static void labels_cb(void *ctx, const label_t *ls, size_t n) { *(char **)ctx = fmt_labels(ls, n); }

static void test_series_labels(void **state) {
    (void)state;
    head_t *h = head_new();
    series_ref_t ref;
    assert_int_equal(head_append(h, L({"__name__", "m"}, {"a", "1"}, {"b", "2"}), 3, 1, 1, &ref, NULL), HEAD_OK);
    char *s = NULL;
    assert_int_equal(head_series_labels(h, ref, labels_cb, &s), HEAD_OK);
    assert_string_equal(s, "{__name__=\"m\", a=\"1\", b=\"2\"}");
    free(s);
    assert_int_equal(head_series_labels(h, ref + 1, labels_cb, &s), HEAD_ERR_NOT_FOUND);
    assert_int_equal(head_series_labels(h, 0, labels_cb, &s), HEAD_ERR_NOT_FOUND);
    head_free(h);
}

static void test_invalid_label_sets(void **state) {
    (void)state;
    head_t *h = head_new();
    bool created = true;
    series_ref_t ref = 0;
    /* unsorted */
    assert_int_equal(head_append(h, L({"job", "a"}, {"__name__", "up"}), 2, 1, 1, &ref, &created), HEAD_ERR_INVALID);
    assert_false(created);
    /* duplicate names */
    assert_int_equal(APPEND(h, 1, 1, {"__name__", "up"}, {"job", "a"}, {"job", "b"}), HEAD_ERR_INVALID);
    /* no __name__ */
    assert_int_equal(APPEND(h, 1, 1, {"job", "a"}), HEAD_ERR_INVALID);
    /* empty __name__ value: dropped, so no name */
    assert_int_equal(APPEND(h, 1, 1, {"__name__", ""}, {"job", "a"}), HEAD_ERR_INVALID);
    /* empty label name */
    assert_int_equal(APPEND(h, 1, 1, {"", "x"}, {"__name__", "up"}), HEAD_ERR_INVALID);
    /* NULL strings and empty sets */
    assert_int_equal(APPEND(h, 1, 1, {"__name__", NULL}), HEAD_ERR_INVALID);
    assert_int_equal(head_append(h, NULL, 0, 1, 1, NULL, NULL), HEAD_ERR_INVALID);
    assert_int_equal(head_append(h, L({"__name__", "up"}), 0, 1, 1, NULL, NULL), HEAD_ERR_INVALID);
    head_stats_t st;
    head_get_stats(h, &st);
    assert_int_equal(st.num_series, 0);
    assert_int_equal(st.samples_appended, 0);
    assert_int_equal(st.min_time, INT64_MAX);
    assert_int_equal(st.max_time, INT64_MIN);
    head_free(h);
}

static void test_empty_values_dropped(void **state) {
    (void)state;
    head_t *h = head_new();
    series_ref_t r1, r2;
    bool created;
    assert_int_equal(head_append(h, L({"__name__", "m"}, {"a", ""}, {"b", "x"}), 3, 1, 1, &r1, &created), HEAD_OK);
    assert_true(created);
    assert_int_equal(head_append(h, L({"__name__", "m"}, {"b", "x"}), 2, 2, 1, &r2, &created), HEAD_OK);
    assert_false(created);
    assert_int_equal(r1, r2);
    EXPECT(h, "m", "{__name__=\"m\", b=\"x\"}");
    EXPECT(h, "{a=\"\", __name__=\"m\"}", "{__name__=\"m\", b=\"x\"}");
    /* Many labels with empties (the heap copy path). */
    label_t many[40];
    char names[40][16];
    many[0] = (label_t){"__name__", "wide"};
    for (int i = 1; i < 40; i++) {
        snprintf(names[i], sizeof names[i], "l%02d", i);
        many[i] = (label_t){names[i], i % 2 ? "" : "v"};
    }
    assert_int_equal(head_append(h, many, 40, 1, 1, &r1, &created), HEAD_OK);
    assert_true(created);
    got_t g;
    assert_int_equal(sel(h, "wide", INT64_MIN, INT64_MAX, &g), 0);
    assert_int_equal(g.n, 1);
    assert_non_null(strstr(g.v[0].labels, "l02=\"v\""));
    assert_null(strstr(g.v[0].labels, "l01"));
    got_free(&g);
    head_free(h);
}

static void test_out_of_order_and_duplicates(void **state) {
    (void)state;
    head_t *h = head_new();
    series_ref_t ref;
    assert_int_equal(head_append(h, L({"__name__", "m"}), 1, 100, 1.0, &ref, NULL), HEAD_OK);
    assert_int_equal(head_append_ref(h, ref, 100, 1.0), HEAD_OK);              /* same t, same v: ignored */
    assert_int_equal(head_append_ref(h, ref, 100, 2.0), HEAD_ERR_DUPLICATE);   /* same t, other v */
    assert_int_equal(head_append_ref(h, ref, 99, 1.0), HEAD_ERR_OUT_OF_ORDER); /* older */
    assert_int_equal(head_append(h, L({"__name__", "m"}), 1, 50, 1.0, NULL, NULL), HEAD_ERR_OUT_OF_ORDER);
    assert_int_equal(head_append_ref(h, ref, 101, 2.0), HEAD_OK);
    /* NaNs are compared by bits: the stale marker is not Go's NaN. */
    assert_int_equal(head_append_ref(h, ref, 102, pl_stale_nan()), HEAD_OK);
    assert_int_equal(head_append_ref(h, ref, 102, pl_stale_nan()), HEAD_OK);
    assert_int_equal(head_append_ref(h, ref, 102, from_bits(0x7ff8000000000001ULL)), HEAD_ERR_DUPLICATE);
    /* -0 and +0 differ as bit patterns too. */
    assert_int_equal(head_append_ref(h, ref, 103, 0.0), HEAD_OK);
    assert_int_equal(head_append_ref(h, ref, 103, -0.0), HEAD_ERR_DUPLICATE);
    head_stats_t st;
    head_get_stats(h, &st);
    assert_int_equal(st.samples_appended, 4);
    assert_int_equal(st.duplicate_samples, 3);
    assert_int_equal(st.out_of_order_samples, 2);
    got_t g;
    assert_int_equal(sel(h, "m", INT64_MIN, INT64_MAX, &g), 0);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.v[0].n, 4);
    assert_true(g.v[0].s[0].v == 1.0 && g.v[0].s[1].v == 2.0);
    assert_int_equal(bits_of(g.v[0].s[2].v), PL_STALE_NAN_BITS);
    assert_int_equal(bits_of(g.v[0].s[3].v), 0);
    got_free(&g);
    head_free(h);
}

static void test_nan_payloads_exact(void **state) {
    (void)state;
    head_t *h = head_new();
    static const uint64_t pats[] = {PL_STALE_NAN_BITS,     0x7ff8000000000001ULL, 0xfff8000000000000ULL,
                                    0x7ff0000000000000ULL, 0xfff0000000000000ULL, 0x7fffffffffffffffULL,
                                    PL_STALE_NAN_BITS,     0x8000000000000000ULL, 0x0000000000000001ULL};
    series_ref_t ref = 0;
    for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++) {
        int rc = i == 0 ? head_append(h, L({"__name__", "nan"}), 1, 10, from_bits(pats[0]), &ref, NULL)
                        : head_append_ref(h, ref, 10 * (int64_t)(i + 1), from_bits(pats[i]));
        assert_int_equal(rc, HEAD_OK);
    }
    got_t g;
    assert_int_equal(sel(h, "nan", INT64_MIN, INT64_MAX, &g), 0);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.v[0].n, sizeof pats / sizeof pats[0]);
    for (size_t i = 0; i < g.v[0].n; i++) assert_int_equal(bits_of(g.v[0].s[i].v), pats[i]);
    assert_true(pl_is_stale_nan(g.v[0].s[0].v));
    got_free(&g);
    head_free(h);
}

/* A small fixed data set for the matcher semantics. */
static head_t *matcher_fixture(void) {
    head_t *h = head_new();
    assert_int_equal(APPEND(h, 10, 1, {"__name__", "up"}, {"env", "prod"}, {"job", "api"}), HEAD_OK);
    assert_int_equal(APPEND(h, 10, 1, {"__name__", "up"}, {"env", "dev"}, {"job", "api"}), HEAD_OK);
    assert_int_equal(APPEND(h, 10, 1, {"__name__", "up"}, {"job", "db"}), HEAD_OK);
    assert_int_equal(APPEND(h, 10, 1, {"__name__", "up"}), HEAD_OK);
    assert_int_equal(APPEND(h, 10, 1, {"__name__", "errors"}, {"env", "prod"}), HEAD_OK);
    return h;
}

#define S_UP "{__name__=\"up\"}"
#define S_UP_DB "{__name__=\"up\", job=\"db\"}"
#define S_UP_DEV "{__name__=\"up\", env=\"dev\", job=\"api\"}"
#define S_UP_PROD "{__name__=\"up\", env=\"prod\", job=\"api\"}"
#define S_ERR "{__name__=\"errors\", env=\"prod\"}"

static void test_matchers_equal(void **state) {
    (void)state;
    head_t *h = matcher_fixture();
    EXPECT(h, "up", S_UP, S_UP_DEV, S_UP_PROD, S_UP_DB);
    EXPECT(h, "{job=\"api\"}", S_UP_DEV, S_UP_PROD);
    EXPECT(h, "{env=\"prod\"}", S_ERR, S_UP_PROD);
    EXPECT(h, "up{env=\"prod\", job=\"api\"}", S_UP_PROD);
    EXPECT_NONE(h, "up{env=\"staging\"}"); /* unknown value */
    EXPECT_NONE(h, "{nope=\"x\"}");        /* unknown name */
    EXPECT_NONE(h, "nope");
    /* ="" selects series lacking the label. */
    EXPECT(h, "up{job=\"\"}", S_UP);
    EXPECT(h, "up{env=\"\"}", S_UP, S_UP_DB);
    EXPECT(h, "{__name__=~\".+\", nope=\"\"}", S_ERR, S_UP, S_UP_DEV, S_UP_PROD, S_UP_DB);
    head_free(h);
}

static void test_matchers_not_equal(void **state) {
    (void)state;
    head_t *h = matcher_fixture();
    /* != also selects series lacking the label. */
    EXPECT(h, "up{job!=\"api\"}", S_UP, S_UP_DB);
    EXPECT(h, "up{env!=\"prod\"}", S_UP, S_UP_DEV, S_UP_DB);
    EXPECT(h, "{env!=\"prod\", __name__=\"up\"}", S_UP, S_UP_DEV, S_UP_DB);
    /* != "" means the label is present. */
    EXPECT(h, "{env!=\"\"}", S_ERR, S_UP_DEV, S_UP_PROD);
    EXPECT(h, "up{job!=\"\"}", S_UP_DEV, S_UP_PROD, S_UP_DB);
    /* unknown name / value: no effect */
    EXPECT(h, "errors{nope!=\"x\"}", S_ERR);
    EXPECT(h, "errors{env!=\"zzz\"}", S_ERR);
    /* only negative matchers: start from every series */
    EXPECT_M(h, M({MATCH_NOT_EQUAL, "job", "api"}), S_ERR, S_UP, S_UP_DB);
    EXPECT_M(h, M({MATCH_NOT_EQUAL, "job", "api"}, {MATCH_EQUAL, "env", ""}), S_UP, S_UP_DB);
    EXPECT_M(h, M({MATCH_EQUAL, "nope", ""}), S_ERR, S_UP, S_UP_DEV, S_UP_PROD, S_UP_DB);
    head_free(h);
}

static void test_matchers_regex(void **state) {
    (void)state;
    head_t *h = matcher_fixture();
    EXPECT(h, "{job=~\"api|db\"}", S_UP_DEV, S_UP_PROD, S_UP_DB);
    EXPECT(h, "{job=~\"d.*\"}", S_UP_DB);
    EXPECT_NONE(h, "{job=~\"a\"}"); /* anchored: "a" does not match "api" */
    EXPECT(h, "{__name__=~\"up|errors\", env=~\"p.*\"}", S_ERR, S_UP_PROD);
    /* A regex matching "" also selects series lacking the label. */
    EXPECT(h, "up{env=~\"prod|\"}", S_UP, S_UP_PROD, S_UP_DB);
    EXPECT(h, "up{env=~\".*\"}", S_UP, S_UP_DEV, S_UP_PROD, S_UP_DB);
    EXPECT_M(h, M({MATCH_REGEX, "env", "dev|"}), S_UP, S_UP_DEV, S_UP_DB);
    EXPECT(h, "up{env=~\".+\"}", S_UP_DEV, S_UP_PROD);
    EXPECT(h, "{__name__=~\".*rr.*\"}", S_ERR);
    head_free(h);
}

static void test_matchers_not_regex(void **state) {
    (void)state;
    head_t *h = matcher_fixture();
    /* !~ that does not match "" (regex fails on "") keeps series lacking the label. */
    EXPECT(h, "up{env!~\"prod\"}", S_UP, S_UP_DEV, S_UP_DB);
    EXPECT(h, "up{env!~\"p.*|d.*\"}", S_UP, S_UP_DB);
    /* !~ whose regex matches "": series lacking the label are dropped. */
    EXPECT(h, "up{env!~\"|prod\"}", S_UP_DEV);
    EXPECT(h, "up{env!~\"\"}", S_UP_DEV, S_UP_PROD);
    EXPECT_NONE(h, "up{env!~\".*\"}");
    EXPECT_M(h, M({MATCH_NOT_REGEX, "__name__", "up"}), S_ERR);
    EXPECT_M(h, M({MATCH_NOT_REGEX, "job", "a.*"}), S_ERR, S_UP, S_UP_DB);
    head_free(h);
}

static void test_range_bounds(void **state) {
    (void)state;
    head_t *h = head_new();
    series_ref_t a, b;
    assert_int_equal(head_append(h, L({"__name__", "a"}), 1, 10, 1, &a, NULL), HEAD_OK);
    assert_int_equal(head_append(h, L({"__name__", "b"}), 1, 100, 1, &b, NULL), HEAD_OK);
    for (int t = 20; t <= 50; t += 10) assert_int_equal(head_append_ref(h, a, t, t), HEAD_OK);
    got_t g;
    assert_int_equal(sel(h, "{__name__=~\"a|b\"}", 20, 40, &g), 0); /* inclusive at both ends */
    assert_int_equal(g.n, 1);                                       /* b has nothing in range: skipped */
    assert_int_equal(g.v[0].n, 3);
    assert_int_equal(g.v[0].s[0].t, 20);
    assert_int_equal(g.v[0].s[2].t, 40);
    got_free(&g);
    assert_int_equal(sel(h, "a", 21, 39, &g), 0);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.v[0].n, 1);
    assert_int_equal(g.v[0].s[0].t, 30);
    got_free(&g);
    assert_int_equal(sel(h, "a", 41, 49, &g), 0);
    assert_int_equal(g.n, 0);
    got_free(&g);
    assert_int_equal(sel(h, "a", 50, 50, &g), 0);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.v[0].n, 1);
    got_free(&g);
    assert_int_equal(sel(h, "a", 40, 30, &g), 0); /* empty range */
    assert_int_equal(g.n, 0);
    got_free(&g);
    assert_int_equal(sel(h, "{__name__=~\"a|b\"}", 50, 100, &g), 0);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.v[0].n, 1);
    assert_int_equal(g.v[1].n, 1);
    got_free(&g);
    head_free(h);
}

static void test_select_errors_and_stop(void **state) {
    (void)state;
    head_t *h = matcher_fixture();
    pl_err_t err;
    got_t g = {0};
    assert_int_equal(head_select(h, NULL, 0, 0, 100, collect, &g, &err), -1);
    assert_non_null(strstr(err.msg, "matcher"));
    /* fn's non-zero value stops the walk and is returned. */
    g.stop_after = 2;
    matcher_t m;
    assert_int_equal(matcher_init(&m, MATCH_EQUAL, "__name__", "up", &err), 0);
    assert_int_equal(head_select(h, &m, 1, INT64_MIN, INT64_MAX, collect, &g, &err), 7);
    assert_int_equal(g.n, 2);
    matcher_free(&m);
    got_free(&g);
    head_free(h);
}

static void test_sorted_output(void **state) {
    (void)state;
    head_t *h = head_new();
    enum { N = 3000 };
    /* Inserted in a scrambled order; names and values of varied lengths so
     * that id order and string order disagree. */
    for (int k = 0; k < N; k++) {
        int i = (int)((k * 7919u) % N);
        char name[32], inst[32], zone[16];
        snprintf(name, sizeof name, "metric_%d", i % 13);
        snprintf(inst, sizeof inst, "host-%d", (i * 31) % 997);
        snprintf(zone, sizeof zone, "z%d", i % 3);
        label_t ls[4] = {{"__name__", name}, {"instance", inst}, {"seq", NULL}, {"zone", zone}};
        char seq[16];
        snprintf(seq, sizeof seq, "%d", i);
        ls[2].value = seq;
        if (i % 5 == 0) ls[3].value = ""; /* some lack zone */
        assert_int_equal(head_append(h, ls, 4, 1000, i, NULL, NULL), HEAD_OK);
    }
    got_t g;
    assert_int_equal(sel(h, "{__name__=~\"metric_.*\"}", INT64_MIN, INT64_MAX, &g), 0); /* collect checks order */
    assert_int_equal(g.n, N);
    got_free(&g);
    /* Only a negative matcher: every series is a candidate. */
    matcher_t m;
    pl_err_t err;
    assert_int_equal(matcher_init(&m, MATCH_NOT_EQUAL, "zone", "z1", &err), 0);
    memset(&g, 0, sizeof g);
    assert_int_equal(head_select(h, &m, 1, INT64_MIN, INT64_MAX, collect, &g, &err), 0);
    assert_int_equal(g.n, N - N / 3 + N / 15); /* z1 is i % 3 == 1, minus those with i % 5 == 0 */
    matcher_free(&m);
    got_free(&g);
    head_free(h);
}

typedef struct chunk_seen {
    int n;
    int64_t mint[16], maxt[16];
    uint16_t count[16];
    size_t len[16];
    int64_t last_t;
    bool decoded_ok;
} chunk_seen_t;

static void chunk_cb(void *ctx, int64_t mint, int64_t maxt, const uint8_t *data, size_t len) {
    chunk_seen_t *c = ctx;
    assert_true(c->n < 16);
    c->mint[c->n] = mint;
    c->maxt[c->n] = maxt;
    c->count[c->n] = xor_chunk_count_bytes(data);
    c->len[c->n] = len;
    /* The bytes are a complete XOR chunk whose range is [mint, maxt]. */
    xor_iter_t it;
    xor_iter_init(&it, data, len);
    int64_t t = 0, first = 0;
    uint16_t n = 0;
    while (xor_iter_next(&it)) {
        xor_iter_at(&it, &t, NULL);
        if (n == 0) first = t;
        assert_true(t > c->last_t);
        c->last_t = t;
        n++;
    }
    if (xor_iter_err(&it) || n != c->count[c->n] || first != mint || t != maxt) c->decoded_ok = false;
    c->n++;
}

static void test_chunk_cutting(void **state) {
    (void)state;
    head_t *h = head_new();
    series_ref_t ref;
    /* 250 samples 15 s apart: 120 + 120 + 10. */
    assert_int_equal(head_append(h, L({"__name__", "c"}), 1, 0, 0, &ref, NULL), HEAD_OK);
    for (int i = 1; i < 250; i++) assert_int_equal(head_append_ref(h, ref, i * 15000LL, i % 7), HEAD_OK);
    chunk_seen_t cs = {.last_t = INT64_MIN, .decoded_ok = true};
    assert_int_equal(head_series_chunks(h, ref, chunk_cb, &cs), HEAD_OK);
    assert_true(cs.decoded_ok);
    assert_int_equal(cs.n, 3);
    assert_int_equal(cs.count[0], 120);
    assert_int_equal(cs.count[1], 120);
    assert_int_equal(cs.count[2], 10);
    assert_int_equal(cs.mint[0], 0);
    assert_int_equal(cs.maxt[0], 119 * 15000LL);
    assert_int_equal(cs.mint[1], 120 * 15000LL);
    assert_int_equal(cs.maxt[2], 249 * 15000LL);
    head_stats_t st;
    head_get_stats(h, &st);
    assert_int_equal(st.num_chunks, 3);
    /* Selecting across chunk borders returns every sample once, in order. */
    got_t g;
    assert_int_equal(sel(h, "c", 100 * 15000LL, 130 * 15000LL, &g), 0);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.v[0].n, 31);
    for (size_t i = 0; i < 31; i++) {
        assert_int_equal(g.v[0].s[i].t, (int64_t)(100 + i) * 15000);
        assert_true(g.v[0].s[i].v == (double)((100 + i) % 7));
    }
    got_free(&g);
    assert_int_equal(head_series_chunks(h, ref + 1, chunk_cb, &cs), HEAD_ERR_NOT_FOUND);

    /* A chunk never straddles a 2h boundary. */
    const int64_t two_h = 7200000;
    assert_int_equal(head_append(h, L({"__name__", "b"}), 1, two_h - 30000, 1, &ref, NULL), HEAD_OK);
    assert_int_equal(head_append_ref(h, ref, two_h - 15000, 2), HEAD_OK);
    assert_int_equal(head_append_ref(h, ref, two_h, 3), HEAD_OK);
    assert_int_equal(head_append_ref(h, ref, two_h + 15000, 4), HEAD_OK);
    memset(&cs, 0, sizeof cs);
    cs.last_t = INT64_MIN;
    cs.decoded_ok = true;
    assert_int_equal(head_series_chunks(h, ref, chunk_cb, &cs), HEAD_OK);
    assert_true(cs.decoded_ok);
    assert_int_equal(cs.n, 2);
    assert_int_equal(cs.count[0], 2);
    assert_int_equal(cs.mint[1], two_h);
    /* Negative timestamps use floor division for the boundary. */
    assert_int_equal(head_append(h, L({"__name__", "neg"}), 1, -15000, 1, &ref, NULL), HEAD_OK);
    assert_int_equal(head_append_ref(h, ref, 0, 2), HEAD_OK);
    memset(&cs, 0, sizeof cs);
    cs.last_t = INT64_MIN;
    cs.decoded_ok = true;
    assert_int_equal(head_series_chunks(h, ref, chunk_cb, &cs), HEAD_OK);
    assert_int_equal(cs.n, 2);

    /* Incompressible values hit the 1024-byte cap before 120 samples. */
    assert_int_equal(head_append(h, L({"__name__", "noise"}), 1, 0, 0.5, &ref, NULL), HEAD_OK);
    /* ~10 bytes a sample: a 14-bit dod and a full-width XOR each time. */
    int64_t nt = 0;
    for (int i = 1; i < 300; i++) {
        nt += 1 + (int64_t)(rnd() % 5000);
        assert_int_equal(head_append_ref(h, ref, nt, from_bits(rnd() & 0x7fefffffffffffffULL)), HEAD_OK);
    }
    memset(&cs, 0, sizeof cs);
    cs.last_t = INT64_MIN;
    cs.decoded_ok = true;
    assert_int_equal(head_series_chunks(h, ref, chunk_cb, &cs), HEAD_OK);
    assert_true(cs.decoded_ok);
    assert_true(cs.n >= 3);
    assert_true(cs.count[0] < 120);
    assert_true(cs.len[0] >= 1024 && cs.len[0] < 1024 + 20);
    int total = 0;
    for (int i = 0; i < cs.n; i++) total += cs.count[i];
    assert_int_equal(total, 300);
    head_free(h);
}

typedef struct str_seen {
    char buf[512];
    int stop_at;
    int n;
} str_seen_t;

static int str_cb(void *ctx, const char *s) {
    str_seen_t *ss = ctx;
    strncat(ss->buf, s, sizeof ss->buf - strlen(ss->buf) - 2);
    strcat(ss->buf, ",");
    return ++ss->n == ss->stop_at ? 3 : 0;
}

static void test_label_names_values(void **state) {
    (void)state;
    head_t *h = matcher_fixture();
    str_seen_t ss = {0};
    assert_int_equal(head_label_names(h, str_cb, &ss), 0);
    assert_string_equal(ss.buf, "__name__,env,job,");
    memset(&ss, 0, sizeof ss);
    assert_int_equal(head_label_values(h, "job", str_cb, &ss), 0);
    assert_string_equal(ss.buf, "api,db,");
    memset(&ss, 0, sizeof ss);
    assert_int_equal(head_label_values(h, "__name__", str_cb, &ss), 0);
    assert_string_equal(ss.buf, "errors,up,");
    memset(&ss, 0, sizeof ss);
    assert_int_equal(head_label_values(h, "nope", str_cb, &ss), 0);
    assert_string_equal(ss.buf, "");
    /* "prod" is a symbol but not a label name. */
    assert_int_equal(head_label_values(h, "prod", str_cb, &ss), 0);
    assert_string_equal(ss.buf, "");
    memset(&ss, 0, sizeof ss);
    ss.stop_at = 1;
    assert_int_equal(head_label_values(h, "env", str_cb, &ss), 3);
    assert_string_equal(ss.buf, "dev,");
    head_free(h);
}

static void test_stats(void **state) {
    (void)state;
    head_t *h = head_new();
    head_stats_t st;
    head_get_stats(h, &st);
    assert_int_equal(st.num_series, 0);
    assert_int_equal(st.num_chunks, 0);
    assert_int_equal(st.num_symbols, 0);
    assert_true(st.bytes_series > 0);
    for (int i = 0; i < 1000; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        assert_int_equal(APPEND(h, -5000 + i, 1, {"__name__", "m"}, {"id", v}, {"job", "j"}), HEAD_OK);
    }
    head_get_stats(h, &st);
    assert_int_equal(st.num_series, 1000);
    assert_int_equal(st.series_created, 1000);
    assert_int_equal(st.samples_appended, 1000);
    assert_int_equal(st.num_chunks, 1000);
    assert_int_equal(st.num_symbols, 1000 + 5); /* __name__ m id job j + 1000 ids ("1" etc. are distinct) */
    assert_int_equal(st.min_time, -5000);
    assert_int_equal(st.max_time, -4001);
    assert_true(st.bytes_symbols > 1000 * 2);
    assert_true(st.bytes_series >= 1000 * (56 + 3 * 8));
    assert_true(st.bytes_postings >= 1000 * 4);
    assert_true(st.bytes_chunks >= 1000 * 20);
    head_free(h);
}

/* ---- many series against a brute-force model --------------------------- */

typedef struct model_series {
    label_t ls[6];
    size_t n;
    sample_t s[4];
    size_t ns;
} model_series_t;

static const char *pick(const char *prefix, int k, char store[][16], int *used) {
    snprintf(store[*used], 16, "%s%d", prefix, k);
    return store[(*used)++];
}

static int cmp_model(const void *a, const void *b) {
    const model_series_t *x = *(model_series_t *const *)a, *y = *(model_series_t *const *)b;
    return labels_compare(x->ls, x->n, y->ls, y->n);
}

static void test_many_series_vs_model(void **state) {
    (void)state;
    enum { N = 50000 };
    head_t *h = head_new();
    model_series_t *ms = calloc(N, sizeof *ms);
    char(*strs)[16] = calloc((size_t)N * 6, 16);
    int used = 0;
    for (int i = 0; i < N; i++) {
        model_series_t *m = &ms[i];
        label_t ls[6];
        size_t n = 0;
        ls[n++] = (label_t){"__name__", pick("m", (int)(rnd() % 10), strs, &used)};
        if (rnd() % 10 < 8) ls[n++] = (label_t){"a", pick("a", (int)(rnd() % 5), strs, &used)};
        if (rnd() % 2) ls[n++] = (label_t){"b", pick("b", (int)(rnd() % 20), strs, &used)};
        if (rnd() % 10 < 3) ls[n++] = (label_t){"c", pick("c", (int)(rnd() % 100), strs, &used)};
        ls[n++] = (label_t){"id", pick("", i, strs, &used)};
        memcpy(m->ls, ls, n * sizeof *ls);
        m->n = n;
        series_ref_t ref;
        int64_t t = (int64_t)(rnd() % 50);
        m->ns = 1 + rnd() % 4;
        for (size_t k = 0; k < m->ns; k++) {
            double v = (double)(rnd() % 1000) / 4;
            m->s[k] = (sample_t){t, v};
            int rc = k == 0 ? head_append(h, m->ls, m->n, t, v, &ref, NULL) : head_append_ref(h, ref, t, v);
            assert_int_equal(rc, HEAD_OK);
            t += 1 + (int64_t)(rnd() % 30);
        }
    }
    head_stats_t st;
    head_get_stats(h, &st);
    assert_int_equal(st.num_series, N);

    static const char *const names[] = {"__name__", "a", "b", "c", "id", "zz"};
    static const char *const regexes[] = {"a1|a3", "b1.*", ".*", ".+", "", "c[0-4]", "m[0-2]", "12.*", "x.*", "a.?"};
    static const char *const plains[] = {"", "a2", "b7", "c42", "m3", "123", "nope"};
    model_series_t **want = malloc(N * sizeof *want);
    for (int q = 0; q < 40; q++) {
        size_t nm = 1 + rnd() % 3;
        matcher_t m[3];
        strbuf_t desc = STRBUF_INIT;
        for (size_t k = 0; k < nm; k++) {
            enum matcher_type type = (enum matcher_type)(rnd() % 4);
            const char *name = names[rnd() % 6];
            const char *value = type >= MATCH_REGEX ? regexes[rnd() % 10] : plains[rnd() % 7];
            pl_err_t err;
            assert_int_equal(matcher_init(&m[k], type, name, value, &err), 0);
            strbuf_printf(&desc, "%s%s\"%s\" ", name, matcher_type_str(type), value);
        }
        int64_t mint = (int64_t)(rnd() % 60), maxt = mint + (int64_t)(rnd() % 80);
        size_t nwant = 0;
        for (int i = 0; i < N; i++) {
            bool ok = true;
            for (size_t k = 0; k < nm && ok; k++) {
                const char *v = labels_get(ms[i].ls, ms[i].n, m[k].name);
                ok = matcher_matches(&m[k], v ? v : "");
            }
            bool any = false;
            for (size_t k = 0; k < ms[i].ns; k++) any |= ms[i].s[k].t >= mint && ms[i].s[k].t <= maxt;
            if (ok && any) want[nwant++] = &ms[i];
        }
        qsort(want, nwant, sizeof *want, cmp_model);
        got_t g = {0};
        pl_err_t err;
        assert_int_equal(head_select(h, m, nm, mint, maxt, collect, &g, &err), 0);
        if (g.n != nwant) fail_msg("query %d [%s] [%lld, %lld]: got %zu, want %zu", q, desc.data, (long long)mint,
                                   (long long)maxt, g.n, nwant);
        for (size_t i = 0; i < nwant; i++) {
            char *wl = fmt_labels(want[i]->ls, want[i]->n);
            assert_string_equal(g.v[i].labels, wl);
            free(wl);
            size_t k = 0;
            for (size_t j = 0; j < want[i]->ns; j++) {
                const sample_t *s = &want[i]->s[j];
                if (s->t < mint || s->t > maxt) continue;
                assert_true(k < g.v[i].n);
                assert_int_equal(g.v[i].s[k].t, s->t);
                assert_true(g.v[i].s[k].v == s->v);
                k++;
            }
            assert_int_equal(k, g.v[i].n);
        }
        got_free(&g);
        for (size_t k = 0; k < nm; k++) matcher_free(&m[k]);
        strbuf_free(&desc);
    }
    free(want);
    free(strs);
    free(ms);
    head_free(h);
}

/* ---- concurrency -------------------------------------------------------- */

enum { CW_THREADS = 4, CW_OWN = 1500, CW_SHARED = 200, CW_ROUNDS = 30, CR_THREADS = 2 };

typedef struct conc {
    head_t *h;
    int idx;
    _Atomic int *writers_left;
    long selects;
    bool regex; /* PCRE keeps per-thread match data that matcher.c never frees at thread exit: regexes run on the main thread only */
} conc_t;

static void *writer(void *arg) {
    conc_t *c = arg;
    series_ref_t *refs = calloc(CW_OWN, sizeof *refs);
    char inst[32], id[32];
    snprintf(inst, sizeof inst, "w%d", c->idx);
    for (int r = 0; r < CW_ROUNDS; r++) {
        int64_t t = (int64_t)r * 15000;
        for (int i = 0; i < CW_OWN; i++) {
            if (r == 0) {
                snprintf(id, sizeof id, "%d", i);
                label_t ls[4] = {{"__name__", "own"}, {"id", id}, {"mod", i % 2 ? "odd" : "even"}, {"w", inst}};
                bool created;
                if (head_append(c->h, ls, 4, t, r, &refs[i], &created) != HEAD_OK || !created) abort();
            } else if (head_append_ref(c->h, refs[i], t, r) != HEAD_OK) {
                abort();
            }
        }
        /* Every writer appends the same samples to the shared series: the
         * first one creates each, the others find it, and repeats of the
         * same (t, v) are accepted. */
        for (int i = 0; i < CW_SHARED; i++) {
            snprintf(id, sizeof id, "%d", i);
            label_t ls[2] = {{"__name__", "shared"}, {"id", id}};
            int rc = head_append(c->h, ls, 2, t, r, NULL, NULL);
            if (rc != HEAD_OK && rc != HEAD_ERR_OUT_OF_ORDER) abort();
        }
    }
    free(refs);
    atomic_fetch_sub(c->writers_left, 1);
    return NULL;
}

typedef struct check_ctx {
    long series;
} check_ctx_t;

static int check_series(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    check_ctx_t *cc = ctx;
    (void)ls;
    (void)n;
    cc->series++;
    for (size_t i = 1; i < ns; i++)
        if (s[i - 1].t >= s[i].t) return 1;
    for (size_t i = 0; i < ns; i++)
        if (s[i].v != (double)(s[i].t / 15000)) return 2;
    return 0;
}

static void *reader(void *arg) {
    conc_t *c = arg;
    pl_err_t err;
    matcher_t m[2];
    matcher_init(&m[0], MATCH_EQUAL, "__name__", "own", &err);
    if (c->regex)
        matcher_init(&m[1], MATCH_REGEX, "mod", "odd|nope", &err);
    else
        matcher_init(&m[1], MATCH_EQUAL, "mod", "odd", &err);
    matcher_t sm;
    matcher_init(&sm, MATCH_NOT_EQUAL, "id", "3", &err);
    for (bool first = true; first || atomic_load(c->writers_left) > 0; first = false) {
        check_ctx_t cc = {0};
        if (head_select(c->h, m, 2, INT64_MIN, INT64_MAX, check_series, &cc, &err) != 0) abort();
        if (cc.series > (long)CW_THREADS * CW_OWN / 2) abort();
        cc.series = 0;
        if (head_select(c->h, &sm, 1, 0, INT64_MAX, check_series, &cc, &err) != 0) abort();
        head_stats_t st;
        head_get_stats(c->h, &st);
        if (st.num_series > (uint64_t)CW_THREADS * CW_OWN + CW_SHARED) abort();
        str_seen_t ss = {0};
        if (head_label_values(c->h, "mod", str_cb, &ss) != 0) abort();
        c->selects++;
    }
    matcher_free(&m[0]);
    matcher_free(&m[1]);
    matcher_free(&sm);
    return NULL;
}

static void test_concurrent_append_and_select(void **state) {
    (void)state;
    head_t *h = head_new();
    _Atomic int left = CW_THREADS;
    pthread_t th[CW_THREADS + CR_THREADS];
    conc_t cs[CW_THREADS + CR_THREADS];
    for (int i = 0; i < CW_THREADS + CR_THREADS; i++) {
        cs[i] = (conc_t){h, i, &left, 0, false};
        assert_int_equal(pthread_create(&th[i], NULL, i < CW_THREADS ? writer : reader, &cs[i]), 0);
    }
    conc_t self = {h, -1, &left, 0, true};
    reader(&self); /* regex selects from this thread while the others run */
    for (int i = 0; i < CW_THREADS + CR_THREADS; i++) pthread_join(th[i], NULL);
    assert_true(self.selects > 0);

    head_stats_t st;
    head_get_stats(h, &st);
    assert_int_equal(st.num_series, CW_THREADS * CW_OWN + CW_SHARED); /* no shared series created twice */
    /* Repeats of the same (t, v) on shared series are not counted. */
    assert_int_equal(st.samples_appended, (uint64_t)CW_THREADS * CW_OWN * CW_ROUNDS + (uint64_t)CW_SHARED * CW_ROUNDS);
    assert_int_equal(st.duplicate_samples, 0);

    /* Every series holds every round exactly once. */
    got_t g;
    assert_int_equal(sel(h, "{__name__=~\"own|shared\"}", INT64_MIN, INT64_MAX, &g), 0);
    assert_int_equal(g.n, CW_THREADS * CW_OWN + CW_SHARED);
    for (size_t i = 0; i < g.n; i++) {
        assert_int_equal(g.v[i].n, CW_ROUNDS);
        for (size_t k = 0; k < CW_ROUNDS; k++) {
            assert_int_equal(g.v[i].s[k].t, (int64_t)k * 15000);
            assert_true(g.v[i].s[k].v == (double)k);
        }
    }
    got_free(&g);
    assert_int_equal(sel(h, "own{w=\"w1\", mod=\"even\"}", INT64_MIN, INT64_MAX, &g), 0);
    assert_int_equal(g.n, CW_OWN / 2);
    got_free(&g);
    head_free(h);
}

/* ---- memory building blocks -------------------------------------------- */

static void test_slab_allocator(void **state) {
    (void)state;
    slab_pool_t pool;
    assert_int_equal(slab_pool_init(&pool, false), 0);
    slab_alloc_t a;
    slab_alloc_init(&a, &pool);
    enum { N = 20000 };
    struct {
        unsigned char *p;
        size_t size;
    } *live = calloc(N, sizeof *live);
    /* Random sizes (some above the largest class), each filled with a
     * pattern that must survive every other allocation and free. */
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < N; i++) {
            if (live[i].p && rnd() % 2) {
                for (size_t k = 0; k < live[i].size; k++) assert_int_equal(live[i].p[k], (unsigned char)(i + k));
                slab_free(&a, live[i].p, live[i].size);
                live[i].p = NULL;
            }
            if (!live[i].p) {
                size_t size = rnd() % 8 ? 1 + rnd() % 700 : 1 + rnd() % 3000;
                live[i].p = slab_malloc(&a, size);
                assert_non_null(live[i].p);
                assert_true(slab_size_class(size) >= size);
                live[i].size = size;
                for (size_t k = 0; k < size; k++) live[i].p[k] = (unsigned char)(i + k);
            }
        }
    }
    size_t held_full = atomic_load(&pool.held_bytes);
    assert_true(held_full > 0);
    for (int i = 0; i < N; i++) {
        for (size_t k = 0; k < live[i].size; k++) assert_int_equal(live[i].p[k], (unsigned char)(i + k));
        slab_free(&a, live[i].p, live[i].size);
    }
    assert_int_equal(atomic_load(&pool.live_bytes), 0);
    assert_int_equal(atomic_load(&pool.large_bytes), 0);
    /* Empty slabs went back: what is left is the per-class slab kept for
     * reuse plus the pool's small reserve. */
    size_t held = atomic_load(&pool.held_bytes);
    assert_true(held <= (SLAB_NCLASSES + 128) * (size_t)SLAB_BYTES);
    assert_true(held < held_full);
    /* Released slabs are reused. */
    void *p = slab_malloc(&a, 64);
    assert_non_null(p);
    slab_free(&a, p, 64);
    free(live);
    slab_pool_destroy(&pool);
}

static void test_big_blocks_and_pages(void **state) {
    (void)state;
    /* hm_realloc keeps contents across the malloc / mmap boundary. */
    size_t n = 1000;
    uint32_t *v = hm_alloc(n * 4);
    for (size_t i = 0; i < n; i++) v[i] = (uint32_t)i;
    size_t sizes[] = {100000, 300000, 5000, 800, 400000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t nn = sizes[s];
        v = hm_realloc(v, n * 4, nn * 4);
        assert_non_null(v);
        for (size_t i = n; i < nn; i++) v[i] = (uint32_t)i;
        for (size_t i = 0; i < nn; i++) assert_int_equal(v[i], i);
        n = nn;
    }
    hm_free(v, n * 4);
    /* Paged arrays: zeroed pages, stable addresses, bounds. */
    hm_pages_t pa;
    assert_int_equal(hm_pages_init(&pa, 24, 4, 1000), 0);
    assert_null(hm_pages_try(&pa, 5));
    uint64_t *e5 = hm_pages_ensure(&pa, 5);
    assert_non_null(e5);
    assert_int_equal(*e5, 0);
    *e5 = 55;
    assert_ptr_equal(hm_pages_try(&pa, 5), e5);
    for (uint64_t i = 0; i < 1000; i++) assert_non_null(hm_pages_ensure(&pa, i));
    assert_ptr_equal(hm_pages_at(&pa, 5), e5);
    assert_int_equal(*(uint64_t *)hm_pages_at(&pa, 5), 55);
    assert_null(hm_pages_ensure(&pa, 1008)); /* past the maximum (rounded to pages) */
    assert_null(hm_pages_try(&pa, 1u << 20));
    hm_pages_free(&pa);
}


/* ---- select hints against the plain select ------------------------------
 * last_only (newest sample without decoding, or chunks newest first; over
 * PAR_MIN_SERIES series on several threads), unsorted and only_labels must
 * give what a plain select gives, reduced the same way: for each series
 * its newest sample in the window, as a multiset of (labels, t, value). */
typedef struct last_row {
    char *labels;
    int64_t t;
    uint64_t v;
} last_row_t;

typedef struct last_rows {
    last_row_t *v;
    size_t n, cap;
    const char *only; /* reduce a plain select's labels to this one (NULL: all) */
} last_rows_t;

static int collect_last(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    last_rows_t *r = ctx;
    assert_true(ns > 0);
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 1024;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
    }
    const label_t *keep = ls;
    size_t nkeep = n;
    for (size_t i = 0; r->only && i < n; i++)
        if (strcmp(ls[i].name, r->only) == 0) keep = &ls[i], nkeep = 1;
    if (r->only && keep == ls && (n == 0 || strcmp(ls[0].name, r->only) != 0)) nkeep = 0;
    r->v[r->n++] = (last_row_t){fmt_labels(keep, nkeep), s[ns - 1].t, bits_of(s[ns - 1].v)};
    return 0;
}

static int cmp_last_rows(const void *a, const void *b) {
    const last_row_t *x = a, *y = b;
    int c = strcmp(x->labels, y->labels);
    if (c) return c;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return x->v < y->v ? -1 : x->v > y->v;
}

static void last_rows_free(last_rows_t *r) {
    for (size_t i = 0; i < r->n; i++) free(r->v[i].labels);
    free(r->v);
}

static void check_hints_agree(head_t *h, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt) {
    pl_err_t err;
    static const char *const only[] = {"grp"};
    for (int mode = 0; mode < 3; mode++) {
        last_rows_t want = {.only = mode == 2 ? "grp" : NULL}, got = {0};
        assert_int_equal(head_select(h, ms, nms, mint, maxt, collect_last, &want, &err), 0);
        storage_select_hints_t hints = {.last_only = true, .unsorted = mode > 0, .only_labels = mode == 2,
                                        .labels = only, .nlabels = 1};
        assert_int_equal(head_select_hinted(h, ms, nms, mint, maxt, &hints, collect_last, &got, &err), 0);
        if (mode > 0 && want.n > 1) {
            qsort(want.v, want.n, sizeof *want.v, cmp_last_rows);
            if (got.n > 1) qsort(got.v, got.n, sizeof *got.v, cmp_last_rows);
        }
        assert_int_equal(got.n, want.n);
        for (size_t i = 0; i < want.n; i++) {
            assert_string_equal(got.v[i].labels, want.v[i].labels);
            assert_int_equal(got.v[i].t, want.v[i].t);
            assert_int_equal(got.v[i].v, want.v[i].v);
        }
        last_rows_free(&want);
        last_rows_free(&got);
    }
}

static void test_select_hints_vs_plain(void **state) {
    (void)state;
    head_t *h = head_new();
    head_set_chunk_range(h, 60000); /* chunks cut every minute: several per series */
    enum { N = 40000 };             /* above PAR_MIN_SERIES (head.c) */
    char id[16], grp[8];
    series_ref_t refs[8];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "%d", i);
        snprintf(grp, sizeof grp, "g%d", i % 5);
        int64_t t = (i % 7) * 1000;
        int nsamples = 2 + i % 23;
        for (int k = 0; k < nsamples; k++, t += 15000 + (i % 3 == 0 && k == 5 ? 90000 : 0)) {
            double v = (i % 11 == 0 && k == nsamples - 2) ? from_bits(0x7ff0000000000002ULL) : (double)(i * 31 + k);
            series_ref_t ref;
            if (i % 9 == 4)
                assert_int_equal(head_append(h, L({"__name__", "m"}, {"id", id}), 2, t, v, &ref, NULL), HEAD_OK);
            else
                assert_int_equal(head_append(h, L({"__name__", "m"}, {"grp", grp}, {"id", id}), 3, t, v, &ref, NULL),
                                 HEAD_OK);
            if (i < 8) refs[i] = ref;
        }
    }
    matcher_t ms[2];
    pl_err_t err;
    assert_int_equal(matcher_init(&ms[0], MATCH_EQUAL, "__name__", "m", &err), 0);
    assert_int_equal(matcher_init(&ms[1], MATCH_NOT_REGEX, "id", "1.*", &err), 0);
    static const int64_t windows[][2] = {{INT64_MIN, INT64_MAX}, {0, 400000}, {30000, 100000}, {95000, 96000},
                                         {-5, -1}, {52000, 52000}};
    for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++) {
        check_hints_agree(h, ms, 1, windows[w][0], windows[w][1]);
        check_hints_agree(h, ms, 2, windows[w][0], windows[w][1]);
    }
    /* tombstones: the newest sample may be deleted */
    for (int i = 0; i < 8; i++) assert_int_equal(head_add_tombstone(h, refs[i], 100000, 400000), HEAD_OK);
    for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++) check_hints_agree(h, ms, 1, windows[w][0], windows[w][1]);
    matcher_free(&ms[0]);
    matcher_free(&ms[1]);
    head_free(h);
}

PL_TEST_MAIN(cmocka_unit_test(test_append_and_refs), cmocka_unit_test(test_series_labels),
             cmocka_unit_test(test_invalid_label_sets), cmocka_unit_test(test_empty_values_dropped),
             cmocka_unit_test(test_out_of_order_and_duplicates), cmocka_unit_test(test_nan_payloads_exact),
             cmocka_unit_test(test_matchers_equal), cmocka_unit_test(test_matchers_not_equal),
             cmocka_unit_test(test_matchers_regex), cmocka_unit_test(test_matchers_not_regex),
             cmocka_unit_test(test_range_bounds), cmocka_unit_test(test_select_errors_and_stop),
             cmocka_unit_test(test_sorted_output), cmocka_unit_test(test_chunk_cutting),
             cmocka_unit_test(test_label_names_values), cmocka_unit_test(test_stats),
             cmocka_unit_test(test_many_series_vs_model), cmocka_unit_test(test_concurrent_append_and_select),
             cmocka_unit_test(test_slab_allocator), cmocka_unit_test(test_big_blocks_and_pages),
             cmocka_unit_test(test_select_hints_vs_plain))
