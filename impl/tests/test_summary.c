/* test_summary.c — util/summary: nearest-rank quantiles, the 10-minute
 * window, the ring and the text format. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/summary.h"

static void test_nearest_rank(void **state) {
    (void)state;
    double v[100];
    for (int i = 0; i < 100; i++) v[i] = i + 1; /* 1..100 */
    assert_true(pl_quantile_nearest_rank(v, 100, 0.99) == 99); /* the 99th smallest, not interpolated */
    assert_true(pl_quantile_nearest_rank(v, 100, 0.5) == 50);
    assert_true(pl_quantile_nearest_rank(v, 100, 0.01) == 1);
    assert_true(pl_quantile_nearest_rank(v, 100, 0) == 1);
    assert_true(pl_quantile_nearest_rank(v, 100, 1) == 100);
    assert_true(pl_quantile_nearest_rank(v, 10, 0.9) == 9); /* 0.9 * 10 stays 9 */
    assert_true(pl_quantile_nearest_rank(v, 3, 0.5) == 2);
    assert_true(pl_quantile_nearest_rank(v, 1, 0.99) == 1);
    assert_true(isnan(pl_quantile_nearest_rank(v, 0, 0.5)));
    assert_true(isnan(pl_quantile_nearest_rank(v, 100, NAN)));
    double u[] = {3, 1, 2, -5, 10};
    pl_sort_doubles(u, 5);
    assert_true(u[0] == -5 && u[1] == 1 && u[2] == 2 && u[3] == 3 && u[4] == 10);
}

static void test_window_and_ring(void **state) {
    (void)state;
    pl_summary_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    const double qs[] = {0.5, 1};
    double out[2];
    /* 10 old observations (value 100), then 10 recent ones (1..10). */
    for (int i = 0; i < 10; i++) pl_summary_observe(s, 100, 0);
    for (int i = 1; i <= 10; i++) pl_summary_observe(s, i, PL_SUMMARY_MAX_AGE_MS + 1000);
    pl_summary_quantiles(s, PL_SUMMARY_MAX_AGE_MS + 2000, PL_SUMMARY_MAX_AGE_MS, qs, 2, out);
    assert_true(out[0] == 5 && out[1] == 10); /* the old ones aged out */
    pl_summary_quantiles(s, PL_SUMMARY_MAX_AGE_MS + 2000, 0, qs, 2, out);
    assert_true(out[1] == 100); /* no maximum age: all kept */
    assert_true(s->sum == 1000 + 55 && s->count == 20);
    /* Past the ring's size the oldest observations are dropped; sum and count stay whole. */
    for (int i = 0; i < PL_SUMMARY_RING; i++) pl_summary_observe(s, 7, 5000000);
    pl_summary_quantiles(s, 5000000, 0, qs, 2, out);
    assert_true(out[0] == 7 && out[1] == 7);
    assert_int_equal(s->n, PL_SUMMARY_RING);
    assert_true(s->count == 20 + PL_SUMMARY_RING);
    /* Nothing in the window: NaN. */
    pl_summary_quantiles(s, 5000000 + PL_SUMMARY_MAX_AGE_MS, PL_SUMMARY_MAX_AGE_MS, qs, 2, out);
    assert_true(isnan(out[0]) && isnan(out[1]));
    free(s);
}

static void test_write(void **state) {
    (void)state;
    pl_summary_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    pl_summary_observe(s, 0.25, 1000);
    pl_summary_observe(s, 0.75, 1000);
    const double qs[] = {0.5, 0.99};
    strbuf_t sb = {0};
    pl_summary_write(&sb, "x_seconds", "slice=\"a\"", s, 2000, qs, 2);
    assert_string_equal(sb.data, "x_seconds{slice=\"a\",quantile=\"0.5\"} 0.25\n"
                                 "x_seconds{slice=\"a\",quantile=\"0.99\"} 0.75\n"
                                 "x_seconds_sum{slice=\"a\"} 1\n"
                                 "x_seconds_count{slice=\"a\"} 2\n");
    strbuf_reset(&sb);
    pl_summary_write(&sb, "y", "", s, 2000 + PL_SUMMARY_MAX_AGE_MS, qs, 1);
    assert_string_equal(sb.data, "y{quantile=\"0.5\"} NaN\ny_sum 1\ny_count 2\n");
    strbuf_free(&sb);
    free(s);
}

PL_TEST_MAIN(cmocka_unit_test(test_nearest_rank), cmocka_unit_test(test_window_and_ring),
             cmocka_unit_test(test_write))
