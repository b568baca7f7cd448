/* test_textparse.c — the exposition parsers and writers (textparse/).
 *
 * Expectations follow what Prometheus's model/textparse accepts and rejects;
 * where promlab deliberately differs (NUL bytes) the test says so. Every
 * body is copied into a heap buffer of exactly its length first, so ASan
 * reports any read past the end (the parser gets no terminator). */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdbool.h>

#include "model/labels.h"
#include "textparse/textparse.h"
#include "util/strbuf.h"

#define CORPUS_VALID "impl/tests/data/textparse/valid"
#define CORPUS_MALFORMED "impl/tests/data/textparse/malformed"

/* ---- helpers -------------------------------------------------------------- */

/* A sample copied out of the parser's scratch memory. */
typedef struct {
    char *raw;
    char *name;
    label_t *labels;
    size_t nlabels;
    double value;
    bool has_ts;
    int64_t ts;
} owned_sample_t;

typedef struct {
    owned_sample_t *s;
    size_t n, cap;
    int last; /* entry that ended the parse: TEXTPARSE_EOF or TEXTPARSE_ERROR */
    char err[PL_ERR_MAX];
    size_t nhelp, ntype, nunit;
} parse_result_t;

static char *dupn(const char *s, size_t n) {
    char *d = malloc(n + 1);
    assert_non_null(d);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static char *dup0(const char *s) { return dupn(s, strlen(s)); }

/* The body in a heap block of exactly len bytes (no terminator). */
static char *exact_copy(const char *body, size_t len) {
    char *b = malloc(len ? len : 1);
    assert_non_null(b);
    if (len) memcpy(b, body, len);
    return b;
}

static void result_free(parse_result_t *r) {
    for (size_t i = 0; i < r->n; i++) {
        owned_sample_t *s = &r->s[i];
        free(s->raw);
        free(s->name);
        for (size_t j = 0; j < s->nlabels; j++) {
            free((char *)s->labels[j].name);
            free((char *)s->labels[j].value);
        }
        free(s->labels);
    }
    free(r->s);
    memset(r, 0, sizeof *r);
}

static void keep_sample(parse_result_t *r, const textparse_sample_t *s) {
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        owned_sample_t *grown = realloc(r->s, r->cap * sizeof *r->s);
        assert_non_null(grown);
        r->s = grown;
    }
    owned_sample_t *o = &r->s[r->n++];
    o->raw = dupn(s->raw, s->raw_len);
    o->name = dup0(s->name);
    o->nlabels = s->nlabels;
    o->labels = calloc(s->nlabels + 1, sizeof *o->labels);
    for (size_t i = 0; i < s->nlabels; i++) {
        o->labels[i].name = dup0(s->labels[i].name);
        o->labels[i].value = dup0(s->labels[i].value);
    }
    o->value = s->value;
    o->has_ts = s->has_timestamp;
    o->ts = s->timestamp_ms;
}

static parse_result_t parse_all_n(enum textparse_format fmt, const char *body, size_t len) {
    parse_result_t r = {0};
    char *b = exact_copy(body, len);
    textparse_t *p = textparse_new(fmt, b, len);
    assert_non_null(p);
    textparse_sample_t s;
    pl_err_t err;
    for (;;) {
        enum textparse_entry e = textparse_next(p, &s, &err);
        if (e == TEXTPARSE_EOF || e == TEXTPARSE_ERROR) {
            r.last = e;
            if (e == TEXTPARSE_ERROR) snprintf(r.err, sizeof r.err, "%s", err.msg);
            break;
        }
        if (e == TEXTPARSE_SAMPLE) keep_sample(&r, &s);
        if (e == TEXTPARSE_HELP) r.nhelp++;
        if (e == TEXTPARSE_TYPE) r.ntype++;
        if (e == TEXTPARSE_UNIT) r.nunit++;
    }
    textparse_free(p);
    free(b);
    return r;
}

static parse_result_t parse_all(enum textparse_format fmt, const char *body) {
    return parse_all_n(fmt, body, strlen(body));
}

/* Parses and fails the test unless the body is valid; returns the samples. */
static parse_result_t parse_ok(enum textparse_format fmt, const char *body) {
    parse_result_t r = parse_all(fmt, body);
    if (r.last != TEXTPARSE_EOF) fail_msg("unexpected error %s for body:\n%s", r.err, body);
    return r;
}

/* Asserts the body fails with "line N: ..." containing want. */
static void expect_error_n(enum textparse_format fmt, const char *body, size_t len, int line, const char *want) {
    parse_result_t r = parse_all_n(fmt, body, len);
    if (r.last != TEXTPARSE_ERROR) fail_msg("expected an error containing '%s', body parsed fine:\n%s", want, body);
    char prefix[32];
    snprintf(prefix, sizeof prefix, "line %d: ", line);
    if (strncmp(r.err, prefix, strlen(prefix)) != 0 || !strstr(r.err, want))
        fail_msg("error '%s' does not start with '%s' or lacks '%s'", r.err, prefix, want);
    result_free(&r);
}

static void expect_error(enum textparse_format fmt, const char *body, int line, const char *want) {
    expect_error_n(fmt, body, strlen(body), line, want);
}

/* The only sample of a body. */
static owned_sample_t *only_sample(parse_result_t *r) {
    assert_int_equal(r->last, TEXTPARSE_EOF);
    assert_int_equal(r->n, 1);
    return &r->s[0];
}

static bool same_value(double a, double b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return memcmp(&a, &b, sizeof a) == 0; /* tells -0 from 0 */
}

static void assert_samples_equal(const owned_sample_t *a, const owned_sample_t *b) {
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->nlabels, b->nlabels);
    for (size_t i = 0; i < a->nlabels; i++) {
        assert_string_equal(a->labels[i].name, b->labels[i].name);
        assert_string_equal(a->labels[i].value, b->labels[i].value);
    }
    if (!same_value(a->value, b->value)) fail_msg("value %.17g != %.17g for %s", a->value, b->value, a->name);
    assert_int_equal(a->has_ts, b->has_ts);
    if (a->has_ts) assert_int_equal(a->ts, b->ts);
}

static char *join_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static enum textparse_format format_of(const char *file) {
    return ends_with(file, ".om") ? TEXTPARSE_OPENMETRICS : TEXTPARSE_PROM;
}

/* Sorted list of corpus files (*.prom, *.om) in dir. */
static size_t list_corpus(const char *dir, char ***out) {
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s (tests run from the repo root)", dir);
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!ends_with(e->d_name, ".prom") && !ends_with(e->d_name, ".om")) continue;
        char **grown = realloc(names, (n + 1) * sizeof *names);
        assert_non_null(grown);
        names = grown;
        names[n++] = dup0(e->d_name);
    }
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    *out = names;
    return n;
}

static void free_list(char **names, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* ---- content type and names ------------------------------------------------ */

static void test_content_type(void **state) {
    (void)state;
    assert_int_equal(textparse_format_from_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8"),
                     TEXTPARSE_OPENMETRICS);
    assert_int_equal(textparse_format_from_content_type("application/openmetrics-text"), TEXTPARSE_OPENMETRICS);
    assert_int_equal(textparse_format_from_content_type(" Application/OpenMetrics-Text;version=0.0.1"),
                     TEXTPARSE_OPENMETRICS);
    assert_int_equal(textparse_format_from_content_type("text/plain; version=0.0.4"), TEXTPARSE_PROM);
    assert_int_equal(textparse_format_from_content_type("text/plain; version=0.0.4; charset=utf-8"), TEXTPARSE_PROM);
    assert_int_equal(textparse_format_from_content_type("application/json"), TEXTPARSE_PROM);
    assert_int_equal(textparse_format_from_content_type("application/openmetrics-textual"), TEXTPARSE_PROM);
    assert_int_equal(textparse_format_from_content_type(""), TEXTPARSE_PROM);
    assert_int_equal(textparse_format_from_content_type(NULL), TEXTPARSE_PROM);
}

static void test_metric_type_str(void **state) {
    (void)state;
    assert_string_equal(metric_type_str(METRIC_TYPE_UNKNOWN), "unknown");
    assert_string_equal(metric_type_str(METRIC_TYPE_COUNTER), "counter");
    assert_string_equal(metric_type_str(METRIC_TYPE_GAUGE), "gauge");
    assert_string_equal(metric_type_str(METRIC_TYPE_HISTOGRAM), "histogram");
    assert_string_equal(metric_type_str(METRIC_TYPE_GAUGE_HISTOGRAM), "gaugehistogram");
    assert_string_equal(metric_type_str(METRIC_TYPE_SUMMARY), "summary");
    assert_string_equal(metric_type_str(METRIC_TYPE_INFO), "info");
    assert_string_equal(metric_type_str(METRIC_TYPE_STATESET), "stateset");
    assert_string_equal(metric_type_str(METRIC_TYPE_UNTYPED), "untyped");
}

/* ---- every metric type ------------------------------------------------------ */

/* Walks body and checks the sequence of entries: each expected entry is
 * "H name text", "T name type", "U name unit" or "S name value". */
static void expect_entries(enum textparse_format fmt, const char *body, const char *const *want, size_t nwant) {
    char *b = exact_copy(body, strlen(body));
    textparse_t *p = textparse_new(fmt, b, strlen(body));
    textparse_sample_t s;
    pl_err_t err;
    size_t i = 0;
    for (;; i++) {
        enum textparse_entry e = textparse_next(p, &s, &err);
        if (e == TEXTPARSE_ERROR) fail_msg("entry %zu: %s", i, err.msg);
        if (e == TEXTPARSE_EOF) break;
        if (i >= nwant) fail_msg("more entries than expected (entry %zu)", i);
        char got[512];
        switch (e) {
        case TEXTPARSE_HELP:
            snprintf(got, sizeof got, "H %s %s", textparse_meta_name(p), textparse_meta_text(p));
            break;
        case TEXTPARSE_TYPE:
            snprintf(got, sizeof got, "T %s %s", textparse_meta_name(p), metric_type_str(textparse_meta_type(p)));
            break;
        case TEXTPARSE_UNIT:
            snprintf(got, sizeof got, "U %s %s", textparse_meta_name(p), textparse_meta_text(p));
            break;
        case TEXTPARSE_SAMPLE: {
            char v[400];
            pl_format_float(v, s.value);
            snprintf(got, sizeof got, "S %s %s", s.name, v);
            break;
        }
        default: fail_msg("unexpected entry kind %d", e);
        }
        assert_string_equal(got, want[i]);
    }
    assert_int_equal(i, nwant);
    textparse_free(p);
    free(b);
}

static void test_text_all_types(void **state) {
    (void)state;
    const char *body = "# HELP c_total A counter.\n"
                       "# TYPE c_total counter\n"
                       "c_total{a=\"1\"} 3\n"
                       "# TYPE g gauge\n"
                       "g -1.5\n"
                       "# TYPE h histogram\n"
                       "h_bucket{le=\"0.5\"} 1\n"
                       "h_bucket{le=\"+Inf\"} 2\n"
                       "h_sum 0.75\n"
                       "h_count 2\n"
                       "# TYPE s summary\n"
                       "s{quantile=\"0.99\"} 7\n"
                       "s_sum 7\n"
                       "s_count 1\n"
                       "# TYPE u untyped\n"
                       "u 1e+06\n";
    const char *want[] = {
        "H c_total A counter.",
        "T c_total counter",
        "S c_total 3",
        "T g gauge",
        "S g -1.5",
        "T h histogram",
        "S h_bucket 1",
        "S h_bucket 2",
        "S h_sum 0.75",
        "S h_count 2",
        "T s summary",
        "S s 7",
        "S s_sum 7",
        "S s_count 1",
        "T u untyped",
        "S u 1e+06",
    };
    expect_entries(TEXTPARSE_PROM, body, want, sizeof want / sizeof want[0]);
    /* OpenMetrics-only words are not types in the text format. */
    expect_error(TEXTPARSE_PROM, "# TYPE x info\n", 1, "invalid metric type \"info\"");
    expect_error(TEXTPARSE_PROM, "# TYPE x stateset\n", 1, "invalid metric type \"stateset\"");
    expect_error(TEXTPARSE_PROM, "# TYPE x unknown\n", 1, "invalid metric type \"unknown\"");
    expect_error(TEXTPARSE_PROM, "# TYPE x Counter\n", 1, "invalid metric type \"Counter\"");
    expect_error(TEXTPARSE_PROM, "# TYPE x\n", 1, "invalid metric type \"\"");
}

static void test_om_all_types(void **state) {
    (void)state;
    const char *body = "# TYPE c counter\n"
                       "# UNIT c_seconds seconds\n"
                       "# HELP c A counter.\n"
                       "c_total 3\n"
                       "c_created 1.6e9\n"
                       "# TYPE g gauge\n"
                       "g 2\n"
                       "# TYPE h histogram\n"
                       "h_bucket{le=\"+Inf\"} 2\n"
                       "# TYPE gh gaugehistogram\n"
                       "gh_bucket{le=\"+Inf\"} 2\n"
                       "gh_gcount 2\n"
                       "gh_gsum 1\n"
                       "# TYPE s summary\n"
                       "s_count 1\n"
                       "# TYPE i info\n"
                       "i_info{v=\"1\"} 1\n"
                       "# TYPE st stateset\n"
                       "st{st=\"a\"} 1\n"
                       "# TYPE un unknown\n"
                       "un 4\n"
                       "# EOF\n";
    const char *want[] = {
        "T c counter",
        "U c_seconds seconds",
        "H c A counter.",
        "S c_total 3",
        "S c_created 1.6e+09",
        "T g gauge",
        "S g 2",
        "T h histogram",
        "S h_bucket 2",
        "T gh gaugehistogram",
        "S gh_bucket 2",
        "S gh_gcount 2",
        "S gh_gsum 1",
        "T s summary",
        "S s_count 1",
        "T i info",
        "S i_info 1",
        "T st stateset",
        "S st 1",
        "T un unknown",
        "S un 4",
    };
    expect_entries(TEXTPARSE_OPENMETRICS, body, want, sizeof want / sizeof want[0]);
    expect_error(TEXTPARSE_OPENMETRICS, "# TYPE x untyped\n# EOF\n", 1, "invalid metric type \"untyped\"");
    expect_error(TEXTPARSE_OPENMETRICS, "# TYPE x  gauge\n# EOF\n", 1, "invalid metric type \" gauge\"");
}

static void test_meta_type_tracking(void **state) {
    (void)state;
    const char *body = "# TYPE a counter\n# HELP a help of a\na_total 1\n# HELP b help of b\nb 2\n";
    textparse_t *p = textparse_new(TEXTPARSE_PROM, body, strlen(body));
    textparse_sample_t s;
    pl_err_t err;
    assert_string_equal(textparse_meta_name(p), "");
    assert_int_equal(textparse_meta_type(p), METRIC_TYPE_UNKNOWN);
    assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_TYPE);
    assert_string_equal(textparse_meta_name(p), "a");
    assert_string_equal(textparse_meta_text(p), "counter");
    assert_int_equal(textparse_meta_type(p), METRIC_TYPE_COUNTER);
    assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_HELP);
    assert_int_equal(textparse_meta_type(p), METRIC_TYPE_COUNTER); /* same family keeps its type */
    assert_string_equal(textparse_meta_text(p), "help of a");
    assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_SAMPLE);
    assert_int_equal(textparse_meta_type(p), METRIC_TYPE_COUNTER); /* still valid during the samples */
    assert_string_equal(textparse_meta_name(p), "a");
    assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_HELP);
    assert_string_equal(textparse_meta_name(p), "b");
    assert_int_equal(textparse_meta_type(p), METRIC_TYPE_UNKNOWN); /* new family, no TYPE yet */
    assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_SAMPLE);
    assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_EOF);
    assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_EOF); /* and stays there */
    textparse_free(p);
}

/* ---- escapes -------------------------------------------------------------- */

static void test_label_value_escapes(void **state) {
    (void)state;
    for (int f = 0; f < 2; f++) {
        enum textparse_format fmt = f ? TEXTPARSE_OPENMETRICS : TEXTPARSE_PROM;
        const char *body = f ? "m{a=\"x\\\\y\",b=\"q\\\"q\",c=\"n\\nn\",d=\"t\\tt\",e=\"\\\\n\",f=\"\"} 1\n# EOF\n"
                             : "m{a=\"x\\\\y\",b=\"q\\\"q\",c=\"n\\nn\",d=\"t\\tt\",e=\"\\\\n\",f=\"\"} 1\n";
        parse_result_t r = parse_ok(fmt, body);
        owned_sample_t *s = only_sample(&r);
        assert_int_equal(s->nlabels, 6);
        assert_string_equal(s->labels[0].value, "x\\y");
        assert_string_equal(s->labels[1].value, "q\"q");
        assert_string_equal(s->labels[2].value, "n\nn");
        assert_string_equal(s->labels[3].value, "t\\tt"); /* unknown escape kept as written, like Prometheus */
        assert_string_equal(s->labels[4].value, "\\n");   /* \\ then n: a backslash and an n */
        assert_string_equal(s->labels[5].value, "");
        result_free(&r);
    }
    /* The text format takes a raw newline inside a label value; OpenMetrics does not. */
    parse_result_t r = parse_ok(TEXTPARSE_PROM, "m{a=\"1\n2\"} 1\nn 2\n");
    assert_int_equal(r.n, 2);
    assert_string_equal(r.s[0].labels[0].value, "1\n2");
    result_free(&r);
    expect_error(TEXTPARSE_OPENMETRICS, "m{a=\"1\n2\"} 1\n# EOF\n", 1, "newline inside quoted label value");
}

static void test_help_escapes(void **state) {
    (void)state;
    const char *body = "# HELP m a\\\\b c\\nd e\\\"f g\\th\n";
    textparse_t *p = textparse_new(TEXTPARSE_PROM, body, strlen(body));
    pl_err_t err;
    assert_int_equal(textparse_next(p, NULL, &err), TEXTPARSE_HELP);
    assert_string_equal(textparse_meta_text(p), "a\\b c\nd e\\\"f g\\th"); /* text: only \\ and \n */
    textparse_free(p);

    const char *om = "# HELP m a\\\\b c\\nd e\\\"f g\\th\n# EOF\n";
    p = textparse_new(TEXTPARSE_OPENMETRICS, om, strlen(om));
    assert_int_equal(textparse_next(p, NULL, &err), TEXTPARSE_HELP);
    assert_string_equal(textparse_meta_text(p), "a\\b c\nd e\"f g\\th"); /* OpenMetrics: \" too */
    textparse_free(p);

    /* Text HELP: the text starts after one separator; more blanks are kept. */
    const char *spaced = "# HELP m   three spaces \n# HELP n\n# HELP o \n";
    const char *want[] = {"H m   three spaces ", "H n ", "H o "};
    expect_entries(TEXTPARSE_PROM, spaced, want, 3);
    /* "# HELP" with nothing after is just a comment in the text format. */
    parse_result_t r = parse_ok(TEXTPARSE_PROM, "# HELP\n#HELP x y\nm 1\n");
    assert_int_equal(r.nhelp, 0);
    assert_int_equal(r.n, 1);
    result_free(&r);
}

/* ---- values --------------------------------------------------------------- */

static double value_of(enum textparse_format fmt, const char *v) {
    char body[256];
    snprintf(body, sizeof body, "m %s\n%s", v, fmt == TEXTPARSE_OPENMETRICS ? "# EOF\n" : "");
    parse_result_t r = parse_all(fmt, body);
    if (r.last != TEXTPARSE_EOF) fail_msg("value '%s' rejected: %s", v, r.err);
    double d = only_sample(&r)->value;
    result_free(&r);
    return d;
}

static void test_special_values(void **state) {
    (void)state;
    for (int f = 0; f < 2; f++) {
        enum textparse_format fmt = f ? TEXTPARSE_OPENMETRICS : TEXTPARSE_PROM;
        double nan = value_of(fmt, "NaN");
        uint64_t bits;
        memcpy(&bits, &nan, sizeof bits);
        assert_true(bits == 0x7ff8000000000001ULL); /* Prometheus's canonical NaN, never the stale marker */
        assert_true(isnan(value_of(fmt, "nan")));
        assert_true(isnan(value_of(fmt, "NAN")));
        assert_true(value_of(fmt, "+Inf") == INFINITY);
        assert_true(value_of(fmt, "Inf") == INFINITY);
        assert_true(value_of(fmt, "inf") == INFINITY);
        assert_true(value_of(fmt, "+Infinity") == INFINITY);
        assert_true(value_of(fmt, "-Inf") == -INFINITY);
        assert_true(value_of(fmt, "-infinity") == -INFINITY);
        assert_true(value_of(fmt, "1e+06") == 1e6);
        assert_true(value_of(fmt, "1E6") == 1e6);
        assert_true(value_of(fmt, ".5") == 0.5);
        assert_true(value_of(fmt, "5.") == 5.0);
        assert_true(value_of(fmt, "+3") == 3.0);
        assert_true(value_of(fmt, "007") == 7.0);
        assert_true(value_of(fmt, "0.1") == 0.1);
        assert_true(value_of(fmt, "1.7976931348623157e308") == 1.7976931348623157e308);
        assert_true(value_of(fmt, "4.9e-324") == 4.9e-324);
        assert_true(value_of(fmt, "1e-400") == 0.0); /* underflow is not an error in Go */
        double negzero = value_of(fmt, "-0");
        assert_true(negzero == 0.0 && signbit(negzero));
        assert_true(value_of(fmt, "123456789012345678901234567890") == 123456789012345678901234567890.0);
    }
}

static void test_value_syntax_errors(void **state) {
    (void)state;
    const char *bad[] = {"+NaN", "-nan",  "Infin", "1e",  "1e+", ".",     "e5",    "1.2.3",  "0x10", "0x1p-3",
                         "1_0",  "0x1P3", "true",  "1,5", "--1", "1e5.5", "1e400", "-1e400", "∞",    "0b101"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (int f = 0; f < 2; f++) {
            char body[128];
            snprintf(body, sizeof body, "m %s\n%s", bad[i], f ? "# EOF\n" : "");
            parse_result_t r = parse_all(f ? TEXTPARSE_OPENMETRICS : TEXTPARSE_PROM, body);
            if (r.last != TEXTPARSE_ERROR) fail_msg("value '%s' accepted", bad[i]);
            assert_true(strncmp(r.err, "line 1: ", 8) == 0);
            result_free(&r);
        }
    }
    expect_error(TEXTPARSE_PROM, "m 1e400\n", 1, "out of range");
    expect_error(TEXTPARSE_PROM, "m 0x1p-3\n", 1, "unsupported character in float");
}

/* The fast path (digits times a power of ten) must agree bit for bit with
 * the correctly rounded strtod on every input it takes. */
static void test_float_fast_path_matches_strtod(void **state) {
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    char buf[64];
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t mant = x % 100000000000000000ULL >> (x % 40);
        int digits_after_point = (int)((x >> 20) % 20);
        int exp = (int)((x >> 40) % 61) - 30;
        int len;
        switch (i % 3) {
        case 0: len = snprintf(buf, sizeof buf, "%llu", (unsigned long long)mant); break;
        case 1: len = snprintf(buf, sizeof buf, "%.*f", digits_after_point, (double)mant / 1e9); break;
        default: len = snprintf(buf, sizeof buf, "%llue%d", (unsigned long long)mant, exp); break;
        }
        if (x & 1) {
            memmove(buf + 1, buf, (size_t)len + 1);
            buf[0] = '-';
            len++;
        }
        double got, want = strtod(buf, NULL);
        assert_int_equal(textparse_parse_float(buf, (size_t)len, &got), 0);
        if (memcmp(&got, &want, sizeof got) != 0) fail_msg("%s: got %.17g want %.17g", buf, got, want);
    }
    /* and on values chosen to be hard: halfway cases, many digits */
    const char *hard[] = {"9007199254740993",
                          "9007199254740992.5",
                          "0.30000000000000004",
                          "2.2250738585072011e-308",
                          "1.00000000000000011102230246251565404236316680908203125",
                          "123456789012345678",
                          "1234567890123456789",
                          "12345678901234567890",
                          "1e22",
                          "1e23",
                          "8.5e-23",
                          "0.000001"};
    for (size_t i = 0; i < sizeof hard / sizeof hard[0]; i++) {
        double got, want = strtod(hard[i], NULL);
        assert_int_equal(textparse_parse_float(hard[i], strlen(hard[i]), &got), 0);
        if (memcmp(&got, &want, sizeof got) != 0) fail_msg("%s: got %.17g want %.17g", hard[i], got, want);
    }
    double v;
    assert_int_equal(textparse_parse_float("0x1p-3", 6, &v), 0); /* the Go-syntax function itself takes hex */
    assert_true(v == 0.125);
    assert_int_equal(textparse_parse_float("0x.8p1", 6, &v), 0);
    assert_true(v == 1.0);
    assert_int_equal(textparse_parse_float("0x10", 4, &v), -1); /* hex needs its p exponent */
    assert_int_equal(textparse_parse_float("1e400", 5, &v), -2);
    assert_int_equal(textparse_parse_float(" 1", 2, &v), -1);
    assert_int_equal(textparse_parse_float("", 0, &v), -1);
}

static void test_hex_floats_opt_in(void **state) {
    (void)state;
    const char *body = "m 0x1p-3\n";
    textparse_t *p = textparse_new(TEXTPARSE_PROM, body, strlen(body));
    textparse_set_hex_floats(p, true);
    textparse_sample_t s;
    pl_err_t err;
    assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_SAMPLE);
    assert_true(s.value == 0.125);
    textparse_free(p);
    /* still no underscores: Go takes them only after a base prefix and Prometheus never */
    const char *bad = "m 1_000\n";
    p = textparse_new(TEXTPARSE_PROM, bad, strlen(bad));
    textparse_set_hex_floats(p, true);
    assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_ERROR);
    textparse_free(p);
}

/* ---- timestamps ----------------------------------------------------------- */

static void test_text_timestamps(void **state) {
    (void)state;
    parse_result_t r =
        parse_ok(TEXTPARSE_PROM, "a 1 0\nb 2 1700000000000\nc 3 9223372036854775807\nd 4\ne 5  \t 12 \t\n");
    assert_int_equal(r.n, 5);
    assert_true(r.s[0].has_ts && r.s[0].ts == 0);
    assert_true(r.s[1].has_ts && r.s[1].ts == 1700000000000LL);
    assert_true(r.s[2].has_ts && r.s[2].ts == INT64_MAX);
    assert_false(r.s[3].has_ts);
    assert_true(r.s[4].has_ts && r.s[4].ts == 12);
    result_free(&r);
    expect_error(TEXTPARSE_PROM, "a 1 9223372036854775808\n", 1, "out of range");
    expect_error(TEXTPARSE_PROM, "a 1 -5\n", 1, "expected timestamp or end of line, got \"-5\"");
    expect_error(TEXTPARSE_PROM, "a 1 1.5\n", 1, "expected end of line after timestamp");
    expect_error(TEXTPARSE_PROM, "a 1 2 3\n", 1, "expected end of line after timestamp, got \"3\"");
}

static void test_om_timestamps(void **state) {
    (void)state;
    parse_result_t r = parse_ok(TEXTPARSE_OPENMETRICS, "a 1 0\nb 2 1520879607.789\nc 3 -1.5\nd 4 1e3\ne 5\n# EOF\n");
    assert_int_equal(r.n, 5);
    assert_true(r.s[0].has_ts && r.s[0].ts == 0);
    assert_true(r.s[1].has_ts && r.s[1].ts == 1520879607789LL);
    assert_true(r.s[2].has_ts && r.s[2].ts == -1500);
    assert_true(r.s[3].has_ts && r.s[3].ts == 1000000);
    assert_false(r.s[4].has_ts);
    result_free(&r);
    /* Go's int64(ts * 1000) truncates toward zero. */
    r = parse_ok(TEXTPARSE_OPENMETRICS, "a 1 0.0019\nb 1 -0.0019\n# EOF\n");
    assert_int_equal(r.s[0].ts, 1);
    assert_int_equal(r.s[1].ts, -1);
    result_free(&r);
    expect_error(TEXTPARSE_OPENMETRICS, "a 1 NaN\n# EOF\n", 1, "invalid timestamp: NaN");
    expect_error(TEXTPARSE_OPENMETRICS, "a 1 -Inf\n# EOF\n", 1, "invalid timestamp: infinite");
    expect_error(TEXTPARSE_OPENMETRICS, "a 1 1e16\n# EOF\n", 1, "out of range");
    expect_error(TEXTPARSE_OPENMETRICS, "a 1 2  \n# EOF\n", 1, "expected end of line after timestamp");
}

/* ---- exemplars ------------------------------------------------------------ */

static void test_exemplars_dropped(void **state) {
    (void)state;
    const char *body = "# TYPE foo histogram\n"
                       "foo_bucket{le=\"0.1\"} 8 # {} 0.054\n"
                       "foo_bucket{le=\"1\"} 11 # {trace_id=\"KOO5S4vxi0o\"} 0.67\n"
                       "foo_bucket{le=\"10\"} 17 # {trace_id=\"oHg5SJYRHA0\",span_id=\"x\",} 9.8 1520879607.789\n"
                       "# TYPE bar counter\n"
                       "bar_total 17 1520879607.789 # {id=\"c\"} 5\n"
                       "bar_total{a=\"b\"} 18 # {\"quoted.name\"=\"y\"} NaN 1520879607\n"
                       "# EOF\n";
    parse_result_t r = parse_ok(TEXTPARSE_OPENMETRICS, body);
    assert_int_equal(r.n, 5);
    assert_string_equal(r.s[0].raw, "foo_bucket{le=\"0.1\"}");
    assert_true(r.s[0].value == 8 && !r.s[0].has_ts);
    assert_int_equal(r.s[1].nlabels, 1); /* the exemplar's labels are not the sample's */
    assert_string_equal(r.s[1].labels[0].name, "le");
    assert_true(r.s[2].value == 17 && !r.s[2].has_ts); /* the exemplar's timestamp is not the sample's */
    assert_true(r.s[3].value == 17 && r.s[3].has_ts && r.s[3].ts == 1520879607789LL);
    assert_string_equal(r.s[4].raw, "bar_total{a=\"b\"}");
    assert_int_equal(r.s[4].nlabels, 1);
    result_free(&r);
}

static void test_exemplar_errors(void **state) {
    (void)state;
    expect_error(TEXTPARSE_OPENMETRICS, "a 1 # {t=\"x\"} abc\n# EOF\n", 1, "invalid exemplar value \"abc\"");
    expect_error(TEXTPARSE_OPENMETRICS, "a 1 # {t=\"x\"}\n# EOF\n", 1, "expected value after exemplar labels");
    expect_error(TEXTPARSE_OPENMETRICS, "a 1 # {t=\"x\"} 1 Inf\n# EOF\n", 1, "invalid exemplar timestamp: infinite");
    expect_error(TEXTPARSE_OPENMETRICS, "a 1 # {t=x} 1\n# EOF\n", 1, "expected label value");
    expect_error(TEXTPARSE_OPENMETRICS, "a 1 # {t=\"x\" 1\n# EOF\n", 1, "expected comma or '}'");
    expect_error(TEXTPARSE_OPENMETRICS, "a 1 # {t=\"\xff\"} 1\n# EOF\n", 1, "invalid UTF-8");
    expect_error(TEXTPARSE_OPENMETRICS, "a 1 #{t=\"x\"} 1\n# EOF\n", 1, "invalid timestamp \"#{t=\\\"x\\\"}\"");
    expect_error(TEXTPARSE_OPENMETRICS, "a 1 # {t=\"x\"} 1", 1, "data does not end with # EOF");
    /* The text format has no exemplars. */
    expect_error(TEXTPARSE_PROM, "a 1 # {t=\"x\"} 1\n", 1, "expected timestamp or end of line, got \"#\"");
}

/* ---- # EOF ---------------------------------------------------------------- */

static void test_om_eof(void **state) {
    (void)state;
    parse_result_t r = parse_ok(TEXTPARSE_OPENMETRICS, "a 1\n# EOF");
    assert_int_equal(r.n, 1);
    result_free(&r);
    r = parse_ok(TEXTPARSE_OPENMETRICS, "# EOF\n");
    assert_int_equal(r.n, 0);
    result_free(&r);
    expect_error(TEXTPARSE_OPENMETRICS, "a 1\n", 2, "data does not end with # EOF");
    expect_error(TEXTPARSE_OPENMETRICS, "", 1, "data does not end with # EOF");
    expect_error(TEXTPARSE_OPENMETRICS, "a 1\n# EOF\na 2\n", 3, "unexpected data after # EOF");
    expect_error(TEXTPARSE_OPENMETRICS, "# EOF\n\n", 2, "unexpected data after # EOF");
    expect_error(TEXTPARSE_OPENMETRICS, "# EOF\r\n", 1, "unexpected data after # EOF");
    expect_error(TEXTPARSE_OPENMETRICS, "# EOFX\n", 1, "unexpected data after # EOF");
    /* In the text format "# EOF" is only a comment, and the end of input ends it. */
    r = parse_ok(TEXTPARSE_PROM, "a 1\n# EOF\nb 2\n");
    assert_int_equal(r.n, 2);
    result_free(&r);
    r = parse_ok(TEXTPARSE_PROM, "");
    assert_int_equal(r.n, 0);
    result_free(&r);
}

/* ---- label sets and whitespace -------------------------------------------- */

static void test_trailing_commas(void **state) {
    (void)state;
    for (int f = 0; f < 2; f++) {
        enum textparse_format fmt = f ? TEXTPARSE_OPENMETRICS : TEXTPARSE_PROM;
        const char *eof = f ? "# EOF\n" : "";
        char body[128];
        snprintf(body, sizeof body, "m{a=\"1\",} 1\n%s", eof);
        parse_result_t r = parse_ok(fmt, body);
        assert_int_equal(only_sample(&r)->nlabels, 1);
        result_free(&r);
        snprintf(body, sizeof body, "m{} 1\n%s", eof);
        r = parse_ok(fmt, body);
        assert_int_equal(only_sample(&r)->nlabels, 0);
        result_free(&r);
        snprintf(body, sizeof body, "m{,} 1\n%s", eof);
        expect_error(fmt, body, 1, "expected label name, got \",\"");
        snprintf(body, sizeof body, "m{a=\"1\",,} 1\n%s", eof);
        expect_error(fmt, body, 1, "expected label name, got \",\"");
    }
}

static void test_text_whitespace(void **state) {
    (void)state;
    const char *body = "\n\n  \t\n"
                       "  a 1\n"
                       "\tb\t2\t\n"
                       "c  {  x = \"1\" , y=\"2\" ,  }   3   1000  \n"
                       "d{x=\"1\" y=\"2\"} 4\n"
                       "e{x=\"1\"}5\n"
                       "f 6";
    parse_result_t r = parse_ok(TEXTPARSE_PROM, body);
    assert_int_equal(r.n, 6);
    assert_string_equal(r.s[0].name, "a");
    assert_true(r.s[1].value == 2);
    assert_int_equal(r.s[2].nlabels, 2);
    assert_true(r.s[2].value == 3 && r.s[2].has_ts && r.s[2].ts == 1000);
    assert_int_equal(r.s[3].nlabels, 2); /* blanks alone separate label pairs in the text format */
    assert_true(r.s[4].value == 5);      /* no blank needed after '}' */
    assert_true(r.s[5].value == 6);      /* last line without newline */
    result_free(&r);
    /* Prometheus's lexer takes the bytes after a bare metric name as the
     * value, blank or not: "a-1" is a = -1. */
    r = parse_ok(TEXTPARSE_PROM, "a-1\n");
    assert_true(only_sample(&r)->value == -1);
    result_free(&r);
}

static void test_om_whitespace(void **state) {
    (void)state;
    expect_error(TEXTPARSE_OPENMETRICS, "a  1\n# EOF\n", 1, "expected value");
    expect_error(TEXTPARSE_OPENMETRICS, " a 1\n# EOF\n", 1, "invalid metric name, got \" \"");
    expect_error(TEXTPARSE_OPENMETRICS, "a\t1\n# EOF\n", 1, "expected space and value after metric");
    expect_error(TEXTPARSE_OPENMETRICS, "a{b=\"1\", c=\"2\"} 1\n# EOF\n", 1, "expected label name, got \" \"");
    expect_error(TEXTPARSE_OPENMETRICS, "a{ b=\"1\"} 1\n# EOF\n", 1, "expected label name, got \" \"");
    expect_error(TEXTPARSE_OPENMETRICS, "a{b = \"1\"} 1\n# EOF\n", 1, "expected equal, got \" \"");
    expect_error(TEXTPARSE_OPENMETRICS, "a{b=\"1\"}1\n# EOF\n", 1, "expected space and value after metric");
    expect_error(TEXTPARSE_OPENMETRICS, "a 1 \n# EOF\n", 1, "expected timestamp");
    expect_error(TEXTPARSE_OPENMETRICS, "a 1\n\n# EOF\n", 2, "empty line");
    expect_error(TEXTPARSE_OPENMETRICS, "# a comment\n# EOF\n", 1, "invalid comment");
    expect_error(TEXTPARSE_OPENMETRICS, "#\n# EOF\n", 1, "invalid comment");
    expect_error(TEXTPARSE_OPENMETRICS, "# HELP a\n# EOF\n", 1, "expected space and text");
    /* "# HELP a \n" is an empty help, which is allowed */
    const char *want[] = {"H a ", "T a gauge", "S a 1"};
    expect_entries(TEXTPARSE_OPENMETRICS, "# HELP a \n# TYPE a gauge\na 1\n# EOF\n", want, 3);
}

static void test_crlf_rejected(void **state) {
    (void)state;
    expect_error(TEXTPARSE_PROM, "a 1\r\n", 1, "invalid value \"1\\r\"");
    expect_error(TEXTPARSE_PROM, "a{b=\"c\"} 1 1000\r\n", 1, "expected end of line after timestamp, got \"\\r\"");
    expect_error(TEXTPARSE_PROM, "a 1\n\r\n", 2, "invalid metric name, got \"\\r\"");
    expect_error(TEXTPARSE_PROM, "# TYPE a gauge\r\na 1\n", 1, "invalid metric type \"gauge\\r\"");
    expect_error(TEXTPARSE_OPENMETRICS, "a 1\r\n# EOF\r\n", 1, "invalid value \"1\\r\"");
    /* '\r' is data inside a label value and in HELP text, as in Prometheus */
    parse_result_t r = parse_ok(TEXTPARSE_PROM, "# HELP a x\r\na{b=\"\r\"} 1\n");
    assert_string_equal(only_sample(&r)->labels[0].value, "\r");
    result_free(&r);
}

/* ---- names ---------------------------------------------------------------- */

static void test_quoted_names(void **state) {
    (void)state;
    for (int f = 0; f < 2; f++) {
        enum textparse_format fmt = f ? TEXTPARSE_OPENMETRICS : TEXTPARSE_PROM;
        const char *body =
            f ? "# TYPE \"my.metric\" counter\n{\"my.metric\",label=\"x\"} 1\n{label=\"y\",\"my.metric\"} 2\n"
                "{\"my.metric\"} 3\nm{\"a.b\"=\"c\"} 4\n{\"esc\\\"aped\\\\\"} 5\n# EOF\n"
              : "# TYPE \"my.metric\" counter\n{\"my.metric\", label=\"x\"} 1\n{label=\"y\",\"my.metric\"} 2\n"
                "{ \"my.metric\" } 3\nm{\"a.b\"=\"c\"} 4\n{\"esc\\\"aped\\\\\"} 5\n";
        char *b = exact_copy(body, strlen(body));
        textparse_t *p = textparse_new(fmt, b, strlen(body));
        textparse_sample_t s;
        pl_err_t err;
        assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_TYPE);
        assert_string_equal(textparse_meta_name(p), "my.metric");
        assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_SAMPLE);
        assert_string_equal(s.name, "my.metric");
        assert_int_equal(s.nlabels, 1);
        assert_string_equal(s.labels[0].name, "label");
        assert_string_equal(s.labels[0].value, "x");
        assert_int_equal(textparse_meta_type(p), METRIC_TYPE_COUNTER);
        assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_SAMPLE);
        assert_string_equal(s.name, "my.metric"); /* the name may come after labels */
        assert_string_equal(s.labels[0].value, "y");
        assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_SAMPLE);
        assert_string_equal(s.name, "my.metric");
        assert_int_equal(s.nlabels, 0);
        assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_SAMPLE);
        assert_string_equal(s.name, "m");
        assert_string_equal(s.labels[0].name, "a.b");
        assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_SAMPLE);
        assert_string_equal(s.name, "esc\"aped\\");
        assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_EOF);
        textparse_free(p);
        free(b);
        const char *eof = f ? "# EOF\n" : "";
        char bad[128];
        snprintf(bad, sizeof bad, "{\"a\",\"b\"} 1\n%s", eof);
        expect_error(fmt, bad, 1, "metric name already set");
        snprintf(bad, sizeof bad, "m{\"b\"} 1\n%s", eof);
        expect_error(fmt, bad, 1, "metric name already set");
        snprintf(bad, sizeof bad, "{a=\"b\"} 1\n%s", eof);
        expect_error(fmt, bad, 1, "metric name not set");
        snprintf(bad, sizeof bad, "{\"\"} 1\n%s", eof);
        expect_error(fmt, bad, 1, "invalid metric name: empty");
        snprintf(bad, sizeof bad, "m{\"\"=\"v\"} 1\n%s", eof);
        expect_error(fmt, bad, 1, "invalid label name: empty");
        snprintf(bad, sizeof bad, "{\"a\xff\"} 1\n%s", eof);
        expect_error(fmt, bad, 1, "invalid UTF-8 in name");
    }
}

/* Unquoted label names: the lexer must accept exactly label_name_valid's names. */
static void test_label_name_grammar_matches_labels_h(void **state) {
    (void)state;
    for (int c = 0; c < 256; c++) {
        for (int pos = 0; pos < 2; pos++) { /* as first byte, and after "x" */
            char name[2] = {pos ? 'x' : (char)c, (char)c};
            size_t nlen = pos ? 2 : 1;
            char body[32];
            size_t n = 0;
            memcpy(body, "m{", 2), n = 2;
            memcpy(body + n, name, nlen), n += nlen;
            memcpy(body + n, "=\"v\"} 1\n", 8), n += 8;
            parse_result_t r = parse_all_n(TEXTPARSE_PROM, body, n);
            bool parsed = r.last == TEXTPARSE_EOF && r.n == 1 && r.s[0].nlabels == 1 &&
                          strlen(r.s[0].labels[0].name) == nlen && memcmp(r.s[0].labels[0].name, name, nlen) == 0;
            if (parsed != label_name_valid(name, nlen))
                fail_msg("byte 0x%02x at position %d: parser %d, label_name_valid %d", c, pos, parsed,
                         label_name_valid(name, nlen));
            result_free(&r);
        }
    }
}

/* Names are scanned eight bytes at a time: every byte value at every
 * position of a word, in label and metric names, must end the name exactly
 * when label_name_valid / metric_name_valid says so. */
static void test_name_scan_every_position(void **state) {
    (void)state;
    for (int c = 0; c < 256; c++) {
        for (int k = 1; k < 18; k++) {
            for (int metric = 0; metric < 2; metric++) {
                char name[32];
                memset(name, 'a', sizeof name);
                name[0] = 'n';
                name[k] = (char)c;
                size_t want = metric_name_valid(name, 24) && metric ? 24 : 0;
                if (!metric && label_name_valid(name, 24)) want = 24;
                if (!want) want = (size_t)k; /* the name ends at the bad byte */
                char body[64];
                size_t n = 0;
                if (metric) {
                    memcpy(body, name, 24), n = 24;
                    memcpy(body + n, "{} 1\n", 5), n += 5;
                } else {
                    memcpy(body, "m{", 2), n = 2;
                    memcpy(body + n, name, 24), n += 24;
                    memcpy(body + n, "=\"v\"} 1\n", 8), n += 8;
                }
                char *b = exact_copy(body, n);
                textparse_t *p = textparse_new(TEXTPARSE_PROM, b, n);
                textparse_sample_t s;
                enum textparse_entry e = textparse_next(p, &s, NULL);
                if (want == 24) {
                    if (e != TEXTPARSE_SAMPLE) fail_msg("byte 0x%02x at %d (metric %d) rejected", c, k, metric);
                    const char *got = metric ? s.name : s.labels[0].name;
                    assert_int_equal(strlen(got), 24);
                    assert_memory_equal(got, name, 24);
                } else {
                    /* the byte is not a name byte: the line cannot parse as a whole name */
                    if (e == TEXTPARSE_SAMPLE) {
                        const char *got = metric ? s.name : (s.nlabels ? s.labels[0].name : "");
                        if (strlen(got) != want)
                            fail_msg("byte 0x%02x at %d (metric %d): name '%s'", c, k, metric, got);
                    }
                }
                textparse_free(p);
                free(b);
            }
        }
    }
}

static void test_metric_name_grammar(void **state) {
    (void)state;
    for (int c = 0; c < 256; c++) {
        for (int f = 0; f < 2; f++) {
            char body[32];
            size_t n = 0;
            body[n++] = (char)c;
            body[n++] = 'x';
            memcpy(body + n, " 1\n", 3), n += 3;
            if (f) memcpy(body + n, "# EOF\n", 6), n += 6;
            parse_result_t r = parse_all_n(f ? TEXTPARSE_OPENMETRICS : TEXTPARSE_PROM, body, n);
            bool sample = r.n == 1 && strlen(r.s[0].name) == 2 && r.s[0].name[0] == (char)c;
            char name[2] = {(char)c, 'x'};
            if (sample != metric_name_valid(name, 2)) fail_msg("byte 0x%02x format %d: sample %d", c, f, sample);
            result_free(&r);
        }
    }
}

static void test_duplicate_labels(void **state) {
    (void)state;
    expect_error(TEXTPARSE_PROM, "m{a=\"1\",a=\"1\"} 1\n", 1, "duplicate label name \"a\"");
    expect_error(TEXTPARSE_PROM, "m{a=\"1\",b=\"2\",c=\"3\",b=\"4\"} 1\n", 1, "duplicate label name \"b\"");
    expect_error(TEXTPARSE_OPENMETRICS, "m{ab=\"1\",ab=\"2\"} 1\n# EOF\n", 1, "duplicate label name \"ab\"");
    expect_error(TEXTPARSE_PROM, "m{\"a\"=\"1\",a=\"2\"} 1\n", 1, "duplicate label name \"a\""); /* quoted == bare */
    expect_error(TEXTPARSE_PROM, "m{__name__=\"x\"} 1\n", 1, "\"__name__\" is reserved");
    expect_error(TEXTPARSE_PROM, "{\"m\",__name__=\"m\"} 1\n", 1, "\"__name__\" is reserved");
    /* Same length, same first and last byte: the digest matches, the names do not. */
    parse_result_t r = parse_ok(TEXTPARSE_PROM, "m{axb=\"1\",ayb=\"2\",a_b=\"3\"} 1\n");
    assert_int_equal(only_sample(&r)->nlabels, 3);
    result_free(&r);
}

/* Past 32 labels the duplicate check runs once per line by sorting. */
static void test_many_labels(void **state) {
    (void)state;
    strbuf_t sb = STRBUF_INIT;
    for (int dup = 0; dup < 3; dup++) {
        strbuf_reset(&sb);
        strbuf_puts(&sb, "wide{");
        for (int i = 0; i < 300; i++)
            strbuf_printf(&sb, "l%d=\"v%d\",", i, i);
        if (dup == 1) strbuf_puts(&sb, "l7=\"again\"");   /* late duplicate of an early label */
        if (dup == 2) strbuf_puts(&sb, "l250=\"again\""); /* duplicate among the late ones */
        strbuf_puts(&sb, "} 1\n");
        parse_result_t r = parse_all(TEXTPARSE_PROM, sb.data);
        if (dup == 0) {
            owned_sample_t *s = only_sample(&r);
            assert_int_equal(s->nlabels, 300);
            assert_string_equal(s->labels[299].name, "l299"); /* order of appearance */
            assert_string_equal(s->labels[299].value, "v299");
        } else {
            assert_int_equal(r.last, TEXTPARSE_ERROR);
            assert_non_null(strstr(r.err, dup == 1 ? "duplicate label name \"l7\"" : "duplicate label name \"l250\""));
        }
        result_free(&r);
    }
    strbuf_free(&sb);
}

/* Samples of the same shape reuse the parser's memory: after the first line
 * the name and label arrays stay where they are (no allocation per sample). */
static void test_buffers_reused(void **state) {
    (void)state;
    strbuf_t sb = STRBUF_INIT;
    for (int i = 0; i < 2000; i++)
        strbuf_printf(&sb, "metric_%04d{a=\"%04d\",b=\"x\",c=\"y\"} %d\n", i % 10, i, i);
    textparse_t *p = textparse_new(TEXTPARSE_PROM, sb.data, sb.len);
    textparse_sample_t s;
    const char *name0 = NULL;
    const label_t *labels0 = NULL;
    int n = 0;
    while (textparse_next(p, &s, NULL) == TEXTPARSE_SAMPLE) {
        if (n == 0) name0 = s.name, labels0 = s.labels;
        assert_ptr_equal(s.name, name0);
        assert_ptr_equal(s.labels, labels0);
        assert_int_equal(s.nlabels, 3);
        n++;
    }
    assert_int_equal(n, 2000);
    textparse_free(p);
    strbuf_free(&sb);
}

/* ---- raw bytes, line numbers, errors -------------------------------------- */

static void test_raw_bytes(void **state) {
    (void)state;
    parse_result_t r = parse_ok(TEXTPARSE_PROM, "a 1\n  b{x=\"1\"} 2 3\nc {x=\"\\\"\"}4\n{\"d.e\",f=\"g\"} 5\nh{} 6\n");
    assert_int_equal(r.n, 5);
    assert_string_equal(r.s[0].raw, "a");
    assert_string_equal(r.s[1].raw, "b{x=\"1\"}");     /* no leading blanks, no value, no timestamp */
    assert_string_equal(r.s[2].raw, "c {x=\"\\\"\"}"); /* as written, escapes and all */
    assert_string_equal(r.s[3].raw, "{\"d.e\",f=\"g\"}");
    assert_string_equal(r.s[4].raw, "h{}");
    result_free(&r);
    r = parse_ok(TEXTPARSE_OPENMETRICS, "a{b=\"c\"} 1 2 # {t=\"x\"} 1\n# EOF\n");
    assert_string_equal(only_sample(&r)->raw, "a{b=\"c\"}");
    result_free(&r);
    /* raw points into the body, so a cache can hash it without a copy */
    const char *body = "series{a=\"1\"} 1\n";
    textparse_t *p = textparse_new(TEXTPARSE_PROM, body, strlen(body));
    textparse_sample_t s;
    assert_int_equal(textparse_next(p, &s, NULL), TEXTPARSE_SAMPLE);
    assert_ptr_equal(s.raw, body);
    assert_int_equal(s.raw_len, 13);
    textparse_free(p);
}

static void test_line_numbers(void **state) {
    (void)state;
    expect_error(TEXTPARSE_PROM, "a 1\n\n# c\n# HELP a h\nb{ 2\n", 5, "expected label name, got \"2\"");
    expect_error(TEXTPARSE_PROM, "a{b=\"1\n2\n3\"} 1\nc x\n", 4, "invalid value \"x\"");
    expect_error(TEXTPARSE_OPENMETRICS, "# HELP a h\n# TYPE a gauge\n# UNIT a_x x\na 1\nb\n# EOF\n", 5,
                 "expected space and value");
    expect_error(TEXTPARSE_PROM, "a 1\nb 2\nc 3\n\xff\n", 4, "invalid metric name");
}

static void test_comments_text(void **state) {
    (void)state;
    const char *body = "# plain comment\n"
                       "#no blank\n"
                       "#\n"
                       "# HELPER not help\n"
                       "# TYPES not type\n"
                       "# UNIT a_seconds seconds\n"
                       "#\tHELP tabbed help after tab\n"
                       "# EOF\n"
                       "# comment with \\ backslash and \x01 control and \xff invalid UTF-8\n"
                       "a 1\n";
    const char *want[] = {"H tabbed help after tab", "S a 1"};
    expect_entries(TEXTPARSE_PROM, body, want, 2);
    /* A HELP line's name is cut at the first non-name byte and the byte after it dropped (Prometheus). */
    const char *odd[] = {"H foo bar text"};
    expect_entries(TEXTPARSE_PROM, "# HELP foo-bar text\n", odd, 1);
}

static void test_nul_and_utf8(void **state) {
    (void)state;
    /* NUL is an error in label values and HELP (promlab: C strings cannot carry it; Prometheus keeps it). */
    expect_error_n(TEXTPARSE_PROM, "a{b=\"x\0\"} 1\n", 12, 1, "NUL byte inside quoted label value");
    expect_error_n(TEXTPARSE_PROM, "# HELP a x\0y\n", 13, 1, "NUL byte in HELP text");
    expect_error_n(TEXTPARSE_PROM, "a 1\0\n", 5, 1, "invalid value");
    expect_error_n(TEXTPARSE_PROM, "\0", 1, 1, "invalid metric name");
    /* ... but skipped comments may hold anything */
    parse_result_t r = parse_all_n(TEXTPARSE_PROM, "# \0\xff\na 1\n", 9);
    assert_int_equal(r.last, TEXTPARSE_EOF);
    assert_int_equal(r.n, 1);
    result_free(&r);
    const char *bad_utf8[] = {"\xc3\x28",
                              "\xa0\xa1",
                              "\xe2\x28\xa1",
                              "\xe2\x82\x28",
                              "\xf0\x28\x8c\xbc",
                              "\xf8\xa1\xa1\xa1\xa1",
                              "\xed\xa0\x80" /* surrogate */,
                              "\xf4\x90\x80\x80" /* > U+10FFFF */,
                              "\xe0\x80\xaf" /* overlong */,
                              "\xc3"};
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
        char body[64];
        snprintf(body, sizeof body, "a{b=\"%s\"} 1\n", bad_utf8[i]);
        expect_error(TEXTPARSE_PROM, body, 1, "invalid UTF-8 in label value");
        snprintf(body, sizeof body, "# HELP a %s\n", bad_utf8[i]);
        expect_error(TEXTPARSE_PROM, body, 1, "not valid UTF-8");
    }
    r = parse_ok(TEXTPARSE_PROM, "a{b=\"\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\xef\xbf\xbf\"} 1\n");
    assert_string_equal(only_sample(&r)->labels[0].value, "é€𝄞\xef\xbf\xbf");
    result_free(&r);
}

static void test_om_unit(void **state) {
    (void)state;
    const char *want[] = {"U a_seconds seconds", "U b ", "S a_seconds 1"};
    expect_entries(TEXTPARSE_OPENMETRICS, "# UNIT a_seconds seconds\n# UNIT b \na_seconds 1\n# EOF\n", want, 3);
    expect_error(TEXTPARSE_OPENMETRICS, "# UNIT a seconds\n# EOF\n", 1,
                 "unit \"seconds\" not a suffix of metric \"a\"");
    expect_error(TEXTPARSE_OPENMETRICS, "# UNIT seconds seconds\n# EOF\n", 1, "not a suffix");
    expect_error(TEXTPARSE_OPENMETRICS, "# UNIT axseconds seconds\n# EOF\n", 1, "not a suffix");
}

static void test_sticky_error_and_null_err(void **state) {
    (void)state;
    const char *body = "a 1\nb{ 2\nc 3\n";
    textparse_t *p = textparse_new(TEXTPARSE_PROM, body, strlen(body));
    textparse_sample_t s;
    pl_err_t err;
    assert_int_equal(textparse_next(p, &s, NULL), TEXTPARSE_SAMPLE);
    assert_int_equal(textparse_next(p, &s, NULL), TEXTPARSE_ERROR); /* err may be NULL */
    memset(&err, 0, sizeof err);
    assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_ERROR); /* the same error again, not "c 3" */
    assert_true(strncmp(err.msg, "line 2: ", 8) == 0);
    textparse_free(p);
    textparse_free(NULL);
    /* a NULL body with length 0 is an empty body */
    p = textparse_new(TEXTPARSE_PROM, NULL, 0);
    assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_EOF);
    textparse_free(p);
}

/* Every prefix of valid bodies, in exactly sized buffers: must never read
 * past the end (ASan) and must either parse or fail with a line number. */
static void test_every_prefix_is_safe(void **state) {
    (void)state;
    const char *files[] = {CORPUS_VALID "/all-types.prom",    CORPUS_VALID "/all-types.om",
                           CORPUS_VALID "/exemplars.om",      CORPUS_VALID "/escapes.prom",
                           CORPUS_VALID "/quoted-names.prom", CORPUS_VALID "/whitespace.prom"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t len;
        char *body = pl_test_read_file(files[f], &len);
        assert_non_null(body);
        enum textparse_format fmt = format_of(files[f]);
        size_t errors = 0;
        for (size_t n = 0; n <= len; n++) {
            parse_result_t r = parse_all_n(fmt, body, n);
            if (r.last == TEXTPARSE_ERROR) {
                errors++;
                assert_true(strncmp(r.err, "line ", 5) == 0);
            }
            result_free(&r);
        }
        if (fmt == TEXTPARSE_OPENMETRICS) assert_true(errors >= len - 1); /* only the full body has # EOF */
        free(body);
    }
}

/* ---- writers -------------------------------------------------------------- */

static void test_writer_exact(void **state) {
    (void)state;
    strbuf_t sb = STRBUF_INIT;
    textparse_write_help(&sb, "http_requests_total", "Requests \\ with \"quotes\"\nand newline.");
    textparse_write_type(&sb, "http_requests_total", METRIC_TYPE_COUNTER);
    label_t ls[] = {{"__name__", "http_requests_total"}, {"code", "200"}, {"path", "/a\"b\\c\nd"}};
    textparse_write_sample(&sb, "http_requests_total", ls, 3, 1e6, true, 1395066363000);
    textparse_write_sample(&sb, "up", NULL, 0, 1, false, 0);
    label_t only_name[] = {{"__name__", "up"}};
    textparse_write_sample(&sb, "up", only_name, 1, 0.1, false, 0);
    textparse_write_sample(&sb, "x", ls + 1, 1, INFINITY, false, 0);
    textparse_write_sample(&sb, "x", ls + 1, 1, -INFINITY, true, -5);
    textparse_write_sample(&sb, "x", NULL, 0, NAN, false, 0);
    textparse_write_sample(&sb, "x", NULL, 0, -0.0, false, 0);
    textparse_write_sample(&sb, "x", NULL, 0, 1.5e-7, false, 0);
    textparse_write_sample(&sb, "x", NULL, 0, 123456789, false, 0);
    assert_string_equal(sb.data, "# HELP http_requests_total Requests \\\\ with \"quotes\"\\nand newline.\n"
                                 "# TYPE http_requests_total counter\n"
                                 "http_requests_total{code=\"200\",path=\"/a\\\"b\\\\c\\nd\"} 1e+06 1395066363000\n"
                                 "up 1\n"
                                 "up 0.1\n"
                                 "x{code=\"200\"} +Inf\n"
                                 "x{code=\"200\"} -Inf -5\n"
                                 "x NaN\n"
                                 "x -0\n"
                                 "x 1.5e-07\n"
                                 "x 1.23456789e+08\n");
    strbuf_reset(&sb);
    const enum metric_type types[] = {METRIC_TYPE_UNKNOWN,   METRIC_TYPE_COUNTER,         METRIC_TYPE_GAUGE,
                                      METRIC_TYPE_HISTOGRAM, METRIC_TYPE_GAUGE_HISTOGRAM, METRIC_TYPE_SUMMARY,
                                      METRIC_TYPE_INFO,      METRIC_TYPE_STATESET,        METRIC_TYPE_UNTYPED};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        textparse_write_type(&sb, "m", types[i]);
    /* 0.0.4 has no gaugehistogram/info/stateset/unknown: what the text format can say instead */
    assert_string_equal(sb.data, "# TYPE m untyped\n# TYPE m counter\n# TYPE m gauge\n# TYPE m histogram\n"
                                 "# TYPE m histogram\n# TYPE m summary\n# TYPE m gauge\n# TYPE m gauge\n"
                                 "# TYPE m untyped\n");
    /* and what it writes, the text parser reads back */
    parse_result_t r = parse_ok(TEXTPARSE_PROM, sb.data);
    assert_int_equal(r.ntype, 9);
    result_free(&r);
    strbuf_free(&sb);
}

static void test_writer_quoted_names(void **state) {
    (void)state;
    strbuf_t sb = STRBUF_INIT;
    textparse_write_help(&sb, "my.metric", "h");
    textparse_write_type(&sb, "my.metric", METRIC_TYPE_GAUGE);
    label_t ls[] = {{"a.b", "1"}, {"c", "2"}};
    textparse_write_sample(&sb, "my.metric", ls, 2, 1, false, 0);
    textparse_write_sample(&sb, "my.metric", NULL, 0, 2, false, 0);
    textparse_write_sample(&sb, "ok", ls, 1, 3, false, 0);
    assert_string_equal(sb.data, "# HELP \"my.metric\" h\n"
                                 "# TYPE \"my.metric\" gauge\n"
                                 "{\"my.metric\",\"a.b\"=\"1\",c=\"2\"} 1\n"
                                 "{\"my.metric\"} 2\n"
                                 "ok{\"a.b\"=\"1\"} 3\n");
    strbuf_free(&sb);
}

/* ---- round trip and corpora ------------------------------------------------ */

/* parse -> write (text 0.0.4) -> parse gives the same samples and HELP texts. */
static void round_trip(const char *what, enum textparse_format fmt, const char *body, size_t len) {
    char *b = exact_copy(body, len);
    textparse_t *p = textparse_new(fmt, b, len);
    textparse_sample_t s;
    pl_err_t err;
    strbuf_t out = STRBUF_INIT;
    parse_result_t first = {0};
    size_t helps = 0;
    char **help_texts = NULL;
    for (;;) {
        enum textparse_entry e = textparse_next(p, &s, &err);
        if (e == TEXTPARSE_ERROR) fail_msg("%s: %s", what, err.msg);
        if (e == TEXTPARSE_EOF) break;
        if (e == TEXTPARSE_HELP) {
            textparse_write_help(&out, textparse_meta_name(p), textparse_meta_text(p));
            char **grown = realloc(help_texts, (helps + 1) * sizeof *help_texts);
            assert_non_null(grown);
            help_texts = grown;
            help_texts[helps++] = dup0(textparse_meta_text(p));
        }
        if (e == TEXTPARSE_TYPE) textparse_write_type(&out, textparse_meta_name(p), textparse_meta_type(p));
        if (e == TEXTPARSE_SAMPLE) {
            if (s.has_timestamp && s.timestamp_ms < 0) continue; /* text timestamps cannot be negative */
            keep_sample(&first, &s);
            textparse_write_sample(&out, s.name, s.labels, s.nlabels, s.value, s.has_timestamp, s.timestamp_ms);
        }
    }
    textparse_free(p);
    free(b);

    p = textparse_new(TEXTPARSE_PROM, out.data, out.len);
    size_t i = 0, h = 0;
    for (;;) {
        enum textparse_entry e = textparse_next(p, &s, &err);
        if (e == TEXTPARSE_ERROR) fail_msg("%s: written body does not parse: %s\n%s", what, err.msg, out.data);
        if (e == TEXTPARSE_EOF) break;
        if (e == TEXTPARSE_HELP) {
            assert_true(h < helps);
            assert_string_equal(textparse_meta_text(p), help_texts[h]);
            h++;
        }
        if (e == TEXTPARSE_SAMPLE) {
            parse_result_t again = {0};
            keep_sample(&again, &s);
            assert_true(i < first.n);
            assert_samples_equal(&first.s[i], &again.s[0]);
            result_free(&again);
            i++;
        }
    }
    assert_int_equal(i, first.n);
    assert_int_equal(h, helps);
    textparse_free(p);
    for (size_t k = 0; k < helps; k++)
        free(help_texts[k]);
    free(help_texts);
    result_free(&first);
    strbuf_free(&out);
}

static void test_round_trip(void **state) {
    (void)state;
    char **names;
    size_t n = list_corpus(CORPUS_VALID, &names);
    assert_true(n >= 10);
    for (size_t i = 0; i < n; i++) {
        char *path = join_path(CORPUS_VALID, names[i]);
        size_t len;
        char *body = pl_test_read_file(path, &len);
        assert_non_null(body);
        round_trip(path, format_of(names[i]), body, len);
        free(body);
        free(path);
    }
    free_list(names, n);
    const char *tricky =
        "m{a=\"\\\\\\\"\\n\\t\r\",\"q.l\"=\"\"} -0 0\n{\"n.m\"} NaN\nx 4.9e-324\ny -1.7976931348623157e308\n";
    round_trip("tricky", TEXTPARSE_PROM, tricky, strlen(tricky));
}

static void test_valid_corpus(void **state) {
    (void)state;
    char **names;
    size_t n = list_corpus(CORPUS_VALID, &names);
    assert_true(n >= 10);
    for (size_t i = 0; i < n; i++) {
        char *path = join_path(CORPUS_VALID, names[i]);
        size_t len;
        char *body = pl_test_read_file(path, &len);
        assert_non_null(body);
        parse_result_t r = parse_all_n(format_of(names[i]), body, len);
        if (r.last != TEXTPARSE_EOF) fail_msg("%s: %s", path, r.err);
        if (r.n == 0) fail_msg("%s: no samples", path);
        result_free(&r);
        free(body);
        free(path);
    }
    free_list(names, n);
}

static void test_node_exporter_body(void **state) {
    (void)state;
    for (int f = 0; f < 2; f++) {
        const char *path = f ? CORPUS_VALID "/node_exporter-1.5.0.om" : CORPUS_VALID "/node_exporter-1.5.0.prom";
        size_t len;
        char *body = pl_test_read_file(path, &len);
        assert_non_null(body);
        parse_result_t r = parse_all_n(f ? TEXTPARSE_OPENMETRICS : TEXTPARSE_PROM, body, len);
        assert_int_equal(r.last, TEXTPARSE_EOF);
        assert_int_equal(r.n, 505);
        assert_int_equal(r.nhelp, 282);
        assert_int_equal(r.ntype, 282);
        bool found_cpu = false, found_build = false;
        for (size_t i = 0; i < r.n; i++) {
            const owned_sample_t *s = &r.s[i];
            if (strcmp(s->name, "node_cpu_seconds_total") == 0 && s->nlabels == 2 &&
                strcmp(s->labels[0].name, "cpu") == 0 && strcmp(s->labels[1].name, "mode") == 0)
                found_cpu = true;
            if (strcmp(s->name, "node_exporter_build_info") == 0) {
                found_build = true;
                assert_string_equal(labels_get(s->labels, s->nlabels, "version"), "1.5.0");
                assert_true(s->value == 1);
            }
            assert_false(s->has_ts);
        }
        assert_true(found_cpu);
        assert_true(found_build);
        result_free(&r);
        free(body);
    }
}

/* The same body fed in pieces cut at random line boundaries, each piece in a
 * heap block of its exact size (so ASan sees any read past a piece). */
static parse_result_t parse_stream_n(enum textparse_format fmt, const char *body, size_t len, unsigned seed) {
    parse_result_t r = {0};
    textparse_t *p = textparse_new_stream(fmt);
    assert_non_null(p);
    size_t off = 0, prev_end = 0; /* where the next piece starts; where the last one ended */
    char *piece = NULL;
    textparse_sample_t s;
    pl_err_t err;
    for (;;) {
        /* next piece: what the parser left unconsumed, then 1..8 more lines (or the rest) */
        size_t end = prev_end;
        int lines = 1 + (int)(rand_r(&seed) % 8);
        while (end < len && lines > 0) {
            const char *nl = memchr(body + end, '\n', len - end);
            end = nl ? (size_t)(nl - body) + 1 : len;
            lines--;
        }
        bool final = end >= len;
        prev_end = end;
        free(piece);
        piece = exact_copy(body + off, end - off);
        textparse_feed(p, piece, end - off, final);
        size_t start = off;
        enum textparse_entry e;
        while ((e = textparse_next(p, &s, &err)) != TEXTPARSE_NEED_MORE) {
            if (e == TEXTPARSE_EOF && end < len) {
                /* OpenMetrics ended at "# EOF" but the body goes on: feed the rest, as a scraper would. */
                free(piece);
                piece = exact_copy(body + end, len - end);
                textparse_feed(p, piece, len - end, true);
                end = len;
                e = textparse_next(p, &s, &err);
            }
            if (e == TEXTPARSE_EOF || e == TEXTPARSE_ERROR) {
                r.last = e;
                if (e == TEXTPARSE_ERROR) snprintf(r.err, sizeof r.err, "%s", err.msg);
                goto done;
            }
            if (e == TEXTPARSE_SAMPLE) keep_sample(&r, &s);
            if (e == TEXTPARSE_HELP) r.nhelp++;
            if (e == TEXTPARSE_TYPE) r.ntype++;
            if (e == TEXTPARSE_UNIT) r.nunit++;
        }
        if (final) fail_msg("NEED_MORE after the final piece");
        off = start + textparse_consumed(p);
    }
done:
    free(piece);
    textparse_free(p);
    return r;
}

static void assert_stream_matches(const char *path, enum textparse_format fmt, const char *body, size_t len) {
    parse_result_t whole = parse_all_n(fmt, body, len);
    for (unsigned seed = 1; seed <= 5; seed++) {
        parse_result_t st = parse_stream_n(fmt, body, len, seed);
        if (st.last != whole.last || strcmp(st.err, whole.err) != 0)
            fail_msg("%s (seed %u): streamed ended %d '%s', whole %d '%s'", path, seed, st.last, st.err, whole.last,
                     whole.err);
        assert_int_equal(st.n, whole.n);
        assert_int_equal(st.nhelp, whole.nhelp);
        assert_int_equal(st.ntype, whole.ntype);
        assert_int_equal(st.nunit, whole.nunit);
        for (size_t i = 0; i < st.n; i++) assert_samples_equal(&st.s[i], &whole.s[i]);
        result_free(&st);
    }
    result_free(&whole);
}

/* Streaming gives exactly what parsing the whole body gives: the same
 * samples, metadata and errors (with the same line numbers). */
static void test_streaming_matches_whole(void **state) {
    (void)state;
    const char *dirs[] = {CORPUS_VALID, CORPUS_MALFORMED};
    for (int d = 0; d < 2; d++) {
        char **names;
        size_t n = list_corpus(dirs[d], &names);
        for (size_t i = 0; i < n; i++) {
            char *path = join_path(dirs[d], names[i]);
            size_t len;
            char *body = pl_test_read_file(path, &len);
            assert_non_null(body);
            assert_stream_matches(path, format_of(names[i]), body, len);
            free(body);
            free(path);
        }
        free_list(names, n);
    }
    /* OpenMetrics: data in a later piece after "# EOF" is refused. */
    textparse_t *p = textparse_new_stream(TEXTPARSE_OPENMETRICS);
    textparse_sample_t s;
    pl_err_t err;
    textparse_feed(p, "a 1\n# EOF\n", 10, false);
    assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_SAMPLE);
    assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_EOF);
    textparse_feed(p, "b 2\n", 4, true);
    assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_ERROR);
    assert_non_null(strstr(err.msg, "unexpected data after # EOF"));
    textparse_free(p);
    /* ...and an OpenMetrics stream that ends without "# EOF" is refused at the final piece. */
    p = textparse_new_stream(TEXTPARSE_OPENMETRICS);
    textparse_feed(p, "a 1\n", 4, false);
    assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_SAMPLE);
    assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_NEED_MORE);
    textparse_feed(p, "", 0, true);
    assert_int_equal(textparse_next(p, &s, &err), TEXTPARSE_ERROR);
    assert_non_null(strstr(err.msg, "does not end with # EOF"));
    textparse_free(p);
}

/* The manifest says, per malformed file, the line and a piece of the message. */
static void test_malformed_corpus(void **state) {
    (void)state;
    size_t mlen;
    char *manifest = pl_test_read_file(CORPUS_MALFORMED "/expected.tsv", &mlen);
    assert_non_null(manifest);
    char **names;
    size_t n = list_corpus(CORPUS_MALFORMED, &names);
    assert_true(n >= 30);
    size_t listed = 0;
    for (char *line = strtok(manifest, "\n"); line; line = strtok(NULL, "\n")) {
        char *tab1 = strchr(line, '\t');
        assert_non_null(tab1);
        char *tab2 = strchr(tab1 + 1, '\t');
        assert_non_null(tab2);
        *tab1 = *tab2 = '\0';
        const char *file = line, *want = tab2 + 1;
        int want_line = atoi(tab1 + 1);
        char *path = join_path(CORPUS_MALFORMED, file);
        size_t len;
        char *body = pl_test_read_file(path, &len);
        if (!body) fail_msg("%s listed in expected.tsv but missing", path);
        parse_result_t r = parse_all_n(format_of(file), body, len);
        if (r.last != TEXTPARSE_ERROR) fail_msg("%s: parsed without error", path);
        char prefix[32];
        snprintf(prefix, sizeof prefix, "line %d: ", want_line);
        if (strncmp(r.err, prefix, strlen(prefix)) != 0 || !strstr(r.err, want))
            fail_msg("%s: error '%s', want '%s...%s'", path, r.err, prefix, want);
        /* the other format must not crash on it either */
        parse_result_t other =
            parse_all_n(format_of(file) == TEXTPARSE_PROM ? TEXTPARSE_OPENMETRICS : TEXTPARSE_PROM, body, len);
        result_free(&other);
        result_free(&r);
        free(body);
        free(path);
        listed++;
    }
    assert_int_equal(listed, n); /* every corpus file has its expectation */
    free_list(names, n);
    free(manifest);
}

PL_TEST_MAIN(cmocka_unit_test(test_content_type), cmocka_unit_test(test_streaming_matches_whole), cmocka_unit_test(test_metric_type_str),
             cmocka_unit_test(test_text_all_types), cmocka_unit_test(test_om_all_types),
             cmocka_unit_test(test_meta_type_tracking), cmocka_unit_test(test_label_value_escapes),
             cmocka_unit_test(test_help_escapes), cmocka_unit_test(test_special_values),
             cmocka_unit_test(test_value_syntax_errors), cmocka_unit_test(test_float_fast_path_matches_strtod),
             cmocka_unit_test(test_hex_floats_opt_in), cmocka_unit_test(test_text_timestamps),
             cmocka_unit_test(test_om_timestamps), cmocka_unit_test(test_exemplars_dropped),
             cmocka_unit_test(test_exemplar_errors), cmocka_unit_test(test_om_eof),
             cmocka_unit_test(test_trailing_commas), cmocka_unit_test(test_text_whitespace),
             cmocka_unit_test(test_om_whitespace), cmocka_unit_test(test_crlf_rejected),
             cmocka_unit_test(test_quoted_names), cmocka_unit_test(test_label_name_grammar_matches_labels_h),
             cmocka_unit_test(test_metric_name_grammar), cmocka_unit_test(test_name_scan_every_position),
             cmocka_unit_test(test_duplicate_labels), cmocka_unit_test(test_many_labels),
             cmocka_unit_test(test_buffers_reused), cmocka_unit_test(test_raw_bytes),
             cmocka_unit_test(test_line_numbers), cmocka_unit_test(test_comments_text),
             cmocka_unit_test(test_nul_and_utf8), cmocka_unit_test(test_om_unit),
             cmocka_unit_test(test_sticky_error_and_null_err), cmocka_unit_test(test_every_prefix_is_safe),
             cmocka_unit_test(test_writer_exact), cmocka_unit_test(test_writer_quoted_names),
             cmocka_unit_test(test_round_trip), cmocka_unit_test(test_valid_corpus),
             cmocka_unit_test(test_node_exporter_body), cmocka_unit_test(test_malformed_corpus))
