/* bench_textparse.c — parse throughput of the exposition parsers.
 *
 * Builds in memory what an avalanche exporter serves, scaled to 1,000,000
 * series: 1000 gauges avalanche_metric_mmmmm_0_<m>, each with 1000 series
 * told apart by series_id, every series carrying cycle_id and ten
 * label_key_kkkkk_<n>="label_val_vvvvv_<n>" labels (sorted, as client_golang
 * writes them), with HELP and TYPE per metric and small integer values. The
 * same body is parsed as text 0.0.4 and, with "# EOF" appended, as
 * OpenMetrics, several times each; the table shows the best and the median
 * run, in wall-clock and in CPU time. Every sample's name, labels and value are read so nothing is skipped.
 *
 *   make BUILD=build-textparse build-textparse/bin/bench_textparse
 *   ./build-textparse/bin/bench_textparse [series] [iterations] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "textparse/textparse.h"

#define SERIES_PER_METRIC 1000
#define LABELS 10

static double clock_s(clockid_t which) {
    struct timespec ts;
    clock_gettime(which, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void put_uint(strbuf_t *sb, unsigned long long v) {
    char tmp[24];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10), v /= 10;
    while (v);
    strbuf_reserve(sb, (size_t)n);
    while (n)
        sb->data[sb->len++] = tmp[--n];
    sb->data[sb->len] = '\0';
}

/* Plain appends rather than printf: the body is ~450 MB. */
static void build_body(strbuf_t *sb, size_t series, bool timestamps) {
    strbuf_t labels = STRBUF_INIT; /* the part every series shares */
    for (int l = 0; l < LABELS; l++)
        strbuf_printf(&labels, ",label_key_kkkkk_%d=\"label_val_vvvvv_%d\"", l, l);
    strbuf_puts(&labels, ",series_id=\"");
    uint64_t rnd = 0x2545f4914f6cdd1dULL;
    size_t metrics = (series + SERIES_PER_METRIC - 1) / SERIES_PER_METRIC;
    size_t left = series;
    for (size_t m = 0; m < metrics; m++) {
        char name[64];
        int nl = snprintf(name, sizeof name, "avalanche_metric_mmmmm_0_%zu", m);
        strbuf_printf(sb, "# HELP %s A tasty metric morsel\n# TYPE %s gauge\n", name, name);
        for (size_t s = 0; s < SERIES_PER_METRIC && left > 0; s++, left--) {
            strbuf_append(sb, name, (size_t)nl);
            strbuf_puts(sb, "{cycle_id=\"0\"");
            strbuf_append(sb, labels.data, labels.len);
            put_uint(sb, s);
            strbuf_puts(sb, "\"} ");
            rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
            put_uint(sb, rnd % 100);
            if (timestamps) {
                strbuf_putc(sb, ' ');
                put_uint(sb, 1700000000000ULL + s);
            }
            strbuf_putc(sb, '\n');
        }
    }
    strbuf_free(&labels);
}

typedef struct {
    size_t samples;
    uint64_t checksum; /* keeps the reads observable */
} run_t;

static run_t parse_once(enum textparse_format fmt, const char *body, size_t len) {
    run_t r = {0, 0};
    textparse_t *p = textparse_new(fmt, body, len);
    if (!p) abort();
    textparse_sample_t s;
    pl_err_t err;
    for (;;) {
        enum textparse_entry e = textparse_next(p, &s, &err);
        if (e == TEXTPARSE_EOF) break;
        if (e == TEXTPARSE_ERROR) {
            fprintf(stderr, "bench body failed to parse: %s\n", err.msg);
            exit(1);
        }
        if (e != TEXTPARSE_SAMPLE) continue;
        r.samples++;
        r.checksum += (uint64_t)s.raw_len + (uint64_t)s.nlabels + (uint64_t)s.value + (unsigned char)s.name[0];
        for (size_t i = 0; i < s.nlabels; i++)
            r.checksum += (unsigned char)s.labels[i].value[0];
    }
    textparse_free(p);
    return r;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Wall time is what a scrape waits for; CPU time (this thread) is the
 * steadier figure on a shared machine. Both: best and median of the runs. */
static void bench(const char *label, enum textparse_format fmt, const strbuf_t *body, size_t series, int iterations) {
    double wall[64], cpu[64];
    if (iterations > 64) iterations = 64;
    run_t r = {0, 0};
    for (int i = 0; i < iterations; i++) {
        double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
        r = parse_once(fmt, body->data, body->len);
        cpu[i] = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
        wall[i] = clock_s(CLOCK_MONOTONIC) - w0;
    }
    if (r.samples != series) {
        fprintf(stderr, "%s: parsed %zu samples, expected %zu\n", label, r.samples, series);
        exit(1);
    }
    qsort(wall, (size_t)iterations, sizeof wall[0], cmp_double);
    qsort(cpu, (size_t)iterations, sizeof cpu[0], cmp_double);
    double mb = (double)body->len / 1e6;
    printf("| %-16s | %6.1f | %9zu | %6.3f | %6.3f | %6.3f | %6.3f | %8.2f M | %6.0f |\n", label, mb, r.samples,
           wall[0], wall[iterations / 2], cpu[0], cpu[iterations / 2], (double)r.samples / cpu[0] / 1e6, mb / cpu[0]);
    fflush(stdout);
}

int main(int argc, char **argv) {
    size_t series = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 1000000;
    int iterations = argc > 2 ? atoi(argv[2]) : 5;
    if (series == 0 || iterations <= 0) {
        fprintf(stderr, "usage: %s [series] [iterations]\n", argv[0]);
        return 2;
    }
    strbuf_t text = STRBUF_INIT, om = STRBUF_INIT, text_ts = STRBUF_INIT;
    build_body(&text, series, false);
    build_body(&om, series, false);
    strbuf_puts(&om, "# EOF\n");
    build_body(&text_ts, series, true);

    printf("textparse: avalanche-like body, %zu series x %d labels + series_id + cycle_id, %d runs each\n\n", series,
           LABELS, iterations);
    printf("| %-16s | %6s | %9s | %6s | %6s | %6s | %6s | %10s | %6s |\n", "format", "MB", "series", "wall", "wall",
           "cpu", "cpu", "series/s", "MB/s");
    printf("| %-16s | %6s | %9s | %6s | %6s | %6s | %6s | %10s | %6s |\n", "", "", "", "best s", "median", "best s",
           "median", "(cpu best)", "(cpu)");
    printf("|------------------|--------|-----------|--------|--------|--------|--------|------------|--------|\n");
    bench("text 0.0.4", TEXTPARSE_PROM, &text, series, iterations);
    bench("text 0.0.4 + ts", TEXTPARSE_PROM, &text_ts, series, iterations);
    bench("OpenMetrics 1.0", TEXTPARSE_OPENMETRICS, &om, series, iterations);
    strbuf_free(&text);
    strbuf_free(&om);
    strbuf_free(&text_ts);
    return 0;
}
