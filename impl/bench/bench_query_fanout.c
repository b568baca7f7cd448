/* bench_query_fanout.c — what the global view costs: a PromQL query through
 * `promlab query`'s fan-out over two replica leaves (remote read over HTTP,
 * penalty deduplication) against the same query on one head directly.
 *
 *   bench_query_fanout [SERIES [SAMPLES [RUNS]]]
 *
 * Builds two heads with the same SERIES series (default 100000) of SAMPLES
 * samples 15 s apart (default 20: five minutes), the second replica scraped
 * 300 ms later, as two servers scraping one target would. Each head is
 * served by a web_t (POST /api/v1/read, external labels replica=A / B) on
 * 127.0.0.1. Then each query runs RUNS times (default 5) on:
 *   direct    the engine over head A
 *   1 leaf    the engine over a remote-read client of leaf A (streamed chunks)
 *   2 leaves  the engine over the fan-out of both leaves, deduplicated
 *   2 leaves (SAMPLES) the same, the leaves asked for SAMPLES responses
 * and the median wall time is printed with the overhead against direct, and
 * the bytes one leaf answers for the query's select. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "promql/engine.h"
#include "query/query.h"
#include "remote/remote_client.h"
#include "remote/remote_read.h"
#include "tsdb/head.h"
#include "util/timeutil.h"
#include "web/web.h"

static int ext_one(const char *replica, label_t **out, size_t *n) {
    label_t *v = calloc(1, sizeof *v);
    if (!v) return -1;
    v[0] = (label_t){strdup("replica"), strdup(replica)};
    *out = v;
    *n = 1;
    return 0;
}
static int ext_a(void *ctx, label_t **out, size_t *n) { (void)ctx; return ext_one("A", out, n); }
static int ext_b(void *ctx, label_t **out, size_t *n) { (void)ctx; return ext_one("B", out, n); }

/* The 1-minute load average: figures from a busy machine say so. */
static double loadavg(void) {
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = -1;
        fclose(f);
    }
    return l;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Median wall time (ms) of runs of one query; -1 on error. */
static double run(promql_engine_t *eng, const queryable_t *q, const char *query, int64_t t, int runs, size_t *nseries) {
    int64_t ns[64];
    if (runs > 64) runs = 64;
    size_t warm = 0;
    if (runs > 1) run(eng, q, query, t, 1, &warm); /* connections, caches */
    for (int i = 0; i < runs; i++) {
        promql_result_t res;
        promql_error_t err;
        int64_t t0 = pl_monotonic_ns();
        int rc = promql_exec_instant(eng, q, query, t, &res, &err);
        ns[i] = pl_monotonic_ns() - t0;
        if (rc < 0) {
            fprintf(stderr, "query %s failed: %s\n", query, err.msg);
            promql_result_free(&res);
            return -1;
        }
        *nseries = res.nseries;
        promql_result_free(&res);
    }
    qsort(ns, (size_t)runs, sizeof ns[0], cmp_i64);
    return (double)ns[runs / 2] / 1e6;
}

/* Bytes of one remote-read answer for a selector (streamed and SAMPLES). */
static void answer_bytes(const char *url, const char *sel, int64_t mint, int64_t maxt, size_t *streamed, size_t *samples) {
    pl_err_t err;
    matcher_t *ms;
    size_t nms;
    *streamed = *samples = 0;
    if (selector_parse(sel, &ms, &nms, &err) < 0) return;
    for (int type = 0; type < 2; type++) {
        rr_query_t q = {.start_ms = mint, .end_ms = maxt, .matchers = ms, .nmatchers = nms};
        int acc = type == 0 ? RR_STREAMED_XOR_CHUNKS : RR_SAMPLES;
        rr_request_t r = {.queries = &q, .nqueries = 1, .accepted = &acc, .naccepted = 1};
        strbuf_t body = STRBUF_INIT, cmd = STRBUF_INIT;
        rr_request_encode(&r, &body, &err);
        char path[] = "/tmp/bench_rr_XXXXXX";
        int fd = mkstemp(path);
        if (fd >= 0) {
            FILE *f = fdopen(fd, "wb");
            fwrite(body.data, 1, body.len, f);
            fclose(f);
            strbuf_printf(&cmd, "curl -s -o /dev/null -w '%%{size_download}' --data-binary @%s %s/api/v1/read", path, url);
            FILE *p = popen(cmd.data, "r");
            unsigned long long n = 0;
            if (p) {
                if (fscanf(p, "%llu", &n) != 1) n = 0;
                pclose(p);
            }
            *(type == 0 ? streamed : samples) = (size_t)n;
            unlink(path);
        }
        strbuf_free(&body);
        strbuf_free(&cmd);
    }
    matchers_free(ms, nms);
}

int main(int argc, char **argv) {
    size_t nseries = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
    int nsamples = argc > 2 ? atoi(argv[2]) : 20;
    int runs = argc > 3 ? atoi(argv[3]) : 5;
    int64_t t0 = 1700000000000;
    head_t *h[2] = {head_new(), head_new()};
    char name[32], id[32], inst[32];
    int64_t tb = pl_monotonic_ns();
    for (int r = 0; r < 2; r++)
        for (int k = 0; k < nsamples; k++)
            for (size_t i = 0; i < nseries; i++) {
                snprintf(name, sizeof name, "bench_metric_%zu", i % 100);
                snprintf(id, sizeof id, "%zu", i);
                snprintf(inst, sizeof inst, "host-%zu", i % 1000);
                label_t ls[] = {{"__name__", name}, {"instance", inst}, {"job", "bench"}, {"series_id", id}};
                int64_t t = t0 + (int64_t)k * 15000 + (r ? 300 : 0);
                head_append(h[r], ls, 4, t, (double)(k * 10 + (int)(i % 7)), NULL, NULL);
            }
    fprintf(stderr, "built 2 heads of %zu series x %d samples in %.1f s\n", nseries, nsamples,
            (double)(pl_monotonic_ns() - tb) / 1e9);

    pl_err_t err;
    web_t *w[2];
    char url[2][64];
    for (int r = 0; r < 2; r++) {
        web_opts_t wo = {.listen_address = "127.0.0.1:0", .head = h[r], .external_labels = r ? ext_b : ext_a};
        w[r] = web_start(&wo, &err);
        if (!w[r]) {
            fprintf(stderr, "web: %s\n", err.msg);
            return 1;
        }
        snprintf(url[r], sizeof url[r], "http://127.0.0.1:%u", web_port(w[r]));
    }
    remote_client_t *c[2], *cs[2];
    remote_client_opts_t so = {.samples_only = true};
    query_leaf_t leaves[2], sleaves[2];
    for (int r = 0; r < 2; r++) {
        c[r] = remote_client_new(url[r], NULL, &err);
        cs[r] = remote_client_new(url[r], &so, &err);
        leaves[r].name = url[r];
        remote_client_queryable(c[r], &leaves[r].q);
        sleaves[r].name = url[r];
        remote_client_queryable(cs[r], &sleaves[r].q);
    }
    const char *rl[] = {"replica"};
    query_fanout_t *f = query_fanout_new(leaves, 2, rl, 1), *fs = query_fanout_new(sleaves, 2, rl, 1);
    query_fanout_set_leaf_info(f, 0, "replica\0A\0", 1, INT64_MIN, INT64_MAX, true);
    query_fanout_set_leaf_info(f, 1, "replica\0B\0", 1, INT64_MIN, INT64_MAX, true);
    query_fanout_set_leaf_info(fs, 0, "replica\0A\0", 1, INT64_MIN, INT64_MAX, true);
    query_fanout_set_leaf_info(fs, 1, "replica\0B\0", 1, INT64_MIN, INT64_MAX, true);
    query_request_t *req = query_request_new(f, true, false), *sreq = query_request_new(fs, true, false);

    queryable_t direct, one, two, two_s;
    head_queryable(h[0], &direct);
    remote_client_queryable(c[0], &one);
    query_request_queryable(req, &two);
    query_request_queryable(sreq, &two_s);
    promql_engine_opts_t eo = {0};
    promql_engine_t *eng = promql_engine_new(&eo);
    int64_t t = t0 + (int64_t)(nsamples - 1) * 15000 + 1000;
    static const char *queries[] = {
        "bench_metric_7{series_id=\"4207\"}",
        "sum(bench_metric_7)",
        "count({job=\"bench\"})",
        "sum by (instance) (rate({job=\"bench\"}[5m]))",
    };
    static const char *selectors[] = {
        "bench_metric_7{series_id=\"4207\"}", "bench_metric_7", "{job=\"bench\"}", "{job=\"bench\"}",
    };
    static const int64_t ranges[] = {300000, 300000, 300000, 600000};
    printf("# fan-out overhead: %zu series x %d samples per leaf, 2 replica leaves over HTTP on 127.0.0.1, median of %d runs\n",
           nseries, nsamples, runs);
    printf("# load average (1 min) at start: %.2f on %ld cores\n", loadavg(), sysconf(_SC_NPROCESSORS_ONLN));
    printf("%-44s %8s %10s %10s %10s %10s %8s %12s %12s\n", "query", "series", "direct_ms", "1leaf_ms", "2leaves_ms",
           "2l_smpl_ms", "x_direct", "leaf_bytes", "leaf_bytes_S");
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        size_t n0 = 0, n1 = 0, n2 = 0, n3 = 0;
        double d = run(eng, &direct, queries[i], t, runs, &n0);
        double o = run(eng, &one, queries[i], t, runs, &n1);
        double tw = run(eng, &two, queries[i], t, runs, &n2);
        double ts = run(eng, &two_s, queries[i], t, runs, &n3);
        size_t bs = 0, bsm = 0;
        answer_bytes(url[0], selectors[i], t - ranges[i], t, &bs, &bsm);
        printf("%-44s %8zu %10.2f %10.2f %10.2f %10.2f %8.1f %12zu %12zu\n", queries[i], n0, d, o, tw, ts,
               d > 0 ? tw / d : 0, bs, bsm);
        if (n0 != n2 || n0 != n1) printf("#   MISMATCH: series direct %zu, 1 leaf %zu, 2 leaves %zu\n", n0, n1, n2);
    }
    printf("# load average (1 min) at end: %.2f\n", loadavg());
    promql_engine_free(eng);
    query_request_free(req);
    query_request_free(sreq);
    query_fanout_free(f);
    query_fanout_free(fs);
    for (int r = 0; r < 2; r++) {
        remote_client_free(c[r]);
        remote_client_free(cs[r]);
        web_stop(w[r]);
        head_free(h[r]);
    }
    return 0;
}
