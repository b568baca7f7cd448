/* bench_block.c — block write and read throughput, and bytes per sample.
 *
 *   bench_block [SERIES] [DIR]     (default 100000 series, a temp dir)
 *
 * Fills a head with SERIES series of 2h of 15s samples in two shapes
 * (node_exporter-like counters with fractional increments, avalanche-like
 * integer gauges changing every 8 scrapes), cuts [t0, t0+2h) into a block
 * with block_write_from_queryable, then reads it back: a selective query
 * (postings intersection of three matchers), a regex query, and a full scan.
 * Prints time per phase, samples/s and bytes per sample on disk. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tsdb/block.h"
#include "tsdb/head.h"
#include "tsdb/querier.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

typedef struct count {
    uint64_t series, samples;
} count_t;

static int counter(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    (void)ls, (void)n, (void)s;
    count_t *c = ctx;
    c->series++;
    c->samples += ns;
    return 0;
}

static uint64_t dir_bytes(const char *path) {
    DIR *d = opendir(path);
    if (!d) return 0;
    uint64_t total = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", path, de->d_name);
        struct stat st;
        if (stat(p, &st) != 0) continue;
        total += S_ISDIR(st.st_mode) ? dir_bytes(p) : (uint64_t)st.st_size;
    }
    closedir(d);
    return total;
}

static void run_select(queryable_t *q, const char *what, const char *sel, int64_t mint, int64_t maxt) {
    matcher_t *ms;
    size_t n;
    pl_err_t err;
    if (selector_parse(sel, &ms, &n, &err) != 0) {
        fprintf(stderr, "%s: %s\n", sel, err.msg);
        exit(1);
    }
    count_t c = {0};
    double t = now();
    if (q->select(q->impl, ms, n, mint, maxt, counter, &c, &err) != 0) {
        fprintf(stderr, "select: %s\n", err.msg);
        exit(1);
    }
    double dt = now() - t;
    printf("  %-28s %8llu series %10llu samples  %8.3f ms  %6.1f M samples/s\n", what, (unsigned long long)c.series,
           (unsigned long long)c.samples, dt * 1e3, c.samples / dt / 1e6);
    matchers_free(ms, n);
}

static void bench(const char *shape, int nseries, const char *parent) {
    const int64_t t0 = 1700006400000, interval = 15000;
    const int nsteps = 480;
    head_t *h = head_new();
    series_ref_t *refs = malloc(sizeof *refs * (size_t)nseries);
    double *vals = malloc(sizeof *vals * (size_t)nseries);
    char name[64], a[32], b[32], c[32];
    double t = now();
    for (int step = 0; step < nsteps; step++) {
        for (int i = 0; i < nseries; i++) {
            double v;
            if (shape[0] == 'n') {
                if (step == 0) vals[i] = (double)(rnd() % 100000) / 100;
                vals[i] += (double)(rnd() % 1500) / 100;
                v = vals[i];
            } else {
                if (step % 8 == 0) vals[i] = (double)(rnd() % 100);
                v = vals[i];
            }
            if (step == 0) {
                label_t ls[5];
                if (shape[0] == 'n') {
                    snprintf(name, sizeof name, "node_metric_%d_total", i % 200);
                    snprintf(a, sizeof a, "%d", (i / 200) % 16);
                    snprintf(b, sizeof b, "host-%d:9100", i / 3200);
                    snprintf(c, sizeof c, "m%d", (i / 200 / 16) % 10);
                    ls[0] = (label_t){"__name__", name};
                    ls[1] = (label_t){"cpu", a};
                    ls[2] = (label_t){"instance", b};
                    ls[3] = (label_t){"job", "node"};
                    ls[4] = (label_t){"mode", c};
                } else {
                    snprintf(name, sizeof name, "avalanche_metric_mmmmm_%d", i / 10);
                    snprintf(a, sizeof a, "label_val_%d", i % 7);
                    snprintf(b, sizeof b, "%d", i % 10);
                    ls[0] = (label_t){"__name__", name};
                    ls[1] = (label_t){"cycle_id", "0"};
                    ls[2] = (label_t){"label_key_0", a};
                    ls[3] = (label_t){"label_key_1", "label_val_x"};
                    ls[4] = (label_t){"series_id", b};
                }
                head_append(h, ls, 5, t0 + step * interval, v, &refs[i], NULL);
            } else {
                head_append_ref(h, refs[i], t0 + step * interval, v);
            }
        }
    }
    double t_fill = now() - t;
    queryable_t hq;
    head_queryable(h, &hq);
    char ulid[ULID_LEN + 1];
    pl_err_t err;
    t = now();
    if (block_write_from_queryable(&hq, parent, t0, t0 + BLOCK_DEFAULT_RANGE_MS, 0, ulid, &err) != 0) {
        fprintf(stderr, "write: %s\n", err.msg);
        exit(1);
    }
    double t_write = now() - t;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", parent, ulid);
    t = now();
    block_t *blk = block_open(dir, &err);
    if (!blk) {
        fprintf(stderr, "open: %s\n", err.msg);
        exit(1);
    }
    double t_open = now() - t;
    uint64_t samples = blk->meta.num_samples, bytes = dir_bytes(dir);
    char path[4300];
    snprintf(path, sizeof path, "%s/index", dir);
    struct stat st;
    stat(path, &st);
    printf("%s: %d series x %d samples (15s, 2h)\n", shape, nseries, nsteps);
    printf("  head fill %.2f s; block write %.2f s (%.2f M samples/s); open %.1f ms\n", t_fill, t_write,
           samples / t_write / 1e6, t_open * 1e3);
    printf("  block %llu bytes (index %lld), %.3f bytes/sample, %llu chunks\n", (unsigned long long)bytes,
           (long long)st.st_size, (double)bytes / (double)samples, (unsigned long long)blk->meta.num_chunks);
    querier_t *q = querier_new(&blk, 1, NULL, 0);
    queryable_t bq;
    querier_queryable(q, &bq);
    const int64_t mint = t0, maxt = t0 + BLOCK_DEFAULT_RANGE_MS - 1;
    if (shape[0] == 'n') {
        run_select(&bq, "3 equal matchers", "{__name__=\"node_metric_7_total\",cpu=\"3\",mode=\"m1\"}", mint, maxt);
        run_select(&bq, "regex + not-equal", "{__name__=~\"node_metric_1.*\",mode!=\"m0\"}", mint, maxt);
    } else {
        run_select(&bq, "2 equal matchers", "{__name__=\"avalanche_metric_mmmmm_7\",series_id=\"3\"}", mint, maxt);
        run_select(&bq, "regex + not-equal", "{__name__=~\"avalanche.*_1.*\",label_key_0!=\"label_val_0\"}", mint,
                   maxt);
    }
    run_select(&bq, "full scan", "{__name__=~\".+\"}", mint, maxt);
    querier_free(q);
    block_close(blk);
    head_free(h);
    free(refs);
    free(vals);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100000;
    char tmpl[] = "/tmp/bench-block.XXXXXX";
    const char *parent = argc > 2 ? argv[2] : mkdtemp(tmpl);
    if (!parent) return 1;
    bench("node-like", n, parent);
    bench("avalanche-like", n, parent);
    if (argc <= 2) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf %s", parent);
        if (system(cmd) != 0) return 1;
    }
    return 0;
}
