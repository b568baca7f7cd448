/* functions_range.h — the numeric kernels of PromQL's range-vector and
 * classic-histogram functions, with Prometheus 3 semantics.
 *
 * Every function here is pure: it reads one window of float samples (the
 * samples a range selector or subquery produced for one series at one step,
 * in time order, already restricted to the left-open window (t-range, t])
 * and returns one value. Nothing allocates; the few functions that must sort
 * take a caller-owned scratch array. Functions that may produce "no output"
 * (Prometheus drops the series for that step) say so through `*ok`; when
 * *ok is false the returned value is meaningless (NaN).
 *
 * Selecting the window, dropping the metric name, annotations such as
 * "metric might not be a counter" and native histograms stay in the engine.
 * The shape of each function follows promql/functions.go and
 * promql/quantile.go of Prometheus v3.x; where the order of floating-point
 * operations is observable (Kahan sums, the incremental mean), it is kept. */
#ifndef PL_PROMQL_FUNCTIONS_RANGE_H
#define PL_PROMQL_FUNCTIONS_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/storage.h"

/* ---- small numeric helpers shared with the engine ---- */

/* One step of Kahan–Neumaier summation: returns sum+inc and updates the
 * compensation *c (reset to 0 when the sum overflows to ±Inf). The final
 * value of a sum is `sum + c` unless sum is infinite. */
double prom_kahan_inc(double inc, double sum, double *c);

/* Prometheus's almost.Equal: true if both are NaN, equal, or within a
 * relative error epsilon (absolute epsilon*MinNormal near zero). Note it does
 * not tell the stale NaN from other NaNs. */
bool prom_almost_equal(double a, double b, double epsilon);

/* The phi-quantile of values with linear interpolation between the closest
 * ranks, as the `quantile` aggregation and quantile_over_time compute it.
 * Sorts values in place (NaNs first). Empty input or NaN q gives NaN;
 * q < 0 gives -Inf, q > 1 gives +Inf. */
double prom_quantile(double q, double *values, size_t n);

/* ---- rate family ---- */

/* Prometheus's extrapolatedRate, for rate (counter, rate), increase
 * (counter, !rate) and delta (!counter, !rate).
 *   s, n            the window's samples, oldest first
 *   range_start_ms  eval time - range - offset (the window's exclusive start)
 *   range_end_ms    eval time - offset (the window's inclusive end)
 * Needs at least two samples (else *ok = false). Counter resets add the value
 * before the reset. The result is extrapolated to each window boundary when
 * the first/last sample lies within 1.1 average sample intervals of it, else
 * only by half an average interval (a series that starts or ends inside the
 * window); for counters the start is never extrapolated below zero. rate
 * divides by the range in seconds. */
double prom_extrapolated_rate(const sample_t *s, size_t n, int64_t range_start_ms, int64_t range_end_ms,
                              bool is_counter, bool is_rate, bool *ok);
double prom_rate(const sample_t *s, size_t n, int64_t range_start_ms, int64_t range_end_ms, bool *ok);
double prom_increase(const sample_t *s, size_t n, int64_t range_start_ms, int64_t range_end_ms, bool *ok);
double prom_delta(const sample_t *s, size_t n, int64_t range_start_ms, int64_t range_end_ms, bool *ok);

/* rate / increase / delta over an `anchored` or `smoothed` range selector
 * (experimental extended range selectors, Prometheus's extendedRate). Here
 * s holds what such a selector yields: the window's samples plus the last
 * sample at or before range_start_ms (and, for smoothed, the first sample at
 * or after range_end_ms). No extrapolation: anchored takes the outermost
 * samples as they are; smoothed interpolates linearly to the window
 * boundaries (from 0 across a counter reset). Counter resets inside are
 * corrected. *ok is false when no sample lies after range_start_ms (or, for
 * smoothed, the first lies after range_end_ms) or s is empty. */
double prom_extended_rate(const sample_t *s, size_t n, int64_t range_start_ms, int64_t range_end_ms, bool smoothed,
                          bool is_counter, bool is_rate, bool *ok);

/* irate / idelta: from the last two samples. irate treats a drop as a counter
 * reset (the rate is then last/interval) and is per second. *ok is false with
 * fewer than two samples or when the last two share a timestamp. */
double prom_irate(const sample_t *s, size_t n, bool *ok);
double prom_idelta(const sample_t *s, size_t n, bool *ok);

/* ---- regression ---- */

/* Least-squares line through the samples, x in seconds relative to
 * intercept_time_ms, with Kahan-compensated sums. A constant series gives
 * slope 0 and intercept = the value (NaN and NaN if that value is ±Inf).
 * Requires n >= 1; callers below require n >= 2. */
void prom_linear_regression(const sample_t *s, size_t n, int64_t intercept_time_ms, double *slope, double *intercept);
/* deriv: the slope per second (intercept at the first sample). n >= 2. */
double prom_deriv(const sample_t *s, size_t n, bool *ok);
/* predict_linear(v, duration): the line (intercept at eval_time_ms) evaluated
 * duration_s seconds after eval_time_ms. n >= 2. */
double prom_predict_linear(const sample_t *s, size_t n, int64_t eval_time_ms, double duration_s, bool *ok);

/* ---- counting ---- */

/* changes: how often the value changed (NaN to NaN is not a change). */
double prom_changes(const sample_t *s, size_t n, bool *ok);
/* resets: how often the value decreased. */
double prom_resets(const sample_t *s, size_t n, bool *ok);

/* ---- *_over_time (all need n >= 1) ---- */

/* avg_over_time: Kahan sum / count, switching to an incremental
 * (compensated) mean if the plain sum overflows, as Prometheus does. */
double prom_avg_over_time(const sample_t *s, size_t n, bool *ok);
double prom_sum_over_time(const sample_t *s, size_t n, bool *ok); /* Kahan */
double prom_count_over_time(const sample_t *s, size_t n, bool *ok);
double prom_min_over_time(const sample_t *s, size_t n, bool *ok); /* NaN only if all NaN */
double prom_max_over_time(const sample_t *s, size_t n, bool *ok);
double prom_last_over_time(const sample_t *s, size_t n, bool *ok);
double prom_first_over_time(const sample_t *s, size_t n, bool *ok);
double prom_present_over_time(const sample_t *s, size_t n, bool *ok); /* 1 */
/* Population variance / standard deviation, Welford's method with Kahan
 * compensated mean and sum of squares (stdvar_over_time / stddev_over_time). */
double prom_stdvar_over_time(const sample_t *s, size_t n, bool *ok);
double prom_stddev_over_time(const sample_t *s, size_t n, bool *ok);
/* quantile_over_time(q, v): scratch holds n doubles (caller-owned). */
double prom_quantile_over_time(double q, const sample_t *s, size_t n, double *scratch, bool *ok);
/* mad_over_time: median of |v - median(v)|; NaN if any sample is NaN.
 * scratch holds n doubles. */
double prom_mad_over_time(const sample_t *s, size_t n, double *scratch, bool *ok);
/* ts_of_{min,max,first,last}_over_time: the timestamp, in seconds, of the
 * minimum / maximum (the latest of equal extremes) / first / last sample. */
double prom_ts_of_min_over_time(const sample_t *s, size_t n, bool *ok);
double prom_ts_of_max_over_time(const sample_t *s, size_t n, bool *ok);
double prom_ts_of_first_over_time(const sample_t *s, size_t n, bool *ok);
double prom_ts_of_last_over_time(const sample_t *s, size_t n, bool *ok);

/* double_exponential_smoothing(v, sf, tf) (formerly holt_winters). The
 * factors must satisfy 0 < sf < 1 and 0 < tf < 1: the engine reports
 * Prometheus's error ("invalid smoothing factor. Expected: 0 < sf < 1, got:
 * %f" / "invalid trend factor. ...") before calling; here an invalid factor
 * gives *ok = false. Needs n >= 2. */
double prom_double_exponential_smoothing(const sample_t *s, size_t n, double sf, double tf, bool *ok);

/* ---- classic histograms (series with an `le` label) ---- */

typedef struct prom_bucket {
    double upper_bound; /* the `le` value */
    double count;       /* cumulative count */
} prom_bucket_t;

/* What the monotonicity fix-up did (see prom_bucket_quantile). */
typedef struct prom_bucket_fix {
    bool forced_monotonic; /* a real decrease was removed: Prometheus adds the info
                              annotation PROM_INFO_HISTOGRAM_MONOTONICITY */
    bool fixed_precision;  /* a difference below 1e-12 relative was ironed out (silent) */
    double min_bucket;     /* lowest / highest upper bound whose count was raised */
    double max_bucket;
    double max_diff; /* largest decrease removed */
} prom_bucket_fix_t;

#define PROM_INFO_HISTOGRAM_MONOTONICITY "input to histogram_quantile needed to be fixed for monotonicity"

/* histogram_quantile(q, buckets) for one group of classic buckets.
 * NaN q -> NaN; q < 0 -> -Inf; q > 1 -> +Inf (before looking at buckets).
 * Then: sorts the buckets by upper bound and merges equal bounds (in place;
 * *n may shrink), NaN if the highest bound is not +Inf, fixes monotonicity,
 * NaN with fewer than two buckets or zero observations. A rank in the +Inf
 * bucket gives the second-highest bound; a rank in the lowest bucket
 * interpolates from 0 when its bound is > 0 and returns that bound otherwise.
 * fix may be NULL. n == 0 gives NaN. */
double prom_bucket_quantile(double q, prom_bucket_t *b, size_t *n, prom_bucket_fix_t *fix);

/* histogram_fraction(lower, upper, buckets) for classic buckets: the
 * estimated fraction of observations in [lower, upper], interpolating
 * linearly inside a bucket (the lowest bucket starts at 0 when its bound is
 * > 0; a bucket with an infinite bound contributes nothing partial).
 * Sorts and merges in place like prom_bucket_quantile. NaN if the highest
 * bound is not +Inf, no observations, or a NaN limit; 0 if lower >= upper. */
double prom_bucket_fraction(double lower, double upper, prom_bucket_t *b, size_t *n);

#endif
