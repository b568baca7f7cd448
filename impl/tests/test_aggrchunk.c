/* test_aggrchunk.c — Thanos's aggregate chunk codec (tsdb/aggrchunk.h):
 * a hand-made byte vector, round trips, absent aggregates, malformed bytes
 * (every truncation, bad lengths, encodings, sub-chunks, random flips), and
 * the counter-reset reader. */
#include "testutil.h"

#include <math.h>

#include "tsdb/aggrchunk.h"
#include "tsdb/chunkenc.h"
#include "util/strbuf.h"

/* Built by hand from the layout (aggr.go): count = an XOR chunk of one
 * sample (t=0, v=1.0): BE16 1, varint 0, the 64 bits of 1.0; the other four
 * aggregates absent (a zero length each). */
static const uint8_t golden[] = {0x0b, 0x01, 0x00, 0x01, 0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0x00};

static void test_golden_bytes(void **state) {
    (void)state;
    aggrchunk_t c;
    pl_err_t err = {{0}};
    assert_int_equal(aggrchunk_parse(golden, sizeof golden, &c, &err), 0);
    assert_true(c.sub[AGGR_COUNT].present);
    for (int t = AGGR_SUM; t < AGGR_N; t++) assert_false(c.sub[t].present);
    assert_int_equal(aggrchunk_num_samples(&c), 1);
    sample_t *s = NULL;
    size_t n = 0, cap = 0;
    assert_int_equal(aggrchunk_append_samples(&c, AGGR_COUNT, &s, &n, &cap, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(s[0].t, 0);
    assert_true(s[0].v == 1.0);
    assert_int_equal(aggrchunk_append_samples(&c, AGGR_MAX, &s, &n, &cap, &err), 0);
    assert_int_equal(n, 1); /* absent: nothing appended */
    free(s);

    /* The encoder writes the same bytes. */
    sample_t one = {0, 1.0};
    const sample_t *in[AGGR_N] = {&one, NULL, NULL, NULL, NULL};
    size_t nin[AGGR_N] = {1, 0, 0, 0, 0};
    strbuf_t sb = STRBUF_INIT;
    assert_int_equal(aggrchunk_encode(in, nin, &sb, &err), 0);
    assert_int_equal(sb.len, sizeof golden);
    assert_memory_equal(sb.data, golden, sizeof golden);
    strbuf_free(&sb);
}

/* Five arrays of different lengths and values, incl. negative, NaN payloads
 * and a counter that repeats its last timestamp (as the downsampler writes). */
static void make_inputs(sample_t *a[AGGR_N], size_t n[AGGR_N]) {
    for (int t = 0; t < AGGR_N; t++) {
        n[t] = 10 + (size_t)t * 37;
        a[t] = calloc(n[t] + 1, sizeof **a);
        for (size_t i = 0; i < n[t]; i++) {
            a[t][i].t = 1700000000000LL + (int64_t)i * 300000 - 1 + (t == 2 ? (int64_t)(i % 3) : 0);
            a[t][i].v = t == 0 ? (double)(i % 31) : (t == 3 ? -1.5 * (double)i : (double)i * 0.1 + t);
        }
    }
    a[AGGR_SUM][3].v = NAN;
    /* counter: the last sample repeats the previous timestamp */
    a[AGGR_COUNTER][n[AGGR_COUNTER] - 1].t = a[AGGR_COUNTER][n[AGGR_COUNTER] - 2].t;
}

static void test_roundtrip(void **state) {
    (void)state;
    sample_t *a[AGGR_N];
    size_t n[AGGR_N];
    make_inputs(a, n);
    strbuf_t sb = STRBUF_INIT;
    pl_err_t err = {{0}};
    assert_int_equal(aggrchunk_encode((const sample_t *const *)a, n, &sb, &err), 0);
    aggrchunk_t c;
    assert_int_equal(aggrchunk_parse((const uint8_t *)sb.data, sb.len, &c, &err), 0);
    assert_int_equal(aggrchunk_num_samples(&c), n[AGGR_COUNT]);
    for (int t = 0; t < AGGR_N; t++) {
        assert_true(c.sub[t].present);
        assert_int_equal(c.sub[t].encoding, CHUNKENC_XOR);
        sample_t *s = NULL;
        size_t m = 0, cap = 0;
        assert_int_equal(aggrchunk_append_samples(&c, (enum aggr_type)t, &s, &m, &cap, &err), 0);
        assert_int_equal(m, n[t]);
        for (size_t i = 0; i < m; i++) {
            assert_int_equal(s[i].t, a[t][i].t);
            uint64_t x, y;
            memcpy(&x, &s[i].v, 8);
            memcpy(&y, &a[t][i].v, 8);
            assert_true(x == y); /* bit for bit, NaN included */
        }
        free(s);
        /* The sub-chunk is exactly the XOR chunk of those samples. */
        xor_chunk_t xc;
        assert_int_equal(xor_chunk_init(&xc), 0);
        for (size_t i = 0; i < n[t]; i++) assert_int_equal(xor_chunk_append(&xc, a[t][i].t, a[t][i].v), 0);
        size_t xl;
        const uint8_t *xb = xor_chunk_bytes(&xc, &xl);
        assert_int_equal(xl, c.sub[t].len);
        assert_memory_equal(xb, c.sub[t].data, xl);
        xor_chunk_free(&xc);
        free(a[t]);
    }
    strbuf_free(&sb);
}

static void test_absent(void **state) {
    (void)state;
    sample_t s[3] = {{299999, 2}, {599999, 3}, {899999, 1}};
    const sample_t *in[AGGR_N] = {s, NULL, s, NULL, NULL};
    size_t n[AGGR_N] = {3, 0, 3, 0, 0};
    strbuf_t sb = STRBUF_INIT;
    pl_err_t err = {{0}};
    assert_int_equal(aggrchunk_encode(in, n, &sb, &err), 0);
    aggrchunk_t c;
    assert_int_equal(aggrchunk_parse((const uint8_t *)sb.data, sb.len, &c, &err), 0);
    assert_true(c.sub[AGGR_COUNT].present && c.sub[AGGR_MIN].present);
    assert_false(c.sub[AGGR_SUM].present || c.sub[AGGR_MAX].present || c.sub[AGGR_COUNTER].present);
    xor_iter_t it;
    assert_false(aggrchunk_iter(&c, AGGR_SUM, &it));
    assert_true(aggrchunk_iter(&c, AGGR_MIN, &it));
    assert_true(xor_iter_next(&it));
    /* The last three entries are single zero bytes. */
    assert_int_equal(((uint8_t *)sb.data)[sb.len - 1], 0);
    assert_int_equal(((uint8_t *)sb.data)[sb.len - 2], 0);
    strbuf_free(&sb);
}

static void test_malformed(void **state) {
    (void)state;
    sample_t *a[AGGR_N];
    size_t n[AGGR_N];
    make_inputs(a, n);
    strbuf_t sb = STRBUF_INIT;
    pl_err_t err = {{0}};
    assert_int_equal(aggrchunk_encode((const sample_t *const *)a, n, &sb, &err), 0);
    for (int t = 0; t < AGGR_N; t++) free(a[t]);
    const uint8_t *p = (const uint8_t *)sb.data;
    aggrchunk_t c;

    /* Every truncation fails with a reason. Copies so ASan sees the end. */
    for (size_t l = 0; l < sb.len; l++) {
        uint8_t *cp = malloc(l + 1);
        memcpy(cp, p, l);
        err.msg[0] = 0;
        assert_int_equal(aggrchunk_parse(cp, l, &c, &err), -1);
        assert_true(strstr(err.msg, "aggregate chunk") != NULL);
        free(cp);
    }
    /* A byte too many. */
    uint8_t *cp = malloc(sb.len + 1);
    memcpy(cp, p, sb.len);
    cp[sb.len] = 0;
    assert_int_equal(aggrchunk_parse(cp, sb.len + 1, &c, &err), -1);
    assert_non_null(strstr(err.msg, "after the five"));
    /* Sub-chunk encoding other than XOR. */
    size_t lenbytes = 0;
    while (cp[lenbytes] & 0x80) lenbytes++;
    lenbytes++;
    cp[lenbytes] = 2;
    assert_int_equal(aggrchunk_parse(cp, sb.len, &c, &err), -1);
    assert_non_null(strstr(err.msg, "unsupported sub-chunk encoding 2"));
    cp[lenbytes] = CHUNKENC_XOR;
    /* The count sub-chunk claims more samples than it holds. */
    cp[lenbytes + 1] = 0x7f;
    assert_int_equal(aggrchunk_parse(cp, sb.len, &c, &err), -1);
    assert_non_null(strstr(err.msg, "count: malformed"));
    free(cp);
    /* A length beyond the bytes, and an overlong varint. */
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x00};
    assert_int_equal(aggrchunk_parse(huge, sizeof huge, &c, &err), -1);
    assert_non_null(strstr(err.msg, "exceeds"));
    const uint8_t overlong[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(aggrchunk_parse(overlong, sizeof overlong, &c, &err), -1);
    /* Random flips never crash; whatever parses decodes within bounds. */
    uint32_t seed = 12345;
    for (int round = 0; round < 3000; round++) {
        uint8_t *f = malloc(sb.len);
        memcpy(f, p, sb.len);
        for (int k = 0; k < 1 + round % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            f[(seed >> 8) % sb.len] ^= (uint8_t)(1u << ((seed >> 4) & 7));
        }
        if (aggrchunk_parse(f, sb.len, &c, &err) == 0) {
            for (int t = 0; t < AGGR_N; t++) {
                sample_t *s = NULL;
                size_t m = 0, capm = 0;
                assert_int_equal(aggrchunk_append_samples(&c, (enum aggr_type)t, &s, &m, &capm, &err), 0);
                free(s);
            }
        }
        free(f);
    }
    strbuf_free(&sb);
}

/* The counter reader: two chunks of a counter that resets inside the first
 * chunk and again between the chunks; emitted values are monotonic and end
 * at the true total increase + first value. */
static void test_counter_feed(void **state) {
    (void)state;
    /* chunk 1: first raw (0, 10), windows at 299999 (15), 599999 (17, after a reset to 2: 10->15, 0->2, ...),
     * last raw repeated at 599999 = 2. chunk 2: first raw (600000, 1) (reset between chunks), window 899999 (4),
     * last raw (899999, 4). */
    const sample_t in[] = {{0, 10}, {299999, 15}, {599999, 17}, {599999, 2}, {600000, 1}, {899999, 4}, {899999, 4},
                           {500000, 100 /* back in time: skipped */}, {900000, NAN}};
    aggr_counter_state_t st = {0};
    sample_t out[16];
    size_t n = 0;
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        int64_t t;
        double v;
        if (aggr_counter_feed(&st, in[i].t, in[i].v, &t, &v)) out[n++] = (sample_t){t, v};
    }
    assert_int_equal(n, 5);
    assert_int_equal(out[0].t, 0);
    assert_true(out[0].v == 10);
    assert_true(out[1].v == 15);
    assert_true(out[2].v == 17);
    assert_int_equal(out[3].t, 600000);
    assert_true(out[3].v == 18); /* 1 < last raw 2: a reset, +1 */
    assert_true(out[4].v == 21); /* +3 */
    for (size_t i = 1; i < n; i++) assert_true(out[i].v >= out[i - 1].v && out[i].t > out[i - 1].t);
    assert_string_equal(aggr_type_name(AGGR_COUNTER), "counter");
    assert_string_equal(aggr_type_name(AGGR_COUNT), "count");
}


/* aggrchunk_series_samples over two chunks: sums concatenated, the counter
 * with the reset between the chunks applied. */
static void test_series_samples(void **state) {
    (void)state;
    /* chunk 1: raw 10 -> 15 -> 17, last raw 17; chunk 2: raw 2 (a reset) -> 5 */
    sample_t c1[] = {{0, 10}, {299999, 15}, {599999, 17}, {599999, 17}};
    sample_t c2[] = {{600000, 2}, {899999, 5}, {899999, 5}};
    sample_t s1[] = {{299999, 25}, {599999, 32}}, s2[] = {{899999, 7}};
    const sample_t *in1[AGGR_N] = {s1, s1, s1, s1, c1}, *in2[AGGR_N] = {s2, s2, s2, s2, c2};
    size_t n1[AGGR_N] = {2, 2, 2, 2, 4}, n2[AGGR_N] = {1, 1, 1, 1, 3};
    strbuf_t b1 = STRBUF_INIT, b2 = STRBUF_INIT;
    pl_err_t err = {{0}};
    assert_int_equal(aggrchunk_encode(in1, n1, &b1, &err), 0);
    assert_int_equal(aggrchunk_encode(in2, n2, &b2, &err), 0);
    aggrchunk_t ch[2];
    assert_int_equal(aggrchunk_parse((const uint8_t *)b1.data, b1.len, &ch[0], &err), 0);
    assert_int_equal(aggrchunk_parse((const uint8_t *)b2.data, b2.len, &ch[1], &err), 0);
    sample_t *out = NULL;
    size_t n = 0, cap = 0;
    assert_int_equal(aggrchunk_series_samples(ch, 2, AGGR_SUM, &out, &n, &cap, &err), 0);
    assert_int_equal(n, 3);
    assert_true(out[0].v == 25 && out[1].v == 32 && out[2].v == 7 && out[2].t == 899999);
    n = 0;
    assert_int_equal(aggrchunk_series_samples(ch, 2, AGGR_COUNTER, &out, &n, &cap, &err), 0);
    double want[] = {10, 15, 17, 19, 22}; /* +2 after the reset (2 < 17), then +3 */
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) assert_true(out[i].v == want[i]);
    assert_int_equal(aggrchunk_series_samples(ch, 2, (enum aggr_type)9, &out, &n, &cap, &err), -1);
    free(out);
    strbuf_free(&b1);
    strbuf_free(&b2);
}

static void test_function_and_average(void **state) {
    (void)state;
    assert_int_equal(aggr_for_function("max_over_time"), AGGR_MAX);
    assert_int_equal(aggr_for_function("min"), AGGR_MIN);
    assert_int_equal(aggr_for_function("count_over_time"), AGGR_COUNT);
    assert_int_equal(aggr_for_function("sum_over_time"), AGGR_SUM);
    assert_int_equal(aggr_for_function("rate"), AGGR_COUNTER);
    assert_int_equal(aggr_for_function("irate"), AGGR_COUNTER);
    assert_int_equal(aggr_for_function("sum"), AGGR_AVERAGE);
    assert_int_equal(aggr_for_function("avg_over_time"), AGGR_AVERAGE);
    assert_int_equal(aggr_for_function(NULL), AGGR_AVERAGE);
    sample_t cnt[] = {{299999, 4}, {599999, 5}}, sum[] = {{299999, 10}, {599999, 20}}, other[] = {{1, 1}, {2, 2}};
    const sample_t *in[AGGR_N] = {cnt, sum, NULL, NULL, NULL};
    size_t n[AGGR_N] = {2, 2, 0, 0, 0};
    strbuf_t sb = STRBUF_INIT;
    pl_err_t err = {{0}};
    assert_int_equal(aggrchunk_encode(in, n, &sb, &err), 0);
    aggrchunk_t c;
    assert_int_equal(aggrchunk_parse((const uint8_t *)sb.data, sb.len, &c, &err), 0);
    sample_t *out = NULL;
    size_t m = 0, cap = 0;
    assert_int_equal(aggrchunk_series_samples(&c, 1, (enum aggr_type)AGGR_AVERAGE, &out, &m, &cap, &err), 0);
    assert_int_equal(m, 2);
    assert_true(out[0].t == 299999 && out[0].v == 2.5 && out[1].v == 4);
    /* sum and count of different windows: an error */
    strbuf_reset(&sb);
    in[AGGR_SUM] = other;
    assert_int_equal(aggrchunk_encode(in, n, &sb, &err), 0);
    assert_int_equal(aggrchunk_parse((const uint8_t *)sb.data, sb.len, &c, &err), 0);
    m = 0;
    assert_int_equal(aggrchunk_series_samples(&c, 1, (enum aggr_type)AGGR_AVERAGE, &out, &m, &cap, &err), -1);
    free(out);
    strbuf_free(&sb);
}
PL_TEST_MAIN(cmocka_unit_test(test_golden_bytes), cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_absent),
             cmocka_unit_test(test_malformed), cmocka_unit_test(test_counter_feed), cmocka_unit_test(test_series_samples),
             cmocka_unit_test(test_function_and_average))
