/* functions_range.c — numeric kernels of PromQL range and classic-histogram
 * functions (see functions_range.h for the contract of each).
 *
 * The code follows the structure of Prometheus's promql/functions.go and
 * promql/quantile.go closely on purpose: PromQL results are compared to
 * Prometheus's with a relative tolerance of 1e-6, but some tests (Kahan sums,
 * averages of huge values, the histogram "small delta" fix-up) only pass if
 * the floating-point operations happen in the same order. Comments mark the
 * places where the order matters. */
#include "promql/functions_range.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

double prom_kahan_inc(double inc, double sum, double *c) {
    double t = sum + inc;
    if (isinf(t)) {
        *c = 0;
    } else if (fabs(sum) >= fabs(inc)) {
        /* Neumaier: compensate with the lost low bits of the smaller term. */
        *c += (sum - t) + inc;
    } else {
        *c += (inc - t) + sum;
    }
    return t;
}

bool prom_almost_equal(double a, double b, double epsilon) {
    if (isnan(a) && isnan(b)) return true;
    if (a == b) return true;
    double abs_sum = fabs(a) + fabs(b);
    double diff = fabs(a - b);
    if (a == 0 || b == 0 || abs_sum < DBL_MIN) return diff < epsilon * DBL_MIN;
    return diff / fmin(abs_sum, DBL_MAX) < epsilon;
}

/* NaNs sort first, as Prometheus's vectorByValueHeap.Less puts them. */
static int cmp_double_nan_first(const void *pa, const void *pb) {
    double a = *(const double *)pa, b = *(const double *)pb;
    if (isnan(a)) return isnan(b) ? 0 : -1;
    if (isnan(b)) return 1;
    return (a > b) - (a < b);
}

double prom_quantile(double q, double *values, size_t n) {
    if (n == 0 || isnan(q)) return NAN;
    if (q < 0) return -INFINITY;
    if (q > 1) return INFINITY;
    qsort(values, n, sizeof *values, cmp_double_nan_first);
    double fn = (double)n;
    double rank = q * (fn - 1);
    double lower = fmax(0, floor(rank));
    double upper = fmin(fn - 1, lower + 1);
    double weight = rank - floor(rank);
    return values[(size_t)lower] * (1 - weight) + values[(size_t)upper] * weight;
}

/* ---- rate family ---- */

double prom_extrapolated_rate(const sample_t *s, size_t n, int64_t range_start_ms, int64_t range_end_ms,
                              bool is_counter, bool is_rate, bool *ok) {
    if (n < 2) {
        *ok = false;
        return NAN;
    }
    *ok = true;
    int64_t first_t = s[0].t, last_t = s[n - 1].t;
    double result = s[n - 1].v - s[0].v;
    if (is_counter) {
        /* Each drop is a reset: the counter restarted from 0, so everything it
         * had counted before the drop is added back. */
        double prev = s[0].v;
        for (size_t i = 1; i < n; i++) {
            if (s[i].v < prev) result += prev;
            prev = s[i].v;
        }
    }

    double to_start = (double)(first_t - range_start_ms) / 1000;
    double to_end = (double)(range_end_ms - last_t) / 1000;
    double sampled = (double)(last_t - first_t) / 1000;
    double avg_interval = sampled / (double)(n - 1);
    /* A sample "close enough" to a boundary (within 110% of the average
     * spacing) means the series covers the window up to that boundary, and
     * the rate is extrapolated all the way there. Otherwise the series is
     * taken to start (or end) inside the window, half an interval beyond the
     * outermost sample. */
    double threshold = avg_interval * 1.1;
    double extrapolate_to = sampled;

    if (to_start >= threshold) to_start = avg_interval / 2;
    if (is_counter && result > 0 && s[0].v >= 0) {
        /* A counter cannot go below zero: if the line through the samples
         * reaches zero before the extrapolated start, start there instead. */
        double to_zero = sampled * (s[0].v / result);
        if (to_zero < to_start) to_start = to_zero;
    }
    extrapolate_to += to_start;

    if (to_end >= threshold) to_end = avg_interval / 2;
    extrapolate_to += to_end;

    double factor = extrapolate_to / sampled;
    if (is_rate) factor /= (double)(range_end_ms - range_start_ms) / 1000;
    return result * factor;
}

double prom_rate(const sample_t *s, size_t n, int64_t range_start_ms, int64_t range_end_ms, bool *ok) {
    return prom_extrapolated_rate(s, n, range_start_ms, range_end_ms, true, true, ok);
}
double prom_increase(const sample_t *s, size_t n, int64_t range_start_ms, int64_t range_end_ms, bool *ok) {
    return prom_extrapolated_rate(s, n, range_start_ms, range_end_ms, true, false, ok);
}
double prom_delta(const sample_t *s, size_t n, int64_t range_start_ms, int64_t range_end_ms, bool *ok) {
    return prom_extrapolated_rate(s, n, range_start_ms, range_end_ms, false, false, ok);
}

/* The value at t on the line between p1 and p2; across a counter reset the
 * counter is taken to restart from 0 at p1. */
static double interpolate(const sample_t *p1, const sample_t *p2, int64_t t, bool is_counter) {
    double y1 = p1->v, y2 = p2->v;
    if (is_counter && y2 < y1) y1 = 0;
    return y1 + (y2 - y1) * (double)(t - p1->t) / (double)(p2->t - p1->t);
}

/* First index i in [0, n) with pred true (pred monotone), n if none. */
static size_t search_after(const sample_t *s, size_t n, int64_t t, bool inclusive) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (inclusive ? s[mid].t >= t : s[mid].t > t)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

double prom_extended_rate(const sample_t *s, size_t n, int64_t range_start_ms, int64_t range_end_ms, bool smoothed,
                          bool is_counter, bool is_rate, bool *ok) {
    *ok = false;
    if (n == 0) return NAN;
    size_t last = n - 1;
    /* The sample at or before the start: the last one not after it. */
    size_t first = search_after(s, last, range_start_ms, false);
    first = first > 0 ? first - 1 : 0;
    if (smoothed) last = search_after(s, last, range_end_ms, true);
    if (s[last].t <= range_start_ms) return NAN;
    if (smoothed && s[first].t > range_end_ms) return NAN;

    double left = s[first].v, right = s[last].v;
    if (smoothed && s[first].t < range_start_ms)
        left = interpolate(&s[first], &s[first + 1], range_start_ms, is_counter);
    if (smoothed && last > 0 && s[last].t > range_end_ms)
        right = interpolate(&s[last - 1], &s[last], range_end_ms, is_counter);
    double result = right - left;
    if (is_counter) {
        /* Resets at the boundaries are already in left/right; correct for
         * those between the samples strictly inside the window. */
        size_t lo = first, hi = last; /* inclusive range [lo, hi], may be empty */
        if (s[first].t <= range_start_ms) lo++;
        bool empty = false;
        if (s[last].t >= range_end_ms) {
            if (hi == 0)
                empty = true;
            else
                hi--;
        }
        double prev = left;
        if (!empty)
            for (size_t i = lo; i <= hi && i < n; i++) {
                if (s[i].v < prev) result += prev;
                prev = s[i].v;
            }
        if (right < prev) result += prev;
    }
    if (is_rate) result /= (double)(range_end_ms - range_start_ms) / 1000;
    *ok = true;
    return result;
}

static double instant_value(const sample_t *s, size_t n, bool is_rate, bool *ok) {
    *ok = false;
    if (n < 2) return NAN;
    const sample_t *prev = &s[n - 2], *last = &s[n - 1];
    double result;
    if (is_rate && last->v < prev->v)
        result = last->v; /* counter reset */
    else
        result = last->v - prev->v;
    int64_t interval = last->t - prev->t;
    if (interval == 0) return NAN;
    if (is_rate) result /= (double)interval / 1000;
    *ok = true;
    return result;
}

double prom_irate(const sample_t *s, size_t n, bool *ok) { return instant_value(s, n, true, ok); }
double prom_idelta(const sample_t *s, size_t n, bool *ok) { return instant_value(s, n, false, ok); }

/* ---- regression ---- */

void prom_linear_regression(const sample_t *s, size_t n, int64_t intercept_time_ms, double *slope, double *intercept) {
    double cnt = 0, sum_x = 0, c_x = 0, sum_y = 0, c_y = 0, sum_xy = 0, c_xy = 0, sum_x2 = 0, c_x2 = 0;
    double init_y = s[0].v;
    bool const_y = true;
    for (size_t i = 0; i < n; i++) {
        if (const_y && i > 0 && s[i].v != init_y) const_y = false;
        cnt += 1;
        double x = (double)(s[i].t - intercept_time_ms) / 1e3;
        sum_x = prom_kahan_inc(x, sum_x, &c_x);
        sum_y = prom_kahan_inc(s[i].v, sum_y, &c_y);
        sum_xy = prom_kahan_inc(x * s[i].v, sum_xy, &c_xy);
        sum_x2 = prom_kahan_inc(x * x, sum_x2, &c_x2);
    }
    if (const_y) {
        /* A flat line: exact answer, and no 0/0 for a single timestamp. */
        if (isinf(init_y)) {
            *slope = NAN;
            *intercept = NAN;
        } else {
            *slope = 0;
            *intercept = init_y;
        }
        return;
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;
    double cov_xy = sum_xy - sum_x * sum_y / cnt;
    double var_x = sum_x2 - sum_x * sum_x / cnt;
    *slope = cov_xy / var_x;
    *intercept = sum_y / cnt - *slope * sum_x / cnt;
}

double prom_deriv(const sample_t *s, size_t n, bool *ok) {
    *ok = n >= 2;
    if (!*ok) return NAN;
    double slope, intercept;
    /* The intercept time is the first sample's: with x near zero the sums
     * stay small and lose less precision than with x relative to the epoch. */
    prom_linear_regression(s, n, s[0].t, &slope, &intercept);
    return slope;
}

double prom_predict_linear(const sample_t *s, size_t n, int64_t eval_time_ms, double duration_s, bool *ok) {
    *ok = n >= 2;
    if (!*ok) return NAN;
    double slope, intercept;
    prom_linear_regression(s, n, eval_time_ms, &slope, &intercept);
    return slope * duration_s + intercept;
}

/* ---- counting ---- */

double prom_changes(const sample_t *s, size_t n, bool *ok) {
    *ok = n >= 1;
    if (!*ok) return NAN;
    size_t changes = 0;
    double prev = s[0].v;
    for (size_t i = 1; i < n; i++) {
        double cur = s[i].v;
        if (cur != prev && !(isnan(cur) && isnan(prev))) changes++;
        prev = cur;
    }
    return (double)changes;
}

double prom_resets(const sample_t *s, size_t n, bool *ok) {
    *ok = n >= 1;
    if (!*ok) return NAN;
    size_t resets = 0;
    double prev = s[0].v;
    for (size_t i = 1; i < n; i++) {
        if (s[i].v < prev) resets++;
        prev = s[i].v;
    }
    return (double)resets;
}

/* ---- *_over_time ---- */

double prom_avg_over_time(const sample_t *s, size_t n, bool *ok) {
    *ok = n >= 1;
    if (!*ok) return NAN;
    double sum = s[0].v, count = 1, mean = 0, c = 0;
    bool incremental = false;
    for (size_t i = 1; i < n; i++) {
        double v = s[i].v;
        count = (double)(i + 1);
        if (!incremental) {
            double nc = c;
            double ns = prom_kahan_inc(v, sum, &nc);
            if (!isinf(ns)) {
                sum = ns;
                c = nc;
                continue;
            }
            /* The plain sum overflowed: continue with a running mean, which
             * stays in range for any finite inputs. */
            incremental = true;
            mean = sum / (count - 1);
            c /= (count - 1);
        }
        double q = (count - 1) / count;
        double qc = q * c;
        mean = prom_kahan_inc(v / count, q * mean, &qc);
        c = qc;
    }
    if (incremental) return mean + c;
    return sum / count + c / count;
}

double prom_sum_over_time(const sample_t *s, size_t n, bool *ok) {
    *ok = n >= 1;
    if (!*ok) return NAN;
    double sum = 0, c = 0;
    for (size_t i = 0; i < n; i++)
        sum = prom_kahan_inc(s[i].v, sum, &c);
    if (isinf(sum)) return sum;
    return sum + c;
}

double prom_count_over_time(const sample_t *s, size_t n, bool *ok) {
    (void)s;
    *ok = n >= 1;
    return *ok ? (double)n : NAN;
}

/* Shared by min/max and their ts_of_ forms: walks the samples, replacing the
 * current pick when better(cur, pick) or the pick is NaN. */
typedef bool (*better_fn)(double cur, double pick);
static bool gt(double cur, double pick) { return cur > pick; }
static bool lt(double cur, double pick) { return cur < pick; }
static bool ge(double cur, double pick) { return cur >= pick; }
static bool le(double cur, double pick) { return cur <= pick; }

static const sample_t *pick_over_time(const sample_t *s, size_t n, better_fn better) {
    const sample_t *pick = &s[0];
    for (size_t i = 0; i < n; i++)
        if (better(s[i].v, pick->v) || isnan(pick->v)) pick = &s[i];
    return pick;
}

double prom_min_over_time(const sample_t *s, size_t n, bool *ok) {
    *ok = n >= 1;
    return *ok ? pick_over_time(s, n, lt)->v : NAN;
}
double prom_max_over_time(const sample_t *s, size_t n, bool *ok) {
    *ok = n >= 1;
    return *ok ? pick_over_time(s, n, gt)->v : NAN;
}
double prom_ts_of_min_over_time(const sample_t *s, size_t n, bool *ok) {
    *ok = n >= 1;
    return *ok ? (double)pick_over_time(s, n, le)->t / 1000 : NAN;
}
double prom_ts_of_max_over_time(const sample_t *s, size_t n, bool *ok) {
    *ok = n >= 1;
    return *ok ? (double)pick_over_time(s, n, ge)->t / 1000 : NAN;
}
double prom_last_over_time(const sample_t *s, size_t n, bool *ok) {
    *ok = n >= 1;
    return *ok ? s[n - 1].v : NAN;
}
double prom_first_over_time(const sample_t *s, size_t n, bool *ok) {
    *ok = n >= 1;
    return *ok ? s[0].v : NAN;
}
double prom_ts_of_last_over_time(const sample_t *s, size_t n, bool *ok) {
    *ok = n >= 1;
    return *ok ? (double)s[n - 1].t / 1000 : NAN;
}
double prom_ts_of_first_over_time(const sample_t *s, size_t n, bool *ok) {
    *ok = n >= 1;
    return *ok ? (double)s[0].t / 1000 : NAN;
}
double prom_present_over_time(const sample_t *s, size_t n, bool *ok) {
    (void)s;
    *ok = n >= 1;
    return *ok ? 1 : NAN;
}

double prom_stdvar_over_time(const sample_t *s, size_t n, bool *ok) {
    *ok = n >= 1;
    if (!*ok) return NAN;
    double count = 0, mean = 0, c_mean = 0, aux = 0, c_aux = 0;
    for (size_t i = 0; i < n; i++) {
        double v = s[i].v;
        count++;
        double delta = v - (mean + c_mean);
        mean = prom_kahan_inc(delta / count, mean, &c_mean);
        aux = prom_kahan_inc(delta * (v - (mean + c_mean)), aux, &c_aux);
    }
    return (aux + c_aux) / count;
}

double prom_stddev_over_time(const sample_t *s, size_t n, bool *ok) {
    double var = prom_stdvar_over_time(s, n, ok);
    return *ok ? sqrt(var) : NAN;
}

double prom_quantile_over_time(double q, const sample_t *s, size_t n, double *scratch, bool *ok) {
    *ok = n >= 1;
    if (!*ok) return NAN;
    for (size_t i = 0; i < n; i++)
        scratch[i] = s[i].v;
    return prom_quantile(q, scratch, n);
}

double prom_mad_over_time(const sample_t *s, size_t n, double *scratch, bool *ok) {
    *ok = n >= 1;
    if (!*ok) return NAN;
    for (size_t i = 0; i < n; i++) {
        /* Unlike quantile_over_time, where NaN sorts as the smallest value,
         * a NaN sample makes the MAD NaN (Prometheus 3.x functions.test). */
        if (isnan(s[i].v)) return NAN;
        scratch[i] = s[i].v;
    }
    double median = prom_quantile(0.5, scratch, n);
    for (size_t i = 0; i < n; i++)
        scratch[i] = fabs(s[i].v - median);
    return prom_quantile(0.5, scratch, n);
}

double prom_double_exponential_smoothing(const sample_t *s, size_t n, double sf, double tf, bool *ok) {
    *ok = false;
    if (!(sf > 0 && sf < 1) || !(tf > 0 && tf < 1) || n < 2) return NAN;
    double s0 = 0, s1 = s[0].v, b = s[1].v - s[0].v;
    for (size_t i = 1; i < n; i++) {
        double x = sf * s[i].v;
        /* The trend is only updated from the second step on; the first step
         * uses the initial trend s[1]-s[0]. */
        if (i > 1) b = tf * (s1 - s0) + (1 - tf) * b;
        double y = (1 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    *ok = true;
    return s1;
}

/* ---- classic histograms ---- */

static int cmp_bucket(const void *pa, const void *pb) {
    double a = ((const prom_bucket_t *)pa)->upper_bound, b = ((const prom_bucket_t *)pb)->upper_bound;
    return (a > b) - (a < b);
}

/* Sorts by upper bound and sums buckets with the same bound (as two series
 * whose `le` differ only in spelling, "1" and "1.0", do). */
static size_t sort_and_coalesce(prom_bucket_t *b, size_t n) {
    qsort(b, n, sizeof *b, cmp_bucket);
    size_t out = 0;
    prom_bucket_t last = b[0];
    for (size_t i = 1; i < n; i++) {
        if (b[i].upper_bound == last.upper_bound) {
            last.count += b[i].count;
        } else {
            b[out++] = last;
            last = b[i];
        }
    }
    b[out++] = last;
    return out;
}

#define SMALL_DELTA_TOLERANCE 1e-12

/* Cumulative counts must not decrease, but real data (a scrape racing the
 * instrumented code, recording rules, precision loss) breaks that. Tiny
 * differences are ironed out silently in either direction; any other drop
 * is removed by carrying the last accepted count forward. `prev` stays at
 * the last accepted count in both corrections. */
static void ensure_monotonic(prom_bucket_t *b, size_t n, prom_bucket_fix_t *fix) {
    fix->min_bucket = INFINITY;
    fix->max_bucket = -INFINITY;
    double prev = b[0].count;
    for (size_t i = 1; i < n; i++) {
        double cur = b[i].count;
        if (cur == prev) continue;
        if (prom_almost_equal(prev, cur, SMALL_DELTA_TOLERANCE)) {
            b[i].count = prev;
            fix->fixed_precision = true;
            continue;
        }
        if (cur < prev) {
            b[i].count = prev;
            fix->forced_monotonic = true;
            if (b[i].upper_bound < fix->min_bucket) fix->min_bucket = b[i].upper_bound;
            if (b[i].upper_bound > fix->max_bucket) fix->max_bucket = b[i].upper_bound;
            if (prev - cur > fix->max_diff) fix->max_diff = prev - cur;
            continue;
        }
        prev = cur;
    }
}

double prom_bucket_quantile(double q, prom_bucket_t *b, size_t *n, prom_bucket_fix_t *fix) {
    prom_bucket_fix_t local;
    if (!fix) fix = &local;
    *fix = (prom_bucket_fix_t){0};
    if (isnan(q)) return NAN;
    if (q < 0) return -INFINITY;
    if (q > 1) return INFINITY;
    if (*n == 0) return NAN;
    qsort(b, *n, sizeof *b, cmp_bucket);
    if (!(isinf(b[*n - 1].upper_bound) && b[*n - 1].upper_bound > 0)) return NAN;
    *n = sort_and_coalesce(b, *n);
    size_t nb = *n;
    ensure_monotonic(b, nb, fix);
    if (nb < 2) return NAN;
    double observations = b[nb - 1].count;
    if (observations == 0) return NAN;
    double rank = q * observations;

    /* First bucket (excluding +Inf) whose cumulative count reaches the rank. */
    size_t lo = 0, hi = nb - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b[mid].count >= rank)
            hi = mid;
        else
            lo = mid + 1;
    }
    size_t i = lo;
    if (i == nb - 1) return b[nb - 2].upper_bound; /* in the +Inf bucket */
    if (i == 0 && b[0].upper_bound <= 0) return b[0].upper_bound;

    double start = 0, end = b[i].upper_bound, count = b[i].count;
    if (i > 0) {
        start = b[i - 1].upper_bound;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    return start + (end - start) * (rank / count);
}

double prom_bucket_fraction(double lower, double upper, prom_bucket_t *b, size_t *n) {
    if (*n == 0) return NAN;
    qsort(b, *n, sizeof *b, cmp_bucket);
    if (!(isinf(b[*n - 1].upper_bound) && b[*n - 1].upper_bound > 0)) return NAN;
    *n = sort_and_coalesce(b, *n);
    size_t nb = *n;
    double count = b[nb - 1].count;
    if (count == 0 || isnan(lower) || isnan(upper)) return NAN;
    if (lower >= upper) return 0;

    double rank = 0, lower_rank = 0, upper_rank = 0;
    bool lower_set = false, upper_set = false;
    /* Positive-only buckets (the lowest bound > 0) start at 0, as in
     * histogram_quantile; otherwise the lowest bucket reaches down to -Inf. */
    double lower_bound = b[0].upper_bound > 0 ? 0 : -INFINITY;
    for (size_t i = 0; i < nb; i++) {
        if (i > 0) lower_bound = b[i - 1].upper_bound;
        double upper_bound = b[i].upper_bound;
        if (!lower_set && lower_bound >= lower) {
            lower_rank = rank;
            lower_set = true;
        }
        if (!upper_set && lower_bound >= upper) {
            upper_rank = rank;
            upper_set = true;
        }
        if (lower_set && upper_set) break;
        /* Inside a bucket: linear interpolation over its own observations
         * (counts are cumulative). A -Inf lower bound cannot be interpolated;
         * the whole bucket counts as below the value. A +Inf upper bound
         * yields rank + finite/Inf = rank: nothing of it counts. */
        if (!lower_set && lower_bound < lower && upper_bound > lower) {
            lower_rank = isinf(lower_bound)
                             ? b[i].count
                             : rank + (b[i].count - rank) * (lower - lower_bound) / (upper_bound - lower_bound);
            lower_set = true;
        }
        if (!upper_set && lower_bound < upper && upper_bound > upper) {
            upper_rank = isinf(lower_bound)
                             ? b[i].count
                             : rank + (b[i].count - rank) * (upper - lower_bound) / (upper_bound - lower_bound);
            upper_set = true;
        }
        if (lower_set && upper_set) break;
        rank = b[i].count;
    }
    if (!lower_set || lower_rank > count) lower_rank = count;
    if (!upper_set || upper_rank > count) upper_rank = count;
    return (upper_rank - lower_rank) / count;
}
