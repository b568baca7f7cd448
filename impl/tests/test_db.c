/* test_db.c — the DB over head + WAL: appends survive a reopen with every
 * compression, the lock file, repair of a damaged tail (counted), ref
 * remapping at replay, checkpoints read at replay, per-sample statuses. */
#include "testutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsdb/db.h"
#include "tsdb/record.h"
#include "tsdb/wal.h"

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f) {
    (void)sb, (void)flag, (void)f;
    return remove(p);
}
static void rm_rf(const char *dir) { nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static char *tmpdir(void) {
    char *d = strdup("/tmp/pl-test-db.XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static db_t *open_db(const char *dir, wal_compression_t c) {
    db_opts_t o = {.wal_compression = c};
    db_t *db = NULL;
    pl_err_t err;
    if (db_open(dir, &o, &db, &err) != 0) fail_msg("db_open: %s", err.msg);
    return db;
}

static void close_db(db_t *db) {
    pl_err_t err;
    if (db_close(db, &err) != 0) fail_msg("db_close: %s", err.msg);
}

/* Samples of the series {__name__="m", i="<i>"} in the head. */
typedef struct got {
    size_t n;
    sample_t s[64];
} got_t;

static int collect(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    (void)ls, (void)n;
    got_t *g = ctx;
    for (size_t i = 0; i < ns && g->n < 64; i++)
        g->s[g->n++] = s[i];
    return 0;
}

static got_t series_samples(db_t *db, const char *name, const char *i) {
    matcher_t ms[2];
    pl_err_t err;
    assert_int_equal(matcher_init(&ms[0], MATCH_EQUAL, "__name__", name, &err), 0);
    assert_int_equal(matcher_init(&ms[1], MATCH_EQUAL, "i", i, &err), 0);
    got_t g = {0};
    assert_true(head_select(db_head(db), ms, 2, INT64_MIN, INT64_MAX, collect, &g, &err) >= 0);
    matcher_free(&ms[0]);
    matcher_free(&ms[1]);
    return g;
}

/* Writes nseries x nsamples: first commit by labels, then by ref. */
static void write_load(db_t *db, size_t nseries, size_t nsamples, int64_t t0) {
    appendable_t app;
    db_appendable(db, &app);
    appender_t a;
    assert_int_equal(app.appender(app.impl, &a), 0);
    series_ref_t *refs = calloc(nseries, sizeof *refs);
    pl_err_t err;
    for (size_t k = 0; k < nsamples; k++) {
        for (size_t s = 0; s < nseries; s++) {
            char iv[24];
            snprintf(iv, sizeof iv, "%zu", s);
            label_t ls[] = {{"__name__", "m"}, {"i", iv}};
            int64_t t = t0 + (int64_t)k * 1000;
            double v = (double)(s * 1000 + k);
            if (refs[s])
                assert_int_equal(a.add_ref(a.impl, refs[s], t, v), 0);
            else
                assert_int_equal(a.add(a.impl, ls, 2, t, v), 0);
        }
        const storage_append_status_t *st;
        assert_int_equal(a.commit(a.impl, &st, &err), 0);
        for (size_t s = 0; s < nseries; s++) {
            assert_int_equal(st[s].result, STORAGE_OK);
            assert_true(st[s].ref != 0);
            refs[s] = st[s].ref;
        }
    }
    free(refs);
    a.free(a.impl);
}

static void check_load(db_t *db, size_t nseries, size_t nsamples, int64_t t0) {
    for (size_t s = 0; s < nseries; s++) {
        char iv[24];
        snprintf(iv, sizeof iv, "%zu", s);
        got_t g = series_samples(db, "m", iv);
        assert_int_equal(g.n, nsamples);
        for (size_t k = 0; k < nsamples; k++) {
            assert_true(g.s[k].t == t0 + (int64_t)k * 1000);
            assert_true(g.s[k].v == (double)(s * 1000 + k));
        }
    }
}

static void persist(wal_compression_t c) {
    char *dir = tmpdir();
    db_t *db = open_db(dir, c);
    write_load(db, 50, 10, 1000000);
    close_db(db);
    db = open_db(dir, c);
    check_load(db, 50, 10, 1000000);
    db_stats_t st;
    db_get_stats(db, &st);
    assert_int_equal(st.replay_samples, 500);
    assert_int_equal(st.wal_corruptions, 0);
    assert_int_equal(st.relogged_series, 0);
    /* Appends after a replay go on where the data left off, and survive too. */
    write_load(db, 50, 0, 0);
    close_db(db);
    /* A different compression on the next open reads the old segments fine. */
    db = open_db(dir, c == WAL_COMPRESSION_ZSTD ? WAL_COMPRESSION_NONE : WAL_COMPRESSION_ZSTD);
    check_load(db, 50, 10, 1000000);
    close_db(db);
    rm_rf(dir);
    free(dir);
}

static void test_persist_none(void **state) {
    (void)state;
    persist(WAL_COMPRESSION_NONE);
}
static void test_persist_snappy(void **state) {
    (void)state;
    persist(WAL_COMPRESSION_SNAPPY);
}
static void test_persist_zstd(void **state) {
    (void)state;
    persist(WAL_COMPRESSION_ZSTD);
}

/* A commit larger than the DB's window (32768; 3000 here) is logged as
 * several series + samples record pairs and replays whole. */
static void test_big_commit_windows(void **state) {
    (void)state;
    char *dir = tmpdir();
    db_opts_t o = {.wal_compression = WAL_COMPRESSION_ZSTD, .commit_window = 3000};
    db_t *db = NULL;
    pl_err_t err;
    assert_int_equal(db_open(dir, &o, &db, &err), 0);
    write_load(db, 7000, 2, 0);
    close_db(db);
    db = open_db(dir, WAL_COMPRESSION_ZSTD);
    db_stats_t st;
    db_get_stats(db, &st);
    assert_int_equal(st.replay_records, 3 * 2 + 3); /* 3 windows of (series, samples), then 3 of samples */
    assert_int_equal(st.replay_series, 7000);
    assert_int_equal(st.replay_samples, 14000);
    head_stats_t hs;
    head_get_stats(db_head(db), &hs);
    assert_int_equal(hs.num_series, 7000);
    got_t g = series_samples(db, "m", "6999");
    assert_int_equal(g.n, 2);
    assert_true(g.s[1].v == 6999 * 1000.0 + 1);
    close_db(db);
    rm_rf(dir);
    free(dir);
}

static void test_lock_file(void **state) {
    (void)state;
    char *dir = tmpdir();
    db_t *db = open_db(dir, WAL_COMPRESSION_NONE);
    char lock[4200];
    snprintf(lock, sizeof lock, "%s/lock", dir);
    assert_int_equal(access(lock, F_OK), 0);
    db_t *second = NULL;
    pl_err_t err;
    db_opts_t o = {0};
    assert_int_equal(db_open(dir, &o, &second, &err), -1);
    assert_non_null(strstr(err.msg, "lock DB directory"));
    assert_null(second);
    /* The failed open leaves the holder's lock in place. */
    assert_int_equal(access(lock, F_OK), 0);
    close_db(db);
    assert_int_equal(access(lock, F_OK), -1); /* removed on close */
    /* no_lockfile: no lock file at all. */
    o.no_lockfile = true;
    assert_int_equal(db_open(dir, &o, &second, &err), 0);
    assert_int_equal(access(lock, F_OK), -1);
    close_db(second);
    rm_rf(dir);
    free(dir);
}

static void last_segment(const char *dir, char *out, size_t outsz) {
    char wal[4200];
    snprintf(wal, sizeof wal, "%s/wal", dir);
    int first, last;
    pl_err_t err;
    assert_int_equal(wal_segment_range(wal, &first, &last, &err), 1);
    wal_segment_path(out, outsz, wal, last);
}

static void test_garbage_tail_repaired_and_counted(void **state) {
    (void)state;
    char *dir = tmpdir();
    db_t *db = open_db(dir, WAL_COMPRESSION_SNAPPY);
    write_load(db, 20, 5, 0);
    close_db(db);
    char seg[4300];
    last_segment(dir, seg, sizeof seg);
    int fd = open(seg, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "\x09\x7f\x7fnot a record at all", 23), 23);
    close(fd);
    db = open_db(dir, WAL_COMPRESSION_SNAPPY);
    db_stats_t st;
    db_get_stats(db, &st);
    assert_int_equal(st.wal_corruptions, 1);
    check_load(db, 20, 5, 0);
    strbuf_t sb = STRBUF_INIT;
    db_write_metrics(db, &sb);
    assert_non_null(strstr(sb.data, "\nprometheus_tsdb_wal_corruptions_total 1\n"));
    assert_non_null(strstr(sb.data, "prometheus_tsdb_data_replay_duration_seconds "));
    assert_non_null(strstr(sb.data, "prometheus_tsdb_wal_segment_current 1\n"));
    strbuf_free(&sb);
    close_db(db);
    /* Repaired for good: the next open finds nothing to repair. */
    db = open_db(dir, WAL_COMPRESSION_SNAPPY);
    db_get_stats(db, &st);
    assert_int_equal(st.wal_corruptions, 0);
    check_load(db, 20, 5, 0);
    close_db(db);
    rm_rf(dir);
    free(dir);
}

static void test_cut_mid_record(void **state) {
    (void)state;
    char *dir = tmpdir();
    db_t *db = open_db(dir, WAL_COMPRESSION_NONE);
    write_load(db, 2000, 2, 0);
    close_db(db);
    /* A second session's samples record (2000 samples, ~22 KB) is cut in
     * the middle, as a crash during its page writes would. */
    db = open_db(dir, WAL_COMPRESSION_NONE);
    write_load(db, 2000, 1, 2000);
    close_db(db);
    char seg[4300];
    last_segment(dir, seg, sizeof seg);
    assert_int_equal(truncate(seg, 10000), 0);
    db = open_db(dir, WAL_COMPRESSION_NONE);
    db_stats_t st;
    db_get_stats(db, &st);
    assert_int_equal(st.wal_corruptions, 1);
    assert_int_equal(st.replay_samples, 4000);
    check_load(db, 2000, 2, 0);
    close_db(db);
    rm_rf(dir);
    free(dir);
}

/* A WAL whose refs are not what a new head hands out (written by another
 * process, or after series were dropped): replay maps them, logs the
 * changed series again, and later appends by the new refs replay right. */
static void test_ref_remap(void **state) {
    (void)state;
    char *dir = tmpdir();
    char wal[4200];
    snprintf(wal, sizeof wal, "%s/wal", dir);
    assert_int_equal(mkdir(wal, 0777), 0);
    wal_t *w;
    pl_err_t err;
    wal_opts_t wo = {0, WAL_COMPRESSION_SNAPPY};
    assert_int_equal(wal_open(wal, &wo, &w, &err), 0);
    strbuf_t rec = STRBUF_INIT;
    label_t a[] = {{"__name__", "m"}, {"i", "a"}}, b[] = {{"__name__", "m"}, {"i", "b"}},
            c[] = {{"__name__", "m"}, {"i", "c"}};
    record_series_begin(&rec);
    record_series_add(&rec, 100, a, 2);
    record_series_add(&rec, 2, b, 2); /* the head gives a ref 1 and b ref 2 */
    record_series_add(&rec, 1, c, 2); /* ref 1 collides with the head ref a gets */
    assert_int_equal(wal_log(w, rec.data, rec.len, &err), 0);
    record_sample_t s[] = {{100, 1000, 1}, {2, 1000, 2}, {1, 1000, 3}, {100, 2000, 11}, {1, 2000, 33}, {77, 5, 5}};
    strbuf_reset(&rec);
    record_samples_encode(&rec, s, 6);
    assert_int_equal(wal_log(w, rec.data, rec.len, &err), 0);
    assert_int_equal(wal_close(w, &err), 0);

    db_t *db = open_db(dir, WAL_COMPRESSION_SNAPPY);
    db_stats_t st;
    db_get_stats(db, &st);
    assert_int_equal(st.replay_samples, 5);
    assert_int_equal(st.replay_unknown_refs, 1);
    assert_true(st.relogged_series >= 2);
    got_t g = series_samples(db, "m", "c");
    assert_int_equal(g.n, 2);
    assert_true(g.s[1].v == 33);
    /* New samples for every series, by the head's refs. */
    appendable_t app;
    db_appendable(db, &app);
    appender_t ap;
    assert_int_equal(app.appender(app.impl, &ap), 0);
    label_t *sets[] = {a, b, c};
    for (int k = 0; k < 3; k++)
        assert_int_equal(ap.add(ap.impl, sets[k], 2, 3000, 100 + k), 0);
    const storage_append_status_t *sts;
    assert_int_equal(ap.commit(ap.impl, &sts, &err), 0);
    for (int k = 0; k < 3; k++)
        assert_int_equal(ap.add_ref(ap.impl, sts[k].ref, 4000, 200 + k), 0);
    assert_int_equal(ap.commit(ap.impl, &sts, &err), 0);
    ap.free(ap.impl);
    close_db(db);

    db = open_db(dir, WAL_COMPRESSION_SNAPPY);
    const char *names[] = {"a", "b", "c"};
    const double first[] = {1, 2, 3};
    for (int k = 0; k < 3; k++) {
        g = series_samples(db, "m", names[k]);
        assert_int_equal(g.n, k == 1 ? 3 : 4);
        assert_true(g.s[0].v == first[k]);
        assert_true(g.s[g.n - 2].v == 100 + k);
        assert_true(g.s[g.n - 1].v == 200 + k);
    }
    db_get_stats(db, &st);
    assert_int_equal(st.relogged_series, 0);
    close_db(db);
    strbuf_free(&rec);
    rm_rf(dir);
    free(dir);
}

static void test_checkpoint_then_segments(void **state) {
    (void)state;
    char *dir = tmpdir();
    char wal[4200], cp[4300], tmp[4300];
    snprintf(wal, sizeof wal, "%s/wal", dir);
    snprintf(cp, sizeof cp, "%s/checkpoint.00000003", wal);
    snprintf(tmp, sizeof tmp, "%s/checkpoint.00000005.tmp", wal);
    assert_int_equal(mkdir(wal, 0777), 0);
    assert_int_equal(mkdir(tmp, 0777), 0); /* an interrupted checkpoint: ignored and removed */
    pl_err_t err;
    wal_opts_t wo = {0, WAL_COMPRESSION_NONE};
    strbuf_t rec = STRBUF_INIT;
    label_t a[] = {{"__name__", "m"}, {"i", "a"}};
    /* The checkpoint: series, then samples. */
    wal_t *w;
    assert_int_equal(wal_open(cp, &wo, &w, &err), 0);
    record_series_begin(&rec);
    record_series_add(&rec, 9, a, 2);
    assert_int_equal(wal_log(w, rec.data, rec.len, &err), 0);
    record_sample_t s1[] = {{9, 1000, 1}};
    strbuf_reset(&rec);
    record_samples_encode(&rec, s1, 1);
    assert_int_equal(wal_log(w, rec.data, rec.len, &err), 0);
    assert_int_equal(wal_close(w, &err), 0);
    /* Segment 3 is covered by the checkpoint (its sample must not be read);
     * segment 4 follows it. Segment 2 is an empty leftover below both. */
    char path[4300];
    wal_segment_path(path, sizeof path, wal, 2);
    close(open(path, O_CREAT | O_WRONLY, 0644));
    record_sample_t covered[] = {{9, 3000, 99}}, s2[] = {{9, 2000, 2}};
    record_sample_t *segs[] = {covered, s2};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(wal_open(wal, &wo, &w, &err), 0); /* 00000003, then 00000004 */
        strbuf_reset(&rec);
        record_samples_encode(&rec, segs[k], 1);
        assert_int_equal(wal_log(w, rec.data, rec.len, &err), 0);
        assert_int_equal(wal_close(w, &err), 0);
    }

    db_t *db = open_db(dir, WAL_COMPRESSION_NONE);
    got_t g = series_samples(db, "m", "a");
    assert_int_equal(g.n, 2);
    assert_true(g.s[0].v == 1 && g.s[1].v == 2);
    assert_int_equal(access(tmp, F_OK), -1);
    close_db(db);
    strbuf_free(&rec);
    rm_rf(dir);
    free(dir);
}

static void test_statuses_and_rollback(void **state) {
    (void)state;
    char *dir = tmpdir();
    db_t *db = open_db(dir, WAL_COMPRESSION_ZSTD);
    appendable_t app;
    db_appendable(db, &app);
    appender_t a;
    assert_int_equal(app.appender(app.impl, &a), 0);
    label_t ls[] = {{"__name__", "m"}, {"i", "x"}};
    pl_err_t err;
    const storage_append_status_t *st;
    assert_int_equal(a.add(a.impl, ls, 2, 2000, 1), 0);
    assert_int_equal(a.commit(a.impl, &st, &err), 0);
    series_ref_t ref = st[0].ref;
    assert_int_equal(a.add_ref(a.impl, ref, 1000, 1), 0);    /* out of order */
    assert_int_equal(a.add_ref(a.impl, ref, 2000, 5), 0);    /* duplicate with another value */
    assert_int_equal(a.add_ref(a.impl, ref, 2000, 1), 0);    /* same sample again: accepted, ignored */
    assert_int_equal(a.add_ref(a.impl, 999999, 3000, 1), 0); /* unknown ref */
    assert_int_equal(a.add(a.impl, NULL, 0, 3000, 1), 0);    /* no labels */
    assert_int_equal(a.add_ref(a.impl, ref, 3000, 7), 0);
    assert_int_equal(a.commit(a.impl, &st, &err), 0);
    assert_int_equal(st[0].result, STORAGE_ERR_OUT_OF_ORDER);
    assert_int_equal(st[1].result, STORAGE_ERR_DUPLICATE);
    assert_int_equal(st[2].result, STORAGE_OK);
    assert_int_equal(st[3].result, STORAGE_ERR_NOT_FOUND);
    assert_int_equal(st[4].result, STORAGE_ERR_INVALID);
    assert_int_equal(st[5].result, STORAGE_OK);
    /* Rolled back: nothing stored, and nothing in the WAL. */
    assert_int_equal(a.add_ref(a.impl, ref, 4000, 9), 0);
    label_t other[] = {{"__name__", "m"}, {"i", "y"}};
    assert_int_equal(a.add(a.impl, other, 2, 4000, 9), 0);
    a.rollback(a.impl);
    assert_int_equal(a.commit(a.impl, &st, &err), 0); /* empty */
    a.free(a.impl);
    got_t g = series_samples(db, "m", "x");
    assert_int_equal(g.n, 2);
    close_db(db);
    db = open_db(dir, WAL_COMPRESSION_ZSTD);
    g = series_samples(db, "m", "x");
    assert_int_equal(g.n, 2);
    assert_true(g.s[1].t == 3000 && g.s[1].v == 7);
    assert_int_equal(series_samples(db, "m", "y").n, 0);
    close_db(db);

    /* A wrapped head: same appender, no WAL, nothing on disk. */
    head_t *h = head_new();
    db = db_wrap_head(h);
    db_appendable(db, &app);
    assert_int_equal(app.appender(app.impl, &a), 0);
    assert_int_equal(a.add(a.impl, ls, 2, 1, 1), 0);
    assert_int_equal(a.commit(a.impl, &st, &err), 0);
    assert_int_equal(st[0].result, STORAGE_OK);
    a.free(a.impl);
    close_db(db);
    head_stats_t hs;
    head_get_stats(h, &hs);
    assert_int_equal(hs.num_series, 1);
    head_free(h);
    rm_rf(dir);
    free(dir);
}

/* Out-of-order and conflicting samples in a WAL (another writer, or two
 * records of one series interleaved) are dropped at replay and counted. */
static void test_replay_out_of_order(void **state) {
    (void)state;
    char *dir = tmpdir();
    char wal[4200];
    snprintf(wal, sizeof wal, "%s/wal", dir);
    assert_int_equal(mkdir(wal, 0777), 0);
    wal_t *w;
    pl_err_t err;
    wal_opts_t wo = {0, WAL_COMPRESSION_ZSTD};
    assert_int_equal(wal_open(wal, &wo, &w, &err), 0);
    strbuf_t rec = STRBUF_INIT;
    label_t a[] = {{"__name__", "m"}, {"i", "a"}};
    record_series_begin(&rec);
    record_series_add(&rec, 1, a, 2);
    assert_int_equal(wal_log(w, rec.data, rec.len, &err), 0);
    record_sample_t s[] = {{1, 2000, 1}, {1, 1000, 2}, {1, 2000, 3}, {1, 2000, 1}, {1, 3000, 4}};
    strbuf_reset(&rec);
    record_samples_encode(&rec, s, 5);
    assert_int_equal(wal_log(w, rec.data, rec.len, &err), 0);
    assert_int_equal(wal_close(w, &err), 0);
    db_t *db = open_db(dir, WAL_COMPRESSION_ZSTD);
    db_stats_t st;
    db_get_stats(db, &st);
    assert_int_equal(st.replay_rejected, 2); /* t=1000 out of order; t=2000 with another value */
    got_t g = series_samples(db, "m", "a");
    assert_int_equal(g.n, 2);
    assert_true(g.s[0].t == 2000 && g.s[0].v == 1 && g.s[1].t == 3000 && g.s[1].v == 4);
    close_db(db);
    strbuf_free(&rec);
    rm_rf(dir);
    free(dir);
}

/* Keeps every series but the one whose ref is in ctx. */
static bool keep_all_but(void *ctx, uint64_t ref) { return ref != *(series_ref_t *)ctx; }

static void test_wal_truncate_with_checkpoint(void **state) {
    (void)state;
    char *dir = tmpdir();
    db_opts_t o = {.wal_compression = WAL_COMPRESSION_SNAPPY, .wal_segment_size = 2 * WAL_PAGE_SIZE};
    db_t *db = NULL;
    pl_err_t err;
    assert_int_equal(db_open(dir, &o, &db, &err), 0);
    for (int r = 0; r < 10; r++) { /* 4 scrapes a segment */
        write_load(db, 300, 4, r * 4000);
        assert_true(db_wal_cut(db, &err) >= 0);
    }
    got_t g0 = series_samples(db, "m", "0");
    assert_int_equal(g0.n, 40);
    /* The ref of series i=0: the first series created. */
    series_ref_t drop = 1;
    const int64_t mint = 20000;
    char wal[4200];
    snprintf(wal, sizeof wal, "%s/wal", dir);
    int first, last;
    assert_int_equal(wal_segment_range(wal, &first, &last, &err), 1);
    assert_true(last - first >= 6);
    assert_int_equal(db_wal_truncate(db, mint, keep_all_but, &drop, &err), 0);
    int cp = last - 1 == first ? first : first + (last - 1 - first) * 2 / 3;
    char path[4300];
    snprintf(path, sizeof path, "%s/checkpoint.%08d", wal, cp);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    int nfirst, nlast;
    assert_int_equal(wal_segment_range(wal, &nfirst, &nlast, &err), 1);
    assert_int_equal(nfirst, cp + 1);
    strbuf_t m = STRBUF_INIT;
    db_write_metrics(db, &m);
    assert_non_null(strstr(m.data, "\nprometheus_tsdb_wal_truncations_total 1\n"));
    assert_non_null(strstr(m.data, "\nprometheus_tsdb_checkpoint_creations_total 1\n"));
    strbuf_free(&m);
    close_db(db);

    for (int round = 0; round < 2; round++) {
        db = open_db(dir, WAL_COMPRESSION_SNAPPY);
        /* Every sample at or after mint of every kept series survives; the
         * checkpointed ones before mint are gone, the series dropped from
         * the checkpoint has no series record left. */
        for (int i = 1; i < 300; i += 37) {
            char iv[24];
            snprintf(iv, sizeof iv, "%d", i);
            got_t g = series_samples(db, "m", iv);
            assert_true(g.n < 40);
            size_t after = 0;
            for (size_t k = 0; k < g.n; k++)
                if (g.s[k].t >= mint) after++;
            assert_int_equal(after, 20);
            assert_true(g.s[g.n - 1].t == 39000 && g.s[g.n - 1].v == i * 1000.0 + 3);
        }
        assert_int_equal(series_samples(db, "m", "0").n, 0);
        db_stats_t st;
        db_get_stats(db, &st);
        if (round == 0) assert_true(st.replay_unknown_refs > 0 && st.relogged_series == 299);
        if (round == 1) assert_int_equal(st.relogged_series, 0); /* the relog of round 0 holds */
        close_db(db);
    }
    rm_rf(dir);
    free(dir);
}

PL_TEST_MAIN(cmocka_unit_test(test_persist_none), cmocka_unit_test(test_persist_snappy),
             cmocka_unit_test(test_persist_zstd), cmocka_unit_test(test_big_commit_windows),
             cmocka_unit_test(test_lock_file), cmocka_unit_test(test_garbage_tail_repaired_and_counted),
             cmocka_unit_test(test_cut_mid_record), cmocka_unit_test(test_ref_remap),
             cmocka_unit_test(test_checkpoint_then_segments), cmocka_unit_test(test_statuses_and_rollback),
             cmocka_unit_test(test_wal_truncate_with_checkpoint), cmocka_unit_test(test_replay_out_of_order))
