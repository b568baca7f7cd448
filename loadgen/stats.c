/* stats.c — latency samples and their quantiles.
 *
 * Every latency is kept (a query run makes at most a few hundred thousand),
 * so the quantiles are exact: nearest-rank, the smallest sample with at least
 * a fraction q of all samples at or below it — the definition that makes a
 * p99 of 100 samples the 99th smallest and never interpolates a latency no
 * query had. */
#include <math.h>
#include <stdlib.h>

#include "loadgen.h"
#include "util/summary.h"

void lg_lat_add(lg_latencies_t *l, double seconds) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        double *v = realloc(l->v, cap * sizeof *v);
        if (!v) abort();
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = seconds;
}

void lg_lat_free(lg_latencies_t *l) {
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

double lg_quantile(lg_latencies_t *l, double q) {
    pl_sort_doubles(l->v, l->n);
    return pl_quantile_nearest_rank(l->v, l->n, q);
}

double lg_lat_max(const lg_latencies_t *l) {
    double m = NAN;
    for (size_t i = 0; i < l->n; i++)
        if (isnan(m) || l->v[i] > m) m = l->v[i];
    return m;
}
