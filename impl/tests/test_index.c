/* test_index.c — the shared byte helpers (CRC-32C, varints, the bounded
 * decoder), chunk segment files, and the index v2 writer and reader: layout
 * details Prometheus relies on (16-byte series alignment, the ("", "")
 * postings first, 4-byte aligned lists, TOC), reading promtool 2.42's
 * indexes, corruption detection, and malformed bytes that must not crash. */
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "tsdb/chunkenc.h"
#include "tsdb/chunks.h"
#include "tsdb/index.h"

#define FIXTURE "impl/tests/data/tsdb/promtool242"
#define FIX_BLOCK1 FIXTURE "/01M8F29V71D257YNKZP1FJWYHH"
#define FIX_BLOCK2 FIXTURE "/01M8F29V8Y9CHVVHW5DX8P0N0R"

static char tmpdir[] = "/tmp/pl-test-index.XXXXXX";

static int setup(void **state) {
    (void)state;
    strcpy(tmpdir, "/tmp/pl-test-index.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_crc32c(void **state) {
    (void)state;
    assert_int_equal(chunks_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(chunks_crc32c(0, "", 0), 0);
    /* Incremental equals one-shot, across the 8-byte slicing boundary. */
    const char *s = "The quick brown fox jumps over the lazy dog";
    uint32_t a = chunks_crc32c(0, s, strlen(s));
    uint32_t b = chunks_crc32c(chunks_crc32c(0, s, 13), s + 13, strlen(s) - 13);
    assert_int_equal(a, b);
    assert_int_equal(a, 0x22620404u);
}

static void test_varints(void **state) {
    (void)state;
    const int64_t vals[] = {0, 1, -1, 63, -64, 64, 127, 128, 300, -300, INT64_MAX, INT64_MIN, 1700000000000};
    strbuf_t sb = STRBUF_INIT;
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        enc_varint(&sb, vals[i]);
        enc_uvarint(&sb, (uint64_t)vals[i]);
    }
    decbuf_t d;
    dec_init(&d, (const uint8_t *)sb.data, sb.len);
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        assert_true(dec_varint(&d) == vals[i]);
        assert_true(dec_uvarint(&d) == (uint64_t)vals[i]);
    }
    assert_false(d.err);
    assert_int_equal(dec_len(&d), 0);
    /* Past the end: error, zero. */
    assert_int_equal(dec_uvarint(&d), 0);
    assert_true(d.err);
    /* 300 is ac 02 as in Go. */
    strbuf_reset(&sb);
    enc_uvarint(&sb, 300);
    assert_int_equal(sb.len, 2);
    assert_int_equal((uint8_t)sb.data[0], 0xac);
    assert_int_equal((uint8_t)sb.data[1], 0x02);
    /* An 11-byte varint overflows. */
    uint8_t bad[11];
    memset(bad, 0xff, sizeof bad);
    dec_init(&d, bad, sizeof bad);
    dec_uvarint(&d);
    assert_true(d.err);
    /* A string longer than the buffer. */
    uint8_t s[] = {5, 'a', 'b'};
    size_t n;
    dec_init(&d, s, sizeof s);
    dec_uvarint_str(&d, &n);
    assert_true(d.err);
    strbuf_free(&sb);
}

static void test_chunk_segments(void **state) {
    (void)state;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/chunks", tmpdir);
    pl_err_t err;
    /* Small segments: each series' chunks must stay together. */
    chunk_writer_t *w = chunk_writer_open(dir, 200, &err);
    assert_non_null(w);
    xor_chunk_t c[6];
    chunk_meta_t m[6];
    for (int i = 0; i < 6; i++) {
        assert_int_equal(xor_chunk_init(&c[i]), 0);
        for (int k = 0; k < 10; k++)
            assert_int_equal(xor_chunk_append(&c[i], 1000 * k + i, k * 1.5 + i), 0);
        size_t len;
        m[i] = (chunk_meta_t){0, 9000, 0, xor_chunk_bytes(&c[i], &len), 0, CHUNKENC_XOR};
        m[i].len = (uint32_t)len;
    }
    for (int s = 0; s < 3; s++)
        assert_int_equal(chunk_writer_write_series(w, &m[2 * s], 2, &err), 0);
    assert_int_equal(chunk_writer_close(w, &err), 0);
    assert_int_equal(m[0].ref, 8); /* right after the 8-byte header of file 000001 (index 0) */
    for (int s = 0; s < 3; s++)
        assert_int_equal(m[2 * s].ref >> 32, m[2 * s + 1].ref >> 32);
    assert_true((m[5].ref >> 32) >= 1); /* cut into more than one segment */
    char p[600];
    snprintf(p, sizeof p, "%s/000002", dir);
    assert_int_equal(access(p, F_OK), 0);

    chunk_reader_t *r = chunk_reader_open(dir, &err);
    assert_non_null(r);
    for (int i = 0; i < 6; i++) {
        uint8_t enc;
        const uint8_t *data;
        size_t len;
        assert_int_equal(chunk_reader_get(r, m[i].ref, &enc, &data, &len, &err), 0);
        assert_int_equal(enc, CHUNKENC_XOR);
        assert_int_equal(len, m[i].len);
        assert_memory_equal(data, m[i].data, len);
    }
    uint8_t enc;
    const uint8_t *data;
    size_t len;
    assert_int_equal(chunk_reader_get(r, (9ull << 32) | 8, &enc, &data, &len, &err), -1);
    assert_int_equal(chunk_reader_get(r, 3, &enc, &data, &len, &err), -1);
    assert_int_equal(chunk_reader_get(r, 1u << 30, &enc, &data, &len, &err), -1);
    chunk_reader_close(r);

    /* A flipped data byte fails the CRC. */
    snprintf(p, sizeof p, "%s/000001", dir);
    FILE *f = fopen(p, "r+b");
    assert_non_null(f);
    fseek(f, 12, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    r = chunk_reader_open(dir, &err);
    assert_non_null(r);
    assert_int_equal(chunk_reader_get(r, m[0].ref, &enc, &data, &len, &err), -1);
    assert_non_null(strstr(err.msg, "checksum"));
    chunk_reader_close(r);
    for (int i = 0; i < 6; i++)
        xor_chunk_free(&c[i]);
}

/* Writes a small index: 4 series. */
static void write_small_index(const char *path, uint32_t ids[4]) {
    pl_err_t err;
    index_writer_t *w = index_writer_open(path, &err);
    assert_non_null(w);
    const char *syms[] = {"", "1", "2", "__name__", "a", "b", "job", "node", "up", "x"};
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++)
        assert_int_equal(index_writer_add_symbol(w, syms[i], &err), 0);
    label_t s0[] = {{"__name__", "a"}, {"job", "node"}};
    label_t s1[] = {{"__name__", "up"}, {"job", "node"}};
    label_t s2[] = {{"__name__", "up"}, {"job", "node"}, {"x", "1"}};
    label_t s3[] = {{"__name__", "up"}, {"job", "x"}, {"x", "2"}};
    chunk_meta_t c[3] = {{1000, 2000, 8, NULL, 0, 1}, {2001, 5000, 40, NULL, 0, 1}, {5001, 5001, 99, NULL, 0, 1}};
    assert_int_equal(index_writer_add_series(w, s0, 2, c, 3, &ids[0], &err), 0);
    assert_int_equal(index_writer_add_series(w, s1, 2, c, 1, &ids[1], &err), 0);
    assert_int_equal(index_writer_add_series(w, s2, 3, NULL, 0, &ids[2], &err), 0);
    assert_int_equal(index_writer_add_series(w, s3, 3, c + 1, 2, &ids[3], &err), 0);
    /* Out of order is refused. */
    assert_int_equal(index_writer_add_series(w, s0, 2, c, 1, NULL, &err), -1);
    assert_int_equal(index_writer_close(w, &err), 0);
}

typedef struct strs {
    char buf[1024];
} strs_t;

static int join(void *ctx, const char *s) {
    strs_t *j = ctx;
    strcat(j->buf, s);
    strcat(j->buf, ",");
    return 0;
}

static void test_index_roundtrip(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/index", tmpdir);
    uint32_t ids[4];
    write_small_index(path, ids);
    for (int i = 1; i < 4; i++)
        assert_true(ids[i] > ids[i - 1]);
    pl_err_t err;
    index_reader_t *r = index_reader_open(path, &err);
    assert_non_null(r);
    assert_int_equal(index_reader_version(r), 2);
    const index_toc_t *toc = index_reader_toc(r);
    assert_int_equal(toc->symbols, 5);
    assert_true(toc->series > toc->symbols && toc->label_indices > toc->series);
    assert_true(toc->postings >= toc->label_indices && toc->label_indices_table > toc->postings);
    assert_true(toc->postings_table > toc->label_indices_table);
    /* header 5 + len 4 + count 4 + strings 32 + CRC 4 */
    assert_int_equal(toc->series, 49);
    assert_int_equal(index_reader_num_symbols(r), 10);
    assert_string_equal(index_reader_symbol(r, 0), "");
    assert_string_equal(index_reader_symbol(r, 8), "up");
    assert_null(index_reader_symbol(r, 10));

    uint32_t *p;
    size_t n;
    assert_int_equal(index_reader_postings(r, "", "", &p, &n, &err), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(p, ids, sizeof ids);
    free(p);
    assert_int_equal(index_reader_postings(r, "__name__", "up", &p, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(p[0], ids[1]);
    free(p);
    assert_int_equal(index_reader_postings(r, "job", "x", &p, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(p[0], ids[3]);
    free(p);
    assert_int_equal(index_reader_postings(r, "job", "nope", &p, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_null(p);
    assert_int_equal(index_reader_postings(r, "nope", "x", &p, &n, &err), 0);
    assert_int_equal(n, 0);

    strs_t j = {{0}};
    index_reader_label_names(r, join, &j);
    assert_string_equal(j.buf, "__name__,job,x,");
    memset(&j, 0, sizeof j);
    index_reader_label_values(r, "job", join, &j);
    assert_string_equal(j.buf, "node,x,");
    assert_int_equal(index_reader_num_label_values(r, "__name__"), 2);

    index_series_t s = {0};
    assert_int_equal(index_reader_series(r, ids[0], &s, &err), 0);
    assert_int_equal(s.nlabels, 2);
    assert_string_equal(s.labels[0].name, "__name__");
    assert_string_equal(s.labels[0].value, "a");
    assert_int_equal(s.nchks, 3);
    assert_int_equal(s.chks[0].mint, 1000);
    assert_int_equal(s.chks[0].maxt, 2000);
    assert_int_equal(s.chks[1].mint, 2001);
    assert_int_equal(s.chks[1].ref, 40);
    assert_int_equal(s.chks[2].maxt, 5001);
    assert_int_equal(s.chks[2].ref, 99);
    assert_int_equal(index_reader_series(r, ids[2], &s, &err), 0);
    assert_int_equal(s.nchks, 0);
    assert_int_equal(s.nlabels, 3);
    assert_int_equal(index_reader_series(r, ids[3], &s, &err), 0);
    assert_int_equal(s.chks[0].ref, 40);
    /* A misaligned id is not a series (garbage or a CRC mismatch). */
    assert_int_equal(index_reader_series(r, ids[3] + 1, &s, &err), -1);
    index_series_free(&s);
    index_reader_close(r);

    /* Byte-level layout: the file is 16-aligned at each series, postings
     * lists are 4-aligned, and the ("","") list lists every id. */
    size_t len;
    uint8_t *b = (uint8_t *)pl_test_read_file(path, &len);
    assert_non_null(b);
    assert_int_equal(get_be32(b), INDEX_MAGIC);
    assert_int_equal(b[4], 2);
    for (int i = 0; i < 4; i++)
        assert_true((uint64_t)ids[i] * 16 < len);
    uint64_t post = get_be64(b + len - 52 + 32);
    assert_int_equal(post % 4, 0);
    free(b);
}

static void test_index_corruption(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/index2", tmpdir);
    uint32_t ids[4];
    write_small_index(path, ids);
    size_t len;
    uint8_t *orig = (uint8_t *)pl_test_read_file(path, &len);
    assert_non_null(orig);
    uint8_t *b = malloc(len);
    pl_err_t err;
    /* TOC flip: refused at open. */
    memcpy(b, orig, len);
    b[len - 20] ^= 1;
    assert_null(index_reader_open_bytes(b, len, &err));
    assert_non_null(strstr(err.msg, "TOC"));
    /* Symbol flip: refused at open. */
    memcpy(b, orig, len);
    b[12] ^= 0x10;
    assert_null(index_reader_open_bytes(b, len, &err));
    /* Series flip: that series fails its CRC, the others read. */
    memcpy(b, orig, len);
    b[(size_t)ids[1] * 16 + 3] ^= 0x40;
    index_reader_t *r = index_reader_open_bytes(b, len, &err);
    assert_non_null(r);
    index_series_t s = {0};
    assert_int_equal(index_reader_series(r, ids[1], &s, &err), -1);
    assert_int_equal(index_reader_series(r, ids[0], &s, &err), 0);
    index_series_free(&s);
    index_reader_close(r);
    /* Bad magic, bad version, too short. */
    memcpy(b, orig, len);
    b[0] = 0;
    assert_null(index_reader_open_bytes(b, len, &err));
    memcpy(b, orig, len);
    b[4] = 1;
    assert_null(index_reader_open_bytes(b, len, &err));
    assert_null(index_reader_open_bytes(b, 20, &err));
    free(b);
    free(orig);
}

/* Every prefix of a valid index and many single-byte mutations: the reader
 * either refuses the file or answers every call without crashing (ASan
 * checks every access). */
static void exercise(const uint8_t *b, size_t len) {
    pl_err_t err;
    index_reader_t *r = index_reader_open_bytes(b, len, &err);
    if (!r) return;
    uint32_t *p;
    size_t n;
    if (index_reader_postings(r, "", "", &p, &n, &err) == 0) {
        index_series_t s = {0};
        for (size_t i = 0; i < n; i++)
            index_reader_series(r, p[i], &s, &err);
        index_series_free(&s);
        free(p);
    }
    strs_t j = {{0}};
    (void)j;
    index_reader_postings(r, "__name__", "up", &p, &n, &err);
    free(p);
    index_reader_close(r);
}

static void test_index_malformed(void **state) {
    (void)state;
    size_t len;
    char path[512];
    snprintf(path, sizeof path, "%s/index3", tmpdir);
    uint32_t ids[4];
    write_small_index(path, ids);
    uint8_t *orig = (uint8_t *)pl_test_read_file(path, &len);
    assert_non_null(orig);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *b = malloc(cut ? cut : 1);
        memcpy(b, orig, cut);
        exercise(b, cut);
        free(b);
    }
    uint8_t *b = malloc(len);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int round = 0; round < 3000; round++) {
        memcpy(b, orig, len);
        for (int k = 0; k < 1 + round % 4; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            b[x % (len - 52)] ^= (uint8_t)(x >> 32 | 1);
        }
        exercise(b, len);
    }
    free(b);
    free(orig);
}

/* promtool 2.42's index: symbols start with "", every series 16-aligned, the
 * first postings entry is ("", ""), legacy label indices are present. */
static void test_read_promtool_index(void **state) {
    (void)state;
    pl_err_t err;
    index_reader_t *r = index_reader_open(FIX_BLOCK2 "/index", &err);
    assert_non_null(r);
    assert_string_equal(index_reader_symbol(r, 0), "");
    const index_toc_t *toc = index_reader_toc(r);
    assert_true(toc->label_indices < toc->postings); /* 2.42 writes the legacy label indices */
    uint32_t *p;
    size_t n;
    assert_int_equal(index_reader_postings(r, "", "", &p, &n, &err), 0);
    assert_int_equal(n, 4);
    index_series_t s = {0};
    size_t total_chunks = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(index_reader_series(r, p[i], &s, &err), 0);
        total_chunks += s.nchks;
        assert_string_equal(s.labels[0].name, "__name__");
    }
    assert_int_equal(total_chunks, 10);
    free(p);
    strs_t j = {{0}};
    index_reader_label_values(r, "__name__", join, &j);
    assert_string_equal(j.buf, "http_requests_total,single,temp,");
    memset(&j, 0, sizeof j);
    index_reader_label_values(r, "path", join, &j);
    assert_string_equal(j.buf, "/a\"b,/\xc3\xbc,");
    assert_int_equal(index_reader_postings(r, "code", "500", &p, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(index_reader_series(r, p[0], &s, &err), 0);
    assert_string_equal(s.labels[2].value, "/\xc3\xbc");
    free(p);
    index_series_free(&s);
    index_reader_close(r);
}

/* Rewriting promtool's index through our writer gives the same bytes. */
/* Also with the postings gathered a few entries per pass of the series
 * section (several names per batch, and names with more entries than a
 * batch): the bytes do not depend on the batching. */
static void test_rewrite_promtool_index_identical(void **state) {
    (void)state;
    const char *blocks[] = {FIX_BLOCK1, FIX_BLOCK2};
    for (int bi = 0; bi < 2; bi++) {
        for (size_t batch = 0; batch < 3; batch++) {
            index_writer_set_batch_entries(batch == 0 ? 0 : batch == 1 ? 1 : 7);
            char in[512], out[512];
            snprintf(in, sizeof in, "%s/index", blocks[bi]);
            snprintf(out, sizeof out, "%s/rewrite%d", tmpdir, bi);
            pl_err_t err;
            index_reader_t *r = index_reader_open(in, &err);
            assert_non_null(r);
            index_writer_t *w = index_writer_open(out, &err);
            assert_non_null(w);
            for (uint32_t i = 0; i < index_reader_num_symbols(r); i++)
                assert_int_equal(index_writer_add_symbol(w, index_reader_symbol(r, i), &err), 0);
            uint32_t *p;
            size_t n;
            assert_int_equal(index_reader_postings(r, "", "", &p, &n, &err), 0);
            index_series_t s = {0};
            for (size_t i = 0; i < n; i++) {
                assert_int_equal(index_reader_series(r, p[i], &s, &err), 0);
                uint32_t id;
                assert_int_equal(index_writer_add_series(w, s.labels, s.nlabels, s.chks, s.nchks, &id, &err), 0);
                assert_int_equal(id, p[i]);
            }
            free(p);
            index_series_free(&s);
            assert_int_equal(index_writer_close(w, &err), 0);
            index_reader_close(r);
            size_t la, lb;
            char *a = pl_test_read_file(in, &la), *b = pl_test_read_file(out, &lb);
            assert_int_equal(la, lb);
            assert_memory_equal(a, b, la);
            free(a);
            free(b);
            /* the temp files of the postings are gone */
            char tmp[600];
            snprintf(tmp, sizeof tmp, "%s_tmp_p", out);
            assert_int_equal(access(tmp, F_OK), -1);
            snprintf(tmp, sizeof tmp, "%s_tmp_po", out);
            assert_int_equal(access(tmp, F_OK), -1);
        }
    }
    index_writer_set_batch_entries(0);
}

PL_TEST_MAIN(cmocka_unit_test(test_crc32c), cmocka_unit_test(test_varints),
             cmocka_unit_test_setup_teardown(test_chunk_segments, setup, teardown),
             cmocka_unit_test_setup_teardown(test_index_roundtrip, setup, teardown),
             cmocka_unit_test_setup_teardown(test_index_corruption, setup, teardown),
             cmocka_unit_test_setup_teardown(test_index_malformed, setup, teardown),
             cmocka_unit_test(test_read_promtool_index),
             cmocka_unit_test_setup_teardown(test_rewrite_promtool_index_identical, setup, teardown))
