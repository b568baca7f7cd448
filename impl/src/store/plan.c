/* plan.c — which aggregate and which blocks answer a select (store.h).
 *
 * Both are pure functions of their arguments so the unit tests can pin
 * them down (impl/tests/test_store.c). */
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/timeutil.h"

static bool has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

store_aggr_t store_aggr_for_func(const char *func) {
    if (!func || !*func) return STORE_AGGR_AVG;
    if (!strcmp(func, "min") || has_prefix(func, "min_")) return STORE_AGGR_MIN;
    if (!strcmp(func, "max") || has_prefix(func, "max_")) return STORE_AGGR_MAX;
    if (!strcmp(func, "count") || has_prefix(func, "count_")) return STORE_AGGR_COUNT;
    /* sum itself (the aggregation operator) wants the samples: AVG below. */
    if (has_prefix(func, "sum_")) return STORE_AGGR_SUM;
    if (!strcmp(func, "rate") || !strcmp(func, "increase") || !strcmp(func, "irate") || !strcmp(func, "resets"))
        return STORE_AGGR_COUNTER;
    return STORE_AGGR_AVG;
}

const char *store_aggr_name(store_aggr_t a) {
    switch (a) {
    case STORE_AGGR_COUNT: return "count";
    case STORE_AGGR_SUM: return "sum";
    case STORE_AGGR_MIN: return "min";
    case STORE_AGGR_MAX: return "max";
    case STORE_AGGR_COUNTER: return "counter";
    case STORE_AGGR_AVG: return "avg";
    }
    return "?";
}

int store_parse_resolution(const char *s, int64_t *ms, pl_err_t *err) {
    if (!s || !*s || !strcmp(s, "raw")) {
        *ms = 0;
        return 0;
    }
    bool digits = true;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9') digits = false;
    if (digits) {
        if (strlen(s) > 15) return pl_err_set(err, "max_source_resolution \"%s\": too large", s);
        *ms = strtoll(s, NULL, 10);
        return 0;
    }
    if (pl_parse_duration(s, ms, err) < 0)
        return pl_err_set(err, "max_source_resolution \"%s\": not raw, auto, a duration (5m, 1h) or milliseconds", s);
    return 0;
}

/* ---- the plan ---- */

typedef struct planner {
    const store_plan_block_t *blocks;
    size_t n;
    size_t *order; /* block indexes sorted by (resolution desc, min_time) */
    int64_t *res;  /* distinct resolutions <= max, descending */
    size_t nres;
    store_plan_part_t *out;
    size_t nout, cap;
    bool oom;
} planner_t;

static int cmp_order(const void *a, const void *b, void *ctx) {
    const store_plan_block_t *blocks = ctx;
    const store_plan_block_t *x = &blocks[*(const size_t *)a], *y = &blocks[*(const size_t *)b];
    if (x->resolution != y->resolution) return x->resolution > y->resolution ? -1 : 1;
    if (x->min_time != y->min_time) return x->min_time < y->min_time ? -1 : 1;
    if (x->max_time != y->max_time) return x->max_time > y->max_time ? -1 : 1; /* the wider first */
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

static void emit(planner_t *p, size_t block, int64_t mint, int64_t maxt) {
    if (p->nout == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 16;
        store_plan_part_t *nv = realloc(p->out, nc * sizeof *nv);
        if (!nv) {
            p->oom = true;
            return;
        }
        p->out = nv;
        p->cap = nc;
    }
    p->out[p->nout++] = (store_plan_part_t){block, mint, maxt};
}

/* Fills [mint, maxt] from resolution level li on, finer levels filling gaps. */
static void fill(planner_t *p, int64_t mint, int64_t maxt, size_t li) {
    if (mint > maxt || li >= p->nres || p->oom) return;
    int64_t cur = mint; /* the first time no block of this resolution covers */
    for (size_t k = 0; k < p->n; k++) {
        const store_plan_block_t *b = &p->blocks[p->order[k]];
        if (b->resolution != p->res[li]) continue;
        int64_t bmax = b->max_time - 1; /* inclusive */
        if (bmax < mint || b->max_time <= b->min_time) continue;
        if (b->min_time > maxt) break;
        if (b->min_time > cur) {
            fill(p, cur, b->min_time - 1, li + 1);
            cur = b->min_time;
        }
        /* Every block of this resolution in the interval answers for its
         * own range: overlapping blocks of one resolution may hold different
         * series (a compacted block beside its sources), the select merges. */
        emit(p, p->order[k], b->min_time > mint ? b->min_time : mint, bmax < maxt ? bmax : maxt);
        if (bmax + 1 > cur) cur = bmax + 1;
    }
    if (cur <= maxt) fill(p, cur, maxt, li + 1);
}

static int cmp_part(const void *a, const void *b) {
    const store_plan_part_t *x = a, *y = b;
    return x->mint < y->mint ? -1 : x->mint > y->mint;
}

int store_plan(const store_plan_block_t *blocks, size_t n, int64_t mint, int64_t maxt, int64_t max_resolution,
               store_plan_part_t **out, size_t *nout) {
    *out = NULL;
    *nout = 0;
    if (n == 0 || mint > maxt) return 0;
    planner_t p = {.blocks = blocks, .n = n};
    p.order = malloc(n * sizeof *p.order);
    p.res = malloc(n * sizeof *p.res);
    if (!p.order || !p.res) {
        free(p.order);
        free(p.res);
        return -1;
    }
    for (size_t i = 0; i < n; i++) p.order[i] = i;
    qsort_r(p.order, n, sizeof *p.order, cmp_order, (void *)blocks); /* glibc: _GNU_SOURCE */
    for (size_t i = 0; i < n; i++) {
        int64_t r = blocks[p.order[i]].resolution;
        if (r > max_resolution) continue;
        if (p.nres == 0 || p.res[p.nres - 1] != r) p.res[p.nres++] = r;
    }
    fill(&p, mint, maxt, 0);
    free(p.order);
    free(p.res);
    if (p.oom) {
        free(p.out);
        return -1;
    }
    if (p.nout > 1) qsort(p.out, p.nout, sizeof *p.out, cmp_part);
    *out = p.out;
    *nout = p.nout;
    return 0;
}
