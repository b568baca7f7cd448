/* test_chunkenc.c — XOR chunk encoding: byte-exact with Prometheus, round
 * trips, bucket widths, window reuse, seeking, malformed input. */
#include <math.h>

#include "testutil.h"
#include "tsdb/chunkenc.h"

/* ---- golden chunks -------------------------------------------------------
 * Written by Prometheus 2.42's own code (Debian promtool 2.42.0:
 * `promtool tsdb create-blocks-from openmetrics`), copied from the block's
 * chunks/000001; the samples are what `promtool tsdb dump` printed, with
 * the value bit patterns. chunk 0: every delta-of-delta bucket and its
 * edges (dod 0, +-1, 8192, -8192, 65536, -65535, 524288, -524287, 524289,
 * -524292); chunk 1: 0, -0, NaN, +-Inf, 1e300, the smallest denormal, the
 * largest double, window reuse and renewal; chunk 2: a 100-sample counter
 * with jittered scrapes. */
/* chunk 0: encoding 1, 150 bytes */
static const uint8_t golden0[] = {
    0x00, 0x16, 0xd0, 0xdb, 0xc9, 0xfd, 0xf9, 0x62, 0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x98, 0x75, 0x30, 0x97, 0xff, 0xdb, 0x01, 0xc0, 0x00, 0xed, 0x07, 0x7f, 0xfe, 0xa0, 0x00, 0xd6,
    0x1f, 0xde, 0x00, 0x0d, 0x23, 0xc9, 0x80, 0x01, 0xc0, 0x0f, 0x40, 0x00, 0x30, 0x21, 0xff, 0x73,
    0xa0, 0x00, 0x30, 0x01, 0x87, 0x40, 0x00, 0x06, 0x18, 0xbe, 0xe9, 0x50, 0x2f, 0x9e, 0x80, 0x00,
    0x1c, 0xdb, 0xd9, 0x57, 0x91, 0x3d, 0x16, 0x87, 0x2b, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80,
    0x00, 0x18, 0xd4, 0x1c, 0xd6, 0xc8, 0xb4, 0x39, 0x5f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfb, 0xff,
    0xfe, 0x0d, 0xc5, 0x78, 0x83, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x08, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x18, 0x46, 0x31, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0xdd, 0xcd, 0x98, 0x02,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x80, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x03, 0x00,
    0x40, 0x00, 0x00, 0x00, 0x00, 0x00,
};
static const struct { int64_t t; uint64_t v; } golden0_samples[] = {
    {1699999201000, 0x3ff0000000000000}, {1699999216000, 0x3ff0000000000000}, {1699999231000, 0x4000000000000000},
    {1699999246000, 0x4008000000000000}, {1699999261001, 0x400c000000000000}, {1699999276001, 0x400c000000000000},
    {1699999299193, 0x4010000000000000}, {1699999314193, 0x4059000000000000}, {1699999329194, 0xc059000000000000},
    {1699999409731, 0x3fe0000000000000}, {1699999424733, 0x3fd0000000000000}, {1699999964023, 0x4202a05f20000000},
    {1699999979026, 0x40c81cd6c8b43958}, {1700000518318, 0x401c000000000000}, {1700000533318, 0x401c000000000000},
    {1700000548318, 0x401c000000000000}, {1700000548334, 0x4020000000000000}, {1700000548350, 0x4022000000000000},
    {1700000557350, 0x4024000000000000}, {1700000557351, 0x4026000000000000}, {1700000557352, 0x4028000000000000},
    {1700000557354, 0x402a000000000000},
};
/* chunk 1: encoding 1, 193 bytes */
static const uint8_t golden1[] = {
    0x00, 0x1b, 0x80, 0xc6, 0xcb, 0xfd, 0xf9, 0x62, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x98, 0x75, 0xc0, 0x0d, 0x80, 0xcb, 0xff, 0x61, 0xfe, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x0a, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xc0, 0x0d, 0x83, 0xe8, 0x1c, 0x7e, 0x43,
    0xc8, 0x80, 0x07, 0x59, 0xd8, 0x7f, 0xfc, 0x6f, 0xc8, 0x79, 0x10, 0x00, 0xeb, 0x3a, 0x9f, 0xfc,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00,
    0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x36, 0x03, 0xef, 0xfa, 0xb0, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xfd, 0x3f, 0xe7, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x10, 0x00,
    0x00, 0x00, 0x00, 0xd6, 0xbf, 0x94, 0xd4, 0x00, 0x00, 0x00, 0x00, 0x5e, 0xf0, 0x2f, 0x59, 0x00,
    0x98, 0x00, 0x00, 0x1a, 0xd7, 0xf2, 0x9b, 0x40, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
    0x01, 0xff, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x05, 0xfc, 0xd9, 0x86, 0x66, 0x66, 0x66, 0x66, 0x69,
    0x00, 0x70, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x06, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
    0x54, 0x02, 0xb3, 0x33, 0x33, 0x33, 0x33, 0x33, 0x21, 0x3f, 0xbd, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x01,
};
static const struct { int64_t t; uint64_t v; } golden1_samples[] = {
    {1699999216000, 0x0000000000000000}, {1699999231000, 0x8000000000000000}, {1699999246000, 0x3ff0000000000000},
    {1699999261000, 0x7ff8000000000001}, {1699999276000, 0x7ff0000000000000}, {1699999291000, 0xfff0000000000000},
    {1699999306000, 0x7e37e43c8800759c}, {1699999321000, 0x0000000000000001}, {1699999336000, 0x3ff8000000000000},
    {1699999351000, 0x3ffc000000000000}, {1699999366000, 0x3ffa000000000000}, {1699999381000, 0xbffa000000000000},
    {1699999396000, 0x0010000000000000}, {1699999411000, 0x7fefffffffffffff}, {1699999426000, 0x4008000000000000},
    {1699999441000, 0x4008000000000000}, {1699999456000, 0x400800000d6bf94d}, {1699999471000, 0x400800001ad7f29b},
    {1699999486000, 0x4090000000000000}, {1699999501000, 0x4090040000000000}, {1699999516000, 0x408ff80000000000},
    {1699999531000, 0x3fb999999999999a}, {1699999546000, 0x3fc999999999999a}, {1699999561000, 0x3fd3333333333333},
    {1699999576000, 0x7ff8000000000001}, {1699999591000, 0x7ff8000000000001}, {1699999606000, 0x4045000000000000},
};
/* chunk 2: encoding 1, 429 bytes */
static const uint8_t golden2[] = {
    0x00, 0x64, 0xdc, 0xc5, 0xcb, 0xfd, 0xf9, 0x62, 0x40, 0x8f, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x87, 0x75, 0xd6, 0x5f, 0x1d, 0x80, 0x01, 0x92, 0xd4, 0x00, 0x0c, 0x71, 0x60, 0x00, 0x75, 0x19,
    0xe5, 0x70, 0x00, 0x3b, 0x89, 0xb8, 0xc0, 0x00, 0xed, 0x27, 0x7b, 0x00, 0x03, 0xb8, 0x9c, 0xcc,
    0x00, 0x0e, 0xc2, 0x7e, 0x70, 0x00, 0x3c, 0x07, 0x8b, 0x00, 0x03, 0xb4, 0x9b, 0x8c, 0x00, 0x0f,
    0x21, 0x6b, 0x00, 0x03, 0xb8, 0x68, 0x60, 0x00, 0x75, 0x9b, 0xed, 0xf8, 0x00, 0x18, 0x26, 0x50,
    0x00, 0x30, 0xad, 0x60, 0x00, 0x63, 0xb6, 0x40, 0x00, 0xc1, 0xb9, 0x80, 0x01, 0x87, 0x75, 0x00,
    0x03, 0x05, 0x86, 0x00, 0x06, 0x05, 0x84, 0x00, 0x0c, 0xf3, 0x58, 0x00, 0x18, 0x3b, 0x50, 0x00,
    0x30, 0xc5, 0x60, 0x00, 0x63, 0x08, 0x40, 0x00, 0xc1, 0x21, 0x80, 0x01, 0x87, 0x8d, 0x00, 0x03,
    0x06, 0xe6, 0x00, 0x07, 0x49, 0xff, 0xfc, 0xe0, 0x00, 0x78, 0x91, 0x7b, 0x00, 0x03, 0xbc, 0x9a,
    0xfc, 0x00, 0x0f, 0x21, 0xf2, 0xc0, 0x00, 0xee, 0x23, 0xde, 0x00, 0x07, 0x98, 0xdc, 0xc0, 0x00,
    0xef, 0x26, 0xe7, 0x00, 0x03, 0xcc, 0x6c, 0x60, 0x00, 0x78, 0x0f, 0x36, 0xff, 0x73, 0x69, 0x9f,
    0xd3, 0x00, 0x03, 0x09, 0xb4, 0x00, 0x0c, 0x56, 0x30, 0x00, 0x33, 0xb0, 0x40, 0x00, 0xc3, 0x0b,
    0x00, 0x03, 0x1c, 0xf4, 0x00, 0x0c, 0x2d, 0xb0, 0x00, 0x30, 0x6a, 0x40, 0x00, 0xec, 0x37, 0xea,
    0x30, 0x00, 0x30, 0x79, 0xa0, 0x00, 0x61, 0x84, 0xc0, 0x00, 0xc1, 0xf4, 0x80, 0x01, 0x8e, 0x5b,
    0x00, 0x03, 0x09, 0x0a, 0x00, 0x06, 0x0e, 0xec, 0x00, 0x0c, 0xfa, 0x88, 0x00, 0x18, 0x31, 0x30,
    0x00, 0x30, 0xec, 0xa0, 0x00, 0x60, 0xf0, 0xc0, 0x00, 0xc7, 0x44, 0x80, 0x01, 0x81, 0x9b, 0x00,
    0x03, 0x05, 0xea, 0x00, 0x06, 0x00, 0xec, 0x00, 0x0c, 0x31, 0x08, 0x00, 0x1d, 0x67, 0xfd, 0x17,
    0x80, 0x01, 0x80, 0xfd, 0x40, 0x00, 0xc0, 0x9b, 0x60, 0x00, 0x60, 0x14, 0x90, 0x00, 0x30, 0x68,
    0x18, 0x00, 0x18, 0x05, 0x94, 0x00, 0x0c, 0x0d, 0xa6, 0x00, 0x06, 0x03, 0x91, 0x00, 0x03, 0x0f,
    0x5d, 0x80, 0x01, 0x80, 0x71, 0x40, 0x00, 0xc0, 0x43, 0x60, 0x00, 0x60, 0x5f, 0x10, 0x00, 0x30,
    0x73, 0x9b, 0xfd, 0xc8, 0x12, 0x74, 0x00, 0x0c, 0x02, 0xc6, 0x00, 0x06, 0x3d, 0xf9, 0x00, 0x03,
    0x00, 0x85, 0x80, 0x01, 0x81, 0x7b, 0x40, 0x00, 0xc0, 0x2b, 0x60, 0x00, 0x60, 0x28, 0x10, 0x00,
    0x30, 0x7d, 0x18, 0x00, 0x18, 0x08, 0xf4, 0x00, 0x0c, 0x00, 0xe6, 0x00, 0x06, 0x06, 0x59, 0x00,
    0x03, 0x01, 0xd1, 0x80, 0x01, 0x87, 0xbf, 0x40, 0x00, 0xc0, 0xba, 0x60, 0x00, 0x60, 0x15, 0x10,
    0x00, 0x30, 0x6b, 0xd8, 0x00, 0x18, 0x04, 0xb4, 0x00, 0x0c, 0x0b, 0x56, 0x00, 0x06, 0x00, 0xf9,
    0x00, 0x03, 0x01, 0xe9, 0x80, 0x01, 0x80, 0x17, 0x40, 0x00, 0xcf, 0xc0, 0x60, 0x00, 0x60, 0x45,
    0x90, 0x00, 0x30, 0x1d, 0x58, 0x00, 0x18, 0x32, 0x54, 0x00, 0x0c, 0x03, 0x54,
};
static const struct { int64_t t; uint64_t v; } golden2_samples[] = {
    {1699999215982, 0x408f400000000000}, {1699999230965, 0x4093340000000000}, {1699999245949, 0x409a5c0000000000},
    {1699999260934, 0x409d480000000000}, {1699999275920, 0x40a1e40000000000}, {1699999290907, 0x40a3060000000000},
    {1699999305895, 0x40a5f20000000000}, {1699999320884, 0x40a6c00000000000}, {1699999335874, 0x40a9580000000000},
    {1699999350865, 0x40a9d20000000000}, {1699999365857, 0x40ac160000000000}, {1699999380850, 0x40ac3c0000000000},
    {1699999395844, 0x40ae2c0000000000}, {1699999410839, 0x40b0f30000000000}, {1699999425835, 0x40b1c10000000000},
    {1699999440832, 0x40b3740000000000}, {1699999455830, 0x40b4180000000000}, {1699999470829, 0x40b5a10000000000},
    {1699999485829, 0x40b61b0000000000}, {1699999500830, 0x40b77a0000000000}, {1699999515832, 0x40b7ca0000000000},
    {1699999530835, 0x40b8ff0000000000}, {1699999545839, 0x40b9250000000000}, {1699999560844, 0x40ba300000000000},
    {1699999575850, 0x40bc200000000000}, {1699999590857, 0x40bd010000000000}, {1699999605865, 0x40bec70000000000},
    {1699999620874, 0x40bf7e0000000000}, {1699999635884, 0x40c08d0000000000}, {1699999650895, 0x40c0d38000000000},
    {1699999665907, 0x40c18c8000000000}, {1699999680920, 0x40c1be0000000000}, {1699999695934, 0x40c2620000000000},
    {1699999710949, 0x40c27e8000000000}, {1699999725965, 0x40c30d8000000000}, {1699999740982, 0x40c3150000000000},
    {1699999756000, 0x40c38f0000000000}, {1699999770982, 0x40c47b8000000000}, {1699999785965, 0x40c4e08000000000},
    {1699999800949, 0x40c5b80000000000}, {1699999815934, 0x40c6080000000000}, {1699999830920, 0x40c6ca8000000000},
    {1699999845907, 0x40c7058000000000}, {1699999860895, 0x40c7b30000000000}, {1699999875884, 0x40c7d90000000000},
    {1699999890874, 0x40c8718000000000}, {1699999905865, 0x40c8828000000000}, {1699999920857, 0x40c9060000000000},
    {1699999935850, 0x40c9fc0000000000}, {1699999950844, 0x40ca6a8000000000}, {1699999965839, 0x40cb4b8000000000},
    {1699999980835, 0x40cba50000000000}, {1699999995832, 0x40cc710000000000}, {1700000010830, 0x40ccb58000000000},
    {1700000025829, 0x40cd6c8000000000}, {1700000040829, 0x40cd9c0000000000}, {1700000055830, 0x40ce3e0000000000},
    {1700000070832, 0x40ce588000000000}, {1700000085835, 0x40cee58000000000}, {1700000100839, 0x40ceeb0000000000},
    {1700000115844, 0x40cf630000000000}, {1700000130850, 0x40d026c000000000}, {1700000145857, 0x40d0584000000000},
    {1700000160865, 0x40d0c30000000000}, {1700000175874, 0x40d0ea0000000000}, {1700000190884, 0x40d14a4000000000},
    {1700000205895, 0x40d166c000000000}, {1700000220907, 0x40d1bc8000000000}, {1700000235920, 0x40d1ce8000000000},
    {1700000250934, 0x40d219c000000000}, {1700000265949, 0x40d2214000000000}, {1700000280965, 0x40d2620000000000},
    {1700000295982, 0x40d2dc0000000000}, {1700000311000, 0x40d3124000000000}, {1700000325982, 0x40d381c000000000},
    {1700000340965, 0x40d3ad8000000000}, {1700000355949, 0x40d4128000000000}, {1700000370934, 0x40d433c000000000},
    {1700000385920, 0x40d48e4000000000}, {1700000400907, 0x40d4a50000000000}, {1700000415895, 0x40d4f50000000000},
    {1700000430884, 0x40d5014000000000}, {1700000445874, 0x40d546c000000000}, {1700000460865, 0x40d5488000000000},
    {1700000475857, 0x40d5838000000000}, {1700000490850, 0x40d5f7c000000000}, {1700000505844, 0x40d6284000000000},
    {1700000520839, 0x40d6920000000000}, {1700000535835, 0x40d6b80000000000}, {1700000550832, 0x40d7174000000000},
    {1700000565830, 0x40d732c000000000}, {1700000580829, 0x40d7878000000000}, {1700000595829, 0x40d7988000000000},
    {1700000610830, 0x40d7e2c000000000}, {1700000625832, 0x40d7e94000000000}, {1700000640835, 0x40d8290000000000},
    {1700000655839, 0x40d8a20000000000}, {1700000670844, 0x40d8d74000000000}, {1700000685850, 0x40d945c000000000},
    {1700000700857, 0x40d9708000000000},
};

static uint64_t bits_of(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static double from_bits(uint64_t b) {
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

typedef struct smp {
    int64_t t;
    uint64_t v;
} smp_t;

/* Encodes samples with xor_chunk_t and checks the bytes equal want. */
static void check_encodes_to(const smp_t *s, size_t n, const uint8_t *want, size_t want_len) {
    xor_chunk_t c;
    assert_int_equal(xor_chunk_init(&c), 0);
    for (size_t i = 0; i < n; i++) assert_int_equal(xor_chunk_append(&c, s[i].t, from_bits(s[i].v)), 0);
    size_t len;
    const uint8_t *got = xor_chunk_bytes(&c, &len);
    assert_int_equal(len, want_len);
    assert_memory_equal(got, want, want_len);
    assert_int_equal(xor_chunk_num_samples(&c), n);
    xor_chunk_free(&c);
}

/* Decodes bytes (copied into an exactly sized buffer so ASan sees any
 * over-read) and checks they hold exactly the samples s. */
static void check_decodes_to(const uint8_t *bytes, size_t len, const smp_t *s, size_t n) {
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, bytes, len);
    xor_iter_t it;
    xor_iter_init(&it, copy, len);
    size_t i = 0;
    while (xor_iter_next(&it)) {
        assert_true(i < n);
        int64_t t;
        double v;
        xor_iter_at(&it, &t, &v);
        assert_int_equal(t, s[i].t);
        assert_int_equal(bits_of(v), s[i].v);
        assert_int_equal(xor_iter_at_bits(&it), s[i].v);
        i++;
    }
    assert_false(xor_iter_err(&it));
    assert_int_equal(i, n);
    free(copy);
}

#define GOLDEN(k) golden##k, sizeof golden##k, (const smp_t *)golden##k##_samples, \
                  sizeof golden##k##_samples / sizeof golden##k##_samples[0]

static void test_golden_prometheus_bytes(void **state) {
    (void)state;
    struct {
        const uint8_t *b;
        size_t len;
        const smp_t *s;
        size_t n;
    } g[] = {{GOLDEN(0)}, {GOLDEN(1)}, {GOLDEN(2)}};
    for (size_t k = 0; k < 3; k++) {
        check_encodes_to(g[k].s, g[k].n, g[k].b, g[k].len);
        check_decodes_to(g[k].b, g[k].len, g[k].s, g[k].n);
    }
    /* The dump shows Go's NaN and the infinities with their exact bits. */
    assert_int_equal(golden1_samples[3].v, 0x7ff8000000000001ULL);
    assert_int_equal(golden1_samples[1].v, 0x8000000000000000ULL);
}

/* Vectors worked out by hand from tsdb-format.md §4.1. */
static void test_hand_vectors(void **state) {
    (void)state;
    /* One sample: count 1, varint(1000) = zigzag 2000 = d0 0f, then 1.0. */
    static const uint8_t one[] = {0x00, 0x01, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0};
    smp_t s[3] = {{1000, 0x3ff0000000000000ULL}, {1015, 0x3ff0000000000000ULL}, {1030, 0x3ff0000000000000ULL}};
    check_encodes_to(s, 1, one, sizeof one);
    /* Two: uvarint(15) = 0f, then the bit 0 (value unchanged), padded. */
    static const uint8_t two[] = {0x00, 0x02, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x0f, 0x00};
    check_encodes_to(s, 2, two, sizeof two);
    /* Three: dod 0 (bit 0) and unchanged value (bit 0) fit the padding. */
    static const uint8_t three[] = {0x00, 0x03, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x0f, 0x00};
    check_encodes_to(s, 3, three, sizeof three);
    check_decodes_to(three, sizeof three, s, 3);
    /* Negative first timestamp: zigzag(-1) = 1. Then 2.0 after a delta of 1:
     * x = 0x3ff0... ^ 0x4000... = 0x7ff0..., lz 1, tz 52, sig 11, so
     * 11 00001 001011 11111111111 = c2 5f ff. */
    static const uint8_t neg[] = {0x00, 0x02, 0x01, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x01, 0xc2, 0x5f, 0xff};
    smp_t n2[2] = {{-1, 0x3ff0000000000000ULL}, {0, 0x4000000000000000ULL}};
    check_encodes_to(n2, 2, neg, sizeof neg);
    check_decodes_to(neg, sizeof neg, n2, 2);
    /* An empty chunk is just the count. */
    static const uint8_t empty[] = {0, 0};
    check_decodes_to(empty, 2, s, 0);
}

/* Bits added by appending (t, v) to a chunk that already holds samples. */
static unsigned bits_added(xor_chunk_t *c, int64_t t, double v) {
    uint32_t before = c->app.nbits;
    assert_int_equal(xor_chunk_append(c, t, v), 0);
    return c->app.nbits - before;
}

/* Delta-of-delta bucket widths at both edges of each bucket. */
static void test_dod_buckets(void **state) {
    (void)state;
    struct {
        int64_t dod;
        unsigned bits;
    } cases[] = {
        {0, 1},          {1, 16},          {-1, 16},          {8192, 16},        {-8191, 16},
        {8193, 20},      {-8192, 20},      {65536, 20},       {-65535, 20},      {65537, 24},
        {-65536, 24},    {524288, 24},     {-524287, 24},     {524289, 68},      {-524288, 68},
        {INT32_MAX, 68}, {-((int64_t)1 << 40), 68},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        xor_chunk_t c;
        assert_int_equal(xor_chunk_init(&c), 0);
        int64_t base = 1000000000000LL, delta = 15000000;
        assert_int_equal(xor_chunk_append(&c, base, 1.0), 0);
        assert_int_equal(xor_chunk_append(&c, base + delta, 1.0), 0);
        int64_t t = base + delta + delta + cases[i].dod;
        /* +1 for the unchanged value bit. */
        assert_int_equal(bits_added(&c, t, 1.0), cases[i].bits + 1);
        smp_t want[3] = {{base, bits_of(1.0)}, {base + delta, bits_of(1.0)}, {t, bits_of(1.0)}};
        size_t len;
        const uint8_t *b = xor_chunk_bytes(&c, &len);
        check_decodes_to(b, len, want, 3);
        xor_chunk_free(&c);
    }
}

/* The XOR value code: new window, reuse, the 5-bit leading-zero clamp and
 * the 64-significant-bit case written as 0. */
static void test_xor_windows(void **state) {
    (void)state;
    xor_chunk_t c;
    assert_int_equal(xor_chunk_init(&c), 0);
    assert_int_equal(xor_chunk_append(&c, 0, 1.0), 0);
    /* 1.0 -> 1.5: x = 0x0008000000000000, lz 12, tz 51, sig 1: 2+5+6+1. */
    assert_int_equal(bits_added(&c, 1, 1.5), 8 + 14); /* first delta is a 1-byte uvarint */
    assert_int_equal(c.app.leading, 12);
    assert_int_equal(c.app.trailing, 51);
    /* 1.5 -> 1.0: the same x fits the window: '10' + 1 bit. */
    assert_int_equal(bits_added(&c, 2, 1.0), 1 + 3);
    /* 1.0 -> 1.75: x = 0x000c..., tz 50 < 51: new window, sig 2. */
    assert_int_equal(bits_added(&c, 3, 1.75), 1 + 15);
    assert_int_equal(c.app.trailing, 50);
    /* 1.75 -> 1.75: '0'. */
    assert_int_equal(bits_added(&c, 4, 1.75), 1 + 1);
    /* 1.75 -> 1.25: x = 0x0008..., inside the window (lz 12 >= 12, tz 51 >= 50): 2 + 2. */
    assert_int_equal(bits_added(&c, 5, 1.25), 1 + 4);
    /* x = 1 (lowest bit): lz 63 is clamped to 31, sig = 64-31-0 = 33. */
    assert_int_equal(bits_added(&c, 6, from_bits(bits_of(1.25) ^ 1)), 1 + 13 + 33);
    assert_int_equal(c.app.leading, 31);
    assert_int_equal(c.app.trailing, 0);
    /* x with lz 0 and tz 0: sig 64, written as 0 in the 6-bit field. */
    uint64_t cur = bits_of(1.25) ^ 1;
    assert_int_equal(bits_added(&c, 7, from_bits(cur ^ 0x8000000000000001ULL)), 1 + 13 + 64);
    assert_int_equal(c.app.leading, 0);
    assert_int_equal(c.app.trailing, 0);
    /* Now every x fits the full window: 2 + 64 bits. */
    assert_int_equal(bits_added(&c, 8, 3.0), 1 + 2 + 64);

    size_t len;
    const uint8_t *b = xor_chunk_bytes(&c, &len);
    smp_t want[] = {{0, bits_of(1.0)},
                    {1, bits_of(1.5)},
                    {2, bits_of(1.0)},
                    {3, bits_of(1.75)},
                    {4, bits_of(1.75)},
                    {5, bits_of(1.25)},
                    {6, bits_of(1.25) ^ 1},
                    {7, cur ^ 0x8000000000000001ULL},
                    {8, bits_of(3.0)}};
    check_decodes_to(b, len, want, sizeof want / sizeof want[0]);
    xor_chunk_free(&c);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void roundtrip(const smp_t *s, size_t n) {
    xor_chunk_t c;
    assert_int_equal(xor_chunk_init(&c), 0);
    for (size_t i = 0; i < n; i++) {
        size_t before = xor_appender_len(&c.app);
        size_t predicted = xor_appender_size_after(&c.app, c.data, s[i].t, from_bits(s[i].v));
        assert_int_equal(xor_chunk_append(&c, s[i].t, from_bits(s[i].v)), 0);
        assert_int_equal(xor_appender_len(&c.app), predicted);
        assert_true(predicted >= before);
        /* Padding bits are zero after every append. */
        unsigned pad = (8 - c.app.nbits % 8) % 8;
        assert_int_equal(c.data[xor_appender_len(&c.app) - 1] & ((1u << pad) - 1), 0);
    }
    size_t len;
    const uint8_t *b = xor_chunk_bytes(&c, &len);
    check_decodes_to(b, len, s, n);

    /* Resuming from the bytes gives the same appender state. */
    xor_appender_t a;
    assert_int_equal(xor_appender_resume(&a, b, len), 0);
    assert_int_equal(a.t, c.app.t);
    assert_int_equal(a.tdelta, c.app.tdelta);
    assert_int_equal(a.vbits, c.app.vbits);
    assert_int_equal(a.nbits, c.app.nbits);
    assert_int_equal(a.leading, c.app.leading);
    assert_int_equal(a.trailing, c.app.trailing);
    xor_chunk_free(&c);
}

static void test_roundtrip_random(void **state) {
    (void)state;
    enum { N = 2000 };
    smp_t *s = malloc(N * sizeof *s);
    for (int round = 0; round < 60; round++) {
        size_t n = 1 + rnd() % (round < 30 ? 130 : N);
        int64_t t = (int64_t)rnd();
        double v = 0;
        for (size_t i = 0; i < n; i++) {
            switch (round % 6) {
            case 0: /* any bit pattern, any timestamp */
                s[i].t = (int64_t)rnd();
                s[i].v = rnd();
                break;
            case 1: /* scrape-like: jittered 15 s, slowly changing gauge */
                t += 15000 + (int64_t)(rnd() % 41) - 20;
                v += (double)(rnd() % 3) - 1.0;
                s[i].t = t;
                s[i].v = bits_of(v);
                break;
            case 2: /* counter with big gaps and repeated timestamps */
                t += (rnd() % 4 == 0) ? (int64_t)(rnd() % 100000000) : 0;
                v += (double)(rnd() % 1000);
                s[i].t = t;
                s[i].v = bits_of(v);
                break;
            case 3: /* decreasing and wildly varying timestamps (Prometheus allows any int64) */
                t -= (int64_t)(rnd() % 1000000);
                s[i].t = (rnd() % 8 == 0) ? (rnd() % 2 ? INT64_MAX : INT64_MIN) : t;
                s[i].v = bits_of((double)(int64_t)(rnd() % 200) / 8.0);
                break;
            case 4: { /* special values */
                static const uint64_t special[] = {0x7ff0000000000002ULL, 0x7ff8000000000001ULL,
                                                   0x7ff8000000000000ULL, 0xfff8000000000000ULL,
                                                   0x7ff0000000000000ULL, 0xfff0000000000000ULL,
                                                   0x8000000000000000ULL, 0x0000000000000000ULL,
                                                   0x0000000000000001ULL, 0x7fefffffffffffffULL,
                                                   0x7fffffffffffffffULL, 0xffffffffffffffffULL};
                t += 1 + (int64_t)(rnd() % 3);
                s[i].t = t;
                s[i].v = special[rnd() % (sizeof special / sizeof special[0])];
                break;
            }
            default: /* equal values, constant interval */
                s[i].t = 1000 * (int64_t)i;
                s[i].v = bits_of(42.0);
            }
        }
        roundtrip(s, n);
    }
    free(s);
}

static void test_stale_nan_exact(void **state) {
    (void)state;
    smp_t s[] = {{100, 0x7ff0000000000002ULL}, {200, 0x7ff0000000000002ULL}, {300, 0x7ff8000000000001ULL},
                 {400, 0x7ff0000000000002ULL}, {500, bits_of(1.0)},        {600, 0x7ff0000000000002ULL}};
    roundtrip(s, sizeof s / sizeof s[0]);
    xor_chunk_t c;
    assert_int_equal(xor_chunk_init(&c), 0);
    assert_int_equal(xor_chunk_append(&c, 1, from_bits(0x7ff0000000000002ULL)), 0);
    xor_iter_t it;
    xor_iter_init(&it, c.data, xor_appender_len(&c.app));
    assert_true(xor_iter_next(&it));
    double v;
    xor_iter_at(&it, NULL, &v);
    assert_true(isnan(v));
    assert_int_equal(bits_of(v), 0x7ff0000000000002ULL);
    xor_chunk_free(&c);
}

static void test_seek(void **state) {
    (void)state;
    xor_chunk_t c;
    assert_int_equal(xor_chunk_init(&c), 0);
    for (int i = 1; i <= 10; i++) assert_int_equal(xor_chunk_append(&c, i * 10, i), 0);
    size_t len;
    const uint8_t *b = xor_chunk_bytes(&c, &len);
    xor_iter_t it;
    int64_t t;
    double v;

    xor_iter_init(&it, b, len);
    assert_true(xor_iter_seek(&it, INT64_MIN)); /* before the first: the first */
    xor_iter_at(&it, &t, &v);
    assert_int_equal(t, 10);
    assert_true(xor_iter_seek(&it, 35)); /* between: the next one */
    xor_iter_at(&it, &t, &v);
    assert_int_equal(t, 40);
    assert_true(v == 4.0);
    assert_true(xor_iter_seek(&it, 40)); /* exact: stays */
    xor_iter_at(&it, &t, NULL);
    assert_int_equal(t, 40);
    assert_true(xor_iter_seek(&it, 20)); /* backwards: stays */
    xor_iter_at(&it, &t, NULL);
    assert_int_equal(t, 40);
    assert_true(xor_iter_next(&it));
    xor_iter_at(&it, &t, NULL);
    assert_int_equal(t, 50);
    assert_true(xor_iter_seek(&it, 100)); /* the last */
    xor_iter_at(&it, &t, NULL);
    assert_int_equal(t, 100);
    assert_false(xor_iter_next(&it));
    assert_false(xor_iter_err(&it));

    xor_iter_init(&it, b, len);
    assert_false(xor_iter_seek(&it, 101)); /* past the end */
    assert_false(xor_iter_err(&it));
    xor_chunk_free(&c);
}

/* Truncated and corrupted chunks end with an error, never an over-read. */
static void test_malformed(void **state) {
    (void)state;
    xor_iter_t it;
    /* Every truncation of a golden chunk. */
    for (size_t cut = 0; cut < sizeof golden2; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, golden2, cut);
        xor_iter_init(&it, p, cut);
        size_t n = 0;
        while (xor_iter_next(&it)) n++;
        assert_true(n < 100);
        assert_true(xor_iter_err(&it));
        xor_appender_t a;
        assert_int_equal(xor_appender_resume(&a, p, cut), -1);
        free(p);
    }
    /* A count larger than the samples present. */
    uint8_t more[sizeof golden0];
    memcpy(more, golden0, sizeof more);
    more[1] = 0xff; /* 255 samples claimed, 22 present: padding decodes as a few, then the end */
    xor_iter_init(&it, more, sizeof more);
    size_t n = 0;
    while (xor_iter_next(&it)) n++;
    assert_true(n >= 22 && n < 255);
    assert_true(xor_iter_err(&it));
    /* Random garbage: anything may decode, but nothing is read out of bounds. */
    for (int round = 0; round < 2000; round++) {
        size_t len = rnd() % 64;
        uint8_t *p = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++) p[i] = (uint8_t)rnd();
        xor_iter_init(&it, p, len);
        while (xor_iter_next(&it)) {
        }
        xor_iter_init(&it, p, len);
        (void)xor_iter_seek(&it, (int64_t)rnd());
        free(p);
    }
    /* Reusing a window before one exists is malformed: 2 samples, the second
     * value coded '10'. */
    uint8_t reuse[] = {0x00, 0x02, 0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x01, 0x80, 0x00};
    xor_iter_init(&it, reuse, sizeof reuse);
    assert_true(xor_iter_next(&it));
    assert_false(xor_iter_next(&it));
    assert_true(xor_iter_err(&it));
    /* A window with lz + sig > 64: '11', lz 31, sig 40. */
    uint8_t wide[] = {0x00, 0x02, 0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0xd0, 0, 0, 0, 0, 0, 0};
    xor_iter_init(&it, wide, sizeof wide);
    assert_true(xor_iter_next(&it));
    assert_false(xor_iter_next(&it));
    assert_true(xor_iter_err(&it));
    /* Shorter than the header. */
    xor_iter_init(&it, golden0, 1);
    assert_false(xor_iter_next(&it));
    assert_true(xor_iter_err(&it));
}

/* The low-level appender works on a caller's buffer with garbage past the
 * end and writes the same bytes as on a zeroed one. */
static void test_appender_dirty_buffer(void **state) {
    (void)state;
    uint8_t clean[512], dirty[512];
    memset(clean, 0, sizeof clean);
    memset(dirty, 0xff, sizeof dirty);
    xor_appender_t a, b;
    xor_appender_init(&a, clean);
    xor_appender_init(&b, dirty);
    double v = 3.0;
    for (int i = 0; i < 100; i++) {
        int64_t t = 1000 + i * 15000 + (i % 7);
        v += (i % 3) * 0.5;
        assert_true(xor_appender_size_after(&a, clean, t, v) <= sizeof clean);
        xor_appender_append(&a, clean, t, v);
        xor_appender_append(&b, dirty, t, v);
    }
    assert_int_equal(xor_appender_len(&a), xor_appender_len(&b));
    assert_memory_equal(clean, dirty, xor_appender_len(&a));
    assert_int_equal(xor_chunk_count_bytes(clean), 100);
}

static void test_resume_and_continue(void **state) {
    (void)state;
    xor_chunk_t whole;
    assert_int_equal(xor_chunk_init(&whole), 0);
    uint8_t buf[4096];
    xor_appender_t a;
    for (int i = 0; i < 120; i++) {
        int64_t t = i * 15000 + (int64_t)(rnd() % 100);
        double v = (double)(rnd() % 50);
        assert_int_equal(xor_chunk_append(&whole, t, v), 0);
        if (i == 59) {
            /* Stop halfway, resume from the bytes, go on in another buffer. */
            size_t len;
            const uint8_t *b = xor_chunk_bytes(&whole, &len);
            memcpy(buf, b, len);
            assert_int_equal(xor_appender_resume(&a, buf, len), 0);
        } else if (i > 59) {
            xor_appender_append(&a, buf, t, v);
        }
    }
    size_t len;
    const uint8_t *b = xor_chunk_bytes(&whole, &len);
    assert_int_equal(xor_appender_len(&a), len);
    assert_memory_equal(buf, b, len);
    /* Resuming an empty chunk. */
    uint8_t empty[2] = {0, 0};
    assert_int_equal(xor_appender_resume(&a, empty, 2), 0);
    assert_int_equal(a.nbits, 16);
    assert_int_equal(a.leading, 0xff);
    xor_chunk_free(&whole);
}

static void test_max_samples(void **state) {
    (void)state;
    xor_chunk_t c;
    assert_int_equal(xor_chunk_init(&c), 0);
    for (int i = 0; i < XOR_MAX_SAMPLES; i++) assert_int_equal(xor_chunk_append(&c, i, 1.0), 0);
    assert_int_equal(xor_chunk_num_samples(&c), XOR_MAX_SAMPLES);
    assert_int_equal(xor_chunk_append(&c, XOR_MAX_SAMPLES, 1.0), -1);
    assert_int_equal(xor_chunk_num_samples(&c), XOR_MAX_SAMPLES);
    /* 2 bits per sample after the first two. */
    size_t len;
    xor_chunk_bytes(&c, &len);
    assert_int_equal(len, (16 + 8 * 1 + 64 + 8 + 1 + 2 * (XOR_MAX_SAMPLES - 2) + 7) / 8);
    xor_iter_t it;
    xor_iter_init(&it, c.data, len);
    size_t n = 0;
    while (xor_iter_next(&it)) n++;
    assert_int_equal(n, XOR_MAX_SAMPLES);
    xor_chunk_free(&c);
}


/* ---- xor_chunk_decode and the iterator's fast path ------------------------
 * A reference decoder, one bit at a time with every read checked, written
 * from the format (chunkenc.h) alone: the library's decoders must agree
 * with it on every chunk, malformed ones included (same samples, same
 * error). */
typedef struct ref_reader {
    const uint8_t *b;
    size_t len, pos;
} ref_reader_t;

static bool ref_bits(ref_reader_t *r, unsigned n, uint64_t *out) {
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) {
        if (r->pos >= r->len * 8) return false;
        v = v << 1 | ((r->b[r->pos >> 3] >> (7 - (r->pos & 7))) & 1);
        r->pos++;
    }
    *out = v;
    return true;
}

static bool ref_uvarint(ref_reader_t *r, uint64_t *out) {
    uint64_t x = 0, b;
    for (unsigned i = 0; i < 10; i++) {
        if (!ref_bits(r, 8, &b)) return false;
        if (b < 0x80) {
            if (i == 9 && b > 1) return false;
            *out = x | b << (7 * i);
            return true;
        }
        x |= (b & 0x7f) << (7 * i);
    }
    return false;
}

/* Decodes up to cap samples; returns how many, *err when malformed. */
static size_t ref_decode(const uint8_t *b, size_t len, smp_t *out, size_t cap, bool *err) {
    ref_reader_t r = {b, len, 16};
    *err = len < 2;
    if (*err) return 0;
    size_t total = (size_t)b[0] << 8 | b[1], n = 0;
    int64_t t = 0;
    uint64_t delta = 0, v = 0, x, bit;
    int leading = -1, trailing = 0;
    for (; n < total && n < cap; n++) {
        if (n == 0) {
            uint64_t zz;
            if (!ref_uvarint(&r, &zz) || !ref_bits(&r, 64, &v)) break;
            t = (int64_t)((zz >> 1) ^ (0 - (zz & 1)));
        } else {
            if (n == 1) {
                if (!ref_uvarint(&r, &delta)) break;
            } else {
                unsigned ones = 0;
                for (; ones < 4; ones++) {
                    if (!ref_bits(&r, 1, &bit)) goto bad;
                    if (!bit) break;
                }
                static const unsigned width[5] = {0, 14, 17, 20, 64};
                uint64_t dod = 0;
                if (width[ones]) {
                    if (!ref_bits(&r, width[ones], &dod)) break;
                    if (width[ones] < 64 && dod > (1ULL << (width[ones] - 1))) dod -= 1ULL << width[ones];
                }
                delta += dod;
            }
            t = (int64_t)((uint64_t)t + delta);
            if (!ref_bits(&r, 1, &bit)) break;
            if (bit) {
                if (!ref_bits(&r, 1, &bit)) break;
                if (bit) {
                    uint64_t l, s;
                    if (!ref_bits(&r, 5, &l) || !ref_bits(&r, 6, &s)) break;
                    unsigned sig = s ? (unsigned)s : 64;
                    if (l + sig > 64) break;
                    leading = (int)l;
                    trailing = 64 - (int)l - (int)sig;
                } else if (leading < 0) {
                    break;
                }
                if (!ref_bits(&r, (unsigned)(64 - leading - trailing), &x)) break;
                v ^= x << trailing;
            }
        }
        out[n] = (smp_t){t, v};
    }
bad:
    *err = n < total && n < cap;
    return n;
}

/* The library's decoders on bytes: the iterator, and xor_chunk_decode over
 * a few windows, against the reference. */
static void check_decoders_agree(const uint8_t *bytes, size_t len) {
    enum { CAP = 70000 };
    static smp_t ref[CAP];
    static sample_t out[CAP];
    uint8_t *b = malloc(len ? len : 1); /* exactly len bytes: ASan sees any over-read */
    memcpy(b, bytes, len);
    bool rerr;
    size_t rn = ref_decode(b, len, ref, CAP, &rerr);
    xor_iter_t it;
    xor_iter_init(&it, b, len);
    size_t n = 0;
    while (xor_iter_next(&it)) {
        assert_true(n < rn);
        assert_int_equal(it.t, ref[n].t);
        assert_int_equal(xor_iter_at_bits(&it), ref[n].v);
        n++;
    }
    assert_int_equal(n, rn);
    assert_int_equal(xor_iter_err(&it), rerr);
    int64_t lo = rn ? ref[0].t : 0, hi = rn ? ref[rn - 1].t : 0;
    /* timestamps may be anything: window edges in wrapping arithmetic */
    uint64_t span = (uint64_t)hi - (uint64_t)lo;
    int64_t a = (int64_t)((uint64_t)lo + span / 3), z = (int64_t)((uint64_t)hi - span / 3);
    int64_t lo1 = lo == INT64_MAX ? lo : lo + 1, hi1 = hi == INT64_MIN ? hi : hi - 1;
    const int64_t wins[][2] = {{INT64_MIN, INT64_MAX}, {lo, hi}, {lo1, hi1}, {a, z},
                               {hi, hi}, {INT64_MIN, lo}, {(int64_t)rnd(), (int64_t)rnd()}};
    for (size_t w = 0; w < sizeof wins / sizeof wins[0]; w++) {
        int64_t mint = wins[w][0], maxt = wins[w][1];
        /* expected: in order up to the first sample after maxt */
        size_t want = 0, first = 0, k;
        bool stopped = false;
        for (k = 0; k < rn; k++) {
            if (ref[k].t > maxt) {
                stopped = true;
                break;
            }
            if (ref[k].t >= mint) {
                if (!want) first = k;
                want++;
            }
        }
        bool derr;
        size_t got = xor_chunk_decode(b, len, mint, maxt, out, false, &derr);
        assert_int_equal(derr, rerr && !stopped);
        assert_int_equal(got, want);
        for (size_t i = 0, j = first; i < got; j++) {
            if (ref[j].t < mint) continue;
            assert_int_equal(out[i].t, ref[j].t);
            assert_memory_equal(&out[i].v, &ref[j].v, 8);
            i++;
        }
        sample_t last = {0, 0};
        got = xor_chunk_decode(b, len, mint, maxt, &last, true, &derr);
        assert_int_equal(derr, rerr && !stopped);
        assert_int_equal(got, want ? 1 : 0);
        if (want) {
            size_t j = k; /* the last in the window: scan back from the stop */
            while (ref[j - 1].t < mint) j--;
            assert_int_equal(last.t, ref[j - 1].t);
            assert_memory_equal(&last.v, &ref[j - 1].v, 8);
        }
    }
    free(b);
}

static void test_decoders_agree(void **state) {
    (void)state;
    check_decoders_agree(golden0, sizeof golden0);
    check_decoders_agree(golden1, sizeof golden1);
    check_decoders_agree(golden2, sizeof golden2);
    /* every truncation of a golden chunk, and of the golden chunks with bytes flipped */
    const uint8_t *g[] = {golden0, golden1, golden2};
    const size_t glen[] = {sizeof golden0, sizeof golden1, sizeof golden2};
    for (size_t k = 0; k < 3; k++) {
        for (size_t cut = 0; cut < glen[k]; cut++) check_decoders_agree(g[k], cut);
        uint8_t *p = malloc(glen[k]);
        for (int round = 0; round < 300; round++) {
            memcpy(p, g[k], glen[k]);
            p[2 + rnd() % (glen[k] - 2)] ^= (uint8_t)(1u << (rnd() % 8));
            check_decoders_agree(p, glen[k]);
        }
        free(p);
    }
    /* random chunks of every shape round trip already; here with windows */
    enum { N = 1500 };
    smp_t *s = malloc(N * sizeof *s);
    for (int round = 0; round < 200; round++) {
        size_t n = 1 + rnd() % (round % 2 ? 130 : N);
        int64_t t = (int64_t)rnd();
        double v = 0;
        for (size_t i = 0; i < n; i++) {
            switch (round % 4) {
            case 0: /* scrape-like counter */
                t += 60000 + (int64_t)(rnd() % 7) - 3;
                v += (double)(rnd() % 50);
                s[i] = (smp_t){t, bits_of(v)};
                break;
            case 1: /* any bits, any timestamps (every dod width) */
                s[i] = (smp_t){(int64_t)rnd(), rnd()};
                break;
            case 2: /* gauge, gaps of every dod width */
                t += (int64_t)(rnd() % (1u << (rnd() % 24)));
                s[i] = (smp_t){t, bits_of((double)(rnd() % 100))};
                break;
            default: /* constant */
                s[i] = (smp_t){1000 * (int64_t)i, bits_of(42.0)};
            }
        }
        xor_chunk_t c;
        assert_int_equal(xor_chunk_init(&c), 0);
        for (size_t i = 0; i < n; i++) assert_int_equal(xor_chunk_append(&c, s[i].t, from_bits(s[i].v)), 0);
        size_t len;
        const uint8_t *b = xor_chunk_bytes(&c, &len);
        check_decoders_agree(b, len);
        /* and with its count raised: padding decodes, then an error */
        uint8_t *p = malloc(len);
        memcpy(p, b, len);
        p[0] = 0xff;
        check_decoders_agree(p, len);
        free(p);
        xor_chunk_free(&c);
    }
    free(s);
    /* garbage of every length up to a few hundred bytes */
    for (int round = 0; round < 3000; round++) {
        size_t len = rnd() % 400;
        uint8_t *p = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++) p[i] = (uint8_t)rnd();
        if (len >= 2 && round % 2) p[0] = 0, p[1] = (uint8_t)rnd(); /* plausible counts too */
        check_decoders_agree(p, len);
        free(p);
    }
}

PL_TEST_MAIN(cmocka_unit_test(test_golden_prometheus_bytes), cmocka_unit_test(test_hand_vectors),
             cmocka_unit_test(test_dod_buckets), cmocka_unit_test(test_xor_windows),
             cmocka_unit_test(test_roundtrip_random), cmocka_unit_test(test_stale_nan_exact),
             cmocka_unit_test(test_seek), cmocka_unit_test(test_malformed),
             cmocka_unit_test(test_appender_dirty_buffer), cmocka_unit_test(test_resume_and_continue),
             cmocka_unit_test(test_max_samples), cmocka_unit_test(test_decoders_agree))
