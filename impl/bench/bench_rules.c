/* bench_rules.c — what a recording rule buys a dashboard.
 *
 *   bench_rules [SERIES] [RUNS]     (default 100000 series, 5 runs)
 *
 * Fills a head with SERIES counters http_requests_total{job, instance,
 * endpoint} (100 instances x SERIES/100 endpoints) over 30 minutes of 15s
 * samples, evaluates the recording rule
 *     endpoint:http_requests:rate5m = sum by (endpoint) (rate(http_requests_total[5m]))
 * every minute over that half hour (through the rules module, as the server
 * does), then times the dashboard's range query (last 30m, step 1m) against
 * the raw series and against the recorded ones, and prints both latencies
 * and their ratio. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "promql/engine.h"
#include "rules/rules.h"
#include "tsdb/head.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* An appendable straight into the head (the bench has no WAL). */
typedef struct happ {
    head_t *h;
} happ_t;

static int h_add(void *impl, const label_t *ls, size_t n, int64_t t, double v) {
    happ_t *a = impl;
    (void)head_append(a->h, ls, n, t, v, NULL, NULL); /* out-of-order and the like are per-sample outcomes */
    return 0;
}
static int h_add_ref(void *impl, series_ref_t ref, int64_t t, double v) {
    happ_t *a = impl;
    return head_append_ref(a->h, ref, t, v);
}
static int h_commit(void *impl, const storage_append_status_t **st, pl_err_t *err) {
    (void)impl, (void)err;
    if (st) *st = NULL;
    return 0;
}
static void h_rollback(void *impl) { (void)impl; }
static void h_free(void *impl) { free(impl); }
static int h_appender(void *impl, appender_t *out) {
    happ_t *a = malloc(sizeof *a);
    if (!a) return -1;
    a->h = impl;
    *out = (appender_t){a, h_add, h_add_ref, h_commit, h_rollback, h_free};
    return 0;
}

static double time_query(promql_engine_t *eng, const queryable_t *q, const char *query, int64_t start, int64_t end,
                         int runs, size_t *nseries) {
    double best = 1e9;
    for (int r = 0; r < runs; r++) {
        promql_result_t res;
        promql_error_t err;
        double t0 = now();
        if (promql_exec_range(eng, q, query, start, end, 60000, &res, &err) < 0) {
            fprintf(stderr, "query failed: %s\n", err.msg);
            exit(1);
        }
        double dt = now() - t0;
        if (dt < best) best = dt;
        *nseries = res.nseries;
        promql_result_free(&res);
    }
    return best;
}

int main(int argc, char **argv) {
    size_t series = argc > 1 ? (size_t)atol(argv[1]) : 100000;
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    size_t instances = 100, endpoints = series / instances ? series / instances : 1;
    head_t *h = head_new();
    const int64_t step = 15000, span = 30 * 60000, t0 = 1700000000000LL;
    double a0 = now();
    series_ref_t *refs = calloc(series, sizeof *refs);
    char inst[32], ep[32];
    for (int64_t t = t0; t <= t0 + span; t += step) {
        for (size_t i = 0; i < series; i++) {
            double v = (double)((t - t0) / step) * (double)(1 + i % 7);
            if (refs[i]) {
                head_append_ref(h, refs[i], t, v);
                continue;
            }
            snprintf(inst, sizeof inst, "i-%zu", i % instances);
            snprintf(ep, sizeof ep, "/api/e%zu", i / instances % endpoints);
            label_t ls[] = {{"__name__", "http_requests_total"}, {"endpoint", ep}, {"instance", inst}, {"job", "api"}};
            head_append(h, ls, 4, t, v, &refs[i], NULL);
        }
    }
    double a1 = now();
    printf("series %zu, samples %lld, appended in %.1fs\n", series, (long long)(span / step + 1) * (long long)series,
           a1 - a0);

    promql_engine_opts_t eo = {.max_samples = 0};
    promql_engine_t *eng = promql_engine_new(&eo);
    rules_env_t env = {.engine = eng, .appendable = {h, h_appender}};
    head_queryable(h, &env.queryable);
    const char *yml = "groups:\n- name: dashboards\n  rules:\n"
                      "  - record: endpoint:http_requests:rate5m\n"
                      "    expr: sum by (endpoint) (rate(http_requests_total[5m]))\n";
    rule_file_t rf;
    rules_errors_t errs = {0};
    if (rulefile_parse("bench.yml", yml, strlen(yml), &rf, &errs) < 0) return 1;
    pl_err_t err;
    config_labels_t ext = {0};
    rule_group_t *g = rule_group_new(&env, "bench.yml", &rf.groups[0], 60000, 0, &ext, "", true, &err);
    double e0 = now();
    int evals = 0;
    for (int64_t t = t0; t <= t0 + span; t += 60000, evals++)
        rule_group_eval(g, t);
    double e1 = now();
    printf("recording rule: %d evaluations, %.3fs each\n", evals, (e1 - e0) / evals);

    size_t n_raw = 0, n_rec = 0;
    double raw = time_query(eng, &env.queryable, "sum by (endpoint) (rate(http_requests_total[5m]))", t0 + 10 * 60000,
                            t0 + span, runs, &n_raw);
    double rec = time_query(eng, &env.queryable, "endpoint:http_requests:rate5m", t0 + 10 * 60000, t0 + span, runs,
                            &n_rec);
    printf("dashboard query, last 20m step 1m, best of %d:\n", runs);
    printf("  raw series        %8.1f ms  (%zu result series)\n", raw * 1e3, n_raw);
    printf("  recording rule    %8.2f ms  (%zu result series)\n", rec * 1e3, n_rec);
    printf("  ratio             %8.0fx\n", raw / (rec > 0 ? rec : 1e-9));
    rule_group_free(g);
    rulefile_free(&rf);
    promql_engine_free(eng);
    free(refs);
    head_free(h);
    return 0;
}
