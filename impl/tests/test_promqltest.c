/* test_promqltest.c — the promqltest parser (every syntax element, the
 * conformance files' command counts against an independent scan) and the
 * runner's comparison logic against a scripted fake engine. */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/labels.h"
#include "promql/promqltest.h"

#define CONFORMANCE_DIR "../shared/conformance/promql"

static int parse_text(const char *text, promqltest_file_t *f, pl_err_t *err) {
    return promqltest_parse("t.test", text, strlen(text), f, err);
}

static const promqltest_eval_t *nth_eval(const promqltest_file_t *f, size_t n) {
    for (size_t i = 0; i < f->ncmds; i++)
        if (f->cmds[i].kind == PROMQLTEST_CMD_EVAL && n-- == 0) return &f->cmds[i].eval;
    fail_msg("no eval #%zu", n);
    return NULL;
}

static const char *label(const promqltest_series_t *s, const char *name) {
    return labels_get(s->labels, s->nlabels, name);
}

/* ------------------------------------------------------------------ */
/* value sequences                                                      */
/* ------------------------------------------------------------------ */

static void expect_values(const char *text, const double *want_v, const int64_t *want_slot, size_t n, size_t nslots) {
    promqltest_series_t s = {0};
    pl_err_t err;
    if (promqltest_parse_values(text, strlen(text), &s, &err) != 0) fail_msg("%s: %s", text, err.msg);
    if (s.nsamples != n) fail_msg("%s: %zu samples, want %zu", text, s.nsamples, n);
    assert_int_equal(s.nslots, nslots);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(s.samples[i].t, want_slot[i]);
        if (isnan(want_v[i]))
            assert_true(isnan(s.samples[i].v));
        else
            assert_true(s.samples[i].v == want_v[i]);
    }
    free(s.samples);
}

static void test_values_expansions(void **state) {
    expect_values("1+2x3", (double[]){1, 3, 5, 7}, (int64_t[]){0, 1, 2, 3}, 4, 4);
    expect_values("10-1x3", (double[]){10, 9, 8, 7}, (int64_t[]){0, 1, 2, 3}, 4, 4);
    expect_values("-2x2", (double[]){-2, -2, -2}, (int64_t[]){0, 1, 2}, 3, 3);
    expect_values("1 _ 3", (double[]){1, 3}, (int64_t[]){0, 2}, 2, 3);
    expect_values("_x3 5", (double[]){5}, (int64_t[]){3}, 1, 4);
    expect_values("_ _ 0+60x2", (double[]){0, 60, 120}, (int64_t[]){2, 3, 4}, 3, 5);
    expect_values("Inf -Inf NaN +Inf", (double[]){INFINITY, -INFINITY, NAN, INFINITY}, (int64_t[]){0, 1, 2, 3}, 4, 4);
    expect_values("1e3 .5 2.5e-1", (double[]){1000, 0.5, 0.25}, (int64_t[]){0, 1, 2}, 3, 3);
    /* No hexadecimal in series values: 0x2 is 0 three times. */
    expect_values("0x2", (double[]){0, 0, 0}, (int64_t[]){0, 1, 2}, 3, 3);
    expect_values("0+10x2", (double[]){0, 10, 20}, (int64_t[]){0, 1, 2}, 3, 3);
    expect_values("", NULL, NULL, 0, 0);
    /* Repeated addition, as the reference parser does: 0.1 added 3 times. */
    double r = 0;
    r += 0.1;
    double r2 = r + 0.1, r3 = r2 + 0.1;
    expect_values("0+0.1x3", (double[]){0, r, r2, r3}, (int64_t[]){0, 1, 2, 3}, 4, 4);
}

static void test_values_stale_and_histograms(void **state) {
    promqltest_series_t s = {0};
    pl_err_t err;
    const char *t = "1 stale _ {{schema:0 sum:5 count:4 buckets:[1 2 1]}}x2 {{schema:0}}+{{count:1}}x1 7";
    assert_int_equal(promqltest_parse_values(t, strlen(t), &s, &err), 0);
    assert_true(s.has_histogram);
    /* slots: 1, stale, _, h h h, h h, 7 */
    assert_int_equal(s.nslots, 9);
    assert_int_equal(s.nsamples, 3);
    assert_true(pl_is_stale_nan(s.samples[1].v));
    assert_int_equal(s.samples[1].t, 1);
    assert_int_equal(s.samples[2].t, 8);
    assert_true(s.samples[2].v == 7);
    /* the histogram slots, for the runner to tell storage where they are */
    assert_int_equal(s.nhist, 5);
    assert_int_equal(s.hist_slots[0], 3);
    assert_int_equal(s.hist_slots[4], 7);
    free(s.samples);
    free(s.hist_slots);
}

static void test_values_errors(void **state) {
    const char *bad[] = {"1+2", "abc", "1x", "_x", "1 2 foo", "{{schema:0", "1+{{a:1}}x2", "stalex2", "1x99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        promqltest_series_t s = {0};
        pl_err_t err;
        if (promqltest_parse_values(bad[i], strlen(bad[i]), &s, &err) == 0) fail_msg("%s parsed", bad[i]);
        free(s.samples);
        free(s.hist_slots);
    }
}

/* ------------------------------------------------------------------ */
/* commands                                                             */
/* ------------------------------------------------------------------ */

static void test_parse_load_series_descriptors(void **state) {
    const char *text = "load 1m\n"
                       "  foo{a=\"b\", c='d\\n', e=`raw\\n`} 1 2\n"
                       "\t{__name__=\"bar\", job=\"x\"} 3\n"
                       "  {\"my.metric\", \"label.x\"=\"v\", } 4\n"
                       "  baz {a=\"1\"} 5\n"
                       "  esc{a=\"\\x41\\u00e9\\\"\"} 6\n"
                       "  foo{a=\"b\", c='d\\n', e=`raw\\n`} 9 9 9\n"
                       "\n"
                       "load 30s\n"
                       "  hist {{schema:0 count:1}}\n";
    promqltest_file_t f;
    pl_err_t err;
    if (parse_text(text, &f, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(f.ncmds, 2);
    const promqltest_load_t *ld = &f.cmds[0].load;
    assert_int_equal(f.cmds[0].line, 1);
    assert_int_equal(ld->interval_ms, 60000);
    assert_false(ld->has_histogram);
    /* The repeated foo line replaced the first one (the harness keys by labels). */
    assert_int_equal(ld->nseries, 5);
    const promqltest_series_t *foo = &ld->series[0];
    assert_string_equal(label(foo, "__name__"), "foo");
    assert_string_equal(label(foo, "c"), "d\n");
    assert_string_equal(label(foo, "e"), "raw\\n");
    assert_int_equal(foo->nsamples, 3);
    assert_int_equal(foo->line, 7);
    /* sorted labels */
    assert_string_equal(foo->labels[0].name, "__name__");
    assert_string_equal(foo->labels[1].name, "a");
    assert_string_equal(label(&ld->series[1], "__name__"), "bar");
    assert_string_equal(label(&ld->series[2], "__name__"), "my.metric");
    assert_string_equal(label(&ld->series[2], "label.x"), "v");
    assert_string_equal(label(&ld->series[3], "__name__"), "baz");
    assert_string_equal(label(&ld->series[3], "a"), "1");
    assert_string_equal(label(&ld->series[4], "a"), "A\xc3\xa9\"");
    const promqltest_load_t *h = &f.cmds[1].load;
    assert_int_equal(f.cmds[1].line, 9);
    assert_true(h->has_histogram);
    assert_string_equal(label(&h->series[0], "__name__"), "hist");
    assert_int_equal(h->series[0].nslots, 1);
    promqltest_file_free(&f);
}

static void test_parse_evals(void **state) {
    const char *text = "# a comment\n"
                       "load 5m\n"
                       "  m{a=\"1\"} 0+1x10\n"
                       "\n"
                       "eval instant at 50m sum(m) # trailing stays in the query\n"
                       "  expect no_warn\n"
                       "  expect info msg: PromQL info: something # with hash\n"
                       "  expect info regex: some.*\n"
                       "  {} 10\n"
                       "\n"
                       "eval range from 0 to 10m step 5m m\n"
                       "  m{a=\"1\"} 0 _ 2\n"
                       "\n"
                       "eval instant at 1h5m 2 ^ 10\n"
                       "  1024\n"
                       "\n"
                       "eval instant at 0 \"x\"\n"
                       "  expect string \"a\\tb\"\n"
                       "\n"
                       "eval instant at 1m m[1m]\n"
                       "  expect range vector from 10s to 1m step 10s\n"
                       "  m{a=\"1\"} 1 2 3 _ 5 6\n"
                       "\n"
                       "eval instant at 5m sort(m)\n"
                       "  expect ordered\n"
                       "  expect fail regex: bad.*\n"
                       "  expect warn\n"
                       "# comment ends the block\n"
                       "clear\n"
                       "eval_ordered instant at 5m m\n"
                       "\n"
                       "eval_fail instant at 5m m\n"
                       "  expected_fail_message oops: it failed\n"
                       "\n"
                       "eval_warn range from 0 to 1m step 30s m\n"
                       "\n"
                       "eval_info instant at 10s m\n"
                       "\n"
                       "eval instant at 1m 0x1F\n"
                       "  0x1F\n";
    promqltest_file_t f;
    pl_err_t err;
    if (parse_text(text, &f, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(f.nevals, 11);
    assert_int_equal(f.nloads, 1);
    assert_int_equal(f.nclears, 1);

    const promqltest_eval_t *e = nth_eval(&f, 0);
    assert_string_equal(e->expr, "sum(m) # trailing stays in the query");
    assert_int_equal(e->start_ms, 3000000);
    assert_false(e->is_range);
    assert_true(e->no_warn);
    assert_int_equal(e->ninfos, 2);
    assert_int_equal(e->infos[0].match, PROMQLTEST_MATCH_MSG);
    assert_string_equal(e->infos[0].text, "PromQL info: something # with hash");
    assert_int_equal(e->infos[1].match, PROMQLTEST_MATCH_REGEX);
    assert_string_equal(e->infos[1].text, "some.*");
    assert_int_equal(e->kind, PROMQLTEST_EXPECT_VECTOR);
    assert_int_equal(e->nexpected, 1);
    assert_int_equal(e->expected[0].nlabels, 0);
    assert_true(e->expected[0].samples[0].v == 10);
    assert_int_equal(f.cmds[1].line, 5);
    assert_int_equal(f.cmds[2].line, 11);

    e = nth_eval(&f, 1);
    assert_true(e->is_range);
    assert_int_equal(e->start_ms, 0);
    assert_int_equal(e->end_ms, 600000);
    assert_int_equal(e->step_ms, 300000);
    assert_int_equal(e->kind, PROMQLTEST_EXPECT_MATRIX);
    assert_int_equal(e->expected[0].nslots, 3);
    assert_int_equal(e->expected[0].nsamples, 2);

    e = nth_eval(&f, 2);
    assert_int_equal(e->start_ms, 3900000);
    assert_int_equal(e->kind, PROMQLTEST_EXPECT_SCALAR);
    assert_true(e->scalar == 1024);

    e = nth_eval(&f, 3);
    assert_int_equal(e->kind, PROMQLTEST_EXPECT_STRING);
    assert_string_equal(e->string, "a\tb");

    e = nth_eval(&f, 4);
    assert_true(e->range_vector);
    assert_int_equal(e->kind, PROMQLTEST_EXPECT_MATRIX);
    assert_int_equal(e->rv_start_ms, 10000);
    assert_int_equal(e->rv_end_ms, 60000);
    assert_int_equal(e->rv_step_ms, 10000);
    assert_int_equal(e->expected[0].nslots, 6);

    e = nth_eval(&f, 5);
    assert_true(e->ordered);
    assert_true(e->expect_fail);
    assert_string_equal(e->fail_regex, "bad.*");
    assert_int_equal(e->nwarns, 1);
    assert_int_equal(e->warns[0].match, PROMQLTEST_MATCH_ANY);
    assert_int_equal(e->nexpected, 0);

    e = nth_eval(&f, 6);
    assert_true(e->ordered);
    assert_int_equal(e->nexpected, 0);
    e = nth_eval(&f, 7);
    assert_true(e->expect_fail);
    assert_string_equal(e->fail_msg, "oops: it failed");
    e = nth_eval(&f, 8);
    assert_true(e->is_range);
    assert_int_equal(e->nwarns, 1);
    promqltest_file_free(&f);

    /* A scalar line in hex (Go's ParseInt with base prefix). */
    const char *t2 = "eval instant at 1m 0x1F\n  0x1F\n\neval instant at 0 1\n  -Inf\n";
    assert_int_equal(parse_text(t2, &f, &err), 0);
    assert_true(nth_eval(&f, 0)->scalar == 31);
    assert_true(nth_eval(&f, 1)->scalar == -INFINITY);
    promqltest_file_free(&f);
}

static void test_parse_errors(void **state) {
    struct {
        const char *text;
        const char *want; /* substring of the message */
    } cases[] = {
        {"foo bar\n", "t.test:1: invalid command"},
        {"load\n", "t.test:1:"},
        {"load 1x\n", "t.test:1:"},
        {"load 1m\n  foo{a=\"b\" 1\n", "t.test:2:"},
        {"load 1m\n  foo 1+2\n", "t.test:2:"},
        {"\n\neval instant at 1m foo\n  foo 1 2\n", "t.test:4: expecting multiple values"},
        {"eval instant at 1m foo\n  expect no_warn\n  expect warn\n", "no_warn"},
        {"eval instant at 1m foo\n  expect fail\n  expect fail\n", "only one expect fail"},
        {"eval instant at 1m foo\n  expect sometimes\n", "unknown expect"},
        {"eval instant at 1m foo\n  expect warn message: x\n", "msg: or regex:"},
        {"eval range from 0 to 1m foo\n", "t.test:1:"},
        {"eval range from 0 to 1m step 0 foo\n", "step"},
        {"eval range from 0 to 1m step 1m foo\n  expect ordered\n", "ordered"},
        {"eval instant at 1m\n", "without a query"},
        {"eval instant 1m foo\n", "at <time>"},
        {"eval sometime at 1m foo\n", "instant"},
        {"clear now\n", "clear"},
        {"eval instant at 1m foo\n  expected_fail_message x\n", "eval_fail"},
        {"eval instant at 1m foo\n  foo{a=\"b\"} 1\n  bar{\n", "t.test:3:"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        promqltest_file_t f;
        pl_err_t err = {{0}};
        if (parse_text(cases[i].text, &f, &err) == 0) fail_msg("case %zu parsed: %s", i, cases[i].text);
        if (!strstr(err.msg, cases[i].want)) fail_msg("case %zu: message %s lacks %s", i, err.msg, cases[i].want);
        assert_int_equal(f.ncmds, 0);
    }
}

static void test_histogram_classification(void **state) {
    const char *text = "load 1m\n"
                       "  floaty 1 2 3\n"
                       "  histy {{schema:0 count:1}} 2\n"
                       "\n"
                       "load_with_nhcb 1m\n"
                       "  lat_bucket{le=\"1\"} 1 2\n"
                       "  lat_bucket{le=\"+Inf\"} 2 3\n"
                       "\n"
                       "eval instant at 1m floaty\n\n\n"                     /* 0: float */
                       "eval instant at 1m histy\n\n"                        /* 1: NH */
                       "eval instant at 1m sum(rate(histy[5m]))\n\n"         /* 2: NH */
                       "eval instant at 1m lat_bucket\n\n"                   /* 3: float */
                       "eval instant at 1m histogram_quantile(0.5, lat)\n\n" /* 4: NH */
                       "eval instant at 1m {job=\"x\"}\n\n"                  /* 5: NH */
                       "eval instant at 1m {__name__=\"floaty\"}\n\n"        /* 6: float */
                       "eval instant at 1m {__name__=~\"lat_.*\"}\n\n"       /* 7: float */
                       "eval instant at 1m {__name__=~\"la.*\"}\n\n"         /* 8: NH */
                       "eval instant at 1m floaty + on(histy) floaty\n\n"    /* 9: NH (conservative) */
                       "eval instant at 1m label_replace(floaty, \"a\", \"histy\", \"\", \"\")\n\n" /* 10: NH */
                       "eval instant at 1m floaty\n"
                       "  {} {{schema:0}}\n\n" /* 11: NH by expected output */
                       "clear\n"
                       "eval instant at 1m histy\n\n" /* 12: float: cleared */
                       "";
    promqltest_file_t f;
    pl_err_t err;
    if (parse_text(text, &f, &err) != 0) fail_msg("%s", err.msg);
    bool want[] = {false, true, true, false, true, true, false, false, true, true, true, true, false};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (nth_eval(&f, i)->involves_histograms != want[i]) fail_msg("eval %zu: classification wrong", i);
    assert_int_equal(f.nevals_histogram, 8);
    promqltest_file_free(&f);
}

/* Malformed input never crashes or reads past the buffer: every prefix of a
 * representative file, and random byte mutations of it, are parsed from an
 * exact-length heap copy (no terminating NUL) under ASan. */
static const char MALFORMED_BASE[] =
    "load 1m\n"
    "  m{a=\"x\\\"y\", b='\\u00e9', c=`raw`} 0+1x10 _ stale -1-2x2 Inf\n"
    "  {\"my.metric\", \"l.x\"=\"v\"} _x3 1e3 {{schema:0 sum:1 count:2 buckets:[1 1]}}x2\n"
    "  h {{schema:0}}+{{count:1}}x3\n"
    "\n"
    "eval instant at 1h5m sum by (a) (rate(m[5m]))\n"
    "  expect warn msg: PromQL warning: x\n"
    "  expect ordered\n"
    "  {a=\"x\\\"y\"} 1.5\n"
    "\n"
    "eval range from 0 to 10m step 1m m\n"
    "  m{a=\"1\"} 1 _ 3x2 {{count:1}}\n"
    "\n"
    "eval instant at 1m m[1m]\n"
    "  expect range vector from 10s to 1m step 10s\n"
    "  expect string \"s\\x41\"\n"
    "  0x1F\n"
    "clear\n"
    "eval_fail instant at 0 x\n"
    "  expected_fail_regexp a(\n";

static void parse_exact(const char *text, size_t len) {
    char *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    promqltest_file_t f;
    pl_err_t err;
    if (promqltest_parse("m.test", copy, len, &f, &err) == 0) promqltest_file_free(&f);
    promqltest_series_t s = {0};
    if (promqltest_parse_values(copy, len, &s, &err) == 0 || s.samples) free(s.samples);
    free(s.hist_slots);
    free(copy);
}

static void test_parse_malformed_inputs(void **state) {
    size_t len = sizeof MALFORMED_BASE - 1;
    promqltest_file_t f;
    pl_err_t err;
    if (promqltest_parse("m.test", MALFORMED_BASE, len, &f, &err) != 0) fail_msg("base: %s", err.msg);
    assert_int_equal(f.nevals, 4);
    promqltest_file_free(&f);
    for (size_t cut = 0; cut <= len; cut++)
        parse_exact(MALFORMED_BASE, cut);
    static const char alphabet[] = "{}\"'`\\=,_x+-.0123456789eE \n\t#@[]:(a";
    char *buf = malloc(len);
    uint32_t seed = 12345;
    for (int iter = 0; iter < 4000; iter++) {
        memcpy(buf, MALFORMED_BASE, len);
        int nmut = 1 + iter % 4;
        for (int k = 0; k < nmut; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t pos = (seed >> 8) % len;
            seed = seed * 1103515245u + 12345u;
            buf[pos] = alphabet[(seed >> 8) % (sizeof alphabet - 1)];
        }
        parse_exact(buf, len);
    }
    free(buf);
}

/* The conformance files: every file parses, and the parser's command counts
 * match a plain scan of the lines. */
static void test_conformance_files_parse(void **state) {
    DIR *d = opendir(CONFORMANCE_DIR);
    if (!d) {
        printf("# %s absent, skipping\n", CONFORMANCE_DIR);
        skip();
    }
    struct dirent *de;
    size_t files = 0, total_evals = 0;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l < 6 || strcmp(de->d_name + l - 5, ".test") != 0) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", CONFORMANCE_DIR, de->d_name);
        size_t len;
        char *text = pl_test_read_file(path, &len);
        assert_non_null(text);
        size_t evals = 0, loads = 0, clears = 0;
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
            while (*line == ' ' || *line == '\t')
                line++;
            if (strncmp(line, "eval", 4) == 0) evals++;
            if (strncmp(line, "load", 4) == 0) loads++;
            if (strncmp(line, "clear", 5) == 0) clears++;
        }
        free(text);
        promqltest_file_t f;
        pl_err_t err;
        if (promqltest_parse_file(path, &f, &err) != 0) fail_msg("%s", err.msg);
        if (f.nevals != evals || f.nloads != loads || f.nclears != clears)
            fail_msg("%s: parsed %zu evals %zu loads %zu clears, scan found %zu %zu %zu", path, f.nevals, f.nloads,
                     f.nclears, evals, loads, clears);
        size_t ncmd_evals = 0;
        for (size_t i = 0; i < f.ncmds; i++) {
            if (f.cmds[i].kind != PROMQLTEST_CMD_EVAL) continue;
            ncmd_evals++;
            assert_true(f.cmds[i].line > 0);
            assert_non_null(f.cmds[i].eval.expr);
        }
        assert_int_equal(ncmd_evals, evals);
        total_evals += evals;
        files++;
        promqltest_file_free(&f);
    }
    closedir(d);
    printf("# %zu conformance files, %zu evals parsed\n", files, total_evals);
    assert_true(files > 0);
}

/* ------------------------------------------------------------------ */
/* the runner, against a scripted engine                                */
/* ------------------------------------------------------------------ */

/* An answer the fake engine gives for one query text. Vectors are given as
 * up to 4 series of one label pair (or none) and a value; range queries
 * repeat the instant answer at every step unless range_* is set. */
typedef struct fake_series {
    const char *name;  /* __name__ or NULL */
    const char *lname; /* one more label, or NULL */
    const char *lvalue;
    double v;
} fake_series_t;

typedef struct fake_answer {
    const char *expr;
    promqltest_value_type_t type;
    fake_series_t series[4];
    size_t nseries;
    double scalar;
    const char *string;
    const char *error;       /* instant and range fail with this */
    const char *range_error; /* only range queries fail */
    double range_v;          /* if non-zero, range results carry this value instead */
    const char *warnings[2];
    size_t nwarnings;
    const char *infos[2];
    size_t ninfos;
    bool unsorted_range; /* return range series in reverse */
} fake_answer_t;

typedef struct fake_engine {
    const fake_answer_t *answers;
    size_t nanswers;
    int resets;
    int appends;
    size_t samples_appended;
    sample_t last_samples[16];
    size_t nlast;
    int64_t instant_times[16];
    size_t ninstant;
    int ranges;
    int rewrites;
} fake_engine_t;

typedef struct fake_result {
    promqltest_result_series_t series[4];
    label_t labels[4][2];
    sample_t samples[4][8];
} fake_result_t;

static int fake_reset(void *ctx, pl_err_t *err) {
    ((fake_engine_t *)ctx)->resets++;
    return 0;
}

static int fake_append(void *ctx, const label_t *ls, size_t nls, const sample_t *s, size_t n, pl_err_t *err) {
    fake_engine_t *fe = ctx;
    fe->appends++;
    fe->samples_appended += n;
    fe->nlast = n < 16 ? n : 16;
    memcpy(fe->last_samples, s, fe->nlast * sizeof *s);
    if (labels_get(ls, nls, "fail_append")) return pl_err_set(err, "append refused");
    return 0;
}

static const fake_answer_t *lookup(fake_engine_t *fe, const char *expr) {
    for (size_t i = 0; i < fe->nanswers; i++)
        if (strcmp(fe->answers[i].expr, expr) == 0) return &fe->answers[i];
    return NULL;
}

static void fill(const fake_answer_t *a, promqltest_result_t *res, int64_t start, int64_t end, int64_t step,
                 bool range) {
    fake_result_t *fr = calloc(1, sizeof *fr);
    res->owner = fr;
    res->warnings = a->warnings;
    res->nwarnings = a->nwarnings;
    res->infos = a->infos;
    res->ninfos = a->ninfos;
    res->series = fr->series;
    size_t nsteps = range ? (size_t)((end - start) / step) + 1 : 1;
    if (!range && a->type != PROMQLTEST_VAL_VECTOR) {
        res->type = a->type;
        res->scalar = a->scalar;
        res->string = a->string;
        return;
    }
    res->type = range ? PROMQLTEST_VAL_MATRIX : PROMQLTEST_VAL_VECTOR;
    size_t n = a->type == PROMQLTEST_VAL_SCALAR ? 1 : a->nseries;
    for (size_t i = 0; i < n; i++) {
        size_t out = a->unsorted_range && range ? n - 1 - i : i;
        promqltest_result_series_t *rs = &fr->series[out];
        size_t nl = 0;
        if (a->type == PROMQLTEST_VAL_VECTOR) {
            if (a->series[i].name) fr->labels[out][nl++] = (label_t){"__name__", a->series[i].name};
            if (a->series[i].lname) fr->labels[out][nl++] = (label_t){a->series[i].lname, a->series[i].lvalue};
        }
        rs->labels = fr->labels[out];
        rs->nlabels = nl;
        double v = a->type == PROMQLTEST_VAL_SCALAR ? a->scalar : a->series[i].v;
        if (range && a->range_v != 0) v = a->range_v;
        for (size_t k = 0; k < nsteps && k < 8; k++)
            fr->samples[out][k] = (sample_t){start + (int64_t)k * step, v};
        rs->samples = fr->samples[out];
        rs->nsamples = nsteps < 8 ? nsteps : 8;
    }
    res->nseries = n;
}

static int fake_instant(void *ctx, const char *expr, int64_t t, promqltest_result_t *res, pl_err_t *err) {
    fake_engine_t *fe = ctx;
    if (fe->ninstant < 16) fe->instant_times[fe->ninstant++] = t;
    const fake_answer_t *a = lookup(fe, expr);
    if (!a) return pl_err_set(err, "1:1: parse error: unknown query %s", expr);
    if (a->error) return pl_err_set(err, "%s", a->error);
    fill(a, res, t, t, 0, false);
    return 0;
}

static int fake_range(void *ctx, const char *expr, int64_t start, int64_t end, int64_t step, promqltest_result_t *res,
                      pl_err_t *err) {
    fake_engine_t *fe = ctx;
    fe->ranges++;
    const fake_answer_t *a = lookup(fe, expr);
    if (!a) return pl_err_set(err, "unknown query %s", expr);
    if (a->error) return pl_err_set(err, "%s", a->error);
    if (a->range_error) return pl_err_set(err, "%s", a->range_error);
    if (a->type == PROMQLTEST_VAL_STRING) return pl_err_set(err, "string in range query");
    fill(a, res, start, end, step, true);
    return 0;
}

static void fake_free(void *ctx, promqltest_result_t *res) { free(res->owner); }

static int fake_rewrite(void *ctx, const char *expr, int64_t t, char **out, pl_err_t *err) {
    fake_engine_t *fe = ctx;
    fe->rewrites++;
    if (strcmp(expr, "time()") == 0) return 1;
    char buf[256];
    snprintf(buf, sizeof buf, "%s @ %lld", expr, (long long)(t / 1000));
    *out = strdup(buf);
    return 0;
}

static promqltest_engine_t fake(fake_engine_t *fe, const fake_answer_t *answers, size_t n) {
    memset(fe, 0, sizeof *fe);
    fe->answers = answers;
    fe->nanswers = n;
    return (promqltest_engine_t){.ctx = fe,
                                 .reset = fake_reset,
                                 .append = fake_append,
                                 .instant = fake_instant,
                                 .range = fake_range,
                                 .free_result = fake_free};
}

/* Runs text; returns the counts and the output in *outbuf (caller frees). */
static promqltest_counts_t run_text(const char *text, const promqltest_engine_t *eng, char **outbuf) {
    promqltest_file_t f;
    pl_err_t err;
    if (parse_text(text, &f, &err) != 0) fail_msg("%s", err.msg);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    promqltest_counts_t c = {0, 0, 0};
    promqltest_run_file(&f, eng, out, &c);
    fclose(out);
    promqltest_file_free(&f);
    if (outbuf)
        *outbuf = buf;
    else
        free(buf);
    return c;
}

#define V(n, ln, lv, val)                                                                                              \
    { n, ln, lv, val }

static const fake_answer_t ANSWERS[] = {
    {.expr = "two", .type = PROMQLTEST_VAL_VECTOR, .series = {V("m", "a", "1", 1), V("m", "a", "2", 2)}, .nseries = 2},
    {.expr = "near", .type = PROMQLTEST_VAL_VECTOR, .series = {V(NULL, NULL, NULL, 1.0000001)}, .nseries = 1},
    {.expr = "nan", .type = PROMQLTEST_VAL_VECTOR, .series = {V(NULL, NULL, NULL, NAN)}, .nseries = 1},
    {.expr = "zero", .type = PROMQLTEST_VAL_VECTOR, .series = {V(NULL, NULL, NULL, 0)}, .nseries = 1},
    {.expr = "empty", .type = PROMQLTEST_VAL_VECTOR, .nseries = 0},
    {.expr = "scalar", .type = PROMQLTEST_VAL_SCALAR, .scalar = 1024},
    {.expr = "string", .type = PROMQLTEST_VAL_STRING, .string = "a b"},
    {.expr = "boom", .error = "execution: vector cannot contain metrics with the same labelset"},
    {.expr = "warned",
     .type = PROMQLTEST_VAL_VECTOR,
     .series = {V(NULL, NULL, NULL, 1)},
     .nseries = 1,
     .warnings = {"PromQL warning: quantile value should be between 0 and 1, got NaN", "bare warning"},
     .nwarnings = 2},
    {.expr = "informed",
     .type = PROMQLTEST_VAL_VECTOR,
     .series = {V(NULL, NULL, NULL, 1)},
     .nseries = 1,
     .infos = {"PromQL info: metric might not be a counter"},
     .ninfos = 1},
    {.expr = "drifts", .type = PROMQLTEST_VAL_VECTOR, .series = {V(NULL, NULL, NULL, 1)}, .nseries = 1, .range_v = 2},
    {.expr = "range_fails",
     .type = PROMQLTEST_VAL_VECTOR,
     .series = {V(NULL, NULL, NULL, 1)},
     .nseries = 1,
     .range_error = "range broke"},
    {.expr = "unsorted",
     .type = PROMQLTEST_VAL_VECTOR,
     .series = {V("m", "a", "1", 1), V("m", "a", "2", 2)},
     .nseries = 2,
     .unsorted_range = true},
    {.expr = "step()", .type = PROMQLTEST_VAL_SCALAR, .scalar = 0, .range_v = 60},
    {.expr = "two @ 300",
     .type = PROMQLTEST_VAL_VECTOR,
     .series = {V("m", "a", "1", 1), V("m", "a", "2", 2)},
     .nseries = 2},
    {.expr = "time()", .type = PROMQLTEST_VAL_SCALAR, .scalar = 300},
};
#define NANSWERS (sizeof ANSWERS / sizeof ANSWERS[0])

static void expect_counts(const char *text, size_t passed, size_t failed, size_t skipped) {
    fake_engine_t fe;
    promqltest_engine_t eng = fake(&fe, ANSWERS, NANSWERS);
    char *out;
    promqltest_counts_t c = run_text(text, &eng, &out);
    if (c.passed != passed || c.failed != failed || c.skipped != skipped)
        fail_msg("counts %zu/%zu/%zu, want %zu/%zu/%zu for:\n%s\noutput:\n%s", c.passed, c.failed, c.skipped, passed,
                 failed, skipped, text, out);
    free(out);
}

static void test_run_vectors(void **state) {
    /* order does not matter without expect ordered */
    expect_counts("eval instant at 5m two\n  m{a=\"2\"} 2\n  m{a=\"1\"} 1\n", 1, 0, 0);
    /* a wrong value, a missing and an extra series */
    expect_counts("eval instant at 5m two\n  m{a=\"2\"} 2\n  m{a=\"1\"} 1.1\n", 0, 1, 0);
    expect_counts("eval instant at 5m two\n  m{a=\"2\"} 2\n", 0, 1, 0);
    expect_counts("eval instant at 5m two\n  m{a=\"2\"} 2\n  m{a=\"1\"} 1\n  m{a=\"3\"} 3\n", 0, 1, 0);
    /* labels must match exactly, including the name */
    expect_counts("eval instant at 5m two\n  {a=\"2\"} 2\n  {a=\"1\"} 1\n", 0, 1, 0);
    /* empty expectation: empty result passes, a comment line does the same */
    expect_counts("eval instant at 5m empty\n", 1, 0, 0);
    expect_counts("eval instant at 5m empty\n  # empty\n", 1, 0, 0);
    expect_counts("eval instant at 5m two\n", 0, 1, 0);
}

static void test_run_float_comparison(void **state) {
    expect_counts("eval instant at 5m near\n  {} 1\n", 1, 0, 0);       /* 1e-7 relative */
    expect_counts("eval instant at 5m near\n  {} 1.00001\n", 0, 1, 0); /* 1e-5 relative */
    expect_counts("eval instant at 5m nan\n  {} NaN\n", 1, 0, 0);
    expect_counts("eval instant at 5m nan\n  {} 0\n", 0, 1, 0);
    expect_counts("eval instant at 5m nan\n  {} stale\n", 0, 1, 0); /* stale only equals stale */
    expect_counts("eval instant at 5m zero\n  {} 0\n", 1, 0, 0);
    expect_counts("eval instant at 5m zero\n  {} 1e-300\n", 0, 1, 0); /* zero: absolute tolerance ~1e-314 */
    expect_counts("eval instant at 5m zero\n  {} -0\n", 1, 0, 0);
}

static void test_run_ordered(void **state) {
    expect_counts("eval instant at 5m two\n  expect ordered\n  m{a=\"1\"} 1\n  m{a=\"2\"} 2\n", 1, 0, 0);
    expect_counts("eval instant at 5m two\n  expect ordered\n  m{a=\"2\"} 2\n  m{a=\"1\"} 1\n", 0, 1, 0);
    expect_counts("eval_ordered instant at 5m two\n  m{a=\"2\"} 2\n  m{a=\"1\"} 1\n", 0, 1, 0);
}

static void test_run_scalar_string(void **state) {
    expect_counts("eval instant at 5m scalar\n  1024\n", 1, 0, 0);
    expect_counts("eval instant at 5m scalar\n  1025\n", 0, 1, 0);
    expect_counts("eval instant at 5m scalar\n  {} 1024\n", 0, 1, 0); /* a scalar is not a vector */
    expect_counts("eval instant at 5m two\n  1\n", 0, 1, 0);
    expect_counts("eval instant at 5m string\n  expect string \"a b\"\n", 1, 0, 0);
    expect_counts("eval instant at 5m string\n  expect string `a  b`\n", 0, 1, 0);
}

static void test_run_expect_fail(void **state) {
    expect_counts("eval instant at 5m boom\n  expect fail\n", 1, 0, 0);
    expect_counts("eval instant at 5m boom\n  expect fail msg: execution: vector cannot contain metrics with the "
                  "same labelset\n",
                  1, 0, 0);
    expect_counts("eval instant at 5m boom\n  expect fail msg: something else\n", 0, 1, 0);
    expect_counts("eval instant at 5m boom\n  expect fail regex: same label(set|s)\n", 1, 0, 0);
    expect_counts("eval instant at 5m boom\n  expect fail regex: ^labelset\n", 0, 1, 0);
    expect_counts("eval_fail instant at 5m boom\n  expected_fail_regexp cannot\n", 1, 0, 0);
    /* no error although one was expected; an unexpected error */
    expect_counts("eval instant at 5m two\n  expect fail\n", 0, 1, 0);
    expect_counts("eval instant at 5m boom\n  {} 1\n", 0, 1, 0);
    expect_counts("eval range from 0 to 1m step 30s boom\n  expect fail\n", 1, 0, 0);
    /* a parse error counts as a failure too (unknown queries fail to parse in the fake) */
    expect_counts("eval instant at 5m nosuchquery(\n  expect fail regex: parse error\n", 1, 0, 0);
}

static void test_run_annotations(void **state) {
    /* no expectation: annotations ignored */
    expect_counts("eval instant at 5m warned\n  {} 1\n", 1, 0, 0);
    expect_counts("eval instant at 5m warned\n  expect warn\n  {} 1\n", 1, 0, 0);
    expect_counts("eval_warn instant at 5m warned\n  {} 1\n", 1, 0, 0);
    expect_counts("eval instant at 5m warned\n  expect no_warn\n  {} 1\n", 0, 1, 0);
    expect_counts("eval instant at 5m two\n  expect warn\n  m{a=\"2\"} 2\n  m{a=\"1\"} 1\n", 0, 1, 0);
    /* msg: must match exactly; every warning must then be matched by some line */
    expect_counts("eval instant at 5m warned\n"
                  "  expect warn msg: PromQL warning: quantile value should be between 0 and 1, got NaN\n"
                  "  {} 1\n",
                  0, 1, 0);
    expect_counts("eval instant at 5m warned\n"
                  "  expect warn msg: PromQL warning: quantile value should be between 0 and 1, got NaN\n"
                  "  expect warn msg: PromQL warning: bare warning\n"
                  "  {} 1\n",
                  1, 0, 0);
    expect_counts("eval instant at 5m warned\n"
                  "  expect warn regex: quantile value\n"
                  "  expect warn regex: bare\n"
                  "  {} 1\n",
                  1, 0, 0);
    expect_counts("eval instant at 5m warned\n"
                  "  expect warn msg: PromQL warning: no such warning\n"
                  "  expect warn\n"
                  "  {} 1\n",
                  0, 1, 0);
    expect_counts("eval instant at 5m warned\n  expect warn regex: ([\n  {} 1\n", 0, 1, 0);
    /* infos are separate from warnings */
    expect_counts("eval instant at 5m informed\n  expect no_warn\n  expect info\n  {} 1\n", 1, 0, 0);
    expect_counts("eval instant at 5m informed\n  expect no_info\n  {} 1\n", 0, 1, 0);
    expect_counts("eval instant at 5m warned\n  expect info\n  {} 1\n", 0, 1, 0);
    expect_counts("eval instant at 5m informed\n"
                  "  expect info msg: PromQL info: metric might not be a counter\n"
                  "  {} 1\n",
                  1, 0, 0);
}

static void test_run_range_evals(void **state) {
    /* The fake repeats the instant value at each step: 0, 30s, 60s. */
    expect_counts("eval range from 0 to 1m step 30s two\n  m{a=\"1\"} 1x2\n  m{a=\"2\"} 2 2 2\n", 1, 0, 0);
    expect_counts("eval range from 0 to 1m step 30s two\n  m{a=\"1\"} 1 1\n  m{a=\"2\"} 2 2 2\n", 0, 1, 0);
    expect_counts("eval range from 0 to 1m step 30s two\n  m{a=\"1\"} 1 _ 1\n  m{a=\"2\"} 2 2 2\n", 0, 1, 0);
    expect_counts("eval range from 0 to 1m step 30s two\n  m{a=\"1\"} 1x3\n  m{a=\"2\"} 2 2 2\n", 0, 1, 0);
    /* range results must be sorted by labels */
    expect_counts("eval range from 0 to 1m step 30s unsorted\n  m{a=\"1\"} 1x2\n  m{a=\"2\"} 2x2\n", 0, 1, 0);
    /* instant + expect range vector: slots from the range-vector line */
    expect_counts("eval instant at 5m two\n  expect range vector from 10s to 1m step 10s\n", 0, 1, 0);
}

static void test_run_range_mode_check(void **state) {
    /* The instant answer is right, but the same query as a range query gives
     * another value at t: the harness fails the eval. */
    expect_counts("eval instant at 5m drifts\n  {} 1\n", 0, 1, 0);
    expect_counts("eval instant at 5m range_fails\n  {} 1\n", 0, 1, 0);
    /* ... except for ordered evals and queries using step()/range()/... */
    expect_counts("eval instant at 5m drifts\n  expect ordered\n  {} 1\n", 1, 0, 0);
    /* (the range query still runs for ordered evals: an error fails them) */
    expect_counts("eval instant at 5m range_fails\n  expect ordered\n  {} 1\n", 0, 1, 0);
    expect_counts("eval instant at 5m step()\n  0\n", 1, 0, 0);
    /* a scalar's range-mode point is compared as a scalar */
    expect_counts("eval instant at 5m scalar\n  1024\n", 1, 0, 0);
    /* the check can be turned off */
    fake_engine_t fe;
    promqltest_engine_t eng = fake(&fe, ANSWERS, NANSWERS);
    eng.flags = PROMQLTEST_NO_RANGE_MODE_CHECK;
    promqltest_counts_t c = run_text("eval instant at 5m drifts\n  {} 1\n", &eng, NULL);
    assert_int_equal(c.passed, 1);
    assert_int_equal(fe.ranges, 0);
}

static void test_run_at_modifier_variants(void **state) {
    fake_engine_t fe;
    promqltest_engine_t eng = fake(&fe, ANSWERS, NANSWERS);
    eng.at_rewrite = fake_rewrite;
    eng.flags = PROMQLTEST_NO_RANGE_MODE_CHECK;
    promqltest_counts_t c = run_text("eval instant at 5m two\n  m{a=\"1\"} 1\n  m{a=\"2\"} 2\n", &eng, NULL);
    assert_int_equal(c.passed, 1);
    /* the original at t, then the rewrite at -10t, 0, t/5, t, 10t */
    int64_t want[] = {300000, -3000000, 0, 60000, 300000, 3000000};
    assert_int_equal(fe.ninstant, 6);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(fe.instant_times[i], want[i]);
    /* at t = 0: -1s, 0, 1s */
    eng = fake(&fe, ANSWERS, NANSWERS);
    eng.at_rewrite = fake_rewrite;
    eng.flags = PROMQLTEST_NO_RANGE_MODE_CHECK;
    fake_answer_t at0[NANSWERS + 1];
    memcpy(at0, ANSWERS, sizeof ANSWERS);
    at0[NANSWERS] = ANSWERS[0];
    at0[NANSWERS].expr = "two @ 0";
    fe.answers = at0;
    fe.nanswers = NANSWERS + 1;
    c = run_text("eval instant at 0 two\n  m{a=\"1\"} 1\n  m{a=\"2\"} 2\n", &eng, NULL);
    assert_int_equal(c.passed, 1);
    assert_int_equal(fe.ninstant, 4);
    assert_int_equal(fe.instant_times[1], -1000);
    assert_int_equal(fe.instant_times[3], 1000);
    /* time-dependent queries skip the variants */
    eng = fake(&fe, ANSWERS, NANSWERS);
    eng.at_rewrite = fake_rewrite;
    eng.flags = PROMQLTEST_NO_RANGE_MODE_CHECK;
    c = run_text("eval instant at 5m time()\n  300\n", &eng, NULL);
    assert_int_equal(c.passed, 1);
    assert_int_equal(fe.ninstant, 1);
    /* a variant that fails fails the eval ("near @ 300" is unknown to the fake) */
    eng = fake(&fe, ANSWERS, NANSWERS);
    eng.at_rewrite = fake_rewrite;
    char *out;
    c = run_text("eval instant at 5m near\n  {} 1\n", &eng, &out);
    assert_int_equal(c.failed, 1);
    assert_non_null(strstr(out, "with @ modifier"));
    free(out);
}

static void test_run_load_and_skip(void **state) {
    fake_engine_t fe;
    promqltest_engine_t eng = fake(&fe, ANSWERS, NANSWERS);
    const char *text = "load 30s\n"
                       "  m{a=\"1\"} 1 _ stale 4\n"
                       "  h {{schema:0 count:1}}x3\n"
                       "  only_gaps _x4\n"
                       "\n"
                       "eval instant at 5m h\n"
                       "  {} 1\n"
                       "\n"
                       "eval instant at 5m two\n"
                       "  m{a=\"1\"} 1\n"
                       "  m{a=\"2\"} 2\n"
                       "\n"
                       "clear\n"
                       "eval instant at 5m empty\n";
    char *out;
    promqltest_counts_t c = run_text(text, &eng, &out);
    assert_int_equal(c.passed, 2);
    assert_int_equal(c.failed, 0);
    assert_int_equal(c.skipped, 1);
    /* reset at file start and at clear; only m had float samples */
    assert_int_equal(fe.resets, 2);
    assert_int_equal(fe.appends, 1);
    assert_int_equal(fe.nlast, 3);
    assert_int_equal(fe.last_samples[0].t, 0);
    assert_int_equal(fe.last_samples[1].t, 60000);
    assert_true(pl_is_stale_nan(fe.last_samples[1].v));
    assert_int_equal(fe.last_samples[2].t, 90000);
    assert_true(fe.last_samples[2].v == 4);
    assert_non_null(strstr(out, "t.test: 2 passed, 0 failed, 1 skipped\n"));
    free(out);
}

static void test_run_output_lines(void **state) {
    fake_engine_t fe;
    promqltest_engine_t eng = fake(&fe, ANSWERS, NANSWERS);
    char *out;
    const char *text = "load 1m\n"
                       "  x{fail_append=\"1\"} 1\n"
                       "\n"
                       "eval instant at 5m two\n"
                       "  m{a=\"1\"} 1\n"
                       "  m{a=\"2\"} 3\n";
    promqltest_counts_t c = run_text(text, &eng, &out);
    assert_int_equal(c.failed, 2);
    assert_non_null(strstr(out, "t.test:2: loading series failed: append refused\n"));
    assert_non_null(strstr(out, "t.test:4: two: expected 3 for m{a=\"2\"} but got 2\n"));
    assert_non_null(strstr(out, "t.test: 0 passed, 2 failed, 0 skipped\n"));
    free(out);
}

static void test_run_paths(void **state) {
    char dir[] = "/tmp/pqt_test_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p1[256], p2[256], p3[256];
    snprintf(p1, sizeof p1, "%s/a.test", dir);
    snprintf(p2, sizeof p2, "%s/b.test", dir);
    snprintf(p3, sizeof p3, "%s/ignored.txt", dir);
    FILE *f = fopen(p1, "w");
    fputs("eval instant at 5m scalar\n  1024\n\neval instant at 5m scalar\n  1\n", f);
    fclose(f);
    f = fopen(p2, "w");
    /* a scalar line ends its block, so the next line must be a command */
    fputs("eval instant at 5m scalar\n  1024\nbogus line\n", f);
    fclose(f);
    f = fopen(p3, "w");
    fputs("bogus", f);
    fclose(f);
    fake_engine_t fe;
    promqltest_engine_t eng = fake(&fe, ANSWERS, NANSWERS);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    promqltest_counts_t c = {0, 0, 0};
    const char *paths[] = {dir, "/nonexistent/x.test"};
    assert_int_equal(promqltest_run_paths(paths, 2, &eng, out, &c), 1);
    fclose(out);
    /* a: 1 pass 1 fail; b: parse error = 1 fail; missing file = 1 fail */
    assert_int_equal(c.passed, 1);
    assert_int_equal(c.failed, 3);
    assert_non_null(strstr(buf, "a.test: 1 passed, 1 failed, 0 skipped\n"));
    assert_non_null(strstr(buf, "b.test:3: invalid command"));
    assert_non_null(strstr(buf, "1 passed, 3 failed, 0 skipped\n"));
    assert_null(strstr(buf, "ignored.txt"));
    free(buf);
    unlink(p1);
    unlink(p2);
    unlink(p3);
    rmdir(dir);
}

PL_TEST_MAIN(cmocka_unit_test(test_values_expansions), cmocka_unit_test(test_values_stale_and_histograms),
             cmocka_unit_test(test_values_errors), cmocka_unit_test(test_parse_load_series_descriptors),
             cmocka_unit_test(test_parse_evals), cmocka_unit_test(test_parse_errors),
             cmocka_unit_test(test_histogram_classification), cmocka_unit_test(test_parse_malformed_inputs),
             cmocka_unit_test(test_conformance_files_parse), cmocka_unit_test(test_run_vectors),
             cmocka_unit_test(test_run_float_comparison), cmocka_unit_test(test_run_ordered),
             cmocka_unit_test(test_run_scalar_string), cmocka_unit_test(test_run_expect_fail),
             cmocka_unit_test(test_run_annotations), cmocka_unit_test(test_run_range_evals),
             cmocka_unit_test(test_run_range_mode_check), cmocka_unit_test(test_run_at_modifier_variants),
             cmocka_unit_test(test_run_load_and_skip), cmocka_unit_test(test_run_output_lines),
             cmocka_unit_test(test_run_paths))
