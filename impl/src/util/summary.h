/* summary.h — the summaries promlab exposes about itself
 * (prometheus_engine_query_duration_seconds, prometheus_rule_*_duration_seconds,
 * prometheus_notifications_latency_seconds,
 * prometheus_target_interval_length_seconds) and the latency quantiles
 * promlab-loadgen reports, computed one way.
 *
 * A pl_summary_t keeps the latest PL_SUMMARY_RING observations with their
 * times; quantiles are taken over those no older than a maximum age
 * (Prometheus's summaries: 10 minutes), by nearest rank — the smallest
 * observation with at least a fraction q of the observations at or below
 * it, so a quantile is always a value that was observed. Sum and count are
 * over the summary's whole life, as Prometheus's are. The struct holds no
 * pointers (copy it with =); it is not thread-safe: callers hold their lock. */
#ifndef PL_UTIL_SUMMARY_H
#define PL_UTIL_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

#define PL_SUMMARY_RING 2048
#define PL_SUMMARY_MAX_AGE_MS (10 * 60 * 1000)

typedef struct pl_summary {
    double v[PL_SUMMARY_RING];
    int64_t t_ms[PL_SUMMARY_RING];
    size_t next, n; /* ring position; observations kept (<= PL_SUMMARY_RING) */
    double sum;
    uint64_t count;
} pl_summary_t;

/* Records v observed at now_ms (any clock, the same for every call). */
void pl_summary_observe(pl_summary_t *s, double v, int64_t now_ms);

/* Nearest-rank quantile of sorted[0..n) (ascending): NaN when n is 0 or q is
 * NaN; the minimum for q <= 0, the maximum for q >= 1. */
double pl_quantile_nearest_rank(const double *sorted, size_t n, double q);

/* Sorts v[0..n) ascending. */
void pl_sort_doubles(double *v, size_t n);

/* Quantiles qs[0..nq) of the observations made after now_ms - max_age_ms
 * (max_age_ms <= 0: all kept), into out[0..nq). */
void pl_summary_quantiles(const pl_summary_t *s, int64_t now_ms, int64_t max_age_ms, const double *qs, size_t nq,
                          double *out);

/* Writes the summary's samples in the text format (HELP and TYPE are the
 * caller's): NAME{LABELS,quantile="q"} per quantile, NAME_sum{LABELS} and
 * NAME_count{LABELS}. labels is a preformatted, escaped `a="b",c="d"` list
 * or "" for none. Quantiles over the last PL_SUMMARY_MAX_AGE_MS. */
void pl_summary_write(strbuf_t *sb, const char *name, const char *labels, const pl_summary_t *s, int64_t now_ms,
                      const double *qs, size_t nq);

#endif
