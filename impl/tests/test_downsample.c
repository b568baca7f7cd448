/* test_downsample.c — Thanos's downsampling arithmetic (compact/downsample.h)
 * checked against brute force over the raw samples: windows, count / sum /
 * min / max, the counter aggregate across resets, 5m -> 1h against raw -> 1h,
 * and downsample_block on real blocks (meta, encodings, the raw reader
 * refusing aggregate chunks, corrupt input). */
#include "testutil.h"

#include <jansson.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compact/downsample.h"
#include "tsdb/block.h"

#define T0 1700000000000LL /* not aligned to 5m or 1h on purpose? 1700000000000 % 300000 = 200000 */
#define MIN 60000LL

static sample_t *gen(size_t n, int64_t step, int kind) {
    sample_t *s = calloc(n, sizeof *s);
    double c = 100;
    for (size_t i = 0; i < n; i++) {
        s[i].t = T0 + (int64_t)i * step + (int64_t)(i % 7) * 13; /* a little jitter */
        if (kind == 0)
            s[i].v = sin((double)i / 17.0) * 50 + (double)(i % 11);
        else {
            c += (double)(i % 5);
            if (i % 400 == 399) c = (double)(i % 3); /* counter reset */
            s[i].v = c;
        }
    }
    return s;
}

typedef struct win {
    int64_t key; /* window index t / res */
    double count, sum, min, max;
} win_t;

/* Brute force: per window of res, over raw samples. */
static size_t brute(const sample_t *s, size_t n, int64_t res, win_t *w) {
    size_t nw = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t k = s[i].t / res;
        if (nw == 0 || w[nw - 1].key != k) w[nw++] = (win_t){k, 0, 0, INFINITY, -INFINITY};
        win_t *x = &w[nw - 1];
        x->count++;
        x->sum += s[i].v;
        if (s[i].v < x->min) x->min = s[i].v;
        if (s[i].v > x->max) x->max = s[i].v;
    }
    return nw;
}

/* Windows of downsampled chunks, combining the pieces of a window that a
 * chunk boundary split (5m -> 1h can split an hour between two chunks). */
static size_t collect(const ds_chunks_t *ds, int64_t res, win_t *w, aggrchunk_t *parsed) {
    size_t nw = 0;
    pl_err_t err = {{0}};
    for (size_t c = 0; c < ds->n; c++) {
        aggrchunk_t ac;
        assert_int_equal(aggrchunk_parse(ds->v[c].data, ds->v[c].len, &ac, &err), 0);
        if (parsed) parsed[c] = ac;
        sample_t *a[AGGR_N] = {0};
        size_t n[AGGR_N] = {0}, cap[AGGR_N] = {0};
        for (int t = 0; t < AGGR_N; t++) {
            assert_true(ac.sub[t].present);
            assert_int_equal(aggrchunk_append_samples(&ac, (enum aggr_type)t, &a[t], &n[t], &cap[t], &err), 0);
        }
        assert_int_equal(n[AGGR_SUM], n[AGGR_COUNT]);
        assert_int_equal(n[AGGR_COUNTER], n[AGGR_COUNT] + 2);
        assert_int_equal(a[AGGR_COUNT][0].t, ds->v[c].mint);
        assert_int_equal(a[AGGR_COUNT][n[AGGR_COUNT] - 1].t, ds->v[c].maxt);
        for (size_t i = 0; i < n[AGGR_COUNT]; i++) {
            int64_t t = a[AGGR_COUNT][i].t;
            assert_int_equal(a[AGGR_SUM][i].t, t);
            assert_int_equal(a[AGGR_MIN][i].t, t);
            assert_int_equal(a[AGGR_MAX][i].t, t);
            /* every window sample sits at the window's last ms, or (last of the chunk) earlier */
            if (i + 1 < n[AGGR_COUNT]) assert_int_equal(t % res, res - 1);
            int64_t k = t / res;
            if (nw > 0 && w[nw - 1].key == k) {
                win_t *x = &w[nw - 1];
                x->count += a[AGGR_COUNT][i].v;
                x->sum += a[AGGR_SUM][i].v;
                x->min = fmin(x->min, a[AGGR_MIN][i].v);
                x->max = fmax(x->max, a[AGGR_MAX][i].v);
            } else {
                w[nw++] = (win_t){k, a[AGGR_COUNT][i].v, a[AGGR_SUM][i].v, a[AGGR_MIN][i].v, a[AGGR_MAX][i].v};
            }
        }
        for (int t = 0; t < AGGR_N; t++) free(a[t]);
    }
    return nw;
}

static void assert_windows_equal(const win_t *a, size_t na, const win_t *b, size_t nb) {
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        assert_int_equal(a[i].key, b[i].key);
        assert_true(a[i].count == b[i].count);
        assert_true(a[i].min == b[i].min);
        assert_true(a[i].max == b[i].max);
        assert_true(fabs(a[i].sum - b[i].sum) <= 1e-9 * fmax(1, fabs(a[i].sum)));
    }
}

static void test_window_end(void **state) {
    (void)state;
    assert_int_equal(downsample_window_end(0, 300000), 299999);
    assert_int_equal(downsample_window_end(299999, 300000), 299999);
    assert_int_equal(downsample_window_end(300000, 300000), 599999);
    assert_int_equal(downsample_window_end(T0, 3600000), T0 - T0 % 3600000 + 3599999);
}

static void test_raw_windows(void **state) {
    (void)state;
    size_t n = 3 * 24 * 60; /* 3 days at 1m: several chunks */
    sample_t *s = gen(n, MIN, 0);
    s[100].v = NAN; /* dropped, as Thanos drops NaN */
    ds_chunks_t ds = {0};
    pl_err_t err = {{0}};
    assert_int_equal(downsample_raw(s, n, DOWNSAMPLE_RES_5M, &ds, &err), 0);
    assert_true(ds.n > 1);
    for (size_t c = 1; c < ds.n; c++) {
        assert_true(ds.v[c].mint > ds.v[c - 1].maxt);                                  /* no overlap */
        assert_true(ds.v[c].mint / DOWNSAMPLE_RES_5M > ds.v[c - 1].maxt / DOWNSAMPLE_RES_5M); /* chunks end on windows */
    }
    /* brute force without the NaN */
    sample_t *clean = calloc(n, sizeof *clean);
    size_t nc = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(s[i].v)) clean[nc++] = s[i];
    win_t *wb = calloc(n, sizeof *wb), *wd = calloc(n, sizeof *wd);
    size_t nb = brute(clean, nc, DOWNSAMPLE_RES_5M, wb);
    size_t nd = collect(&ds, DOWNSAMPLE_RES_5M, wd, NULL);
    assert_windows_equal(wd, nd, wb, nb);
    /* the last window of the series sits on the last raw sample */
    aggrchunk_t ac;
    assert_int_equal(aggrchunk_parse(ds.v[ds.n - 1].data, ds.v[ds.n - 1].len, &ac, &err), 0);
    assert_int_equal(ds.v[ds.n - 1].maxt, s[n - 1].t);
    ds_chunks_free(&ds);
    free(s);
    free(clean);
    free(wb);
    free(wd);
}

/* The counter aggregate read with resets applied gives the raw increase. */
static double raw_increase(const sample_t *s, size_t n) {
    double inc = 0;
    for (size_t i = 1; i < n; i++)
        inc += s[i].v >= s[i - 1].v ? s[i].v - s[i - 1].v : s[i].v;
    return inc;
}

static double counter_increase(const ds_chunks_t *ds, sample_t **out, size_t *nout) {
    aggr_counter_state_t st = {0};
    pl_err_t err = {{0}};
    double first = NAN, last = NAN;
    size_t cap = 0;
    *nout = 0;
    for (size_t c = 0; c < ds->n; c++) {
        aggrchunk_t ac;
        assert_int_equal(aggrchunk_parse(ds->v[c].data, ds->v[c].len, &ac, &err), 0);
        xor_iter_t it;
        assert_true(aggrchunk_iter(&ac, AGGR_COUNTER, &it));
        while (xor_iter_next(&it)) {
            int64_t t, ot;
            double v, ov;
            xor_iter_at(&it, &t, &v);
            if (aggr_counter_feed(&st, t, v, &ot, &ov)) {
                if (isnan(first)) first = ov;
                last = ov;
                if (out) {
                    if (*nout == cap) {
                        cap = cap ? cap * 2 : 256;
                        *out = realloc(*out, cap * sizeof **out);
                    }
                    (*out)[(*nout)++] = (sample_t){ot, ov};
                }
            }
        }
    }
    return last - first;
}

static void test_counter_resets(void **state) {
    (void)state;
    size_t n = 4 * 24 * 60;
    sample_t *s = gen(n, MIN, 1);
    /* a reset exactly on a chunk boundary is the hard case: force several */
    ds_chunks_t ds = {0};
    pl_err_t err = {{0}};
    assert_int_equal(downsample_raw(s, n, DOWNSAMPLE_RES_5M, &ds, &err), 0);
    assert_true(ds.n > 2);
    double want = raw_increase(s, n);
    sample_t *adj = NULL;
    size_t nadj = 0;
    double got = counter_increase(&ds, &adj, &nadj);
    assert_true(want > 0);
    assert_true(fabs(got - want) < 1e-6);
    for (size_t i = 1; i < nadj; i++) assert_true(adj[i].v >= adj[i - 1].v && adj[i].t > adj[i - 1].t);
    free(adj);

    /* Reset between two chunks: make the first sample of chunk 2 lower than chunk 1's last. */
    ds_chunks_reset(&ds);
    sample_t two[] = {{0, 5}, {60000, 8}, {120000, 9}, {300000, 1}, {360000, 4}};
    assert_int_equal(downsample_raw(two, 3, DOWNSAMPLE_RES_5M, &ds, &err), 0);
    assert_int_equal(downsample_raw(two + 3, 2, DOWNSAMPLE_RES_5M, &ds, &err), 0);
    assert_int_equal(ds.n, 2);
    assert_true(counter_increase(&ds, NULL, &nadj) == raw_increase(two, 5)); /* 3+1+1+3 = 8 */
    assert_true(raw_increase(two, 5) == 8);
    ds_chunks_free(&ds);

    /* 5m -> 1h keeps the increase too. */
    assert_int_equal(downsample_raw(s, n, DOWNSAMPLE_RES_5M, &ds, &err), 0);
    aggrchunk_t *p = calloc(ds.n, sizeof *p);
    for (size_t c = 0; c < ds.n; c++) assert_int_equal(aggrchunk_parse(ds.v[c].data, ds.v[c].len, &p[c], &err), 0);
    ds_chunks_t h = {0};
    assert_int_equal(downsample_aggr(p, ds.n, ds.v[0].mint, ds.v[ds.n - 1].maxt, DOWNSAMPLE_RES_5M, DOWNSAMPLE_RES_1H,
                                     &h, &err),
                     0);
    assert_true(fabs(counter_increase(&h, NULL, &nadj) - want) < 1e-6);
    free(p);
    ds_chunks_free(&h);
    ds_chunks_free(&ds);
    free(s);
}

static void test_5m_to_1h_equals_raw_to_1h(void **state) {
    (void)state;
    size_t n = 15 * 24 * 60; /* 15 days at 1m */
    sample_t *s = gen(n, MIN, 0);
    pl_err_t err = {{0}};
    ds_chunks_t d5 = {0}, d1h = {0}, direct = {0};
    assert_int_equal(downsample_raw(s, n, DOWNSAMPLE_RES_5M, &d5, &err), 0);
    aggrchunk_t *p = calloc(d5.n, sizeof *p);
    win_t *w5 = calloc(n, sizeof *w5);
    collect(&d5, DOWNSAMPLE_RES_5M, w5, p);
    assert_int_equal(downsample_aggr(p, d5.n, d5.v[0].mint, d5.v[d5.n - 1].maxt, DOWNSAMPLE_RES_5M, DOWNSAMPLE_RES_1H,
                                     &d1h, &err),
                     0);
    assert_int_equal(downsample_raw(s, n, DOWNSAMPLE_RES_1H, &direct, &err), 0);
    win_t *a = calloc(n, sizeof *a), *b = calloc(n, sizeof *b), *c = calloc(n, sizeof *c);
    size_t na = collect(&d1h, DOWNSAMPLE_RES_1H, a, NULL);
    size_t nb = collect(&direct, DOWNSAMPLE_RES_1H, b, NULL);
    size_t nc = brute(s, n, DOWNSAMPLE_RES_1H, c);
    assert_int_equal(nc, 15 * 24 + (T0 % DOWNSAMPLE_RES_1H != 0)); /* the hours the data touches */
    assert_windows_equal(a, na, b, nb);
    assert_windows_equal(b, nb, c, nc);
    /* the 1h chunks are fewer and hold at most ~140 windows each */
    assert_true(d1h.n < d5.n);
    free(p);
    free(w5);
    free(a);
    free(b);
    free(c);
    ds_chunks_free(&d5);
    ds_chunks_free(&d1h);
    ds_chunks_free(&direct);
    free(s);
}


/* ---- behaviour vectors from Thanos's own downsampling tests ------------------
 * Inputs and expected aggregates as Thanos documents them in
 * pkg/compact/downsample/downsample_test.go (small cases, re-typed). */

#define STALE_NAN_V (stale_nan())
static double stale_nan(void) {
    uint64_t b = 0x7ff0000000000002ull;
    double v;
    memcpy(&v, &b, 8);
    return v;
}

typedef struct vec {
    const sample_t *s;
    size_t n;
} vec_t;
#define VEC(...) {(const sample_t[]){__VA_ARGS__}, sizeof((const sample_t[]){__VA_ARGS__}) / sizeof(sample_t)}

/* Asserts that chunk c's five aggregates are exactly want[0..4]. */
static void assert_chunk(const ds_chunk_t *c, const vec_t want[AGGR_N]) {
    aggrchunk_t ac;
    pl_err_t err = {{0}};
    assert_int_equal(aggrchunk_parse(c->data, c->len, &ac, &err), 0);
    for (int t = 0; t < AGGR_N; t++) {
        sample_t *got = NULL;
        size_t n = 0, cap = 0;
        assert_int_equal(aggrchunk_append_samples(&ac, (enum aggr_type)t, &got, &n, &cap, &err), 0);
        if (n != want[t].n) fail_msg("aggregate %s: %zu samples, want %zu", aggr_type_name((enum aggr_type)t), n, want[t].n);
        for (size_t i = 0; i < n; i++)
            if (got[i].t != want[t].s[i].t || got[i].v != want[t].s[i].v)
                fail_msg("aggregate %s sample %zu: (%lld, %g), want (%lld, %g)", aggr_type_name((enum aggr_type)t), i,
                         (long long)got[i].t, got[i].v, (long long)want[t].s[i].t, want[t].s[i].v);
        free(got);
    }
}

static void test_thanos_vectors_raw(void **state) {
    (void)state;
    pl_err_t err = {{0}};
    ds_chunks_t ds = {0};
    /* "single chunk", resolution 100 (a stale marker inside is dropped) */
    sample_t one[] = {{20, 1}, {40, 2}, {60, 3}, {80, 1}, {100, 2}, {101, STALE_NAN_V}, {120, 5}, {180, 10}, {250, 1}};
    assert_int_equal(downsample_raw(one, 9, 100, &ds, &err), 0);
    assert_int_equal(ds.n, 1);
    vec_t w1[AGGR_N] = {VEC({99, 4}, {199, 3}, {250, 1}), VEC({99, 7}, {199, 17}, {250, 1}), VEC({99, 1}, {199, 2}, {250, 1}),
                        VEC({99, 3}, {199, 10}, {250, 1}), VEC({20, 1}, {99, 4}, {199, 13}, {250, 14}, {250, 1})};
    assert_chunk(&ds.v[0], w1);
    ds_chunks_reset(&ds);
    /* "three chunks": the series' samples in one run */
    sample_t three[] = {{20, 1},  {40, 2},   {60, 3},   {80, 1},   {100, 2},  {101, STALE_NAN_V}, {120, 5},
                        {180, 10}, {250, 2},  {260, 1},  {300, 10}, {340, 15}, {380, 25},          {420, 35},
                        {460, STALE_NAN_V}, {500, 10}, {540, 3}};
    assert_int_equal(downsample_raw(three, sizeof three / sizeof three[0], 100, &ds, &err), 0);
    assert_int_equal(ds.n, 1);
    vec_t w3[AGGR_N] = {VEC({99, 4}, {199, 3}, {299, 2}, {399, 3}, {499, 1}, {540, 2}),
                        VEC({99, 7}, {199, 17}, {299, 3}, {399, 50}, {499, 35}, {540, 13}),
                        VEC({99, 1}, {199, 2}, {299, 1}, {399, 10}, {499, 35}, {540, 3}),
                        VEC({99, 3}, {199, 10}, {299, 2}, {399, 25}, {499, 35}, {540, 10}),
                        VEC({20, 1}, {99, 4}, {199, 13}, {299, 16}, {399, 40}, {499, 50}, {540, 63}, {540, 3})};
    assert_chunk(&ds.v[0], w3);
    ds_chunks_free(&ds);
}

static void encode_aggr(const vec_t in[AGGR_N], strbuf_t *sb, aggrchunk_t *ac) {
    const sample_t *s[AGGR_N];
    size_t n[AGGR_N];
    pl_err_t err = {{0}};
    for (int t = 0; t < AGGR_N; t++) {
        s[t] = in[t].s;
        n[t] = in[t].n;
    }
    assert_int_equal(aggrchunk_encode(s, n, sb, &err), 0);
    assert_int_equal(aggrchunk_parse((const uint8_t *)sb->data, sb->len, ac, &err), 0);
}

static void test_thanos_vectors_aggr(void **state) {
    (void)state;
    pl_err_t err = {{0}};
    /* "single aggregated chunks" to resolution 500 (input resolution below it) */
    vec_t in[AGGR_N] = {VEC({199, 5}, {299, 1}, {399, 10}, {400, 3}, {499, 10}, {699, 0}, {999, 100}),
                        VEC({199, 5}, {299, 1}, {399, 10}, {400, 3}, {499, 10}, {699, 0}, {999, 100}),
                        VEC({199, 5}, {299, 1}, {399, 10}, {400, -3}, {499, 10}, {699, 0}, {999, 100}),
                        VEC({199, 5}, {299, 1}, {399, 10}, {400, -3}, {499, 10}, {699, 0}, {999, 100}),
                        VEC({99, 100}, {299, 150}, {499, 210}, {499, 10}, {599, 20}, {799, 50}, {999, 120}, {999, 50},
                            {1099, 40}, {1199, 80}, {1299, 110})};
    strbuf_t b1 = STRBUF_INIT, b2 = STRBUF_INIT;
    aggrchunk_t ac[2];
    encode_aggr(in, &b1, &ac[0]);
    ds_chunks_t ds = {0};
    assert_int_equal(downsample_aggr(ac, 1, 99, 1299, 499, 500, &ds, &err), 0);
    assert_int_equal(ds.n, 1);
    vec_t w[AGGR_N] = {VEC({499, 29}, {999, 100}), VEC({499, 29}, {999, 100}), VEC({499, -3}, {999, 0}),
                       VEC({499, 10}, {999, 100}), VEC({99, 100}, {499, 210}, {999, 320}, {1299, 430}, {1299, 110})};
    assert_chunk(&ds.v[0], w);
    ds_chunks_reset(&ds);
    /* "two aggregated chunks" */
    vec_t in2[AGGR_N] = {VEC({1399, 10}, {1400, 3}, {1499, 10}, {1699, 0}, {1999, 100}),
                         VEC({1399, 10}, {1400, 3}, {1499, 10}, {1699, 0}, {1999, 100}),
                         VEC({1399, 10}, {1400, -3}, {1499, 10}, {1699, 0}, {1999, 100}),
                         VEC({1399, 10}, {1400, -3}, {1499, 10}, {1699, 0}, {1999, 100}),
                         VEC({1499, 210}, {1499, 10}, {1599, 20}, {1799, 50}, {1999, 120}, {1999, 50}, {2099, 40},
                             {2199, 80}, {2299, 110})};
    encode_aggr(in2, &b2, &ac[1]);
    assert_int_equal(downsample_aggr(ac, 2, 99, 2299, 499, 500, &ds, &err), 0);
    assert_int_equal(ds.n, 1);
    vec_t w2[AGGR_N] = {VEC({499, 29}, {999, 100}, {1499, 23}, {1999, 100}), VEC({499, 29}, {999, 100}, {1499, 23}, {1999, 100}),
                        VEC({499, -3}, {999, 0}, {1499, -3}, {1999, 0}), VEC({499, 10}, {999, 100}, {1499, 10}, {1999, 100}),
                        VEC({99, 100}, {499, 210}, {999, 320}, {1499, 530}, {1999, 640}, {2299, 750}, {2299, 110})};
    assert_chunk(&ds.v[0], w2);
    ds_chunks_free(&ds);
    strbuf_free(&b1);
    strbuf_free(&b2);
}

/* Counter resets on chunk boundaries (Thanos issue 1568): one chunk per
 * window, then two windows per 100 ms chunk. */
static void test_thanos_vectors_counter_boundary(void **state) {
    (void)state;
    pl_err_t err = {{0}};
    sample_t raw[] = {{10, 1},  {20, 3},  {30, 5},  {50, 1},  {60, 8},  {70, 10},
                      {120, 1}, {130, 18}, {140, 20}, {160, 21}, {170, 38}, {180, 40}};
    ds_chunks_t ds = {0}, agg = {0};
    assert_int_equal(downsample_raw_n(raw, 12, 50, 13, &ds, &err), 0);
    assert_int_equal(ds.n, 4);
    const sample_t want_counter[4][3] = {{{10, 1}, {30, 5}, {30, 5}},
                                         {{50, 1}, {70, 10}, {70, 10}},
                                         {{120, 1}, {140, 20}, {140, 20}},
                                         {{160, 21}, {180, 40}, {180, 40}}};
    aggrchunk_t ac[4];
    for (size_t c = 0; c < 4; c++) {
        assert_int_equal(aggrchunk_parse(ds.v[c].data, ds.v[c].len, &ac[c], &err), 0);
        sample_t *got = NULL;
        size_t n = 0, cap = 0;
        assert_int_equal(aggrchunk_append_samples(&ac[c], AGGR_COUNTER, &got, &n, &cap, &err), 0);
        assert_int_equal(n, 3);
        for (size_t i = 0; i < 3; i++) assert_true(got[i].t == want_counter[c][i].t && got[i].v == want_counter[c][i].v);
        free(got);
    }
    sample_t *it = NULL;
    size_t n = 0, cap = 0;
    assert_int_equal(aggrchunk_series_samples(ac, 4, AGGR_COUNTER, &it, &n, &cap, &err), 0);
    const sample_t want_it[] = {{10, 1}, {30, 5}, {50, 6}, {70, 15}, {120, 16}, {140, 35}, {160, 36}, {180, 55}};
    assert_int_equal(n, 8);
    for (size_t i = 0; i < n; i++) assert_true(it[i].t == want_it[i].t && it[i].v == want_it[i].v);
    assert_int_equal(downsample_aggr_n(ac, 4, 100, 2, &agg, &err), 0);
    assert_int_equal(agg.n, 2);
    const sample_t want_agg[2][3] = {{{10, 1}, {70, 15}, {70, 10}}, {{120, 1}, {180, 40}, {180, 40}}};
    aggrchunk_t ac2[2];
    for (size_t c = 0; c < 2; c++) {
        assert_int_equal(aggrchunk_parse(agg.v[c].data, agg.v[c].len, &ac2[c], &err), 0);
        sample_t *got = NULL;
        size_t m = 0, mc = 0;
        assert_int_equal(aggrchunk_append_samples(&ac2[c], AGGR_COUNTER, &got, &m, &mc, &err), 0);
        assert_int_equal(m, 3);
        for (size_t i = 0; i < 3; i++) assert_true(got[i].t == want_agg[c][i].t && got[i].v == want_agg[c][i].v);
        free(got);
    }
    n = 0;
    assert_int_equal(aggrchunk_series_samples(ac2, 2, AGGR_COUNTER, &it, &n, &cap, &err), 0);
    const sample_t want_it2[] = {{10, 1}, {70, 15}, {120, 16}, {180, 55}};
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) assert_true(it[i].t == want_it2[i].t && it[i].v == want_it2[i].v);
    free(it);
    ds_chunks_free(&ds);
    ds_chunks_free(&agg);
}
/* ---- blocks ---------------------------------------------------------------- */

static char tmpdir[256];

static void rmrf(const char *p) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    assert_int_equal(system(cmd), 0);
}

static void make_raw_block(const char *parent, char ulid[27]) {
    block_builder_t *b = block_builder_new(BLOCK_DEFAULT_RANGE_MS);
    pl_err_t err = {{0}};
    size_t n = 3 * 24 * 60;
    for (int k = 0; k < 3; k++) {
        char inst[16];
        snprintf(inst, sizeof inst, "i%d", k);
        label_t ls[] = {{"__name__", k == 2 ? "reqs_total" : "temp"}, {"instance", inst}};
        sample_t *s = gen(n, MIN, k == 2);
        assert_int_equal(block_builder_add_series(b, ls, 2, s, n, &err), 0);
        free(s);
    }
    json_error_t je;
    json_t *th = json_loads("{\"version\":1,\"labels\":{\"cluster\":\"eu1\"},\"downsample\":{\"resolution\":0},"
                            "\"source\":\"sidecar\",\"files\":[{\"rel_path\":\"index\"}]}",
                            0, &je);
    assert_non_null(th);
    block_meta_t base = {0};
    base.level = 3;
    base.thanos = th;
    block_write_opts_t o = {.min_time = T0, .max_time = T0 + (int64_t)n * MIN, .meta_base = &base};
    assert_int_equal(block_builder_write(b, parent, &o, ulid, &err), 0);
    assert_int_not_equal(ulid[0], 0);
    json_decref(th);
    block_builder_free(b);
}

static void test_downsample_block(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_downsample.%d", (int)getpid());
    rmrf(tmpdir);
    assert_int_equal(mkdir(tmpdir, 0777), 0);
    char raw[27], d5[27], d1h[27], p[512];
    make_raw_block(tmpdir, raw);
    pl_err_t err = {{0}};
    snprintf(p, sizeof p, "%s/%s", tmpdir, raw);
    assert_int_equal(downsample_block(p, DOWNSAMPLE_RES_5M, tmpdir, d5, &err), 0);
    block_t *src = block_open(p, &err);
    snprintf(p, sizeof p, "%s/%s", tmpdir, d5);
    block_t *b = block_open(p, &err);
    assert_non_null(b);
    assert_int_equal(downsample_meta_resolution(&b->meta), DOWNSAMPLE_RES_5M);
    json_t *th = b->meta.thanos;
    assert_string_equal(json_string_value(json_object_get(th, "source")), "compactor");
    assert_string_equal(json_string_value(json_object_get(json_object_get(th, "labels"), "cluster")), "eu1");
    assert_null(json_object_get(th, "files"));
    assert_int_equal(b->meta.min_time, src->meta.min_time);
    assert_int_equal(b->meta.max_time, src->meta.max_time);
    assert_int_equal(b->meta.level, 3);
    assert_int_equal(b->meta.num_series, 3);
    assert_int_equal(b->meta.nsources, 1);
    assert_string_equal(b->meta.sources[0], raw);
    /* 5m windows of 3 days of 1m data, per series: 864 (+1 for the unaligned start) */
    assert_true(b->meta.num_samples >= 3 * 864 && b->meta.num_samples <= 3 * 866);
    /* chunks are aggregate chunks; the raw sample reader refuses them with a clear error */
    uint32_t *ids;
    size_t nids;
    assert_int_equal(index_reader_postings(b->index, "", "", &ids, &nids, &err), 0);
    assert_int_equal(nids, 3);
    index_series_t s = {0};
    assert_int_equal(index_reader_series(b->index, ids[0], &s, &err), 0);
    uint8_t enc;
    const uint8_t *data;
    size_t len;
    assert_int_equal(chunk_reader_get(b->chunks, s.chks[0].ref, &enc, &data, &len, &err), 0);
    assert_int_equal(enc, AGGRCHUNK_ENCODING);
    block_sample_buf_t buf = {0};
    assert_int_equal(block_series_samples(b, ids[0], &s, INT64_MIN, INT64_MAX, &buf, &err), -1);
    assert_non_null(strstr(err.msg, "unsupported encoding 255"));
    free(buf.v);
    index_series_free(&s);
    free(ids);
    block_close(src);
    block_close(b);

    /* 5m -> 1h */
    assert_int_equal(downsample_block(p, DOWNSAMPLE_RES_1H, tmpdir, d1h, &err), 0);
    char q[512];
    snprintf(q, sizeof q, "%s/%s", tmpdir, d1h);
    b = block_open(q, &err);
    assert_non_null(b);
    assert_int_equal(downsample_meta_resolution(&b->meta), DOWNSAMPLE_RES_1H);
    assert_true(b->meta.num_samples >= 3 * 72 && b->meta.num_samples <= 3 * 74);
    block_close(b);
    /* not again to the same or a finer resolution */
    char x[27];
    assert_int_equal(downsample_block(q, DOWNSAMPLE_RES_5M, tmpdir, x, &err), -1);
    assert_non_null(strstr(err.msg, "already has resolution"));
    assert_int_equal(downsample_block(q, 1234, tmpdir, x, &err), -1);

    /* a corrupt chunk file: an error, nothing left behind */
    char seg[600];
    snprintf(seg, sizeof seg, "%s/chunks/000001", p);
    FILE *f = fopen(seg, "r+b");
    assert_non_null(f);
    fseek(f, 40, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, 40, SEEK_SET);
    fputc(ch ^ 0x55, f);
    fclose(f);
    char **names;
    size_t nn;
    assert_int_equal(block_dir_list(tmpdir, &names, &nn, &err), 0);
    block_dir_list_free(names, nn);
    assert_int_equal(nn, 3);
    assert_int_equal(downsample_block(p, DOWNSAMPLE_RES_1H, tmpdir, x, &err), -1);
    assert_non_null(strstr(err.msg, "series reqs_total{instance=\"i2\"}"));
    assert_non_null(strstr(err.msg, "checksum mismatch"));
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test $(ls '%s' | wc -l) -eq 3", tmpdir);
    assert_int_equal(system(cmd), 0);
    rmrf(tmpdir);
}


/* Tombstones of a raw block are applied: a series deleted entirely is not
 * in the downsampled block, another one loses only its deleted day. */
static void test_downsample_tombstones(void **state) {
    (void)state;
    char dir[256];
    snprintf(dir, sizeof dir, "/tmp/test_downsample_tomb.%d", (int)getpid());
    rmrf(dir);
    assert_int_equal(mkdir(dir, 0777), 0);
    char raw[27], ds[27], p[512];
    make_raw_block(dir, raw);
    snprintf(p, sizeof p, "%s/%s", dir, raw);
    pl_err_t err = {{0}};
    block_t *b = block_open(p, &err);
    uint32_t *ids;
    size_t nids;
    assert_int_equal(index_reader_postings(b->index, "", "", &ids, &nids, &err), 0);
    assert_int_equal(nids, 3);
    tombstones_t ts = {0};
    assert_int_equal(tombstones_add(&ts, ids[0], INT64_MIN, INT64_MAX), 0);  /* all of series 0 */
    assert_int_equal(tombstones_add(&ts, ids[1], T0, T0 + 24 * 3600 * 1000LL - 1), 0); /* day 1 of series 1 */
    block_close(b);
    free(ids);
    char tp[600];
    snprintf(tp, sizeof tp, "%s/tombstones", p);
    assert_int_equal(tombstones_write(tp, &ts, &err), 0);
    tombstones_free(&ts);
    assert_int_equal(downsample_block(p, DOWNSAMPLE_RES_5M, dir, ds, &err), 0);
    snprintf(p, sizeof p, "%s/%s", dir, ds);
    b = block_open(p, &err);
    assert_non_null(b);
    assert_int_equal(b->meta.num_series, 2);
    assert_int_equal(index_reader_postings(b->index, "", "", &ids, &nids, &err), 0);
    index_series_t s = {0};
    assert_int_equal(index_reader_series(b->index, ids[0], &s, &err), 0);
    assert_true(s.chks[0].mint >= T0 + 24 * 3600 * 1000LL); /* its first window is after the deleted day */
    index_series_free(&s);
    free(ids);
    block_close(b);
    rmrf(dir);
}
PL_TEST_MAIN(cmocka_unit_test(test_window_end), cmocka_unit_test(test_raw_windows), cmocka_unit_test(test_counter_resets),
             cmocka_unit_test(test_5m_to_1h_equals_raw_to_1h), cmocka_unit_test(test_thanos_vectors_raw),
             cmocka_unit_test(test_thanos_vectors_aggr), cmocka_unit_test(test_thanos_vectors_counter_boundary),
             cmocka_unit_test(test_downsample_block), cmocka_unit_test(test_downsample_tombstones))
