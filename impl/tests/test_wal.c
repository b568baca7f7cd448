/* test_wal.c — WAL segments, pages, fragments, compression, repair, and the
 * record encodings, including a WAL the real Prometheus 2.42 wrote
 * (impl/tests/data/wal/prom242: its segment and `promtool tsdb dump` of it). */
#include "testutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsdb/record.h"
#include "tsdb/wal.h"

#define FIXTURE "impl/tests/data/wal/prom242"

/* ---- helpers ----------------------------------------------------------------- */

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f) {
    (void)sb, (void)flag, (void)f;
    return remove(p);
}
static void rm_rf(const char *dir) { nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static char *tmpdir(void) {
    char *d = strdup("/tmp/pl-test-wal.XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static off_t file_size(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) return -1;
    return sb.st_size;
}

static uint8_t *read_all(const char *path, size_t *len) {
    char *p = pl_test_read_file(path, len);
    assert_non_null(p);
    return (uint8_t *)p;
}

/* Deterministic test data: record k has length lens[k] and bytes from a seed. */
static void fill(uint8_t *p, size_t n, uint32_t seed, bool compressible) {
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = compressible ? (uint8_t)("abcdefgh"[((i / 32) * 7 + seed) & 7]) : (uint8_t)(x >> 16);
    }
}

typedef struct recs {
    uint8_t **data;
    size_t *len;
    size_t n;
} recs_t;

static recs_t make_recs(size_t n, bool compressible) {
    recs_t r = {calloc(n, sizeof(uint8_t *)), calloc(n, sizeof(size_t)), n};
    static const size_t sizes[] = {0, 1, 6, 7, 100, 32761, 32762, 32768, 40000, 100000, 3, 500};
    for (size_t k = 0; k < n; k++) {
        r.len[k] = sizes[k % (sizeof sizes / sizeof sizes[0])] + (k / 12);
        r.data[k] = malloc(r.len[k] + 1);
        fill(r.data[k], r.len[k], (uint32_t)k, compressible && k % 2 == 0);
    }
    return r;
}

static void free_recs(recs_t *r) {
    for (size_t k = 0; k < r->n; k++)
        free(r->data[k]);
    free(r->data);
    free(r->len);
}

/* Reads every record of dir and checks them against want (first n). */
static void expect_records(const char *dir, const recs_t *want, size_t n) {
    int first, last;
    pl_err_t err;
    assert_int_equal(wal_segment_range(dir, &first, &last, &err), 1);
    wal_reader_t *r;
    assert_int_equal(wal_reader_open(dir, first, last, &r, &err), 0);
    size_t k = 0;
    const uint8_t *rec;
    size_t len;
    int rc;
    while ((rc = wal_reader_next(r, &rec, &len, &err)) == 1) {
        assert_true(k < n);
        assert_int_equal(len, want->len[k]);
        assert_memory_equal(rec, want->data[k], len);
        k++;
    }
    if (rc < 0) fail_msg("reader: %s", err.msg);
    assert_int_equal(k, n);
    wal_reader_free(r);
}

static void write_recs(const char *dir, const wal_opts_t *o, const recs_t *r, size_t n) {
    wal_t *w;
    pl_err_t err;
    assert_int_equal(wal_open(dir, o, &w, &err), 0);
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(wal_log(w, r->data[k], r->len[k], &err), 0);
        if (k % 3 == 0) assert_int_equal(wal_flush(w, &err), 0);
    }
    assert_int_equal(wal_close(w, &err), 0);
}

/* ---- CRC and records ----------------------------------------------------------- */

static void test_crc32c(void **state) {
    (void)state;
    assert_int_equal(wal_crc32c("123456789", 9), 0xE3069283u);
    assert_int_equal(wal_crc32c("", 0), 0);
    /* The sliced and the byte-wise paths agree at every alignment and length. */
    uint8_t buf[100];
    fill(buf, sizeof buf, 7, false);
    uint32_t whole = wal_crc32c(buf, sizeof buf);
    assert_int_not_equal(whole, wal_crc32c(buf, sizeof buf - 1));
    assert_int_equal(wal_crc32c(buf + 3, 17), wal_crc32c(buf + 3, 17));
}

static void test_record_byte_vectors(void **state) {
    (void)state;
    strbuf_t sb = STRBUF_INIT;
    label_t ls[] = {{"__name__", "up"}, {"job", "a"}};
    record_series_begin(&sb);
    record_series_add(&sb, 1, ls, 2);
    static const uint8_t series[] = {1,   0,   0,   0,   0,   0, 0,   0,   1, 2,   8,   '_', '_', 'n',
                                     'a', 'm', 'e', '_', '_', 2, 'u', 'p', 3, 'j', 'o', 'b', 1,   'a'};
    assert_int_equal(sb.len, sizeof series);
    assert_memory_equal(sb.data, series, sizeof series);

    /* Samples: base from the first; every sample, the first too, as signed
     * varint deltas; values as BE64 float bits. */
    strbuf_reset(&sb);
    record_sample_t s[] = {{2, 1000, 1.0}, {1, 999, 2.0}, {3, 1130, -0.5}};
    record_samples_encode(&sb, s, 3);
    static const uint8_t samples[] = {
        2, 0,    0,    0,    0,    0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0x03, 0xe8, /* type, base ref 2, base t 1000 */
        0, 0,    0x3f, 0xf0, 0,    0, 0, 0, 0, 0,                            /* +0 +0 1.0 */
        1, 1,    0x40, 0x00, 0,    0, 0, 0, 0, 0,                            /* -1 -1 2.0 */
        2, 0x84, 0x02, 0xbf, 0xe0, 0, 0, 0, 0, 0, 0,                         /* +1 +130 -0.5 */
    };
    assert_int_equal(sb.len, sizeof samples);
    assert_memory_equal(sb.data, samples, sizeof samples);

    strbuf_reset(&sb);
    record_tombstone_t tb[] = {{5, -1, 100}};
    record_tombstones_encode(&sb, tb, 1);
    static const uint8_t tomb[] = {3, 0, 0, 0, 0, 0, 0, 0, 5, 1, 0xc8, 0x01};
    assert_int_equal(sb.len, sizeof tomb);
    assert_memory_equal(sb.data, tomb, sizeof tomb);

    strbuf_reset(&sb);
    record_samples_encode(&sb, NULL, 0);
    assert_int_equal(sb.len, 1);
    assert_int_equal((uint8_t)sb.data[0], RECORD_SAMPLES);
    strbuf_free(&sb);
}

typedef struct series_seen {
    size_t n;
    uint64_t refs[8];
    strbuf_t text;
} series_seen_t;

static int collect_series(void *ctx, uint64_t ref, const label_t *ls, size_t n) {
    series_seen_t *s = ctx;
    s->refs[s->n++] = ref;
    labels_format_braces(&s->text, ls, n);
    strbuf_putc(&s->text, '\n');
    return 0;
}

static void test_record_round_trip(void **state) {
    (void)state;
    strbuf_t sb = STRBUF_INIT;
    char longv[300];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    label_t a[] = {{"__name__", "m"}, {"empty", ""}, {"long", longv}, {"utf8", "\xc3\xa9t\xc3\xa9"}};
    label_t b[] = {{"__name__", "n"}};
    record_series_begin(&sb);
    record_series_add(&sb, UINT64_MAX, a, 4);
    record_series_add(&sb, 0, NULL, 0);
    record_series_add(&sb, 42, b, 1);
    record_decoder_t d;
    record_decoder_init(&d);
    series_seen_t seen = {0};
    pl_err_t err;
    assert_int_equal(record_type((const uint8_t *)sb.data, sb.len), RECORD_SERIES);
    assert_int_equal(record_decode_series(&d, (const uint8_t *)sb.data, sb.len, collect_series, &seen, &err), 0);
    assert_int_equal(seen.n, 3);
    assert_true(seen.refs[0] == UINT64_MAX && seen.refs[1] == 0 && seen.refs[2] == 42);
    strbuf_t want = STRBUF_INIT;
    labels_format_braces(&want, a, 4);
    strbuf_puts(&want, "\n{}\n{__name__=\"n\"}\n");
    assert_string_equal(seen.text.data, want.data);
    strbuf_free(&want);
    strbuf_free(&seen.text);

    /* Samples with wrapping deltas, extreme timestamps and NaN payloads. */
    double stale;
    uint64_t stale_bits = 0x7ff0000000000002ull;
    memcpy(&stale, &stale_bits, 8);
    record_sample_t s[] = {{5, 0, 1.5},       {UINT64_MAX, INT64_MAX, stale}, {1, INT64_MIN, -0.0},
                           {5, -1, INFINITY}, {1000000, 1795801920174, NAN},  {5, 7, 1e308}};
    size_t ns = sizeof s / sizeof s[0];
    strbuf_reset(&sb);
    record_samples_encode(&sb, s, ns);
    const record_sample_t *out;
    size_t n;
    assert_int_equal(record_decode_samples(&d, (const uint8_t *)sb.data, sb.len, &out, &n, &err), 0);
    assert_int_equal(n, ns);
    for (size_t i = 0; i < ns; i++) {
        assert_true(out[i].ref == s[i].ref);
        assert_true(out[i].t == s[i].t);
        assert_memory_equal(&out[i].v, &s[i].v, 8);
    }

    record_tombstone_t tb[] = {{1, INT64_MIN, INT64_MAX}, {UINT64_MAX, 5, 4}};
    strbuf_reset(&sb);
    record_tombstones_encode(&sb, tb, 2);
    const record_tombstone_t *tout;
    assert_int_equal(record_decode_tombstones(&d, (const uint8_t *)sb.data, sb.len, &tout, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(tout, tb, sizeof tb);
    record_decoder_free(&d);
    strbuf_free(&sb);
}

static int count_series(void *ctx, uint64_t ref, const label_t *ls, size_t n) {
    (void)ref, (void)ls, (void)n;
    (*(int *)ctx)++;
    return 0;
}

static void test_record_malformed(void **state) {
    (void)state;
    strbuf_t sb = STRBUF_INIT;
    label_t a[] = {{"__name__", "metric"}, {"job", "j"}};
    record_series_begin(&sb);
    record_series_add(&sb, 9, a, 2);
    record_decoder_t d;
    record_decoder_init(&d);
    pl_err_t err;
    int cnt = 0;
    /* Every truncation of a one-series record fails (except the bare type byte: no series). */
    for (size_t cut = 2; cut < sb.len; cut++) {
        cnt = 0;
        err.msg[0] = '\0';
        assert_int_equal(record_decode_series(&d, (const uint8_t *)sb.data, cut, count_series, &cnt, &err), -1);
        assert_int_equal(cnt, 0);
        assert_true(err.msg[0] != '\0');
    }
    cnt = 0;
    assert_int_equal(record_decode_series(&d, (const uint8_t *)sb.data, 1, count_series, &cnt, &err), 0);
    assert_int_equal(cnt, 0);
    /* A label count far beyond the record. */
    uint8_t huge[] = {1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 'a'};
    assert_int_equal(record_decode_series(&d, huge, sizeof huge, count_series, &cnt, &err), -1);
    /* Wrong type. */
    assert_int_equal(record_decode_series(&d, (const uint8_t *)"\x02", 1, count_series, &cnt, &err), -1);

    record_sample_t s[] = {{1, 2, 3.0}, {2, 3, 4.0}};
    strbuf_reset(&sb);
    record_samples_encode(&sb, s, 2);
    const record_sample_t *out;
    size_t n;
    for (size_t cut = 2; cut < sb.len; cut++)
        if (cut != 17 && cut != 27) /* after the base, and after one whole sample: valid prefixes */
            assert_int_equal(record_decode_samples(&d, (const uint8_t *)sb.data, cut, &out, &n, &err), -1);
    assert_int_equal(record_decode_samples(&d, (const uint8_t *)sb.data, 27, &out, &n, &err), 0);
    assert_int_equal(n, 1);
    /* An over-long varint. */
    uint8_t bad[] = {2,    0,    0,    0,    0,    0,    0,    0,    1,    0, 0, 0, 0, 0, 0, 0, 1, 0xff,
                     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(record_decode_samples(&d, bad, sizeof bad, &out, &n, &err), -1);
    assert_int_equal(record_type(NULL, 0), RECORD_UNKNOWN);
    assert_int_equal(record_type((const uint8_t *)"\x09", 1), RECORD_UNKNOWN);
    record_decoder_free(&d);
    strbuf_free(&sb);
}

/* ---- segments and pages -------------------------------------------------------------- */

static void test_wal_layout(void **state) {
    (void)state;
    char *dir = tmpdir();
    wal_opts_t o = {0, WAL_COMPRESSION_NONE};
    wal_t *w;
    pl_err_t err;
    assert_int_equal(wal_open(dir, &o, &w, &err), 0);
    uint8_t rec[10];
    fill(rec, sizeof rec, 1, false);
    assert_int_equal(wal_log(w, rec, sizeof rec, &err), 0);
    char seg[4200];
    wal_segment_path(seg, sizeof seg, dir, 0);
    assert_int_equal(file_size(seg), 0); /* the partial page waits for the flush */
    assert_int_equal(wal_flush(w, &err), 0);
    assert_int_equal(file_size(seg), 17);
    size_t len;
    uint8_t *b = read_all(seg, &len);
    uint32_t crc = wal_crc32c(rec, sizeof rec);
    uint8_t hdr[7] = {WAL_FRAG_FULL,       0,           10, (uint8_t)(crc >> 24), (uint8_t)(crc >> 16),
                      (uint8_t)(crc >> 8), (uint8_t)crc};
    assert_memory_equal(b, hdr, 7);
    assert_memory_equal(b + 7, rec, 10);
    free(b);

    /* A record that leaves 3 bytes in the page: they are padding, the next
     * record starts on the next page. */
    size_t fill_len = WAL_PAGE_SIZE - 17 - 7 - 3;
    uint8_t *big = calloc(1, fill_len);
    assert_int_equal(wal_log(w, big, fill_len, &err), 0);
    assert_int_equal(file_size(seg), WAL_PAGE_SIZE); /* a full page is written at once */
    assert_int_equal(wal_log(w, rec, sizeof rec, &err), 0);
    assert_int_equal(wal_flush(w, &err), 0);
    assert_int_equal(file_size(seg), WAL_PAGE_SIZE + 17);
    b = read_all(seg, &len);
    assert_int_equal(b[WAL_PAGE_SIZE], WAL_FRAG_FULL);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(b[WAL_PAGE_SIZE - i], 0);
    free(b);

    /* A record larger than a page: FIRST, MIDDLE..., LAST. */
    uint8_t *huge = malloc(80000);
    fill(huge, 80000, 3, false);
    assert_int_equal(wal_log(w, huge, 80000, &err), 0);
    assert_int_equal(wal_flush(w, &err), 0);
    b = read_all(seg, &len);
    size_t p = WAL_PAGE_SIZE + 17;
    assert_int_equal(b[p], WAL_FRAG_FIRST);
    assert_int_equal(b[2 * WAL_PAGE_SIZE], WAL_FRAG_MIDDLE);
    assert_int_equal(b[3 * WAL_PAGE_SIZE], WAL_FRAG_LAST);
    free(b);
    wal_stats_t st;
    wal_get_stats(w, &st);
    assert_int_equal(st.completed_pages, 3);
    assert_int_equal(st.records, 4);
    assert_int_equal(wal_close(w, &err), 0);
    /* Close pads the last page. */
    assert_int_equal(file_size(seg), 4 * WAL_PAGE_SIZE);

    /* Opening again starts a new segment. */
    assert_int_equal(wal_open(dir, &o, &w, &err), 0);
    wal_get_stats(w, &st);
    assert_int_equal(st.segment_current, 1);
    assert_int_equal(wal_close(w, &err), 0);
    int first, last;
    assert_int_equal(wal_segment_range(dir, &first, &last, &err), 1);
    assert_int_equal(first, 0);
    assert_int_equal(last, 1);
    free(big);
    free(huge);
    rm_rf(dir);
    free(dir);
}

static void test_compression_flags(void **state) {
    (void)state;
    static const struct {
        wal_compression_t c;
        uint8_t flag;
    } cases[] = {
        {WAL_COMPRESSION_NONE, 0}, {WAL_COMPRESSION_SNAPPY, WAL_FLAG_SNAPPY}, {WAL_COMPRESSION_ZSTD, WAL_FLAG_ZSTD}};
    for (size_t i = 0; i < 3; i++) {
        char *dir = tmpdir();
        wal_opts_t o = {0, cases[i].c};
        wal_t *w;
        pl_err_t err;
        assert_int_equal(wal_open(dir, &o, &w, &err), 0);
        uint8_t text[1000], noise[16];
        fill(text, sizeof text, 1, true);
        fill(noise, sizeof noise, 2, false);
        assert_int_equal(wal_log(w, text, sizeof text, &err), 0);
        assert_int_equal(wal_log(w, noise, sizeof noise, &err), 0); /* does not shrink: stored as is */
        assert_int_equal(wal_close(w, &err), 0);
        char seg[4200];
        wal_segment_path(seg, sizeof seg, dir, 0);
        size_t len;
        uint8_t *b = read_all(seg, &len);
        assert_int_equal(b[0], WAL_FRAG_FULL | cases[i].flag);
        size_t l0 = (size_t)b[1] << 8 | b[2];
        if (cases[i].flag) assert_true(l0 < 200);
        assert_int_equal(b[7 + l0], WAL_FRAG_FULL);
        free(b);
        recs_t r = {NULL, NULL, 2};
        uint8_t *data[2] = {text, noise};
        size_t lens[2] = {sizeof text, sizeof noise};
        r.data = data;
        r.len = lens;
        expect_records(dir, &r, 2);
        rm_rf(dir);
        free(dir);
    }
}

static void round_trip(wal_compression_t c) {
    char *dir = tmpdir();
    /* Small segments: records must be cut into new segments, never across. */
    wal_opts_t o = {4 * WAL_PAGE_SIZE, c};
    recs_t r = make_recs(60, c != WAL_COMPRESSION_NONE);
    write_recs(dir, &o, &r, r.n);
    expect_records(dir, &r, r.n);
    int first, last;
    pl_err_t err;
    assert_int_equal(wal_segment_range(dir, &first, &last, &err), 1);
    assert_true(last > first);
    for (int k = first; k <= last; k++) {
        char seg[4200];
        wal_segment_path(seg, sizeof seg, dir, k);
        off_t sz = file_size(seg);
        assert_true(sz % WAL_PAGE_SIZE == 0); /* closed segments are padded */
        /* A segment overflows its size only for a record larger than a segment. */
        assert_true(sz <= 4 * WAL_PAGE_SIZE || c == WAL_COMPRESSION_NONE);
    }
    free_recs(&r);
    rm_rf(dir);
    free(dir);
}

static void test_round_trip_none(void **state) {
    (void)state;
    round_trip(WAL_COMPRESSION_NONE);
}
static void test_round_trip_snappy(void **state) {
    (void)state;
    round_trip(WAL_COMPRESSION_SNAPPY);
}
static void test_round_trip_zstd(void **state) {
    (void)state;
    round_trip(WAL_COMPRESSION_ZSTD);
}

/* ---- corruption and repair -------------------------------------------------------------- */

/* Reads dir until the end or the first corruption; returns the count of good
 * records and sets *corrupt. */
static size_t read_until_error(const char *dir, bool *corrupt, int *good_seg, uint64_t *good_off) {
    int first, last;
    pl_err_t err;
    if (wal_segment_range(dir, &first, &last, &err) != 1) return 0;
    wal_reader_t *r;
    assert_int_equal(wal_reader_open(dir, first, last, &r, &err), 0);
    const uint8_t *rec;
    size_t len, k = 0;
    int rc;
    while ((rc = wal_reader_next(r, &rec, &len, &err)) == 1)
        k++;
    *corrupt = rc < 0;
    wal_reader_good_end(r, good_seg, good_off);
    wal_reader_free(r);
    return k;
}

static void test_repair_garbage_appended(void **state) {
    (void)state;
    static const wal_compression_t comps[] = {WAL_COMPRESSION_NONE, WAL_COMPRESSION_SNAPPY, WAL_COMPRESSION_ZSTD};
    for (int ci = 0; ci < 3; ci++) {
        char *dir = tmpdir();
        wal_opts_t o = {0, comps[ci]};
        recs_t r = make_recs(12, true);
        wal_t *w;
        pl_err_t err;
        assert_int_equal(wal_open(dir, &o, &w, &err), 0);
        for (size_t k = 0; k < r.n; k++)
            assert_int_equal(wal_log(w, r.data[k], r.len[k], &err), 0);
        assert_int_equal(wal_flush(w, &err), 0); /* not closed: as after a crash */
        char seg[4200];
        wal_segment_path(seg, sizeof seg, dir, 0);
        off_t good = file_size(seg);
        /* Garbage after the last record. */
        int fd = open(seg, O_WRONLY | O_APPEND);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "\x01\x00\x05garbage-garbage", 18), 18);
        close(fd);
        bool corrupt;
        int gs;
        uint64_t go;
        assert_int_equal(read_until_error(dir, &corrupt, &gs, &go), r.n);
        assert_true(corrupt);
        assert_int_equal(gs, 0);
        assert_int_equal(go, (uint64_t)good);
        assert_int_equal(wal_repair(dir, gs, go, &err), 0);
        assert_int_equal(file_size(seg), good);
        expect_records(dir, &r, r.n);
        assert_int_equal(wal_close(w, &err), 0);
        free_recs(&r);
        rm_rf(dir);
        free(dir);
    }
}

static void test_repair_cut_mid_record(void **state) {
    (void)state;
    char *dir = tmpdir();
    wal_opts_t o = {0, WAL_COMPRESSION_NONE};
    recs_t r = make_recs(10, false); /* record 9 is 100009 bytes: four pages */
    write_recs(dir, &o, &r, r.n);
    /* A second segment that repair must delete. */
    write_recs(dir, &o, &r, 2);
    char seg[4200];
    wal_segment_path(seg, sizeof seg, dir, 0);
    size_t total = 0;
    for (int k = 0; k < 9; k++)
        total += r.len[k];
    /* Cut inside record 9's third fragment. */
    off_t sz = file_size(seg);
    off_t cut = sz - WAL_PAGE_SIZE - 100;
    assert_int_equal(truncate(seg, cut), 0);
    bool corrupt;
    int gs;
    uint64_t go;
    assert_int_equal(read_until_error(dir, &corrupt, &gs, &go), 9);
    assert_true(corrupt);
    assert_int_equal(gs, 0);
    pl_err_t err;
    assert_int_equal(wal_repair(dir, gs, go, &err), 0);
    int first, last;
    assert_int_equal(wal_segment_range(dir, &first, &last, &err), 1);
    assert_int_equal(last, 0);
    expect_records(dir, &r, 9);

    /* A flipped byte inside a record of a middle page: cut before it. */
    wal_t *w;
    assert_int_equal(wal_open(dir, &o, &w, &err), 0);
    assert_int_equal(wal_close(w, &err), 0);
    int fd = open(seg, O_RDWR);
    uint8_t byte;
    assert_int_equal(pread(fd, &byte, 1, 40), 1);
    byte ^= 0x40;
    assert_int_equal(pwrite(fd, &byte, 1, 40), 1);
    close(fd);
    assert_int_equal(read_until_error(dir, &corrupt, &gs, &go), 3); /* byte 40 is in record 3 */
    assert_true(corrupt);
    assert_int_equal(go, 28);
    free_recs(&r);
    rm_rf(dir);
    free(dir);
}

/* Random bytes and bit flips of a valid segment: records or an error, never a crash. */
static void test_reader_malformed_input(void **state) {
    (void)state;
    uint8_t *buf = malloc(3 * WAL_PAGE_SIZE);
    for (uint32_t seed = 0; seed < 40; seed++) {
        fill(buf, 3 * WAL_PAGE_SIZE, seed, seed & 1);
        if (seed % 4 == 0) buf[0] = WAL_FRAG_FULL | WAL_FLAG_SNAPPY;
        if (seed % 4 == 1) buf[0] = WAL_FRAG_FIRST | WAL_FLAG_ZSTD;
        wal_reader_t *r = wal_reader_from_bytes(buf, 3 * WAL_PAGE_SIZE - seed * 97);
        const uint8_t *rec;
        size_t len;
        pl_err_t err;
        int rc;
        int guard = 0;
        while ((rc = wal_reader_next(r, &rec, &len, &err)) == 1 && guard++ < 100000) {
        }
        wal_reader_free(r);
    }
    /* Bit flips in a real segment. */
    size_t len;
    uint8_t *seg = read_all(FIXTURE "/wal/00000000", &len);
    for (size_t i = 0; i < len; i += 997) {
        seg[i] ^= 0x10;
        wal_reader_t *r = wal_reader_from_bytes(seg, len);
        const uint8_t *rec;
        size_t l;
        pl_err_t err;
        size_t k = 0;
        int rc;
        while ((rc = wal_reader_next(r, &rec, &l, &err)) == 1)
            k++;
        wal_reader_free(r);
        seg[i] ^= 0x10;
    }
    free(seg);
    free(buf);
}

/* ---- a WAL the real Prometheus wrote ------------------------------------------------------ */

typedef struct fixture_series {
    uint64_t ref;
    char *text; /* {labels} as promtool prints them */
} fixture_series_t;

typedef struct fixture {
    fixture_series_t *s;
    size_t n, cap;
} fixture_t;

static int fixture_series(void *ctx, uint64_t ref, const label_t *ls, size_t n) {
    fixture_t *f = ctx;
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 256;
        f->s = realloc(f->s, f->cap * sizeof *f->s);
    }
    strbuf_t sb = STRBUF_INIT;
    labels_format_braces(&sb, ls, n);
    f->s[f->n++] = (fixture_series_t){ref, strbuf_detach(&sb)};
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_prometheus_242_wal(void **state) {
    (void)state;
    /* Decode every record of the fixture and print the samples as
     * `promtool tsdb dump` does; the lines must be the same set. */
    int first, last;
    pl_err_t err;
    assert_int_equal(wal_segment_range(FIXTURE "/wal", &first, &last, &err), 1);
    wal_reader_t *r;
    assert_int_equal(wal_reader_open(FIXTURE "/wal", first, last, &r, &err), 0);
    record_decoder_t d;
    record_decoder_init(&d);
    fixture_t fx = {0};
    char **lines = NULL;
    size_t nlines = 0, cap = 0, nsnappy = 0, nother = 0;
    const uint8_t *rec;
    size_t len;
    int rc;
    while ((rc = wal_reader_next(r, &rec, &len, &err)) == 1) {
        nsnappy++;
        switch (record_type(rec, len)) {
        case RECORD_SERIES: assert_int_equal(record_decode_series(&d, rec, len, fixture_series, &fx, &err), 0); break;
        case RECORD_SAMPLES: {
            const record_sample_t *s;
            size_t n;
            assert_int_equal(record_decode_samples(&d, rec, len, &s, &n, &err), 0);
            for (size_t i = 0; i < n; i++) {
                const char *text = NULL;
                for (size_t k = 0; k < fx.n && !text; k++)
                    if (fx.s[k].ref == s[i].ref) text = fx.s[k].text;
                assert_non_null(text);
                char v[400];
                pl_format_float(v, s[i].v);
                strbuf_t sb = STRBUF_INIT;
                strbuf_printf(&sb, "%s %s %lld", text, v, (long long)s[i].t);
                if (nlines == cap) {
                    cap = cap ? 2 * cap : 1024;
                    lines = realloc(lines, cap * sizeof *lines);
                }
                lines[nlines++] = strbuf_detach(&sb);
            }
            break;
        }
        default: nother++; break;
        }
    }
    if (rc < 0) fail_msg("fixture: %s", err.msg);
    wal_reader_free(r);
    record_decoder_free(&d);
    assert_true(fx.n > 100);
    (void)nother; /* metadata records only with --enable-feature=metadata-wal-records */

    size_t dlen;
    char *dump = pl_test_read_file(FIXTURE "/dump.txt", &dlen);
    assert_non_null(dump);
    char **want = NULL;
    size_t nwant = 0, wcap = 0;
    for (char *save = NULL, *line = strtok_r(dump, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (nwant == wcap) {
            wcap = wcap ? 2 * wcap : 1024;
            want = realloc(want, wcap * sizeof *want);
        }
        want[nwant++] = line;
    }
    assert_int_equal(nlines, nwant);
    qsort(lines, nlines, sizeof *lines, cmp_str);
    qsort(want, nwant, sizeof *want, cmp_str);
    for (size_t i = 0; i < nlines; i++)
        assert_string_equal(lines[i], want[i]);
    for (size_t i = 0; i < nlines; i++)
        free(lines[i]);
    free(lines);
    free(want);
    free(dump);
    for (size_t k = 0; k < fx.n; k++)
        free(fx.s[k].text);
    free(fx.s);
}

static void test_compression_names(void **state) {
    (void)state;
    wal_compression_t c;
    assert_int_equal(wal_compression_parse("zstd", &c), 0);
    assert_int_equal(c, WAL_COMPRESSION_ZSTD);
    assert_string_equal(wal_compression_name(c), "zstd");
    assert_int_equal(wal_compression_parse("snappy", &c), 0);
    assert_int_equal(wal_compression_parse("none", &c), 0);
    assert_int_equal(wal_compression_parse("gzip", &c), -1);
    wal_t *w;
    pl_err_t err;
    wal_opts_t o = {1000, WAL_COMPRESSION_NONE};
    assert_int_equal(wal_open("/tmp", &o, &w, &err), -1);
    assert_non_null(strstr(err.msg, "segment size"));
}

PL_TEST_MAIN(cmocka_unit_test(test_crc32c), cmocka_unit_test(test_record_byte_vectors),
             cmocka_unit_test(test_record_round_trip), cmocka_unit_test(test_record_malformed),
             cmocka_unit_test(test_wal_layout), cmocka_unit_test(test_compression_flags),
             cmocka_unit_test(test_round_trip_none), cmocka_unit_test(test_round_trip_snappy),
             cmocka_unit_test(test_round_trip_zstd), cmocka_unit_test(test_repair_garbage_appended),
             cmocka_unit_test(test_repair_cut_mid_record), cmocka_unit_test(test_reader_malformed_input),
             cmocka_unit_test(test_prometheus_242_wal), cmocka_unit_test(test_compression_names))
