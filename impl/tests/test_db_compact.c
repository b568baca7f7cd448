/* test_db_compact.c — the DB's blocks: head compaction into aligned blocks,
 * head + WAL truncation after it, queries over blocks + head returning every
 * sample exactly once (also across a reopen and while compaction and
 * retention drop blocks under running queries), block loading at open
 * (broken, temporary, deletable and already-compacted dirs), retention
 * selection by time and size as Prometheus computes it, and the
 * compaction ranges. */
#include "testutil.h"

#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsdb/block.h"
#include "tsdb/db.h"
#include "util/strbuf.h"

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f) {
    (void)sb, (void)flag, (void)f;
    return remove(p);
}
static void rm_rf(const char *dir) { nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static char *tmpdir(void) {
    char *d = strdup("/tmp/pl-test-dbc.XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static db_t *open_db(const char *dir, int64_t range, int64_t retention_ms, int64_t retention_bytes) {
    db_opts_t o = {.wal_compression = WAL_COMPRESSION_SNAPPY,
                   .block_range_ms = range,
                   .max_block_duration_ms = range, /* no block compaction unless a test asks */
                   .retention_ms = retention_ms,
                   .retention_bytes = retention_bytes,
                   .wal_segment_size = 64 * 1024};
    db_t *db = NULL;
    pl_err_t err;
    if (db_open(dir, &o, &db, &err) != 0) fail_msg("db_open: %s", err.msg);
    return db;
}

static void close_db(db_t *db) {
    pl_err_t err;
    if (db_close(db, &err) != 0) fail_msg("db_close: %s", err.msg);
}

/* nseries series {__name__="m", i="<k>"}, a sample every step ms in [t0, t1). */
static void write_range(db_t *db, int nseries, int64_t t0, int64_t t1, int64_t step) {
    appendable_t app;
    db_appendable(db, &app);
    appender_t a;
    assert_int_equal(app.appender(app.impl, &a), 0);
    pl_err_t err;
    for (int64_t t = t0; t < t1; t += step) {
        for (int k = 0; k < nseries; k++) {
            char iv[16];
            snprintf(iv, sizeof iv, "%d", k);
            label_t ls[] = {{"__name__", "m"}, {"i", iv}};
            assert_int_equal(a.add(a.impl, ls, 2, t, (double)(t * 10 + k)), 0);
        }
        const storage_append_status_t *st;
        assert_int_equal(a.commit(a.impl, &st, &err), 0);
        for (int k = 0; k < nseries; k++) assert_int_equal(st[k].result, STORAGE_OK);
    }
    a.free(a.impl);
}

typedef struct tally {
    size_t series, samples, dups, wrong;
} tally_t;

static int tally_cb(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    tally_t *t = ctx;
    int k = -1;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ls[i].name, "i")) k = atoi(ls[i].value);
    t->series++;
    t->samples += ns;
    for (size_t i = 0; i < ns; i++) {
        if (i && s[i].t <= s[i - 1].t) t->dups++;
        if (s[i].v != (double)(s[i].t * 10 + k)) t->wrong++;
    }
    return 0;
}

static tally_t query_all(db_t *db, int64_t mint, int64_t maxt) {
    queryable_t q;
    db_queryable(db, &q);
    matcher_t m;
    pl_err_t err;
    assert_int_equal(matcher_init(&m, MATCH_EQUAL, "__name__", "m", &err), 0);
    tally_t t = {0};
    if (q.select(q.impl, &m, 1, mint, maxt, tally_cb, &t, &err) != 0) fail_msg("select: %s", err.msg);
    matcher_free(&m);
    return t;
}

static void test_head_compaction(void **state) {
    (void)state;
    char *dir = tmpdir();
    db_t *db = open_db(dir, 1000, 0, 0);
    write_range(db, 10, 0, 5000, 100);
    pl_err_t err;
    /* [0,1000) [1000,2000) [2000,3000) [3000,4000): the head then spans 4000..4900. */
    assert_int_equal(db_compact(db, &err), 4);
    db_block_info_t *bi;
    size_t nb;
    assert_int_equal(db_blocks(db, &bi, &nb), 0);
    assert_int_equal(nb, 4);
    for (size_t i = 0; i < nb; i++) {
        assert_int_equal(bi[i].min_time, (int64_t)i * 1000);
        assert_int_equal(bi[i].max_time, (int64_t)(i + 1) * 1000);
        assert_int_equal(bi[i].num_samples, 100);
        assert_int_equal(bi[i].num_series, 10);
        assert_int_equal(bi[i].level, 1);
        char meta[4200];
        snprintf(meta, sizeof meta, "%s/meta.json", bi[i].dir);
        assert_int_equal(access(meta, R_OK), 0);
    }
    free(bi);
    head_stats_t hs;
    head_get_stats(db_head(db), &hs);
    assert_int_equal(hs.min_valid_time, 4000);
    assert_int_equal(hs.min_time, 4000);
    /* Nothing more to do: the head spans less than 1.5 ranges. */
    assert_int_equal(db_compact(db, &err), 0);

    tally_t t = query_all(db, INT64_MIN, INT64_MAX);
    assert_int_equal(t.series, 10);
    assert_int_equal(t.samples, 500);
    assert_int_equal(t.dups, 0);
    assert_int_equal(t.wrong, 0);
    /* Across the block / head boundary. */
    t = query_all(db, 3500, 4499);
    assert_int_equal(t.samples, 10 * 10);

    /* Appends into a block's range are refused. */
    appendable_t app;
    db_appendable(db, &app);
    appender_t a;
    assert_int_equal(app.appender(app.impl, &a), 0);
    label_t ls[] = {{"__name__", "m"}, {"i", "3"}};
    a.add(a.impl, ls, 2, 3999, 1);
    const storage_append_status_t *st;
    assert_int_equal(a.commit(a.impl, &st, &err), 0);
    assert_int_equal(st[0].result, STORAGE_ERR_OUT_OF_BOUNDS);
    a.free(a.impl);

    strbuf_t sb = STRBUF_INIT;
    db_write_metrics(db, &sb);
    assert_non_null(strstr(sb.data, "\nprometheus_tsdb_blocks_loaded 4\n"));
    assert_non_null(strstr(sb.data, "\nprometheus_tsdb_compactions_total 4\n"));
    assert_non_null(strstr(sb.data, "\nprometheus_tsdb_head_truncations_total 4\n"));
    assert_non_null(strstr(sb.data, "\nprometheus_tsdb_lowest_timestamp 0\n"));
    strbuf_free(&sb);
    close_db(db);

    /* Reopen: blocks loaded, the WAL replay adds nothing a block holds. */
    db = open_db(dir, 1000, 0, 0);
    assert_int_equal(db_blocks(db, &bi, &nb), 0);
    assert_int_equal(nb, 4);
    free(bi);
    t = query_all(db, INT64_MIN, INT64_MAX);
    assert_int_equal(t.samples, 500);
    assert_int_equal(t.dups, 0);
    assert_int_equal(t.wrong, 0);
    head_get_stats(db_head(db), &hs);
    assert_int_equal(hs.min_time, 4000);
    close_db(db);
    rm_rf(dir);
    free(dir);
}

/* Series that stop being written leave the head at truncation, and the WAL
 * is checkpointed so a restart does not bring them back. */
static void test_truncation_drops_series_and_wal(void **state) {
    (void)state;
    char *dir = tmpdir();
    db_t *db = open_db(dir, 1000, 0, 0);
    write_range(db, 50, 0, 2000, 100); /* 50 series up to 1900 */
    write_range(db, 5, 2000, 6000, 50); /* only 5 go on */
    pl_err_t err;
    assert_true(db_compact(db, &err) >= 3);
    head_stats_t hs;
    head_get_stats(db_head(db), &hs);
    assert_int_equal(hs.num_series, 5);
    assert_int_equal(hs.series_removed, 45);
    db_stats_t ds;
    db_get_stats(db, &ds);
    assert_true(ds.checkpoint_creations >= 1);
    tally_t before = query_all(db, INT64_MIN, INT64_MAX);
    assert_int_equal(before.series, 50);
    assert_int_equal(before.samples, 50 * 20 + 5 * 80);
    close_db(db);
    db = open_db(dir, 1000, 0, 0);
    head_get_stats(db_head(db), &hs);
    assert_int_equal(hs.num_series, 5);
    tally_t after = query_all(db, INT64_MIN, INT64_MAX);
    assert_int_equal(after.samples, before.samples);
    assert_int_equal(after.dups, 0);
    assert_int_equal(after.wrong, 0);
    close_db(db);
    rm_rf(dir);
    free(dir);
}

/* Queries hold blocks while compaction and retention drop them. */
typedef struct qrun {
    db_t *db;
    _Atomic int stop;
    size_t runs, bad;
} qrun_t;

static void *query_loop(void *arg) {
    qrun_t *r = arg;
    while (!atomic_load(&r->stop)) {
        tally_t t = query_all(r->db, INT64_MIN, INT64_MAX);
        if (t.dups || t.wrong) r->bad++;
        r->runs++;
    }
    return NULL;
}

static void test_queries_during_compaction_and_retention(void **state) {
    (void)state;
    char *dir = tmpdir();
    db_t *db = open_db(dir, 1000, 3000, 0); /* keep 3s of blocks */
    qrun_t r = {db, 0, 0, 0};
    pthread_t th;
    pthread_create(&th, NULL, query_loop, &r);
    pl_err_t err;
    for (int64_t t = 0; t < 20000; t += 1000) {
        write_range(db, 20, t, t + 1000, 100);
        assert_true(db_compact(db, &err) >= 0);
    }
    atomic_store(&r.stop, 1);
    pthread_join(th, NULL);
    assert_true(r.runs > 0);
    assert_int_equal(r.bad, 0);
    db_block_info_t *bi;
    size_t nb;
    assert_int_equal(db_blocks(db, &bi, &nb), 0);
    /* Newest block ends at 19000; blocks ending before 16000 are gone. */
    assert_true(nb >= 3 && nb <= 4);
    for (size_t i = 0; i < nb; i++) assert_true(bi[nb - 1].max_time - bi[i].max_time <= 3000);
    free(bi);
    strbuf_t sb = STRBUF_INIT;
    db_write_metrics(db, &sb);
    assert_null(strstr(sb.data, "\nprometheus_tsdb_time_retentions_total 0\n"));
    strbuf_free(&sb);
    close_db(db);
    rm_rf(dir);
    free(dir);
}

static void write_file(const char *path, const char *s) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

/* At open: a broken block is skipped (not fatal), temporary dirs and
 * deletable blocks are removed, a block already compacted into a loaded
 * child is deleted. */
static void test_open_block_dirs(void **state) {
    (void)state;
    char *dir = tmpdir();
    db_t *db = open_db(dir, 1000, 0, 0);
    write_range(db, 3, 0, 3400, 100);
    pl_err_t err;
    assert_int_equal(db_compact(db, &err), 2);
    db_block_info_t *bi;
    size_t nb;
    assert_int_equal(db_blocks(db, &bi, &nb), 0);
    assert_int_equal(nb, 2);
    close_db(db);

    char p[4400];
    /* Block 1 claims block 0 as its parent: block 0 goes at open. */
    block_meta_t m;
    assert_int_equal(block_meta_read(bi[1].dir, &m, &err), 0);
    m.parents = calloc(1, sizeof *m.parents);
    m.nparents = 1;
    memcpy(m.parents[0].ulid, bi[0].ulid, sizeof m.parents[0].ulid);
    m.level = 2;
    assert_int_equal(block_meta_write(bi[1].dir, &m, &err), 0);
    block_meta_free(&m);
    /* Garbage and leftovers. */
    snprintf(p, sizeof p, "%s/01ARZ3NDEKTSV4RRFFQ69G5FAV", dir);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/01ARZ3NDEKTSV4RRFFQ69G5FAV/meta.json", dir);
    write_file(p, "{not json");
    snprintf(p, sizeof p, "%s/01ARZ3NDEKTSV4RRFFQ69G5FAW.tmp-for-creation", dir);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/01ARZ3NDEKTSV4RRFFQ69G5FAX.tmp-for-deletion", dir);
    mkdir(p, 0777);

    db = open_db(dir, 1000, 0, 0);
    db_block_info_t *bi2;
    size_t nb2;
    assert_int_equal(db_blocks(db, &bi2, &nb2), 0);
    assert_int_equal(nb2, 1);
    assert_string_equal(bi2[0].ulid, bi[1].ulid);
    assert_false(exists(bi[0].dir));
    snprintf(p, sizeof p, "%s/01ARZ3NDEKTSV4RRFFQ69G5FAV", dir);
    assert_true(exists(p)); /* skipped, left for the operator */
    snprintf(p, sizeof p, "%s/01ARZ3NDEKTSV4RRFFQ69G5FAW.tmp-for-creation", dir);
    assert_false(exists(p));
    snprintf(p, sizeof p, "%s/01ARZ3NDEKTSV4RRFFQ69G5FAX.tmp-for-deletion", dir);
    assert_false(exists(p));
    close_db(db);
    free(bi2);

    /* A block marked deletable goes at open. */
    assert_int_equal(block_meta_read(bi[1].dir, &m, &err), 0);
    m.deletable = true;
    assert_int_equal(block_meta_write(bi[1].dir, &m, &err), 0);
    block_meta_free(&m);
    db = open_db(dir, 1000, 0, 0);
    assert_int_equal(db_blocks(db, &bi2, &nb2), 0);
    assert_int_equal(nb2, 0);
    assert_false(exists(bi[1].dir));
    close_db(db);
    free(bi);
    rm_rf(dir);
    free(dir);
}

/* delete_series: tombstones in blocks and head hide the samples, survive a
 * reopen (block tombstones file, WAL tombstone record); clean_tombstones
 * rewrites the block; a snapshot holds the blocks and the head as a block. */
static void test_delete_clean_snapshot(void **state) {
    (void)state;
    char *dir = tmpdir();
    db_t *db = open_db(dir, 1000, 0, 0);
    write_range(db, 4, 0, 3000, 100); /* blocks [0,1000) [1000,2000), head 2000..2900 */
    pl_err_t err;
    assert_int_equal(db_compact(db, &err), 2);
    tally_t t = query_all(db, INT64_MIN, INT64_MAX);
    assert_int_equal(t.samples, 4 * 30);
    matcher_t m[2];
    assert_int_equal(matcher_init(&m[0], MATCH_EQUAL, "__name__", "m", &err), 0);
    assert_int_equal(matcher_init(&m[1], MATCH_REGEX, "i", "1|2", &err), 0);
    /* 500..2499 of series 1 and 2: 5 + 10 samples in the blocks, 5 in the head each. */
    assert_int_equal(db_delete(db, m, 2, 500, 2499, &err), 0);
    t = query_all(db, INT64_MIN, INT64_MAX);
    assert_int_equal(t.samples, 4 * 30 - 2 * 20);
    assert_int_equal(t.wrong, 0);
    db_block_info_t *bi;
    size_t nb;
    assert_int_equal(db_blocks(db, &bi, &nb), 0);
    assert_int_equal(nb, 2);
    assert_int_equal(bi[0].num_tombstones, 2);
    assert_int_equal(bi[1].num_tombstones, 2);
    free(bi);
    close_db(db);

    db = open_db(dir, 1000, 0, 0);
    t = query_all(db, INT64_MIN, INT64_MAX);
    assert_int_equal(t.samples, 4 * 30 - 2 * 20);
    /* Snapshot: the block hard-linked, the head written as a block. */
    char snapdir[4200];
    snprintf(snapdir, sizeof snapdir, "%s/snapshots/x", dir);
    assert_int_equal(db_snapshot(db, snapdir, false, &err), 0);
    char **names;
    size_t nn;
    assert_int_equal(block_dir_list(snapdir, &names, &nn, &err), 0);
    assert_int_equal(nn, 3);
    uint64_t samples = 0;
    for (size_t i = 0; i < nn; i++) {
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", snapdir, names[i]);
        block_t *b = block_open(p, &err);
        assert_non_null(b);
        samples += b->meta.num_samples;
        block_close(b);
    }
    block_dir_list_free(names, nn);
    /* Block: 4 x 10 raw samples (tombstones are carried, not applied); head: 4 x 10 minus 2 x 5 deleted. */
    assert_int_equal(samples, 40 + 40 + 30);
    assert_int_equal(db_clean_tombstones(db, &err), 0);
    assert_int_equal(db_blocks(db, &bi, &nb), 0);
    assert_int_equal(nb, 2);
    assert_int_equal(bi[0].num_tombstones, 0);
    assert_int_equal(bi[0].num_samples, 40 - 2 * 5);
    assert_int_equal(bi[1].num_samples, 40 - 2 * 10);
    free(bi);
    t = query_all(db, INT64_MIN, INT64_MAX);
    assert_int_equal(t.samples, 4 * 30 - 2 * 20);
    matcher_free(&m[0]);
    matcher_free(&m[1]);
    close_db(db);
    rm_rf(dir);
    free(dir);
}

/* With larger ranges allowed, head blocks are merged by compact.h's planner:
 * levels rise, sources are deleted after the merged block is loaded, every
 * sample stays queryable once, and a reopen finds the same. */
static void test_block_compaction(void **state) {
    (void)state;
    char *dir = tmpdir();
    db_opts_t o = {.wal_compression = WAL_COMPRESSION_ZSTD, .block_range_ms = 1000, .max_block_duration_ms = 9000};
    db_t *db = NULL;
    pl_err_t err;
    assert_int_equal(db_open(dir, &o, &db, &err), 0);
    for (int64_t t = 0; t < 12000; t += 1000) {
        write_range(db, 6, t, t + 1000, 100);
        assert_true(db_compact(db, &err) >= 0);
    }
    db_block_info_t *bi;
    size_t nb;
    assert_int_equal(db_blocks(db, &bi, &nb), 0);
    int maxlevel = 0;
    for (size_t i = 0; i < nb; i++) {
        if (bi[i].level > maxlevel) maxlevel = bi[i].level;
        if (i) assert_true(bi[i].min_time >= bi[i - 1].max_time); /* no overlap left */
    }
    assert_true(maxlevel >= 2);
    assert_true(nb < 10);
    free(bi);
    /* Only the loaded blocks are on disk. */
    char **names;
    size_t nn;
    assert_int_equal(block_dir_list(dir, &names, &nn, &err), 0);
    assert_int_equal(nn, nb);
    block_dir_list_free(names, nn);
    tally_t t = query_all(db, INT64_MIN, INT64_MAX);
    assert_int_equal(t.samples, 6 * 120);
    assert_int_equal(t.dups, 0);
    assert_int_equal(t.wrong, 0);
    close_db(db);
    assert_int_equal(db_open(dir, &o, &db, &err), 0);
    t = query_all(db, INT64_MIN, INT64_MAX);
    assert_int_equal(t.samples, 6 * 120);
    assert_int_equal(t.dups, 0);
    close_db(db);
    rm_rf(dir);
    free(dir);
}

static void test_retention_select(void **state) {
    (void)state;
    const int64_t day = 24 * 3600 * 1000LL;
    /* 20 daily blocks, given in scrambled order, 100 bytes each. */
    db_retention_block_t b[20];
    for (int i = 0; i < 20; i++) {
        int d = (i * 7) % 20;
        b[i] = (db_retention_block_t){d * day, (d + 1) * day, 100};
    }
    bool del[20], by_time, by_size;
    /* 15d: newest maxt is 20d; blocks with maxt < 5d go (maxt 1d..4d: 4 blocks);
     * maxt == 5d is exactly 15d older and stays (the rule is "more than"). */
    assert_int_equal(db_retention_select(b, 20, 15 * day, 0, 0, del, &by_time, &by_size), 4);
    assert_true(by_time);
    assert_false(by_size);
    for (int i = 0; i < 20; i++) assert_int_equal(del[i], b[i].max_time < 5 * day);
    /* Size: head 150 + blocks newest first; 1000 bytes holds the head and 8 blocks. */
    assert_int_equal(db_retention_select(b, 20, 0, 1000, 150, del, &by_time, &by_size), 12);
    assert_true(by_size);
    assert_false(by_time);
    for (int i = 0; i < 20; i++) assert_int_equal(del[i], b[i].max_time <= 12 * day);
    /* Both: the union. */
    assert_int_equal(db_retention_select(b, 20, 15 * day, 1000, 150, del, &by_time, &by_size), 12);
    assert_true(by_time && by_size);
    /* Nothing configured, or nothing beyond. */
    assert_int_equal(db_retention_select(b, 20, 0, 0, 0, del, &by_time, &by_size), 0);
    assert_int_equal(db_retention_select(b, 20, 30 * day, 1 << 20, 0, del, &by_time, &by_size), 0);
    assert_false(by_time || by_size);
    assert_int_equal(db_retention_select(b, 0, day, 1, 0, del, &by_time, &by_size), 0);
    /* A head larger than the limit alone: every block goes. */
    assert_int_equal(db_retention_select(b, 20, 0, 100, 1000, del, &by_time, &by_size), 20);
}

static void test_compaction_ranges(void **state) {
    (void)state;
    const int64_t h2 = 2 * 3600 * 1000LL;
    int64_t r[16];
    /* Default 15d retention: max block 1.5d -> 2h, 6h, 18h. */
    size_t n = db_compaction_ranges(h2, 15 * 24 * 3600 * 1000LL / 10, r, 16);
    assert_int_equal(n, 3);
    assert_int_equal(r[0], h2);
    assert_int_equal(r[1], 3 * h2);
    assert_int_equal(r[2], 9 * h2);
    /* min == max: one range, no compaction of blocks. */
    assert_int_equal(db_compaction_ranges(60000, 60000, r, 16), 1);
    /* No max: ten ranges. */
    assert_int_equal(db_compaction_ranges(h2, 0, r, 16), 10);
}

PL_TEST_MAIN(cmocka_unit_test(test_head_compaction), cmocka_unit_test(test_truncation_drops_series_and_wal),
             cmocka_unit_test(test_queries_during_compaction_and_retention), cmocka_unit_test(test_open_block_dirs),
             cmocka_unit_test(test_block_compaction), cmocka_unit_test(test_delete_clean_snapshot), cmocka_unit_test(test_retention_select), cmocka_unit_test(test_compaction_ranges))
