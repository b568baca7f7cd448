/* bench_scrape_relabel.c — the scrape path with metric_relabel_configs,
 * printed, never asserted.
 *
 * A target body of N series shaped like the cardinality lab
 * (http_requests_total{endpoint, method, user_id}, N distinct user ids over
 * 10 endpoints) goes through the real scrape path — parse, cache probe,
 * label building, metric relabeling, one commit into a real head — by
 * calling scrape_process directly (no HTTP, no thread), for three configs:
 *   none      no metric_relabel_configs
 *   labeldrop `labeldrop user_id` (N series collapse onto 40)
 *   chain     drop by name (no match) + replace + labeldrop, three rules
 * For each: the first scrape (every series a cache miss: labels built and
 * relabeled) and the mean of the following scrapes (every series a cache hit:
 * relabeling is not run again), in ns per scraped series, CPU time.
 *
 *   make build/bin/bench_scrape_relabel && build/bin/bench_scrape_relabel [series] [scrapes] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "scrape/internal.h"
#include "tsdb/db.h"
#include "tsdb/head.h"

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct bench_case {
    const char *name;
    const char *relabel_yaml;
} bench_case_t;

int main(int argc, char **argv) {
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
    int scrapes = argc > 2 ? atoi(argv[2]) : 10;
    static const char *endpoints[] = {"/api/v1/users", "/api/v1/orders", "/api/v1/items", "/health",   "/login",
                                      "/logout",       "/search",        "/cart",         "/checkout", "/static"};
    static const char *methods[] = {"GET", "POST", "PUT", "DELETE"};
    strbuf_t body = STRBUF_INIT;
    strbuf_puts(&body, "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n");
    for (size_t i = 0; i < n; i++)
        strbuf_printf(&body, "http_requests_total{endpoint=\"%s\",method=\"%s\",user_id=\"u%zu\"} %zu\n",
                      endpoints[i % 10], methods[(i / 10) % 4], i * 7919 % 1000003, i);

    bench_case_t cases[] = {
        {"none", ""},
        {"labeldrop", "    metric_relabel_configs:\n      - regex: user_id\n        action: labeldrop\n"},
        {"chain",
         "    metric_relabel_configs:\n"
         "      - source_labels: [__name__]\n        regex: 'go_.*|debug_.*'\n        action: drop\n"
         "      - source_labels: [endpoint, method]\n        separator: ' '\n        target_label: route\n"
         "        replacement: '$1'\n"
         "      - regex: user_id\n        action: labeldrop\n"},
    };
    printf("scrape path with metric_relabel_configs: %zu series per scrape, %d scrapes, CPU ns per series\n", n,
           scrapes);
    printf("%-10s %14s %14s %10s %12s\n", "case", "first(miss)", "steady(hit)", "series", "post_relabel");
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char yaml[2048];
        snprintf(yaml, sizeof yaml,
                 "global: {scrape_interval: 15s}\nscrape_configs:\n  - job_name: app\n"
                 "    static_configs: [{targets: ['app-7:8080']}]\n%s",
                 cases[k].relabel_yaml);
        config_t *c = NULL;
        pl_err_t err;
        if (config_load_string(yaml, strlen(yaml), "bench.yml", &c, &err) != 0) {
            fprintf(stderr, "config: %s\n", err.msg);
            return 1;
        }
        head_t *h = head_new();
        db_t *db = db_wrap_head(h);
        appendable_t app;
        db_appendable(db, &app);
        scrape_manager_t *m = scrape_manager_new(&app);
        if (!m || scrape_manager_apply_config(m, c, &err) != 0 || m->ntargets != 1) {
            fprintf(stderr, "manager: %s\n", err.msg);
            return 1;
        }
        config_free(c);
        scrape_target_t *t = m->targets[0];
        int64_t ts = 1700000000000;
        double first = 0, steady = 0;
        for (int s = 0; s < scrapes + 1; s++) {
            t->scrape_ts_ms = ts + (int64_t)s * 15000;
            t->start_ns = 1;
            double t0 = cpu_s();
            scrape_process(m, t, NULL, body.data, body.len, "text/plain; version=0.0.4");
            double dt = cpu_s() - t0;
            if (s == 0)
                first = dt;
            else
                steady += dt;
        }
        if (t->health != SCRAPE_HEALTH_UP) fprintf(stderr, "scrape failed: %s\n", t->last_error);
        head_stats_t hs;
        head_get_stats(h, &hs);
        printf("%-10s %14.0f %14.0f %10llu %12s\n", cases[k].name, first * 1e9 / (double)n,
               steady * 1e9 / (double)n / scrapes, (unsigned long long)hs.num_series,
               k == 0 ? "all" : "collapsed");
        scrape_manager_free(m);
        db_close(db, NULL);
        head_free(h);
    }
    strbuf_free(&body);
    return 0;
}
