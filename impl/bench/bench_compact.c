/* bench_compact.c — block compaction: time and peak RSS of compact_blocks
 * over 3 blocks of SERIES series, on both of its paths.
 *
 *   bench_compact [SERIES...] [--dir DIR]     (default 100000 1000000, a temp dir)
 *
 * For each size, writes with the streaming block writer (block.h):
 *  - copy:     3 adjacent 2h blocks, 60s samples (120 per series and block,
 *              node_exporter-like counters with fractional increments);
 *              compacting them copies every chunk byte for byte;
 *  - reencode: 3 blocks over the same 2h, each with every third 20s sample
 *              (the same total samples); compacting them is a vertical
 *              merge: every chunk decoded, merged and re-encoded.
 * Each compaction runs in its own child process; its peak RSS comes from
 * wait4's ru_maxrss (it includes the pages of the mmap'd inputs it touched).
 * Prints one line per run: seconds, peak RSS, samples/s, sizes. */
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tsdb/block.h"
#include "tsdb/chunkenc.h"
#include "tsdb/compact.h"

#define H (3600 * 1000LL)
#define T0 (1700000000000LL / (2 * H) * (2 * H))

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
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

static void die(const char *what, const pl_err_t *err) {
    fprintf(stderr, "bench_compact: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

/* Series s: {__name__="node_metric_NNN", id="SSSSSSS", job="bench"}. Zero
 * padding makes generation order the label order; the symbols in byte
 * order are "", the ids, "__name__", "bench", "id", "job", the names. */
static void write_symbols(block_writer_t *w, uint64_t nseries, pl_err_t *err) {
    char s[32];
    if (block_writer_add_symbol(w, "", err) != 0) die("symbol", err);
    for (uint64_t i = 0; i < nseries; i++) {
        snprintf(s, sizeof s, "%07" PRIu64, i);
        if (block_writer_add_symbol(w, s, err) != 0) die("symbol", err);
    }
    const char *fixed[] = {"__name__", "bench", "id", "job"};
    for (int i = 0; i < 4; i++)
        if (block_writer_add_symbol(w, fixed[i], err) != 0) die("symbol", err);
    for (uint64_t i = 0; i < (nseries + 999) / 1000; i++) {
        snprintf(s, sizeof s, "node_metric_%03" PRIu64, i);
        if (block_writer_add_symbol(w, s, err) != 0) die("symbol", err);
    }
}

/* One block: samples at mint + offset + k*step for k < n, value a counter
 * of series s at that time (the same function in every block). */
static void write_block(const char *dir, uint64_t nseries, int64_t mint, int64_t maxt, int64_t offset, int64_t step,
                        int n) {
    pl_err_t err;
    block_writer_t *w = block_writer_open(dir, 0, &err);
    if (!w) die("open", &err);
    write_symbols(w, nseries, &err);
    xor_chunk_t c;
    char name[32], id[32];
    for (uint64_t s = 0; s < nseries; s++) {
        snprintf(name, sizeof name, "node_metric_%03" PRIu64, s / 1000);
        snprintf(id, sizeof id, "%07" PRIu64, s);
        label_t ls[] = {{"__name__", name}, {"id", id}, {"job", "bench"}};
        if (xor_chunk_init(&c) != 0) die("oom", NULL);
        int64_t t = mint + offset;
        for (int k = 0; k < n; k++, t += step) {
            /* A counter: 0.01 per 20s per unit of rate, rate from the series id. */
            double v = (double)((t - T0) / 20000 * (int64_t)(1 + s % 97)) / 100.0;
            if (xor_chunk_append(&c, t, v) != 0) die("oom", NULL);
        }
        size_t len;
        const uint8_t *p = xor_chunk_bytes(&c, &len);
        chunk_meta_t cm = {mint + offset, t - step, 0, p, (uint32_t)len, CHUNKENC_XOR};
        if (block_writer_add_series(w, ls, 3, &cm, 1, &err) != 0) die("series", &err);
        xor_chunk_free(&c);
    }
    block_meta_t tmpl = {.min_time = mint, .max_time = maxt};
    char ulid[ULID_LEN + 1];
    if (block_writer_commit(w, &tmpl, ulid, &err) != 0) die("commit", &err);
}

typedef struct result {
    double secs, cpu;
    long maxrss_kb, anon_kb;
    int ok;
} result_t;

/* Peak anonymous RSS (resident - file-backed pages, /proc/self/statm), sampled
 * every 5 ms by a thread of the child; written to a pipe at exit. */
static volatile long peak_anon_pages;
static void *sampler(void *arg) {
    (void)arg;
    for (;;) {
        FILE *f = fopen("/proc/self/statm", "r");
        long size, res, shared;
        if (f && fscanf(f, "%ld %ld %ld", &size, &res, &shared) == 3 && res - shared > peak_anon_pages)
            peak_anon_pages = res - shared;
        if (f) fclose(f);
        usleep(5000);
    }
    return NULL;
}

/* Runs fn(arg) in a child; its time and peak RSS. */
static result_t in_child(void (*fn)(void *), void *arg) {
    result_t r = {0};
    int fds[2];
    if (pipe(fds) != 0) return r;
    fflush(stdout);
    double t0 = now();
    pid_t pid = fork();
    if (pid < 0) return r;
    if (pid == 0) {
        pthread_t th;
        pthread_create(&th, NULL, sampler, NULL);
        fn(arg);
        long kb = peak_anon_pages * (sysconf(_SC_PAGESIZE) / 1024);
        if (write(fds[1], &kb, sizeof kb) != (ssize_t)sizeof kb) _exit(1);
        _exit(0);
    }
    close(fds[1]);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid) return r;
    r.secs = now() - t0;
    r.maxrss_kb = ru.ru_maxrss;
    r.cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    if (read(fds[0], &r.anon_kb, sizeof r.anon_kb) != (ssize_t)sizeof r.anon_kb) r.anon_kb = -1;
    close(fds[0]);
    r.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    return r;
}

typedef struct job {
    const char *dir;
    uint64_t nseries;
    int overlapping;
} job_t;

static void make_inputs(void *arg) {
    const job_t *j = arg;
    for (int b = 0; b < 3; b++) {
        if (j->overlapping) /* the same 2h, every third 20s sample, shifted by b */
            write_block(j->dir, j->nseries, T0, T0 + 2 * H, 20000 * b, 60000, 120);
        else
            write_block(j->dir, j->nseries, T0 + b * 2 * H, T0 + (b + 1) * 2 * H, 0, 60000, 120);
    }
}

static void do_compact(void *arg) {
    const job_t *j = arg;
    char **names;
    size_t n;
    pl_err_t err;
    if (block_dir_list(j->dir, &names, &n, &err) != 0 || n != 3) die("list", &err);
    char *dirs[3];
    for (size_t i = 0; i < 3; i++) {
        dirs[i] = malloc(strlen(j->dir) + ULID_LEN + 2);
        sprintf(dirs[i], "%s/%s", j->dir, names[i]);
    }
    char ulid[ULID_LEN + 1];
    if (compact_blocks(j->dir, dirs, 3, ulid, &err) != 0) die("compact", &err);
    for (size_t i = 0; i < 3; i++) {
        compact_delete_block(dirs[i], &err);
        free(dirs[i]);
    }
    block_dir_list_free(names, n);
}

int main(int argc, char **argv) {
    uint64_t sizes[8];
    size_t nsizes = 0;
    const char *base = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            base = argv[++i];
        else if (nsizes < 8)
            sizes[nsizes++] = strtoull(argv[i], NULL, 10);
    }
    if (nsizes == 0) {
        sizes[nsizes++] = 100000;
        sizes[nsizes++] = 1000000;
    }
    char tmpl[] = "/tmp/bench-compact.XXXXXX";
    if (!base && !(base = mkdtemp(tmpl))) return 1;
    printf("# compact_blocks over 3 blocks; 120 samples per series per block (360 per series in all)\n");
    printf("# seconds: wall (fsyncs included); cpu_s: user+sys; peak_rss: ru_maxrss (counts the mmap'd input\n"
           "# pages read); peak_anon: resident minus file-backed, sampled every 5 ms (the merge's own memory)\n");
    printf("%-9s %9s %10s %8s %8s %12s %13s %14s %8s %8s\n", "path", "series", "samples", "seconds", "cpu_s",
           "peak_rss_MB", "peak_anon_MB", "samples/cpu_s", "in_MB", "out_MB");
    for (size_t k = 0; k < nsizes; k++) {
        for (int ov = 0; ov < 2; ov++) {
            char dir[4096];
            snprintf(dir, sizeof dir, "%s/%s-%" PRIu64, base, ov ? "reencode" : "copy", sizes[k]);
            mkdir(dir, 0777);
            job_t j = {dir, sizes[k], ov};
            result_t mk = in_child(make_inputs, &j);
            if (!mk.ok) return 1;
            uint64_t in_bytes = dir_bytes(dir);
            result_t r = in_child(do_compact, &j);
            if (!r.ok) return 1;
            uint64_t out_bytes = dir_bytes(dir);
            uint64_t samples = sizes[k] * 360;
            printf("%-9s %9" PRIu64 " %10" PRIu64 " %8.2f %8.2f %12.1f %13.1f %14.0f %8.1f %8.1f\n",
                   ov ? "reencode" : "copy", sizes[k], samples, r.secs, r.cpu, r.maxrss_kb / 1024.0, r.anon_kb / 1024.0,
                   samples / r.cpu, in_bytes / 1048576.0, out_bytes / 1048576.0);
            fflush(stdout);
            char cmd[4200];
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
            if (system(cmd) != 0) fprintf(stderr, "bench_compact: could not remove %s\n", dir);
        }
    }
    if (base == tmpl) rmdir(tmpl);
    return 0;
}
