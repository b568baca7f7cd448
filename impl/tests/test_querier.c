/* test_querier.c — the querier's merge of several sources (querier.h):
 * series of equal label sets from several sources come out once, their
 * samples in time order, de-duplicated by timestamp with the earlier source
 * winning. Sources here are in-memory queryables with random series: some
 * in one source only, some in several with disjoint, touching or
 * overlapping time ranges and equal timestamps carrying other values. The
 * answer is checked against a model: the sources' samples concatenated in
 * source order, sorted stably by time, the first of each timestamp kept. */
#include "testutil.h"

#include "model/labels.h"
#include "model/matcher.h"
#include "promql/memstore.h"
#include "tsdb/querier.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

enum { NSRC = 5, NSERIES = 60, MAXS = 400 };

typedef struct model_series {
    sample_t s[NSRC * MAXS];
    size_t n;
} model_series_t;

static model_series_t model[NSERIES];
static sample_t got_s[NSERIES][NSRC * MAXS];
static size_t got_n[NSERIES];
static int got_count;


/* Stable sort by time (insertion sort keeps equal timestamps in order), then
 * the first of each timestamp. */
static void model_finish(model_series_t *m) {
    for (size_t i = 1; i < m->n; i++) {
        sample_t x = m->s[i];
        size_t j = i;
        while (j > 0 && m->s[j - 1].t > x.t) {
            m->s[j] = m->s[j - 1];
            j--;
        }
        m->s[j] = x;
    }
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++)
        if (k == 0 || m->s[k - 1].t != m->s[i].t) m->s[k++] = m->s[i];
    m->n = k;
}

static int collect(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    (void)ctx;
    const char *id = labels_get(ls, n, "id");
    assert_non_null(id);
    int i = atoi(id);
    assert_true(i >= 0 && i < NSERIES);
    assert_true(ns <= NSRC * MAXS);
    memcpy(got_s[i], s, ns * sizeof *s);
    got_n[i] = ns;
    got_count++;
    return 0;
}

static void test_merge_matches_model(void **state) {
    (void)state;
    pl_err_t err;
    for (int round = 0; round < 40; round++) {
        memstore_t *src[NSRC];
        queryable_t qs[NSRC];
        size_t nsrc = 2 + (size_t)round % (NSRC - 1);
        for (size_t k = 0; k < nsrc; k++) {
            src[k] = memstore_new();
            memstore_queryable(src[k], &qs[k]);
        }
        memset(model, 0, sizeof model);
        for (int i = 0; i < NSERIES; i++) {
            char id[16];
            snprintf(id, sizeof id, "%d", i);
            label_t ls[] = {{"__name__", "m"}, {"id", id}};
            int shape = (int)(rnd() % 4);
            int64_t base = (int64_t)(rnd() % 100000);
            for (size_t k = 0; k < nsrc; k++) {
                if (rnd() % 4 == 0) continue; /* not in this source */
                sample_t s[MAXS];
                size_t n = 1 + rnd() % MAXS;
                int64_t t;
                switch (shape) {
                case 0: t = base + (int64_t)k * 1000000; break;        /* disjoint, in source order */
                case 1: t = base + (int64_t)(nsrc - k) * 1000000; break; /* disjoint, reverse order */
                case 2: t = base + (int64_t)(rnd() % 3000); break;     /* overlapping */
                default: t = base; break;                              /* same timestamps */
                }
                for (size_t j = 0; j < n; j++) {
                    s[j] = (sample_t){t, (double)(k * 100000 + j)};
                    t += shape == 3 ? 15 : 1 + (int64_t)(rnd() % 30);
                }
                if (shape == 0 && k > 0 && rnd() % 2 && model[i].n) {
                    /* touching: the first sample at the previous source's last timestamp */
                    int64_t last = 0;
                    for (size_t x = 0; x < model[i].n; x++)
                        if (model[i].s[x].t > last) last = model[i].s[x].t;
                    int64_t shift = s[0].t - last;
                    for (size_t j = 0; j < n; j++) s[j].t -= shift;
                }
                assert_int_equal(memstore_append(src[k], ls, 2, s, n, &err), 0);
                memcpy(model[i].s + model[i].n, s, n * sizeof *s);
                model[i].n += n;
            }
            model_finish(&model[i]);
        }
        querier_t *q = querier_new(NULL, 0, qs, nsrc);
        queryable_t qq;
        querier_queryable(q, &qq);
        matcher_t m;
        assert_int_equal(matcher_init(&m, MATCH_EQUAL, "__name__", "m", &err), 0);
        static const int64_t windows[][2] = {{INT64_MIN, INT64_MAX}, {50000, 1500000}, {2000000, 2100000}};
        for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++) {
            int64_t mint = windows[w][0], maxt = windows[w][1];
            memset(got_n, 0, sizeof got_n);
            got_count = 0;
            assert_int_equal(qq.select(qq.impl, &m, 1, mint, maxt, collect, NULL, &err), 0);
            int want_count = 0;
            for (int i = 0; i < NSERIES; i++) {
                size_t lo = 0, hi = model[i].n;
                while (lo < hi && model[i].s[lo].t < mint) lo++;
                while (hi > lo && model[i].s[hi - 1].t > maxt) hi--;
                if (hi > lo) want_count++;
                assert_int_equal(got_n[i], hi - lo);
                for (size_t j = 0; j < got_n[i]; j++) {
                    assert_int_equal(got_s[i][j].t, model[i].s[lo + j].t);
                    assert_true(got_s[i][j].v == model[i].s[lo + j].v);
                }
            }
            assert_int_equal(got_count, want_count);
        }
        matcher_free(&m);
        querier_free(q);
        for (size_t k = 0; k < nsrc; k++) memstore_free(src[k]);
    }
}

PL_TEST_MAIN(cmocka_unit_test(test_merge_matches_model))
