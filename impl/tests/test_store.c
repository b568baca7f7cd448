/* test_store.c — the store gateway (store/store.h) and the read paths
 * around it: the aggregate chosen per function, the resolution plan (one
 * resolution per time range, gaps filled from finer data, nothing counted
 * twice), a bucket store over a FILESYSTEM bucket (partial, deletion-marked
 * and broken blocks skipped; series merged across blocks with their
 * external labels; blocks that leave the bucket dropped; chunks range-read),
 * downsampled blocks (downsample_block) answered with the aggregate the
 * function asks for and agreeing with raw data, the leaf info document
 * `promlab query` reads, and the sidecar's read endpoint. */
#include "testutil.h"

#include <jansson.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compact/downsample.h"
#include "objstore/objstore.h"
#include "promql/memstore.h"
#include "query/query.h"
#include "remote/remote_read.h"
#include "sidecar/read.h"
#include "store/store.h"
#include "tsdb/block.h"
#include "tsdb/meta.h"
#include "util/timeutil.h"

#define H (3600 * 1000LL)
#define M (60 * 1000LL)
#define T0 1795780800000LL /* 2h-aligned (and 1h, 5m) */

/* ---- aggregate per function ---- */

static void test_aggr_for_func(void **state) {
    (void)state;
    assert_int_equal(store_aggr_for_func("rate"), STORE_AGGR_COUNTER);
    assert_int_equal(store_aggr_for_func("increase"), STORE_AGGR_COUNTER);
    assert_int_equal(store_aggr_for_func("irate"), STORE_AGGR_COUNTER);
    assert_int_equal(store_aggr_for_func("resets"), STORE_AGGR_COUNTER);
    assert_int_equal(store_aggr_for_func("sum_over_time"), STORE_AGGR_SUM);
    assert_int_equal(store_aggr_for_func("count_over_time"), STORE_AGGR_COUNT);
    assert_int_equal(store_aggr_for_func("min_over_time"), STORE_AGGR_MIN);
    assert_int_equal(store_aggr_for_func("max_over_time"), STORE_AGGR_MAX);
    assert_int_equal(store_aggr_for_func("max"), STORE_AGGR_MAX);
    assert_int_equal(store_aggr_for_func("avg_over_time"), STORE_AGGR_AVG);
    assert_int_equal(store_aggr_for_func("sum"), STORE_AGGR_AVG); /* the operator wants samples */
    assert_int_equal(store_aggr_for_func("delta"), STORE_AGGR_AVG);
    assert_int_equal(store_aggr_for_func(""), STORE_AGGR_AVG);
    assert_int_equal(store_aggr_for_func(NULL), STORE_AGGR_AVG);
    assert_string_equal(store_aggr_name(STORE_AGGR_COUNTER), "counter");
}

static void test_parse_resolution(void **state) {
    (void)state;
    int64_t ms = -1;
    pl_err_t e = {{0}};
    assert_int_equal(store_parse_resolution("raw", &ms, &e), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(store_parse_resolution("0s", &ms, &e), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(store_parse_resolution("5m", &ms, &e), 0);
    assert_int_equal(ms, 300000);
    assert_int_equal(store_parse_resolution("1h", &ms, &e), 0);
    assert_int_equal(ms, 3600000);
    assert_int_equal(store_parse_resolution("300000", &ms, &e), 0);
    assert_int_equal(ms, 300000);
    assert_int_equal(store_parse_resolution("fast", &ms, &e), -1);
    assert_non_null(strstr(e.msg, "max_source_resolution"));
}

/* ---- the plan ---- */

/* Checks parts are in time order, disjoint, and cover exactly what the
 * blocks can cover of [mint, maxt]; returns them for more checks. */
static void check_disjoint(const store_plan_part_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        assert_true(p[i].mint <= p[i].maxt);
        if (i) assert_true(p[i].mint > p[i - 1].maxt);
    }
}

static void test_plan_raw_only(void **state) {
    (void)state;
    store_plan_block_t b[] = {{T0, T0 + 2 * H, 0}, {T0 + 2 * H, T0 + 4 * H, 0}};
    store_plan_part_t *p;
    size_t n;
    assert_int_equal(store_plan(b, 2, T0 + H, T0 + 3 * H, 0, &p, &n), 0);
    assert_int_equal(n, 2);
    check_disjoint(p, n);
    assert_int_equal(p[0].block, 0);
    assert_int_equal(p[0].mint, T0 + H);
    assert_int_equal(p[0].maxt, T0 + 2 * H - 1);
    assert_int_equal(p[1].block, 1);
    assert_int_equal(p[1].mint, T0 + 2 * H);
    assert_int_equal(p[1].maxt, T0 + 3 * H);
    free(p);
}

static void test_plan_prefers_coarse_and_fills_gaps(void **state) {
    (void)state;
    /* raw over [0, 10h), 5m over [2h, 6h), 1h over [3h, 4h) */
    store_plan_block_t b[] = {
        {T0, T0 + 10 * H, 0},
        {T0 + 2 * H, T0 + 6 * H, STORE_RES_5M},
        {T0 + 3 * H, T0 + 4 * H, STORE_RES_1H},
    };
    store_plan_part_t *p;
    size_t n;
    /* max 1h: raw [0,2h) 5m [2h,3h) 1h [3h,4h) 5m [4h,6h) raw [6h,10h) */
    assert_int_equal(store_plan(b, 3, T0, T0 + 10 * H - 1, STORE_RES_1H, &p, &n), 0);
    check_disjoint(p, n);
    assert_int_equal(n, 5);
    size_t want_block[] = {0, 1, 2, 1, 0};
    int64_t want_min[] = {T0, T0 + 2 * H, T0 + 3 * H, T0 + 4 * H, T0 + 6 * H};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(p[i].block, want_block[i]);
        assert_int_equal(p[i].mint, want_min[i]);
    }
    assert_int_equal(p[4].maxt, T0 + 10 * H - 1);
    free(p);
    /* max 5m: the 1h block is never used */
    assert_int_equal(store_plan(b, 3, T0, T0 + 10 * H - 1, STORE_RES_5M, &p, &n), 0);
    check_disjoint(p, n);
    assert_int_equal(n, 3);
    assert_int_equal(p[1].block, 1);
    assert_int_equal(p[1].mint, T0 + 2 * H);
    assert_int_equal(p[1].maxt, T0 + 6 * H - 1);
    free(p);
    /* raw: only the raw block */
    assert_int_equal(store_plan(b, 3, T0, T0 + 10 * H - 1, 0, &p, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(p[0].block, 0);
    free(p);
}

static void test_plan_overlaps_and_missing(void **state) {
    (void)state;
    /* two raw blocks overlapping (a 4h compacted one and a 2h one inside
     * it, before the latter's deletion): both answer (the select merges,
     * one sample per timestamp), and a 5m block over [0, 3h) takes that
     * time from them: the raw parts start at 3h */
    store_plan_block_t b[] = {{T0 + 2 * H, T0 + 4 * H, 0}, {T0, T0 + 4 * H, 0}, {T0 + 6 * H, T0 + 8 * H, 0},
                              {T0, T0 + 3 * H, STORE_RES_5M}};
    store_plan_part_t *p;
    size_t n;
    assert_int_equal(store_plan(b, 3, T0, T0 + 8 * H, STORE_RES_1H, &p, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(p[0].block, 1);
    assert_int_equal(p[0].mint, T0);
    assert_int_equal(p[0].maxt, T0 + 4 * H - 1);
    assert_int_equal(p[1].block, 0);
    assert_int_equal(p[1].mint, T0 + 2 * H);
    assert_int_equal(p[1].maxt, T0 + 4 * H - 1);
    assert_int_equal(p[2].block, 2);
    assert_int_equal(p[2].mint, T0 + 6 * H);
    free(p);
    assert_int_equal(store_plan(b, 4, T0, T0 + 8 * H, STORE_RES_1H, &p, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(p[0].block, 3);
    assert_int_equal(p[0].maxt, T0 + 3 * H - 1);
    for (size_t i = 1; i < n; i++) assert_true(p[i].mint >= T0 + 3 * H); /* raw only after the 5m block */
    free(p);
    /* nothing in range */
    assert_int_equal(store_plan(b, 3, T0 + 9 * H, T0 + 10 * H, 0, &p, &n), 0);
    assert_int_equal(n, 0);
    assert_null(p);
    /* coarse data only, raw asked: nothing (Thanos answers raw requests from raw blocks) */
    store_plan_block_t c[] = {{T0, T0 + 4 * H, STORE_RES_5M}};
    assert_int_equal(store_plan(c, 1, T0, T0 + 4 * H, 0, &p, &n), 0);
    assert_int_equal(n, 0);
}

/* ---- leaf info ---- */

static void test_leaf_info(void **state) {
    (void)state;
    const char *js = "{\"status\":\"success\",\"data\":{\"minTime\":5,\"maxTime\":99,\"labelSets\":"
                     "[{\"cluster\":\"a\",\"replica\":\"1\"},{\"cluster\":\"b\"}],\"blocks\":[]}}";
    query_leaf_info_t li;
    pl_err_t e = {{0}};
    assert_int_equal(query_parse_leaf_info(js, strlen(js), &li, &e), 0);
    assert_int_equal(li.nsets, 2);
    assert_int_equal(li.counts[0], 2);
    assert_int_equal(li.counts[1], 1);
    assert_int_equal(li.mint, 5);
    assert_int_equal(li.maxt, 99);
    assert_memory_equal(li.pairs.data, "cluster\0a\0replica\0001\0cluster\0b\0", li.pairs.len);
    query_leaf_info_free(&li);
    assert_int_equal(query_parse_leaf_info("{\"data\":{}}", 11, &li, &e), -1);
    assert_int_equal(query_parse_leaf_info("not json", 8, &li, &e), -1);
}

static void test_query_resolution_param(void **state) {
    (void)state;
    int64_t ms = -1;
    pl_err_t e = {{0}};
    assert_int_equal(query_max_source_resolution(NULL, "3600", false, &ms, &e), 0);
    assert_int_equal(ms, 0); /* no parameter, no auto: raw */
    assert_int_equal(query_max_source_resolution(NULL, "3600", true, &ms, &e), 0);
    assert_int_equal(ms, 720000); /* auto by default: step / 5 */
    assert_int_equal(query_max_source_resolution("auto", "1h", false, &ms, &e), 0);
    assert_int_equal(ms, 720000);
    assert_int_equal(query_max_source_resolution("auto", NULL, false, &ms, &e), 0);
    assert_int_equal(ms, 0); /* instant query */
    assert_int_equal(query_max_source_resolution("5m", "3600", true, &ms, &e), 0);
    assert_int_equal(ms, 300000); /* an explicit value wins over auto */
    assert_int_equal(query_max_source_resolution("0s", "3600", true, &ms, &e), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(query_max_source_resolution("raw", NULL, false, &ms, &e), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(query_max_source_resolution("3600000", NULL, false, &ms, &e), 0);
    assert_int_equal(ms, 3600000);
    assert_int_equal(query_max_source_resolution("soon", NULL, false, &ms, &e), -1);
    assert_non_null(strstr(e.msg, "max_source_resolution"));
}

/* A fan-out leaf with two label sets is asked for either, not for a third. */
typedef struct count_q {
    int selects;
} count_q_t;
static int cq_select(void *impl, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt, storage_series_fn fn,
                     void *ctx, pl_err_t *err) {
    (void)ms, (void)nms, (void)mint, (void)maxt, (void)fn, (void)ctx, (void)err;
    ((count_q_t *)impl)->selects++;
    return 0;
}

static int nop_series(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    (void)ctx, (void)ls, (void)n, (void)s, (void)ns;
    return 0;
}

static void test_fanout_label_sets(void **state) {
    (void)state;
    count_q_t cq = {0};
    query_leaf_t leaf = {.name = "store", .q = {.impl = &cq, .select = cq_select}};
    query_fanout_t *f = query_fanout_new(&leaf, 1, NULL, 0);
    size_t counts[] = {1, 1};
    query_fanout_set_leaf_sets(f, 0, "cluster\0a\0cluster\0b\0", counts, 2, false, 0, 1000, true);
    query_request_t *r = query_request_new(f, true, true);
    queryable_t q;
    query_request_queryable(r, &q);
    pl_err_t e = {{0}};
    const char *vals[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        matcher_t m;
        assert_int_equal(matcher_init(&m, MATCH_EQUAL, "cluster", vals[i], &e), 0);
        assert_int_equal(q.select(q.impl, &m, 1, 0, 1000, nop_series, NULL, &e), 0);
        matcher_free(&m);
    }
    assert_int_equal(cq.selects, 2);
    matcher_t m;
    assert_int_equal(matcher_init(&m, MATCH_EQUAL, "cluster", "a", &e), 0);
    assert_int_equal(q.select(q.impl, &m, 1, 2000, 3000, nop_series, NULL, &e), 0); /* outside its time range */
    assert_int_equal(cq.selects, 2);
    matcher_free(&m);
    query_request_free(r);
    query_fanout_free(f);
}

/* ---- a bucket store ---- */

typedef struct fixture {
    char bkt[64], data[64];
    objstore_t *bucket;
} fixture_t;

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof *f);
    strcpy(f->bkt, "/tmp/pl-store-bkt-XXXXXX");
    strcpy(f->data, "/tmp/pl-store-data-XXXXXX");
    if (!mkdtemp(f->bkt) || !mkdtemp(f->data)) return -1;
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
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", f->bkt, f->data);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* Value of series k at time t: a counter for name "c_total", else a gauge. */
static double value_at(int k, int64_t t, bool counter) {
    int64_t i = t / 15000;
    if (counter) return (double)((i * (k + 1)) % 5000); /* resets every few hours */
    return (double)((i * 7 + k * 13) % 100);
}

/* A block in the bucket dir (a FILESYSTEM bucket is a directory) over
 * [mint, maxt) with nseries series of name at step, thanos labels cluster=c. */
static void make_block(const char *parent, const char *cluster, const char *name, int nseries, int64_t mint,
                       int64_t maxt, int64_t step, char ulid[ULID_LEN + 1]) {
    block_builder_t *bb = block_builder_new(2 * H);
    size_t ns = (size_t)((maxt - mint) / step);
    sample_t *s = malloc(ns * sizeof *s);
    pl_err_t e = {{0}};
    bool counter = strstr(name, "_total") != NULL;
    for (int k = 0; k < nseries; k++) {
        for (size_t i = 0; i < ns; i++) {
            int64_t t = mint + (int64_t)i * step;
            s[i] = (sample_t){t, value_at(k, t, counter)};
        }
        char v[16];
        snprintf(v, sizeof v, "%d", k);
        label_t ls[] = {{"__name__", name}, {"k", v}};
        assert_int_equal(block_builder_add_series(bb, ls, 2, s, ns, &e), 0);
    }
    free(s);
    block_meta_t base = {0};
    json_t *th = json_pack("{s:i, s:{s:s}, s:{s:i}, s:s}", "version", 1, "labels", "cluster", cluster, "downsample",
                           "resolution", 0, "source", "test");
    base.thanos = th;
    block_write_opts_t o = {.min_time = mint, .max_time = maxt, .meta_base = &base};
    if (block_builder_write(bb, parent, &o, ulid, &e) != 0) fail_msg("write block: %s", e.msg);
    json_decref(th);
    block_builder_free(bb);
}

static store_t *new_store(fixture_t *f) {
    store_opts_t o = {.bucket = f->bucket, .data_dir = f->data, .ignore_deletion_marks_delay_ms = 24 * H,
                      .min_time = INT64_MIN, .max_time = INT64_MAX};
    pl_err_t e = {{0}};
    store_t *s = store_new(&o, &e);
    assert_non_null(s);
    return s;
}

typedef struct got {
    int nseries;
    size_t nsamples;
    char first_labels[256];
    sample_t *s; /* samples of the first series */
    size_t ns;
    bool sorted;
    char prev[256];
} got_t;

static int collect(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    got_t *g = ctx;
    char buf[256] = "";
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(buf);
        snprintf(buf + l, sizeof buf - l, "%s%s=%s", i ? "," : "", ls[i].name, ls[i].value);
    }
    if (g->nseries == 0) {
        snprintf(g->first_labels, sizeof g->first_labels, "%s", buf);
        g->s = malloc((ns + 1) * sizeof *g->s);
        memcpy(g->s, s, ns * sizeof *s);
        g->ns = ns;
        g->sorted = true;
    } else if (strcmp(g->prev, buf) >= 0) {
        g->sorted = false;
    }
    snprintf(g->prev, sizeof g->prev, "%s", buf);
    for (size_t i = 1; i < ns; i++)
        if (s[i].t <= s[i - 1].t) g->sorted = false;
    g->nseries++;
    g->nsamples += ns;
    return 0;
}

static got_t select_all(store_t *s, const char *name, const char *cluster, int64_t mint, int64_t maxt, int64_t res,
                        const char *func) {
    matcher_t m[2];
    pl_err_t e = {{0}};
    size_t nm = 0;
    assert_int_equal(matcher_init(&m[nm++], MATCH_EQUAL, "__name__", name, &e), 0);
    if (cluster) assert_int_equal(matcher_init(&m[nm++], MATCH_EQUAL, "cluster", cluster, &e), 0);
    got_t g = {0};
    store_select_opts_t o = {.max_resolution = res, .func = func};
    if (store_select(s, m, nm, mint, maxt, &o, collect, &g, &e) != 0) fail_msg("select: %s", e.msg);
    for (size_t i = 0; i < nm; i++) matcher_free(&m[i]);
    return g;
}

static void write_file(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_sync_skips_and_merges(void **state) {
    fixture_t *f = *state;
    char a[ULID_LEN + 1], b[ULID_LEN + 1], partial[ULID_LEN + 1], old_mark[ULID_LEN + 1], new_mark[ULID_LEN + 1],
        broken[ULID_LEN + 1];
    make_block(f->bkt, "a", "up", 3, T0, T0 + 2 * H, 15000, a);
    make_block(f->bkt, "a", "up", 3, T0 + 2 * H, T0 + 4 * H, 15000, b);
    make_block(f->bkt, "a", "up", 3, T0 + 4 * H, T0 + 6 * H, 15000, partial);
    make_block(f->bkt, "a", "up", 3, T0 + 6 * H, T0 + 8 * H, 15000, old_mark);
    make_block(f->bkt, "b", "up", 3, T0 + 6 * H, T0 + 8 * H, 15000, new_mark);
    make_block(f->bkt, "a", "up", 3, T0 + 8 * H, T0 + 10 * H, 15000, broken);
    char p[256], text[256];
    snprintf(p, sizeof p, "%s/%s/meta.json", f->bkt, partial);
    assert_int_equal(unlink(p), 0);
    snprintf(p, sizeof p, "%s/%s/deletion-mark.json", f->bkt, old_mark);
    snprintf(text, sizeof text, "{\"id\":\"%s\",\"version\":1,\"deletion_time\":%lld}", old_mark,
             (long long)(pl_now_ms() / 1000 - 48 * 3600));
    write_file(p, text);
    snprintf(p, sizeof p, "%s/%s/deletion-mark.json", f->bkt, new_mark);
    snprintf(text, sizeof text, "{\"id\":\"%s\",\"version\":1,\"deletion_time\":%lld}", new_mark,
             (long long)(pl_now_ms() / 1000 - 3600));
    write_file(p, text);
    snprintf(p, sizeof p, "%s/%s/meta.json", f->bkt, broken);
    write_file(p, "{ not json");

    store_t *s = new_store(f);
    pl_err_t e = {{0}};
    assert_int_equal(store_sync(s, &e), 0);
    assert_int_equal(store_blocks_loaded(s), 3); /* a, b, new_mark */
    strbuf_t m = STRBUF_INIT;
    store_write_metrics(s, &m);
    assert_non_null(strstr(m.data, "thanos_blocks_meta_synced{state=\"partial\"} 1\n"));
    assert_non_null(strstr(m.data, "thanos_blocks_meta_synced{state=\"marked-for-deletion\"} 1\n"));
    assert_non_null(strstr(m.data, "thanos_blocks_meta_synced{state=\"failed\"} 1\n"));
    assert_non_null(strstr(m.data, "thanos_bucket_store_block_load_failures_total 1\n"));
    strbuf_free(&m);
    /* the index of each loaded block is local; chunks are not */
    snprintf(p, sizeof p, "%s/%s/index", f->data, a);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    snprintf(p, sizeof p, "%s/%s/chunks", f->data, a);
    assert_int_not_equal(stat(p, &st), 0);
    assert_true(store_bytes_fetched(s, "index") > 0);
    assert_int_equal(store_bytes_fetched(s, "chunks"), 0);

    /* cluster a: blocks a and b merged, 3 series of 2 * 480 samples, external label added */
    got_t g = select_all(s, "up", "a", T0, T0 + 10 * H, 0, NULL);
    assert_int_equal(g.nseries, 3);
    assert_int_equal(g.nsamples, 3 * 960);
    assert_true(g.sorted);
    assert_string_equal(g.first_labels, "__name__=up,cluster=a,k=0");
    for (size_t i = 0; i < g.ns; i++) {
        assert_int_equal(g.s[i].t, T0 + (int64_t)i * 15000);
        assert_true(g.s[i].v == value_at(0, g.s[i].t, false));
    }
    free(g.s);
    uint64_t chunk_bytes = store_bytes_fetched(s, "chunks");
    assert_true(chunk_bytes > 0);
    /* both clusters: 6 series (cluster b from the recently marked block) */
    g = select_all(s, "up", NULL, T0, T0 + 10 * H, 0, NULL);
    assert_int_equal(g.nseries, 6);
    assert_true(g.sorted);
    free(g.s);
    /* a narrow range reads fewer chunk bytes than the whole */
    uint64_t before = store_bytes_fetched(s, "chunks");
    g = select_all(s, "up", "a", T0 + 30 * M, T0 + 40 * M, 0, NULL);
    assert_int_equal(g.nseries, 3);
    assert_int_equal(g.nsamples, 3 * 41);
    free(g.s);
    assert_true(store_bytes_fetched(s, "chunks") - before < chunk_bytes / 2);
    /* a cluster nobody has */
    g = select_all(s, "up", "zzz", T0, T0 + 10 * H, 0, NULL);
    assert_int_equal(g.nseries, 0);

    /* labels */
    strbuf_t out = STRBUF_INIT;
    store_write_info(s, &out);
    json_error_t je;
    json_t *info = json_loads(out.data, 0, &je);
    assert_non_null(info);
    assert_int_equal(json_array_size(json_object_get(info, "blocks")), 3);
    assert_int_equal(json_array_size(json_object_get(info, "labelSets")), 2);
    assert_int_equal(json_integer_value(json_object_get(info, "minTime")), T0);
    json_decref(info);
    strbuf_free(&out);

    /* block b leaves the bucket, a is marked for deletion long ago: both dropped, local files removed */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/%s'", f->bkt, b);
    assert_int_equal(system(cmd), 0);
    snprintf(p, sizeof p, "%s/%s/deletion-mark.json", f->bkt, a);
    snprintf(text, sizeof text, "{\"id\":\"%s\",\"version\":1,\"deletion_time\":%lld}", a,
             (long long)(pl_now_ms() / 1000 - 25 * 3600));
    write_file(p, text);
    assert_int_equal(store_sync(s, &e), 0);
    assert_int_equal(store_blocks_loaded(s), 1);
    snprintf(p, sizeof p, "%s/%s", f->data, b);
    assert_int_not_equal(stat(p, &st), 0);
    snprintf(p, sizeof p, "%s/%s", f->data, a);
    assert_int_not_equal(stat(p, &st), 0);
    g = select_all(s, "up", "a", T0, T0 + 10 * H, 0, NULL);
    assert_int_equal(g.nseries, 0);
    store_free(s);
}

/* Many blocks and many series: 40 blocks of 10 minutes with 300 series each
 * (batches shrink to 4096 / 40 = 102 series, so every part refills twice):
 * every series comes out once, in label order, with all 40 * 40 samples. */
typedef struct check_all {
    int nseries;
    bool ok;
    char prev[64];
} check_all_t;

static int check_series(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    check_all_t *c = ctx;
    const char *k = labels_get(ls, n, "k");
    char key[64];
    snprintf(key, sizeof key, "%s", k ? k : "");
    if (c->nseries > 0 && strcmp(c->prev, key) >= 0) c->ok = false;
    snprintf(c->prev, sizeof c->prev, "%s", key);
    if (ns != 40 * 40) c->ok = false;
    for (size_t i = 0; i < ns; i++)
        if (s[i].t != T0 + (int64_t)i * 15000 || s[i].v != value_at(atoi(key), s[i].t, false)) c->ok = false;
    c->nseries++;
    return 0;
}

static void test_many_blocks_and_series(void **state) {
    fixture_t *f = *state;
    char u[ULID_LEN + 1];
    for (int b = 0; b < 40; b++) make_block(f->bkt, "a", "up", 300, T0 + b * 10 * M, T0 + (b + 1) * 10 * M, 15000, u);
    store_t *s = new_store(f);
    pl_err_t e = {{0}};
    assert_int_equal(store_sync(s, &e), 0);
    assert_int_equal(store_blocks_loaded(s), 40);
    matcher_t m;
    assert_int_equal(matcher_init(&m, MATCH_EQUAL, "__name__", "up", &e), 0);
    check_all_t c = {.ok = true};
    assert_int_equal(store_select(s, &m, 1, T0, T0 + 400 * M, NULL, check_series, &c, &e), 0);
    assert_int_equal(c.nseries, 300);
    assert_true(c.ok);
    matcher_free(&m);
    store_free(s);
}

/* --min-time / --max-time: blocks wholly outside are not loaded. */
static void test_time_shard(void **state) {
    fixture_t *f = *state;
    char a[ULID_LEN + 1], b[ULID_LEN + 1];
    make_block(f->bkt, "a", "up", 1, T0, T0 + 2 * H, 15000, a);
    make_block(f->bkt, "a", "up", 1, T0 + 2 * H, T0 + 4 * H, 15000, b);
    store_opts_t o = {.bucket = f->bucket, .data_dir = f->data, .ignore_deletion_marks_delay_ms = 24 * H,
                      .min_time = T0 + 3 * H, .max_time = INT64_MAX};
    pl_err_t e = {{0}};
    store_t *s = store_new(&o, &e);
    assert_non_null(s);
    assert_int_equal(store_sync(s, &e), 0);
    assert_int_equal(store_blocks_loaded(s), 1);
    strbuf_t m = STRBUF_INIT;
    store_write_metrics(s, &m);
    assert_non_null(strstr(m.data, "thanos_blocks_meta_synced{state=\"time-excluded\"} 1\n"));
    strbuf_free(&m);
    got_t g = select_all(s, "up", NULL, T0, T0 + 4 * H, 0, NULL);
    assert_int_equal(g.nseries, 1);
    assert_int_equal(g.s[0].t, T0 + 2 * H); /* block b's first sample: block a is not served */
    free(g.s);
    store_free(s);
}

/* A chunk segment whose bytes were damaged: the select fails with the
 * block named, nothing crashes. */
static void test_corrupt_chunk(void **state) {
    fixture_t *f = *state;
    char a[ULID_LEN + 1];
    make_block(f->bkt, "a", "up", 2, T0, T0 + 2 * H, 15000, a);
    char p[256];
    snprintf(p, sizeof p, "%s/%s/chunks/000001", f->bkt, a);
    FILE *fp = fopen(p, "r+b");
    assert_non_null(fp);
    fseek(fp, 40, SEEK_SET);
    fputc(0x5a, fp);
    fputc(0xa5, fp);
    fclose(fp);
    store_t *s = new_store(f);
    pl_err_t e = {{0}};
    assert_int_equal(store_sync(s, &e), 0);
    matcher_t m;
    assert_int_equal(matcher_init(&m, MATCH_EQUAL, "__name__", "up", &e), 0);
    got_t g = {0};
    assert_int_equal(store_select(s, &m, 1, T0, T0 + 2 * H, NULL, collect, &g, &e), -1);
    assert_non_null(strstr(e.msg, a));
    free(g.s);
    matcher_free(&m);
    store_free(s);
}

/* A segment cut short after upload: the chunks past the cut are reported
 * (the series' block named), the store keeps serving other blocks. */
static void test_truncated_segment(void **state) {
    fixture_t *f = *state;
    char a[ULID_LEN + 1], b[ULID_LEN + 1];
    make_block(f->bkt, "a", "up", 2, T0, T0 + 2 * H, 15000, a);
    make_block(f->bkt, "b", "up", 2, T0, T0 + 2 * H, 15000, b);
    char p[256];
    snprintf(p, sizeof p, "%s/%s/chunks/000001", f->bkt, a);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(truncate(p, st.st_size / 2), 0);
    store_t *s = new_store(f);
    pl_err_t e = {{0}};
    assert_int_equal(store_sync(s, &e), 0);
    matcher_t m[2];
    assert_int_equal(matcher_init(&m[0], MATCH_EQUAL, "__name__", "up", &e), 0);
    assert_int_equal(matcher_init(&m[1], MATCH_EQUAL, "cluster", "a", &e), 0);
    got_t g = {0};
    assert_int_equal(store_select(s, m, 2, T0, T0 + 2 * H, NULL, collect, &g, &e), -1);
    assert_non_null(strstr(e.msg, a));
    free(g.s);
    g = select_all(s, "up", "b", T0, T0 + 2 * H, 0, NULL);
    assert_int_equal(g.nseries, 2);
    assert_int_equal(g.nsamples, 2 * 480);
    free(g.s);
    matcher_free(&m[0]);
    matcher_free(&m[1]);
    store_free(s);
}

/* ---- downsampled blocks ---- */

/* Raw data over 48h at 1m (a gauge and a counter), its 5m block, and a raw
 * block of 4 more hours that only raw data covers. */
static void test_downsampled(void **state) {
    fixture_t *f = *state;
    char raw[ULID_LEN + 1], rawc[ULID_LEN + 1], tail[ULID_LEN + 1], ds[ULID_LEN + 1], dsc[ULID_LEN + 1];
    make_block(f->bkt, "a", "g", 2, T0, T0 + 48 * H, M, raw);
    make_block(f->bkt, "a", "c_total", 1, T0, T0 + 48 * H, M, rawc);
    make_block(f->bkt, "a", "g", 2, T0 + 48 * H, T0 + 52 * H, M, tail);
    char src[256];
    pl_err_t e = {{0}};
    snprintf(src, sizeof src, "%s/%s", f->bkt, raw);
    if (downsample_block(src, STORE_RES_5M, f->bkt, ds, &e) != 0) fail_msg("downsample: %s", e.msg);
    snprintf(src, sizeof src, "%s/%s", f->bkt, rawc);
    if (downsample_block(src, STORE_RES_5M, f->bkt, dsc, &e) != 0) fail_msg("downsample: %s", e.msg);
    store_t *s = new_store(f);
    assert_int_equal(store_sync(s, &e), 0);
    assert_int_equal(store_blocks_loaded(s), 5);

    /* raw asked: raw samples, one per minute over 52h */
    got_t g = select_all(s, "g", NULL, T0, T0 + 52 * H - 1, 0, NULL);
    assert_int_equal(g.nseries, 2);
    assert_int_equal(g.ns, 52 * 60);
    free(g.s);

    /* 5m allowed, max_over_time: one max per 5m window for 48h, then the raw tail */
    g = select_all(s, "g", NULL, T0, T0 + 52 * H - 1, STORE_RES_5M, "max_over_time");
    assert_int_equal(g.nseries, 2);
    assert_int_equal(g.ns, 48 * 12 + 4 * 60);
    assert_true(g.sorted);
    for (size_t w = 0; w < 48 * 12; w++) {
        double mx = -1;
        for (int i = 0; i < 5; i++) mx = fmax(mx, value_at(0, T0 + (int64_t)(w * 5 + i) * M, false));
        assert_true(g.s[w].v == mx);
        assert_true(g.s[w].t >= T0 + (int64_t)w * 5 * M && g.s[w].t < T0 + (int64_t)(w + 1) * 5 * M);
    }
    assert_int_equal(g.s[48 * 12].t, T0 + 48 * H); /* the raw tail follows */
    free(g.s);

    /* sum_over_time: the sums of the windows add up to the raw total */
    g = select_all(s, "g", NULL, T0, T0 + 48 * H - 1, STORE_RES_5M, "sum_over_time");
    double sum_ds = 0, sum_raw = 0;
    for (size_t i = 0; i < g.ns; i++) sum_ds += g.s[i].v;
    for (int64_t t = T0; t < T0 + 48 * H; t += M) sum_raw += value_at(0, t, false);
    assert_true(fabs(sum_ds - sum_raw) < 1e-6);
    free(g.s);

    /* count_over_time: 5 raw samples per window */
    g = select_all(s, "g", NULL, T0, T0 + 48 * H - 1, STORE_RES_5M, "count_over_time");
    for (size_t i = 0; i < g.ns; i++) assert_true(g.s[i].v == 5);
    free(g.s);

    /* no hint: the window average */
    g = select_all(s, "g", NULL, T0, T0 + 5 * M - 1, STORE_RES_5M, NULL);
    double avg = 0;
    for (int i = 0; i < 5; i++) avg += value_at(0, T0 + i * M, false) / 5;
    assert_int_equal(g.ns, 1);
    assert_true(fabs(g.s[0].v - avg) < 1e-9);
    free(g.s);

    /* rate: the counter aggregate, reset-adjusted: its increase over 48h
     * equals the raw counter's increase with its resets */
    g = select_all(s, "c_total", NULL, T0, T0 + 48 * H - 1, STORE_RES_5M, "rate");
    assert_int_equal(g.nseries, 1);
    assert_true(g.sorted);
    double raw_inc = 0, prev = value_at(0, T0, true);
    for (int64_t t = T0 + M; t < T0 + 48 * H; t += M) {
        double v = value_at(0, t, true);
        raw_inc += v < prev ? v : v - prev;
        prev = v;
    }
    for (size_t i = 1; i < g.ns; i++) assert_true(g.s[i].v >= g.s[i - 1].v); /* monotonic */
    assert_true(fabs((g.s[g.ns - 1].v - g.s[0].v) - raw_inc) < 1e-6);
    free(g.s);
    strbuf_t m = STRBUF_INIT;
    store_write_metrics(s, &m);
    assert_non_null(strstr(m.data, "thanos_bucket_store_parts_total{resolution=\"300000\"} "));
    assert_null(strstr(m.data, "thanos_bucket_store_parts_total{resolution=\"300000\"} 0\n"));
    strbuf_free(&m);
    store_free(s);
}

/* Deduplicating replicas of a counter whose name does not say so: the
 * query's function (rate) in the hint makes the fan-out adjust, as Thanos. */
static int keep_samples(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    (void)ls, (void)n;
    got_t *g = ctx;
    g->s = malloc((ns + 1) * sizeof *g->s);
    memcpy(g->s, s, ns * sizeof *s);
    g->ns = ns;
    g->nseries++;
    return 0;
}

static void test_dedup_counter_by_func(void **state) {
    (void)state;
    pl_err_t e = {{0}};
    memstore_t *ms[2] = {memstore_new(), memstore_new()};
    sample_t a[3] = {{0, 100}, {1000, 110}, {2000, 120}};
    sample_t b[8] = {{300, 5}, {1300, 15}, {2300, 25}, {3300, 35}, {4300, 45}, {5300, 55}, {6300, 65}, {7300, 75}};
    label_t la[] = {{"__name__", "requests"}, {"replica", "A"}}, lb[] = {{"__name__", "requests"}, {"replica", "B"}};
    assert_int_equal(memstore_append(ms[0], la, 2, a, 3, &e), 0);
    assert_int_equal(memstore_append(ms[1], lb, 2, b, 8, &e), 0);
    query_leaf_t leaves[2] = {{.name = "a"}, {.name = "b"}};
    memstore_queryable(ms[0], &leaves[0].q);
    memstore_queryable(ms[1], &leaves[1].q);
    const char *rl[] = {"replica"};
    query_fanout_t *f = query_fanout_new(leaves, 2, rl, 1);
    query_request_t *r = query_request_new(f, true, true);
    queryable_t q;
    query_request_queryable(r, &q);
    matcher_t m;
    assert_int_equal(matcher_init(&m, MATCH_EQUAL, "__name__", "requests", &e), 0);
    got_t g = {0};
    assert_int_equal(q.select(q.impl, &m, 1, 0, 10000, keep_samples, &g, &e), 0);
    bool dropped = false;
    for (size_t i = 1; i < g.ns; i++) dropped |= g.s[i].v < g.s[i - 1].v;
    assert_true(dropped); /* no hint, no counter name: values as stored */
    free(g.s);
    storage_select_hints_t h = {.func = "rate", .range_ms = 60000};
    g = (got_t){0};
    assert_int_equal(q.select_hinted(q.impl, &m, 1, 0, 10000, &h, keep_samples, &g, &e), 0);
    assert_int_equal(g.nseries, 1);
    for (size_t i = 1; i < g.ns; i++) assert_true(g.s[i].v >= g.s[i - 1].v); /* no false reset */
    free(g.s);
    assert_true(dedup_is_counter_func("increase"));
    assert_false(dedup_is_counter_func("max_over_time"));
    assert_false(dedup_is_counter_func(NULL));
    matcher_free(&m);
    query_request_free(r);
    query_fanout_free(f);
    memstore_free(ms[0]);
    memstore_free(ms[1]);
}

/* ---- the sidecar's read endpoint ---- */

typedef struct decoded {
    size_t qi[8];
    char labels[8][128];
    size_t n;
} decoded_t;

static int on_decoded(void *ctx, size_t qi, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    (void)s, (void)ns;
    decoded_t *d = ctx;
    if (d->n == 8) return 0;
    d->qi[d->n] = qi;
    char *b = d->labels[d->n];
    b[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(b);
        snprintf(b + l, 128 - l, "%s%s=%s", i ? "," : "", ls[i].name, ls[i].value);
    }
    d->n++;
    return 0;
}

static void test_sidecar_read(void **state) {
    (void)state;
    memstore_t *ms = memstore_new();
    pl_err_t e = {{0}};
    sample_t s[] = {{1000, 1}, {2000, 2}};
    label_t l1[] = {{"__name__", "up"}, {"job", "x"}};
    assert_int_equal(memstore_append(ms, l1, 2, s, 2, &e), 0);
    queryable_t q;
    memstore_queryable(ms, &q);
    label_t ext[] = {{"cluster", "eu"}, {"replica", "a"}};
    /* query 0: up{cluster="eu"}; query 1: up{cluster="us"} (contradicts) */
    matcher_t m0[2], m1[2];
    assert_int_equal(matcher_init(&m0[0], MATCH_EQUAL, "__name__", "up", &e), 0);
    assert_int_equal(matcher_init(&m0[1], MATCH_EQUAL, "cluster", "eu", &e), 0);
    assert_int_equal(matcher_init(&m1[0], MATCH_EQUAL, "__name__", "up", &e), 0);
    assert_int_equal(matcher_init(&m1[1], MATCH_EQUAL, "cluster", "us", &e), 0);
    rr_query_t qs[] = {{.start_ms = 0, .end_ms = 5000, .matchers = m0, .nmatchers = 2},
                       {.start_ms = 0, .end_ms = 5000, .matchers = m1, .nmatchers = 2}};
    for (int type = 0; type < 2; type++) {
        int acc[] = {type};
        rr_request_t rq = {.queries = qs, .nqueries = 2, .accepted = acc, .naccepted = 1};
        strbuf_t body = STRBUF_INIT;
        assert_int_equal(rr_request_encode(&rq, &body, &e), 0);
        sidecar_read_reply_t rep = {0};
        sidecar_serve_read(&q, ext, 2, body.data, body.len, &rep);
        assert_int_equal(rep.status, 200);
        decoded_t d = {0};
        if (type == RR_SAMPLES) {
            assert_true(rep.snappy);
            assert_int_equal(rr_samples_decode(rep.body.data, rep.body.len, on_decoded, &d, &e), 0);
        } else {
            assert_int_equal(rr_stream_decode(rep.body.data, rep.body.len, on_decoded, &d, &e), 0);
        }
        assert_int_equal(d.n, 1);
        assert_int_equal(d.qi[0], 0);
        assert_string_equal(d.labels[0], "__name__=up,cluster=eu,job=x,replica=a");
        strbuf_free(&rep.body);
        strbuf_free(&body);
    }
    /* garbage: 400, nothing else */
    sidecar_read_reply_t rep = {0};
    sidecar_serve_read(&q, ext, 2, "garbage", 7, &rep);
    assert_int_equal(rep.status, 400);
    assert_non_null(strstr(rep.body.data, "snappy"));
    strbuf_free(&rep.body);
    for (int i = 0; i < 2; i++) {
        matcher_free(&m0[i]);
        matcher_free(&m1[i]);
    }
    memstore_free(ms);
}

PL_TEST_MAIN(cmocka_unit_test(test_aggr_for_func), cmocka_unit_test(test_parse_resolution),
             cmocka_unit_test(test_plan_raw_only), cmocka_unit_test(test_plan_prefers_coarse_and_fills_gaps),
             cmocka_unit_test(test_plan_overlaps_and_missing), cmocka_unit_test(test_leaf_info),
             cmocka_unit_test(test_fanout_label_sets), cmocka_unit_test(test_query_resolution_param),
             cmocka_unit_test(test_dedup_counter_by_func),
             cmocka_unit_test_setup_teardown(test_time_shard, setup, teardown),
             cmocka_unit_test_setup_teardown(test_many_blocks_and_series, setup, teardown),
             cmocka_unit_test_setup_teardown(test_sync_skips_and_merges, setup, teardown),
             cmocka_unit_test_setup_teardown(test_corrupt_chunk, setup, teardown),
             cmocka_unit_test_setup_teardown(test_truncated_segment, setup, teardown),
             cmocka_unit_test_setup_teardown(test_downsampled, setup, teardown), cmocka_unit_test(test_sidecar_read))
