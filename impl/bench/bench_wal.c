/* bench_wal.c — WAL size per sample by compression, and restart (replay) time.
 *
 *   bench_wal [SERIES [SCRAPES [REPLAY_SERIES [REPLAY_SCRAPES]]]]
 *
 * Part 1: an avalanche-like load (bench_head's label scheme: 12 labels a
 * series, 1000 metric names, label_key_kkkkk_0..9 of cardinalities 1 to
 * 10000, a unique series_id; values random integers 0..99 changing every
 * other scrape; scrapes 15 s apart, aligned timestamps) of SERIES series
 * (default 100000) is written SCRAPES times (default 20) through the DB
 * appender, one commit per scrape as the scraper does, into a fresh data dir
 * per compression (none, snappy, zstd). Printed: WAL bytes on disk per
 * sample overall, of the first scrape (series records + samples), and of the
 * steady state (later scrapes), the time of the first commit (dominated by
 * the head creating the series) and the steady commit throughput (head
 * appends by ref + record encoding + compression + page writes).
 *
 * Part 2: REPLAY_SERIES series (default 1000000) x REPLAY_SCRAPES scrapes
 * (default 3) are written with snappy and with zstd, the DB is closed, and
 * db_open's replay is timed (best of 2), with the peak RSS growth during it
 * (VmHWM reset through /proc/self/clear_refs first) and the RSS it leaves
 * (the head), so the replay's transient memory is peak minus kept. */
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tsdb/db.h"
#include "util/log.h"

#define NKEYS 10
#define NNAMES 1000
static const uint32_t key_card[NKEYS] = {1, 2, 5, 10, 10, 20, 50, 100, 1000, 10000};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f) {
    (void)sb, (void)flag, (void)f;
    return remove(p);
}

static long rss_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    long v = 0;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0) v = atol(line + kl);
    fclose(f);
    return v;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

/* Label strings of series i, into buf; ls points into it. */
static size_t series_labels(uint64_t i, char buf[][48], label_t *ls) {
    size_t n = 0;
    snprintf(buf[n], 48, "avalanche_metric_mmmmm_%" PRIu64 "_0", i % NNAMES);
    ls[n] = (label_t){"__name__", buf[n]};
    n++;
    snprintf(buf[n], 48, "127.0.0.1:9001");
    ls[n] = (label_t){"instance", buf[n]};
    n++;
    snprintf(buf[n], 48, "avalanche");
    ls[n] = (label_t){"job", buf[n]};
    n++;
    static const char *keys[NKEYS] = {
        "label_key_kkkkk_0", "label_key_kkkkk_1", "label_key_kkkkk_2", "label_key_kkkkk_3", "label_key_kkkkk_4",
        "label_key_kkkkk_5", "label_key_kkkkk_6", "label_key_kkkkk_7", "label_key_kkkkk_8", "label_key_kkkkk_9"};
    for (int k = 0; k < NKEYS; k++) {
        snprintf(buf[n], 48, "label_val_vvvvv_%" PRIu64, (i / (k + 1)) % key_card[k]);
        ls[n] = (label_t){keys[k], buf[n]};
        n++;
    }
    snprintf(buf[n], 48, "%" PRIu64, i);
    ls[n] = (label_t){"series_id", buf[n]};
    n++;
    labels_sort(ls, n);
    return n;
}

typedef struct load_result {
    double seconds, first_seconds; /* all scrapes; the first (series creation) */
    int64_t bytes_after_first, bytes_total;
} load_result_t;

static int64_t wal_size(const char *dir) {
    char wal[4096];
    snprintf(wal, sizeof wal, "%s/wal", dir);
    return wal_dir_size(wal);
}

/* Writes the load; returns timings and WAL sizes (after flush; the DB is closed at the end). */
static load_result_t write_load(const char *dir, wal_compression_t c, uint64_t nseries, int scrapes) {
    db_opts_t o = {.wal_compression = c};
    db_t *db;
    pl_err_t err;
    if (db_open(dir, &o, &db, &err) != 0) {
        fprintf(stderr, "db_open: %s\n", err.msg);
        exit(1);
    }
    appendable_t app;
    db_appendable(db, &app);
    appender_t a;
    if (app.appender(app.impl, &a) != 0) exit(1);
    series_ref_t *refs = calloc(nseries, sizeof *refs);
    double *vals = calloc(nseries, sizeof *vals);
    char buf[16][48];
    label_t ls[16];
    load_result_t r = {0};
    const int64_t t0 = 1795000000000;
    double t_start = now();
    for (int s = 0; s < scrapes; s++) {
        int64_t t = t0 + (int64_t)s * 15000;
        for (uint64_t i = 0; i < nseries; i++) {
            if (s % 2 == 0) vals[i] = (double)(next_rand() % 100);
            if (refs[i]) {
                a.add_ref(a.impl, refs[i], t, vals[i]);
            } else {
                size_t n = series_labels(i, buf, ls);
                a.add(a.impl, ls, n, t, vals[i]);
            }
        }
        const storage_append_status_t *st;
        if (a.commit(a.impl, &st, &err) != 0) {
            fprintf(stderr, "commit: %s\n", err.msg);
            exit(1);
        }
        for (uint64_t i = 0; i < nseries; i++)
            refs[i] = st[i].ref;
        if (s == 0) {
            r.bytes_after_first = wal_size(dir);
            r.first_seconds = now() - t_start;
        }
    }
    r.seconds = now() - t_start;
    r.bytes_total = wal_size(dir);
    a.free(a.impl);
    db_close(db, NULL);
    free(refs);
    free(vals);
    return r;
}

int main(int argc, char **argv) {
    uint64_t nseries = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
    int scrapes = argc > 2 ? atoi(argv[2]) : 20;
    uint64_t rseries = argc > 3 ? strtoull(argv[3], NULL, 10) : 1000000;
    int rscrapes = argc > 4 ? atoi(argv[4]) : 3;
    char base[] = "/tmp/bench_wal.XXXXXX";
    if (!mkdtemp(base)) return 1;
    log_set_level(LOG_WARN);

    printf("WAL bytes per sample, avalanche-like load: %" PRIu64 " series x %d scrapes (15 s apart)\n", nseries,
           scrapes);
    printf("%-8s %10s %13s %16s %14s %16s %16s\n", "codec", "WAL MiB", "B/sample all", "B/sample scrape1",
           "B/sample 2..n", "scrape1 s", "2..n Msamples/s");
    static const wal_compression_t codecs[] = {WAL_COMPRESSION_NONE, WAL_COMPRESSION_SNAPPY, WAL_COMPRESSION_ZSTD};
    for (int k = 0; k < 3; k++) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", base, wal_compression_name(codecs[k]));
        rng = 88172645463325252ull;
        load_result_t r = write_load(dir, codecs[k], nseries, scrapes);
        double total = (double)nseries * scrapes;
        double later = (double)nseries * (scrapes - 1);
        printf("%-8s %10.2f %13.2f %16.2f %14.2f %16.2f %16.2f\n", wal_compression_name(codecs[k]),
               (double)r.bytes_total / 1048576.0, (double)r.bytes_total / total,
               (double)r.bytes_after_first / (double)nseries,
               later > 0 ? (double)(r.bytes_total - r.bytes_after_first) / later : 0, r.first_seconds,
               later / (r.seconds - r.first_seconds) / 1e6);
        nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    }

    printf("\nReplay (restart) time: %" PRIu64 " series x %d scrapes\n", rseries, rscrapes);
    printf("%-8s %12s %12s %12s %14s %14s\n", "codec", "WAL MiB", "write s", "replay s", "peak RSS +MiB", "after +MiB");
    static const wal_compression_t rcodecs[] = {WAL_COMPRESSION_SNAPPY, WAL_COMPRESSION_ZSTD};
    for (int k = 0; k < 2; k++) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/replay-%s", base, wal_compression_name(rcodecs[k]));
        rng = 1;
        load_result_t r = write_load(dir, rcodecs[k], rseries, rscrapes);
        double best = 1e9;
        long hwm_growth = 0, kept_growth = 0;
        for (int rep = 0; rep < 2; rep++) {
            /* Reset VmHWM (Linux >= 4.0) so the peak is the replay's, not the write's. */
            FILE *cr = fopen("/proc/self/clear_refs", "w");
            if (cr) {
                fputs("5", cr);
                fclose(cr);
            }
            long before = rss_kb("VmRSS:");
            double t = now();
            db_t *db;
            pl_err_t err;
            db_opts_t o = {.wal_compression = rcodecs[k]};
            if (db_open(dir, &o, &db, &err) != 0) {
                fprintf(stderr, "db_open: %s\n", err.msg);
                return 1;
            }
            double dt = now() - t;
            long hwm = rss_kb("VmHWM:");
            if (hwm - before > hwm_growth) hwm_growth = hwm - before;
            long kept = rss_kb("VmRSS:") - before;
            if (kept > kept_growth) kept_growth = kept;
            head_stats_t hs;
            head_get_stats(db_head(db), &hs);
            if (hs.num_series != rseries) fprintf(stderr, "replayed %" PRIu64 " series\n", hs.num_series);
            db_close(db, NULL);
            if (dt < best) best = dt;
        }
        printf("%-8s %12.2f %12.2f %12.2f %14.1f %14.1f\n", wal_compression_name(rcodecs[k]),
               (double)r.bytes_total / 1048576.0, r.seconds, best, (double)hwm_growth / 1024.0,
               (double)kept_growth / 1024.0);
        nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    }
    rmdir(base);
    return 0;
}
