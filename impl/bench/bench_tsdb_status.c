/* bench_tsdb_status.c — /api/v1/status/tsdb's cost on a big head, printed,
 * never asserted.
 *
 * Builds a head of N series (100 metric names, 200 instances, a job, and a
 * unique series_id per series — the shape of a cardinality explosion), then
 * times web_tsdb_status_json (one walk over the postings, top 10 of each
 * list) and, for scale, one head_select of all series of a metric.
 *
 *   make build/bin/bench_tsdb_status && build/bin/bench_tsdb_status [series] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tsdb/head.h"
#include "web/internal.h"

static double wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    head_t *h = head_new();
    char name[32], inst[32], id[32];
    double t0 = wall_s();
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "metric_%zu", i % 100);
        snprintf(inst, sizeof inst, "host-%zu:9100", (i / 100) % 200);
        snprintf(id, sizeof id, "%zu", i);
        label_t ls[4] = {{"__name__", name}, {"instance", inst}, {"job", "node"}, {"series_id", id}};
        if (head_append(h, ls, 4, 1700000000000, (double)i, NULL, NULL) != HEAD_OK) {
            fprintf(stderr, "append failed at %zu\n", i);
            return 1;
        }
    }
    double built = wall_s() - t0;
    strbuf_t sb = STRBUF_INIT;
    double best = 1e9, sum = 0;
    const int runs = 5;
    for (int r = 0; r < runs; r++) {
        strbuf_reset(&sb);
        t0 = wall_s();
        if (web_tsdb_status_json(h, 10, &sb) != 0) return 1;
        double dt = wall_s() - t0;
        sum += dt;
        if (dt < best) best = dt;
    }
    head_stats_t st;
    head_get_stats(h, &st);
    printf("/api/v1/status/tsdb on a head of %llu series (%zu label pairs walked): best %.1f ms, mean %.1f ms "
           "over %d runs (head built in %.1f s); answer %zu bytes\n",
           (unsigned long long)st.num_series, n + 100 + 200 + 1, best * 1e3, sum / runs * 1e3, runs, built, sb.len);
    strbuf_free(&sb);
    head_free(h);
    return 0;
}
