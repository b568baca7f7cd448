/* bench_store_gen.c — a bucket for the store benchmark (scripts/bench-store.sh).
 *
 *   bench_store_gen BUCKET_DIR [SERIES [DAYS [INTERVAL_S]]]
 *
 * Writes DAYS days (default 30) of SERIES series (default 1000; half
 * gauges `bench_gauge`, half counters `bench_requests_total`, label id) at
 * one sample per INTERVAL_S seconds (default 60) ending at the last 14-day
 * boundary, as raw blocks of at most 14 days (Thanos's largest compaction range,
 * aligned to it) straight into a FILESYSTEM bucket directory, with a thanos
 * section (cluster="bench"); then downsamples them as the compactor would
 * (downsample_block): every raw block spanning >= 40h to 5m, every 5m block
 * spanning >= 10d to 1h. Prints one line per block and the totals. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compact/downsample.h"
#include "tsdb/block.h"
#include "util/timeutil.h"

#define DAY_MS (86400 * 1000LL)

static double gauge_at(int k, int64_t i) { return 50 + 40 * ((double)((i * (k % 13 + 3) + k * 7) % 97) / 97.0); }
static double counter_at(int k, int64_t i) { return (double)((i * (k % 5 + 1)) % 100000); } /* resets now and then */

static uint64_t dir_bytes(const char *parent, const char *ulid) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "du -sb '%s/%s' | cut -f1", parent, ulid);
    FILE *p = popen(cmd, "r");
    unsigned long long n = 0;
    if (p) {
        if (fscanf(p, "%llu", &n) != 1) n = 0;
        pclose(p);
    }
    return n;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_store_gen BUCKET_DIR [SERIES [DAYS [INTERVAL_S]]]\n");
        return 2;
    }
    const char *dir = argv[1];
    int nseries = argc > 2 ? atoi(argv[2]) : 1000;
    int days = argc > 3 ? atoi(argv[3]) : 30;
    int64_t step = (argc > 4 ? atoi(argv[4]) : 60) * 1000LL;
    if (nseries < 2 || days < 2 || step <= 0) {
        fprintf(stderr, "bench_store_gen: need SERIES >= 2, DAYS >= 2, INTERVAL_S > 0\n");
        return 2;
    }
    /* Ends on a 14-day boundary, so whole 14-day blocks form (and get a 1h level). */
    const int64_t range14 = 14 * DAY_MS;
    int64_t end = pl_now_ms() / range14 * range14, start = end - days * DAY_MS;
    json_t *th = json_pack("{s:i, s:{s:s}, s:{s:i}, s:s}", "version", 1, "labels", "cluster", "bench", "downsample",
                           "resolution", 0, "source", "bench");
    pl_err_t e = {{0}};
    uint64_t bytes[3] = {0}, nblocks[3] = {0};
    size_t maxn = (size_t)(range14 / step) + 1;
    sample_t *s = malloc(maxn * sizeof *s);
    if (!s || !th) return 1;
    printf("bench_store_gen: %d series, %d days at %llds into %s\n", nseries, days, (long long)(step / 1000), dir);
    for (int64_t b0 = start; b0 < end;) {
        int64_t b1 = (b0 / range14 + 1) * range14;
        if (b1 > end) b1 = end;
        int64_t t0 = pl_monotonic_ns();
        block_builder_t *bb = block_builder_new(2 * 3600 * 1000LL);
        for (int k = 0; k < nseries; k++) {
            bool counter = k % 2 == 1;
            size_t n = 0;
            for (int64_t t = b0; t < b1; t += step) {
                int64_t i = (t - start) / step;
                s[n++] = (sample_t){t, counter ? counter_at(k, i) : gauge_at(k, i)};
            }
            char id[16];
            snprintf(id, sizeof id, "%d", k);
            label_t ls[] = {{"__name__", counter ? "bench_requests_total" : "bench_gauge"}, {"id", id}};
            if (block_builder_add_series(bb, ls, 2, s, n, &e) != 0) {
                fprintf(stderr, "bench_store_gen: %s\n", e.msg);
                return 1;
            }
        }
        block_meta_t base = {0};
        base.thanos = th;
        block_write_opts_t o = {.min_time = b0, .max_time = b1, .meta_base = &base};
        char raw[ULID_LEN + 1];
        if (block_builder_write(bb, dir, &o, raw, &e) != 0) {
            fprintf(stderr, "bench_store_gen: write: %s\n", e.msg);
            return 1;
        }
        block_builder_free(bb);
        uint64_t rb = dir_bytes(dir, raw);
        bytes[0] += rb;
        nblocks[0]++;
        printf("raw %s [%lld, %lld) %.1f days %llu bytes (%.1f s)\n", raw, (long long)b0, (long long)b1,
               (double)(b1 - b0) / DAY_MS, (unsigned long long)rb, (double)(pl_monotonic_ns() - t0) / 1e9);
        if (b1 - b0 >= DOWNSAMPLE_RANGE_5M) {
            char src[512], m5[ULID_LEN + 1], h1[ULID_LEN + 1];
            snprintf(src, sizeof src, "%s/%s", dir, raw);
            if (downsample_block(src, DOWNSAMPLE_RES_5M, dir, m5, &e) != 0) {
                fprintf(stderr, "bench_store_gen: downsample 5m: %s\n", e.msg);
                return 1;
            }
            uint64_t b5 = dir_bytes(dir, m5);
            bytes[1] += b5;
            nblocks[1]++;
            printf("5m  %s %llu bytes\n", m5, (unsigned long long)b5);
            if (b1 - b0 >= DOWNSAMPLE_RANGE_1H) {
                snprintf(src, sizeof src, "%s/%s", dir, m5);
                if (downsample_block(src, DOWNSAMPLE_RES_1H, dir, h1, &e) != 0) {
                    fprintf(stderr, "bench_store_gen: downsample 1h: %s\n", e.msg);
                    return 1;
                }
                uint64_t b60 = dir_bytes(dir, h1);
                bytes[2] += b60;
                nblocks[2]++;
                printf("1h  %s %llu bytes\n", h1, (unsigned long long)b60);
            }
        }
        b0 = b1;
    }
    printf("totals: raw %llu blocks %llu bytes; 5m %llu blocks %llu bytes; 1h %llu blocks %llu bytes; range [%lld, %lld)\n",
           (unsigned long long)nblocks[0], (unsigned long long)bytes[0], (unsigned long long)nblocks[1],
           (unsigned long long)bytes[1], (unsigned long long)nblocks[2], (unsigned long long)bytes[2],
           (long long)start, (long long)end);
    free(s);
    json_decref(th);
    return 0;
}
