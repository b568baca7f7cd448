/* summary.c — see summary.h. */
#include "util/summary.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

void pl_summary_observe(pl_summary_t *s, double v, int64_t now_ms) {
    s->v[s->next] = v;
    s->t_ms[s->next] = now_ms;
    s->next = (s->next + 1) % PL_SUMMARY_RING;
    if (s->n < PL_SUMMARY_RING) s->n++;
    s->sum += v;
    s->count++;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void pl_sort_doubles(double *v, size_t n) {
    if (n > 1) qsort(v, n, sizeof *v, cmp_double);
}

double pl_quantile_nearest_rank(const double *sorted, size_t n, double q) {
    if (n == 0 || isnan(q)) return NAN;
    if (q <= 0) return sorted[0];
    if (q >= 1) return sorted[n - 1];
    /* rank = ceil(q * n), 1-based; the epsilon keeps 0.9 * 10 at 9 where the
     * product comes out a hair above the integer */
    double r = ceil(q * (double)n - 1e-9);
    size_t rank = r < 1 ? 1 : (size_t)r;
    if (rank > n) rank = n;
    return sorted[rank - 1];
}

void pl_summary_quantiles(const pl_summary_t *s, int64_t now_ms, int64_t max_age_ms, const double *qs, size_t nq,
                          double *out) {
    double buf[PL_SUMMARY_RING];
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        if (max_age_ms <= 0 || now_ms - s->t_ms[i] < max_age_ms) buf[n++] = s->v[i];
    pl_sort_doubles(buf, n);
    for (size_t k = 0; k < nq; k++)
        out[k] = pl_quantile_nearest_rank(buf, n, qs[k]);
}

void pl_summary_write(strbuf_t *sb, const char *name, const char *labels, const pl_summary_t *s, int64_t now_ms,
                      const double *qs, size_t nq) {
    double out[16];
    if (nq > 16) nq = 16;
    pl_summary_quantiles(s, now_ms, PL_SUMMARY_MAX_AGE_MS, qs, nq, out);
    const char *sep = labels[0] ? "," : "";
    for (size_t k = 0; k < nq; k++) {
        strbuf_printf(sb, "%s{%s%squantile=\"%g\"} ", name, labels, sep, qs[k]);
        strbuf_put_float(sb, out[k]);
        strbuf_putc(sb, '\n');
    }
    if (labels[0]) strbuf_printf(sb, "%s_sum{%s} ", name, labels);
    else strbuf_printf(sb, "%s_sum ", name);
    strbuf_put_float(sb, s->sum);
    if (labels[0]) strbuf_printf(sb, "\n%s_count{%s} %" PRIu64 "\n", name, labels, s->count);
    else strbuf_printf(sb, "\n%s_count %" PRIu64 "\n", name, s->count);
}
