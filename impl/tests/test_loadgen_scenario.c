/* test_loadgen_scenario.c — scenario and query set files: the shipped
 * scenarios load, and every mistake is reported with file:line:col. */
#include <unistd.h>

#include "testutil.h"

#include "loadgen.h"

static char tmpdir[] = "/tmp/lg-scenario-test.XXXXXX";

static char *write_tmp(const char *name, const char *text) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void expect_error(const char *text, const char *want) {
    char *path = write_tmp("s.yaml", text);
    lg_scenario_file_t s;
    pl_err_t err = {{0}};
    int rc = lg_scenario_load(path, &s, &err);
    if (rc == 0 || !strstr(err.msg, want)) fprintf(stderr, "want \"%s\", got rc=%d \"%s\"\n", want, rc, err.msg);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err.msg, want));
}

#define HEAD                                                                                                           \
    "name: t\n"                                                                                                        \
    "server:\n"                                                                                                        \
    "  url: http://127.0.0.1:9090\n"

static void test_shipped_scenarios_load(void **state) {
    (void)state;
    const char *files[] = {"loadgen/scenarios/quick.yaml", "loadgen/scenarios/cardinality-explosion.yaml",
                           "loadgen/scenarios/compare-prometheus.yaml", "loadgen/scenarios/churn.yaml",
                           "loadgen/scenarios/compare-victoriametrics.yaml"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        lg_scenario_file_t s;
        pl_err_t err = {{0}};
        int rc = lg_scenario_load(files[i], &s, &err);
        if (rc) fprintf(stderr, "%s\n", err.msg);
        assert_int_equal(rc, 0);
        assert_true(s.nsteps >= 1);
        assert_true(s.queries.n >= 1);
        lg_scenario_free(&s);
    }
    lg_scenario_file_t s;
    pl_err_t err;
    assert_int_equal(lg_scenario_load("loadgen/scenarios/cardinality-explosion.yaml", &s, &err), 0);
    assert_int_equal(s.nsteps, 4);
    assert_int_equal(s.steps[0].series, 10000);
    assert_int_equal(s.steps[2].series, 500000);
    assert_int_equal(s.targets, 10);
    assert_int_equal(s.exporter.label_count, 5);
    assert_int_equal(s.scrape_interval_ms, 10000);
    lg_scenario_free(&s);
}

static void test_errors_name_the_line(void **state) {
    (void)state;
    expect_error(HEAD "steps:\n  - series: 10\n    hodl: 5s\nqueries: {set: [{expr: up}]}\n", "s.yaml:6:5: unknown key hodl");
    expect_error(HEAD "steps:\n  - series: many\nqueries: {set: [{expr: up}]}\n", "s.yaml:5:13: series: many is not an integer");
    expect_error(HEAD "steps:\n  - series: 10\n    hold: soon\nqueries: {set: [{expr: up}]}\n", "s.yaml:6:11: hold: bad duration soon");
    expect_error(HEAD "scrape_intervall: 5s\n", "s.yaml:4:1: unknown key scrape_intervall");
    expect_error(HEAD "exporter:\n  gauge-metric-cnt: 5\n", "s.yaml:5:3: exporter: unknown flag gauge-metric-cnt");
    expect_error(HEAD "exporter:\n  label-count: lots\n", "s.yaml:5:16: exporter.label-count");
    expect_error(HEAD "steps: [{series: 10}]\nqueries:\n  set:\n    - expr: up\n      type: sideways\n",
                 "s.yaml:8:13: type: sideways is neither instant nor range");
    expect_error(HEAD "steps: [{series: 10}]\nqueries:\n  set:\n    - name: x\n", "s.yaml:7:7: a query needs expr");
    expect_error(HEAD "steps: [{series: 10}]\n", "needs queries");
    expect_error("name: t\nsteps: [{series: 10}]\nqueries: {set: [{expr: up}]}\n", "needs a server");
    expect_error(HEAD "steps:\n  - series: 10\n  bad\n", "s.yaml:7:1:");
    expect_error("name: a/b\n", "s.yaml:1:7: name: a/b");
    expect_error(HEAD "targets: 0\n", "s.yaml:4:10: targets: 0 is not an integer >= 1");
    expect_error("name: t\nserver:\n  url: http://x\n  head_series_metric: 'a{b=c}'\n", "s.yaml:4:23: head_series_metric: a{b=c} is not a metric name");
}

static void test_metric_selector(void **state) {
    (void)state;
    char buf[128];
    lg_metric_want_t w;
    assert_int_equal(lg_metric_selector("prometheus_tsdb_head_series", buf, sizeof buf, &w), 0);
    assert_string_equal(w.name, "prometheus_tsdb_head_series");
    assert_null(w.label);
    assert_int_equal(lg_metric_selector("vm_cache_entries{type=\"storage/hour_metric_ids\"}", buf, sizeof buf, &w), 0);
    assert_string_equal(w.name, "vm_cache_entries");
    assert_string_equal(w.label, "type");
    assert_string_equal(w.label_value, "storage/hour_metric_ids");
    assert_int_equal(lg_metric_selector("x{a=\"\"}", buf, sizeof buf, &w), 0);
    assert_string_equal(w.label_value, "");
    assert_int_equal(lg_metric_selector("x{a=b}", buf, sizeof buf, &w), -1);
    assert_int_equal(lg_metric_selector("x{a=\"b\"", buf, sizeof buf, &w), -1);
    assert_int_equal(lg_metric_selector("1x", buf, sizeof buf, &w), -1);
    assert_int_equal(lg_metric_selector("", buf, sizeof buf, &w), -1);
}

static void test_queryset_file(void **state) {
    (void)state;
    char *path = write_tmp("q.yaml", "queries:\n  - expr: up\n    weight: 2\n  - expr: rate(x[5m])\n    type: range\n    range: 1h\n");
    lg_queryset_t qs;
    pl_err_t err = {{0}};
    assert_int_equal(lg_queryset_load(path, &qs, &err), 0);
    assert_int_equal(qs.n, 2);
    assert_string_equal(qs.q[0].name, "up");
    assert_true(qs.q[0].weight == 2);
    assert_true(qs.q[1].range);
    assert_int_equal(qs.q[1].range_ms, 3600000);
    assert_int_equal(qs.q[1].step_ms, 14400); /* range / 250 */
    lg_queryset_free(&qs);
    path = write_tmp("q.yaml", "queries:\n  - expr: up\n    step: 15s\n");
    assert_int_equal(lg_queryset_load(path, &qs, &err), -1);
    assert_non_null(strstr(err.msg, "q.yaml:2:5: range and step need type: range"));
    path = write_tmp("q.yaml", "queries:\n  - expr: up\n    weight: -1\n");
    assert_int_equal(lg_queryset_load(path, &qs, &err), -1);
    assert_non_null(strstr(err.msg, "q.yaml:3:13: weight: -1 is not a positive number"));
    path = write_tmp("q.yaml", "queries: [\n");
    assert_int_equal(lg_queryset_load(path, &qs, &err), -1);
    assert_non_null(strstr(err.msg, "q.yaml:2:1:"));
}

static int setup(void **state) {
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_shipped_scenarios_load), cmocka_unit_test(test_errors_name_the_line),
                                       cmocka_unit_test(test_queryset_file), cmocka_unit_test(test_metric_selector)};
    return cmocka_run_group_tests_name(__FILE__, tests, setup, teardown);
}
