/* bench_head.c — memory and speed of the head at avalanche-like cardinality.
 *
 *   bench_head [SERIES [SAMPLES]] [--values=avalanche|counter|gauge|const]
 *              [--threads=N] [--jitter]
 *
 * Creates SERIES series (default 100000) of 12 labels each: __name__ (1000
 * metric names), label_key_kkkkk_0..9 whose values repeat across series
 * (cardinalities 1 to 10000), and a series_id unique per series. Then it
 * scrapes them SAMPLES times (default 40) 15 s apart: the first round with
 * head_append, later rounds with head_append_ref, as a scraper with a ref
 * cache does. After each round it reads VmRSS and VmHWM from
 * /proc/self/status. At the end it prints bytes per series (steady RSS and
 * peak), append throughput, the head's own memory breakdown, and the time of
 * a few selects.
 *
 * Values (--values): avalanche = a random integer 0..99 that changes every
 * other scrape (avalanche's default 30 s value interval at a 15 s scrape);
 * counter = a counter growing by 0..1000 a scrape; gauge = a random walk
 * of multiples of 0.1; const = a constant. --jitter adds 0..3 ms of scrape
 * timestamp jitter (Prometheus 2.42+ aligns timestamps, so none by default).
 * The ref cache the "scraper" keeps (8 bytes a series) is allocated before
 * the baseline RSS is read; RSS figures are the whole process. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/matcher.h"
#include "tsdb/head.h"
#include "util/timeutil.h"

#define NKEYS 10
#define NNAMES 1000
static const uint32_t key_card[NKEYS] = {1, 2, 5, 10, 10, 20, 50, 100, 1000, 10000};

enum value_mode { V_AVALANCHE, V_COUNTER, V_GAUGE, V_CONST };

typedef struct bench {
    head_t *h;
    size_t nseries;
    int nsamples;
    enum value_mode mode;
    bool jitter;
    int threads;
    series_ref_t *refs; /* the scraper's ref cache */
    int64_t t0;
} bench_t;

typedef struct worker {
    bench_t *b;
    size_t from, to;
    int round;
    uint64_t errors;
} worker_t;

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9f53ca87e4bULL;
    x ^= x >> 33;
    return x;
}

static double value_at(const bench_t *b, size_t i, int round) {
    switch (b->mode) {
    case V_AVALANCHE: return (double)(mix(i * 1000003 + (uint64_t)(round / 2)) % 100);
    case V_COUNTER: {
        /* The sum of per-round increments, recomputed from the start of
         * time would be O(rounds^2); a closed form that grows by 0..1000. */
        uint64_t x = mix(i);
        return (double)((uint64_t)round * 500 + (x + (uint64_t)round * 7919) % 500);
    }
    case V_GAUGE: return 0.1 * (double)(int64_t)(mix(i * 31 + (uint64_t)round) % 2001) - 100.0 + (double)(i % 50);
    case V_CONST: return 1.0;
    }
    return 0;
}

static int64_t ts_at(const bench_t *b, size_t i, int round) {
    int64_t t = b->t0 + (int64_t)round * 15000;
    if (b->jitter) t += (int64_t)(mix(i ^ ((uint64_t)round << 40)) % 4);
    return t;
}

static void *work(void *arg) {
    worker_t *w = arg;
    bench_t *b = w->b;
    char name[64], vals[NKEYS][32], id[24];
    static char keys[NKEYS][32];
    for (int k = 0; k < NKEYS; k++) snprintf(keys[k], sizeof keys[k], "label_key_kkkkk_%d", k);
    for (size_t i = w->from; i < w->to; i++) {
        int64_t t = ts_at(b, i, w->round);
        double v = value_at(b, i, w->round);
        if (w->round == 0) {
            label_t ls[NKEYS + 2];
            snprintf(name, sizeof name, "avalanche_metric_mmmmmmmmmm_%zu", i % NNAMES);
            ls[0] = (label_t){"__name__", name};
            for (int k = 0; k < NKEYS; k++) {
                snprintf(vals[k], sizeof vals[k], "label_val_vvvvv_%" PRIu64, mix(i * 16 + (uint64_t)k) % key_card[k]);
                ls[1 + k] = (label_t){keys[k], vals[k]};
            }
            snprintf(id, sizeof id, "%zu", i);
            ls[NKEYS + 1] = (label_t){"series_id", id};
            if (head_append(b->h, ls, NKEYS + 2, t, v, &b->refs[i], NULL) != HEAD_OK) w->errors++;
        } else if (head_append_ref(b->h, b->refs[i], t, v) != HEAD_OK) {
            w->errors++;
        }
    }
    return NULL;
}

static void read_mem(long *rss_kb, long *hwm_kb) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    *rss_kb = *hwm_kb = 0;
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) *rss_kb = strtol(line + 6, NULL, 10);
        if (strncmp(line, "VmHWM:", 6) == 0) *hwm_kb = strtol(line + 6, NULL, 10);
    }
    fclose(f);
}

typedef struct count_ctx {
    size_t series, samples;
} count_ctx_t;

static int count_fn(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    count_ctx_t *c = ctx;
    (void)ls;
    (void)n;
    (void)s;
    c->series++;
    c->samples += ns;
    return 0;
}

static int query_repeat = 1;

static void time_select(head_t *h, const char *what, enum matcher_type type, const char *name, const char *value) {
    matcher_t m;
    pl_err_t err;
    if (matcher_init(&m, type, name, value, &err) != 0) {
        fprintf(stderr, "bad matcher: %s\n", err.msg);
        return;
    }
    count_ctx_t c = {0};
    int64_t t0 = pl_monotonic_ns();
    int rc = 0;
    for (int i = 0; i < query_repeat && rc == 0; i++) {
        c = (count_ctx_t){0};
        rc = head_select(h, &m, 1, INT64_MIN, INT64_MAX, count_fn, &c, &err);
    }
    int64_t dt = (pl_monotonic_ns() - t0) / query_repeat;
    printf("  select %-44s %s%s\"%s\": %8zu series %9zu samples in %9.3f ms%s\n", what, name, matcher_type_str(type),
           value, c.series, c.samples, (double)dt / 1e6, rc ? " (error)" : "");
    matcher_free(&m);
}

int main(int argc, char **argv) {
    bench_t b = {.nseries = 100000, .nsamples = 40, .mode = V_AVALANCHE, .threads = 1, .t0 = 1700000000000LL};
    int pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--values=", 9) == 0) {
            const char *v = a + 9;
            b.mode = !strcmp(v, "counter") ? V_COUNTER : !strcmp(v, "gauge") ? V_GAUGE : !strcmp(v, "const") ? V_CONST
                                                                                                               : V_AVALANCHE;
        } else if (strncmp(a, "--threads=", 10) == 0) {
            b.threads = atoi(a + 10);
            if (b.threads < 1) b.threads = 1;
        } else if (strncmp(a, "--query-repeat=", 15) == 0) {
            query_repeat = atoi(a + 15) > 0 ? atoi(a + 15) : 1;
        } else if (strcmp(a, "--jitter") == 0) {
            b.jitter = true;
        } else if (a[0] != '-' && pos == 0) {
            b.nseries = strtoull(a, NULL, 10);
            pos++;
        } else if (a[0] != '-' && pos == 1) {
            b.nsamples = atoi(a);
            pos++;
        } else {
            fprintf(stderr, "usage: %s [SERIES [SAMPLES]] [--values=avalanche|counter|gauge|const] [--threads=N] "
                            "[--jitter]\n",
                    argv[0]);
            return 2;
        }
    }
    static const char *mode_names[] = {"avalanche", "counter", "gauge", "const"};
    b.refs = calloc(b.nseries, sizeof *b.refs);
    if (!b.refs) return 1;
    memset(b.refs, 0, b.nseries * sizeof *b.refs); /* touch: the cache counts in the baseline */
    long base_rss, base_hwm;
    read_mem(&base_rss, &base_hwm);
    b.h = head_new();
    if (!b.h) return 1;
    printf("bench_head: %zu series x %d samples, 12 labels, values=%s, threads=%d%s\n", b.nseries, b.nsamples,
           mode_names[b.mode], b.threads, b.jitter ? ", jitter" : "");
    printf("baseline RSS %ld KiB (includes the %zu KiB ref cache)\n", base_rss, b.nseries * 8 / 1024);
    printf("%6s %10s %10s %9s %9s %12s\n", "round", "RSS KiB", "HWM KiB", "RSS B/s", "HWM B/s", "samples/s");

    worker_t *ws = calloc((size_t)b.threads, sizeof *ws);
    pthread_t *th = calloc((size_t)b.threads, sizeof *th);
    double create_secs = 0, append_secs = 0;
    uint64_t errors = 0;
    long rss = 0, hwm = 0;
    for (int r = 0; r < b.nsamples; r++) {
        int64_t t0 = pl_monotonic_ns();
        for (int k = 0; k < b.threads; k++) {
            ws[k] = (worker_t){&b, b.nseries * (size_t)k / (size_t)b.threads,
                               b.nseries * (size_t)(k + 1) / (size_t)b.threads, r, 0};
            pthread_create(&th[k], NULL, work, &ws[k]);
        }
        for (int k = 0; k < b.threads; k++) {
            pthread_join(th[k], NULL);
            errors += ws[k].errors;
        }
        double secs = (double)(pl_monotonic_ns() - t0) / 1e9;
        if (r == 0)
            create_secs += secs;
        else
            append_secs += secs;
        read_mem(&rss, &hwm);
        if (r < 3 || r % 5 == 4 || r == b.nsamples - 1)
            printf("%6d %10ld %10ld %9.1f %9.1f %12.0f\n", r + 1, rss, hwm, rss * 1024.0 / (double)b.nseries,
                   hwm * 1024.0 / (double)b.nseries, (double)b.nseries / secs);
    }
    head_stats_t st;
    head_get_stats(b.h, &st);
    double n = (double)b.nseries;
    printf("\nappend errors: %" PRIu64 "\n", errors);
    printf("series %" PRIu64 ", samples %" PRIu64 ", chunks %" PRIu64 ", symbols %" PRIu64 "\n", st.num_series,
           st.samples_appended, st.num_chunks, st.num_symbols);
    printf("throughput: create (head_append, new series) %.0f series/s; head_append_ref %.0f samples/s\n",
           n / create_secs, b.nsamples > 1 ? n * (b.nsamples - 1) / append_secs : 0.0);
    printf("RSS steady  %10ld KiB = %7.1f B/series (minus baseline: %7.1f B/series)\n", rss, rss * 1024.0 / n,
           (rss - base_rss) * 1024.0 / n);
    printf("RSS peak    %10ld KiB = %7.1f B/series; peak/steady = %.3f\n", hwm, hwm * 1024.0 / n,
           (double)hwm / (double)rss);
    uint64_t total = st.bytes_symbols + st.bytes_series + st.bytes_postings + st.bytes_chunks;
    printf("head stats, bytes per series: symbols %.1f, series+labels+lookup %.1f, postings %.1f, chunks %.1f "
           "(%.2f B/sample); total %.1f\n",
           st.bytes_symbols / n, st.bytes_series / n, st.bytes_postings / n, st.bytes_chunks / n,
           (double)st.bytes_chunks / (double)st.samples_appended, total / n);

    printf("queries over the whole range:\n");
    time_select(b.h, "(equality, shared value)", MATCH_EQUAL, "label_key_kkkkk_3", "label_val_vvvvv_7");
    time_select(b.h, "(equality, one metric name)", MATCH_EQUAL, "__name__", "avalanche_metric_mmmmmmmmmm_42");
    time_select(b.h, "(regex over metric names)", MATCH_REGEX, "__name__", "avalanche_metric_mmmmmmmmmm_12.");
    time_select(b.h, "(regex over 10000 values)", MATCH_REGEX, "label_key_kkkkk_9", "label_val_vvvvv_99.*");
    char id[24];
    snprintf(id, sizeof id, "%zu", b.nseries / 2);
    time_select(b.h, "(unique series_id)", MATCH_EQUAL, "series_id", id);
    time_select(b.h, "(regex over every series_id)", MATCH_REGEX, "series_id", "12345.*");

    int64_t t0 = pl_monotonic_ns();
    head_free(b.h);
    printf("head_free: %.1f ms\n", (double)(pl_monotonic_ns() - t0) / 1e6);
    free(b.refs);
    free(ws);
    free(th);
    return errors ? 1 : 0;
}
