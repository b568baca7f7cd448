/* test_block.c — blocks: ULIDs, meta.json (byte-exact with Prometheus,
 * thanos section kept), tombstones, chunk cutting as Prometheus's head cuts,
 * writing a block from the head and reading it back through the querier
 * with every matcher type (the head is the oracle), merging blocks with the
 * head, reading promtool 2.42's blocks, and re-creating them byte for byte.
 * When promtool is installed, it must read promlab's block exactly. */
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "model/labels.h"
#include "model/matcher.h"
#include "testutil.h"
#include "tsdb/block.h"
#include "tsdb/chunkenc.h"
#include "tsdb/head.h"
#include "tsdb/querier.h"
#include "util/strbuf.h"

#define FIXTURE "impl/tests/data/tsdb/promtool242"
#define FIX_BLOCK1 FIXTURE "/01M8F29V71D257YNKZP1FJWYHH"

static char tmpdir[64];

static int setup(void **state) {
    (void)state;
    strcpy(tmpdir, "/tmp/pl-test-block.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static uint64_t bits_of(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

/* Renders every series of a select as promtool's dump does, plus the bits
 * of NaN values (so the stale marker is told apart). */
static int render(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    strbuf_t *sb = ctx;
    for (size_t i = 0; i < ns; i++) {
        labels_format_braces(sb, ls, n);
        strbuf_putc(sb, ' ');
        strbuf_put_float(sb, s[i].v);
        if (isnan(s[i].v)) strbuf_printf(sb, "(%016llx)", (unsigned long long)bits_of(s[i].v));
        strbuf_printf(sb, " %lld\n", (long long)s[i].t);
    }
    return 0;
}

static char *select_text(const queryable_t *q, const char *selector, int64_t mint, int64_t maxt) {
    matcher_t *ms;
    size_t n;
    pl_err_t err;
    if (selector_parse(selector, &ms, &n, &err) != 0) fail_msg("selector %s: %s", selector, err.msg);
    strbuf_t sb = STRBUF_INIT;
    strbuf_puts(&sb, "");
    int rc = q->select(q->impl, ms, n, mint, maxt, render, &sb, &err);
    if (rc != 0) fail_msg("select %s: %s", selector, err.msg);
    matchers_free(ms, n);
    return strbuf_detach(&sb);
}

/* ---- ULIDs, meta.json, tombstones --------------------------------------------- */

static void test_ulid(void **state) {
    (void)state;
    char a[ULID_LEN + 1], b[ULID_LEN + 1];
    block_ulid_new(a);
    usleep(2000);
    block_ulid_new(b);
    assert_int_equal(strlen(a), 26);
    assert_true(block_ulid_valid(a));
    assert_true(strcmp(a, b) < 0); /* later ms sorts later */
    int64_t t = block_ulid_time(a);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    assert_true(t <= now && t > now - 10000);
    for (const char *p = a; *p; p++)
        assert_null(strchr("ILOU", *p));
    /* A known ULID: promtool's fixture block, time from its first 10 chars. */
    assert_true(block_ulid_valid("01M8F29V71D257YNKZP1FJWYHH"));
    assert_false(block_ulid_valid("01M8F29V71D257YNKZP1FJWYH"));
    assert_false(block_ulid_valid("81M8F29V71D257YNKZP1FJWYHH")); /* > 128 bits */
    assert_false(block_ulid_valid("01M8F29V71D257YNKZP1FJWYHU"));
    assert_int_equal(block_ulid_time("00000000010000000000000000"), 1);
}

static void test_meta_roundtrip_exact(void **state) {
    (void)state;
    size_t len;
    char *orig = pl_test_read_file(FIX_BLOCK1 "/meta.json", &len);
    assert_non_null(orig);
    block_meta_t m;
    pl_err_t err;
    assert_int_equal(block_meta_parse(orig, len, &m, &err), 0);
    assert_string_equal(m.ulid, "01M8F29V71D257YNKZP1FJWYHH");
    assert_int_equal(m.min_time, 1700000000000);
    assert_int_equal(m.level, 1);
    assert_int_equal(m.nsources, 1);
    strbuf_t sb = STRBUF_INIT;
    block_meta_render(&m, &sb);
    assert_int_equal(sb.len, len);
    assert_memory_equal(sb.data, orig, len); /* byte for byte what Prometheus wrote */
    block_meta_free(&m);
    strbuf_free(&sb);
    free(orig);

    /* Thanos section, parents, deletable: parsed, and the thanos object kept. */
    const char *th =
        "{\n\t\"ulid\": \"01M8F29V71D257YNKZP1FJWYHH\",\n\t\"minTime\": 1,\n\t\"maxTime\": 7200001,\n"
        "\t\"stats\": {},\n\t\"compaction\": {\n\t\t\"level\": 2,\n\t\t\"sources\": [\n"
        "\t\t\t\"01M8F29V71D257YNKZP1FJWYHH\",\n\t\t\t\"01M8F29V8Y9CHVVHW5DX8P0N0R\"\n\t\t],\n"
        "\t\t\"deletable\": true,\n\t\t\"parents\": [\n\t\t\t{\n\t\t\t\t\"ulid\": \"01M8F29V8Y9CHVVHW5DX8P0N0R\",\n"
        "\t\t\t\t\"minTime\": 1,\n\t\t\t\t\"maxTime\": 2\n\t\t\t}\n\t\t]\n\t},\n\t\"version\": 1,\n"
        "\t\"thanos\": {\n\t\t\"labels\": {\n\t\t\t\"cluster\": \"eu1\",\n\t\t\t\"replica\": \"a\"\n\t\t},\n"
        "\t\t\"downsample\": {\n\t\t\t\"resolution\": 0\n\t\t},\n\t\t\"source\": \"sidecar\",\n"
        "\t\t\"segment_files\": [\n\t\t\t\"000001\"\n\t\t],\n\t\t\"files\": [],\n\t\t\"extensions\": null\n\t}\n}";
    assert_int_equal(block_meta_parse(th, strlen(th), &m, &err), 0);
    assert_int_equal(m.level, 2);
    assert_int_equal(m.nsources, 2);
    assert_int_equal(m.nparents, 1);
    assert_true(m.deletable);
    assert_non_null(m.thanos);
    strbuf_init(&sb);
    block_meta_render(&m, &sb);
    assert_string_equal(sb.data, th);
    block_meta_free(&m);
    strbuf_free(&sb);

    /* Refusals. */
    assert_int_equal(block_meta_parse("{\"version\":2}", 13, &m, &err), -1);
    assert_int_equal(block_meta_parse("{", 1, &m, &err), -1);
    const char *noulid = "{\"version\":1,\"minTime\":1,\"maxTime\":2}";
    assert_int_equal(block_meta_parse(noulid, strlen(noulid), &m, &err), -1);
}

static void test_tombstones(void **state) {
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/tombstones", tmpdir);
    tombstones_t ts = {0};
    pl_err_t err;
    assert_int_equal(tombstones_write(path, &ts, &err), 0);
    size_t len;
    char *b = pl_test_read_file(path, &len);
    const uint8_t empty[9] = {0x01, 0x30, 0xBA, 0x30, 0x01, 0, 0, 0, 0};
    assert_int_equal(len, 9);
    assert_memory_equal(b, empty, 9);
    free(b);
    /* Same bytes as promtool's empty file. */
    b = pl_test_read_file(FIX_BLOCK1 "/tombstones", &len);
    assert_int_equal(len, 9);
    assert_memory_equal(b, empty, 9);
    free(b);

    tombstones_add(&ts, 7, 100, 200);
    tombstones_add(&ts, 3, -5, 5);
    tombstones_add(&ts, 7, 150, 300);
    tombstones_add(&ts, 7, 400, 500);
    assert_int_equal(tombstones_write(path, &ts, &err), 0);
    tombstones_free(&ts);
    assert_int_equal(tombstones_read(path, &ts, &err), 0);
    assert_int_equal(ts.n, 3); /* [100,200] and [150,300] merged */
    assert_true(tombstones_deleted(&ts, 7, 300));
    assert_false(tombstones_deleted(&ts, 7, 301));
    assert_true(tombstones_deleted(&ts, 7, 400));
    assert_true(tombstones_deleted(&ts, 3, -5));
    assert_false(tombstones_deleted(&ts, 4, 0));
    tombstones_free(&ts);
    /* Corrupt: bad CRC, bad magic; missing file = none. */
    b = pl_test_read_file(path, &len);
    b[6] ^= 1;
    assert_int_equal(tombstones_decode((uint8_t *)b, len, &ts, &err), -1);
    b[6] ^= 1;
    b[0] = 0;
    assert_int_equal(tombstones_decode((uint8_t *)b, len, &ts, &err), -1);
    free(b);
    tombstones_free(&ts);
    snprintf(path, sizeof path, "%s/none", tmpdir);
    assert_int_equal(tombstones_read(path, &ts, &err), 0);
    assert_int_equal(ts.n, 0);
}

/* ---- writing -------------------------------------------------------------------- */

static block_t *open_only_block(const char *dir) {
    char **names;
    size_t n;
    pl_err_t err;
    assert_int_equal(block_dir_list(dir, &names, &n, &err), 0);
    assert_int_equal(n, 1);
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, names[0]);
    block_dir_list_free(names, n);
    block_t *b = block_open(p, &err);
    if (!b) fail_msg("open %s: %s", p, err.msg);
    return b;
}

static void test_chunk_cutting(void **state) {
    (void)state;
    const int64_t h2 = BLOCK_DEFAULT_RANGE_MS;
    const int64_t t0 = 1700006400000; /* 2h-aligned */
    assert_int_equal(t0 % h2, 0);
    block_builder_t *bb = block_builder_new(h2);
    /* 15s for 2h: 480 samples -> 4 chunks of 120 (30 min each). */
    sample_t s[1000];
    for (int i = 0; i < 480; i++)
        s[i] = (sample_t){t0 + i * 15000, i};
    label_t a[] = {{"__name__", "a"}};
    pl_err_t err;
    assert_int_equal(block_builder_add_series(bb, a, 1, s, 480, &err), 0);
    /* 1s: chunks end at start + 2h/62 -> 117 samples. */
    for (int i = 0; i < 1000; i++)
        s[i] = (sample_t){t0 + i * 1000, i * 0.5};
    label_t b1[] = {{"__name__", "b"}};
    assert_int_equal(block_builder_add_series(bb, b1, 1, s, 1000, &err), 0);
    /* A single sample, and a series starting mid-range. */
    label_t c[] = {{"__name__", "c"}};
    s[0] = (sample_t){t0 + 7000, 42};
    assert_int_equal(block_builder_add_series(bb, c, 1, s, 1, &err), 0);
    /* Out of order samples are refused. */
    sample_t bad[2] = {{5, 1}, {4, 1}};
    label_t d[] = {{"__name__", "d"}};
    assert_int_equal(block_builder_add_series(bb, d, 1, bad, 2, &err), -1);
    assert_int_equal(block_builder_num_series(bb), 3);
    char ulid[ULID_LEN + 1];
    block_write_opts_t o = {.min_time = t0, .max_time = t0 + h2};
    assert_int_equal(block_builder_write(bb, tmpdir, &o, ulid, &err), 0);
    block_builder_free(bb);
    assert_true(block_ulid_valid(ulid));

    block_t *blk = open_only_block(tmpdir);
    assert_string_equal(blk->meta.ulid, ulid);
    assert_int_equal(blk->meta.num_samples, 1481);
    assert_int_equal(blk->meta.num_series, 3);
    index_series_t is = {0};
    uint32_t *ids;
    size_t n;
    assert_int_equal(index_reader_postings(blk->index, "", "", &ids, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(index_reader_series(blk->index, ids[0], &is, &err), 0);
    assert_int_equal(is.nchks, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(is.chks[i].mint, t0 + (int64_t)i * 1800000);
        assert_int_equal(is.chks[i].maxt, t0 + (int64_t)i * 1800000 + 119 * 15000);
    }
    assert_int_equal(index_reader_series(blk->index, ids[1], &is, &err), 0);
    assert_int_equal(is.chks[0].maxt - is.chks[0].mint, 116000); /* 117 samples */
    assert_int_equal(is.nchks, 9);
    uint64_t total = 0;
    for (size_t i = 0; i < is.nchks; i++) {
        uint8_t enc;
        const uint8_t *data;
        size_t len;
        assert_int_equal(chunk_reader_get(blk->chunks, is.chks[i].ref, &enc, &data, &len, &err), 0);
        assert_true(xor_chunk_count_bytes(data) <= 120);
        total += xor_chunk_count_bytes(data);
    }
    assert_int_equal(total, 1000);
    free(ids);
    index_series_free(&is);
    /* No temp dir left behind. */
    DIR *dd = opendir(tmpdir);
    struct dirent *de;
    while ((de = readdir(dd)) != NULL)
        assert_null(strstr(de->d_name, "tmp"));
    closedir(dd);
    block_close(blk);
}

static void test_empty_block_not_written(void **state) {
    (void)state;
    block_builder_t *bb = block_builder_new(0);
    char ulid[ULID_LEN + 1] = "x";
    pl_err_t err;
    block_write_opts_t o = {.min_time = 0, .max_time = 10};
    assert_int_equal(block_builder_write(bb, tmpdir, &o, ulid, &err), 0);
    assert_string_equal(ulid, "");
    block_builder_free(bb);
    char **names;
    size_t n;
    assert_int_equal(block_dir_list(tmpdir, &names, &n, &err), 0);
    assert_int_equal(n, 0);
    block_dir_list_free(names, n);
    assert_int_equal(block_dir_list("/nonexistent/dir", &names, &n, &err), -1);
}

/* A head with varied series; appended at 15s from a 2h boundary over 3h. */
static head_t *make_head(int64_t t0) {
    head_t *h = head_new();
    const char *jobs[] = {"node", "api", "db"};
    const char *modes[] = {"idle", "user", "system", ""};
    char inst[32], cpu[8];
    for (int step = 0; step < 720; step++) {
        int64_t t = t0 + step * 15000;
        for (int j = 0; j < 3; j++)
            for (int i = 0; i < 4; i++)
                for (int m = 0; m < 4; m++) {
                    snprintf(inst, sizeof inst, "host-%d:9100", i);
                    snprintf(cpu, sizeof cpu, "%d", m);
                    label_t ls[5];
                    size_t n = 0;
                    ls[n++] = (label_t){"__name__", m == 3 ? "up" : "cpu_seconds_total"};
                    if (m != 3) ls[n++] = (label_t){"cpu", cpu};
                    ls[n++] = (label_t){"instance", inst};
                    ls[n++] = (label_t){"job", jobs[j]};
                    if (modes[m][0]) ls[n++] = (label_t){"mode", modes[m]};
                    double v = m == 3 ? 1 : step * 1.25 + i * 0.1 + j;
                    if (m == 2 && step == 100) v = pl_stale_nan();
                    if (m == 1 && step == 200) v = NAN;
                    assert_int_equal(head_append(h, ls, n, t, v, NULL, NULL), HEAD_OK);
                }
    }
    return h;
}

static int join_str(void *ctx, const char *s) {
    strbuf_puts(ctx, s);
    strbuf_putc(ctx, ',');
    return 0;
}

static const char *selectors[] = {
    "{__name__=\"up\"}",
    "cpu_seconds_total{job=\"api\"}",
    "cpu_seconds_total{job!=\"api\"}",
    "{job=~\"a.*|db\"}",
    "{job!~\"node\", instance=\"host-2:9100\"}",
    "{__name__=~\".+\", mode=\"\"}",
    "{__name__=~\".+\", mode!=\"\"}",
    "{__name__=~\"cpu.*\", mode=~\"idle|\"}",
    "{__name__=~\"cpu.*\", mode!~\"idle|user\"}",
    "{__name__=~\".+\", nosuch=\"\"}",
    "{__name__=~\".+\", nosuch!=\"\"}",
    "{__name__=\"nosuch\"}",
    "{instance=~\"host-[13]:9100\", cpu=\"2\"}",
};

static void test_head_to_block_and_querier(void **state) {
    (void)state;
    const int64_t t0 = 1700006400000; /* 2h-aligned */
    head_t *h = make_head(t0);
    queryable_t hq;
    head_queryable(h, &hq);
    char ulid[ULID_LEN + 1];
    pl_err_t err;
    const int64_t mint = t0, maxt = t0 + BLOCK_DEFAULT_RANGE_MS;
    assert_int_equal(block_write_from_queryable(&hq, tmpdir, mint, maxt, 0, ulid, &err), 0);
    assert_true(block_ulid_valid(ulid));
    block_t *b = open_only_block(tmpdir);
    assert_int_equal(b->meta.min_time, mint);
    assert_int_equal(b->meta.max_time, maxt);
    assert_int_equal(b->meta.num_series, 48);
    assert_int_equal(b->meta.num_samples, 48 * 480);
    assert_int_equal(b->meta.num_chunks, 48 * 4);
    assert_int_equal(b->meta.level, 1);
    assert_int_equal(b->meta.nsources, 1);
    assert_string_equal(b->meta.sources[0], ulid);

    /* Block alone == head over the block's range, for every matcher shape. */
    querier_t *qb = querier_new(&b, 1, NULL, 0);
    queryable_t bq;
    querier_queryable(qb, &bq);
    for (size_t i = 0; i < sizeof selectors / sizeof selectors[0]; i++) {
        char *want = select_text(&hq, selectors[i], mint, maxt - 1);
        char *got = select_text(&bq, selectors[i], mint, maxt - 1);
        if (strcmp(want, got) != 0) fail_msg("selector %s differs:\nwant %.300s\ngot  %.300s", selectors[i], want, got);
        free(want);
        free(got);
        /* A sub-range. */
        want = select_text(&hq, selectors[i], t0 + 1234567, t0 + 2345678);
        got = select_text(&bq, selectors[i], t0 + 1234567, t0 + 2345678);
        assert_string_equal(want, got);
        free(want);
        free(got);
    }
    /* The stale marker's bits survive. */
    char *st =
        select_text(&bq, "{mode=\"system\", job=\"db\", instance=\"host-0:9100\"}", t0 + 100 * 15000, t0 + 100 * 15000);
    assert_non_null(strstr(st, "(7ff0000000000002)"));
    free(st);

    /* Block + head, overlapping [t0, t0+2h): merged and de-duplicated == head alone. */
    querier_t *qm = querier_new(&b, 1, &hq, 1);
    queryable_t mq;
    querier_queryable(qm, &mq);
    for (size_t i = 0; i < sizeof selectors / sizeof selectors[0]; i++) {
        char *want = select_text(&hq, selectors[i], INT64_MIN, INT64_MAX);
        char *got = select_text(&mq, selectors[i], INT64_MIN, INT64_MAX);
        assert_string_equal(want, got);
        free(want);
        free(got);
    }
    /* Label names and values: the union. */
    strbuf_t sb = STRBUF_INIT;
    strbuf_puts(&sb, "");
    assert_int_equal(mq.label_values(mq.impl, "job", join_str, &sb, &err), 0);
    assert_string_equal(sb.data, "api,db,node,");
    strbuf_reset(&sb);
    assert_int_equal(mq.label_names(mq.impl, join_str, &sb, &err), 0);
    assert_string_equal(sb.data, "__name__,cpu,instance,job,mode,");
    strbuf_reset(&sb);
    assert_int_equal(bq.label_values(bq.impl, "mode", join_str, &sb, &err), 0);
    assert_string_equal(sb.data, "idle,system,user,");
    strbuf_free(&sb);
    querier_free(qm);
    querier_free(qb);
    block_close(b);
    head_free(h);
}

/* promtool's dump line format, for comparing with promtool itself. */
static int render_dump(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    strbuf_t *sb = ctx;
    for (size_t i = 0; i < ns; i++) {
        labels_format_braces(sb, ls, n);
        strbuf_putc(sb, ' ');
        strbuf_put_float(sb, s[i].v);
        strbuf_printf(sb, " %lld\n", (long long)s[i].t);
    }
    return 0;
}

static char *dump_text(const queryable_t *q, int64_t mint, int64_t maxt) {
    matcher_t m;
    pl_err_t err;
    assert_int_equal(matcher_init(&m, MATCH_REGEX, "__name__", ".*", &err), 0);
    strbuf_t sb = STRBUF_INIT;
    strbuf_puts(&sb, "");
    if (q->select(q->impl, &m, 1, mint, maxt, render_dump, &sb, &err) != 0) fail_msg("select: %s", err.msg);
    matcher_free(&m);
    return strbuf_detach(&sb);
}

/* Every sample of promtool 2.42's blocks, as promtool dumps them. */
static void test_read_promtool_blocks(void **state) {
    (void)state;
    char **names;
    size_t n;
    pl_err_t err;
    assert_int_equal(block_dir_list(FIXTURE, &names, &n, &err), 0);
    assert_int_equal(n, 3);
    block_t *bs[3];
    for (size_t i = 0; i < n; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", FIXTURE, names[i]);
        bs[i] = block_open(p, &err);
        if (!bs[i]) fail_msg("%s", err.msg);
    }
    block_dir_list_free(names, n);
    querier_t *q = querier_new(bs, 3, NULL, 0);
    queryable_t qq;
    querier_queryable(q, &qq);
    char *got = dump_text(&qq, INT64_MIN, INT64_MAX);
    char *want = pl_test_read_file(FIXTURE "/dump.txt", NULL);
    assert_non_null(want);
    assert_string_equal(got, want);
    free(got);
    free(want);
    /* Postings-level checks through the querier. */
    char *t = select_text(&qq, "temp{room=\"x\"}", 1700000000000 + 7 * 37000, 1700000000000 + 9 * 37000 + 9);
    assert_non_null(strstr(t, "NaN(7ff8000000000001)"));
    assert_non_null(strstr(t, "+Inf"));
    assert_non_null(strstr(t, "-Inf"));
    free(t);
    querier_free(q);
    for (size_t i = 0; i < 3; i++)
        block_close(bs[i]);
}

/* Tombstones in a block hide their samples. */
static void test_block_tombstones(void **state) {
    (void)state;
    block_builder_t *bb = block_builder_new(0);
    sample_t s[10];
    for (int i = 0; i < 10; i++)
        s[i] = (sample_t){i * 1000, i};
    label_t a[] = {{"__name__", "a"}}, b[] = {{"__name__", "b"}};
    pl_err_t err;
    assert_int_equal(block_builder_add_series(bb, a, 1, s, 10, &err), 0);
    assert_int_equal(block_builder_add_series(bb, b, 1, s, 10, &err), 0);
    char ulid[ULID_LEN + 1];
    block_write_opts_t o = {.min_time = 0, .max_time = 9001};
    assert_int_equal(block_builder_write(bb, tmpdir, &o, ulid, &err), 0);
    block_builder_free(bb);
    block_t *blk = open_only_block(tmpdir);
    uint32_t *ids;
    size_t n;
    assert_int_equal(index_reader_postings(blk->index, "__name__", "a", &ids, &n, &err), 0);
    assert_int_equal(n, 1);
    tombstones_t ts = {0};
    tombstones_add(&ts, ids[0], 2000, 4000);
    tombstones_add(&ts, ids[0], 9000, 9000);
    free(ids);
    char p[512];
    snprintf(p, sizeof p, "%s/tombstones", blk->dir);
    assert_int_equal(tombstones_write(p, &ts, &err), 0);
    tombstones_free(&ts);
    block_close(blk);
    blk = open_only_block(tmpdir);
    querier_t *q = querier_new(&blk, 1, NULL, 0);
    queryable_t qq;
    querier_queryable(q, &qq);
    char *t = select_text(&qq, "{__name__=~\"a|b\"}", INT64_MIN, INT64_MAX);
    assert_string_equal(t, "{__name__=\"a\"} 0 0\n{__name__=\"a\"} 1 1000\n{__name__=\"a\"} 5 5000\n"
                           "{__name__=\"a\"} 6 6000\n{__name__=\"a\"} 7 7000\n{__name__=\"a\"} 8 8000\n"
                           "{__name__=\"b\"} 0 0\n{__name__=\"b\"} 1 1000\n{__name__=\"b\"} 2 2000\n"
                           "{__name__=\"b\"} 3 3000\n{__name__=\"b\"} 4 4000\n{__name__=\"b\"} 5 5000\n"
                           "{__name__=\"b\"} 6 6000\n{__name__=\"b\"} 7 7000\n{__name__=\"b\"} 8 8000\n"
                           "{__name__=\"b\"} 9 9000\n");
    free(t);
    querier_free(q);
    block_close(blk);
}

/* A corrupted block is refused at open with a reason, never a crash. */
static void test_block_open_errors(void **state) {
    (void)state;
    pl_err_t err;
    assert_null(block_open("/nonexistent/01M8F29V71D257YNKZP1FJWYHH", &err));
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp -r %s %s/", FIX_BLOCK1, tmpdir);
    assert_int_equal(system(cmd), 0);
    char p[512];
    snprintf(p, sizeof p, "%s/01M8F29V71D257YNKZP1FJWYHH/index", tmpdir);
    FILE *f = fopen(p, "r+b");
    fseek(f, -10, SEEK_END);
    fputc(0xee, f);
    fclose(f);
    snprintf(p, sizeof p, "%s/01M8F29V71D257YNKZP1FJWYHH", tmpdir);
    assert_null(block_open(p, &err));
    assert_non_null(strstr(err.msg, "TOC"));
}

/* The real promtool reads a block promlab wrote from its head, sample for sample. */
static void test_promtool_reads_our_block(void **state) {
    (void)state;
    if (access("/usr/bin/promtool", X_OK) != 0) {
        print_message("# promtool not installed: skipped\n");
        return;
    }
    const int64_t t0 = 1700006400000;
    head_t *h = make_head(t0);
    queryable_t hq;
    head_queryable(h, &hq);
    char data[256], ulid[ULID_LEN + 1];
    snprintf(data, sizeof data, "%s/data", tmpdir);
    assert_int_equal(mkdir(data, 0777), 0);
    strcat(data, "/wal");
    assert_int_equal(mkdir(data, 0777), 0);
    data[strlen(data) - 4] = '\0';
    pl_err_t err;
    assert_int_equal(block_write_from_queryable(&hq, data, t0, t0 + BLOCK_DEFAULT_RANGE_MS, 0, ulid, &err), 0);
    assert_int_equal(block_write_from_queryable(&hq, data, t0 + BLOCK_DEFAULT_RANGE_MS, t0 + 2 * BLOCK_DEFAULT_RANGE_MS,
                                                0, ulid, &err),
                     0);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/promtool tsdb dump %s > %s/promtool.dump 2>%s/promtool.err", data, tmpdir,
             tmpdir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/promtool.dump", tmpdir);
    char *got = pl_test_read_file(cmd, NULL);
    char *want = dump_text(&hq, INT64_MIN, INT64_MAX);
    assert_non_null(got);
    assert_true(strlen(want) > 1000);
    assert_string_equal(got, want);
    free(got);
    free(want);
    snprintf(cmd, sizeof cmd, "/usr/bin/promtool tsdb analyze %s > %s/analyze.out 2>&1", data, tmpdir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/analyze.out", tmpdir);
    got = pl_test_read_file(cmd, NULL);
    assert_non_null(strstr(got, "Series: 48"));
    assert_non_null(strstr(got, "Postings (unique label pairs): 15"));
    free(got);
    head_free(h);
}

/* A block Prometheus 2.42 cut from its own head (1m block range): re-created
 * from its samples by promlab's builder, the index and chunk files come out
 * byte for byte the same, so chunks are cut where Prometheus's head cuts. */
#define PROM_HEAD_BLOCK "impl/tests/data/tsdb/prometheus242-head/01M8F3GEFXWFBSZQFBHG5D5ENE"

static int add_to_builder(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    pl_err_t err;
    if (block_builder_add_series(ctx, ls, n, s, ns, &err) != 0) fail_msg("%s", err.msg);
    return 0;
}

static void test_recreate_prometheus_head_block(void **state) {
    (void)state;
    pl_err_t err;
    block_t *src = block_open(PROM_HEAD_BLOCK, &err);
    if (!src) fail_msg("%s", err.msg);
    assert_true(src->meta.num_series > 100);
    block_builder_t *bb = block_builder_new(60000);
    matcher_t m;
    assert_int_equal(matcher_init(&m, MATCH_REGEX, "__name__", ".*", &err), 0);
    assert_int_equal(block_select(src, &m, 1, INT64_MIN, INT64_MAX, add_to_builder, bb, &err), 0);
    matcher_free(&m);
    assert_int_equal(block_builder_num_samples(bb), src->meta.num_samples);
    char ulid[ULID_LEN + 1];
    block_write_opts_t o = {.min_time = src->meta.min_time, .max_time = src->meta.max_time};
    assert_int_equal(block_builder_write(bb, tmpdir, &o, ulid, &err), 0);
    block_builder_free(bb);
    const char *files[] = {"index", "chunks/000001", "tombstones"};
    for (size_t i = 0; i < 3; i++) {
        char a[512], b[512];
        snprintf(a, sizeof a, "%s/%s", PROM_HEAD_BLOCK, files[i]);
        snprintf(b, sizeof b, "%s/%s/%s", tmpdir, ulid, files[i]);
        size_t la, lb;
        char *x = pl_test_read_file(a, &la), *y = pl_test_read_file(b, &lb);
        assert_non_null(x);
        assert_non_null(y);
        if (la != lb || memcmp(x, y, la) != 0)
            fail_msg("%s differs from Prometheus's (%zu vs %zu bytes)", files[i], la, lb);
        free(x);
        free(y);
    }
    /* meta.json differs only in the ULID. */
    block_t *dst = open_only_block(tmpdir);
    assert_int_equal(dst->meta.num_chunks, src->meta.num_chunks);
    assert_int_equal(dst->meta.num_series, src->meta.num_series);
    block_close(dst);
    block_close(src);
}

/* Overlapping blocks with shared and distinct series: merged by label set,
 * samples de-duplicated by timestamp (the first block given wins). */
static void test_merge_overlapping_blocks(void **state) {
    (void)state;
    pl_err_t err;
    char d1[300], d2[300], ulid[ULID_LEN + 1];
    snprintf(d1, sizeof d1, "%s/one", tmpdir);
    snprintf(d2, sizeof d2, "%s/two", tmpdir);
    assert_int_equal(mkdir(d1, 0777), 0);
    assert_int_equal(mkdir(d2, 0777), 0);
    label_t a[] = {{"__name__", "m"}, {"k", "a"}}, b[] = {{"__name__", "m"}, {"k", "b"}},
            c[] = {{"__name__", "m"}, {"k", "c"}};
    sample_t s1[] = {{1000, 1}, {2000, 2}, {3000, 3}}, s2[] = {{2000, 20}, {2500, 25}, {4000, 40}};
    block_builder_t *bb = block_builder_new(0);
    assert_int_equal(block_builder_add_series(bb, a, 2, s1, 3, &err), 0);
    assert_int_equal(block_builder_add_series(bb, c, 2, s1, 3, &err), 0);
    block_write_opts_t o = {.min_time = 1000, .max_time = 3001};
    assert_int_equal(block_builder_write(bb, d1, &o, ulid, &err), 0);
    block_builder_free(bb);
    bb = block_builder_new(0);
    assert_int_equal(block_builder_add_series(bb, a, 2, s2, 3, &err), 0);
    assert_int_equal(block_builder_add_series(bb, b, 2, s2, 3, &err), 0);
    o = (block_write_opts_t){.min_time = 2000, .max_time = 4001};
    assert_int_equal(block_builder_write(bb, d2, &o, ulid, &err), 0);
    block_builder_free(bb);
    block_t *bs[2] = {open_only_block(d1), open_only_block(d2)};
    querier_t *q = querier_new(bs, 2, NULL, 0);
    queryable_t qq;
    querier_queryable(q, &qq);
    char *t = select_text(&qq, "{__name__=\"m\"}", INT64_MIN, INT64_MAX);
    assert_string_equal(t, "{__name__=\"m\", k=\"a\"} 1 1000\n{__name__=\"m\", k=\"a\"} 2 2000\n"
                           "{__name__=\"m\", k=\"a\"} 25 2500\n{__name__=\"m\", k=\"a\"} 3 3000\n"
                           "{__name__=\"m\", k=\"a\"} 40 4000\n"
                           "{__name__=\"m\", k=\"b\"} 20 2000\n{__name__=\"m\", k=\"b\"} 25 2500\n"
                           "{__name__=\"m\", k=\"b\"} 40 4000\n"
                           "{__name__=\"m\", k=\"c\"} 1 1000\n{__name__=\"m\", k=\"c\"} 2 2000\n"
                           "{__name__=\"m\", k=\"c\"} 3 3000\n");
    free(t);
    t = select_text(&qq, "{__name__=\"m\", k!=\"a\"}", 2500, 3500);
    assert_string_equal(t, "{__name__=\"m\", k=\"b\"} 25 2500\n{__name__=\"m\", k=\"c\"} 3 3000\n");
    free(t);
    querier_free(q);
    block_close(bs[0]);
    block_close(bs[1]);
}

/* A block written with a base meta (as a compactor or sidecar would) keeps
 * its level, sources, parents and thanos section. */
static void test_write_with_meta_base(void **state) {
    (void)state;
    pl_err_t err;
    const char *base =
        "{\"ulid\":\"01M8F29V71D257YNKZP1FJWYHH\",\"minTime\":0,\"maxTime\":1,\"version\":1,"
        "\"compaction\":{\"level\":3,\"sources\":[\"01M8F29V71D257YNKZP1FJWYHH\","
        "\"01M8F29V8Y9CHVVHW5DX8P0N0R\"],\"parents\":[{\"ulid\":\"01M8F29V8Y9CHVVHW5DX8P0N0R\","
        "\"minTime\":0,\"maxTime\":1}]},"
        "\"thanos\":{\"labels\":{\"replica\":\"a\"},\"downsample\":{\"resolution\":0},\"source\":\"test\"}}";
    block_meta_t mb;
    assert_int_equal(block_meta_parse(base, strlen(base), &mb, &err), 0);
    block_builder_t *bb = block_builder_new(0);
    label_t a[] = {{"__name__", "m"}};
    sample_t s[] = {{10, 1}};
    assert_int_equal(block_builder_add_series(bb, a, 1, s, 1, &err), 0);
    char ulid[ULID_LEN + 1];
    block_write_opts_t o = {.min_time = 0, .max_time = 100, .meta_base = &mb};
    assert_int_equal(block_builder_write(bb, tmpdir, &o, ulid, &err), 0);
    block_builder_free(bb);
    block_meta_free(&mb);
    block_t *b = open_only_block(tmpdir);
    assert_string_equal(b->meta.ulid, ulid);
    assert_int_equal(b->meta.level, 3);
    assert_int_equal(b->meta.nsources, 2);
    assert_int_equal(b->meta.nparents, 1);
    assert_non_null(b->meta.thanos);
    strbuf_t sb = STRBUF_INIT;
    block_meta_render(&b->meta, &sb);
    assert_non_null(strstr(sb.data, "\n\t\"thanos\": {\n\t\t\"labels\": {\n\t\t\t\"replica\": \"a\"\n\t\t},"));
    strbuf_free(&sb);
    block_close(b);
}

/* ---- streaming a head into a block ---------------------------------------------- */

static int add_to_head(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    for (size_t i = 0; i < ns; i++)
        assert_int_equal(head_append(ctx, ls, n, s[i].t, s[i].v, NULL, NULL), HEAD_OK);
    return 0;
}

/* The files of two blocks are the same bytes; a block dir holds only the
 * block's files (no temp file of the writer left). */
static void assert_same_block_files(const char *da, const char *db) {
    const char *files[] = {"index", "chunks/000001", "tombstones"};
    for (size_t i = 0; i < 3; i++) {
        char a[512], b[512];
        snprintf(a, sizeof a, "%s/%s", da, files[i]);
        snprintf(b, sizeof b, "%s/%s", db, files[i]);
        size_t la, lb;
        char *x = pl_test_read_file(a, &la), *y = pl_test_read_file(b, &lb);
        assert_non_null(x);
        assert_non_null(y);
        if (la != lb || memcmp(x, y, la) != 0) fail_msg("%s differs (%zu vs %zu bytes)", files[i], la, lb);
        free(x);
        free(y);
    }
    DIR *d = opendir(db);
    assert_non_null(d);
    struct dirent *de;
    size_t n = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        assert_true(!strcmp(de->d_name, "index") || !strcmp(de->d_name, "chunks") || !strcmp(de->d_name, "meta.json") ||
                    !strcmp(de->d_name, "tombstones"));
        n++;
    }
    closedir(d);
    assert_int_equal(n, 4);
}

/* Prometheus 2.42's head block, its samples loaded into a promlab head and
 * written the way head compaction writes (block_write_from_queryable, which
 * streams series by series): the same index and chunk bytes as Prometheus. */
static void test_head_stream_writes_prometheus_bytes(void **state) {
    (void)state;
    pl_err_t err;
    block_t *src = block_open(PROM_HEAD_BLOCK, &err);
    if (!src) fail_msg("%s", err.msg);
    head_t *h = head_new();
    head_set_chunk_range(h, 60000);
    matcher_t m;
    assert_int_equal(matcher_init(&m, MATCH_REGEX, "__name__", ".*", &err), 0);
    assert_int_equal(block_select(src, &m, 1, INT64_MIN, INT64_MAX, add_to_head, h, &err), 0);
    matcher_free(&m);
    queryable_t q;
    head_queryable(h, &q);
    char ulid[ULID_LEN + 1], dir[300];
    assert_int_equal(block_write_from_queryable(&q, tmpdir, src->meta.min_time, src->meta.max_time, 60000, ulid, &err),
                     0);
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, ulid);
    assert_same_block_files(PROM_HEAD_BLOCK, dir);
    block_t *dst = open_only_block(tmpdir);
    assert_int_equal(dst->meta.num_samples, src->meta.num_samples);
    assert_int_equal(dst->meta.num_chunks, src->meta.num_chunks);
    assert_int_equal(dst->meta.num_series, src->meta.num_series);
    block_close(dst);
    block_close(src);
    head_free(h);
}

/* The streaming head writer and the builder (which holds every series
 * before it sorts them) write the same bytes: over several metric names,
 * series with samples before, in and after the range or only outside it,
 * and (second round) a label name that sorts before __name__, which makes
 * the writer select every series at once instead of one metric name at a
 * time. */
static void test_head_stream_matches_builder(void **state) {
    (void)state;
    const int64_t t0 = 1700006400000, h2 = BLOCK_DEFAULT_RANGE_MS;
    for (int round = 0; round < 2; round++) {
        head_t *h = make_head(t0 - h2 / 2); /* 15s samples over [t0-1h, t0+2h) */
        head_set_chunk_range(h, h2);
        label_t late[] = {{"__name__", "late_metric"}, {"job", "x"}};
        assert_int_equal(head_append(h, late, 2, t0 + h2 + 5000, 1, NULL, NULL), HEAD_OK);
        label_t only_early[] = {{"__name__", "early_metric"}, {"job", "only-before"}};
        assert_int_equal(head_append(h, only_early, 2, t0 - 1000, 1, NULL, NULL), HEAD_OK);
        label_t odd[] = {{"Zone", "a"}, {"__name__", "zzz"}, {"job", "y"}};
        if (round == 1)
            for (int i = 0; i < 300; i++)
                assert_int_equal(head_append(h, odd, 3, t0 + i * 30000, i, NULL, NULL), HEAD_OK);
        queryable_t q;
        head_queryable(h, &q);
        pl_err_t err;
        char d1[300], d2[300], u1[ULID_LEN + 1], u2[ULID_LEN + 1];
        snprintf(d1, sizeof d1, "%s/stream%d", tmpdir, round);
        snprintf(d2, sizeof d2, "%s/builder%d", tmpdir, round);
        assert_int_equal(mkdir(d1, 0777), 0);
        assert_int_equal(mkdir(d2, 0777), 0);
        if (block_write_from_queryable(&q, d1, t0, t0 + h2, h2, u1, &err) != 0) fail_msg("%s", err.msg);
        block_builder_t *bb = block_builder_new(h2);
        matcher_t m;
        assert_int_equal(matcher_init(&m, MATCH_REGEX, "__name__", ".+", &err), 0);
        assert_int_equal(head_select(h, &m, 1, t0, t0 + h2 - 1, add_to_builder, bb, &err), 0);
        matcher_free(&m);
        block_write_opts_t o = {.min_time = t0, .max_time = t0 + h2};
        assert_int_equal(block_builder_write(bb, d2, &o, u2, &err), 0);
        block_builder_free(bb);
        char b1[400], b2[400];
        snprintf(b1, sizeof b1, "%s/%s", d1, u1);
        snprintf(b2, sizeof b2, "%s/%s", d2, u2);
        assert_same_block_files(b2, b1);
        block_t *blk = open_only_block(d1);
        assert_int_equal(blk->meta.num_series, 48 + (round == 1));
        assert_int_equal(blk->meta.min_time, t0);
        assert_int_equal(blk->meta.max_time, t0 + h2);
        /* the series only outside the range are not in the block */
        uint32_t *ids;
        size_t n;
        assert_int_equal(index_reader_postings(blk->index, "__name__", "late_metric", &ids, &n, &err), 0);
        assert_int_equal(n, 0);
        free(ids);
        assert_int_equal(index_reader_postings(blk->index, "job", "only-before", &ids, &n, &err), 0);
        assert_int_equal(n, 0);
        free(ids);
        block_close(blk);
        /* A range without samples writes no block. */
        char u3[ULID_LEN + 1] = "x";
        assert_int_equal(block_write_from_queryable(&q, d1, t0 + 10 * h2, t0 + 11 * h2, h2, u3, &err), 0);
        assert_string_equal(u3, "");
        head_free(h);
    }
}

/* A head appended to while it is written (a snapshot under load): a series
 * created between the writer's two passes is left out, the rest written. */
typedef struct growing {
    queryable_t inner;
    head_t *h;
    int64_t t;
} growing_t;

static int growing_select_hinted(void *impl, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt,
                                 const storage_select_hints_t *hints, storage_series_fn fn, void *ctx, pl_err_t *err) {
    growing_t *g = impl;
    int rc = g->inner.select_hinted(g->inner.impl, ms, nms, mint, maxt, hints, fn, ctx, err);
    label_t ls[] = {{"__name__", "newcomer"}, {"job", "late-joiner"}};
    assert_int_equal(head_append(g->h, ls, 2, g->t, 1, NULL, NULL), HEAD_OK);
    return rc;
}

static int growing_select(void *impl, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt, storage_series_fn fn,
                          void *ctx, pl_err_t *err) {
    growing_t *g = impl;
    return g->inner.select(g->inner.impl, ms, nms, mint, maxt, fn, ctx, err);
}

static int growing_label_names(void *impl, storage_string_fn fn, void *ctx, pl_err_t *err) {
    growing_t *g = impl;
    return g->inner.label_names(g->inner.impl, fn, ctx, err);
}

static int growing_label_values(void *impl, const char *name, storage_string_fn fn, void *ctx, pl_err_t *err) {
    growing_t *g = impl;
    return g->inner.label_values(g->inner.impl, name, fn, ctx, err);
}

static void test_head_stream_series_created_meanwhile(void **state) {
    (void)state;
    const int64_t t0 = 1700006400000, h2 = BLOCK_DEFAULT_RANGE_MS;
    head_t *h = make_head(t0);
    growing_t g = {.h = h, .t = t0 + 1000};
    head_queryable(h, &g.inner);
    queryable_t q = {.impl = &g,
                     .select = growing_select,
                     .label_names = growing_label_names,
                     .label_values = growing_label_values,
                     .select_hinted = growing_select_hinted};
    pl_err_t err;
    char ulid[ULID_LEN + 1];
    if (block_write_from_queryable(&q, tmpdir, t0, t0 + h2, h2, ulid, &err) != 0) fail_msg("%s", err.msg);
    block_t *blk = open_only_block(tmpdir);
    assert_int_equal(blk->meta.num_series, 48);
    uint32_t *ids;
    size_t n;
    assert_int_equal(index_reader_postings(blk->index, "__name__", "newcomer", &ids, &n, &err), 0);
    assert_int_equal(n, 0);
    free(ids);
    block_close(blk);
    head_free(h);
}

PL_TEST_MAIN(cmocka_unit_test(test_ulid), cmocka_unit_test(test_meta_roundtrip_exact),
             cmocka_unit_test_setup_teardown(test_tombstones, setup, teardown),
             cmocka_unit_test_setup_teardown(test_chunk_cutting, setup, teardown),
             cmocka_unit_test_setup_teardown(test_empty_block_not_written, setup, teardown),
             cmocka_unit_test_setup_teardown(test_head_to_block_and_querier, setup, teardown),
             cmocka_unit_test(test_read_promtool_blocks),
             cmocka_unit_test_setup_teardown(test_block_tombstones, setup, teardown),
             cmocka_unit_test_setup_teardown(test_block_open_errors, setup, teardown),
             cmocka_unit_test_setup_teardown(test_promtool_reads_our_block, setup, teardown),
             cmocka_unit_test_setup_teardown(test_recreate_prometheus_head_block, setup, teardown),
             cmocka_unit_test_setup_teardown(test_merge_overlapping_blocks, setup, teardown),
             cmocka_unit_test_setup_teardown(test_write_with_meta_base, setup, teardown),
             cmocka_unit_test_setup_teardown(test_head_stream_writes_prometheus_bytes, setup, teardown),
             cmocka_unit_test_setup_teardown(test_head_stream_matches_builder, setup, teardown),
             cmocka_unit_test_setup_teardown(test_head_stream_series_created_meanwhile, setup, teardown))
