/* test_compact.c — block compaction: the leveled planner (Prometheus's
 * LeveledCompactor.plan cases: levels, gaps, the newest block left out,
 * overlapping blocks, failed and deletable blocks, tombstones) over
 * meta.json-only block dirs, and compact_blocks over real blocks: the
 * querier over the inputs (which merges and de-duplicates the same way) is
 * the oracle for the output's samples; chunk-copy vs re-encode, tombstones,
 * an empty result, meta.json fields, errors leave nothing behind. */
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/labels.h"
#include "model/matcher.h"
#include "testutil.h"
#include "tsdb/block.h"
#include "tsdb/chunkenc.h"
#include "tsdb/compact.h"
#include "tsdb/querier.h"
#include "util/strbuf.h"

static char tmpdir[64];

static int setup(void **state) {
    (void)state;
    strcpy(tmpdir, "/tmp/pl-test-compact.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- planner -------------------------------------------------------------------- */

typedef struct pmeta {
    int64_t mint, maxt;
    uint64_t tombstones, series;
    bool failed, deletable;
} pmeta_t;

/* Writes a meta.json-only block dir per entry; ULIDs are made so that dir
 * order differs from time order (the planner must sort by minTime). Fills
 * ulids[i] for entry i. */
static void make_meta_dirs(const pmeta_t *pm, size_t n, char ulids[][ULID_LEN + 1]) {
    for (size_t i = 0; i < n; i++) {
        block_meta_t m = {0};
        /* Reverse creation order: the last entry gets the smallest ULID. */
        snprintf(m.ulid, sizeof m.ulid, "01H0000000000000000000%04zu", 9999 - i);
        memcpy(ulids[i], m.ulid, sizeof m.ulid);
        m.min_time = pm[i].mint;
        m.max_time = pm[i].maxt;
        m.num_series = pm[i].series ? pm[i].series : 10;
        m.num_samples = 100;
        m.num_tombstones = pm[i].tombstones;
        m.level = 1;
        m.failed = pm[i].failed;
        m.deletable = pm[i].deletable;
        m.version = 1;
        block_meta_add_source(&m, m.ulid);
        char d[300];
        snprintf(d, sizeof d, "%s/%s", tmpdir, m.ulid);
        assert_int_equal(mkdir(d, 0777), 0);
        pl_err_t err;
        assert_int_equal(block_meta_write(d, &m, &err), 0);
        block_meta_free(&m);
    }
}

static void clear_tmpdir(void) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s/*", tmpdir);
    assert_int_equal(system(cmd), 0);
}

static const int64_t RANGES[] = {20, 60, 180, 540, 1620};

/* Plans over the metas and checks the plan is exactly the entries `want`
 * (indexes into pm, in that order; nwant 0 = nothing to do). */
static void plan_case(const char *name, const pmeta_t *pm, size_t n, const int *want, size_t nwant) {
    clear_tmpdir();
    char ulids[16][ULID_LEN + 1];
    make_meta_dirs(pm, n, ulids);
    char **dirs;
    size_t nd;
    pl_err_t err;
    if (compact_plan(tmpdir, RANGES, 5, &dirs, &nd, &err) != 0) fail_msg("%s: %s", name, err.msg);
    if (nd != nwant) fail_msg("%s: planned %zu blocks, want %zu", name, nd, nwant);
    for (size_t i = 0; i < nwant; i++) {
        char p[300];
        snprintf(p, sizeof p, "%s/%s", tmpdir, ulids[want[i]]);
        if (strcmp(dirs[i], p) != 0) fail_msg("%s: plan[%zu] = %s, want %s", name, i, dirs[i], p);
    }
    compact_free_dirs(dirs, nd);
}

#define PM(...) ((const pmeta_t[]){__VA_ARGS__})
#define W(...) ((const int[]){__VA_ARGS__})
#define CASE(name, pms, wants) \
    plan_case(name, pms, sizeof(pms) / sizeof(pmeta_t), wants, sizeof(wants) / sizeof(int))
#define CASE_NONE(name, pms) plan_case(name, pms, sizeof(pms) / sizeof(pmeta_t), NULL, 0)

static void test_plan_levels(void **state) {
    (void)state;
    char **dirs;
    size_t nd;
    pl_err_t err;
    assert_int_equal(compact_plan(tmpdir, RANGES, 5, &dirs, &nd, &err), 0);
    assert_int_equal(nd, 0);
    assert_null(dirs);
    CASE_NONE("one block", PM({0, 20}));
    CASE_NONE("two blocks: the newest is left out, one is not enough", PM({0, 20}, {20, 40}));
    CASE_NONE("three blocks: two do not yet span 60 and end after the newest's start",
              PM({0, 20}, {20, 40}, {40, 60}));
    CASE("four blocks: the first three make a 60 range", PM({0, 20}, {20, 40}, {40, 60}, {60, 80}), W(0, 1, 2));
    CASE("input order does not matter", PM({60, 80}, {40, 60}, {0, 20}, {20, 40}), W(2, 3, 1));
    CASE("a gap inside the range: the two blocks around it", PM({0, 20}, {40, 60}, {60, 80}), W(0, 1));
    CASE_NONE("the last remaining block joins only a full range", PM({0, 20}, {20, 40}, {120, 140}));
    CASE("a gap: the range ends before the newest remaining block", PM({0, 20}, {20, 40}, {120, 140}, {140, 160}),
         W(0, 1));
    CASE_NONE("level 2 blocks: two 60s do not span 180 and reach the newest",
              PM({0, 60}, {60, 120}, {120, 140}));
    CASE("level 2: three 60s make a 180", PM({0, 60}, {60, 120}, {120, 180}, {180, 200}), W(0, 1, 2));
    CASE("the smallest range comes first: 2h blocks before 6h ones",
         PM({0, 60}, {60, 120}, {120, 180}, {180, 200}, {200, 220}, {220, 240}, {240, 260}), W(3, 4, 5));
    CASE_NONE("a single block per window is never a group",
              PM({0, 20}, {60, 80}, {120, 140}, {180, 200}));
    CASE_NONE("misaligned blocks: skipped at 60, not a full 180", PM({10, 70}, {70, 130}, {130, 190}));
    CASE("negative times are aligned by floor", PM({-60, -40}, {-40, -20}, {-20, 0}, {0, 20}), W(0, 1, 2));
    CASE("the largest range: 3 x 540", PM({0, 540}, {540, 1080}, {1080, 1620}, {1620, 1640}), W(0, 1, 2));
    CASE_NONE("beyond the largest range nothing merges", PM({0, 1620}, {1620, 3240}, {3240, 4860}, {4860, 4880}));
}

static void test_plan_overlapping(void **state) {
    (void)state;
    CASE("two overlapping blocks", PM({0, 20}, {10, 30}), W(0, 1));
    CASE("overlap includes the newest block", PM({0, 20}, {20, 40}, {30, 50}), W(1, 2));
    /* Equal minTimes are ordered by ULID (entry 2 has the smaller one). */
    CASE("a same-range duplicate", PM({0, 20}, {20, 40}, {20, 40}, {40, 60}), W(2, 1));
    CASE("a run of overlaps through a long block", PM({0, 100}, {10, 20}, {50, 60}, {100, 120}), W(0, 1, 2));
    CASE("only the first run of overlaps", PM({0, 20}, {10, 30}, {40, 60}, {50, 70}), W(0, 1));
    CASE("overlaps before the level plan", PM({0, 20}, {20, 40}, {40, 60}, {60, 80}, {70, 90}), W(3, 4));
    CASE_NONE("touching is not overlapping ([mint, maxt) is half-open)", PM({0, 20}, {20, 40}));
}

static void test_plan_failed_deletable(void **state) {
    (void)state;
    CASE_NONE("a group with a failed block is passed over",
              PM({0, 20}, {20, 40, .failed = true}, {40, 60}, {60, 80}));
    CASE("a failed block only blocks its own group",
         PM({0, 20}, {20, 40, .failed = true}, {60, 80}, {80, 100}, {100, 120}, {120, 140}), W(2, 3, 4));
    CASE("deletable blocks are ignored", PM({0, 20}, {10, 30, .deletable = true}, {20, 40}, {40, 60}, {60, 80}),
         W(0, 2, 3));
}

static void test_plan_tombstones(void **state) {
    (void)state;
    /* ranges[5/2] = 180: blocks at least that long qualify at > 5% tombstones. */
    CASE("a big block with over 5% tombstoned series is compacted alone",
         PM({0, 540, .tombstones = 1, .series = 10}, {540, 560}), W(0));
    CASE_NONE("5% or less is not enough", PM({0, 540, .tombstones = 1, .series = 19}, {540, 560}));
    CASE_NONE("the newest block is never picked for its tombstones", PM({0, 540}, {540, 1080, .tombstones = 5}));
    CASE("the walk starts at the newest candidate",
         PM({0, 540, .tombstones = 5}, {540, 1080, .tombstones = 5}, {1080, 1100}), W(1));
    CASE("a small wholly deleted block is compacted alone",
         PM({0, 20, .tombstones = 10, .series = 10}, {20, 40}), W(0));
    CASE_NONE("a small partly deleted block is not", PM({0, 20, .tombstones = 9, .series = 10}, {20, 40}));
    CASE_NONE("the walk stops at the first small block",
              PM({0, 540, .tombstones = 5}, {540, 560}, {600, 620}));
    CASE("a level plan comes before tombstones",
         PM({0, 540, .tombstones = 5}, {540, 560}, {560, 580}, {580, 600}, {600, 620}), W(1, 2, 3));
}

static void test_plan_errors(void **state) {
    (void)state;
    char **dirs;
    size_t nd;
    pl_err_t err;
    assert_int_equal(compact_plan("/nonexistent/pl-compact", RANGES, 5, &dirs, &nd, &err), -1);
    char d[300];
    snprintf(d, sizeof d, "%s/01H00000000000000000000001", tmpdir);
    assert_int_equal(mkdir(d, 0777), 0);
    snprintf(d, sizeof d, "%s/01H00000000000000000000001/meta.json", tmpdir);
    FILE *f = fopen(d, "w");
    fputs("{\"version\":2}", f);
    fclose(f);
    assert_int_equal(compact_plan(tmpdir, RANGES, 5, &dirs, &nd, &err), -1);
    assert_non_null(strstr(err.msg, "version"));
    assert_int_equal(nd, 0);
}

/* ---- compact_blocks --------------------------------------------------------------- */

static uint64_t bits_of(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static int render(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    strbuf_t *sb = ctx;
    for (size_t i = 0; i < ns; i++) {
        labels_format_braces(sb, ls, n);
        strbuf_printf(sb, " %016llx %lld\n", (unsigned long long)bits_of(s[i].v), (long long)s[i].t);
    }
    return 0;
}

/* Every sample of the blocks (merged by the querier, first block wins). */
static char *dump_blocks(block_t **bs, size_t n) {
    querier_t *q = querier_new(bs, n, NULL, 0);
    queryable_t qq;
    querier_queryable(q, &qq);
    matcher_t *ms;
    size_t nm;
    pl_err_t err;
    assert_int_equal(selector_parse("{__name__=~\".+\"}", &ms, &nm, &err), 0);
    strbuf_t sb = STRBUF_INIT;
    strbuf_puts(&sb, "");
    if (qq.select(qq.impl, ms, nm, INT64_MIN, INT64_MAX, render, &sb, &err) != 0) fail_msg("select: %s", err.msg);
    matchers_free(ms, nm);
    querier_free(q);
    return strbuf_detach(&sb);
}

static char *dump_dirs(char *const *dirs, size_t n) {
    block_t *bs[16];
    assert_true(n <= 16);
    pl_err_t err;
    for (size_t i = 0; i < n; i++)
        if (!(bs[i] = block_open(dirs[i], &err))) fail_msg("%s", err.msg);
    char *t = dump_blocks(bs, n);
    for (size_t i = 0; i < n; i++)
        block_close(bs[i]);
    return t;
}

/* A series: name, label value, samples every `step` ms in [from, to), value f(t). */
typedef struct gseries {
    const char *name, *k;
    int64_t from, to, step;
    double scale; /* v = t * scale */
} gseries_t;

/* Writes a block into tmpdir with the series, returns its dir (malloc'd). */
static char *make_block(int64_t mint, int64_t maxt, int level, const gseries_t *gs, size_t ngs) {
    block_builder_t *bb = block_builder_new(0);
    pl_err_t err;
    for (size_t i = 0; i < ngs; i++) {
        size_t ns = (size_t)((gs[i].to - gs[i].from + gs[i].step - 1) / gs[i].step);
        sample_t *s = malloc((ns + 1) * sizeof *s);
        for (size_t j = 0; j < ns; j++) {
            int64_t t = gs[i].from + (int64_t)j * gs[i].step;
            s[j] = (sample_t){t, (double)t * gs[i].scale};
        }
        label_t ls[] = {{"__name__", gs[i].name}, {"k", gs[i].k}};
        if (block_builder_add_series(bb, ls, 2, s, ns, &err) != 0) fail_msg("%s", err.msg);
        free(s);
    }
    block_meta_t mb = {.level = level};
    char ulid[ULID_LEN + 1];
    block_write_opts_t o = {.min_time = mint, .max_time = maxt, .meta_base = level > 1 ? &mb : NULL};
    if (level > 1) { /* a compacted block: sources other than its own ULID */
        char u1[ULID_LEN + 1], u2[ULID_LEN + 1];
        block_ulid_new(u1);
        block_ulid_new(u2);
        block_meta_add_source(&mb, u1);
        block_meta_add_source(&mb, u2);
    }
    if (block_builder_write(bb, tmpdir, &o, ulid, &err) != 0) fail_msg("%s", err.msg);
    block_builder_free(bb);
    block_meta_free(&mb);
    usleep(1500); /* distinct ULID times, so dir order = creation order */
    char *d = malloc(300);
    snprintf(d, 300, "%s/%s", tmpdir, ulid);
    return d;
}

static size_t count_dir_entries(const char *dir, const char *suffix) {
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        size_t l = strlen(de->d_name), sl = strlen(suffix);
        if (l >= sl && strcmp(de->d_name + l - sl, suffix) == 0) n++;
    }
    closedir(d);
    return n;
}

static const int64_t H = 3600 * 1000;

/* Three adjacent 2h blocks: every sample kept, every chunk copied byte for
 * byte, meta.json as Prometheus's CompactBlockMetas makes it. */
static void test_compact_non_overlapping(void **state) {
    (void)state;
    char *dirs[3];
    for (int b = 0; b < 3; b++) {
        int64_t mint = b * 2 * H, maxt = mint + 2 * H;
        gseries_t gs[] = {{"up", "a", mint, maxt, 15000, 1.0},
                          {"up", "b", mint, maxt, 15000, 0.5},
                          {b == 1 ? "only_mid" : "rate", "x", mint, maxt, 30000, 2.0}};
        dirs[b] = make_block(mint, maxt, b == 2 ? 2 : 1, gs, 3);
    }
    char *want = dump_dirs(dirs, 3);
    block_meta_t in[3];
    pl_err_t err;
    uint64_t in_chunks = 0, in_samples = 0, in_chunk_bytes = 0;
    for (int b = 0; b < 3; b++) {
        assert_int_equal(block_meta_read(dirs[b], &in[b], &err), 0);
        in_chunks += in[b].num_chunks;
        in_samples += in[b].num_samples;
        block_t *bl = block_open(dirs[b], &err);
        in_chunk_bytes += chunk_reader_size(bl->chunks) - CHUNKS_HEADER_BYTES;
        block_close(bl);
    }

    char ulid[27];
    assert_int_equal(compact_blocks(tmpdir, dirs, 3, ulid, &err), 0);
    assert_true(block_ulid_valid(ulid));
    char out[300];
    snprintf(out, sizeof out, "%s/%s", tmpdir, ulid);
    char *outs[] = {out};
    char *got = dump_dirs(outs, 1);
    assert_string_equal(got, want);
    assert_int_equal(count_dir_entries(tmpdir, ".tmp-for-creation"), 0);

    block_t *o = block_open(out, &err);
    assert_non_null(o);
    const block_meta_t *m = &o->meta;
    assert_string_equal(m->ulid, ulid);
    assert_int_equal(m->min_time, 0);
    assert_int_equal(m->max_time, 6 * H);
    assert_int_equal(m->level, 3); /* max(1, 1, 2) + 1 */
    assert_int_equal(m->num_samples, in_samples);
    assert_int_equal(m->num_series, 4); /* up{a}, up{b}, rate, only_mid */
    /* Chunk copy: the same chunks, the same bytes. */
    assert_int_equal(m->num_chunks, in_chunks);
    assert_int_equal(chunk_reader_size(o->chunks) - CHUNKS_HEADER_BYTES, in_chunk_bytes);
    /* sources: the union, sorted; the level-2 input brought two. */
    assert_int_equal(m->nsources, 4);
    for (size_t i = 1; i < m->nsources; i++)
        assert_true(strcmp(m->sources[i - 1], m->sources[i]) < 0);
    for (size_t b = 0; b < 3; b++)
        for (size_t k = 0; k < in[b].nsources; k++) {
            bool found = false;
            for (size_t i = 0; i < m->nsources; i++)
                found |= strcmp(m->sources[i], in[b].sources[k]) == 0;
            assert_true(found);
        }
    assert_int_equal(m->nparents, 3);
    for (int b = 0; b < 3; b++) {
        assert_string_equal(m->parents[b].ulid, in[b].ulid);
        assert_int_equal(m->parents[b].min_time, in[b].min_time);
        assert_int_equal(m->parents[b].max_time, in[b].max_time);
    }
    assert_false(m->deletable);
    /* The meta.json text as Prometheus writes a compacted block's. */
    size_t len;
    char mp[400];
    snprintf(mp, sizeof mp, "%s/meta.json", out);
    char *txt = pl_test_read_file(mp, &len);
    strbuf_t sb = STRBUF_INIT;
    block_meta_render(m, &sb);
    assert_string_equal(txt, sb.data);
    assert_non_null(strstr(txt, "\n\t\t\"level\": 3,\n\t\t\"sources\": [\n\t\t\t\""));
    assert_non_null(strstr(txt, "\n\t\t\"parents\": [\n\t\t\t{\n\t\t\t\t\"ulid\": \""));
    strbuf_free(&sb);
    free(txt);
    /* The inputs are untouched (the caller deletes them). */
    for (int b = 0; b < 3; b++) {
        block_meta_t again;
        assert_int_equal(block_meta_read(dirs[b], &again, &err), 0);
        assert_false(again.deletable);
        block_meta_free(&again);
        block_meta_free(&in[b]);
        free(dirs[b]);
    }
    block_close(o);
    free(want);
    free(got);
}

/* Reads every chunk of a block: counts per chunk, and checks chunks of a
 * series are in time order without overlap. Returns the largest count. */
static unsigned max_chunk_samples(const char *dir, uint64_t *nchunks) {
    pl_err_t err;
    block_t *b = block_open(dir, &err);
    assert_non_null(b);
    uint32_t *ids;
    size_t n;
    assert_int_equal(index_reader_postings(b->index, "", "", &ids, &n, &err), 0);
    index_series_t s = {0};
    unsigned mx = 0;
    *nchunks = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(index_reader_series(b->index, ids[i], &s, &err), 0);
        for (size_t c = 0; c < s.nchks; c++) {
            uint8_t enc;
            const uint8_t *data;
            size_t len;
            assert_int_equal(chunk_reader_get(b->chunks, s.chks[c].ref, &enc, &data, &len, &err), 0);
            assert_int_equal(enc, CHUNKENC_XOR);
            unsigned k = xor_chunk_count_bytes(data);
            if (k > mx) mx = k;
            if (c > 0) assert_true(s.chks[c].mint > s.chks[c - 1].maxt);
            /* mint/maxt in the index are the chunk's first and last samples. */
            xor_iter_t it;
            xor_iter_init(&it, data, len);
            int64_t t, first = 0, last = 0;
            double v;
            unsigned cnt = 0;
            while (xor_iter_next(&it)) {
                xor_iter_at(&it, &t, &v);
                if (cnt++ == 0) first = t;
                last = t;
            }
            assert_int_equal(cnt, k);
            assert_int_equal(first, s.chks[c].mint);
            assert_int_equal(last, s.chks[c].maxt);
            (*nchunks)++;
        }
    }
    index_series_free(&s);
    free(ids);
    block_close(b);
    return mx;
}

/* Overlapping blocks: a series in both is merged sample by sample (a
 * timestamp in both keeps the first block's value), re-encoded in chunks
 * of at most 120 samples; series in one block only are kept. */
static void test_compact_overlapping(void **state) {
    (void)state;
    /* Block 1: 15s samples over [0, 2h); block 2: 10s samples over [1h, 3h),
     * different values (scale), so every 30s timestamp exists in both. */
    gseries_t g1[] = {{"m", "both", 0, 2 * H, 15000, 1.0}, {"m", "one", 0, 2 * H, 60000, 3.0}};
    gseries_t g2[] = {{"m", "both", H, 3 * H, 10000, 2.0}, {"m", "two", H, 3 * H, 60000, 4.0}};
    char *dirs[2] = {make_block(0, 2 * H, 1, g1, 2), make_block(H, 3 * H, 1, g2, 2)};
    char *want = dump_dirs(dirs, 2);
    /* The oracle itself: at t = 1h + 30s both blocks have a sample, the first wins. */
    char probe[128];
    snprintf(probe, sizeof probe, "{__name__=\"m\", k=\"both\"} %016llx %lld\n",
             (unsigned long long)bits_of((double)(H + 30000)), (long long)(H + 30000));
    assert_non_null(strstr(want, probe));
    pl_err_t err;
    char ulid[27];
    assert_int_equal(compact_blocks(tmpdir, dirs, 2, ulid, &err), 0);
    char out[300];
    snprintf(out, sizeof out, "%s/%s", tmpdir, ulid);
    char *outs[] = {out};
    char *got = dump_dirs(outs, 1);
    assert_string_equal(got, want);
    /* both: 480 + 720 - 120 shared timestamps; one, two: 120 each. */
    block_meta_t m;
    assert_int_equal(block_meta_read(out, &m, &err), 0);
    assert_int_equal(m.num_samples, 480 + 720 - 120 + 120 + 120);
    assert_int_equal(m.num_series, 3);
    assert_int_equal(m.min_time, 0);
    assert_int_equal(m.max_time, 3 * H);
    assert_int_equal(m.level, 2);
    assert_int_equal(m.nsources, 2);
    uint64_t nchunks;
    unsigned mx = max_chunk_samples(out, &nchunks);
    assert_true(mx <= COMPACT_SAMPLES_PER_CHUNK);
    assert_int_equal(m.num_chunks, nchunks);
    /* The overlap [1h, 2h) of "both" re-encoded: 480 samples in 4 full chunks. */
    assert_int_equal(mx, 120);
    block_meta_free(&m);
    /* The other order: block 2's values win at shared timestamps. */
    char *rev[2] = {dirs[1], dirs[0]};
    char *want2 = dump_dirs(rev, 2);
    assert_string_not_equal(want2, want);
    assert_int_equal(compact_blocks(tmpdir, rev, 2, ulid, &err), 0);
    snprintf(out, sizeof out, "%s/%s", tmpdir, ulid);
    char *got2 = dump_dirs(outs, 1);
    assert_string_equal(got2, want2);
    free(want);
    free(got);
    free(want2);
    free(got2);
    free(dirs[0]);
    free(dirs[1]);
}

/* Writes tombstones for series (name, k) of the block in dir. */
static void add_tombstone(const char *dir, const char *k, int64_t mint, int64_t maxt) {
    pl_err_t err;
    block_t *b = block_open(dir, &err);
    assert_non_null(b);
    uint32_t *ids;
    size_t n;
    assert_int_equal(index_reader_postings(b->index, "k", k, &ids, &n, &err), 0);
    assert_int_equal(n, 1);
    tombstones_t ts = {0};
    for (size_t i = 0; i < b->tombstones.n; i++)
        tombstones_add(&ts, b->tombstones.v[i].series_id, b->tombstones.v[i].mint, b->tombstones.v[i].maxt);
    tombstones_add(&ts, ids[0], mint, maxt);
    free(ids);
    char p[400];
    snprintf(p, sizeof p, "%s/tombstones", dir);
    assert_int_equal(tombstones_write(p, &ts, &err), 0);
    tombstones_free(&ts);
    block_close(b);
}

/* Tombstones are applied: deleted samples are gone (chunks they touch are
 * re-encoded), a wholly deleted series is gone, the output has no tombstones. */
static void test_compact_tombstones(void **state) {
    (void)state;
    gseries_t g1[] = {{"m", "a", 0, 2 * H, 15000, 1.0}, {"m", "b", 0, 2 * H, 15000, 1.0}, {"m", "c", 0, 2 * H, 15000, 1.0}};
    gseries_t g2[] = {{"m", "a", 2 * H, 4 * H, 15000, 1.0}, {"m", "b", 2 * H, 4 * H, 15000, 1.0}};
    char *dirs[2] = {make_block(0, 2 * H, 1, g1, 3), make_block(2 * H, 4 * H, 1, g2, 2)};
    add_tombstone(dirs[0], "a", 600000, 1200000);   /* 10m..20m of a in block 1 */
    add_tombstone(dirs[0], "a", 1500000, 1515000);  /* and 2 samples at 25m */
    add_tombstone(dirs[0], "c", INT64_MIN, INT64_MAX); /* all of c */
    add_tombstone(dirs[1], "b", 3 * H, 5 * H);        /* the second half of b in block 2 */
    char *want = dump_dirs(dirs, 2); /* the querier applies tombstones */
    assert_null(strstr(want, "k=\"c\""));
    pl_err_t err;
    char ulid[27];
    assert_int_equal(compact_blocks(tmpdir, dirs, 2, ulid, &err), 0);
    char out[300];
    snprintf(out, sizeof out, "%s/%s", tmpdir, ulid);
    char *outs[] = {out};
    char *got = dump_dirs(outs, 1);
    assert_string_equal(got, want);
    block_t *o = block_open(out, &err);
    assert_int_equal(o->tombstones.n, 0);
    assert_int_equal(o->meta.num_series, 2);
    assert_int_equal(o->meta.num_samples, (960 - 41 - 2) + (480 + 240)); /* a: 43 deleted; b: 1h of block 2 */
    uint32_t *ids;
    size_t n;
    assert_int_equal(index_reader_postings(o->index, "k", "c", &ids, &n, &err), 0);
    assert_int_equal(n, 0);
    free(ids);
    block_close(o);
    free(want);
    free(got);
    free(dirs[0]);
    free(dirs[1]);
}

/* Nothing left after tombstones: no block, the inputs marked deletable (and
 * the planner then ignores them). */
static void test_compact_empty_result(void **state) {
    (void)state;
    gseries_t g1[] = {{"m", "a", 0, 2 * H, 15000, 1.0}};
    gseries_t g2[] = {{"m", "b", 2 * H, 4 * H, 15000, 1.0}};
    char *dirs[2] = {make_block(0, 2 * H, 1, g1, 1), make_block(2 * H, 4 * H, 1, g2, 1)};
    add_tombstone(dirs[0], "a", 0, 2 * H);
    add_tombstone(dirs[1], "b", INT64_MIN, INT64_MAX);
    pl_err_t err;
    char ulid[27] = "x";
    assert_int_equal(compact_blocks(tmpdir, dirs, 2, ulid, &err), 0);
    assert_int_equal(ulid[0], 0);
    assert_int_equal(count_dir_entries(tmpdir, ""), 2); /* no new block, no temp dir */
    for (int b = 0; b < 2; b++) {
        block_meta_t m;
        assert_int_equal(block_meta_read(dirs[b], &m, &err), 0);
        assert_true(m.deletable);
        assert_int_equal(m.num_series, 1); /* the rest of the meta kept */
        block_meta_free(&m);
        free(dirs[b]);
    }
    char **pd;
    size_t nd;
    assert_int_equal(compact_plan(tmpdir, RANGES, 5, &pd, &nd, &err), 0);
    assert_int_equal(nd, 0);
}

/* Bad input: a missing block, a block given twice, a corrupt chunk file.
 * Nothing is left behind; a failed write marks the inputs failed. */
static void test_compact_errors(void **state) {
    (void)state;
    pl_err_t err;
    char ulid[27];
    char *missing[] = {"/nonexistent/01H00000000000000000000001"};
    assert_int_equal(compact_blocks(tmpdir, missing, 1, ulid, &err), -1);
    assert_int_equal(compact_blocks(tmpdir, missing, 0, ulid, &err), -1);
    gseries_t g1[] = {{"m", "a", 0, 2 * H, 15000, 1.0}};
    char *d = make_block(0, 2 * H, 1, g1, 1);
    char *twice[] = {d, d};
    assert_int_equal(compact_blocks(tmpdir, twice, 2, ulid, &err), -1);
    assert_non_null(strstr(err.msg, "twice"));
    /* Corrupt a chunk's bytes: its CRC no longer matches. */
    char p[400];
    snprintf(p, sizeof p, "%s/chunks/000001", d);
    FILE *f = fopen(p, "r+b");
    fseek(f, 20, SEEK_SET);
    fputc(0x55, f);
    fclose(f);
    char *one[] = {d};
    assert_int_equal(compact_blocks(tmpdir, one, 1, ulid, &err), -1);
    assert_int_equal(count_dir_entries(tmpdir, ".tmp-for-creation"), 0);
    assert_int_equal(count_dir_entries(tmpdir, ""), 1);
    block_meta_t m;
    assert_int_equal(block_meta_read(d, &m, &err), 0);
    assert_true(m.failed);
    block_meta_free(&m);
    free(d);
}

/* Plan and compact until nothing is left: 9 2h blocks + one overlapping
 * end up as one 18h block plus the newest ones, samples intact. */
static void test_plan_compact_loop(void **state) {
    (void)state;
    char *all[12];
    size_t nall = 0;
    for (int b = 0; b < 10; b++) {
        gseries_t gs[] = {{"m", "a", b * 2 * H, (b + 1) * 2 * H, 60000, 1.0},
                          {"m", b % 2 ? "odd" : "even", b * 2 * H, (b + 1) * 2 * H, 120000, 2.0}};
        all[nall++] = make_block(b * 2 * H, (b + 1) * 2 * H, 1, gs, 2);
    }
    gseries_t ov[] = {{"m", "late", 3 * H, 5 * H, 60000, 5.0}};
    all[nall++] = make_block(3 * H, 5 * H, 1, ov, 1);
    char *want = dump_dirs(all, nall);
    const int64_t ranges[] = {2 * H, 6 * H, 18 * H};
    pl_err_t err;
    int rounds = 0;
    for (;;) {
        char **dirs;
        size_t nd;
        assert_int_equal(compact_plan(tmpdir, ranges, 3, &dirs, &nd, &err), 0);
        if (nd == 0) break;
        char ulid[27];
        if (rounds == 0) assert_int_equal(nd, 3); /* the overlap first: 2-4h, 3-5h, 4-6h */
        assert_int_equal(compact_blocks(tmpdir, dirs, nd, ulid, &err), 0);
        for (size_t i = 0; i < nd; i++)
            assert_int_equal(block_rm_rf(dirs[i]), 0);
        compact_free_dirs(dirs, nd);
        assert_true(++rounds < 20);
    }
    char **names;
    size_t n;
    assert_int_equal(block_dir_list(tmpdir, &names, &n, &err), 0);
    /* [0,18h) (level 4: 2h+overlap -> 6h -> 18h) + [18h,20h) the newest. */
    assert_int_equal(n, 2);
    char *dirs[2];
    int levels = 0;
    for (size_t i = 0; i < n; i++) {
        dirs[i] = malloc(300);
        snprintf(dirs[i], 300, "%s/%s", tmpdir, names[i]);
        block_meta_t m;
        assert_int_equal(block_meta_read(dirs[i], &m, &err), 0);
        levels += m.level;
        if (m.level > 1) {
            assert_int_equal(m.min_time, 0);
            assert_int_equal(m.max_time, 18 * H);
            assert_int_equal(m.nsources, 10);
        }
        block_meta_free(&m);
    }
    assert_int_equal(levels, 4 + 1);
    block_dir_list_free(names, n);
    char *got = dump_dirs(dirs, 2);
    assert_string_equal(got, want);
    free(got);
    free(want);
    for (size_t i = 0; i < n; i++)
        free(dirs[i]);
    for (size_t i = 0; i < nall; i++)
        free(all[i]);
}

static bool exists(const char *name) {
    char p[300];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    struct stat st;
    return stat(p, &st) == 0;
}

static void mkdir_with_file(const char *name) {
    char p[300];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    assert_int_equal(mkdir(p, 0777), 0);
    snprintf(p, sizeof p, "%s/%s/index", tmpdir, name);
    FILE *f = fopen(p, "w");
    fputs("half written", f);
    fclose(f);
}

/* What Prometheus removes at open: torn block writes and deletions,
 * deletable blocks, parents of a present block; nothing else. */
static void test_remove_leftovers(void **state) {
    (void)state;
    char u[5][ULID_LEN + 1];
    /* 0: kept; 1: deletable; 2: parent of 3; 3: merged block; 4: kept (its
     * parent is absent). */
    make_meta_dirs(PM({0, 20}, {20, 40, .deletable = true}, {40, 60}, {40, 80}, {80, 100}), 5, u);
    pl_err_t err;
    char p[300];
    block_meta_t m;
    snprintf(p, sizeof p, "%s/%s", tmpdir, u[3]);
    assert_int_equal(block_meta_read(p, &m, &err), 0);
    m.level = 2;
    m.parents = calloc(2, sizeof *m.parents);
    m.nparents = 2;
    memcpy(m.parents[0].ulid, u[2], sizeof u[2]);
    memcpy(m.parents[1].ulid, "01H00000000000000000000777", ULID_LEN + 1); /* already gone */
    assert_int_equal(block_meta_write(p, &m, &err), 0);
    block_meta_free(&m);
    mkdir_with_file("01H00000000000000000000AAA.tmp-for-creation");
    mkdir_with_file("01H00000000000000000000BBB.tmp-for-deletion");
    mkdir_with_file("notaulid.tmp-for-creation");
    mkdir_with_file("wal");

    char **removed = NULL;
    size_t n = 0;
    assert_int_equal(compact_remove_leftovers(tmpdir, &removed, &n, &err), 0);
    assert_int_equal(n, 4);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(removed[i], "01H00000000000000000000AAA.tmp-for-creation")) seen |= 1;
        if (!strcmp(removed[i], "01H00000000000000000000BBB.tmp-for-deletion")) seen |= 2;
        if (!strcmp(removed[i], u[1])) seen |= 4;
        if (!strcmp(removed[i], u[2])) seen |= 8;
    }
    assert_int_equal(seen, 15);
    compact_free_dirs(removed, n);
    assert_true(exists(u[0]) && exists(u[3]) && exists(u[4]) && exists("wal") && exists("notaulid.tmp-for-creation"));
    assert_false(exists(u[1]) || exists(u[2]) || exists("01H00000000000000000000AAA.tmp-for-creation"));
    assert_int_equal(count_dir_entries(tmpdir, ".tmp-for-deletion"), 0);
    /* A second pass has nothing to do; NULL lists are fine. */
    assert_int_equal(compact_remove_leftovers(tmpdir, NULL, NULL, &err), 0);
    assert_int_equal(count_dir_entries(tmpdir, ""), 5);
    /* compact_delete_block leaves no trace, and refuses a missing dir. */
    snprintf(p, sizeof p, "%s/%s/", tmpdir, u[4]);
    assert_int_equal(compact_delete_block(p, &err), 0);
    assert_false(exists(u[4]));
    assert_int_equal(count_dir_entries(tmpdir, ""), 4);
    assert_int_equal(compact_delete_block(p, &err), -1);
    assert_int_equal(compact_remove_leftovers("/nonexistent/pl-compact", NULL, NULL, &err), -1);
}

/* promtool 2.42's blocks (NaN, infinities, irregular
 * samples) compact into one block with every bit of every value intact,
 * which promtool reads back (when installed) with the same dump. */
static void test_compact_promtool_blocks(void **state) {
    (void)state;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp -r impl/tests/data/tsdb/promtool242/01* %s/", tmpdir);
    assert_int_equal(system(cmd), 0);
    char **names;
    size_t n;
    pl_err_t err;
    assert_int_equal(block_dir_list(tmpdir, &names, &n, &err), 0);
    assert_int_equal(n, 3);
    char *dirs[3];
    for (size_t i = 0; i < n; i++) {
        dirs[i] = malloc(300);
        snprintf(dirs[i], 300, "%s/%s", tmpdir, names[i]);
    }
    block_dir_list_free(names, n);
    char *want = dump_dirs(dirs, 3);
    assert_non_null(strstr(want, " 7ff8000000000001 ")); /* a NaN payload, bit for bit */
    assert_non_null(strstr(want, " fff0000000000000 ")); /* -Inf */
    char ulid[27];
    assert_int_equal(compact_blocks(tmpdir, dirs, 3, ulid, &err), 0);
    char out[300];
    snprintf(out, sizeof out, "%s/%s", tmpdir, ulid);
    char *outs[] = {out};
    char *got = dump_dirs(outs, 1);
    assert_string_equal(got, want);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(compact_delete_block(dirs[i], &err), 0);
    if (access("/usr/bin/promtool", X_OK) == 0) {
        char outf[400];
        snprintf(outf, sizeof outf, "%s/promtool.dump", tmpdir);
        snprintf(cmd, sizeof cmd, "mkdir -p %s/wal && /usr/bin/promtool tsdb dump %s > %s 2>/dev/null", tmpdir, tmpdir, outf);
        assert_int_equal(system(cmd), 0);
        char *pd = pl_test_read_file(outf, NULL);
        char *fixture = pl_test_read_file("impl/tests/data/tsdb/promtool242/dump.txt", NULL);
        assert_non_null(pd);
        assert_non_null(fixture);
        assert_string_equal(pd, fixture);
        free(pd);
        free(fixture);
    }
    for (size_t i = 0; i < 3; i++)
        free(dirs[i]);
    free(want);
    free(got);
}

PL_TEST_MAIN(cmocka_unit_test_setup_teardown(test_compact_promtool_blocks, setup, teardown),
             cmocka_unit_test_setup_teardown(test_remove_leftovers, setup, teardown),
             cmocka_unit_test_setup_teardown(test_plan_levels, setup, teardown),
             cmocka_unit_test_setup_teardown(test_plan_overlapping, setup, teardown),
             cmocka_unit_test_setup_teardown(test_plan_failed_deletable, setup, teardown),
             cmocka_unit_test_setup_teardown(test_plan_tombstones, setup, teardown),
             cmocka_unit_test_setup_teardown(test_plan_errors, setup, teardown),
             cmocka_unit_test_setup_teardown(test_compact_non_overlapping, setup, teardown),
             cmocka_unit_test_setup_teardown(test_compact_overlapping, setup, teardown),
             cmocka_unit_test_setup_teardown(test_compact_tombstones, setup, teardown),
             cmocka_unit_test_setup_teardown(test_compact_empty_result, setup, teardown),
             cmocka_unit_test_setup_teardown(test_compact_errors, setup, teardown),
             cmocka_unit_test_setup_teardown(test_plan_compact_loop, setup, teardown))
