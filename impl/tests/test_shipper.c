/* test_shipper.c — the shipper's decisions against a FILESYSTEM bucket:
 * which blocks it ships (level 1 with samples; compacted ones only when
 * asked), in what order (blocks by minTime; chunks, index, meta.json within
 * a block — shown by making one object's upload fail), what it records in
 * thanos.shipper.json, the thanos section, and what happens after a restart,
 * a lost shipper.json, a partial upload and a block deleted before upload. */
#include "testutil.h"

#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

#include "objstore/objstore.h"
#include "shipper/shipper.h"
#include "tsdb/block.h"
#include "tsdb/meta.h"

#define H2 (2 * 3600 * 1000LL)
#define T0 1795780800000LL /* 2h-aligned */

typedef struct fixture {
    char tsdb[64], bkt[64];
    objstore_t *bucket;
} fixture_t;

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof *f);
    strcpy(f->tsdb, "/tmp/pl-ship-tsdb-XXXXXX");
    strcpy(f->bkt, "/tmp/pl-ship-bkt-XXXXXX");
    if (!mkdtemp(f->tsdb) || !mkdtemp(f->bkt)) return -1;
    objstore_config_t c = {.type = OBJSTORE_FILESYSTEM, .directory = f->bkt, .prefix = ""};
    pl_err_t e = {{0}};
    f->bucket = objstore_open(&c, &e);
    *state = f;
    return f->bucket ? 0 : -1;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    objstore_close(f->bucket);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", f->tsdb, f->bkt);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* A block of 3 series over [mint, mint+2h) at 15 s; level > 1 marks it compacted. */
static void make_block(fixture_t *f, int64_t mint, int level, char ulid[ULID_LEN + 1]) {
    block_builder_t *bb = block_builder_new(H2);
    sample_t s[480];
    pl_err_t e = {{0}};
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 480; i++) s[i] = (sample_t){mint + i * 15000LL, (double)(i * (k + 1))};
        char v[16];
        snprintf(v, sizeof v, "%d", k);
        label_t ls[] = {{"__name__", "up"}, {"k", v}};
        assert_int_equal(block_builder_add_series(bb, ls, 2, s, 480, &e), 0);
    }
    block_meta_t base = {0};
    base.level = level;
    block_write_opts_t o = {.min_time = mint, .max_time = mint + H2, .meta_base = level > 1 ? &base : NULL};
    if (block_builder_write(bb, f->tsdb, &o, ulid, &e) != 0) fail_msg("write block: %s", e.msg);
    block_builder_free(bb);
    if (level > 1) { /* make sure the level is what we asked for */
        char dir[128];
        snprintf(dir, sizeof dir, "%s/%s", f->tsdb, ulid);
        block_meta_t m;
        assert_int_equal(block_meta_read(dir, &m, &e), 0);
        m.level = level;
        assert_int_equal(block_meta_write(dir, &m, &e), 0);
        block_meta_free(&m);
    }
}

static shipper_t *new_shipper(fixture_t *f, bool compacted) {
    shipper_opts_t o = {.tsdb_path = f->tsdb, .bucket = f->bucket, .upload_compacted = compacted};
    pl_err_t e = {{0}};
    shipper_t *s = shipper_new(&o, &e);
    assert_non_null(s);
    label_t ls[] = {{"replica", "a"}, {"cluster", "eu1"}};
    assert_int_equal(shipper_set_labels(s, ls, 2, &e), 0);
    return s;
}

static bool in_bucket(fixture_t *f, const char *ulid, const char *rel) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s/%s", f->bkt, ulid, rel);
    return access(p, F_OK) == 0;
}

static bool same_file(const char *a, const char *b) {
    size_t na, nb;
    char *x = pl_test_read_file(a, &na), *y = pl_test_read_file(b, &nb);
    bool same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static char *shipper_json(fixture_t *f) {
    char p[128];
    snprintf(p, sizeof p, "%s/" SHIPPER_META_FILE, f->tsdb);
    return pl_test_read_file(p, NULL);
}

static void test_ships_level1_blocks_with_thanos_section(void **state) {
    fixture_t *f = *state;
    char late[ULID_LEN + 1], early[ULID_LEN + 1];
    make_block(f, T0 + H2, 1, late); /* created first: a smaller ULID, a later minTime */
    make_block(f, T0, 1, early);
    shipper_t *s = new_shipper(f, false);
    pl_err_t e = {{0}};
    int n = -1;
    assert_int_equal(shipper_sync(s, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_int_equal(shipper_uploads_total(s), 2);
    assert_int_equal(shipper_dir_syncs_total(s), 1);
    const char *u[2] = {early, late};
    for (int i = 0; i < 2; i++) {
        char a[256], b[256];
        snprintf(a, sizeof a, "%s/%s/index", f->tsdb, u[i]);
        snprintf(b, sizeof b, "%s/%s/index", f->bkt, u[i]);
        assert_true(same_file(a, b));
        snprintf(a, sizeof a, "%s/%s/chunks/000001", f->tsdb, u[i]);
        snprintf(b, sizeof b, "%s/%s/chunks/000001", f->bkt, u[i]);
        assert_true(same_file(a, b));
        assert_false(in_bucket(f, u[i], "tombstones"));
    }
    /* thanos.shipper.json lists both, by minTime, tab-indented as Thanos writes it */
    char *js = shipper_json(f);
    char want[256];
    snprintf(want, sizeof want, "{\n\t\"version\": 1,\n\t\"uploaded\": [\n\t\t\"%s\",\n\t\t\"%s\"\n\t]\n}", early, late);
    assert_string_equal(js, want);
    free(js);
    /* the uploaded meta.json: the local one plus the thanos section */
    char p[256];
    snprintf(p, sizeof p, "%s/%s/meta.json", f->bkt, early);
    size_t len;
    char *mj = pl_test_read_file(p, &len);
    assert_int_equal(mj[len - 1], '\n');
    block_meta_t m;
    assert_int_equal(block_meta_parse(mj, len, &m, &e), 0);
    assert_string_equal(m.ulid, early);
    assert_int_equal(m.min_time, T0);
    assert_int_equal(m.num_samples, 3 * 480);
    json_t *t = m.thanos;
    assert_non_null(t);
    assert_int_equal(json_integer_value(json_object_get(t, "version")), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "labels"), "cluster")), "eu1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "labels"), "replica")), "a");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(t, "downsample"), "resolution")), 0);
    assert_true(json_is_integer(json_object_get(json_object_get(t, "downsample"), "resolution")));
    assert_string_equal(json_string_value(json_object_get(t, "source")), "sidecar");
    assert_string_equal(json_string_value(json_array_get(json_object_get(t, "segment_files"), 0)), "000001");
    json_t *files = json_object_get(t, "files");
    assert_int_equal(json_array_size(files), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(files, 0), "rel_path")), "chunks/000001");
    assert_string_equal(json_string_value(json_object_get(json_array_get(files, 1), "rel_path")), "index");
    assert_string_equal(json_string_value(json_object_get(json_array_get(files, 2), "rel_path")), "meta.json");
    assert_null(json_object_get(json_array_get(files, 2), "size_bytes"));
    struct stat st;
    snprintf(p, sizeof p, "%s/%s/index", f->tsdb, early);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(files, 1), "size_bytes")), st.st_size);
    /* labels in sorted order, as Go marshals a map */
    assert_true(strstr(mj, "\"cluster\"") < strstr(mj, "\"replica\""));
    block_meta_free(&m);
    free(mj);
    /* the local meta.json is untouched and the upload staging dir is gone */
    snprintf(p, sizeof p, "%s/%s", f->tsdb, early);
    assert_int_equal(block_meta_read(p, &m, &e), 0);
    assert_null(m.thanos);
    block_meta_free(&m);
    snprintf(p, sizeof p, "%s/thanos/upload/%s", f->tsdb, early);
    assert_int_equal(access(p, F_OK), -1);

    /* a second pass uploads nothing */
    assert_int_equal(shipper_sync(s, &n, &e), 0);
    assert_int_equal(n, 0);
    assert_int_equal(shipper_uploads_total(s), 2);
    shipper_free(s);
}

static void test_skips_empty_and_compacted(void **state) {
    fixture_t *f = *state;
    char l1[ULID_LEN + 1], l2[ULID_LEN + 1], empty[ULID_LEN + 1];
    make_block(f, T0, 1, l1);
    make_block(f, T0 + H2, 2, l2);
    make_block(f, T0 + 2 * H2, 1, empty);
    char dir[128];
    pl_err_t e = {{0}};
    snprintf(dir, sizeof dir, "%s/%s", f->tsdb, empty);
    block_meta_t m;
    assert_int_equal(block_meta_read(dir, &m, &e), 0);
    m.num_samples = 0;
    assert_int_equal(block_meta_write(dir, &m, &e), 0);
    block_meta_free(&m);
    /* a block still being written and stray files are not blocks */
    char p[160];
    snprintf(p, sizeof p, "%s/%s.tmp-for-creation", f->tsdb, l1);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/wal", f->tsdb);
    assert_int_equal(mkdir(p, 0755), 0);

    shipper_t *s = new_shipper(f, false);
    int n = -1;
    assert_int_equal(shipper_sync(s, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_true(in_bucket(f, l1, "meta.json"));
    assert_false(in_bucket(f, l2, "meta.json"));
    assert_false(in_bucket(f, empty, "meta.json"));
    char *js = shipper_json(f);
    assert_non_null(strstr(js, l1));
    assert_null(strstr(js, l2));
    assert_null(strstr(js, empty));
    free(js);
    shipper_free(s);

    /* --shipper.upload-compacted ships the level-2 block, never the empty one */
    s = new_shipper(f, true);
    assert_int_equal(shipper_sync(s, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_true(in_bucket(f, l2, "meta.json"));
    assert_false(in_bucket(f, empty, "meta.json"));
    shipper_free(s);
}

/* Puts a directory where an object must go, so that object's upload fails. */
static void obstruct(fixture_t *f, const char *ulid, const char *rel) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s/%s/x", f->bkt, ulid, rel);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p);
    assert_int_equal(system(cmd), 0);
}

static void unobstruct(fixture_t *f, const char *ulid, const char *rel) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/%s/%s'", f->bkt, ulid, rel);
    assert_int_equal(system(cmd), 0);
}

static void test_upload_order_and_retry(void **state) {
    fixture_t *f = *state;
    char b1[ULID_LEN + 1], b2[ULID_LEN + 1];
    make_block(f, T0, 1, b1);
    make_block(f, T0 + H2, 1, b2);
    obstruct(f, b1, "index");
    shipper_t *s = new_shipper(f, false);
    pl_err_t e = {{0}};
    int n = -1;
    assert_int_equal(shipper_sync(s, &n, &e), -1);
    assert_non_null(strstr(e.msg, b1));
    assert_int_equal(n, 0);
    /* chunks went before the index; meta.json (last) never went: a partial block */
    assert_true(in_bucket(f, b1, "chunks/000001"));
    assert_false(in_bucket(f, b1, "meta.json"));
    /* the later block waits for the earlier one */
    assert_false(in_bucket(f, b2, "chunks/000001"));
    assert_int_equal(shipper_upload_failures_total(s), 1);
    assert_int_equal(shipper_dir_sync_failures_total(s), 1);
    char *js = shipper_json(f);
    assert_null(strstr(js, b1));
    free(js);

    /* next pass, obstacle gone: both shipped, in order, b1 once */
    unobstruct(f, b1, "index");
    assert_int_equal(shipper_sync(s, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_true(in_bucket(f, b1, "meta.json"));
    assert_true(in_bucket(f, b2, "meta.json"));
    js = shipper_json(f);
    assert_true(strstr(js, b1) && strstr(js, b2) && strstr(js, b1) < strstr(js, b2));
    free(js);
    assert_int_equal(shipper_uploads_total(s), 2);
    assert_int_equal(shipper_blocks_lost_total(s), 0);
    shipper_free(s);

    /* a failing meta.json upload: index went before it */
    char b3[ULID_LEN + 1];
    make_block(f, T0 + 2 * H2, 1, b3);
    obstruct(f, b3, "meta.json");
    s = new_shipper(f, false);
    assert_int_equal(shipper_sync(s, &n, &e), -1);
    assert_true(in_bucket(f, b3, "index"));
    shipper_free(s);
}

static void test_restart_neither_reuploads_nor_skips(void **state) {
    fixture_t *f = *state;
    char b1[ULID_LEN + 1], b2[ULID_LEN + 1];
    make_block(f, T0, 1, b1);
    shipper_t *s = new_shipper(f, false);
    pl_err_t e = {{0}};
    int n;
    assert_int_equal(shipper_sync(s, &n, &e), 0);
    assert_int_equal(n, 1);
    shipper_free(s);
    char p[256];
    snprintf(p, sizeof p, "%s/%s/index", f->bkt, b1);
    struct stat st1, st2;
    assert_int_equal(stat(p, &st1), 0);

    /* "restart": a new shipper on the same directory, plus a block cut meanwhile */
    make_block(f, T0 + H2, 1, b2);
    s = new_shipper(f, false);
    assert_int_equal(shipper_sync(s, &n, &e), 0);
    assert_int_equal(n, 1); /* only the new one */
    assert_int_equal(shipper_uploads_total(s), 1);
    assert_int_equal(stat(p, &st2), 0);
    assert_int_equal(st1.st_ino, st2.st_ino); /* not rewritten */
    assert_true(in_bucket(f, b2, "meta.json"));
    shipper_free(s);

    /* thanos.shipper.json lost: blocks complete in the bucket are recognised, not re-uploaded */
    snprintf(p, sizeof p, "%s/" SHIPPER_META_FILE, f->tsdb);
    assert_int_equal(unlink(p), 0);
    s = new_shipper(f, false);
    assert_int_equal(shipper_sync(s, &n, &e), 0);
    assert_int_equal(n, 0);
    char *js = shipper_json(f);
    assert_true(strstr(js, b1) && strstr(js, b2));
    free(js);
    shipper_free(s);

    /* corrupt shipper.json: same recovery */
    FILE *fp = fopen(p, "w");
    fputs("{not json", fp);
    fclose(fp);
    s = new_shipper(f, false);
    assert_int_equal(shipper_sync(s, &n, &e), 0);
    assert_int_equal(n, 0);
    shipper_free(s);

    /* a partial upload (killed before meta.json): shipped again in full */
    char b3[ULID_LEN + 1];
    make_block(f, T0 + 2 * H2, 1, b3);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/%s/chunks' && echo partial > '%s/%s/chunks/000001'", f->bkt, b3, f->bkt, b3);
    assert_int_equal(system(cmd), 0);
    s = new_shipper(f, false);
    assert_int_equal(shipper_sync(s, &n, &e), 0);
    assert_int_equal(n, 1);
    char a[256], b[256];
    snprintf(a, sizeof a, "%s/%s/chunks/000001", f->tsdb, b3);
    snprintf(b, sizeof b, "%s/%s/chunks/000001", f->bkt, b3);
    assert_true(same_file(a, b));
    shipper_free(s);
}

static void test_refuses_without_labels_and_logs_lost_blocks(void **state) {
    fixture_t *f = *state;
    char b1[ULID_LEN + 1];
    make_block(f, T0, 1, b1);
    shipper_opts_t o = {.tsdb_path = f->tsdb, .bucket = f->bucket};
    pl_err_t e = {{0}};
    shipper_t *s = shipper_new(&o, &e);
    int n;
    assert_int_equal(shipper_sync(s, &n, &e), -1);
    assert_non_null(strstr(e.msg, "no external labels"));
    assert_false(in_bucket(f, b1, "chunks/000001"));
    assert_int_equal(shipper_dir_sync_failures_total(s), 1);

    label_t ls[] = {{"cluster", "eu1"}};
    assert_int_equal(shipper_set_labels(s, ls, 1, &e), 0);
    obstruct(f, b1, "chunks/000001");
    assert_int_equal(shipper_sync(s, &n, &e), -1);
    /* retention deletes the block before the bucket is back */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/%s'", f->tsdb, b1);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(shipper_sync(s, &n, &e), 0);
    assert_int_equal(shipper_blocks_lost_total(s), 1);
    strbuf_t m = STRBUF_INIT;
    shipper_write_metrics(s, &m);
    assert_non_null(strstr(m.data, "thanos_shipper_upload_failures_total 1\n"));
    assert_non_null(strstr(m.data, "thanos_shipper_dir_syncs_total 3\n"));
    assert_non_null(strstr(m.data, "promlab_shipper_blocks_lost_total 1\n"));
    strbuf_free(&m);
    shipper_free(s);
}

static void test_read_meta_file(void **state) {
    fixture_t *f = *state;
    char p[128];
    snprintf(p, sizeof p, "%s/m.json", f->tsdb);
    char (*u)[27];
    size_t n;
    pl_err_t e = {{0}};
    assert_int_equal(shipper_read_meta_file(p, &u, &n, &e), 0); /* missing: empty */
    assert_int_equal(n, 0);
    const char *cases[][2] = {
        {"{\"version\":1,\"uploaded\":null}", "0"},
        {"{\"version\":1,\"uploaded\":[\"01M8F8XQYBZT404D31ZSHHR0GG\"]}", "1"},
        {"{\"version\":2,\"uploaded\":[]}", "err"},
        {"{\"version\":1,\"uploaded\":[\"nope\"]}", "err"},
        {"{\"version\":1,\"uploaded\":{}}", "err"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *fp = fopen(p, "w");
        fputs(cases[i][0], fp);
        fclose(fp);
        int rc = shipper_read_meta_file(p, &u, &n, &e);
        if (!strcmp(cases[i][1], "err")) {
            assert_int_equal(rc, -1);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(n, (size_t)atoi(cases[i][1]));
            free(u);
        }
    }
    unlink(p);
}


static void test_upload_compacted_refuses_overlap(void **state) {
    fixture_t *f = *state;
    char l1[ULID_LEN + 1], c1[ULID_LEN + 1];
    make_block(f, T0, 1, l1);
    shipper_t *s = new_shipper(f, true);
    pl_err_t e = {{0}};
    int n;
    assert_int_equal(shipper_sync(s, &n, &e), 0);
    assert_int_equal(n, 1);
    /* a compacted block over [T0+1h, T0+3h): overlaps the shipped one */
    make_block(f, T0 + H2 / 2, 2, c1);
    assert_int_equal(shipper_sync(s, &n, &e), -1);
    assert_non_null(strstr(e.msg, "overlap spotted"));
    assert_non_null(strstr(e.msg, l1));
    assert_false(in_bucket(f, c1, "chunks/000001"));
    shipper_free(s);
    /* another producer's block in the same range is no overlap */
    s = new_shipper(f, true);
    label_t other[] = {{"cluster", "us1"}};
    assert_int_equal(shipper_set_labels(s, other, 1, &e), 0);
    assert_int_equal(shipper_sync(s, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_true(in_bucket(f, c1, "meta.json"));
    shipper_free(s);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
PL_TEST_MAIN(T(test_ships_level1_blocks_with_thanos_section), T(test_skips_empty_and_compacted),
             T(test_upload_order_and_retry), T(test_restart_neither_reuploads_nor_skips),
             T(test_refuses_without_labels_and_logs_lost_blocks), T(test_read_meta_file),
             T(test_upload_compacted_refuses_overlap))
