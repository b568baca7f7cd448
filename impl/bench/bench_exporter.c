/* bench_exporter.c — an avalanche-shaped exporter for the scrape benchmarks.
 *
 *   bench_exporter --targets=N --series=S --port=P [--labels=10] [--metrics=100]
 *
 * Serves N targets on ports P..P+N-1, each exposing S series spread over
 * `metrics` gauge names (avalanche's shape: avalanche_metric_mmmmm_<m>_<id>
 * with label_key_kkkkk_<i>="label_val_vvvvv_<i>", series_id and cycle_id).
 * Values change on every request (a counter per target plus the series
 * index), so the scraper stores real XOR deltas. Runs until SIGINT/SIGTERM. */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/flags.h"
#include "util/strbuf.h"
#include "web/http.h"

typedef struct {
    int index;
    long series;
    int labels;
    int metrics;
    _Atomic long requests;
} target_t;

static void serve(void *ctx, const http_request_t *req, http_response_t *resp) {
    target_t *t = ctx;
    if (strcmp(req->path, "/metrics") != 0) {
        resp->status = 404;
        strbuf_puts(&resp->body, "not found\n");
        return;
    }
    long round = atomic_fetch_add(&t->requests, 1);
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    strbuf_t *sb = &resp->body;
    strbuf_reserve(sb, (size_t)t->series * 420);
    long per_metric = (t->series + t->metrics - 1) / t->metrics;
    char line[2048];
    for (long s = 0; s < t->series; s++) {
        long m = s / per_metric, id = s % per_metric;
        if (id == 0) {
            int n = snprintf(line, sizeof line,
                             "# HELP avalanche_metric_mmmmm_%ld_%d A tasty metric morsel\n"
                             "# TYPE avalanche_metric_mmmmm_%ld_%d gauge\n",
                             m, t->index, m, t->index);
            strbuf_append(sb, line, (size_t)n);
        }
        int n = snprintf(line, sizeof line, "avalanche_metric_mmmmm_%ld_%d{cycle_id=\"0\"", m, t->index);
        for (int l = 0; l < t->labels; l++)
            n += snprintf(line + n, sizeof line - (size_t)n, ",label_key_kkkkk_%d=\"label_val_vvvvv_%d\"", l, l);
        n += snprintf(line + n, sizeof line - (size_t)n, ",series_id=\"%ld\"} %ld\n", id, (round * 7 + s) % 100);
        strbuf_append(sb, line, (size_t)n);
    }
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig, stop = 1; }

int main(int argc, char **argv) {
    flag_def_t defs[] = {
        {"targets", FLAG_INT, "1", "number of targets (one port each)"},
        {"series", FLAG_INT, "100000", "series per target"},
        {"labels", FLAG_INT, "10", "label_key_kkkkk_N labels per series"},
        {"metrics", FLAG_INT, "100", "metric names per target"},
        {"port", FLAG_INT, "19100", "first port"},
        {"listen-host", FLAG_STRING, "127.0.0.1", "address to bind"},
    };
    size_t nd = sizeof defs / sizeof defs[0];
    pl_err_t err = {{0}};
    int rc = flags_parse(defs, nd, argc - 1, argv + 1, NULL, NULL, &err);
    if (rc != 0) {
        strbuf_t u = STRBUF_INIT;
        flags_usage(defs, nd, "bench_exporter [<flags>]", &u);
        fprintf(rc < 0 ? stderr : stdout, "%s%s%s", rc < 0 ? err.msg : "", rc < 0 ? "\n" : "", u.data);
        strbuf_free(&u);
        return rc < 0 ? 2 : 0;
    }
    int64_t ntargets, series, labels, metrics, port;
    if (flags_int(defs, nd, "targets", &ntargets, &err) || flags_int(defs, nd, "series", &series, &err) ||
        flags_int(defs, nd, "labels", &labels, &err) || flags_int(defs, nd, "metrics", &metrics, &err) ||
        flags_int(defs, nd, "port", &port, &err) || ntargets < 1 || series < 1 || metrics < 1) {
        fprintf(stderr, "bench_exporter: bad flags: %s\n", err.msg);
        return 2;
    }
    target_t *ts = calloc((size_t)ntargets, sizeof *ts);
    http_server_t **srv = calloc((size_t)ntargets, sizeof *srv);
    for (int i = 0; i < ntargets; i++) {
        ts[i] = (target_t){.index = i, .series = series, .labels = (int)labels, .metrics = (int)metrics};
        char addr[128];
        snprintf(addr, sizeof addr, "%s:%lld", flags_str(defs, nd, "listen-host"), (long long)(port + i));
        srv[i] = http_server_start(addr, 1, serve, &ts[i], &err);
        if (!srv[i]) {
            fprintf(stderr, "bench_exporter: %s\n", err.msg);
            return 1;
        }
    }
    fprintf(stderr, "bench_exporter: %lld targets x %lld series on ports %lld..%lld\n", (long long)ntargets,
            (long long)series, (long long)port, (long long)(port + ntargets - 1));
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    while (!stop) pause();
    for (int i = 0; i < ntargets; i++) http_server_stop(srv[i]);
    free(srv);
    free(ts);
    flags_free(defs, nd);
    return 0;
}
