/* test_compactor.c — compact/compactor.h and compact/aggrblock.h over a
 * FILESYSTEM bucket: the halt on overlapping blocks of one group (and not
 * across groups), the consistency delay, partial uploads, garbage (a block
 * whose sources another holds), retention and the delete delay, a group of
 * 5m blocks merged chunk by chunk, and aggrblock_merge refusing overlaps. */
#include "testutil.h"

#include <jansson.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compact/aggrblock.h"
#include "compact/compactor.h"
#include "compact/downsample.h"
#include "tsdb/compact.h"
#include "objstore/objstore.h"
#include "tsdb/aggrchunk.h"
#include "tsdb/block.h"

#define H (3600 * 1000LL)
#define D (24 * H)

static char root[256], bdir[300], ldir[300], cdir[300];

static void sh(const char *fmt, const char *arg) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, fmt, arg);
    assert_int_equal(system(cmd), 0);
}

static objstore_t *open_bucket(void) {
    objstore_config_t cfg = {0};
    cfg.type = OBJSTORE_FILESYSTEM;
    cfg.prefix = "";
    cfg.directory = bdir;
    pl_err_t err = {{0}};
    objstore_t *b = objstore_open(&cfg, &err);
    assert_non_null(b);
    return b;
}

static int setup(void **state) {
    (void)state;
    snprintf(root, sizeof root, "/tmp/test_compactor.%d", (int)getpid());
    snprintf(bdir, sizeof bdir, "%s/bucket", root);
    snprintf(ldir, sizeof ldir, "%s/local", root);
    snprintf(cdir, sizeof cdir, "%s/cdata", root);
    sh("rm -rf '%s'", root);
    sh("mkdir -p '%s'", bdir);
    sh("mkdir -p '%s'", ldir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    sh("rm -rf '%s'", root);
    return 0;
}

/* A raw block [mint, maxt) with 2 series at 5m, thanos labels cluster=<cl>
 * (+ res), written locally; returns its ULID in out and its dir in dir. */
static void make_block(int64_t mint, int64_t maxt, const char *cl, char out[27], double base) {
    block_builder_t *bb = block_builder_new(2 * H);
    pl_err_t err = {{0}};
    size_t n = (size_t)((maxt - mint) / (5 * 60000));
    sample_t *s = calloc(n, sizeof *s);
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < n; i++) s[i] = (sample_t){mint + (int64_t)i * 300000, base + (double)(i % 17) + k};
        label_t ls[] = {{"__name__", k ? "b_total" : "a"}, {"job", "x"}};
        assert_int_equal(block_builder_add_series(bb, ls, 2, s, n, &err), 0);
    }
    free(s);
    char js[256];
    snprintf(js, sizeof js, "{\"version\":1,\"labels\":{\"cluster\":\"%s\"},\"downsample\":{\"resolution\":0},\"source\":\"sidecar\"}",
             cl);
    json_t *th = json_loads(js, 0, NULL);
    block_meta_t base_meta = {0};
    base_meta.thanos = th;
    block_write_opts_t o = {.min_time = mint, .max_time = maxt, .meta_base = &base_meta};
    assert_int_equal(block_builder_write(bb, ldir, &o, out, &err), 0);
    json_decref(th);
    block_builder_free(bb);
}

static void upload_dir(objstore_t *b, const char *dir, const char *ulid) {
    pl_err_t err = {{0}};
    char p[600], o[128];
    snprintf(p, sizeof p, "%s/chunks/000001", dir);
    snprintf(o, sizeof o, "%s/chunks/000001", ulid);
    assert_int_equal(objstore_upload_file(b, o, p, &err), 0);
    snprintf(p, sizeof p, "%s/index", dir);
    snprintf(o, sizeof o, "%s/index", ulid);
    assert_int_equal(objstore_upload_file(b, o, p, &err), 0);
    snprintf(p, sizeof p, "%s/meta.json", dir);
    snprintf(o, sizeof o, "%s/meta.json", ulid);
    assert_int_equal(objstore_upload_file(b, o, p, &err), 0);
}

static void upload(objstore_t *b, const char *ulid) {
    char dir[400];
    snprintf(dir, sizeof dir, "%s/%s", ldir, ulid);
    upload_dir(b, dir, ulid);
}

static bool exists(const char *ulid, const char *file) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s/%s", bdir, ulid, file);
    struct stat st;
    return stat(p, &st) == 0;
}

static size_t count_live(int64_t res, int level) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s", bdir);
    FILE *f = popen(cmd, "r");
    char line[64];
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!exists(line, "meta.json") || exists(line, "deletion-mark.json")) continue;
        char p[600];
        snprintf(p, sizeof p, "%s/%s", bdir, line);
        block_meta_t m;
        pl_err_t err = {{0}};
        assert_int_equal(block_meta_read(p, &m, &err), 0);
        if (downsample_meta_resolution(&m) == res && (level == 0 || m.level == level)) n++;
        block_meta_free(&m);
    }
    pclose(f);
    return n;
}

static compactor_opts_t opts(objstore_t *b) {
    compactor_opts_t o = {0};
    o.bucket = b;
    o.data_dir = cdir;
    o.delete_delay_ms = 48 * H;
    o.downsampling_disable = true;
    return o;
}

/* An aligned 8h window of three 2h blocks (plus a newer one) of one
 * producer, overlapping blocks of another producer with other labels. */
static void test_compact_group_and_halt(void **state) {
    (void)state;
    objstore_t *b = open_bucket();
    int64_t t0 = 1000 * D;
    char u[7][27];
    for (int i = 0; i < 5; i++) {
        make_block(t0 + i * 2 * H, t0 + (i + 1) * 2 * H, "eu1", u[i], 10);
        upload(b, u[i]);
    }
    /* another producer, overlapping in time: a separate group, no halt */
    make_block(t0, t0 + 2 * H, "us1", u[5], 20);
    upload(b, u[5]);
    /* a partial upload: index but no meta.json */
    make_block(t0, t0 + 2 * H, "eu1", u[6], 30);
    char p[600], o[128];
    snprintf(p, sizeof p, "%s/%s/index", ldir, u[6]);
    snprintf(o, sizeof o, "%s/index", u[6]);
    pl_err_t err = {{0}};
    assert_int_equal(objstore_upload_file(b, o, p, &err), 0);

    /* consistency delay: everything is younger than 30m, nothing happens */
    compactor_opts_t op = opts(b);
    op.consistency_delay_ms = 30 * 60000;
    compactor_t *c = compactor_new(&op, &err);
    assert_non_null(c);
    assert_int_equal(compactor_run_once(c, &err), 0);
    assert_int_equal(compactor_compactions_total(c), 0);
    assert_int_equal(compactor_marked_total(c), 0);
    compactor_free(c);

    op.consistency_delay_ms = 0;
    c = compactor_new(&op, &err);
    assert_int_equal(compactor_run_once(c, &err), 0);
    /* the newest eu1 block is left out; the four of the 8h window before it merge */
    assert_int_equal(compactor_compactions_total(c), 1);
    assert_int_equal(compactor_marked_total(c), 4);
    for (int i = 0; i < 4; i++) assert_true(exists(u[i], "deletion-mark.json"));
    assert_false(exists(u[4], "deletion-mark.json"));
    assert_false(exists(u[5], "deletion-mark.json"));
    assert_true(exists(u[6], "index")); /* the partial upload is left alone */
    assert_int_equal(count_live(0, 2), 1);
    strbuf_t m = STRBUF_INIT;
    compactor_write_metrics(c, &m);
    assert_non_null(strstr(m.data, "thanos_compact_group_compactions_total{group=\"0@{cluster=\\\"eu1\\\"}\"} 1\n"));
    assert_non_null(strstr(m.data, "thanos_compact_group_compactions_total{group=\"0@{cluster=\\\"us1\\\"}\"} 0\n"));
    assert_non_null(strstr(m.data, "thanos_compact_halted 0\n"));
    strbuf_free(&m);
    compactor_free(c);

    /* the same producer's block uploaded again under a new ULID with other data: overlap in group eu1 -> halt */
    char dup[27];
    make_block(t0 + 2 * H, t0 + 4 * H, "eu1", dup, 99);
    upload(b, dup);
    c = compactor_new(&op, &err);
    err.msg[0] = 0;
    assert_int_equal(compactor_run_once(c, &err), COMPACTOR_HALTED);
    assert_non_null(strstr(err.msg, "overlapping blocks in group 0@{cluster=\"eu1\"}"));
    assert_non_null(strstr(err.msg, dup));
    assert_true(compactor_halted(c));
    assert_false(exists(dup, "deletion-mark.json"));
    assert_false(exists(u[4], "deletion-mark.json"));
    compactor_write_metrics(c, &m);
    assert_non_null(strstr(m.data, "thanos_compact_halted 1\n"));
    strbuf_free(&m);
    assert_int_equal(compactor_run_once(c, &err), COMPACTOR_HALTED); /* stays halted */
    compactor_free(c);
    objstore_close(b);
}


/* A no-compact-mark.json keeps a block out of the plan: the rest of its 8h
 * window no longer spans the range, so nothing merges; the mark removed,
 * the window merges. */
static void test_no_compact_mark(void **state) {
    (void)state;
    objstore_t *b = open_bucket();
    pl_err_t err = {{0}};
    int64_t t0 = 4000 * D;
    char u[5][27];
    for (int i = 0; i < 5; i++) {
        make_block(t0 + i * 2 * H, t0 + (i + 1) * 2 * H, "nc", u[i], 1);
        upload(b, u[i]);
    }
    char o[128];
    snprintf(o, sizeof o, "%s/no-compact-mark.json", u[0]);
    const char *mark = "{\"id\":\"x\",\"version\":1,\"no_compact_time\":1,\"reason\":\"manual\"}";
    assert_int_equal(objstore_upload_buf(b, o, mark, strlen(mark), &err), 0);
    compactor_opts_t op = opts(b);
    compactor_t *c = compactor_new(&op, &err);
    assert_int_equal(compactor_run_once(c, &err), 0);
    assert_int_equal(compactor_compactions_total(c), 0);
    assert_int_equal(compactor_marked_total(c), 0);
    compactor_free(c);
    assert_int_equal(objstore_delete(b, o, &err), 0);
    c = compactor_new(&op, &err);
    assert_int_equal(compactor_run_once(c, &err), 0);
    assert_int_equal(compactor_compactions_total(c), 1);
    assert_true(exists(u[0], "deletion-mark.json"));
    compactor_free(c);
    objstore_close(b);
}

/* A corrupt chunk in one input: the iteration fails naming the block, and
 * nothing is lost — no input marked, no new block, and retention/deletion
 * do not run in that iteration. */
static void test_corrupt_input(void **state) {
    (void)state;
    objstore_t *b = open_bucket();
    pl_err_t err = {{0}};
    int64_t t0 = 5000 * D;
    char u[5][27];
    for (int i = 0; i < 5; i++) {
        make_block(t0 + i * 2 * H, t0 + (i + 1) * 2 * H, "bad", u[i], 1);
        upload(b, u[i]);
    }
    char p[600];
    snprintf(p, sizeof p, "%s/%s/chunks/000001", bdir, u[1]);
    FILE *f = fopen(p, "r+b");
    assert_non_null(f);
    fseek(f, 20, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, 20, SEEK_SET);
    fputc(ch ^ 0xff, f);
    fclose(f);
    compactor_opts_t op = opts(b);
    op.delete_delay_ms = 0;
    compactor_t *c = compactor_new(&op, &err);
    err.msg[0] = 0;
    assert_int_equal(compactor_run_once(c, &err), -1);
    assert_non_null(strstr(err.msg, u[1]));
    assert_false(compactor_halted(c));
    assert_int_equal(compactor_marked_total(c), 0);
    for (int i = 0; i < 5; i++) assert_false(exists(u[i], "deletion-mark.json"));
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test $(ls %s | wc -l) -eq 5", bdir);
    assert_int_equal(system(cmd), 0);
    compactor_free(c);
    objstore_close(b);
}
/* Retention marks what is older than its resolution's retention; the delete
 * delay keeps it until it has passed; then meta.json, files and mark go. */
static void test_retention_and_delete(void **state) {
    (void)state;
    objstore_t *b = open_bucket();
    pl_err_t err = {{0}};
    int64_t now = (int64_t)time(NULL) * 1000;
    int64_t old0 = (now - 10 * D) / (2 * H) * (2 * H), new0 = (now - 1 * D) / (2 * H) * (2 * H);
    char old[27], young[27];
    make_block(old0, old0 + 2 * H, "ret", old, 1);
    make_block(new0, new0 + 2 * H, "ret", young, 1);
    upload(b, old);
    upload(b, young);
    compactor_opts_t op = opts(b);
    /* an upload that died in 2016 (a ULID of then, no meta.json): deleted; a fresh partial one is not (test above) */
    const char *dead = "01AN4Z07BY79KA1307SR9X4MV3";
    char o[128];
    snprintf(o, sizeof o, "%s/chunks/000001", dead);
    assert_int_equal(objstore_upload_buf(b, o, "x", 1, &err), 0);
    op.retention_ms[0] = 5 * D; /* raw: 5 days */
    compactor_t *c = compactor_new(&op, &err);
    assert_int_equal(compactor_run_once(c, &err), 0);
    assert_true(exists(old, "deletion-mark.json"));
    assert_true(exists(old, "meta.json")); /* delete delay 48h: still there */
    assert_false(exists(young, "deletion-mark.json"));
    assert_false(exists(dead, "chunks/000001"));
    strbuf_t mt = STRBUF_INIT;
    compactor_write_metrics(c, &mt);
    assert_non_null(strstr(mt.data, "thanos_compact_aborted_partial_uploads_deletion_attempts_total 1\n"));
    strbuf_free(&mt);
    compactor_free(c);
    op.delete_delay_ms = 0;
    c = compactor_new(&op, &err);
    assert_int_equal(compactor_run_once(c, &err), 0);
    assert_int_equal(compactor_deleted_total(c), 1);
    assert_false(exists(old, "meta.json"));
    assert_false(exists(old, "index"));
    assert_false(exists(old, "deletion-mark.json"));
    assert_true(exists(young, "meta.json"));
    compactor_free(c);
    objstore_close(b);
}

/* A block whose sources another block of its group holds is garbage. */
static void test_garbage(void **state) {
    (void)state;
    objstore_t *b = open_bucket();
    pl_err_t err = {{0}};
    int64_t t0 = 2000 * D;
    char a[27], bb[27];
    make_block(t0, t0 + 2 * H, "gc", a, 1);
    make_block(t0 + 2 * H, t0 + 4 * H, "gc", bb, 1);
    char dirs[2][400];
    snprintf(dirs[0], sizeof dirs[0], "%s/%s", ldir, a);
    snprintf(dirs[1], sizeof dirs[1], "%s/%s", ldir, bb);
    char *dv[2] = {dirs[0], dirs[1]};
    char merged[27];
    assert_int_equal(compact_blocks(ldir, dv, 2, merged, &err), 0);
    /* the merged block gets the thanos section, then all three go up */
    char md[400];
    snprintf(md, sizeof md, "%s/%s", ldir, merged);
    block_meta_t m;
    assert_int_equal(block_meta_read(md, &m, &err), 0);
    m.thanos = json_loads("{\"version\":1,\"labels\":{\"cluster\":\"gc\"},\"downsample\":{\"resolution\":0},\"source\":\"compactor\"}", 0, NULL);
    assert_int_equal(block_meta_write(md, &m, &err), 0);
    block_meta_free(&m);
    upload(b, a);
    upload(b, bb);
    upload(b, merged);
    compactor_opts_t op = opts(b);
    compactor_t *c = compactor_new(&op, &err);
    assert_int_equal(compactor_run_once(c, &err), 0); /* no halt: the overlap is garbage, marked first */
    assert_true(exists(a, "deletion-mark.json"));
    assert_true(exists(bb, "deletion-mark.json"));
    assert_false(exists(merged, "deletion-mark.json"));
    compactor_free(c);
    objstore_close(b);
}

/* Downsampled blocks: a 5m group merged by copying aggregate chunks. */
static void test_downsampled_group(void **state) {
    (void)state;
    objstore_t *b = open_bucket();
    pl_err_t err = {{0}};
    /* 14d windows start at multiples of 14d: [2996d, 3010d) holds ds0 and ds1; ds2 starts the next window
     * (the planner merges a group only once a later block exists), ds3 is the newest (left out) */
    int64_t t0 = 3006 * D;
    char raw[4][27], ds[4][27];
    for (int i = 0; i < 4; i++) {
        make_block(t0 + i * 2 * D, t0 + (i + 1) * 2 * D, "ds", raw[i], 5);
        char d[400];
        snprintf(d, sizeof d, "%s/%s", ldir, raw[i]);
        assert_int_equal(downsample_block(d, DOWNSAMPLE_RES_5M, ldir, ds[i], &err), 0);
        upload(b, ds[i]);
    }
    compactor_opts_t op = opts(b);
    compactor_t *c = compactor_new(&op, &err);
    assert_int_equal(compactor_run_once(c, &err), 0);
    assert_int_equal(compactor_compactions_total(c), 1);
    assert_true(exists(ds[0], "deletion-mark.json") && exists(ds[1], "deletion-mark.json"));
    assert_false(exists(ds[2], "deletion-mark.json") || exists(ds[3], "deletion-mark.json"));
    assert_int_equal(count_live(DOWNSAMPLE_RES_5M, 2), 1);
    strbuf_t m = STRBUF_INIT;
    compactor_write_metrics(c, &m);
    assert_non_null(strstr(m.data, "thanos_compact_group_compactions_total{group=\"300000@{cluster=\\\"ds\\\"}\"} 1\n"));
    strbuf_free(&m);
    compactor_free(c);

    /* aggrblock_merge directly: the merged series hold every input chunk, byte for byte */
    char d0[400], d1[400], out[27];
    snprintf(d0, sizeof d0, "%s/%s", ldir, ds[0]);
    snprintf(d1, sizeof d1, "%s/%s", ldir, ds[1]);
    char *dv[2] = {d0, d1};
    block_meta_t tmpl = {0};
    tmpl.min_time = t0;
    tmpl.max_time = t0 + 4 * D;
    tmpl.level = 2;
    assert_int_equal(aggrblock_merge(ldir, dv, 2, &tmpl, out, &err), 0);
    char od[400];
    snprintf(od, sizeof od, "%s/%s", ldir, out);
    block_t *mb = block_open(od, &err), *b0 = block_open(d0, &err), *b1 = block_open(d1, &err);
    assert_non_null(mb);
    assert_int_equal(mb->meta.num_samples, b0->meta.num_samples + b1->meta.num_samples);
    assert_int_equal(mb->meta.num_chunks, b0->meta.num_chunks + b1->meta.num_chunks);
    assert_int_equal(mb->meta.num_series, 2);
    block_close(mb);
    block_close(b0);
    block_close(b1);
    /* the same block twice: its chunks overlap, refused, nothing left behind */
    char *twice[2] = {d0, d1};
    twice[1] = d0;
    char bad[27];
    err.msg[0] = 0;
    assert_int_equal(aggrblock_merge(ldir, twice, 2, &tmpl, bad, &err), -1);
    assert_non_null(strstr(err.msg, "overlap"));
    char cmd[600];
    snprintf(cmd, sizeof cmd, "! ls -d %s/*.tmp-for-creation 2>/dev/null | grep -q .", ldir);
    assert_int_equal(system(cmd), 0);
    objstore_close(b);
}

PL_TEST_MAIN(cmocka_unit_test_setup_teardown(test_compact_group_and_halt, setup, teardown),
             cmocka_unit_test_setup_teardown(test_no_compact_mark, setup, teardown),
             cmocka_unit_test_setup_teardown(test_corrupt_input, setup, teardown),
             cmocka_unit_test_setup_teardown(test_retention_and_delete, setup, teardown),
             cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
             cmocka_unit_test_setup_teardown(test_downsampled_group, setup, teardown))
