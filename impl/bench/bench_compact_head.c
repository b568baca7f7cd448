/* bench_compact_head.c — head compaction at scale: the time to cut the head's
 * oldest block range into a block, and the memory given back when the head
 * is truncated after it.
 *
 *   bench_compact_head [SERIES] [DIR]
 *
 * Opens a DB in DIR (default a fresh /tmp dir, removed at the end) with the
 * default 2h block range and a zstd WAL, and appends SERIES series (default
 * 1000000) of 8 labels through the DB's appender, one sample every 15 min
 * from t = 0 to 3h15m: 14 samples each, so the head spans more than 1.5
 * ranges. The first quarter of the series ("churn") stop at 1h45m: their last
 * sample is before the block boundary, so truncation deletes them. Then
 * db_compact writes [0, 2h) as a block and truncates the head at 2h.
 * Prints RSS before and after, the compaction time, the block's size, and
 * the head's memory by part before and after. */
#include <dirent.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsdb/block.h"
#include "tsdb/db.h"
#include "util/timeutil.h"

static long status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    size_t k = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, k)) {
            v = atol(line + k);
            break;
        }
    fclose(f);
    return v;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void rm_rf(const char *path) {
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", path, de->d_name);
        rm_rf(p);
    }
    closedir(d);
    rmdir(path);
}

static void print_rss(const char *when) {
    printf("%-22s RSS %.1f MB (anonymous %.1f MB, file-backed %.1f MB: the block's mmap'd files)\n", when,
           status_kb("VmRSS:") / 1024.0, status_kb("RssAnon:") / 1024.0, status_kb("RssFile:") / 1024.0);
}

static void print_head(const char *when, db_t *db) {
    head_stats_t hs;
    head_get_stats(db_head(db), &hs);
    printf("%-22s series=%" PRIu64 " chunks=%" PRIu64 " | head memory MB: series %.1f, postings %.1f, symbols %.1f, "
           "chunks %.1f | RSS %.1f MB\n",
           when, hs.num_series, hs.num_chunks, hs.bytes_series / 1048576.0, hs.bytes_postings / 1048576.0,
           hs.bytes_symbols / 1048576.0, hs.bytes_chunks / 1048576.0, status_kb("VmRSS:") / 1024.0);
}

int main(int argc, char **argv) {
    /* As the server does (cmd/server.c): big buffers are mmap'd and go back at free. */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    size_t nseries = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    char dirbuf[] = "/tmp/pl-bench-compact.XXXXXX";
    const char *dir = argc > 2 ? argv[2] : mkdtemp(dirbuf);
    if (!dir) return 1;
    db_opts_t o = {.wal_compression = WAL_COMPRESSION_ZSTD, .block_range_ms = 2 * 3600 * 1000LL};
    db_t *db = NULL;
    pl_err_t err = {{0}};
    if (db_open(dir, &o, &db, &err) != 0) {
        fprintf(stderr, "db_open: %s\n", err.msg);
        return 1;
    }
    appendable_t app;
    db_appendable(db, &app);
    appender_t a;
    if (app.appender(app.impl, &a) != 0) return 1;
    series_ref_t *refs = calloc(nseries, sizeof *refs);
    const int64_t step = 15 * 60 * 1000LL;
    const int nsamples = 14; /* 0 .. 3h15m */
    int64_t t_append = pl_monotonic_ns();
    for (int k = 0; k < nsamples; k++) {
        int64_t t = k * step;
        size_t batch = 0;
        for (size_t s = 0; s < nseries; s++) {
            bool churn = s < nseries / 4; /* created first, as a rollout's series are created together */
            if (churn && t > 7 * step) continue; /* stops at 1h45m */
            double v = (double)((s * 31 + (size_t)k * 7) % 1000);
            if (k == 0) {
                char id[24], inst[32], pod[48];
                snprintf(id, sizeof id, "%zu", s);
                snprintf(inst, sizeof inst, "host-%zu:9100", s / 1000);
                snprintf(pod, sizeof pod, "%s-%zu", churn ? "churn-pod" : "pod", s / 10);
                label_t ls[] = {{"__name__", "bench_metric"}, {"env", "prod"},      {"instance", inst},
                                {"job", "bench"},             {"pod", pod},         {"region", "eu-west-1"},
                                {"series_id", id},            {"zone", "eu-west-1a"}};
                a.add(a.impl, ls, 8, t, v);
            } else {
                a.add_ref(a.impl, refs[s], t, v);
            }
            if (++batch == 10000 || s == nseries - 1) {
                const storage_append_status_t *st;
                if (a.commit(a.impl, &st, &err) != 0) {
                    fprintf(stderr, "commit: %s\n", err.msg);
                    return 1;
                }
                if (k == 0)
                    for (size_t i = 0; i < batch; i++) refs[s + 1 - batch + i] = st[i].ref;
                batch = 0;
            }
        }
    }
    a.free(a.impl);
    double append_s = (pl_monotonic_ns() - t_append) / 1e9;
    printf("bench_compact_head: %zu series (1/4 churn, stopping before the block boundary), %d samples each at 15m, "
           "appended in %.1fs\n",
           nseries, nsamples, append_s);
    print_head("before compaction:", db);
    long rss_before = status_kb("VmRSS:"), anon_before = status_kb("RssAnon:");
    print_rss("before compaction:");
    double cpu0 = cpu_seconds();
    int64_t t0 = pl_monotonic_ns();
    int n = db_compact(db, &err);
    double secs = (pl_monotonic_ns() - t0) / 1e9;
    double cpu = cpu_seconds() - cpu0;
    if (n < 0) {
        fprintf(stderr, "db_compact: %s\n", err.msg);
        return 1;
    }
    long rss_after = status_kb("VmRSS:"), anon_after = status_kb("RssAnon:");
    print_head("after truncation:", db);
    print_rss("after truncation:");
    db_block_info_t *bi;
    size_t nb;
    db_blocks(db, &bi, &nb);
    for (size_t i = 0; i < nb; i++)
        printf("block %s [%" PRId64 ", %" PRId64 ") series=%" PRIu64 " samples=%" PRIu64 " size=%.1f MB (%.2f B/sample)\n",
               bi[i].ulid, bi[i].min_time, bi[i].max_time, bi[i].num_series, bi[i].num_samples,
               bi[i].size_bytes / 1048576.0, (double)bi[i].size_bytes / (double)(bi[i].num_samples ? bi[i].num_samples : 1));
    /* What holding the block open costs (its index reader keeps the symbols
     * and the postings offset table in memory): open it a second time. */
    long block_anon = 0;
    if (nb) {
        malloc_trim(0);
        long a0 = status_kb("RssAnon:");
        block_t *b2 = block_open(bi[nb - 1].dir, &err);
        block_anon = status_kb("RssAnon:") - a0;
        block_close(b2);
    }
    free(bi);
    printf("head compaction (block write + fsync + head GC + WAL checkpoint): %.2fs wall, %.2fs CPU, for %d block(s)\n", secs,
           cpu, n);
    printf("RSS before %.1f MB, after truncation %.1f MB; anonymous memory %.1f -> %.1f MB (%.1f%% released); peak RSS %.1f MB\n",
           rss_before / 1024.0, rss_after / 1024.0, anon_before / 1024.0, anon_after / 1024.0,
           100.0 * (double)(anon_before - anon_after) / (double)anon_before, status_kb("VmHWM:") / 1024.0);
    printf("an open block's index reader holds %.1f MB; head memory released by the truncation: %.1f MB of %.1f MB (%.1f%%)\n",
           block_anon / 1024.0, (anon_before - anon_after + block_anon) / 1024.0, anon_before / 1024.0,
           100.0 * (double)(anon_before - anon_after + block_anon) / (double)anon_before);
    db_close(db, NULL);
    free(refs);
    if (argc <= 2) rm_rf(dir);
    return 0;
}
