/* test_rules.c — the rules module: rule file validation (a corpus of bad files
 * whose expected messages are promtool 2.42's own output), templates and
 * Prometheus's humanize functions, the alert state machine (pending ->
 * firing -> resolved, for, keep_firing_for, the 15m resolved retention,
 * resend, restore of `for` state), recording rules (output, labels,
 * staleness, limit), group alignment, copy of state on reload, and the JSON
 * the API and the notifier write. Evaluation is driven at chosen timestamps
 * over an in-memory store: no clocks, no threads. */
#include "testutil.h"

#include <dirent.h>
#include <math.h>

#include "promql/memstore.h"
#include "rules/rules.h"

#define DATA "impl/tests/data/rulefile"
#define MIN (60 * 1000)

/* ---- rule files ------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_bad_rule_files_match_promtool(void **state) {
    (void)state;
    DIR *d = opendir(DATA "/bad");
    assert_non_null(d);
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t l = strlen(e->d_name);
        if (l > 4 && !strcmp(e->d_name + l - 4, ".yml")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    assert_true(n >= 30);
    for (size_t i = 0; i < n; i++) {
        char path[512], errpath[512];
        snprintf(path, sizeof path, DATA "/bad/%s", names[i]);
        snprintf(errpath, sizeof errpath, DATA "/bad/%.*s.err", (int)(strlen(names[i]) - 4), names[i]);
        char *want = pl_test_read_file(errpath, NULL);
        assert_non_null(want);
        rule_file_t f;
        rules_errors_t errs = {0};
        int rc = rulefile_load(path, &f, &errs);
        strbuf_t got = STRBUF_INIT;
        strbuf_puts(&got, "  FAILED:\n");
        for (size_t k = 0; k < errs.n; k++)
            strbuf_printf(&got, "%s\n", errs.msgs[k]);
        if (rc != -1 || strcmp(got.data, want) != 0)
            fail_msg("%s: rc=%d\n--- want ---\n%s--- got ---\n%s", path, rc, want, got.data);
        /* every message names the file */
        for (size_t k = 0; k < errs.n; k++)
            assert_true(strncmp(errs.msgs[k], path, strlen(path)) == 0);
        strbuf_free(&got);
        rules_errors_free(&errs);
        free(want);
        free(names[i]);
    }
}

static void test_good_rule_files(void **state) {
    (void)state;
    rule_file_t f;
    rules_errors_t errs = {0};
    assert_int_equal(rulefile_load(DATA "/good/full.yml", &f, &errs), 0);
    assert_int_equal(errs.n, 0);
    assert_int_equal(f.ngroups, 2);
    assert_int_equal(rulefile_count_rules(&f), 3);
    const rule_group_def_t *g = &f.groups[1];
    assert_string_equal(g->name, "api.rules");
    assert_int_equal(g->interval_ms, 30000);
    assert_int_equal(g->limit, 10);
    assert_string_equal(g->rules[0].record, "api:request_duration:p95");
    assert_null(g->rules[0].alert);
    assert_string_equal(g->rules[0].labels.v[0].name, "team");
    const rule_def_t *a = &g->rules[1];
    assert_string_equal(a->alert, "PrometheusHighMemory");
    assert_int_equal(a->for_ms, 10 * MIN);
    assert_int_equal(a->keep_firing_for_ms, 5 * MIN);
    assert_int_equal(a->annotations.n, 2);
    assert_string_equal(a->annotations.v[0].name, "runbook"); /* sorted */
    assert_int_equal(f.groups[0].interval_ms, 0);             /* the global default applies */
    rulefile_free(&f);

    assert_int_equal(rulefile_load(DATA "/good/empty.yml", &f, &errs), 0);
    assert_int_equal(f.ngroups, 0);
    rulefile_free(&f);

    assert_int_equal(rulefile_load(DATA "/good/nonexistent.yml", &f, &errs), -1);
    assert_int_equal(errs.n, 1);
    assert_non_null(strstr(errs.msgs[0], "no such file or directory"));
    rules_errors_free(&errs);
}

static void test_rulefile_aliasing_bomb(void **state) {
    (void)state;
    strbuf_t sb = STRBUF_INIT;
    strbuf_puts(&sb, "a: &a [x, x, x, x, x, x, x, x, x]\n");
    for (char c = 'b'; c <= 'k'; c++)
        strbuf_printf(&sb, "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", c, c, c - 1, c - 1, c - 1, c - 1,
                      c - 1, c - 1, c - 1, c - 1, c - 1);
    rule_file_t f;
    rules_errors_t errs = {0};
    assert_int_equal(rulefile_parse("bomb.yml", sb.data, sb.len, &f, &errs), -1);
    assert_true(errs.n >= 1);
    rules_errors_free(&errs);
    strbuf_free(&sb);
}

static void test_rule_file_globs(void **state) {
    (void)state;
    char *pats[] = {DATA "/good/*.yml", DATA "/good/basic.yml", DATA "/nothing*.yml"};
    char **files = NULL;
    size_t n = 0;
    assert_int_equal(rules_expand_globs(pats, 3, &files, &n, NULL), 0);
    assert_int_equal(n, 4); /* basic, empty, full, null_items: de-duplicated, sorted */
    assert_string_equal(files[0], DATA "/good/basic.yml");
    assert_string_equal(files[2], DATA "/good/full.yml");
    rules_free_strv(files, n);
}

/* ---- templates -------------------------------------------------------------------- */

static void expect_tmpl(const char *text, double value, const char *want) {
    label_t ls[] = {{"__name__", "up"}, {"instance", "host-1.example.com:9100"}, {"job", "node"}};
    label_t ext[] = {{"lab", "it"}};
    tmpl_data_t d = {ls, 3, ext, 1, "http://prom.example:9090", value};
    strbuf_t sb = STRBUF_INIT;
    tmpl_expand("__alert_X", text, &d, &sb);
    if (strcmp(sb.data, want) != 0) fail_msg("template %s\n want: %s\n  got: %s", text, want, sb.data);
    strbuf_free(&sb);
}

static void test_templates(void **state) {
    (void)state;
    expect_tmpl("plain text", 0, "plain text");
    expect_tmpl("{{ $labels.instance }} of {{ $labels.job }}", 0, "host-1.example.com:9100 of node");
    expect_tmpl("{{ .Labels.job }}={{ .Value }}", 2.5, "node=2.5");
    expect_tmpl("{{ $value }}", 1e6, "1e+06");
    expect_tmpl("{{ $value }}", 123456, "123456");
    expect_tmpl("{{ $labels.missing }}|", 0, "|");
    expect_tmpl("{{ $externalLabels.lab }} {{ $externalURL }}", 0, "it http://prom.example:9090");
    expect_tmpl("{{ $value | humanize }}", 1234567, "1.235M");
    expect_tmpl("{{ humanize1024 $value }}", 1048576, "1Mi");
    expect_tmpl("{{ $value | humanizePercentage }}", 0.8234, "82.34%");
    expect_tmpl("{{ humanizeDuration $value }}", 90061, "1d 1h 1m 1s");
    expect_tmpl("{{ humanizeTimestamp $value }}", 1.5, "1970-01-01 00:00:01.5 +0000 UTC");
    expect_tmpl("{{ printf \"%.2f\" $value }}", 3.14159, "3.14");
    expect_tmpl("{{ printf \"%s=%v\" $labels.job $value }}", 1, "node=1");
    expect_tmpl("{{ printf \"%d\" 42 }}", 0, "42");
    expect_tmpl("{{ printf \"%d\" $value }}", 1.5, "%!d(float64=1.5)");
    expect_tmpl("{{ if gt $value 0.9 }}page{{ else }}ticket{{ end }}", 0.95, "page");
    expect_tmpl("{{ if gt $value 0.9 }}page{{ else }}ticket{{ end }}", 0.5, "ticket");
    expect_tmpl("{{ if eq $labels.job \"db\" }}a{{ else if eq $labels.job \"node\" }}b{{ else }}c{{ end }}", 0, "b");
    expect_tmpl("{{ $x := 5 }}{{ $x }}", 0, "5");
    expect_tmpl("{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}", 0,
                "__name__=up;instance=host-1.example.com:9100;job=node;");
    expect_tmpl("{{ with $labels.job }}[{{ . }}]{{ end }}", 0, "[node]");
    expect_tmpl("a  {{- \" b \" -}}  c", 0, "a b c");
    expect_tmpl("{{/* a comment */}}x", 0, "x");
    expect_tmpl("{{ $labels.instance | stripPort }}", 0, "host-1.example.com");
    expect_tmpl("{{ toUpper $labels.job }} {{ title \"foo bar\" }}", 0, "NODE Foo Bar");
    expect_tmpl("{{ reReplaceAll \"(.*)-(\\\\d+).*\" \"$2\" $labels.instance }}", 0, "1");
    expect_tmpl("{{ match \"^host\" $labels.instance }}", 0, "true");
    expect_tmpl("{{ (humanize $value) }} {{ len $labels }}", 0.001, "1m 3");
    expect_tmpl("{{ and 1 0 }} {{ or 0 \"x\" }} {{ not true }}", 0, "0 x false");
    expect_tmpl("{{ index $labels \"job\" }}", 0, "node");
    expect_tmpl("{{ \"a\\tb\" }}{{ `raw\\n` }}", 0, "a\tb" "raw\\n");
    /* errors are shown in place of the text, as Prometheus does */
    expect_tmpl("{{ humanize \"abc\" }}", 0,
                "<error expanding template: template: __alert_X: executing \"__alert_X\": strconv.ParseFloat: parsing "
                "\"abc\": invalid syntax>");
}

static void expect_parse_error(const char *text, const char *want) {
    tmpl_t *t = NULL;
    pl_err_t err;
    assert_int_equal(tmpl_parse("__alert_X", text, &t, &err), -1);
    assert_null(t);
    if (strcmp(err.msg, want) != 0) fail_msg("template %s\n want: %s\n  got: %s", text, want, err.msg);
}

static void test_template_parse_errors(void **state) {
    (void)state;
    expect_parse_error("{{ $labels.x ", "template: __alert_X:1: unclosed action");
    expect_parse_error("{{ end }}", "template: __alert_X:1: unexpected {{end}}");
    expect_parse_error("{{ nosuch 1 }}", "template: __alert_X:1: function \"nosuch\" not defined");
    expect_parse_error("line1\n{{ if 1 }}x", "template: __alert_X:2: unexpected EOF");
    expect_parse_error("{{ $undefined }}", "template: __alert_X:1: undefined variable \"$undefined\"");
    expect_parse_error("{{ }}", "template: __alert_X:1: missing value for command");
    expect_parse_error("{{ \"abc }}", "template: __alert_X:1: unterminated quoted string");
}

static void expect_h(void (*fn)(strbuf_t *, double), double v, const char *want) {
    strbuf_t sb = STRBUF_INIT;
    fn(&sb, v);
    if (strcmp(sb.data, want) != 0) fail_msg("%g: want %s got %s", v, want, sb.data);
    strbuf_free(&sb);
}

static void test_humanize(void **state) {
    (void)state;
    expect_h(tmpl_humanize, 0, "0");
    expect_h(tmpl_humanize, 1, "1");
    expect_h(tmpl_humanize, 999, "999");
    expect_h(tmpl_humanize, 1000, "1k");
    expect_h(tmpl_humanize, 1234567, "1.235M");
    expect_h(tmpl_humanize, 0.1, "100m");
    expect_h(tmpl_humanize, 0.00012, "120u");
    expect_h(tmpl_humanize, -2500, "-2.5k");
    expect_h(tmpl_humanize, NAN, "NaN");
    expect_h(tmpl_humanize, INFINITY, "+Inf");
    expect_h(tmpl_humanize, 1e30, "1e+06Y");
    expect_h(tmpl_humanize1024, 1, "1");
    expect_h(tmpl_humanize1024, 1024, "1ki");
    expect_h(tmpl_humanize1024, 1536 * 1024.0, "1.5Mi");
    expect_h(tmpl_humanize_duration, 0, "0s");
    expect_h(tmpl_humanize_duration, 1, "1s");
    expect_h(tmpl_humanize_duration, 1.5, "1.5s");
    expect_h(tmpl_humanize_duration, 60, "1m 0s");
    expect_h(tmpl_humanize_duration, 3601, "1h 0m 1s");
    expect_h(tmpl_humanize_duration, 86400 * 2, "2d 0h 0m 0s");
    expect_h(tmpl_humanize_duration, 0.25, "250ms");
    expect_h(tmpl_humanize_duration, -90, "-1m 30s");
    expect_h(tmpl_humanize_percentage, 0.5, "50%");
    expect_h(tmpl_humanize_percentage, 0.123456, "12.35%");
    strbuf_t sb = STRBUF_INIT;
    assert_int_equal(tmpl_humanize_timestamp(&sb, 1700000000), 0);
    assert_string_equal(sb.data, "2023-11-14 22:13:20 +0000 UTC");
    strbuf_reset(&sb);
    assert_int_equal(tmpl_humanize_timestamp(&sb, 1e300), -1);
    strbuf_free(&sb);
}

/* ---- evaluation fixtures ------------------------------------------------------------ */

typedef struct fixture {
    memstore_t *store;
    promql_engine_t *eng;
    rules_env_t env;
    rule_file_t file;
    rule_group_t *g;
    /* notifications */
    size_t nnotified;
    rules_alert_t last[16];
    size_t nlast;
} fixture_t;

static void on_notify(void *ctx, const char *expr, const rules_alert_t *alerts, size_t n) {
    fixture_t *f = ctx;
    (void)expr;
    for (size_t i = 0; i < f->nlast; i++)
        rules_alert_clear(&f->last[i]);
    f->nlast = 0;
    for (size_t i = 0; i < n && i < 16; i++)
        rules_alert_copy(&f->last[f->nlast++], &alerts[i]);
    f->nnotified += n;
}

static void fixture_init(fixture_t *f, const char *rules_yaml, bool restored) {
    memset(f, 0, sizeof *f);
    f->store = memstore_new();
    promql_engine_opts_t eo = {0};
    f->eng = promql_engine_new(&eo);
    f->env.engine = f->eng;
    memstore_queryable(f->store, &f->env.queryable);
    memstore_appendable(f->store, &f->env.appendable);
    f->env.notify = on_notify;
    f->env.notify_ctx = f;
    f->env.resend_delay_ms = MIN;
    rules_errors_t errs = {0};
    if (rulefile_parse("t.yml", rules_yaml, strlen(rules_yaml), &f->file, &errs) < 0)
        fail_msg("rule file: %s", errs.msgs[0]);
    pl_err_t err;
    config_labels_t ext = {0};
    f->g = rule_group_new(&f->env, "t.yml", &f->file.groups[0], MIN, 0, &ext, "http://x", restored, &err);
    assert_non_null(f->g);
}

static void fixture_free(fixture_t *f) {
    rule_group_free(f->g);
    rulefile_free(&f->file);
    for (size_t i = 0; i < f->nlast; i++)
        rules_alert_clear(&f->last[i]);
    promql_engine_free(f->eng);
    memstore_free(f->store);
}

/* Appends one sample of `up{instance=...,job="node"}`. */
static void put(fixture_t *f, const char *name, const char *instance, int64_t t, double v) {
    label_t ls[] = {{"__name__", name}, {"instance", instance}, {"job", "node"}};
    sample_t s = {t, v};
    assert_int_equal(memstore_append(f->store, ls, 3, &s, 1, NULL), 0);
}

typedef struct found {
    int n;
    double last;
    int64_t last_t;
} found_t;

static int count_series(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    found_t *fd = ctx;
    (void)ls, (void)n;
    fd->n++;
    fd->last = s[ns - 1].v;
    fd->last_t = s[ns - 1].t;
    return 0;
}

/* The last sample at or before t of the series matching selector. */
static found_t lookup(fixture_t *f, const char *selector, int64_t t) {
    matcher_t *ms;
    size_t nms;
    assert_int_equal(selector_parse(selector, &ms, &nms, NULL), 0);
    found_t fd = {0};
    f->env.queryable.select(f->store, ms, nms, 0, t, count_series, &fd, NULL);
    matchers_free(ms, nms);
    return fd;
}

static const rules_alert_t *alert0(fixture_t *f, size_t rule) {
    size_t n = 0;
    const rules_alert_t *a = rule_group_alerts(f->g, rule, &n);
    return n ? &a[0] : NULL;
}

static const char *ALERT_RULES = "groups:\n"
                                 "- name: g\n"
                                 "  rules:\n"
                                 "  - alert: Down\n"
                                 "    expr: up == 0\n"
                                 "    for: 2m\n"
                                 "    labels:\n"
                                 "      severity: page\n"
                                 "      instance_copy: '{{ $labels.instance }}'\n"
                                 "    annotations:\n"
                                 "      summary: '{{ $labels.instance }} down ({{ $value }})'\n";

static void test_alert_pending_firing_resolved(void **state) {
    (void)state;
    fixture_t f;
    fixture_init(&f, ALERT_RULES, true);
    /* up is 1, then 0 from 1m to 4m, then 1 */
    double up[] = {1, 0, 0, 0, 0, 1, 1};
    for (int i = 0; i < 7; i++)
        put(&f, "up", "a:1", i * MIN, up[i]);

    rule_group_eval(f.g, 0);
    assert_null(alert0(&f, 0));
    assert_string_equal(rule_group_rule_health(f.g, 0), "ok");

    rule_group_eval(f.g, 1 * MIN);
    const rules_alert_t *a = alert0(&f, 0);
    assert_non_null(a);
    assert_int_equal(a->state, ALERT_PENDING);
    assert_int_equal(a->active_at, 1 * MIN);
    assert_string_equal(labels_get(a->labels, a->nlabels, "alertname"), "Down");
    assert_string_equal(labels_get(a->labels, a->nlabels, "instance_copy"), "a:1");
    assert_null(labels_get(a->labels, a->nlabels, "__name__"));
    assert_string_equal(a->annotations[0].value, "a:1 down (0)");
    assert_int_equal(f.nnotified, 0); /* pending alerts are not sent */
    assert_int_equal(lookup(&f, "ALERTS{alertstate=\"pending\"}", 1 * MIN).n, 1);
    found_t fs = lookup(&f, "ALERTS_FOR_STATE{alertname=\"Down\"}", 1 * MIN);
    assert_int_equal(fs.n, 1);
    assert_true(fs.last == 60.0); /* activeAt in Unix seconds */

    rule_group_eval(f.g, 2 * MIN);
    assert_int_equal(alert0(&f, 0)->state, ALERT_PENDING); /* 1m < for */

    rule_group_eval(f.g, 3 * MIN);
    a = alert0(&f, 0);
    assert_int_equal(a->state, ALERT_FIRING);
    assert_int_equal(a->fired_at, 3 * MIN);
    assert_int_equal(f.nnotified, 1);
    assert_int_equal(f.last[0].valid_until, 3 * MIN + 4 * MIN); /* 4 x max(resend delay, interval) */
    assert_int_equal(lookup(&f, "ALERTS{alertstate=\"firing\"}", 3 * MIN).n, 1);
    /* the pending series went stale when it became firing */
    found_t pend = lookup(&f, "ALERTS{alertstate=\"pending\"}", 3 * MIN);
    assert_true(pl_is_stale_nan(pend.last));

    rule_group_eval(f.g, 4 * MIN);
    assert_int_equal(f.nnotified, 1); /* resend delay 1m not yet passed (strictly) */

    rule_group_eval(f.g, 5 * MIN); /* up is back */
    a = alert0(&f, 0);
    assert_int_equal(a->state, ALERT_INACTIVE);
    assert_int_equal(a->resolved_at, 5 * MIN);
    assert_int_equal(f.nnotified, 2); /* the resolution is sent at once */
    assert_int_equal(f.last[0].resolved_at, 5 * MIN);
    found_t firing = lookup(&f, "ALERTS{alertstate=\"firing\"}", 5 * MIN);
    assert_true(pl_is_stale_nan(firing.last));

    /* kept (and re-sent every resend delay) for 15m, then dropped */
    rule_group_eval(f.g, 6 * MIN);
    rule_group_eval(f.g, 7 * MIN);
    assert_int_equal(f.nnotified, 3);
    assert_non_null(alert0(&f, 0));
    rule_group_eval(f.g, 20 * MIN);
    assert_non_null(alert0(&f, 0)); /* 15m after: removed only when more than 15m passed */
    rule_group_eval(f.g, 20 * MIN + 1);
    assert_null(alert0(&f, 0));
    fixture_free(&f);
}

static void test_alert_pending_dropped_and_zero_for(void **state) {
    (void)state;
    fixture_t f;
    fixture_init(&f,
                 "groups:\n- name: g\n  rules:\n  - alert: Slow\n    expr: up == 0\n    for: 5m\n"
                 "  - alert: Now\n    expr: up == 0\n",
                 true);
    put(&f, "up", "a:1", 0, 0);
    put(&f, "up", "a:1", MIN, 1);
    rule_group_eval(f.g, 0);
    assert_int_equal(alert0(&f, 0)->state, ALERT_PENDING);
    assert_int_equal(alert0(&f, 1)->state, ALERT_FIRING); /* no for: fires at once */
    rule_group_eval(f.g, MIN);
    assert_null(alert0(&f, 0)); /* a pending alert that goes away is forgotten */
    assert_int_equal(alert0(&f, 1)->state, ALERT_INACTIVE);
    fixture_free(&f);
}

static void test_keep_firing_for(void **state) {
    (void)state;
    fixture_t f;
    fixture_init(&f, "groups:\n- name: g\n  rules:\n  - alert: K\n    expr: up == 0\n    keep_firing_for: 2m\n", true);
    double up[] = {0, 1, 1, 1, 0, 1};
    for (int i = 0; i < 6; i++)
        put(&f, "up", "a:1", i * MIN, up[i]);
    rule_group_eval(f.g, 0);
    assert_int_equal(alert0(&f, 0)->state, ALERT_FIRING);
    rule_group_eval(f.g, MIN);
    assert_int_equal(alert0(&f, 0)->state, ALERT_FIRING); /* kept firing */
    assert_int_equal(alert0(&f, 0)->keep_firing_since, MIN);
    rule_group_eval(f.g, 2 * MIN);
    assert_int_equal(alert0(&f, 0)->state, ALERT_FIRING); /* 1m < 2m */
    rule_group_eval(f.g, 3 * MIN);
    assert_int_equal(alert0(&f, 0)->state, ALERT_INACTIVE); /* 2m passed */
    assert_int_equal(alert0(&f, 0)->resolved_at, 3 * MIN);
    rule_group_eval(f.g, 4 * MIN);
    const rules_alert_t *a = alert0(&f, 0);
    assert_int_equal(a->state, ALERT_FIRING); /* a new alert */
    assert_int_equal(a->active_at, 4 * MIN);
    assert_int_equal(a->keep_firing_since, 0);
    fixture_free(&f);
}

static void test_alert_limit_and_duplicates(void **state) {
    (void)state;
    fixture_t f;
    fixture_init(&f, "groups:\n- name: g\n  limit: 1\n  rules:\n  - alert: L\n    expr: up == 0\n", true);
    put(&f, "up", "a:1", 0, 0);
    put(&f, "up", "b:1", 0, 0);
    rule_group_eval(f.g, 0);
    assert_string_equal(rule_group_rule_health(f.g, 0), "err");
    assert_string_equal(rule_group_rule_error(f.g, 0), "exceeded limit of 1 with 2 alerts");
    assert_null(alert0(&f, 0));
    fixture_free(&f);

    fixture_init(&f, "groups:\n- name: g\n  rules:\n  - alert: D\n    expr: up == 0\n    labels:\n      instance: x\n",
                 true);
    put(&f, "up", "a:1", 0, 0);
    put(&f, "up", "b:1", 0, 0);
    rule_group_eval(f.g, 0);
    assert_string_equal(rule_group_rule_error(f.g, 0),
                        "vector contains metrics with the same labelset after applying alert labels");
    fixture_free(&f);
}

static void test_restore_for_state(void **state) {
    (void)state;
    const char *rules = "groups:\n- name: g\n  rules:\n  - alert: R\n    expr: up == 0\n    for: 30m\n";
    /* Before the "restart": pending since 0, ALERTS_FOR_STATE written up to 10m. */
    fixture_t f;
    fixture_init(&f, rules, true);
    for (int i = 0; i <= 60; i++)
        put(&f, "up", "a:1", i * MIN, 0);
    for (int i = 0; i <= 10; i++)
        rule_group_eval(f.g, i * MIN);
    assert_int_equal(alert0(&f, 0)->active_at, 0);
    /* The restarted server: same store, a group that restores. Down from 10m to 15m. */
    pl_err_t err;
    config_labels_t ext = {0};
    rule_group_t *g2 = rule_group_new(&f.env, "t.yml", &f.file.groups[0], MIN, 0, &ext, "", false, &err);
    rule_group_eval(g2, 15 * MIN);
    size_t n;
    const rules_alert_t *a = rule_group_alerts(g2, 0, &n);
    assert_int_equal(n, 1);
    assert_int_equal(a->active_at, 15 * MIN);                            /* rebuilt, not yet restored */
    assert_int_equal(lookup(&f, "ALERTS_FOR_STATE", 15 * MIN).last_t, 10 * MIN); /* not written before restore */
    rule_group_restore_for_state(g2, 15 * MIN);
    a = rule_group_alerts(g2, 0, &n);
    /* 10m spent pending before going down; the 5m outage does not count: */
    assert_int_equal(a->active_at, 5 * MIN);
    rule_group_eval(g2, 34 * MIN);
    assert_int_equal(rule_group_alerts(g2, 0, &n)->state, ALERT_PENDING);
    rule_group_eval(g2, 35 * MIN);
    assert_int_equal(rule_group_alerts(g2, 0, &n)->state, ALERT_FIRING);
    rule_group_free(g2);

    fixture_free(&f);

    /* Close to firing when it went down: the grace period (10m) applies. */
    fixture_init(&f, rules, true);
    for (int i = 0; i <= 200; i++)
        put(&f, "up", "a:1", i * MIN, 0);
    for (int i = 0; i <= 25; i++)
        rule_group_eval(f.g, i * MIN); /* pending since 0, 25m spent when it went down */
    rule_group_t *g3 = rule_group_new(&f.env, "t.yml", &f.file.groups[0], MIN, 0, &ext, "", false, &err);
    rule_group_eval(g3, 27 * MIN);
    rule_group_restore_for_state(g3, 27 * MIN);
    a = rule_group_alerts(g3, 0, &n);
    assert_int_equal(a->active_at, 27 * MIN + 10 * MIN - 30 * MIN); /* fires 10m from now */
    rule_group_free(g3);

    /* Down longer than the outage tolerance (1h): nothing restored. */
    rule_group_t *g4 = rule_group_new(&f.env, "t.yml", &f.file.groups[0], MIN, 0, &ext, "", false, &err);
    rule_group_eval(g4, 100 * MIN);
    rule_group_restore_for_state(g4, 100 * MIN);
    a = rule_group_alerts(g4, 0, &n);
    assert_int_equal(n, 1);
    assert_int_equal(a->active_at, 100 * MIN);
    rule_group_free(g4);
    fixture_free(&f);
}

static void test_restore_skipped_below_grace_period(void **state) {
    (void)state;
    fixture_t f;
    fixture_init(&f, "groups:\n- name: g\n  rules:\n  - alert: Q\n    expr: up == 0\n    for: 5m\n", false);
    put(&f, "up", "a:1", 0, 0);
    rule_group_eval(f.g, 0);
    assert_int_equal(lookup(&f, "ALERTS", 0).n, 0); /* not restored yet: no ALERTS */
    rule_group_restore_for_state(f.g, 0);
    assert_int_equal(alert0(&f, 0)->active_at, 0); /* for 5m < grace 10m: left alone */
    rule_group_eval(f.g, 1);
    assert_int_equal(lookup(&f, "ALERTS", 1).n, 1);
    fixture_free(&f);
}

/* ---- recording rules ------------------------------------------------------------------- */

static void test_recording_rules(void **state) {
    (void)state;
    fixture_t f;
    fixture_init(&f,
                 "groups:\n- name: g\n  rules:\n"
                 "  - record: job:up:sum\n    expr: sum by (job) (up)\n    labels:\n      tier: x\n"
                 "  - record: job:up:doubled\n    expr: job:up:sum * 2\n" /* sees the rule above */
                 "  - record: answer\n    expr: '42'\n",
                 true);
    put(&f, "up", "a:1", 0, 1);
    put(&f, "up", "b:1", 0, 1);
    rule_group_eval(f.g, 0);
    found_t s = lookup(&f, "job:up:sum{job=\"node\",tier=\"x\"}", 0);
    assert_int_equal(s.n, 1);
    assert_true(s.last == 2);
    s = lookup(&f, "job:up:doubled{tier=\"x\"}", 0);
    assert_int_equal(s.n, 1);
    assert_true(s.last == 4);
    s = lookup(&f, "answer", 0);
    assert_true(s.n == 1 && s.last == 42); /* a scalar result becomes a series without labels */
    /* up disappears: the rule's series gets a staleness marker */
    rule_group_eval(f.g, 10 * MIN);
    s = lookup(&f, "job:up:sum", 10 * MIN);
    assert_int_equal(s.last_t, 10 * MIN);
    assert_true(pl_is_stale_nan(s.last));
    fixture_free(&f);
}

static void test_recording_errors(void **state) {
    (void)state;
    fixture_t f;
    fixture_init(&f,
                 "groups:\n- name: g\n  limit: 1\n  rules:\n  - record: r\n    expr: up\n"
                 "  - record: s\n    expr: '\"str\"'\n  - record: t\n    expr: sum by (instance) (up)\n"
                 "    labels:\n      instance: same\n",
                 true);
    put(&f, "up", "a:1", 0, 1);
    put(&f, "up", "b:1", 0, 1);
    rule_group_eval(f.g, 0);
    assert_string_equal(rule_group_rule_error(f.g, 0), "exceeded limit 1 with 2 series");
    assert_string_equal(rule_group_rule_error(f.g, 1), "rule result is not a vector or scalar");
    assert_string_equal(rule_group_rule_error(f.g, 2),
                        "vector contains metrics with the same labelset after applying rule labels");
    assert_int_equal(lookup(&f, "r", 0).n, 0);
    fixture_free(&f);
}

/* ---- alignment, reload, JSON ------------------------------------------------------------- */

static void test_group_alignment(void **state) {
    (void)state;
    int64_t iv = MIN, base = 1700000000000LL;
    int64_t t0 = rules_eval_timestamp("/r.yml", "g", iv, base);
    assert_true(t0 <= base && t0 > base - iv);
    int64_t offset = ((t0 % iv) + iv) % iv;
    /* the same group lands on the same grid whatever "now" is */
    for (int64_t now = base; now < base + 5 * iv; now += 7919) {
        int64_t t = rules_eval_timestamp("/r.yml", "g", iv, now);
        assert_true(t <= now && t > now - iv);
        assert_int_equal(((t % iv) + iv) % iv, offset);
    }
    /* other groups spread over the interval */
    int distinct = 0;
    int64_t prev = -1;
    char name[16];
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "g%d", i);
        int64_t o = ((rules_eval_timestamp("/r.yml", name, iv, base) % iv) + iv) % iv;
        if (o != prev) distinct++;
        prev = o;
    }
    assert_true(distinct > 15);
    /* the file is part of the identity */
    assert_true(rules_eval_timestamp("/a.yml", "g", iv, base) != rules_eval_timestamp("/b.yml", "g", iv, base) ||
                rules_eval_timestamp("/a.yml", "h", iv, base) != rules_eval_timestamp("/b.yml", "h", iv, base));
}

static void test_copy_state(void **state) {
    (void)state;
    fixture_t f;
    fixture_init(&f, ALERT_RULES, true);
    put(&f, "up", "a:1", 0, 0);
    rule_group_eval(f.g, 0);
    /* a changed group (an added rule) inherits the alert of the rule with the same name and labels */
    const char *changed = "groups:\n- name: g\n  rules:\n  - record: extra\n    expr: vector(1)\n"
                          "  - alert: Down\n    expr: up == 0\n    for: 2m\n    labels:\n      severity: page\n"
                          "      instance_copy: '{{ $labels.instance }}'\n";
    rule_file_t nf;
    rules_errors_t errs = {0};
    assert_int_equal(rulefile_parse("t.yml", changed, strlen(changed), &nf, &errs), 0);
    pl_err_t err;
    config_labels_t ext = {0};
    rule_group_t *g2 = rule_group_new(&f.env, "t.yml", &nf.groups[0], MIN, 0, &ext, "", true, &err);
    rule_group_copy_state(g2, f.g);
    size_t n;
    const rules_alert_t *a = rule_group_alerts(g2, 1, &n);
    assert_int_equal(n, 1);
    assert_int_equal(a->active_at, 0);
    assert_null(alert0(&f, 0)); /* moved, not copied */
    rule_group_free(g2);
    rulefile_free(&nf);
    fixture_free(&f);
}

static void test_rules_json(void **state) {
    (void)state;
    fixture_t f;
    fixture_init(&f, ALERT_RULES, true);
    put(&f, "up", "a:1", 1700000000500LL, 0);
    rule_group_eval(f.g, 1700000000500LL);
    strbuf_t sb = STRBUF_INIT;
    jsonw_t w;
    jw_init(&w, &sb);
    rule_group_write_json(f.g, NULL, &w);
    const char *want_prefix =
        "{\"name\":\"g\",\"file\":\"t.yml\",\"rules\":[{\"state\":\"pending\",\"name\":\"Down\",\"query\":\"up == "
        "0\",\"duration\":120,\"keepFiringFor\":0,\"labels\":{\"instance_copy\":\"{{ $labels.instance "
        "}}\",\"severity\":\"page\"},\"annotations\":{\"summary\":\"{{ $labels.instance }} down ({{ $value "
        "}})\"},\"alerts\":[{\"labels\":{\"alertname\":\"Down\",\"instance\":\"a:1\",\"instance_copy\":\"a:1\","
        "\"job\":\"node\",\"severity\":\"page\"},\"annotations\":{\"summary\":\"a:1 down "
        "(0)\"},\"state\":\"pending\",\"activeAt\":\"2023-11-14T22:13:20.5Z\"";
    if (strncmp(sb.data, want_prefix, strlen(want_prefix)) != 0) fail_msg("got %s", sb.data);
    assert_non_null(strstr(sb.data, "\"value\":\"0e+00\"}],\"health\":\"ok\",\"evaluationTime\":"));
    assert_non_null(strstr(sb.data, "\"lastEvaluation\":\"2023-11-14T22:13:20.5Z\",\"type\":\"alerting\"}],\"interval\":60,"
                                    "\"limit\":0,\"evaluationTime\":"));
    /* filters: only recording rules leaves nothing, so the group is omitted */
    strbuf_reset(&sb);
    jw_init(&w, &sb);
    rules_filter_t flt = {.type = 2};
    rule_group_write_json(f.g, &flt, &w);
    assert_int_equal(sb.len, 0);
    strbuf_free(&sb);
    fixture_free(&f);
}

static void test_notifier_json(void **state) {
    (void)state;
    label_t ls[] = {{"alertname", "A"}, {"job", "x"}};
    label_t an[] = {{"summary", "s \"q\""}};
    rules_alert_t a = {.labels = ls, .nlabels = 2, .annotations = an, .nannotations = 1, .state = ALERT_FIRING,
                       .fired_at = 1700000000123LL, .valid_until = 1700000240123LL};
    const char *urls[] = {"http://p:9090/graph?g0.expr=up&g0.tab=1"};
    strbuf_t sb = STRBUF_INIT;
    notifier_alerts_json(&sb, &a, urls, 1);
    assert_string_equal(sb.data,
                        "[{\"annotations\":{\"summary\":\"s \\\"q\\\"\"},\"endsAt\":\"2023-11-14T22:17:20.123Z\","
                        "\"generatorURL\":\"http://p:9090/graph?g0.expr=up&g0.tab=1\",\"labels\":{\"alertname\":\"A\","
                        "\"job\":\"x\"},\"startsAt\":\"2023-11-14T22:13:20.123Z\"}]");
    /* resolved: endsAt is the resolution time */
    a.resolved_at = 1700000060000LL;
    strbuf_reset(&sb);
    notifier_alerts_json(&sb, &a, NULL, 1);
    assert_non_null(strstr(sb.data, "\"endsAt\":\"2023-11-14T22:14:20.000Z\""));
    strbuf_reset(&sb);
    rules_table_link(&sb, "sum(rate(x{a=\"b c\"}[5m])) > 0");
    assert_string_equal(sb.data, "/graph?g0.expr=sum%28rate%28x%7Ba%3D%22b+c%22%7D%5B5m%5D%29%29+%3E+0&g0.tab=1");
    strbuf_free(&sb);
}

static void test_notifier_queue_and_relabel(void **state) {
    (void)state;
    const char *yml = "global:\n  external_labels:\n    lab: it\n    job: ext\n"
                      "alerting:\n  alert_relabel_configs:\n    - source_labels: [severity]\n      regex: drop\n"
                      "      action: drop\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:1']\n"
                      "      path_prefix: /am/\n";
    config_t *c = NULL;
    pl_err_t err;
    assert_int_equal(config_load_string(yml, strlen(yml), "p.yml", &c, &err), 0);
    notifier_opts_t no = {.queue_capacity = 2};
    notifier_t *n = notifier_new(&no);
    assert_int_equal(notifier_apply_config(n, c, &err), 0);
    strbuf_t sb = STRBUF_INIT;
    notifier_urls(n, &sb);
    assert_string_equal(sb.data, "http://127.0.0.1:1/am/api/v2/alerts\n");
    label_t keep[] = {{"alertname", "A"}, {"job", "mine"}};
    label_t drop[] = {{"alertname", "B"}, {"severity", "drop"}};
    rules_alert_t as[3] = {{.labels = keep, .nlabels = 2}, {.labels = drop, .nlabels = 2}, {.labels = keep, .nlabels = 2}};
    notifier_send(n, as, 3, "");
    assert_int_equal(notifier_queue_length(n), 2); /* one relabeled away */
    notifier_send(n, as, 1, "");
    assert_int_equal(notifier_queue_length(n), 2); /* capacity 2: the oldest dropped */
    strbuf_reset(&sb);
    notifier_write_metrics(n, &sb);
    assert_non_null(strstr(sb.data, "prometheus_notifications_dropped_total 1\n"));
    assert_non_null(strstr(sb.data, "prometheus_notifications_queue_length 2\n"));
    assert_non_null(strstr(sb.data, "prometheus_notifications_queue_capacity 2\n"));
    assert_non_null(strstr(sb.data, "prometheus_notifications_alertmanagers_discovered 1\n"));
    strbuf_free(&sb);
    notifier_free(n); /* never started: the queued alerts are freed */
    config_free(c);
}

PL_TEST_MAIN(cmocka_unit_test(test_bad_rule_files_match_promtool), cmocka_unit_test(test_good_rule_files),
             cmocka_unit_test(test_rulefile_aliasing_bomb), cmocka_unit_test(test_rule_file_globs),
             cmocka_unit_test(test_templates), cmocka_unit_test(test_template_parse_errors),
             cmocka_unit_test(test_humanize), cmocka_unit_test(test_alert_pending_firing_resolved),
             cmocka_unit_test(test_alert_pending_dropped_and_zero_for), cmocka_unit_test(test_keep_firing_for),
             cmocka_unit_test(test_alert_limit_and_duplicates), cmocka_unit_test(test_restore_for_state),
             cmocka_unit_test(test_restore_skipped_below_grace_period), cmocka_unit_test(test_recording_rules),
             cmocka_unit_test(test_recording_errors), cmocka_unit_test(test_group_alignment),
             cmocka_unit_test(test_copy_state), cmocka_unit_test(test_rules_json), cmocka_unit_test(test_notifier_json),
             cmocka_unit_test(test_notifier_queue_and_relabel))
