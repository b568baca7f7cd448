/* bench_promql.c — writes the data set of the PromQL benchmark as a data
 * directory (a WAL in Prometheus's segment format, snappy-compressed so
 * Prometheus 2.42 replays it), for promlab server and Prometheus to load the
 * same series into their heads. scripts/bench-promql.sh then times the same
 * queries against both over HTTP.
 *
 *   bench_promql DIR SERIES [END_MS]
 *   bench_promql query DIR END_MS [RUNS] [NAME...]   (the queries in-process; below)
 *
 * SERIES active series (about; the shapes below round), every one sampled
 * every 60 s over the hour before END_MS (default: now, rounded down to the
 * minute); node_cpu_seconds_total over the 24 hours before it, for the
 * 24h range query. Label shapes:
 *   - avalanche-like, half the series: avalanche_metric_mmmmm_0_<0..99>
 *     {series_id, label_key_kkkkk_0..9 (cardinalities 1,2,4,...,512), job}
 *   - node-like, a quarter: node_* families with instance/job/cpu/mode/
 *     device labels, node_cpu_seconds_total 8 cpus x 8 modes per instance
 *   - http_requests_total{job,instance,handler,code} (a tenth) and
 *     http_request_duration_seconds_bucket{job,instance,handler,le} (the rest).
 * Prints "end_ms=<END_MS> series=<n> samples=<n>" last. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "model/labels.h"
#include "model/storage.h"
#include "promql/engine.h"
#include "tsdb/db.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#define STEP_MS 60000LL
#define HOUR_MS 3600000LL

typedef struct gen_series {
    series_ref_t ref;
    double v;
    double inc;
    bool long_history; /* 24h instead of 1h */
} gen_series_t;

typedef struct gen {
    appender_t app;
    gen_series_t *s;
    size_t n, cap;
    int64_t first_t; /* of the 1h series */
    uint64_t samples;
    unsigned rng;
} gen_t;

static unsigned next_rand(gen_t *g) {
    g->rng = g->rng * 1103515245u + 12345u;
    return g->rng >> 8;
}

/* Adds a series from name + (name, value) pairs; its first sample is staged
 * by label set (the ref comes from the commit). */
static void add_series(gen_t *g, label_t *ls, size_t n, bool counter, bool long_history, int64_t t0) {
    labels_sort(ls, n);
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 1024;
        g->s = realloc(g->s, g->cap * sizeof *g->s);
        if (!g->s) abort();
    }
    gen_series_t *s = &g->s[g->n++];
    s->ref = 0;
    s->v = counter ? (double)(next_rand(g) % 1000) : (double)(next_rand(g) % 100);
    s->inc = counter ? (double)(1 + next_rand(g) % 50) : 0;
    s->long_history = long_history;
    if (g->app.add(g->app.impl, ls, n, t0, s->v) < 0) abort();
    g->samples++;
}

static void commit(gen_t *g, size_t first_new) {
    const storage_append_status_t *st = NULL;
    pl_err_t err = {{0}};
    if (g->app.commit(g->app.impl, &st, &err) < 0) {
        fprintf(stderr, "commit: %s\n", err.msg);
        exit(1);
    }
    if (first_new != (size_t)-1)
        for (size_t i = first_new; i < g->n; i++) g->s[i].ref = st[i - first_new].ref;
}


/* ---- query mode: the benchmark's queries in-process -------------------------
 *
 *   bench_promql query DIR END_MS [RUNS] [NAME...]
 *
 * Opens DIR (replaying its WAL; no background compaction), then evaluates
 * each of the benchmark's queries RUNS times (default 3) on the DB's
 * queryable, as the server does but without HTTP, and encodes the result
 * as the API's JSON. Prints per query the median and minimum wall seconds,
 * the median CPU seconds of the process (user + system), the JSON encoding
 * time, the result's size and an FNV-1a hash of its JSON, so two builds can
 * be compared for identical answers. Instant queries are evaluated at
 * END_MS - 30 s, the range query over the 24 h before it at 1 m step, as
 * scripts/bench-promql.sh does. Names select queries (default: all).
 * BENCH_PROMQL_COMPACT=1 compacts the head into 2h blocks first (queries
 * then read blocks + head); BENCH_PROMQL_DUMP=DIR writes each answer there. */

static const struct bench_query {
    const char *name, *expr;
    bool range;
} bench_queries[] = {
    {"sum_rate", "sum by (job) (rate(http_requests_total[5m]))", false},
    {"topk_count_by_name", "topk(10, count by (__name__)({__name__!=\"\"}))", false},
    {"histogram_quantile", "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
     false},
    {"regex_matchers",
     "count({__name__=~\"avalanche_metric_mmmmm_0_1.*\", label_key_kkkkk_3=~\"label_val_vvvvv_[1-3]\", "
     "label_key_kkkkk_9!~\".*7\"})",
     false},
    {"range_24h_1m", "sum by (mode) (rate(node_cpu_seconds_total[5m]))", true},
    {"count_all", "count({__name__=~\".+\"})", false},
};

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static double wall_seconds(void) { return (double)pl_monotonic_ns() / 1e9; }

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[(n - 1) / 2];
}

static int query_mode(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench_promql query DIR END_MS [RUNS] [NAME...]\n");
        return 2;
    }
    const char *dir = argv[2];
    int64_t end = strtoll(argv[3], NULL, 10);
    end -= end % STEP_MS;
    int runs = argc > 4 ? atoi(argv[4]) : 3;
    if (runs < 1 || runs > 100) runs = 3;
    /* BENCH_PROMQL_COMPACT=1: 2h blocks, and the head compacted into them
     * before the queries (the 24h range query then reads blocks + head) */
    bool compact = getenv("BENCH_PROMQL_COMPACT") != NULL;
    db_opts_t o = {.no_lockfile = true, .block_range_ms = compact ? 2 * HOUR_MS : 48 * HOUR_MS};
    db_t *db;
    pl_err_t err = {{0}};
    double w0 = wall_seconds(), c0 = cpu_seconds();
    if (db_open(dir, &o, &db, &err) < 0) {
        fprintf(stderr, "db_open: %s\n", err.msg);
        return 1;
    }
    head_stats_t hs;
    if (compact) {
        double cw = wall_seconds();
        int nb = db_compact(db, &err);
        if (nb < 0) {
            fprintf(stderr, "db_compact: %s\n", err.msg);
            return 1;
        }
        printf("compacted: %d blocks in %.2f s\n", nb, wall_seconds() - cw);
    }
    head_get_stats(db_head(db), &hs);
    printf("replay: %.2f s wall, %.2f s cpu, %" PRIu64 " series\n", wall_seconds() - w0, cpu_seconds() - c0,
           hs.num_series);
    fflush(stdout);
    queryable_t qb;
    db_queryable(db, &qb);
    promql_engine_opts_t eo = {0};
    promql_engine_t *eng = promql_engine_new(&eo);
    if (!eng) abort();
    const int64_t t = end - 30000;
    int rc = 0;
    for (size_t qi = 0; qi < sizeof bench_queries / sizeof *bench_queries; qi++) {
        const struct bench_query *bq = &bench_queries[qi];
        bool wanted = argc <= 5;
        for (int a = 5; a < argc; a++) wanted |= strcmp(argv[a], bq->name) == 0;
        if (!wanted) continue;
        double wall[100], cpu[100], json_s = 0;
        uint64_t hash = 0;
        size_t bytes = 0, nseries = 0;
        for (int r = 0; r < runs; r++) {
            promql_result_t res;
            promql_error_t qerr = {0};
            double ws = wall_seconds(), cs = cpu_seconds();
            int qrc = bq->range ? promql_exec_range(eng, &qb, bq->expr, t - 24 * HOUR_MS, t, STEP_MS, &res, &qerr)
                                : promql_exec_instant(eng, &qb, bq->expr, t, &res, &qerr);
            double js = wall_seconds();
            strbuf_t sb;
            strbuf_init(&sb);
            if (qrc == 0) {
                jsonw_t w;
                jw_init(&w, &sb);
                promql_result_write_json(&res, &w);
            }
            wall[r] = wall_seconds() - ws;
            cpu[r] = cpu_seconds() - cs;
            json_s = wall_seconds() - js;
            if (qrc != 0) {
                fprintf(stderr, "%s: %s\n", bq->name, qerr.msg);
                rc = 1;
            }
            uint64_t h = 1469598103934665603ULL;
            for (size_t i = 0; i < sb.len; i++) h = (h ^ (uint8_t)sb.data[i]) * 1099511628211ULL;
            if (r > 0 && h != hash) {
                fprintf(stderr, "%s: run %d answered differently\n", bq->name, r);
                rc = 1;
            }
            hash = h;
            bytes = sb.len;
            nseries = res.nseries;
            if (r == runs - 1 && getenv("BENCH_PROMQL_DUMP")) {
                char path[512];
                snprintf(path, sizeof path, "%s/%s.json", getenv("BENCH_PROMQL_DUMP"), bq->name);
                FILE *f = fopen(path, "w");
                if (f) {
                    fwrite(sb.data, 1, sb.len, f);
                    fclose(f);
                }
            }
            strbuf_free(&sb);
            promql_result_free(&res);
        }
        double wmin = wall[0], cmin = cpu[0];
        for (int r = 1; r < runs; r++) {
            if (wall[r] < wmin) wmin = wall[r];
            if (cpu[r] < cmin) cmin = cpu[r];
        }
        printf("%-20s wall median %7.3f s  min %7.3f s  cpu median %7.3f s  min %7.3f s  json %6.3f s  %6zu series  %8zu bytes  "
               "hash %016" PRIx64 "\n",
               bq->name, median(wall, runs), wmin, median(cpu, runs), cmin, json_s, nseries, bytes, hash);
        fflush(stdout);
    }
    promql_engine_free(eng);
    if (db_close(db, &err) < 0) {
        fprintf(stderr, "db_close: %s\n", err.msg);
        return 1;
    }
    return rc;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "query") == 0) return query_mode(argc, argv);
    if (argc < 3) {
        fprintf(stderr, "usage: bench_promql DIR SERIES [END_MS]\n");
        return 2;
    }
    const char *dir = argv[1];
    long total = atol(argv[2]);
    int64_t end = argc > 3 ? strtoll(argv[3], NULL, 10) : (int64_t)time(NULL) * 1000;
    end -= end % STEP_MS;
    db_opts_t o = {.wal_compression = WAL_COMPRESSION_SNAPPY};
    db_t *db;
    pl_err_t err = {{0}};
    if (db_open(dir, &o, &db, &err) < 0) {
        fprintf(stderr, "db_open: %s\n", err.msg);
        return 1;
    }
    appendable_t ap;
    db_appendable(db, &ap);
    gen_t g = {.rng = 42};
    if (ap.appender(ap.impl, &g.app) < 0) abort();
    const int64_t long_start = end - 24 * HOUR_MS, short_start = end - HOUR_MS;

    /* Series are created at their first sample time; long ones first. */
    long instances = total / 2000 > 0 ? total / 2000 : 1;
    char name[128], v1[64], v2[64], v3[64], v4[64], v5[64];
    static const char *modes[] = {"idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice"};
    size_t first = 0;
    for (long i = 0; i < instances; i++) {
        snprintf(v1, sizeof v1, "node-%05ld:9100", i);
        for (int cpu = 0; cpu < 8; cpu++)
            for (int m = 0; m < 8; m++) {
                snprintf(v2, sizeof v2, "%d", cpu);
                label_t ls[] = {{"__name__", "node_cpu_seconds_total"}, {"instance", v1}, {"job", "node"},
                                {"cpu", v2}, {"mode", modes[m]}};
                add_series(&g, ls, 5, true, true, long_start);
            }
    }
    commit(&g, first);
    size_t nlong = g.n;
    /* Then the short ones, created at short_start (the long ones get their
     * samples up to there first so every series is appended in time order). */
    for (int64_t t = long_start + STEP_MS; t < short_start; t += STEP_MS) {
        for (size_t i = 0; i < nlong; i++) {
            g.s[i].v += g.s[i].inc;
            if (g.app.add_ref(g.app.impl, g.s[i].ref, t, g.s[i].v) < 0) abort();
        }
        g.samples += nlong;
        commit(&g, (size_t)-1);
    }
    first = g.n;
    long remaining = total - (long)nlong;
    /* node-like: the other node families, a quarter of the series. */
    long node_other = remaining / 4;
    static const char *node_families[] = {"node_network_receive_bytes_total", "node_network_transmit_bytes_total",
                                          "node_disk_read_bytes_total", "node_disk_written_bytes_total",
                                          "node_filesystem_avail_bytes", "node_memory_MemAvailable_bytes",
                                          "node_load1", "node_schedstat_running_seconds_total"};
    for (long k = 0; k < node_other; k++) {
        long inst = k % instances, fam = (k / instances) % 8, dev = k / (instances * 8);
        snprintf(v1, sizeof v1, "node-%05ld:9100", inst);
        snprintf(v2, sizeof v2, "dev%ld", dev);
        label_t ls[] = {{"__name__", node_families[fam]}, {"instance", v1}, {"job", "node"}, {"device", v2}};
        add_series(&g, ls, 4, strstr(node_families[fam], "_total") != NULL, false, short_start);
        if ((g.n - first) % 50000 == 0) {
            commit(&g, first);
            first = g.n;
        }
    }
    /* http_requests_total: a tenth of all. */
    long http = total / 10;
    static const char *codes[] = {"200", "201", "400", "404", "500"};
    for (long k = 0; k < http; k++) {
        snprintf(v1, sizeof v1, "app-%05ld:8080", k / 100);
        snprintf(v2, sizeof v2, "job-%ld", k % 10);
        snprintf(v3, sizeof v3, "/api/v%ld/handler%ld", (k / 5) % 2 + 1, (k / 10) % 10);
        label_t ls[] = {{"__name__", "http_requests_total"}, {"instance", v1}, {"job", v2}, {"handler", v3},
                        {"code", codes[k % 5]}};
        add_series(&g, ls, 5, true, false, short_start);
        if ((g.n - first) % 50000 == 0) {
            commit(&g, first);
            first = g.n;
        }
    }
    /* http_request_duration_seconds_bucket: 12 buckets per (job, instance, handler). */
    long buckets = total / 10;
    static const char *les[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf"};
    for (long k = 0; k < buckets; k++) {
        long grp = k / 12;
        snprintf(v1, sizeof v1, "app-%05ld:8080", grp / 10);
        snprintf(v2, sizeof v2, "job-%ld", grp % 10);
        snprintf(v3, sizeof v3, "/api/v1/handler%ld", grp % 10);
        label_t ls[] = {{"__name__", "http_request_duration_seconds_bucket"}, {"instance", v1}, {"job", v2},
                        {"handler", v3}, {"le", les[k % 12]}};
        labels_sort(ls, 5);
        add_series(&g, ls, 5, true, false, short_start);
        /* cumulative buckets: a bucket grows by at least the one below */
        g.s[g.n - 1].inc = (double)(1 + (k % 12) * 3);
        if ((g.n - first) % 50000 == 0) {
            commit(&g, first);
            first = g.n;
        }
    }
    /* avalanche-like: the rest. */
    long aval = total - (long)g.n;
    for (long k = 0; k < aval; k++) {
        snprintf(name, sizeof name, "avalanche_metric_mmmmm_0_%ld", k % 100);
        snprintf(v5, sizeof v5, "%ld", k / 100);
        char vals[10][32];
        label_t ls[13];
        size_t n = 0;
        ls[n++] = (label_t){"__name__", name};
        ls[n++] = (label_t){"series_id", v5};
        ls[n++] = (label_t){"job", "avalanche"};
        static const char *keys[] = {"label_key_kkkkk_0", "label_key_kkkkk_1", "label_key_kkkkk_2",
                                     "label_key_kkkkk_3", "label_key_kkkkk_4", "label_key_kkkkk_5",
                                     "label_key_kkkkk_6", "label_key_kkkkk_7", "label_key_kkkkk_8",
                                     "label_key_kkkkk_9"};
        for (int j = 0; j < 10; j++) {
            snprintf(vals[j], sizeof vals[j], "label_val_vvvvv_%ld", (k / 100) % (1L << j));
            ls[n++] = (label_t){keys[j], vals[j]};
        }
        add_series(&g, ls, n, false, false, short_start);
        if ((g.n - first) % 50000 == 0) {
            commit(&g, first);
            first = g.n;
        }
    }
    commit(&g, first);
    (void)v4;
    /* The last hour for everyone, one commit per step. */
    for (int64_t t = short_start + STEP_MS; t <= end; t += STEP_MS) {
        for (size_t i = 0; i < g.n; i++) {
            gen_series_t *s = &g.s[i];
            if (s->inc > 0) s->v += s->inc * (double)(1 + next_rand(&g) % 3);
            else s->v = (double)(next_rand(&g) % 100);
            if (g.app.add_ref(g.app.impl, s->ref, t, s->v) < 0) abort();
        }
        g.samples += g.n;
        commit(&g, (size_t)-1);
    }
    g.app.free(g.app.impl);
    if (db_close(db, &err) < 0) {
        fprintf(stderr, "db_close: %s\n", err.msg);
        return 1;
    }
    printf("end_ms=%" PRId64 " series=%zu samples=%" PRIu64 "\n", end, g.n, g.samples);
    free(g.s);
    return 0;
}
