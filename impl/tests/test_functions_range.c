/* test_functions_range.c — hand-checked cases for the PromQL range-function
 * and classic-histogram kernels. Each expected value is worked out in the
 * comment next to it, from Prometheus's definitions. */
#include "testutil.h"

#include <float.h>
#include <math.h>

#include "model/labels.h"
#include "promql/functions_range.h"

#define S(sec, val)                                                                                                    \
    { (int64_t)((sec)*1000), (val) }
#define N(a) (sizeof(a) / sizeof((a)[0]))

static void assert_close(double got, double want) {
    if (isnan(want)) {
        if (!isnan(got)) fail_msg("want NaN, got %.17g", got);
        return;
    }
    if (isinf(want)) {
        if (got != want) fail_msg("want %g, got %.17g", want, got);
        return;
    }
    if (!prom_almost_equal(got, want, 1e-12)) fail_msg("want %.17g, got %.17g", want, got);
}

static void test_rate_regular_series(void **state) {
    /* 0+6x20 at 30s; rate at 5m over [2m]: window (180s, 300s] holds
     * t=210..300 = 42,48,54,60. increase 18 over 90s; first sample is 30s
     * from the start (< 1.1*30s) so extrapolate to the full 120s:
     * 18*120/90 = 24, /120s = 0.2. The zero point (210s before t=210) is
     * farther than the start, so no clamp. */
    sample_t s[] = {S(210, 42), S(240, 48), S(270, 54), S(300, 60)};
    bool ok;
    assert_close(prom_rate(s, N(s), 180000, 300000, &ok), 0.2);
    assert_true(ok);
    assert_close(prom_increase(s, N(s), 180000, 300000, &ok), 24);
    assert_close(prom_delta(s, N(s), 180000, 300000, &ok), 24);
}

static void test_rate_counter_reset(void **state) {
    /* 10 20 5 15 at 10..40s, window (0,40]: raw delta 5, plus 20 lost at the
     * reset = 25. to_start 10 < 11 (1.1*avg 10): extrapolate fully; zero
     * point 30*(10/25)=12 > 10, no clamp. 25 * 40/30 = 33.33.. */
    sample_t s[] = {S(10, 10), S(20, 20), S(30, 5), S(40, 15)};
    bool ok;
    assert_close(prom_increase(s, N(s), 0, 40000, &ok), 25.0 * 40 / 30);
    assert_close(prom_rate(s, N(s), 0, 40000, &ok), 25.0 * 40 / 30 / 40);
    /* delta ignores resets: 5 * 40/30 */
    assert_close(prom_delta(s, N(s), 0, 40000, &ok), 5.0 * 40 / 30);
}

static void test_rate_zero_point_clamp(void **state) {
    /* 1 11 21 31 at 10..40s, window (0,40]: increase 30; extrapolating 10s
     * back would reach -9, but the counter hits 0 after 30*(1/30) = 1s, so
     * the window covers 31s: 30*31/30 = 31. */
    sample_t s[] = {S(10, 1), S(20, 11), S(30, 21), S(40, 31)};
    bool ok;
    assert_close(prom_increase(s, N(s), 0, 40000, &ok), 31);
    /* A gauge (delta) has no zero point: 30*40/30 = 40. */
    assert_close(prom_delta(s, N(s), 0, 40000, &ok), 40);
    /* A negative first value disables the clamp for counters. */
    sample_t neg[] = {S(10, -1), S(20, 9), S(30, 19), S(40, 29)};
    assert_close(prom_increase(neg, N(neg), 0, 40000, &ok), 40);
}

static void test_rate_series_starts_and_ends_inside(void **state) {
    /* 100 110 120 at 60..80s, window (0,80]: first sample 60s after the
     * start, more than 1.1*10s, so the series is taken to start half an
     * interval (5s) before it: 20*(20+5)/20 = 25. */
    sample_t s[] = {S(60, 100), S(70, 110), S(80, 120)};
    bool ok;
    assert_close(prom_delta(s, N(s), 0, 80000, &ok), 25);
    assert_close(prom_increase(s, N(s), 0, 80000, &ok), 25);
    /* 1 2 3 at 10..30s, window (0,60]: start is 10s (< 11) away, full;
     * end is 30s away, half an interval: 2*(20+10+5)/20 = 3.5. */
    sample_t e[] = {S(10, 1), S(20, 2), S(30, 3)};
    assert_close(prom_delta(e, N(e), 0, 60000, &ok), 3.5);
    /* Exactly at the threshold boundary: to_start = 11s = 1.1*10s counts as
     * "too far" (>=): 2*(20+5+0)/20 = 2.5 with window (-1s, 30]. */
    sample_t b[] = {S(10, 1), S(20, 2), S(30, 3)};
    assert_close(prom_delta(b, N(b), -1000, 30000, &ok), 2.5);
}

static void test_rate_needs_two_samples(void **state) {
    sample_t s[] = {S(10, 1)};
    bool ok = true;
    prom_rate(s, 1, 0, 60000, &ok);
    assert_false(ok);
    prom_rate(s, 0, 0, 60000, &ok);
    assert_false(ok);
}

static void test_extended_rate(void **state) {
    bool ok;
    /* anchored, window (0, 60s]: the sample at 0 anchors the start; no
     * extrapolation: 6 - 0 = 6, rate 6/60. */
    sample_t a[] = {S(0, 0), S(30, 3), S(60, 6)};
    assert_close(prom_extended_rate(a, N(a), 0, 60000, false, true, false, &ok), 6);
    assert_true(ok);
    assert_close(prom_extended_rate(a, N(a), 0, 60000, false, true, true, &ok), 0.1);
    /* smoothed: -10s:0, 20s:4, 70s:9 over (0, 60s]: left interpolated at 0
     * = 4*10/30, right at 60s = 4 + 5*40/50 = 8. */
    sample_t b[] = {S(-10, 0), S(20, 4), S(70, 9)};
    assert_close(prom_extended_rate(b, N(b), 0, 60000, true, true, false, &ok), 8 - 4.0 / 3);
    /* anchored on the same data ignores the sample after the end only if the
     * engine did not select it; given all three, it takes them as they are. */
    assert_close(prom_extended_rate(b, N(b), 0, 60000, false, false, false, &ok), 9);
    /* smoothed across a reset (10 -> 2): the counter restarts from 0, so the
     * left value is 2*10/30; right 2 + 5*0.8 = 6. delta interpolates plainly:
     * left 10 - 8/3, right 6. */
    sample_t c[] = {S(-10, 10), S(20, 2), S(70, 7)};
    assert_close(prom_extended_rate(c, N(c), 0, 60000, true, true, false, &ok), 6 - 2.0 / 3);
    assert_close(prom_extended_rate(c, N(c), 0, 60000, true, false, false, &ok), 6 - (10 - 8.0 / 3));
    /* anchored with a reset inside: 5 10 2 4 -> 4-5 + 10 = 9 */
    sample_t d[] = {S(0, 5), S(20, 10), S(40, 2), S(60, 4)};
    assert_close(prom_extended_rate(d, N(d), 0, 60000, false, true, false, &ok), 9);
    /* nothing after the start: no output */
    sample_t e[] = {S(-10, 1)};
    prom_extended_rate(e, 1, 0, 60000, false, true, false, &ok);
    assert_false(ok);
    prom_extended_rate(e, 0, 0, 60000, true, true, false, &ok);
    assert_false(ok);
    /* a single sample inside the window: anchored increase is 0 */
    sample_t f[] = {S(30, 7)};
    assert_close(prom_extended_rate(f, 1, 0, 60000, false, true, false, &ok), 0);
    assert_true(ok);
}

static void test_irate_idelta(void **state) {
    sample_t s[] = {S(10, 5), S(20, 15), S(30, 3)};
    bool ok;
    /* Reset between the last two: irate = 3 / 10s. */
    assert_close(prom_irate(s, N(s), &ok), 0.3);
    assert_true(ok);
    assert_close(prom_idelta(s, N(s), &ok), -12);
    /* No reset: (15-5)/10s. */
    assert_close(prom_irate(s, 2, &ok), 1);
    prom_irate(s, 1, &ok);
    assert_false(ok);
    sample_t same[] = {S(10, 1), S(10, 2)};
    prom_idelta(same, 2, &ok);
    assert_false(ok);
}

static void test_deriv_predict_linear(void **state) {
    sample_t s[] = {S(0, 0), S(10, 10), S(20, 20)};
    bool ok;
    assert_close(prom_deriv(s, N(s), &ok), 1);
    assert_true(ok);
    /* Line through (20s, 20) with slope 1, 10s later: 30. */
    assert_close(prom_predict_linear(s, N(s), 20000, 10, &ok), 30);
    /* Evaluated at 30s, the intercept is at 30s (value 30), +60s: 90. */
    assert_close(prom_predict_linear(s, N(s), 30000, 60, &ok), 90);
    /* Least squares through (0,0),(10,20),(20,10): slope = cov/var =
     * (sum xy - sum x sum y / n)/(sum x^2 - (sum x)^2/n) = (400-300)/(500-300) = 0.5. */
    sample_t z[] = {S(0, 0), S(10, 20), S(20, 10)};
    assert_close(prom_deriv(z, N(z), &ok), 0.5);
    sample_t flat[] = {S(0, 7), S(10, 7)};
    assert_close(prom_deriv(flat, N(flat), &ok), 0);
    assert_close(prom_predict_linear(flat, N(flat), 10000, 100, &ok), 7);
    sample_t inf[] = {S(0, INFINITY), S(10, INFINITY)};
    assert_close(prom_deriv(inf, N(inf), &ok), NAN);
    prom_deriv(s, 1, &ok);
    assert_false(ok);
}

static void test_changes_resets(void **state) {
    sample_t s[] = {S(0, 1), S(1, 1), S(2, 2), S(3, NAN), S(4, NAN), S(5, 3)};
    bool ok;
    /* 1->2, 2->NaN, NaN->3; NaN->NaN is not a change. */
    assert_close(prom_changes(s, N(s), &ok), 3);
    sample_t r[] = {S(0, 3), S(1, 2), S(2, 5), S(3, 1), S(4, 1)};
    assert_close(prom_resets(r, N(r), &ok), 2);
    assert_close(prom_changes(r, 1, &ok), 0);
    assert_true(ok);
    prom_resets(r, 0, &ok);
    assert_false(ok);
}

static void test_sum_avg_kahan(void **state) {
    bool ok;
    /* Naive summation loses the 1 entirely; Kahan–Neumaier keeps it. */
    sample_t k[] = {S(0, 1e100), S(1, 1), S(2, -1e100)};
    assert_close(prom_sum_over_time(k, N(k), &ok), 1);
    assert_close(prom_avg_over_time(k, N(k), &ok), 1.0 / 3);
    sample_t s[] = {S(0, 1), S(1, 2), S(2, 3), S(3, 4)};
    assert_close(prom_avg_over_time(s, N(s), &ok), 2.5);
    assert_close(prom_sum_over_time(s, N(s), &ok), 10);
    assert_close(prom_count_over_time(s, N(s), &ok), 4);
    /* The plain sum overflows; the incremental mean does not. */
    sample_t big[] = {S(0, DBL_MAX), S(1, DBL_MAX), S(2, DBL_MAX)};
    assert_close(prom_avg_over_time(big, N(big), &ok), DBL_MAX);
    assert_close(prom_sum_over_time(big, N(big), &ok), INFINITY);
    sample_t mixinf[] = {S(0, INFINITY), S(1, -INFINITY)};
    assert_close(prom_avg_over_time(mixinf, N(mixinf), &ok), NAN);
    prom_avg_over_time(s, 0, &ok);
    assert_false(ok);
}

static void test_min_max_first_last(void **state) {
    bool ok;
    sample_t s[] = {S(1, NAN), S(2, 3), S(3, 1), S(4, 3), S(5, 1), S(6, 2)};
    assert_close(prom_min_over_time(s, N(s), &ok), 1);
    assert_close(prom_max_over_time(s, N(s), &ok), 3);
    assert_close(prom_first_over_time(s, N(s), &ok), NAN);
    assert_close(prom_last_over_time(s, N(s), &ok), 2);
    assert_close(prom_present_over_time(s, N(s), &ok), 1);
    /* ts_of_*: the latest of equal extremes. */
    assert_close(prom_ts_of_max_over_time(s, N(s), &ok), 4);
    assert_close(prom_ts_of_min_over_time(s, N(s), &ok), 5);
    assert_close(prom_ts_of_first_over_time(s, N(s), &ok), 1);
    assert_close(prom_ts_of_last_over_time(s, N(s), &ok), 6);
    sample_t allnan[] = {S(1, NAN), S(2, NAN)};
    assert_close(prom_min_over_time(allnan, 2, &ok), NAN);
    /* From functions.test: 1 2 3 0 5 6 2 1 4 every 10.053s, (0,90s]. */
    double v[] = {1, 2, 3, 0, 5, 6, 2, 1, 4};
    sample_t w[8];
    for (int i = 1; i <= 8; i++)
        w[i - 1] = (sample_t){(int64_t)i * 10053, v[i]};
    assert_close(prom_ts_of_min_over_time(w, 8, &ok), 30.159);
    assert_close(prom_ts_of_max_over_time(w, 8, &ok), 50.265);
}

static void test_stddev_stdvar(void **state) {
    bool ok;
    sample_t s[] = {S(0, 1), S(1, 2), S(2, 3), S(3, 4)};
    /* mean 2.5, squared deviations 2.25+0.25+0.25+2.25 = 5, /4 */
    assert_close(prom_stdvar_over_time(s, N(s), &ok), 1.25);
    assert_close(prom_stddev_over_time(s, N(s), &ok), sqrt(1.25));
    assert_close(prom_stddev_over_time(s, 1, &ok), 0);
    sample_t inf[] = {S(0, 1), S(1, INFINITY)};
    assert_close(prom_stdvar_over_time(inf, 2, &ok), NAN);
}

static void test_quantile_mad(void **state) {
    bool ok;
    double scratch[8];
    sample_t s[] = {S(0, 4), S(1, 1), S(2, 3), S(3, 2)};
    assert_close(prom_quantile_over_time(0.5, s, N(s), scratch, &ok), 2.5);
    /* rank 0.75*3 = 2.25 between 3 and 4 */
    assert_close(prom_quantile_over_time(0.75, s, N(s), scratch, &ok), 3.25);
    assert_close(prom_quantile_over_time(0, s, N(s), scratch, &ok), 1);
    assert_close(prom_quantile_over_time(1, s, N(s), scratch, &ok), 4);
    assert_close(prom_quantile_over_time(-1, s, N(s), scratch, &ok), -INFINITY);
    assert_close(prom_quantile_over_time(2, s, N(s), scratch, &ok), INFINITY);
    assert_close(prom_quantile_over_time(NAN, s, N(s), scratch, &ok), NAN);
    /* the input window is not modified */
    assert_true(s[0].v == 4 && s[1].v == 1);
    /* NaN sorts first: {NaN, 1, 2}: q=0 -> NaN, q=1 -> 2 */
    double v[] = {2, NAN, 1};
    assert_close(prom_quantile(1, v, 3), 2);
    double v2[] = {2, NAN, 1};
    assert_close(prom_quantile(0, v2, 3), NAN);
    assert_close(prom_quantile(0.5, v2, 0), NAN);
    /* median 3; |dev| = 2 1 0 1 97 -> median 1 */
    sample_t m[] = {S(0, 1), S(1, 2), S(2, 3), S(3, 4), S(4, 100)};
    assert_close(prom_mad_over_time(m, N(m), scratch, &ok), 1);
    /* functions.test: metric_nan 1 2 NaN 4 gives NaN (quantile_over_time
     * would sort the NaN first and give 0.5 here). */
    sample_t mn[] = {S(0, 1), S(10, 2), S(20, NAN), S(30, 4)};
    assert_close(prom_mad_over_time(mn, N(mn), scratch, &ok), NAN);
    assert_close(prom_quantile_over_time(0.5, mn, N(mn), scratch, &ok), 1.5);
    sample_t one[] = {S(0, 5)};
    assert_close(prom_mad_over_time(one, 1, scratch, &ok), 0);
}

static void test_double_exponential_smoothing(void **state) {
    bool ok;
    /* s1=1, b=1; i=1: 0.5*2 + 0.5*(1+1) = 2; i=2: b = 0.5*(2-1)+0.5*1 = 1,
     * 0.5*4 + 0.5*(2+1) = 3.5 */
    sample_t s[] = {S(0, 1), S(1, 2), S(2, 4)};
    assert_close(prom_double_exponential_smoothing(s, N(s), 0.5, 0.5, &ok), 3.5);
    assert_true(ok);
    /* Two samples: the first step only: sf*v1 + (1-sf)*(v0 + (v1-v0)) = v1 */
    assert_close(prom_double_exponential_smoothing(s, 2, 0.3, 0.7, &ok), 2);
    prom_double_exponential_smoothing(s, 1, 0.5, 0.5, &ok);
    assert_false(ok);
    prom_double_exponential_smoothing(s, 3, 1, 0.5, &ok);
    assert_false(ok);
    prom_double_exponential_smoothing(s, 3, 0.5, 0, &ok);
    assert_false(ok);
}

static void test_bucket_quantile(void **state) {
    /* histograms.test "positive" histogram at 50m, shuffled. */
    prom_bucket_t b[] = {{INFINITY, 120}, {0.2, 70}, {0.1, 50}, {1, 110}};
    size_t n = N(b);
    prom_bucket_fix_t fix;
    /* rank 60 falls in (0.1,0.2]: 0.1 + 0.1*(10/20) */
    assert_close(prom_bucket_quantile(0.5, b, &n, &fix), 0.15);
    assert_false(fix.forced_monotonic);
    n = N(b);
    /* rank 108 in (0.2,1]: 0.2 + 0.8*(38/40) */
    assert_close(prom_bucket_quantile(0.9, b, &n, NULL), 0.96);
    n = N(b);
    /* rank 1.2 in the lowest bucket, interpolated from 0: 0.1*1.2/50 */
    assert_close(prom_bucket_quantile(0.01, b, &n, NULL), 0.0024);
    n = N(b);
    /* rank 120 only reached in +Inf: the second-highest bound */
    assert_close(prom_bucket_quantile(1, b, &n, NULL), 1);
    n = N(b);
    assert_close(prom_bucket_quantile(0, b, &n, NULL), 0);
    n = N(b);
    assert_close(prom_bucket_quantile(-0.1, b, &n, NULL), -INFINITY);
    assert_close(prom_bucket_quantile(1.1, b, &n, NULL), INFINITY);
    assert_close(prom_bucket_quantile(NAN, b, &n, NULL), NAN);

    /* lowest bound <= 0: a rank there returns that bound */
    prom_bucket_t neg[] = {{-0.2, 10}, {-0.1, 20}, {0.3, 20}, {INFINITY, 30}};
    n = N(neg);
    assert_close(prom_bucket_quantile(0.2, neg, &n, NULL), -0.2);
    n = N(neg);
    /* rank 15 in (-0.2,-0.1]: -0.2 + 0.1*0.5 */
    assert_close(prom_bucket_quantile(0.5, neg, &n, NULL), -0.15);

    /* no +Inf bucket, a single bucket, zero observations: NaN */
    prom_bucket_t noinf[] = {{1, 10}, {2, 20}};
    n = N(noinf);
    assert_close(prom_bucket_quantile(0.5, noinf, &n, NULL), NAN);
    prom_bucket_t one[] = {{INFINITY, 10}};
    n = 1;
    assert_close(prom_bucket_quantile(0.5, one, &n, NULL), NAN);
    prom_bucket_t zero[] = {{1, 0}, {INFINITY, 0}};
    n = 2;
    assert_close(prom_bucket_quantile(0.5, zero, &n, NULL), NAN);
    n = 0;
    assert_close(prom_bucket_quantile(0.5, zero, &n, NULL), NAN);
}

static void test_bucket_quantile_monotonicity(void **state) {
    /* histograms.test nonmonotonic_bucket at 50m: 20 10 50 40 90 80 becomes
     * 20 20 50 50 90 90. */
    prom_bucket_t src[] = {{0.1, 20}, {1, 10}, {10, 50}, {100, 40}, {1000, 90}, {INFINITY, 80}};
    prom_bucket_t b[6];
    double qs[] = {0.01, 0.5, 0.99}, want[] = {0.0045, 8.5, 979.75};
    for (int i = 0; i < 3; i++) {
        memcpy(b, src, sizeof b);
        size_t n = 6;
        prom_bucket_fix_t fix;
        assert_close(prom_bucket_quantile(qs[i], b, &n, &fix), want[i]);
        assert_true(fix.forced_monotonic);
        assert_close(fix.min_bucket, 1);
        assert_close(fix.max_bucket, INFINITY);
        assert_close(fix.max_diff, 10);
    }
    /* A tiny difference is ironed out silently, without the info. */
    prom_bucket_t p[] = {{1, 10}, {2, 10 - 1e-14}, {INFINITY, 20}};
    size_t n = 3;
    prom_bucket_fix_t fix;
    /* rank 10 is reached at le=1: 0 + 1*10/10 */
    assert_close(prom_bucket_quantile(0.5, p, &n, &fix), 1);
    assert_close(p[1].count, 10);
    assert_false(fix.forced_monotonic);
    assert_true(fix.fixed_precision);
    /* Duplicate bounds ("1" and "1.0") are merged by summing. */
    prom_bucket_t d[] = {{1, 5}, {1, 5}, {INFINITY, 20}};
    n = 3;
    assert_close(prom_bucket_quantile(0.25, d, &n, NULL), 0.5);
    assert_int_equal(n, 2);
}

static void test_bucket_fraction(void **state) {
    /* histograms.test testhistogram2 at 50m: le 0:0 2:10 4:20 6:30 +Inf:30 */
    prom_bucket_t h2[] = {{0, 0}, {2, 10}, {4, 20}, {6, 30}, {INFINITY, 30}};
    prom_bucket_t b[5];
    size_t n;
#define FRAC(lo, hi, src, want)                                                                                        \
    do {                                                                                                               \
        memcpy(b, src, sizeof src);                                                                                    \
        n = N(src);                                                                                                    \
        assert_close(prom_bucket_fraction(lo, hi, b, &n), want);                                                       \
    } while (0)
    FRAC(0, 4, h2, 20.0 / 30);
    FRAC(0, 6, h2, 1);
    FRAC(0, 3.5, h2, 17.5 / 30); /* 10 + 10*(1.5/2) below 3.5 */
    FRAC(4, 0, h2, 0);
    FRAC(NAN, 1, h2, NAN);
    /* positive lowest bucket starts at 0: [0,1] full (1) + half of (1,2] (1) */
    prom_bucket_t pos[] = {{1, 1}, {2, 3}, {3, 6}, {INFINITY, 100}};
    FRAC(0, 1.5, pos, 0.02);
    FRAC(-INFINITY, INFINITY, pos, 1);
    FRAC(3.5, 10, pos, 0); /* both inside the +Inf bucket: nothing */
    /* negative lowest bucket reaches -Inf: no partial count from it */
    prom_bucket_t neg[] = {{-3, 10}, {-2, 12}, {-1, 15}, {INFINITY, 100}};
    FRAC(-4, -2, neg, 0.02);
    FRAC(-INFINITY, -1.5, neg, 0.135); /* 10 + 2 + 1.5 */
    FRAC(-INFINITY, INFINITY, neg, 1);
    prom_bucket_t noinf[] = {{1, 1}, {2, 3}};
    FRAC(0, 1, noinf, NAN);
    prom_bucket_t empty[] = {{1, 0}, {INFINITY, 0}};
    FRAC(0, 1, empty, NAN);
#undef FRAC
}

static void test_almost_equal(void **state) {
    assert_true(prom_almost_equal(1, 1 + 1e-7, 1e-6));
    assert_false(prom_almost_equal(1, 1 + 1e-5, 1e-6));
    assert_true(prom_almost_equal(NAN, pl_stale_nan(), 1e-6));
    assert_true(prom_almost_equal(0, 0, 1e-6));
    assert_false(prom_almost_equal(0, 1e-300, 1e-6));
    assert_true(prom_almost_equal(INFINITY, INFINITY, 1e-6));
    assert_false(prom_almost_equal(INFINITY, -INFINITY, 1e-6));
    assert_false(prom_almost_equal(INFINITY, DBL_MAX, 1e-6));
}

PL_TEST_MAIN(cmocka_unit_test(test_rate_regular_series), cmocka_unit_test(test_rate_counter_reset),
             cmocka_unit_test(test_rate_zero_point_clamp), cmocka_unit_test(test_rate_series_starts_and_ends_inside),
             cmocka_unit_test(test_rate_needs_two_samples), cmocka_unit_test(test_extended_rate),
             cmocka_unit_test(test_irate_idelta), cmocka_unit_test(test_deriv_predict_linear),
             cmocka_unit_test(test_changes_resets), cmocka_unit_test(test_sum_avg_kahan),
             cmocka_unit_test(test_min_max_first_last), cmocka_unit_test(test_stddev_stdvar),
             cmocka_unit_test(test_quantile_mad), cmocka_unit_test(test_double_exponential_smoothing),
             cmocka_unit_test(test_bucket_quantile), cmocka_unit_test(test_bucket_quantile_monotonicity),
             cmocka_unit_test(test_bucket_fraction), cmocka_unit_test(test_almost_equal))
