/* test_util.c — util/ and model/: float formatting, JSON writer, flags,
 * durations in flags, label sets, matchers and the selector parser. */
#include "testutil.h"

#include <math.h>

#include "model/labels.h"
#include "model/matcher.h"
#include "util/flags.h"
#include "util/json.h"
#include "util/log.h"
#include "util/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void check_g(double v, const char *want) {
    char out[400];
    pl_format_float(out, v);
    if (strcmp(out, want) != 0) fail_msg("pl_format_float(%.17g) = %s, want %s", v, out, want);
}

static void check_json(double v, const char *want) {
    char out[400];
    pl_format_float_json(out, v);
    if (strcmp(out, want) != 0) fail_msg("pl_format_float_json(%.17g) = %s, want %s", v, out, want);
}

/* Expected strings are Go's strconv.FormatFloat(v, 'g', -1, 64), which the
 * text exposition uses. */
static void test_format_float_go_g(void **state) {
    check_g(0, "0");
    check_g(1, "1");
    check_g(-1.5, "-1.5");
    check_g(0.1, "0.1");
    check_g(100000, "100000");
    check_g(1e6, "1e+06");
    check_g(1234567, "1.234567e+06");
    check_g(0.0001, "0.0001");
    check_g(0.00001, "1e-05");
    check_g(1.7976931348623157e308, "1.7976931348623157e+308");
    check_g(5e-324, "5e-324");
    check_g(NAN, "NaN");
    check_g(INFINITY, "+Inf");
    check_g(-INFINITY, "-Inf");
    check_g(123.456, "123.456");
    check_g(-0.0, "-0");
}

/* Prometheus's API: 'f' form unless |v| < 1e-6 or >= 1e21. */
static void test_format_float_json(void **state) {
    check_json(1, "1");
    check_json(1e6, "1000000");
    check_json(1234567.25, "1234567.25");
    check_json(0.000001, "0.000001");
    check_json(0.0000001, "1e-07");
    check_json(1e21, "1e+21");
    check_json(1e20, "100000000000000000000");
    check_json(0, "0");
    check_json(NAN, "NaN");
    check_json(-INFINITY, "-Inf");
    check_json(1700000000.123, "1700000000.123");
}

static void test_json_writer(void **state) {
    strbuf_t sb = STRBUF_INIT;
    jsonw_t w;
    jw_init(&w, &sb);
    jw_obj_begin(&w);
    jw_key(&w, "a");
    jw_str(&w, "x\"y\n\x01");
    jw_key(&w, "b");
    jw_arr_begin(&w);
    jw_int(&w, -3);
    jw_timestamp(&w, 1700000000123);
    jw_timestamp(&w, 1500);
    jw_timestamp(&w, 2000);
    jw_sample_value(&w, 0.5);
    jw_null(&w);
    jw_bool(&w, true);
    jw_arr_end(&w);
    jw_key(&w, "c");
    jw_obj_begin(&w);
    jw_obj_end(&w);
    jw_obj_end(&w);
    assert_string_equal(sb.data,
                        "{\"a\":\"x\\\"y\\n\\u0001\",\"b\":[-3,1700000000.123,1.5,2,\"0.5\",null,true],\"c\":{}}");
    strbuf_free(&sb);
}

static void test_flags(void **state) {
    flag_def_t defs[] = {
        {"config.file", FLAG_STRING, "prometheus.yml", "cfg"},
        {"web.enable-lifecycle", FLAG_BOOL, "false", "lc"},
        {"storage.tsdb.retention.time", FLAG_DURATION, "", "rt"},
        {"storage.tsdb.retention.size", FLAG_SIZE, "0B", "rs"},
        {"endpoint", FLAG_STRINGS, "", "ep"},
    };
    size_t n = sizeof defs / sizeof defs[0];
    char *argv[] = {"--config.file", "x.yml", "--web.enable-lifecycle", "--storage.tsdb.retention.time=1h30m",
                    "--storage.tsdb.retention.size=5GB", "--endpoint=a", "--endpoint", "b"};
    pl_err_t err = {{0}};
    assert_int_equal(flags_parse(defs, n, 8, argv, NULL, NULL, &err), 0);
    assert_string_equal(flags_str(defs, n, "config.file"), "x.yml");
    assert_true(flags_bool(defs, n, "web.enable-lifecycle"));
    int64_t v;
    assert_int_equal(flags_duration(defs, n, "storage.tsdb.retention.time", &v, &err), 0);
    assert_int_equal(v, 5400000);
    assert_int_equal(flags_size(defs, n, "storage.tsdb.retention.size", &v, &err), 0);
    assert_int_equal(v, 5LL << 30);
    assert_int_equal(defs[4].nvalues, 2);
    assert_string_equal(defs[4].values[1], "b");
    flags_free(defs, n);

    char *bad[] = {"--no-such-flag=1"};
    assert_int_equal(flags_parse(defs, n, 1, bad, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "unknown long flag '--no-such-flag'"));
    flags_free(defs, n);

    char *neg[] = {"--no-web.enable-lifecycle", "--storage.tsdb.retention.time=15x"};
    assert_int_equal(flags_parse(defs, n, 2, neg, NULL, NULL, &err), 0);
    assert_false(flags_bool(defs, n, "web.enable-lifecycle"));
    assert_int_equal(flags_duration(defs, n, "storage.tsdb.retention.time", &v, &err), -1);
    assert_non_null(strstr(err.msg, "--storage.tsdb.retention.time"));
    flags_free(defs, n);

    char *help[] = {"--help"};
    assert_int_equal(flags_parse(defs, n, 1, help, NULL, NULL, &err), 1);
    flags_free(defs, n);
}

static void test_labels(void **state) {
    label_t ls[] = {{"job", "node"}, {"__name__", "up"}, {"instance", "a:1"}};
    labels_sort(ls, 3);
    assert_string_equal(ls[0].name, "__name__");
    assert_string_equal(ls[2].name, "job");
    strbuf_t sb = STRBUF_INIT;
    labels_format(&sb, ls, 3);
    assert_string_equal(sb.data, "up{instance=\"a:1\", job=\"node\"}");
    strbuf_free(&sb);
    label_t other[] = {{"__name__", "up"}, {"instance", "a:1"}, {"job", "node"}};
    assert_true(labels_equal(ls, 3, other, 3));
    assert_int_equal(labels_hash(ls, 3), labels_hash(other, 3));
    other[2].value = "nodf";
    assert_true(labels_compare(ls, 3, other, 3) < 0);
    assert_true(labels_hash(ls, 3) != labels_hash(other, 3));
    assert_true(metric_name_valid("a:b_c1", 6));
    assert_false(label_name_valid("a:b", 3));
    assert_false(label_name_valid("1a", 2));
    assert_true(pl_is_stale_nan(pl_stale_nan()));
    assert_false(pl_is_stale_nan(NAN));
}

static void test_matchers(void **state) {
    matcher_t m;
    pl_err_t err = {{0}};
    assert_int_equal(matcher_init(&m, MATCH_REGEX, "job", "no.*", &err), 0);
    assert_true(matcher_matches(&m, "node"));
    assert_false(matcher_matches(&m, "xnode")); /* anchored */
    assert_false(matcher_matches_empty(&m));
    matcher_free(&m);
    assert_int_equal(matcher_init(&m, MATCH_NOT_REGEX, "job", "a|b", &err), 0);
    assert_true(matcher_matches(&m, "ab"));
    assert_false(matcher_matches(&m, "a"));
    assert_true(matcher_matches_empty(&m));
    matcher_free(&m);
    assert_int_equal(matcher_init(&m, MATCH_REGEX, "job", "(", &err), -1);
    assert_non_null(strstr(err.msg, "error parsing regexp"));
}

static void test_selector_parse(void **state) {
    matcher_t *ms;
    size_t n;
    pl_err_t err = {{0}};
    assert_int_equal(selector_parse("up{job=\"node\", instance=~'lo.*',x!=\"\\\"q\",y!~`a\\d`}", &ms, &n, &err), 0);
    assert_int_equal(n, 5);
    assert_string_equal(ms[0].name, "__name__");
    assert_string_equal(ms[0].value, "up");
    assert_int_equal(ms[2].type, MATCH_REGEX);
    assert_string_equal(ms[3].value, "\"q");
    assert_int_equal(ms[4].type, MATCH_NOT_REGEX);
    assert_string_equal(ms[4].value, "a\\d");
    matchers_free(ms, n);

    assert_int_equal(selector_parse("{__name__=~\"node_.*\",}", &ms, &n, &err), 0);
    assert_int_equal(n, 1);
    matchers_free(ms, n);

    assert_int_equal(selector_parse("{job=\"\"}", &ms, &n, &err), -1);
    assert_non_null(strstr(err.msg, "at least one non-empty matcher"));
    assert_int_equal(selector_parse("up{job=node}", &ms, &n, &err), -1);
    assert_non_null(strstr(err.msg, "1:8"));
    assert_int_equal(selector_parse("up{job=\"x\"", &ms, &n, &err), -1);
    assert_int_equal(selector_parse("up{job=\"x", &ms, &n, &err), -1);
    assert_non_null(strstr(err.msg, "unterminated"));
    assert_int_equal(selector_parse("up)", &ms, &n, &err), -1);
    assert_int_equal(selector_parse("", &ms, &n, &err), -1);
    assert_int_equal(selector_parse("{a=~\"(\"}", &ms, &n, &err), -1);
}

static void test_log_json(void **state) {
    (void)state;
    char path[] = "/tmp/test_log.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    log_set_format(LOG_FORMAT_JSON);
    log_info("scrape", "Scrape \"failed\"", "target=%s err=\"%s\" n=%d flag", "http://a:1/m", "x \\\"y\\\" z", 3);
    log_set_format(LOG_FORMAT_LOGFMT);
    log_info("scrape", "plain", "k=v");
    dup2(saved, STDERR_FILENO);
    close(saved);
    char buf[1024] = {0};
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    close(fd);
    unlink(path);
    assert_true(got > 0);
    char *nl = strchr(buf, '\n');
    assert_non_null(nl);
    *nl = 0;
    /* {"time":"2026-...Z",... : compare what follows the time stamp */
    assert_true(strncmp(buf, "{\"time\":\"", 9) == 0);
    const char *rest = strstr(buf, "Z\",");
    assert_non_null(rest);
    assert_string_equal(rest + 3, "\"level\":\"INFO\",\"source\":\"scrape\",\"msg\":\"Scrape \\\"failed\\\"\","
                                  "\"target\":\"http://a:1/m\",\"err\":\"x \\\"y\\\" z\",\"n\":\"3\",\"flag\":\"\"}");
    assert_non_null(strstr(nl + 1, "level=INFO source=scrape msg=\"plain\" k=v\n"));
}

PL_TEST_MAIN(cmocka_unit_test(test_log_json), cmocka_unit_test(test_format_float_go_g), cmocka_unit_test(test_format_float_json),
             cmocka_unit_test(test_json_writer), cmocka_unit_test(test_flags), cmocka_unit_test(test_labels),
             cmocka_unit_test(test_matchers), cmocka_unit_test(test_selector_parse))
