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

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double lg_quantile(lg_latencies_t *l, double q) {
    if (l->n == 0 || isnan(q)) return NAN;
    qsort(l->v, l->n, sizeof *l->v, cmp_double);
    if (q <= 0) return l->v[0];
    if (q >= 1) return l->v[l->n - 1];
    /* rank = ceil(q * n), 1-based; the small epsilon keeps 0.9 * 10 at 9 */
    double r = ceil(q * (double)l->n - 1e-9);
    size_t rank = r < 1 ? 1 : (size_t)r;
    if (rank > l->n) rank = l->n;
    return l->v[rank - 1];
}

double lg_lat_max(const lg_latencies_t *l) {
    double m = NAN;
    for (size_t i = 0; i < l->n; i++)
        if (isnan(m) || l->v[i] > m) m = l->v[i];
    return m;
}
