/* bench_headcompact.c — the memory a head compaction adds on top of the head:
 * peak RSS while [0, 2h) of a head is written as a block, against the head's
 * own RSS.
 *
 *   bench_headcompact [SERIES] [METRICS] [SAMPLES_PER_MIN] [KEEP_DIR]
 *
 * Builds a head in-process (head_new, no WAL) of SERIES series (default
 * 1000000) spread evenly over METRICS metric names (default 1; real servers
 * have hundreds, and the writer sorts one metric name at a time), 8 labels
 * each, SAMPLES_PER_MIN samples per minute (default 1) over [0, 2h], values
 * counter-like. Then it writes [0, 2h) as a block with the very call the
 * DB's head compaction makes (block_write_from_queryable over the head's
 * queryable, chunks cut at 2h) into a fresh /tmp dir and prints:
 *   - the head's RSS (process RSS after building it, less the RSS at start),
 *   - the peak RSS during the write above the RSS before it (VmHWM after
 *     resetting it through /proc/self/clear_refs), and that as a share of
 *     the head's RSS; the file-backed part is reported too,
 *   - wall and CPU time of the write, the block's size and series/samples.
 * The block is removed at the end, unless KEEP_DIR is given: then it is
 * written there and kept (to compare two writers' output byte for byte). */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsdb/block.h"
#include "tsdb/head.h"
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

/* Resets VmHWM to the current RSS (Linux >= 4.0). */
static int reset_peak(void) {
    int fd = open("/proc/self/clear_refs", O_WRONLY);
    if (fd < 0) return -1;
    int rc = write(fd, "5", 1) == 1 ? 0 : -1;
    close(fd);
    return rc;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static uint64_t dir_bytes(const char *path) {
    DIR *d = opendir(path);
    if (!d) {
        struct stat st;
        return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
    }
    uint64_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", path, de->d_name);
        n += dir_bytes(p);
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv) {
    /* As the server does (cmd/server.c): big buffers are mmap'd and go back at free. */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    size_t nseries = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    size_t nmetrics = argc > 2 ? strtoul(argv[2], NULL, 10) : 1;
    int per_min = argc > 3 ? atoi(argv[3]) : 1;
    if (nseries == 0 || nmetrics == 0 || per_min <= 0) {
        fprintf(stderr, "usage: bench_headcompact [SERIES] [METRICS] [SAMPLES_PER_MIN]\n");
        return 2;
    }
    const int64_t range = 2 * 3600 * 1000LL, step = 60000 / per_min;
    long rss0 = status_kb("VmRSS:");
    head_t *h = head_new();
    if (!h) return 1;
    head_set_chunk_range(h, range);
    series_ref_t *refs = calloc(nseries, sizeof *refs);
    if (!refs) return 1;
    int64_t t_build = pl_monotonic_ns();
    for (size_t s = 0; s < nseries; s++) {
        char name[40], id[24], inst[32], pod[48];
        snprintf(name, sizeof name, "bench_metric_%zu", s % nmetrics);
        snprintf(id, sizeof id, "%zu", s);
        snprintf(inst, sizeof inst, "host-%zu:9100", s / 1000);
        snprintf(pod, sizeof pod, "pod-%zu", s / 10);
        label_t ls[] = {{"__name__", name},   {"env", "prod"},      {"instance", inst},
                        {"job", "bench"},     {"pod", pod},         {"region", "eu-west-1"},
                        {"series_id", id},    {"zone", "eu-west-1a"}};
        if (head_append(h, ls, 8, 0, 0, &refs[s], NULL) != HEAD_OK) {
            fprintf(stderr, "head_append failed\n");
            return 1;
        }
    }
    uint64_t nsamples = nseries;
    for (int64_t t = step; t <= range; t += step)
        for (size_t s = 0; s < nseries; s++) {
            double v = (double)(t / step) * (double)(1 + s % 7) + (double)((s * 31 + (size_t)t) % 3);
            if (head_append_ref(h, refs[s], t, v) != HEAD_OK) {
                fprintf(stderr, "head_append_ref failed\n");
                return 1;
            }
            nsamples++;
        }
    free(refs);
    double build_s = (pl_monotonic_ns() - t_build) / 1e9;
    malloc_trim(0);
    long rss_head = status_kb("VmRSS:") - rss0;
    printf("bench_headcompact: %zu series over %zu metric name(s), %d sample(s)/min over [0, 2h]: %" PRIu64
           " samples, head built in %.1fs\n",
           nseries, nmetrics, per_min, nsamples, build_s);

    char tmpdir[] = "/tmp/pl-bench-headcompact.XXXXXX";
    const char *keep = argc > 4 ? argv[4] : NULL;
    if (keep) mkdir(keep, 0777);
    const char *dir = keep ? keep : mkdtemp(tmpdir);
    if (!dir) return 1;
    queryable_t q;
    head_queryable(h, &q);
    pl_err_t err = {{0}};
    char ulid[ULID_LEN + 1];
    long rss_before = status_kb("VmRSS:"), file_before = status_kb("RssFile:");
    if (reset_peak() != 0) fprintf(stderr, "warning: cannot reset VmHWM; the peak includes the head build\n");
    double cpu0 = cpu_seconds();
    int64_t t0 = pl_monotonic_ns();
    int rc = block_write_from_queryable(&q, dir, 0, range, range, ulid, &err);
    double secs = (pl_monotonic_ns() - t0) / 1e9, cpu = cpu_seconds() - cpu0;
    long hwm = status_kb("VmHWM:"), file_after = status_kb("RssFile:");
    if (rc != 0) {
        fprintf(stderr, "block_write_from_queryable: %s\n", err.msg);
        return 1;
    }
    char bdir[4200];
    snprintf(bdir, sizeof bdir, "%s/%s", dir, ulid);
    block_t *b = block_open(bdir, &err);
    if (!b) {
        fprintf(stderr, "block_open: %s\n", err.msg);
        return 1;
    }
    double extra = (double)(hwm - rss_before);
    printf("head RSS %.1f MB (process RSS %.1f MB before the write)\n", rss_head / 1024.0, rss_before / 1024.0);
    printf("block write [0, 2h): %.2fs wall, %.2fs CPU; block %s series=%" PRIu64 " samples=%" PRIu64
           " chunks=%" PRIu64 " size=%.1f MB\n",
           secs, cpu, ulid, b->meta.num_series, b->meta.num_samples, b->meta.num_chunks,
           dir_bytes(bdir) / 1048576.0);
    printf("peak RSS during the write %.1f MB: +%.1f MB over the RSS before it = %.1f%% of the head's RSS "
           "(file-backed RSS %.1f -> %.1f MB)\n",
           hwm / 1024.0, extra / 1024.0, 100.0 * extra / (double)rss_head, file_before / 1024.0,
           file_after / 1024.0);
    block_close(b);
    if (!keep) block_rm_rf(dir);
    head_free(h);
    return 0;
}
